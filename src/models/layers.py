"""Keras layers of the models and the layer factories that build float or QKeras encoders.

The custom layers (instance normalization, grouped convolution, spatial broadcast, the two
samplers) are registered for serialization under the package name ``jvae``. An encoder takes
its convolutions, dense layers, activations and normalizations from a :class:`LayerFactory`:
:class:`QKerasFactory` gives the quantized twin with the same topology and layer names.
"""

from __future__ import annotations

import numpy as np

from ..backend import keras, tf  # sets TensorFlow up for QKeras: import it first

# isort: split
from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu


@keras.utils.register_keras_serializable(package="jvae")
class InstanceNormalization(keras.layers.Layer):
    """Instance normalization for channels-last images.

    Each sample and channel is normalized over its spatial positions with the population
    variance, ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta``, with one learned
    ``gamma`` and ``beta`` per channel. Written here (tensorflow-addons is end-of-life) so
    that the same arithmetic can be ported to hls4ml.
    """

    def __init__(self, epsilon: float = 1e-3, center: bool = True, scale: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.gamma = (
            self.add_weight(name="gamma", shape=(channels,), initializer="ones")
            if self.scale else None
        )
        self.beta = (
            self.add_weight(name="beta", shape=(channels,), initializer="zeros")
            if self.center else None
        )
        super().build(input_shape)

    def call(self, inputs):
        axes = list(range(1, len(inputs.shape) - 1))
        mean, var = tf.nn.moments(inputs, axes=axes, keepdims=True)
        y = (inputs - mean) * tf.math.rsqrt(var + self.epsilon)
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale}


#: Intensity at which the ``log`` transform has risen to half of its range's logarithm:
#: ``log(1 + x / LOG_SCALE) / log(1 + 1 / LOG_SCALE)`` maps [0, 1] onto [0, 1].
LOG_SCALE = 1e-3


def transform_intensity(images, kind: str):
    """Pixel intensities of unit-sum images mapped by ``kind`` (``none``, ``sqrt``, ``log``);
    a numpy array in, a numpy array out, a tensor in, a tensor out. Both maps send 0 to 0 and
    1 to 1 and lift soft pixels: a pixel with 0.1% of the jet's pT becomes 0.032 (``sqrt``)
    or 0.10 (``log``)."""
    numpy = isinstance(images, np.ndarray)
    ops = np if numpy else tf.math
    if kind == "none":
        return images
    if kind == "sqrt":
        return ops.sqrt(images)
    if kind == "log":
        return ops.log1p(images / LOG_SCALE) / np.log1p(1.0 / LOG_SCALE).astype(np.float32)
    raise ValueError(f"unknown input transform {kind!r}")


@keras.utils.register_keras_serializable(package="jvae")
class IntensityTransform(keras.layers.Layer):
    """:func:`transform_intensity` as the first layer of an encoder (no weights)."""

    def __init__(self, kind: str, **kwargs):
        super().__init__(**kwargs)
        transform_intensity(np.zeros(1, np.float32), kind)  # validates the kind
        self.kind = kind

    def call(self, inputs):
        return transform_intensity(tf.maximum(inputs, 0.0), self.kind)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}


@keras.utils.register_keras_serializable(package="jvae")
class GroupedConv2D(keras.layers.Conv2D):
    """``Conv2D(groups > 1)`` with the same weights and arithmetic, but fast on CPU.

    Keras routes grouped convolutions through an XLA-compiled op whose CPU gradient is
    about 100x slower than TensorFlow's own (oneDNN) grouped convolution, used here.
    """

    def _jit_compiled_convolution_op(self, inputs, kernel):
        return self.convolution_op(inputs, kernel)


