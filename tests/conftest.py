import os

# Quiet TensorFlow's C++ start-up logging in test output; does not change any computation.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
