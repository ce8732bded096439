"""Custom Keras layers shared by the models and by the hls4ml port."""

from __future__ import annotations

from .backend import keras, tf


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
