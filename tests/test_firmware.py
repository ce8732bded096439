"""The book's firmware runs (src.fpga.firmware): projects, emulation of the student and of the
reduced encoder, the bit-identity check of other projects, on small stand-in models."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from src.backend import keras  # sets up TensorFlow for QKeras and hls4ml: import it first

# isort: split
from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

from src.analysis.scores import kl_scores
from src.config import get_profile
from src.fpga import exact, firmware
from src.fpga.convert import RECORD_FILE, ensure_book_project
from src.fpga.emulate import emulate
from src.models.spec import ENCODER_OUTPUTS
from src.study import CSIM


def _quantized_trunk(seed: int) -> tuple:
    keras.utils.set_random_seed(seed)
    q = quantized_bits(16, 6, alpha=1)
    inputs = keras.Input((8, 8, 1), name="image")
    x = QConv2D(4, 3, strides=2, padding="same", kernel_quantizer=q, bias_quantizer=q,
                name="conv0")(inputs)
    x = QActivation(quantized_relu(16, 6), name="relu0")(x)
    return inputs, keras.layers.Flatten(name="flatten")(x), q


def _student_like(seed: int = 0) -> keras.Model:
    """(8, 8, 1) images -> QConv2D -> relu -> one QDense score, as the student ends."""
    inputs, x, q = _quantized_trunk(seed)
    return keras.Model(inputs, QDense(1, kernel_quantizer=q, bias_quantizer=q, name="score")(x))


def _encoder_like(seed: int = 0) -> keras.Model:
    """(8, 8, 1) images -> QConv2D -> relu -> heads logits (4), mu (3), logvar (3), in the
    order of ENCODER_OUTPUTS["jointvae"]."""
    inputs, x, q = _quantized_trunk(seed)
    heads = [QDense(n, kernel_quantizer=q, bias_quantizer=q, name=name)(x)
             for name, n in (("z_categorical", 4), ("z_mean", 3), ("z_var", 3))]
    return keras.Model(inputs, heads)


def _images(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit-sum (8, 8) images, QCD (label 0) then top (label 1) halves."""
    images = np.random.default_rng(seed).gamma(0.5, size=(n, 8, 8)).astype(np.float32)
    images /= images.sum(axis=(1, 2), keepdims=True)
    return images, np.repeat([0.0, 1.0], [n // 2, n - n // 2]).astype(np.float32)


def test_balanced_subset_by_hand():
    labels = np.array([0, 0, 0, 0, 1, 1, 1])
    pick = firmware.balanced_subset(labels, 4, seed=3)
    rng = np.random.default_rng(3)  # the same draws: 2 of the 4 QCD, 2 of the 3 top jets
    expected = np.concatenate([rng.choice(4, 2, replace=False), 4 + rng.choice(3, 2, replace=False)])
    np.testing.assert_array_equal(pick, expected)
    assert list(labels[pick]) == [0, 0, 1, 1] and len(set(pick)) == 4
    assert len(firmware.balanced_subset(labels, 100, seed=0)) == 6  # 3 top jets at most


def test_study_csim_time():
    assert CSIM.values["seconds"] == 31 * 3600 + 53 * 60
    assert firmware.study_csim_time() == "31 h 53 min"


def test_model_dirs_are_the_store_folders():
    profile = get_profile("smoke")
    dirs = firmware.model_dirs(profile)
    assert set(dirs) == set(firmware.MODEL_FOLDERS) == {"reduced encoder", "student"}
    assert dirs["student"].parent.name == "smoke" and dirs["reduced encoder"].name == "reduced_q16_6"


def test_student_emulation_numbers_by_hand():
    reference = np.array([0.0, 1.0, 2.0, 3.0])
    emulated = reference + np.array([0.0, 0.5, 0.0, 0.0])
    labels = np.array([0, 0, 1, 1])
    result = firmware.StudentEmulation(
        images=np.zeros((4, 8, 8)), labels=labels, reference=reference, emulated=emulated,
        compile_s=12.4, emulation_s=0.5, n_workers=2,
        agreement={"correlation": 0.99, "max_abs_diff": 0.5, "mean_abs_diff": 0.125},
        qkeras_auc=1.0, emu_auc=0.75)
    # 4 images in 0.5 s: 8 per second, 50,000 images in 6,250 s, the study's 114,780 s / 6,250
    assert result.images_per_s == 8 and result.seconds_per_study == 6250
    assert result.speedup == pytest.approx(114_780 / 6250)
    table = result.table()
    assert list(table.index) == ["AUC, top vs QCD", "images per second",
                                 "minutes per 50,000 images"]
    assert table.loc["minutes per 50,000 images", "study's C-simulation"] == 114_780 / 60
    assert table.loc["images per second", "hls4ml emulation"] == 8
    values = result.glue_values()
    assert values["emu_corr"] == "0.990000" and values["emu_max_diff"] == "0.5"
    assert values["emu_mean_diff"] == "0.12" and values["auc_diff"] == "2.5e-01"
    assert values["score_spread"] == f"{np.std(reference):.2f}" == "1.12"
    assert (values["student_compile_s"], values["emu_images_per_s"], values["workers"]) == (12, 8, 2)
    assert (values["emu_seconds_50k"], values["study_speedup"]) == (6250, 18)


def test_exact_emulation_numbers_by_hand():
    result = exact.ExactEmulation(
        labels=np.array([0, 0, 1, 1]), kl_qkeras=np.array([1.0, 2.0, 4.0, 8.0]),
        kl_study=np.array([1.1, 2.0, 4.0, 6.0]), kl_profiled=np.array([1.0, 2.0, 4.0, 8.0]),
        numpy_s=0.4, cpp_images=2, cpp_s=0.5, cpp_identical=True, compile_s=np.nan,
        n_workers=2)
    np.testing.assert_allclose(result.relative(result.kl_study), [0.1, 0.0, 0.0, 0.25])
    table = result.agreement()
    assert table.loc["study's ap_fixed<16,6>", "median relative KL difference [%]"] == pytest.approx(5)
    assert table.loc["profiled types", "AUC difference to QKeras"] == 0.0
    speed = result.speed()
    assert speed["images per second"].tolist() == pytest.approx([50_000 / 114_780, 4, 10])
    assert speed["times the study's rate"].iloc[2] == pytest.approx(10 * 114_780 / 50_000)
    values = result.glue_values()
    assert (values["study_median"], values["profiled_median"]) == ("5.00", "0.00")
    assert values["numpy_rate"] == "10" and values["cpp_jets"] == "2"
    assert "bit-identical to the hls4ml C++ (compiled before" in result.identity_text()
    none = dataclasses.replace(result, cpp_images=0, cpp_s=np.nan, cpp_identical=None)
    assert none.glue_values()["cpp_vs_study"] == "(not run)"
    assert "does not compile" in none.identity_text()


def test_ensure_projects_writes_the_book_settings(tmp_path):
    folders = {"student": tmp_path / "profile" / "student"}
    models = {"student": _student_like()}
    projects, table = firmware.ensure_projects(models, folders)
    assert set(projects) == {("student", "io_parallel"), ("student", "io_stream")}
    parallel = projects["student", "io_parallel"]
    assert parallel.folder == folders["student"] / "hls4ml_prj_parallel_latency_rf1"
    assert parallel.written_now and not table["compiled library"].any()
    assert table.loc[("student", "io_stream"), "project"] == \
        "profile/student/hls4ml_prj_stream_latency_rf1"
    record = json.loads((parallel.folder / RECORD_FILE).read_text())["settings"]
    assert record["input_precision"] == "ap_ufixed<16,0>" and record["reuse_factor"] == 1
    again, table = firmware.ensure_projects(models, folders)  # the same model: reused
    assert not table["written now"].any() and not again["student", "io_stream"].written_now
    assert firmware.hls_models(again) == {"student": again["student", "io_parallel"].hls_model}


@pytest.mark.hls
def test_student_emulation_and_identical_variants(tmp_path):
    model = _student_like()
    images, labels = _images(40)
    projects, _ = firmware.ensure_projects({"student": model}, {"student": tmp_path / "student"})
    result = firmware.emulate_student(model, projects["student", "io_parallel"], images, labels, 1)
    assert result.emulated.shape == result.reference.shape == (40,)
    assert result.agreement["correlation"] > 0.999
    assert abs(result.emu_auc - result.qkeras_auc) < 0.05
    profile = dataclasses.replace(get_profile("smoke"), fpga_variant_images=25)
    stream = firmware.check_variant("io_stream", projects["student", "io_stream"], result, profile)
    assert stream.loc["io_stream", "images"] == 25
    assert bool(stream.loc["io_stream", "identical to io_parallel"])
    settings = {"reuse_factor": {"conv0": 2, "score": 4}, "parallelization_factor": {"conv0": 4}}
    tuned = firmware.tuned_student_project(model, settings, tmp_path / "student")
    assert tuned.folder == tmp_path / "student" / firmware.TUNED_PROJECT
    assert tuned.hls_model.graph["conv0"].get_attr("reuse_factor") == 2
    row = firmware.check_variant("tuned", tuned, result, profile)
    assert bool(row.loc["tuned", "identical to io_parallel"])


@pytest.mark.hls
def test_exact_emulation_matches_the_cpp_bit_by_bit(tmp_path):
    encoder = _encoder_like()
    images, labels = _images(30)
    folder = tmp_path / "prj"
    hls_model, _ = ensure_book_project(encoder, "student", folder)  # the input type only
    pick = firmware.balanced_subset(labels, 10, 0)
    result = exact.emulate_exact(encoder, hls_model, folder, images, labels, pick, 1)
    assert result.cpp_identical and result.cpp_images == 10
    assert not np.isnan(result.compile_s)  # compiled now
    heads = emulate(folder, images[pick, ..., None], n_workers=1, progress=False)
    by_name = kl_scores(dict(zip(ENCODER_OUTPUTS["jointvae"], heads, strict=True)))
    np.testing.assert_array_equal(result.kl_profiled[pick], by_name["kl_total"])
    assert np.corrcoef(result.kl_qkeras, result.kl_profiled)[0, 1] > 0.99
