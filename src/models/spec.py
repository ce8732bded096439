"""Architecture of every model of the book as a frozen, JSON-serializable spec.

:class:`ModelSpec` describes the joint VAE, VAE, AE and the supervised classifier (the
study's full JointVAE by default, its reduced encoder and QKeras twins by a few fields);
:class:`StudentSpec` the trigger-sized student distilled from a teacher.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields, replace
from typing import Any

KINDS = ("jointvae", "vae", "ae", "classifier")
ACTIVATIONS = ("leaky_relu", "relu")
#: Pixel-intensity transforms the encoder can apply to its unit-sum input (and the
#: reconstruction target): see :class:`src.models.layers.IntensityTransform`.
INPUT_TRANSFORMS = ("none", "sqrt", "log")
#: Keys of :meth:`src.models.networks.AutoEncoder.encode`, in the order of the encoder outputs.
ENCODER_OUTPUTS = {"jointvae": ("logits", "mu", "logvar"), "vae": ("mu", "logvar"), "ae": ("z",)}


def _from_dict(cls, values: dict[str, Any]):
    """``cls(**values)``, with a one-line error for unknown fields."""
    unknown = sorted(set(values) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {', '.join(unknown)}")
    return cls(**values)


@dataclass(frozen=True)
class ModelSpec:
    """Architecture of a model; the defaults are the study's full JointVAE.

    ``groups`` applies to every encoder conv but the first; ``final_filters = 0`` means no
    ``conv_fin`` layer (conv + instance norm, no activation). ``negative_slope`` is the
    leaky-ReLU slope (0.2, TensorFlow's ``leaky_relu`` default). The decoder broadcasts z
    on a ``decoder_size`` x ``decoder_size`` grid (3, the authors' setting), doubles it once
    per entry of ``decoder_filters`` (ungrouped up-sampling convs, residual blocks with
    ``decoder_groups``) and crops the centre ``image_size`` x ``image_size``.

    ``input_transform`` maps the unit-sum pixel intensities before the encoder sees them
    (``sqrt`` or ``log``); the decoder then reconstructs the transformed image.

    ``bits = 0`` is a float model; ``bits > 0`` quantizes the encoder with QKeras (see
    :class:`src.models.layers.QKerasFactory`): ``bits`` total and ``integer_bits`` integer bits
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
    input_transform: str = "none"

    def __post_init__(self) -> None:
        for name in ("filters", "depths", "decoder_filters", "decoder_depths"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        _validate(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelSpec:
        """Spec from (JSON) data, with a one-line error for unknown fields."""
        return _from_dict(cls, values)

    def replace(self, **changes: Any) -> ModelSpec:
        """Copy with some fields changed."""
        return replace(self, **changes)


def _validate(spec: ModelSpec) -> None:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ValueError(f"invalid ModelSpec: {message}")

    need(spec.kind in KINDS, f"kind {spec.kind!r} not in {KINDS}")
    need(spec.input_transform in INPUT_TRANSFORMS,
         f"input_transform {spec.input_transform!r} not in {INPUT_TRANSFORMS}")
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


#: What a student sees of a jet: ``standard``, the preprocessed unit-sum image (centred,
#: rotated, flipped, normalized); ``window``, the window image of the Level-1 jet finder's
#: axis without any per-jet preprocessing (:func:`src.data.preprocess.window_images`).
STUDENT_INPUTS = ("standard", "window")


@dataclasses.dataclass(frozen=True)
class StudentSpec:
    """Architecture of the student; every conv is 'same'-padded and followed by a quantized
    ReLU and a 2x2 max pooling; ``filters=()`` has no conv (pooled input straight into the
    dense layers, the Level-1 trigger student of :mod:`src.fpga.synth`). Kernels and biases
    use ``quantized_bits(bits, integer_bits, alpha=1)``, activations
    ``quantized_relu(bits, integer_bits)``. ``inputs`` (one of :data:`STUDENT_INPUTS`) names
    the images it takes; the network is the same for both."""

    kind: str = "student"
    image_size: int = 40
    input_pool: int = 2
    filters: tuple[int, ...] = (4, 8)
    kernel: int = 3
    dense: int = 16
    bits: int = 16
    integer_bits: int = 6
    inputs: str = "standard"

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", tuple(int(f) for f in self.filters))
        size = self.image_size // self.input_pool
        if (self.kind != "student" or self.image_size % self.input_pool
                or size % 2 ** len(self.filters) or self.bits < 2 or self.integer_bits < 0
                or self.inputs not in STUDENT_INPUTS):
            raise ValueError(f"invalid StudentSpec: {self}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StudentSpec:
        """Spec from (JSON) data, with a one-line error for unknown fields."""
        return _from_dict(cls, values)