class LayerFactory:
    """Float Keras layers of the encoder; override the methods to build other layer types.

    Grouped convolutions are :class:`GroupedConv2D`, the others plain ``Conv2D``.
    """

    def conv(self, filters: int, kernel: int, strides: int, groups: int, name: str):
        layer = GroupedConv2D if groups > 1 else keras.layers.Conv2D
        return layer(filters, kernel, strides=strides, padding="same", groups=groups,
                     kernel_initializer="he_normal", name=name)

    def dense(self, units: int, name: str):
        return keras.layers.Dense(units, kernel_initializer="he_normal", name=name)

    def activation(self, kind: str, negative_slope: float, name: str):
        if kind == "relu":
            return keras.layers.ReLU(name=name)
        return keras.layers.LeakyReLU(alpha=negative_slope, name=name)

    def norm(self, name: str):
        return InstanceNormalization(name=name)

class QKerasFactory(LayerFactory):
    """QKeras encoder layers with ``bits`` total and ``integer`` integer bits (sign apart).

    Kernels and biases use ``quantized_bits(bits, integer, alpha=1)``, activations
    ``quantized_relu(bits, integer, negative_slope)`` (0 for a plain ReLU); instance
    normalization stays float. Grouped convolutions are grouped ``QConv2D`` layers.
    """

    def __init__(self, bits: int, integer: int):
        self.bits = int(bits)
        self.integer = int(integer)

    def quantizer(self) -> quantized_bits:
        return quantized_bits(self.bits, self.integer, alpha=1)

    def conv(self, filters: int, kernel: int, strides: int, groups: int, name: str):
        return QConv2D(filters, kernel, strides=strides, padding="same", groups=groups,
                       kernel_initializer="he_normal", kernel_quantizer=self.quantizer(),
                       bias_quantizer=self.quantizer(), name=name)

    def dense(self, units: int, name: str):
        return QDense(units, kernel_initializer="he_normal", kernel_quantizer=self.quantizer(),
                      bias_quantizer=self.quantizer(), name=name)

    def activation(self, kind: str, negative_slope: float, name: str):
        slope = 0.0 if kind == "relu" else negative_slope
        return QActivation(quantized_relu(self.bits, self.integer, negative_slope=slope),
                           name=name)


@keras.utils.register_keras_serializable(package="jvae")
class SpatialBroadcast(keras.layers.Layer):
    """Tile a latent vector on a ``size`` x ``size`` grid and append (x, y) in [-1, 1]."""

    def __init__(self, size: int, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)
        axis = np.linspace(-1.0, 1.0, self.size, dtype=np.float32)
        xx, yy = np.meshgrid(axis, axis)
        self.coords = tf.constant(np.stack([xx, yy], axis=-1)[None])

    def call(self, z):
        batch = tf.shape(z)[0]
        tiled = tf.tile(z[:, None, None, :], [1, self.size, self.size, 1])
        return tf.concat([tiled, tf.tile(self.coords, [batch, 1, 1, 1])], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, input_shape[-1] + 2)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@keras.utils.register_keras_serializable(package="jvae")
class GaussianSampling(keras.layers.Layer):
    """Reparameterized Gaussian sample ``mu + exp(logvar / 2) * N(0, 1)``."""

    def call(self, inputs):
        mu, logvar = inputs
        return mu + tf.exp(0.5 * logvar) * tf.random.normal(tf.shape(mu))


@keras.utils.register_keras_serializable(package="jvae")
class GumbelSoftmax(keras.layers.Layer):
    """Gumbel-Softmax sample ``softmax((logits + g) / T)``, ``g = -log(-log(u + eps) + eps)``."""

    def __init__(self, temperature: float = 50.0, eps: float = 1e-7, **kwargs):
        super().__init__(**kwargs)
        self.temperature = float(temperature)
        self.eps = float(eps)

    def call(self, logits):
        u = tf.random.uniform(tf.shape(logits))
        g = -tf.math.log(-tf.math.log(u + self.eps) + self.eps)
        return tf.nn.softmax((logits + g) / self.temperature, axis=-1)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature, "eps": self.eps}
