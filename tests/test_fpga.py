"""hls4ml conversion, parallel C++ emulation and comparison (src.fpga)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from src.backend import keras  # sets up TensorFlow for QKeras and hls4ml: import it first

# isort: split
from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

from src.fpga.convert import (
    BOOK_SETTINGS,
    RECORD_FILE,
    convert,
    ensure_book_project,
    ensure_project,
    precision_table,
    project_dir,
    quiet,
    ungroup_convolutions,
)
from src.fpga.emulate import compare, emulate, library_ready, load_library

HEADS = (("z_categorical", 5), ("z_mean", 3), ("z_var", 2))


def _qkeras_model(seed: int = 0) -> keras.Model:
    """QConv2D -> QActivation -> Flatten -> three QDense heads, as the quantized encoder ends."""
    keras.utils.set_random_seed(seed)
    q = quantized_bits(16, 6, alpha=1)
    inputs = keras.Input((8, 8, 1), name="image")
    x = QConv2D(4, 3, strides=2, padding="same", kernel_quantizer=q, bias_quantizer=q, name="qconv")(inputs)
    x = QActivation(quantized_relu(16, 6), name="qact")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    heads = [QDense(n, kernel_quantizer=q, bias_quantizer=q, name=name)(x) for name, n in HEADS]
    return keras.Model(inputs, heads)


def _truncate(x: np.ndarray, frac_bits: int) -> np.ndarray:
    """What hls4ml does to an input: truncation to ``frac_bits`` fractional bits."""
    return (np.floor(x * 2.0**frac_bits) / 2.0**frac_bits).astype(np.float32)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    model = _qkeras_model()
    out = tmp_path_factory.mktemp("qkeras") / "prj"
    hls_model = convert(model, out)
    images = np.random.default_rng(1).uniform(0, 1, (300, 8, 8, 1)).astype(np.float32)
    return model, hls_model, out, images


def _assert_matches(y_hls, y_keras, n: int) -> None:
    """Bit-accurate up to the float32 rounding of the Keras reference: hls4ml accumulates the
    convolution and the dense heads exactly (inferred wide types), weights use the QKeras
    quantizers' grids and the activation rounds like quantized_relu (AP_RND_CONV, AP_SAT)."""
    assert [y.shape for y in y_hls] == [y.shape for y in y_keras] == [(n, k) for _, k in HEADS]
    for yh, yk in zip(y_hls, y_keras, strict=True):
        np.testing.assert_allclose(yh, yk, rtol=0, atol=1e-5)


@pytest.mark.hls
def test_qkeras_model_matches(converted):
    model, hls_model, _, images = converted
    on_grid = _truncate(images, 10)  # the default input type ap_fixed<16,6>
    y_hls = emulate(hls_model, images, n_workers=1, progress=False)
    _assert_matches(y_hls, model.predict(on_grid, verbose=0), len(images))
    stats = compare(model.predict(images, verbose=0), y_hls)
    assert stats["correlation"] > 0.999 and stats["n_values"] == 300 * 10
    assert stats["max_abs_diff"] > 0  # unquantized images lose their bits below 2^-10


@pytest.mark.hls
def test_input_precision(tmp_path):
    model = _qkeras_model()
    images = np.random.default_rng(2).uniform(0, 1, (100, 8, 8, 1)).astype(np.float32)
    hls_model = convert(model, tmp_path / "prj", input_precision="ap_ufixed<16,0>")
    y_hls = emulate(hls_model, images, n_workers=1, progress=False)
    _assert_matches(y_hls, model.predict(_truncate(images, 16), verbose=0), len(images))
    # a written project without its library is compiled again from disk
    for lib in (tmp_path / "prj" / "firmware").glob("*.so"):
        lib.unlink()
    again = emulate(tmp_path / "prj", images[:10], n_workers=1, progress=False)
    for a, b in zip(again, y_hls, strict=True):
        np.testing.assert_array_equal(a, b[:10])


@pytest.mark.hls
def test_two_workers_give_the_single_worker_outputs(converted):
    _, hls_model, out, images = converted
    one = emulate(hls_model, images, n_workers=1, batch_size=64, progress=False)
    two = emulate(out, images, n_workers=2, batch_size=64, progress=False)
    assert len(one) == len(two) == len(HEADS)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.hls
def test_emulate_rejects_wrong_input_size(converted):
    _, hls_model, _, _ = converted
    with pytest.raises(ValueError, match="do not split"):
        emulate(hls_model, np.zeros((3, 7, 7, 1)), progress=False)


def test_compare_on_hand_values():
    a = np.array([[0.0, 1.0], [2.0, 3.0]])
    b = a + np.array([[0.0, 0.5], [-0.25, 0.0]])
    stats = compare([a, a[:, :1]], [b, b[:, :1]])
    assert stats["max_abs_diff"] == 0.5
    assert stats["mean_abs_diff"] == pytest.approx((0.5 + 0.25 + 0.25) / 6)
    assert stats["n_values"] == 6
    assert stats["correlation"] == pytest.approx(np.corrcoef(
        [0, 1, 0, 2, 3, 2], [0, 1.5, 0, 1.75, 3, 1.75])[0, 1])
    with pytest.raises(ValueError, match="shapes differ"):
        compare(a, b[:, :1])


