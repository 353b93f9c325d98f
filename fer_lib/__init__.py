"""fer_lib: the reference reproduction suite for recent facial emotion recognition papers."""
import os

# Quiet TensorFlow's C++ start-up chatter (including the harmless "failed call to cuInit" on machines
# without a GPU) unless the user set their own level. Python-level errors still raise as usual.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
