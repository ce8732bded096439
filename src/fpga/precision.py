"""Fixed-point result types of a firmware model, chosen from the values it takes on jets.

QKeras quantizes weights and activations; everything between them (convolution and dense
outputs, instance normalizations, additions) is float there and needs a type in firmware. The
study used ``ap_fixed<16,6>`` throughout, which keeps 10 fractional bits: finer than the
quantized activations (9), but coarse against the spread of the first convolution's outputs on
unit-sum images (a few 1e-3), which the next instance normalization divides by.

:func:`profile_layers` runs the Keras model on a profiling sample (training jets of both
classes) and records each layer's largest magnitude and, for feature maps, the smallest spread
of one channel in one image. :func:`result_types` turns that into types:

- integer bits: enough for twice the largest magnitude, plus the sign;
- a tensor entering an instance normalization keeps :data:`RESOLUTION_BITS` fractional bits
  below its smallest spread, so the normalized values are resolved to about 2**-12;
- every other unquantized result keeps :data:`OUTPUT_FRACTION` fractional bits;
- a normalization's scale and shift keep :data:`WEIGHT_FRACTION` fractional bits, its
  1/sqrt takes :data:`NEWTON_STEPS` Newton-Raphson step after the table lookup, and its
  variance type holds twice the largest sum of squared deviations seen and resolves the
  smallest variance plus epsilon to :data:`VARIANCE_BITS` bits (at most :data:`VARIANCE_WIDTH`
  bits in all).

The last three matter most: every error of the normalized values moves some of them across
the 2**-9 rounding boundaries of the quantized activations that follow, and the flips add up
along the network. The default 1/sqrt table is off by up to 2**-11 relative, and the default
variance type resolves the first normalization's variances (a few 1e-7 on unit-sum images,
next to epsilon = 1e-7) to about 1e-5.

:func:`layer_config` writes them in hls4ml's per-layer configuration, including the ``linear``
activation hls4ml inserts after a convolution (it would otherwise cast back to the default).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..backend import keras

#: Fractional bits below the smallest per-channel spread of a tensor entering a normalization.
RESOLUTION_BITS = 16
#: Fractional bits of the other unquantized results (normalizations, sums, dense outputs).
OUTPUT_FRACTION = 20
#: Fractional bits of an instance normalization's learned scale and shift (float in QKeras;
#: the study's 10 fractional bits move the normalized values by about 1e-3).
WEIGHT_FRACTION = 20
#: Newton-Raphson steps refining an instance normalization's 1/sqrt table value (relative
#: error 2**-11 with the default 1,024 entries; about 4e-7 after one step).
NEWTON_STEPS = 1
#: Significant bits kept for the smallest nonzero pixel of the profiling sample (a float16's
#: mantissa); the study's ``ap_ufixed<16,0>`` keeps about 3 for a pixel of 1.5e-4.
PIXEL_BITS = 11
#: At most this many input bits (pixels far below 2**-20 of the jet's pT matter little).
MAX_INPUT_BITS = 32
#: Bits resolving the smallest variance plus epsilon of a normalization's input.
VARIANCE_BITS = 20
#: Widest variance type (the sum of squares stays exact in a float64 emulation).
VARIANCE_WIDTH = 53
#: The rules above, recorded with a profiled configuration (another rule means another record).
RULES = {"resolution_bits": RESOLUTION_BITS, "output_fraction": OUTPUT_FRACTION,
         "weight_fraction": WEIGHT_FRACTION, "newton_steps": NEWTON_STEPS,
         "variance_bits": VARIANCE_BITS, "variance_width": VARIANCE_WIDTH,
         "pixel_bits": PIXEL_BITS, "max_input_bits": MAX_INPUT_BITS}
#: Keras layers whose outputs QKeras leaves unquantized, by class name (a ``Flatten`` gets its
#: input's type: hls4ml infers the next layer's accumulator before it would copy it).
UNQUANTIZED = ("QConv2D", "QDense", "InstanceNormalization", "Add", "Flatten")


def profile_layers(model: keras.Model, images: np.ndarray, batch_size: int = 250) -> pd.DataFrame:
    """Per unquantized layer (:data:`UNQUANTIZED`), on ``images`` (``(N, 40, 40)``): its class,
    the largest magnitude of its output, the smallest standard deviation and the largest sum of
    squared deviations of one channel of one image (NaN for flat outputs), whether an instance
    normalization reads it and, for a normalization, the layer it reads, its epsilon and its
    largest learned scale or shift."""
    layers = [layer for layer in model.layers if type(layer).__name__ in UNQUANTIZED]
    if not layers:
        raise ValueError(f"model {model.name} has no unquantized layer to profile")
    if len(images) == 0:
        raise ValueError("no images to profile")
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    largest = np.zeros(len(layers))
    spread = np.full(len(layers), np.inf)
    sum_sq = np.zeros(len(layers))
    for start in range(0, len(images), batch_size):
        batch = np.asarray(images[start:start + batch_size], dtype=np.float32)[..., None]
        outputs = probe(batch, training=False)
        for i, out in enumerate(outputs if isinstance(outputs, list) else [outputs]):
            out = np.asarray(out)
            largest[i] = max(largest[i], float(np.abs(out).max()))
            if out.ndim == 4:
                flat = out.reshape(len(out), -1, out.shape[-1]).astype(np.float64)
                std = flat.std(axis=1)
                spread[i] = min(spread[i], float(std.min()))
                sum_sq[i] = max(sum_sq[i], float((std**2 * flat.shape[1]).max()))
    weights = [max((float(np.abs(w).max()) for w in layer.get_weights()), default=np.nan)
               if type(layer).__name__ == "InstanceNormalization" else np.nan for layer in layers]
    reads = {layer.name: node.inbound_layers.name for layer in layers
             if type(layer).__name__ == "InstanceNormalization" for node in layer._inbound_nodes}
    readers = set(reads.values())
    return pd.DataFrame({
        "kind": [type(layer).__name__ for layer in layers],
        "largest": largest,
        "smallest_spread": np.where(np.isfinite(spread), spread, np.nan),
        "largest_sum_sq": np.where(np.isfinite(spread), sum_sq, np.nan),
        "feeds_norm": [layer.name in readers for layer in layers],
        "reads": [reads.get(layer.name, "") for layer in layers],
        "epsilon": [float(getattr(layer, "epsilon", np.nan)) for layer in layers],
        "largest_weight": weights,
    }, index=pd.Index([layer.name for layer in layers], name="layer"))


def input_type(images: np.ndarray) -> str:
    """``ap_ufixed<F,0>`` for unit-sum images: :data:`PIXEL_BITS` significant bits for the
    smallest nonzero pixel of ``images``, at most :data:`MAX_INPUT_BITS` bits."""
    images = np.asarray(images)
    if not np.any(images > 0) or images.max() >= 1:
        raise ValueError("profiling images must be unit-sum images with pixels in [0, 1)")
    smallest = float(images[images > 0].min())
    return f"ap_ufixed<{min(math.ceil(-math.log2(smallest)) + PIXEL_BITS, MAX_INPUT_BITS)},0>"


def integer_bits(largest: float) -> int:
    """Integer bits (sign included) of a signed type holding twice ``largest``."""
    return math.ceil(math.log2(2 * largest)) + 1 if largest > 0 else 1


def result_types(profile: pd.DataFrame) -> pd.Series:
    """``ap_fixed<W,I>`` of every profiled layer (see the module docstring)."""
    types = {}
    for name, row in profile.iterrows():
        whole = integer_bits(row["largest"])
        if row["feeds_norm"]:
            if not row["smallest_spread"] > 0:
                raise ValueError(f"layer {name}: a constant channel feeds a normalization")
            fraction = math.ceil(-math.log2(row["smallest_spread"])) + RESOLUTION_BITS
        else:
            fraction = OUTPUT_FRACTION
        types[name] = f"ap_fixed<{whole + fraction},{whole}>"
    return pd.Series(types, name="result type")


def variance_type(source: pd.Series, epsilon: float) -> str:
    """``ap_ufixed<W,I>`` of a normalization's variance from the profile row of its input:
    ``I`` for twice the largest sum of squared deviations, :data:`VARIANCE_BITS` below the
    smallest variance plus ``epsilon``, ``W`` at most :data:`VARIANCE_WIDTH`."""
    whole = max(1, math.ceil(math.log2(2 * source["largest_sum_sq"])))
    fraction = math.ceil(-math.log2(source["smallest_spread"] ** 2 + epsilon)) + VARIANCE_BITS
    return f"ap_ufixed<{min(whole + fraction, VARIANCE_WIDTH)},{whole}>"


def layer_config(profile: pd.DataFrame) -> dict[str, dict]:
    """hls4ml ``LayerName`` entries setting :func:`result_types` (for a convolution or dense
    layer also its ``<name>_linear`` activation node)."""
    config, types = {}, result_types(profile)
    for name, kind in zip(profile.index, profile["kind"], strict=True):
        entry = {"Precision": {"result": types[name]}}
        config[name] = entry
        if kind in ("QConv2D", "QDense"):
            config[f"{name}_linear"] = entry
        if kind == "InstanceNormalization":
            whole = integer_bits(profile.loc[name, "largest_weight"] / 2)
            weight = f"ap_fixed<{whole + WEIGHT_FRACTION},{whole}>"
            entry["Precision"].update(scale=weight, bias=weight,
                                      variance=variance_type(profile.loc[profile.loc[name, "reads"]],
                                                             profile.loc[name, "epsilon"]))
            entry["NewtonSteps"] = NEWTON_STEPS
    return config
