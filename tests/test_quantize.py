"""Reduced encoder, QKeras twin, quantizer settings, persistence and the model cache."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fakes import sparse_unit_sum_images

from src.backend import keras  # sets TensorFlow up for QKeras: import it first

# isort: split
from qkeras import QActivation, QConv2D, QDense

from src.compress import quantize
from src.compress.quantize import (
    copy_weights,
    integer_bits_for,
    kernels,
    largest_weight,
    quantized_twin,
    reduced_spec,
)
from src.config import get_profile
from src.models.layers import QKerasFactory
from src.models.networks import build_encoder, build_model, count_macs
from src.models.spec import ModelSpec
from src.models.store import cached, load, read_record, save

SMOKE = get_profile("smoke")
TABLE_3_2 = ("dconv_b0", "conv1_b0_0", "conv2_b0_0", "dconv_b1", "conv1_b1_0", "conv2_b1_0",
             "conv1_b1_1", "conv2_b1_1", "dconv_b2", "conv1_b2_0", "conv2_b2_0", "conv_fin",
             "z_categorical", "z_mean", "z_var")
#: A small joint VAE with the reduced encoder's kinds of layers, for the slower checks.
TINY = ModelSpec(filters=(4, 4), depths=(1, 1), groups=2, final_filters=2, final_groups=2,
                 latent_dim=4, n_categories=3, decoder_base=8, decoder_filters=(4, 4, 4, 4),
                 decoder_groups=2, negative_slope=0.25)




def quantized_encoder(bits: int, integer: int) -> keras.Model:
    spec = reduced_spec(SMOKE, bits=bits, integer_bits=integer)
    return build_encoder(spec, QKerasFactory(bits, integer))


@pytest.fixture(scope="module")
def float_encoder():
    return build_encoder(reduced_spec(SMOKE))


@pytest.fixture(scope="module")
def quant_encoder():
    return quantized_encoder(16, 6)


def test_reduced_encoder_is_the_study_one(float_encoder, quant_encoder):
    for encoder in (float_encoder, quant_encoder):
        assert encoder.count_params() == 10_674
        assert sum(count_macs(encoder).values()) == 961_800
        names = [layer.name for layer in encoder.layers]
        assert [n for n in names if n in TABLE_3_2] == list(TABLE_3_2)
        assert encoder.get_layer("conv_fin").output_shape[1:] == (5, 5, 2)
    assert [layer.name for layer in float_encoder.layers] == \
        [layer.name for layer in quant_encoder.layers]


def test_quantized_twin_uses_qkeras_layers(quant_encoder):
    types = {layer.name: type(layer) for layer in quant_encoder.layers}
    assert all(types[name] is QConv2D for name in TABLE_3_2[:12])
    assert all(types[name] is QDense for name in TABLE_3_2[12:])
    assert types["conv1_b0_0_act"] is QActivation
    assert "conv_fin_act" not in types
    assert quant_encoder.get_layer("conv1_b0_0").groups == 4
    assert quant_encoder.get_layer("conv_fin").groups == 2


@pytest.mark.parametrize("bits, integer", [(16, 6), (8, 3)])
def test_kernels_and_biases_lie_on_the_fixed_point_grid(bits, integer):
    encoder = quantized_encoder(bits, integer)
    step = 2.0 ** (integer - bits + 1)  # QKeras: `integer` excludes the sign bit
    for name in TABLE_3_2:
        layer = encoder.get_layer(name)
        for quantizer, weight in ((layer.kernel_quantizer_internal, layer.kernel),
                                  (layer.bias_quantizer_internal, layer.bias)):
            assert (quantizer.bits, quantizer.integer, quantizer.alpha) == (bits, integer, 1)
            w = np.asarray(weight) + np.random.default_rng(0).normal(0, 0.3, weight.shape)
            q = np.asarray(quantizer(w.astype(np.float32)))
            np.testing.assert_allclose(q / step, np.round(q / step), atol=1e-6)
            assert np.all(np.abs(q) <= 2.0 ** integer)
            assert np.abs(q - w).max() <= step / 2 + 1e-6 or np.abs(w).max() > 2.0 ** integer
    quantized = np.concatenate(list(kernels(encoder).values()))
    assert np.allclose(quantized / step, np.round(quantized / step), atol=1e-6)
    stored = np.concatenate(list(kernels(encoder, quantized=False).values()))
    assert not np.allclose(stored / step, np.round(stored / step), atol=1e-6)


def test_activation_quantizer_settings(quant_encoder):
    act = quant_encoder.get_layer("conv1_b1_0_act").quantizer
    assert (act.bits, act.integer, act.negative_slope) == (16, 6, 0.25)
    x = np.linspace(-8, 80, 1001, dtype=np.float32)
    y = np.asarray(act(x))
    step = 2.0 ** -9
    np.testing.assert_allclose(y / step, np.round(y / step), atol=1e-6)
    assert y.max() < 64 and np.isclose(y[0], -2.0)  # saturates; slope 0.25 below zero


def test_post_training_twin_has_the_float_weights():
    float_model = build_model(TINY)
    x = sparse_unit_sum_images(8)
    a = float_model.encode(x)
    fine = quantized_twin(float_model, 24, 6).encode(x)  # a 2^-17 grid: nearly the float model
    coarse = quantized_twin(float_model, 16, 6).encode(x)
    for key in a:
        np.testing.assert_allclose(fine[key], a[key], atol=1e-3)
    assert np.abs(coarse["mu"] - a["mu"]).max() > 1e-3  # quantization does act


def test_save_load_round_trip_of_a_quantized_model(tmp_path):
    model = build_model(TINY.replace(bits=16, integer_bits=6))
    copy_weights(quantized_twin(build_model(TINY), 16, 6), model)  # trained-like, not init
    x = sparse_unit_sum_images(6, seed=3)
    save(model, tmp_path / "q")
    record = read_record(tmp_path / "q")
    assert record["model"]["bits"] == 16 and record["model"]["integer_bits"] == 6
    back = load(tmp_path / "q")
    assert type(back.encoder.get_layer("z_mean")) is QDense
    for key, value in model.encode(x).items():
        np.testing.assert_array_equal(back.encode(x)[key], value)


def test_old_records_read_as_float_specs(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "spec.json").write_text(json.dumps({"model": {"kind": "ae"}}))
    assert read_record(tmp_path / "m")["model"] == {"kind": "ae", "bits": 0, "integer_bits": 6,
                                                    "input_transform": "none"}


@pytest.mark.parametrize("changes, message", [
    ({"bits": 1}, "bits=1"),
    ({"bits": 8, "integer_bits": -1}, "integer_bits=-1"),
    ({"bits": 8, "negative_slope": 0.2}, "power of two"),
])
def test_invalid_quantization_specs(changes, message):
    with pytest.raises(ValueError, match=message):
        ModelSpec(**changes)


def test_factory_builds_named_layers():
    factory = QKerasFactory(10, 2)
    conv = factory.conv(4, 3, 1, 2, "c")
    assert conv.name == "c" and conv.kernel_quantizer_internal.bits == 10
    assert factory.activation("relu", 0.25, "a").quantizer.negative_slope == 0.0


def test_cache_trains_once_and_retrains_on_new_settings(tmp_path):
    spec = ModelSpec(kind="ae", filters=(4,), depths=(0,), groups=1, latent_dim=2,
                     decoder_base=4, decoder_filters=(4, 4, 4, 4), decoder_depths=(0, 0, 0, 0))
    calls = []

    def make() -> keras.Model:
        calls.append(1)
        return build_model(spec)

    settings = {"model": spec.__dict__ | {"filters": [4], "depths": [0],
                                          "decoder_filters": [4] * 4,
                                          "decoder_depths": [0] * 4},
                "train": {"epochs": 1}}
    first = cached(tmp_path / "m", settings, make)
    again = cached(tmp_path / "m", settings, make)
    assert len(calls) == 1 and read_record(tmp_path / "m")["train"] == {"epochs": 1}
    np.testing.assert_array_equal(first.encoder.get_weights()[0], again.encoder.get_weights()[0])
    cached(tmp_path / "m", {**settings, "train": {"epochs": 2}}, make)
    assert len(calls) == 2


def test_largest_weight_and_integer_bits():
    kernels_by_layer = {"a": np.array([0.5, -1.25], np.float32), "b": np.array([0.75])}
    assert largest_weight(kernels_by_layer) == 1.25
    assert [integer_bits_for(m) for m in (0.3, 1.0, 1.5, 17.0, 64.0)] == [0, 0, 1, 5, 6]


def test_activation_range_is_the_largest_activation(float_encoder):
    images = sparse_unit_sum_images(5, seed=2)
    acts = [layer for layer in float_encoder.layers if layer.name.endswith("_act")]
    outputs = keras.Model(float_encoder.input, [a.output for a in acts])(images[..., None])
    expected = max(float(np.abs(np.asarray(o)).max()) for o in outputs)
    assert quantize.activation_range(float_encoder, images) == pytest.approx(expected, rel=1e-6)
    assert expected > 0
    dense = keras.Sequential([keras.Input((40, 40, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no activation layer"):
        quantize.activation_range(dense, images)


def test_bit_scans_stack_the_series_in_order(monkeypatch):
    calls = []

    def fake_scan(profile, integer_bits, epochs, verbose):
        calls.append((integer_bits, epochs))
        return pd.DataFrame({"bits": [16, 8], "integer_bits": integer_bits, "epochs": epochs,
                             "auc": [0.9, 0.6]})

    monkeypatch.setattr(quantize, "bit_scan", fake_scan)
    scan = quantize.bit_scans(SMOKE)
    assert calls == list(quantize.SCAN_SERIES)
    assert list(scan.index) == list(range(2 * len(quantize.SCAN_SERIES)))
    pairs = list(zip(scan["integer_bits"], scan["epochs"], strict=True))
    assert pairs[::2] == list(quantize.SCAN_SERIES)
