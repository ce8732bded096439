"""The trigger-sized student network (see :mod:`src.compress.distill` for its training).

A small QKeras network that hls4ml 1.3 converts as it is: average pooling of the input,
``QConv2D`` + quantized ReLU + max pooling stages (none for ``filters=()``), one hidden
``QDense`` layer and a one-unit linear ``QDense`` output. No normalization, no grouped
convolutions.
"""

from __future__ import annotations

import numpy as np

from ..backend import keras  # sets TensorFlow up for QKeras: import it first

# isort: split
from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

from .networks import as_model_input
from .spec import StudentSpec


def build_student(spec: StudentSpec | None = None) -> keras.Model:
    """The student network (default :class:`StudentSpec` when ``spec`` is None):
    ``(N, 40, 40, 1)`` images (unit-sum, or window images for ``spec.inputs == "window"``)
    -> ``(N, 1)`` score."""
    spec = spec or StudentSpec()

    def quantizer() -> quantized_bits:
        return quantized_bits(spec.bits, spec.integer_bits, alpha=1)

    def relu(name: str) -> QActivation:
        return QActivation(quantized_relu(spec.bits, spec.integer_bits), name=name)

    images = keras.Input((spec.image_size, spec.image_size, 1), name="image")
    x = keras.layers.AveragePooling2D(spec.input_pool, name="pool_in")(images)
    for i, filters in enumerate(spec.filters):
        x = QConv2D(filters, spec.kernel, padding="same", kernel_quantizer=quantizer(),
                    bias_quantizer=quantizer(), name=f"conv{i}")(x)
        x = relu(f"relu{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = QDense(spec.dense, kernel_quantizer=quantizer(), bias_quantizer=quantizer(),
               name="dense")(x)
    x = relu("relu_dense")(x)
    score = QDense(1, kernel_quantizer=quantizer(), bias_quantizer=quantizer(), name="score")(x)
    model = keras.Model(images, score, name="student")
    object.__setattr__(model, "spec", spec)  # plain attribute, out of Keras' tracking
    return model


def student_scores(model: keras.Model, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Anomaly score of a student per image (higher = more anomalous): its estimate of the
    teacher's log KL-total, standardized on the QCD training jets. ``images`` are those its
    ``spec.inputs`` names (:func:`src.compress.distill.student_inputs` reads them)."""
    x = as_model_input(images, model.input_shape[1])
    return model.predict(x, batch_size=batch_size, verbose=0)[:, 0].astype(np.float64)
