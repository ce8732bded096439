"""One place that imports TensorFlow the way QKeras and hls4ml need it.

QKeras works only with the legacy Keras 2 (``tf_keras``), which TensorFlow >= 2.16 uses
only when ``TF_USE_LEGACY_KERAS=1`` is set before its first import; hls4ml chooses its
parser from ``import keras``, so ``keras`` is aliased to ``tf_keras`` as well. Import
``tf`` and ``keras`` from here, never directly.
"""

from __future__ import annotations

import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

sys.modules["keras"] = keras

__all__ = ["tf", "keras", "seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow ops deterministic on CPU."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
