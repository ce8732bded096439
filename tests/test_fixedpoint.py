"""The NumPy fixed-point emulation: ap_fixed casts, exact wide arithmetic, profiled types, and
bit-identity with the compiled hls4ml C++ (``hls``), and ``score --firmware``."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from fakes import TINY_QUANTIZED_SPEC, sparse_unit_sum_images

from src.backend import keras, seed_everything
from src.cli import main
from src.config import MODELS_DIR
from src.data.datasets import write_jets
from src.fpga import precision
from src.fpga.convert import BOOK_SETTINGS, ensure_book_project
from src.fpga.emulate import emulate
from src.fpga.exact import PRECISION_FILE, firmware_model
from src.fpga.fixedpoint import FirmwareModel, FixedType, _floor_sum, _square_floor
from src.models.networks import build_model
from src.models.spec import ModelSpec
from src.models.student import build_student


def test_casts_follow_the_ap_fixed_modes():
    x = np.array([1.3, -1.3, 0.625, 0.875, -0.625, 7.9, -8.2])
    # ap_fixed<6,3>: 3 fractional bits, range [-4, 3.875]
    assert FixedType(6, 3).cast(x).tolist() == [1.25, -1.375, 0.625, 0.875, -0.625, -0.125, -0.25]
    sat = FixedType(6, 3, rounding="RND_CONV", saturation="SAT")
    assert sat.cast(np.array([0.0625, 0.1875, 7.9, -8.2])).tolist() == [0.0, 0.25, 3.875, -4.0]
    unsigned = FixedType(4, 0, signed=False)
    assert unsigned.cast(np.array([0.99, 1.0, -0.0625])).tolist() == [0.9375, 0.0, 0.9375]
    assert FixedType(8, 2).raw(np.array([0.5])).tolist() == [32.0]
    with pytest.raises(ValueError, match="wider than the 53 bits"):
        FixedType(60, 10)


def test_wide_squares_and_sums_are_exact():
    rng = np.random.default_rng(0)
    d = np.floor(rng.uniform(-2.0**44, 2.0**44, 2000))
    want = [(int(v) ** 2) >> 40 for v in d]
    assert _square_floor(d, 40).tolist() == want
    # sums needing more than 53 bits, floored on a 2**-20 grid
    a = np.floor(rng.uniform(-2.0**52, 2.0**52, 2000)) * 2.0**-30
    b = np.floor(rng.uniform(-2.0**52, 2.0**52, 2000)) * 2.0**-75
    t = FixedType(50, 30)
    exact = [Fraction(float(x)) + Fraction(float(y)) for x, y in zip(a, b, strict=True)]
    want = [float((v * 2**20).__floor__()) * 2.0**-20 for v in exact]
    assert _floor_sum(a, b, t).tolist() == [float(t.cast(np.array([w]))[0]) for w in want]


@pytest.fixture(scope="module")
def tiny_encoder():
    """A tiny quantized joint VAE encoder with non-trivial normalization weights."""
    seed_everything(3)
    encoder = build_model(ModelSpec(**TINY_QUANTIZED_SPEC)).encoder
    rng = np.random.default_rng(3)
    for layer in encoder.layers:
        if type(layer).__name__ == "InstanceNormalization":
            gamma, beta = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
                               rng.normal(0, 0.3, beta.shape).astype(np.float32)])
    return encoder


def test_profiled_types_hold_the_values_and_resolve_the_spreads(tiny_encoder):
    images = sparse_unit_sum_images(64, seed=1)
    profile = precision.profile_layers(tiny_encoder, images)
    assert profile.loc["dconv_b0", "feeds_norm"] and not profile.loc["z_mean", "feeds_norm"]
    types = precision.result_types(profile)
    for name, row in profile.iterrows():
        width, whole = (int(v) for v in types[name][9:-1].split(","))
        assert 2.0 ** (whole - 1) >= 2 * row["largest"]  # twice the largest, plus the sign
        if row["feeds_norm"]:
            assert 2.0 ** -(width - whole) <= row["smallest_spread"] * 2.0**-precision.RESOLUTION_BITS
    config = precision.layer_config(profile)
    assert config["dconv_b0_linear"] == config["dconv_b0"]
    norm = config["dconv_b0_norm"]
    assert set(norm["Precision"]) == {"result", "scale", "bias", "variance"}
    assert norm["NewtonSteps"] == precision.NEWTON_STEPS == 1
    width, whole = (int(v) for v in norm["Precision"]["variance"][10:-1].split(","))
    source, eps = profile.loc["dconv_b0"], profile.loc["dconv_b0_norm", "epsilon"]
    assert 2.0**whole >= 2 * source["largest_sum_sq"]  # the sum of squares never wraps
    assert width <= precision.VARIANCE_WIDTH
    if width < precision.VARIANCE_WIDTH:  # not capped: the smallest variance is resolved
        assert (2.0 ** -(width - whole)
                <= (source["smallest_spread"] ** 2 + eps) * 2.0**-precision.VARIANCE_BITS)
    assert precision.input_type(np.array([[0.5, 2.0**-12]])) == f"ap_ufixed<{12 + precision.PIXEL_BITS},0>"
    assert precision.input_type(np.array([[0.5, 1e-30]])) == f"ap_ufixed<{precision.MAX_INPUT_BITS},0>"
    with pytest.raises(ValueError, match="no images"):
        precision.profile_layers(tiny_encoder, images[:0])
    with pytest.raises(ValueError, match="unit-sum"):
        precision.input_type(np.ones((2, 2)))


def test_outputs_keep_the_keras_order_and_refuse_unknown_layers(tiny_encoder):
    fixed = firmware_model(tiny_encoder, BOOK_SETTINGS["reduced encoder"])
    heads = fixed.predict(sparse_unit_sum_images(5, seed=2))
    assert [h.shape for h in heads] == [(5, 3), (5, 4), (5, 4)]
    with pytest.raises(ValueError, match="no images"):
        fixed.predict(np.zeros((0, 40, 40)))


@pytest.mark.hls
@pytest.mark.parametrize("profiled", [False, True], ids=["study types", "profiled types"])
def test_numpy_emulation_is_bit_identical_to_the_cpp(tiny_encoder, tmp_path, profiled):
    images = sparse_unit_sum_images(40, seed=4)
    config = None
    if profiled:
        config = precision.layer_config(precision.profile_layers(tiny_encoder, images))
        config["image"] = {"Precision": {"result": precision.input_type(images)}}
    hls_model, _ = ensure_book_project(tiny_encoder, "reduced encoder", tmp_path / "enc",
                                       layer_config=config)
    cpp = emulate(tmp_path / "enc", images[..., None], n_workers=1, progress=False)
    ours = FirmwareModel(hls_model).predict(images)
    for c, o in zip(cpp, ours, strict=True):
        np.testing.assert_array_equal(c.reshape(len(images), -1), o)
    seed_everything(5)
    student = build_student()
    hls_student, _ = ensure_book_project(student, "student", tmp_path / "student")
    cpp = emulate(tmp_path / "student", images[..., None], n_workers=1, progress=False)
    np.testing.assert_array_equal(cpp, FirmwareModel(hls_student).predict(images))


@pytest.fixture(scope="module")
def jet_file(tmp_path_factory, generated):
    images = np.concatenate([generated["qcd"]["images"][:12], generated["top"]["images"][:12]])
    return write_jets(tmp_path_factory.mktemp("jets") / "jets.h5", {"images": images},
                      {"process": "mixed"})


@pytest.mark.parametrize("folder", ["student", "trigger_student", "reduced_q16_6"])
def test_score_through_the_firmware(folder, jet_file, tmp_path, capsys):
    model_dir = MODELS_DIR / "default" / folder
    out = tmp_path / "firmware.csv"
    assert main(["score", "--model", str(model_dir), "--input", str(jet_file),
                 "--output", str(out), "--firmware"]) == 0
    frame = pd.read_csv(out)
    assert len(frame) == 24 and frame.columns[-1] == "anomaly"
    assert np.isfinite(frame["anomaly"]).all() and frame["anomaly"].std() > 0
    if folder == "reduced_q16_6":
        assert list(frame.columns) == ["kl_cont", "kl_disc", "kl_total", "anomaly"]
        assert (MODELS_DIR / "default" / folder / PRECISION_FILE).is_file()


def test_score_firmware_refuses_a_float_model(jet_file, tmp_path, capsys):
    out = tmp_path / "x.csv"
    assert main(["score", "--model", str(MODELS_DIR / "default" / "jointvae"), "--input",
                 str(jet_file), "--output", str(out), "--firmware"]) != 0
    assert "no firmware for a model of kind" in capsys.readouterr().err
    keras.backend.clear_session()
