"""Networks: joint VAE, VAE, AE and a supervised classifier for 40x40 jet images.

One builder makes every model from a :class:`ModelSpec`. The encoder layers come from a
:class:`LayerFactory`, so a quantized encoder with the same topology and layer names is a
factory subclass away. Images given to the numpy-level methods are float32 ``(N, 40, 40)``
arrays, each normalized to unit sum; the channel axis is added here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..backend import keras, tf
from .layers import (
    GaussianSampling,
    GumbelSoftmax,
    IntensityTransform,
    LayerFactory,
    QKerasFactory,
    SpatialBroadcast,
    transform_intensity,
)
from .losses import image_metrics
from .spec import ENCODER_OUTPUTS, ModelSpec


def _conv_block(x, factory: LayerFactory, spec: ModelSpec, filters: int, groups: int,
                name: str, strides: int = 1, activate: bool = True):
    """conv -> instance norm (-> activation); the conv layer carries ``name``."""
    x = factory.conv(filters, spec.kernel, strides, groups, name)(x)
    x = factory.norm(f"{name}_norm")(x)
    if activate:
        x = factory.activation(spec.activation, spec.negative_slope, f"{name}_act")(x)
    return x


def _residual(x, factory: LayerFactory, spec: ModelSpec, filters: int, groups: int,
              prefix: str, stage: int, block: int):
    r = x
    x = _conv_block(x, factory, spec, filters, groups, f"{prefix}conv1_b{stage}_{block}")
    x = _conv_block(x, factory, spec, filters, groups, f"{prefix}conv2_b{stage}_{block}")
    return keras.layers.Add(name=f"{prefix}add_b{stage}_{block}")([x, r])


def build_encoder(spec: ModelSpec, factory: LayerFactory | None = None) -> keras.Model:
    """Encoder (or, for ``kind="classifier"``, the whole classifier network).

    Outputs: ``[z_categorical, z_mean, z_var]`` (jointvae), ``[z_mean, z_var]`` (vae),
    ``[z]`` (ae) or ``[proba]`` (classifier).
    """
    f = factory or LayerFactory()
    images = keras.Input((spec.image_size, spec.image_size, 1), name="image")
    x = images
    if spec.input_transform != "none":
        x = IntensityTransform(spec.input_transform, name="intensity")(x)
    for i, (filters, depth) in enumerate(zip(spec.filters, spec.depths, strict=True)):
        x = _conv_block(x, f, spec, filters, spec.groups if i else 1, f"dconv_b{i}", strides=2)
        for j in range(depth):
            x = _residual(x, f, spec, filters, spec.groups, "", i, j)
    if spec.final_filters:
        x = _conv_block(x, f, spec, spec.final_filters, spec.final_groups, "conv_fin",
                        activate=False)
    x = keras.layers.Flatten(name="flatten")(x)
    heads = {
        "jointvae": [("z_categorical", spec.n_categories), ("z_mean", spec.latent_dim),
                     ("z_var", spec.latent_dim)],
        "vae": [("z_mean", spec.latent_dim), ("z_var", spec.latent_dim)],
        "ae": [("z", spec.latent_dim)],
        "classifier": [("logit", 1)],
    }[spec.kind]
    outputs = [f.dense(units, name)(x) for name, units in heads]
    if spec.kind == "classifier":
        outputs = [keras.layers.Activation("sigmoid", name="proba")(outputs[0])]
    return keras.Model(images, outputs, name="classifier" if spec.kind == "classifier"
                       else "encoder")


def decoder_input_dim(spec: ModelSpec) -> int:
    """Length of the latent vector the decoder reads."""
    return spec.latent_dim + (spec.n_categories if spec.kind == "jointvae" else 0)


def build_decoder(spec: ModelSpec) -> keras.Model:
    """Spatial-broadcast decoder with bilinear up-sampling blocks and a sigmoid output."""
    f = LayerFactory()
    z = keras.Input((decoder_input_dim(spec),), name="z")
    x = SpatialBroadcast(spec.decoder_size, name="broadcast")(z)
    x = _conv_block(x, f, spec, spec.decoder_base, 1, "dec_expand")
    for i, (filters, depth) in enumerate(zip(spec.decoder_filters, spec.decoder_depths,
                                             strict=True)):
        x = keras.layers.UpSampling2D(interpolation="bilinear", name=f"dec_resize_b{i}")(x)
        x = _conv_block(x, f, spec, filters, 1, f"dec_up_b{i}")
        for j in range(depth):
            x = _residual(x, f, spec, filters, spec.decoder_groups, "dec_", i, j)
    excess = spec.decoder_size * 2 ** len(spec.decoder_filters) - spec.image_size
    crop = (excess // 2, excess - excess // 2)
    x = keras.layers.Cropping2D((crop, crop), name="crop")(x)
    x = keras.layers.Conv2D(1, spec.kernel, padding="same", activation="sigmoid",
                            kernel_initializer="he_normal", name="reco")(x)
    return keras.Model(z, x, name="decoder")


def as_model_input(images: np.ndarray, image_size: int) -> np.ndarray:
    """``(N, S, S)`` or ``(N, S, S, 1)`` images as a float32 ``(N, S, S, 1)`` array."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != (image_size, image_size, 1):
        raise ValueError(f"expected images of shape (N, {image_size}, {image_size}), "
                         f"got {np.shape(images)}")
    return x


