"""The hls4ml port of InstanceNormalization against the Keras layer (C++ emulation via g++)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from src.backend import keras  # sets up TensorFlow for QKeras and hls4ml: import it first

# isort: split
from src.fpga import instancenorm
from src.fpga.convert import convert
from src.fpga.emulate import emulate
from src.models.layers import InstanceNormalization as KerasInstanceNorm

LSB = 2.0**-10  # ap_fixed<16,6>, the default precision of inputs, weights and outputs


def _on_grid(values: np.ndarray, lsb: float = LSB) -> np.ndarray:
    """Values of ap_fixed<16,6>: multiples of 2^-10 in [-32, 32)."""
    return np.clip(np.round(values / lsb) * lsb, -32, 32 - lsb).astype(np.float32)


def _inorm_model(shape, conv_filters: int | None, rng) -> keras.Model:
    """Input (-> Conv2D) -> InstanceNormalization, every weight on the ap_fixed<16,6> grid."""
    inputs = keras.Input(shape, name="image")
    x = inputs
    if conv_filters:
        conv = keras.layers.Conv2D(conv_filters, 3, padding="same", name="conv")
        x = conv(x)
        conv.set_weights([_on_grid(rng.normal(0, 0.4, w.shape)) for w in conv.get_weights()])
    norm = KerasInstanceNorm(name="inorm")
    outputs = norm(x)
    channels = outputs.shape[-1]
    norm.set_weights([_on_grid(rng.uniform(0.5, 1.5, channels)), _on_grid(rng.uniform(-1, 1, channels))])
    return keras.Model(inputs, outputs)


def _reference(model: keras.Model, x: np.ndarray):
    """Keras output plus z = (x - mean)/sqrt(var + eps), 1/sqrt(var + eps), var and gamma."""
    norm = model.get_layer("inorm")
    feed = keras.Model(model.inputs, norm.input).predict(x, verbose=0).astype(np.float64)
    mean = feed.mean(axis=(1, 2), keepdims=True)
    var = feed.var(axis=(1, 2), keepdims=True)
    r = 1.0 / np.sqrt(var + norm.epsilon)
    gamma = norm.get_weights()[0]
    return model.predict(x, verbose=0).astype(np.float64), (feed - mean) * r, r, var, gamma


def _bound(node, z, r, var, gamma, eps: float) -> np.ndarray:
    """Worst-case error of the port, from the precisions it used (see src/instancenorm.py).

    1/sqrt: table bins (relative 2^-(log2 T + 1)), table rounding (2^-17 relative: half an LSB of
    ap_ufixed<18,1> over entries >= 0.5), after a Newton step 1.5 times that squared plus the
    truncations of the mantissa and the result (an LSB of rsqrt_t each, relative to >= 0.5),
    and var + eps off by at most 2.5 LSBs of var_t (two
    truncations, epsilon rounded), which moves 1/sqrt by half that relative error; the deviation:
    the mean truncated to accum_t; the normalized value: one LSB of norm_t; the output: one LSB of
    ap_fixed<16,6> (truncation); 1e-5 for the float32 Keras reference.
    """
    types = instancenorm.internal_types(node)
    table_size = node.get_attr("table_size")
    in_prec = node.get_input_variable().type.precision
    n = node.get_attr("n_spatial")
    var_frac = types["variance"].width - types["variance"].integer
    rel = 2.0 ** -(math.log2(table_size) + 1) + 2.0**-17
    if types["newton_steps"]:  # the step squares the table's error; m and the result truncate
        rsqrt_frac = types["rsqrt"].width - types["rsqrt"].integer
        rel = 1.5 * rel**2 + 2.0 ** -(rsqrt_frac - 1)
    rel = rel + 1.25 * 2.0**-var_frac / (var + eps)
    mean_err = 2.0 ** -(in_prec.width - in_prec.integer + math.ceil(math.log2(n)))
    norm_lsb = 2.0 ** -(types["norm"].width - types["norm"].integer)
    return np.abs(gamma) * (np.abs(z) * rel + r * mean_err + norm_lsb) + LSB + 1e-5


def _check(model, tmp_path, rng, x_scale, io_type: str = "io_parallel",
           layer_config: dict | None = None) -> float:
    """Convert, emulate and compare with Keras; returns the largest absolute error.

    ``x_scale`` (one value or one per input channel) sets the spread of the inputs; channels
    from 0.02 to 8 give variances from below epsilon (4e-4) to 64, i.e. 1/sqrt table lookups
    over 2^-12 .. 2^6.
    """
    shape = model.input_shape[1:]
    x = _on_grid(rng.normal(0.0, 1.0, (60, *shape)) * np.asarray(x_scale))
    hls_model = convert(model, tmp_path / "prj", io_type=io_type, layer_config=layer_config)
    y_hls = emulate(hls_model, x, n_workers=1, progress=False)
    y_keras, z, r, var, gamma = _reference(model, x)
    assert y_hls.shape == y_keras.shape
    err = np.abs(y_hls - y_keras)
    bound = _bound(hls_model.graph["inorm"], z, r, var, gamma, model.get_layer("inorm").epsilon)
    assert np.all(err <= bound), f"max excess {np.max(err - bound):.3g}"
    assert err.max() > 0  # the fixed-point path really ran
    return float(err.max())


def test_register_is_idempotent():
    instancenorm.register()
    instancenorm.register()
    import hls4ml

    assert hls4ml.model.layers.layer_map["InstanceNormalization"] is instancenorm.InstanceNormalization
    assert "InstanceNormalization" in hls4ml.converters.get_supported_keras_layers()
    assert instancenorm.HEADER.is_file()


@pytest.mark.hls
@pytest.mark.parametrize("shape", [(5, 5, 4), (10, 10, 3)])
def test_matches_keras_io_parallel(shape, tmp_path):
    rng = np.random.default_rng(sum(shape))
    scales = {4: [0.02, 0.3, 2.0, 8.0], 3: [0.05, 1.0, 6.0]}[shape[-1]]
    _check(_inorm_model(shape, None, rng), tmp_path, rng, x_scale=scales)


@pytest.mark.hls
def test_after_conv2d_matches_keras(tmp_path):
    rng = np.random.default_rng(3)
    _check(_inorm_model((10, 10, 3), 4, rng), tmp_path, rng, x_scale=1.0)


@pytest.mark.hls
def test_io_stream_with_small_table(tmp_path):
    """io_stream works, and TableSize sets the 1/sqrt resolution (16 entries: ~3 % errors)."""
    rng = np.random.default_rng(5)
    model = _inorm_model((5, 5, 4), None, rng)
    coarse = _check(model, tmp_path, rng, [0.02, 0.3, 2.0, 8.0], io_type="io_stream",
                    layer_config={"inorm": {"TableSize": 16}})
    assert coarse > 8 * LSB


@pytest.mark.hls
def test_newton_step_squares_the_table_error(tmp_path):
    """One Newton-Raphson step after a 16-entry table (and a variance resolved to 2^-24): the
    errors shrink more than fourfold, within the bound of the refined 1/sqrt (1.5 times the
    table's relative error squared)."""
    rng = np.random.default_rng(5)
    model = _inorm_model((5, 5, 4), None, rng)
    scales = [0.02, 0.3, 2.0, 8.0]
    fine_variance = {"Precision": {"variance": "ap_ufixed<40,16>"}, "TableSize": 16}
    coarse = _check(model, tmp_path / "table", np.random.default_rng(6), scales,
                    layer_config={"inorm": fine_variance})
    refined = _check(model, tmp_path / "newton", np.random.default_rng(6), scales,
                     layer_config={"inorm": {**fine_variance, "NewtonSteps": 1}})
    assert refined < coarse / 4


def test_precision_config_reaches_the_firmware(tmp_path):
    model = _inorm_model((5, 5, 4), None, np.random.default_rng(0))
    precision = {"accum": "ap_fixed<30,12>", "variance": "ap_ufixed<40,16>", "norm": "ap_fixed<20,5>"}
    convert(model, tmp_path / "prj", layer_config={"inorm": {"Precision": precision,
                                                                   "TableSize": 256,
                                                                   "NewtonSteps": 1}})
    text = (tmp_path / "prj" / "firmware" / "parameters.h").read_text()
    for line in ("typedef ap_fixed<30,12> accum_t;", "typedef ap_ufixed<40,16> var_t;",
                 "typedef ap_fixed<20,5> norm_t;", "static const unsigned table_size = 256;",
                 "static const unsigned table_mantissa_bits = 7;",
                 "static const unsigned newton_steps = 1;",
                 "typedef ap_ufixed<20,1> rsqrt_t;",
                 f"static const unsigned long long epsilon_raw = {round(1e-3 * 2**24)}ULL;"):
        assert line in text
    assert (tmp_path / "prj" / "firmware" / "nnet_utils" / "nnet_instancenorm.h").is_file()


@pytest.mark.parametrize(
    ("entries", "message"),
    [({"TableSize": 1000}, "power of two"),
     ({"NewtonSteps": 2}, "NewtonSteps must be 0 or 1"),
     ({"NewtonSteps": 1, "Precision": {"rsqrt": "ap_ufixed<24,2>"}}, "rsqrt"),
     ({"Precision": {"variance": "ap_ufixed<20,18>"}}, "epsilon")],
)
def test_bad_configuration_is_a_clear_error(entries, message, tmp_path):
    model = _inorm_model((5, 5, 4), None, np.random.default_rng(0))
    with pytest.raises(ValueError, match=message):
        convert(model, tmp_path / "prj", layer_config={"inorm": entries})