def test_ungroup_convolutions_keeps_the_function():
    keras.utils.set_random_seed(2)
    q = quantized_bits(16, 6, alpha=1)
    inputs = keras.Input((6, 6, 4))
    x = QConv2D(6, 3, padding="same", groups=2, kernel_quantizer=q, bias_quantizer=q, name="g1")(inputs)
    x = keras.layers.Conv2D(4, 3, groups=2, name="g2")(x)
    model = keras.Model(inputs, x)
    plain = ungroup_convolutions(model)
    assert [plain.get_layer(n).groups for n in ("g1", "g2")] == [1, 1]
    assert plain.get_layer("g1").kernel.shape == (3, 3, 4, 6)
    images = np.random.default_rng(0).normal(size=(4, 6, 6, 4)).astype(np.float32)
    np.testing.assert_allclose(plain.predict(images, verbose=0), model.predict(images, verbose=0),
                               atol=1e-5)
    assert ungroup_convolutions(plain) is plain


def test_result_precision_replaces_inferred_types(tmp_path):
    convert(_qkeras_model(), tmp_path / "prj", result_precision="ap_fixed<18,8>")
    defines = (tmp_path / "prj" / "firmware" / "defines.h").read_text()
    assert "typedef ap_fixed<16,6> input_t;" in defines  # the input keeps default_precision
    assert "typedef ap_fixed<18,8> layer2_t;" in defines  # the convolution's output
    assert "typedef ap_ufixed<16,6,AP_RND_CONV,AP_SAT,0> layer4_t;" in defines  # quantized_relu(16,6)
    assert defines.count("ap_fixed<18,8> layer") == 4  # conv and the three heads


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"io_type": "io_serial"}, "io_type"), ({"strategy": "Fast"}, "strategy"),
     ({"reuse_factor": 0}, "reuse_factor"), ({"layer_config": {"nope": {}}}, "unknown layer")],
)
def test_convert_argument_errors(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        convert(_qkeras_model(), tmp_path / "prj", **kwargs)


@pytest.mark.hls
def test_ensure_project_keeps_a_matching_compiled_project(tmp_path):
    model = _qkeras_model()
    out = project_dir(tmp_path / "model", "io_parallel", "Latency", 1)
    assert out == tmp_path / "model" / "hls4ml_prj_parallel_latency_rf1"
    settings = {"input_precision": "ap_ufixed<16,0>"}
    first, reused = ensure_project(model, out, **settings)
    assert not reused and not library_ready(out)
    load_library(first)
    assert library_ready(out)
    library = sorted((out / "firmware").glob("*.so"))
    again, reused = ensure_project(model, out, **settings)
    assert reused and library_ready(out)
    assert sorted((out / "firmware").glob("*.so")) == library  # nothing rewritten, no recompile
    assert [n.name for n in again.get_layers()] == [n.name for n in first.get_layers()]
    # other settings or other weights: written again, the stale library removed
    _, reused = ensure_project(model, out, input_precision="ap_ufixed<16,1>")
    assert not reused and not library_ready(out)
    changed = _qkeras_model(seed=1)
    ensure_project(model, out, **settings)
    _, reused = ensure_project(changed, out, **settings)
    assert not reused


def test_precision_table(converted):
    _, hls_model, _, _ = converted
    table = precision_table(hls_model)
    assert table.loc["qconv", "weight"] == "ap_fixed<16,7>"  # quantized_bits(16, 6): sign + 6 integer bits
    assert table.loc["qact", "output"] == "ap_ufixed<16,6,AP_RND_CONV,AP_SAT,0>"
    assert table.loc["image", "output"] == "ap_fixed<16,6>" and table.loc["image", "weight"] == ""
    assert table.loc["z_mean", "accumulator"].startswith("ap_fixed<")


def test_quiet_silences_stdout_only(capsys):
    with quiet():
        print("Interpreting Model ...")
    print("after")
    assert capsys.readouterr().out == "after\n"


def test_ensure_book_project_adds_to_the_book_settings(tmp_path):
    keras.utils.set_random_seed(0)
    q = quantized_bits(16, 6, alpha=1)
    inputs = keras.Input((8, 8, 1), name="image")
    x = QConv2D(2, 3, kernel_quantizer=q, bias_quantizer=q, name="dconv_b0")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    model = keras.Model(inputs, QDense(2, kernel_quantizer=q, bias_quantizer=q, name="z")(x))
    entries = {"dconv_b0": {"Precision": {"result": "ap_fixed<26,6>"}}, "z": {"ReuseFactor": 2}}
    hls_model, reused = ensure_book_project(model, "reduced encoder", tmp_path / "prj",
                                           layer_config=entries)
    assert not reused
    settings = json.loads((tmp_path / "prj" / RECORD_FILE).read_text())["settings"]
    expected = {**BOOK_SETTINGS["reduced encoder"], "io_type": "io_parallel",
                "strategy": "Latency", "reuse_factor": 1, "layer_config": entries}
    assert settings == expected
    assert hls_model.graph["z"].get_attr("reuse_factor") == 2
    assert precision_table(hls_model).loc["dconv_b0", "output"] == "ap_fixed<26,6>"
    with pytest.raises(ValueError, match="unknown book model"):
        ensure_book_project(model, "teacher", tmp_path / "other")