def _as_list(outputs) -> list:
    return list(outputs) if isinstance(outputs, list | tuple) else [outputs]


def _batched(network: keras.Model, x: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Outputs of ``network`` in inference mode, evaluated batch by batch."""
    if len(x) == 0:
        return [np.zeros((0, *o.shape[1:]), np.float32) for o in network.outputs]
    chunks = [[t.numpy() for t in _as_list(network(tf.constant(x[i:i + batch_size]),
                                                   training=False))]
              for i in range(0, len(x), batch_size)]
    return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]


def encoder_outputs(model: Any, images: np.ndarray, kind: str = "jointvae",
                    batch_size: int = 512) -> dict[str, np.ndarray]:
    """Encoder outputs by name (:data:`src.models.spec.ENCODER_OUTPUTS`), batch-wise.

    ``model`` is a model with an ``encode`` method (an :class:`AutoEncoder`), whose own kind
    then applies, or a bare encoder network of ``kind``.
    """
    if hasattr(model, "encode"):
        return model.encode(images, batch_size)
    outputs = _batched(model, as_model_input(images, model.input_shape[1]), batch_size)
    return dict(zip(ENCODER_OUTPUTS[kind], outputs, strict=True))


class _PlainAttributes:
    """Keep bookkeeping attributes out of Keras' tracking (no wrapping, not in the weights)."""

    _plain = ("spec", "objective", "trackers", "training_history", "score_rule")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._plain:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


class AutoEncoder(_PlainAttributes, keras.Model):
    """Joint VAE, VAE or deterministic AE; :mod:`src.train` supplies the objective.

    ``call`` returns a dict with the encoder outputs (``logits``, ``mu``, ``logvar`` or
    ``z``), the sampled latent vector ``latent`` and the ``reconstruction``. With an input
    transform the reconstruction target is the transformed image (:meth:`target`).
    """

    def __init__(self, spec: ModelSpec, encoder: keras.Model, decoder: keras.Model, **kwargs):
        super().__init__(name=spec.kind, **kwargs)
        self.spec = spec
        self.encoder = encoder
        self.decoder = decoder
        self.gaussian = GaussianSampling(name="gaussian_sampling")
        self.gumbel = GumbelSoftmax(spec.temperature, spec.eps, name="gumbel_softmax")
        self.objective = None
        self.training_history: dict[str, list[float]] | None = None
        names = {"jointvae": ("loss", "bce", "kl_cont", "kl_disc"),
                 "vae": ("loss", "bce", "kl_cont"), "ae": ("loss", "bce")}[spec.kind]
        self.trackers = [keras.metrics.Mean(name=n) for n in (*names, "mse", "psnr", "ssim")]

    def posterior(self, x, training=None) -> dict:
        """Encoder outputs by name."""
        outputs = _as_list(self.encoder(x, training=training))
        return dict(zip(ENCODER_OUTPUTS[self.spec.kind], outputs, strict=True))

    def sample_latent(self, post: dict):
        """Decoder input drawn from the posterior (the AE code itself for ``ae``)."""
        if self.spec.kind == "ae":
            return post["z"]
        z = self.gaussian([post["mu"], post["logvar"]])
        if self.spec.kind == "vae":
            return z
        return tf.concat([z, self.gumbel(post["logits"])], axis=-1)

    def call(self, x, training=None):
        post = self.posterior(x, training=training)
        latent = self.sample_latent(post)
        return {**post, "latent": latent,
                "reconstruction": self.decoder(latent, training=training)}

    def compile(self, optimizer, objective, **kwargs) -> None:
        """Compile with a :class:`src.losses.Objective` instead of a Keras loss."""
        super().compile(optimizer=optimizer, **kwargs)
        self.objective = objective

    @property
    def metrics(self) -> list:
        return list(self.trackers)

    def _record(self, x, out: dict, terms: dict) -> dict:
        values = {**terms, **image_metrics(x, out["reconstruction"])}
        for tracker in self.trackers:
            tracker.update_state(values[tracker.name])
        return {t.name: t.result() for t in self.trackers}

    def target(self, images):
        """What the decoder reconstructs: the images after the spec's input transform
        (numpy in, numpy out; a tensor in, a tensor out)."""
        return transform_intensity(images, self.spec.input_transform)

    def train_step(self, data):
        target = self.target(data)
        with tf.GradientTape() as tape:
            out = self(data, training=True)
            terms = self.objective(target, out, self.optimizer.iterations)
        grads = tape.gradient(terms["loss"], self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        return self._record(target, out, terms)

    def test_step(self, data):
        target = self.target(data)
        out = self(data, training=False)
        return self._record(target, out, self.objective(target, out,
                                                         self.optimizer.iterations))

    def encode(self, images: np.ndarray, batch_size: int = 512) -> dict[str, np.ndarray]:
        """Encoder outputs: ``logits`` / ``mu`` / ``logvar`` (jointvae, vae) or ``z`` (ae)."""
        return encoder_outputs(self.encoder, images, self.spec.kind, batch_size)

    def deterministic_latent(self, encoded: dict[str, np.ndarray]) -> np.ndarray:
        """Posterior mean plus the one-hot most likely category (the AE code for ``ae``)."""
        if self.spec.kind == "ae":
            return encoded["z"]
        if self.spec.kind == "vae":
            return encoded["mu"]
        onehot = np.eye(self.spec.n_categories, dtype=np.float32)[
            np.argmax(encoded["logits"], axis=-1)]
        return np.concatenate([encoded["mu"], onehot], axis=-1)

    def decode(self, latent: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Images ``(N, 40, 40)`` from decoder inputs."""
        return _batched(self.decoder, np.asarray(latent, np.float32), batch_size)[0][..., 0]

    def reconstruct(self, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Deterministic reconstructions ``(N, 40, 40)`` of :meth:`target`."""
        encoded = self.encode(images, batch_size)
        return self.decode(self.deterministic_latent(encoded), batch_size)


class Classifier(_PlainAttributes, keras.Model):
    """Supervised baseline: the encoder trunk with a one-unit sigmoid head (``.network``)."""

    def __init__(self, spec: ModelSpec, network: keras.Model, **kwargs):
        super().__init__(name=spec.kind, **kwargs)
        self.spec = spec
        self.network = network
        self.training_history: dict[str, list[float]] | None = None

    def call(self, x, training=None):
        return self.network(x, training=training)

    def predict_proba(self, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Signal probability per image, shape ``(N,)``."""
        x = as_model_input(images, self.spec.image_size)
        return _batched(self.network, x, batch_size)[0][:, 0]


def build_model(spec: ModelSpec, factory: LayerFactory | None = None) -> keras.Model:
    """The model of ``spec`` with its variables created (QKeras encoder when ``spec.bits``)."""
    if factory is None and spec.bits:
        factory = QKerasFactory(spec.bits, spec.integer_bits)
    if spec.kind == "classifier":
        model = Classifier(spec, build_encoder(spec, factory))
    else:
        model = AutoEncoder(spec, build_encoder(spec, factory), build_decoder(spec))
    model(tf.zeros((1, spec.image_size, spec.image_size, 1)), training=False)
    return model


def _leaf_layers(model: keras.layers.Layer) -> list:
    if isinstance(model, keras.Model):
        return [leaf for layer in model.layers for leaf in _leaf_layers(layer)]
    return [model]


def count_macs(model: keras.Model) -> dict[str, int]:
    """Multiply-accumulates per conv / dense layer for one image, in layer order.

    Conv: ``H_out * W_out * K_h * K_w * C_in / groups * C_out``; dense: ``in * out``.
    Works on a whole model (encoder and decoder) or on one sub-model.
    """
    macs: dict[str, int] = {}
    for layer in _leaf_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.get_output_shape_at(0)
            c_in = layer.get_input_shape_at(0)[-1]
            kh, kw = layer.kernel_size
            macs[layer.name] = int(h * w * kh * kw * (c_in // layer.groups) * c_out)
        elif isinstance(layer, keras.layers.Dense):
            macs[layer.name] = int(layer.get_input_shape_at(0)[-1]) * int(layer.units)
    return macs


def layer_table(network: keras.Model) -> pd.DataFrame:
    """One row per layer with weights or multiplications: type, output shape, parameters and
    MACs per image (:func:`count_macs`), indexed by layer name."""
    macs = count_macs(network)
    rows = [{"layer": layer.name, "type": type(layer).__name__,
             "output shape": str(tuple(layer.output_shape[1:])),
             "parameters": layer.count_params(), "MACs": macs.get(layer.name, 0)}
            for layer in _leaf_layers(network) if layer.count_params() or layer.name in macs]
    return pd.DataFrame(rows).set_index("layer")
