"""Joint VAE, VAE, AE and a supervised classifier for 40x40 jet images.

One builder makes every model from a :class:`ModelSpec`. The encoder layers come from a
:class:`LayerFactory`, so a quantized encoder with the same topology and layer names is a
factory subclass away. Images given to the numpy-level methods are float32 ``(N, 40, 40)``
arrays, each normalized to unit sum; the channel axis is added here.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from .backend import keras, tf
from .layers import InstanceNormalization
from .losses import image_metrics

KINDS = ("jointvae", "vae", "ae", "classifier")
ACTIVATIONS = ("leaky_relu", "relu")
#: Keys of :meth:`AutoEncoder.encode`, in the order of the encoder outputs.
ENCODER_OUTPUTS = {"jointvae": ("logits", "mu", "logvar"), "vae": ("mu", "logvar"), "ae": ("z",)}
SPEC_FILE = "spec.json"
HISTORY_FILE = "history.json"
WEIGHTS_FILE = "weights.h5"
_QUANTIZATION_FIELDS = ("bits", "integer_bits")


@dataclass(frozen=True)
class ModelSpec:
    """Architecture of a model; the defaults are the study's full JointVAE.

    ``groups`` applies to every encoder conv but the first; ``final_filters = 0`` means no
    ``conv_fin`` layer (conv + instance norm, no activation). ``negative_slope`` is the
    leaky-ReLU slope (0.2, TensorFlow's ``leaky_relu`` default). The decoder broadcasts z
    on a ``decoder_size`` x ``decoder_size`` grid (3, the authors' setting), doubles it once
    per entry of ``decoder_filters`` (ungrouped up-sampling convs, residual blocks with
    ``decoder_groups``) and crops the centre ``image_size`` x ``image_size``.

    ``bits = 0`` is a float model; ``bits > 0`` quantizes the encoder with QKeras (see
    :class:`src.quantize.QKerasFactory`): ``bits`` total and ``integer_bits`` integer bits
    for kernels, biases and activations (the decoder, only needed for training, stays float).
    """

    kind: str = "jointvae"
    image_size: int = 40
    kernel: int = 3
    filters: tuple[int, ...] = (32, 64, 128, 128)
    depths: tuple[int, ...] = (1, 2, 2, 1)
    groups: int = 8
    activation: str = "leaky_relu"
    negative_slope: float = 0.2
    final_filters: int = 0
    final_groups: int = 1
    latent_dim: int = 32
    n_categories: int = 20
    temperature: float = 50.0
    eps: float = 1e-7
    decoder_size: int = 3
    decoder_base: int = 256
    decoder_filters: tuple[int, ...] = (32, 128, 128, 64)
    decoder_depths: tuple[int, ...] = (1, 1, 1, 1)
    decoder_groups: int = 8
    bits: int = 0
    integer_bits: int = 6

    def __post_init__(self) -> None:
        for name in ("filters", "depths", "decoder_filters", "decoder_depths"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        _validate(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelSpec:
        """Spec from (JSON) data, with a one-line error for unknown fields."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown ModelSpec fields: {', '.join(unknown)}")
        return cls(**values)

    def replace(self, **changes: Any) -> ModelSpec:
        """Copy with some fields changed."""
        return replace(self, **changes)


def _validate(spec: ModelSpec) -> None:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ValueError(f"invalid ModelSpec: {message}")

    need(spec.kind in KINDS, f"kind {spec.kind!r} not in {KINDS}")
    need(spec.activation in ACTIVATIONS, f"activation {spec.activation!r} not in {ACTIVATIONS}")
    need(len(spec.filters) == len(spec.depths) > 0, "filters and depths need the same length")
    need(len(spec.decoder_filters) == len(spec.decoder_depths) > 0,
         "decoder_filters and decoder_depths need the same length")
    for i, f in enumerate(spec.filters):
        need(f % spec.groups == 0, f"filters[{i}]={f} not divisible by groups={spec.groups}")
    if spec.final_filters:
        need(spec.final_filters % spec.final_groups == 0 and
             spec.filters[-1] % spec.final_groups == 0,
             f"final_groups={spec.final_groups} must divide final_filters and filters[-1]")
    for i, (f, d) in enumerate(zip(spec.decoder_filters, spec.decoder_depths, strict=True)):
        need(d == 0 or f % spec.decoder_groups == 0,
             f"decoder_filters[{i}]={f} not divisible by decoder_groups={spec.decoder_groups}")
    size = spec.decoder_size * 2 ** len(spec.decoder_filters)
    need(size >= spec.image_size, f"decoder output {size} smaller than image_size {spec.image_size}")
    need(spec.temperature > 0 and spec.eps > 0, "temperature and eps must be positive")
    need(spec.bits == 0 or spec.bits >= 2, f"bits={spec.bits} must be 0 (float) or >= 2")
    need(spec.integer_bits >= 0, f"integer_bits={spec.integer_bits} must be >= 0")
    if spec.bits and spec.activation == "leaky_relu":
        slope = spec.negative_slope
        need(slope == 0 or (slope > 0 and math.log2(slope).is_integer()),
             f"a quantized leaky ReLU needs negative_slope 0 or a power of two, got {slope}")


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


def encoder_outputs(encoder: keras.Model, images: np.ndarray, kind: str = "jointvae",
                    batch_size: int = 512) -> dict[str, np.ndarray]:
    """Outputs of a bare encoder of ``kind`` by name (:data:`ENCODER_OUTPUTS`), batch-wise."""
    outputs = _batched(encoder, as_model_input(images, encoder.input_shape[1]), batch_size)
    return dict(zip(ENCODER_OUTPUTS[kind], outputs, strict=True))


class _PlainAttributes:
    """Keep bookkeeping attributes out of Keras' tracking (no wrapping, not in the weights)."""

    _plain = ("spec", "objective", "trackers", "training_history")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._plain:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


class AutoEncoder(_PlainAttributes, keras.Model):
    """Joint VAE, VAE or deterministic AE; :mod:`src.train` supplies the objective.

    ``call`` returns a dict with the encoder outputs (``logits``, ``mu``, ``logvar`` or
    ``z``), the sampled latent vector ``latent`` and the ``reconstruction``.
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

    def train_step(self, data):
        with tf.GradientTape() as tape:
            out = self(data, training=True)
            terms = self.objective(data, out, self.optimizer.iterations)
        grads = tape.gradient(terms["loss"], self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        return self._record(data, out, terms)

    def test_step(self, data):
        out = self(data, training=False)
        return self._record(data, out, self.objective(data, out, self.optimizer.iterations))

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
        """Deterministic reconstructions ``(N, 40, 40)``."""
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
        from .quantize import QKerasFactory

        factory = QKerasFactory(spec.bits, spec.integer_bits)
    if spec.kind == "classifier":
        model = Classifier(spec, build_encoder(spec, factory))
    else:
        model = AutoEncoder(spec, build_encoder(spec, factory), build_decoder(spec))
    model(tf.zeros((1, spec.image_size, spec.image_size, 1)), training=False)
    return model


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=float) + "\n")


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder, renamed to ``path`` (replacing what was there) if the block succeeds.

    ``path`` is always either the old complete folder or the new one; on an error the
    temporary folder is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        os.rename(path, old)
    os.rename(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def save(model: keras.Model, path: str | os.PathLike, history: dict | None = None,
         metadata: dict | None = None) -> Path:
    """Write ``weights.h5``, ``spec.json`` (spec + ``metadata``) and ``history.json``.

    The folder is written by :func:`atomic_folder`, so ``path`` is either the old complete
    model or the new one. ``history`` defaults to the history of the last
    :func:`src.train.fit` call.
    """
    with atomic_folder(path) as tmp:
        model.save_weights(str(tmp / WEIGHTS_FILE))
        _write_json(tmp / SPEC_FILE, {**(metadata or {}), "model": asdict(model.spec)})
        history = history if history is not None else model.training_history
        if history is not None:
            _write_json(tmp / HISTORY_FILE, {k: [float(v) for v in vals]
                                             for k, vals in history.items()})
    return Path(path)


def read_record(path: str | os.PathLike) -> dict:
    """Contents of a saved model's ``spec.json``.

    A ``model`` entry written before the quantization fields existed reads as a float spec
    (the fields get their defaults), so older caches still match their settings.
    """
    spec_path = Path(path) / SPEC_FILE
    if not spec_path.is_file():
        raise FileNotFoundError(f"no saved model at {path} ({SPEC_FILE} missing)")
    record = json.loads(spec_path.read_text())
    if isinstance(record.get("model"), dict):
        record["model"] = {**{name: getattr(ModelSpec, name) for name in _QUANTIZATION_FIELDS},
                           **record["model"]}
    return record


def load(path: str | os.PathLike) -> keras.Model:
    """Model written by :func:`save`, with ``training_history`` when it was stored."""
    path = Path(path)
    model = build_model(ModelSpec.from_dict(read_record(path)["model"]))
    model.load_weights(str(path / WEIGHTS_FILE))
    if (path / HISTORY_FILE).is_file():
        model.training_history = json.loads((path / HISTORY_FILE).read_text())
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
