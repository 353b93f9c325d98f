"""The real-time recognizer: faces and their emotions in images, folders, videos and webcams, with
the suite's reference model or any model it trained or exported.

    from fer_lib.recognizer import EmotionRecognizer
    recognizer = EmotionRecognizer()                 # the reference model, OpenCV's Haar cascade
    faces = recognizer.predict(cv2.imread("photo.jpg"))
    # [{"box": [x, y, w, h], "emotions": {"angry": 0.01, ...}, "top_emotion": "happy"}, ...]
    for frame in recognizer.predict_video("clip.mp4"): ...

The command line is `fer-lib predict PATH...` (`python -m fer_lib predict`). Importing this package
loads no model and downloads nothing.
"""
from .classifiers import (REFERENCE_MODEL, Classifier, FerPackageClassifier, KerasClassifier, ModelInfo, OnnxClassifier,
                          TFLiteClassifier, face_input, load_classifier)
from .detectors import HaarDetector, MtcnnDetector, get_detector
from .export import EXPORT_FORMATS, compare_outputs, export_model, float32_copy
from .media import read_image
from .recognizer import EmotionRecognizer, FrameResult

__all__ = ["EmotionRecognizer", "FrameResult", "Classifier", "KerasClassifier", "OnnxClassifier", "TFLiteClassifier",
           "FerPackageClassifier", "ModelInfo", "REFERENCE_MODEL", "face_input", "load_classifier", "HaarDetector",
           "MtcnnDetector", "get_detector", "EXPORT_FORMATS", "compare_outputs", "export_model", "float32_copy",
           "read_image"]
