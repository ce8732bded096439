"""The RTL of tiny seeded students simulated with Verilator against the NumPy fixed-point
emulation (FirmwareModel) and hls4ml's C++ (g++), its Yosys synthesis, and the committed
trigger report. Tests that need g++, Verilator or Yosys are marked ``hls`` and skipped when
the tool is absent."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from src.backend import seed_everything
from src.config import PROFILES, models_dir
from src.fpga import synth
from src.fpga.convert import convert, ensure_project
from src.fpga.emulate import emulate
from src.fpga.fixedpoint import FirmwareModel, FixedType
from src.fpga.rtl import Rtl, network_from_hls, verilog
from src.fpga.synth import (
    LEVELS_PER_STAGE,
    REPORT_FILE,
    SYNTH_DIR,
    TARGETS,
    TRIGGER_MODEL,
    TRIGGER_SETTINGS,
    TRIGGER_SPEC,
    TRIGGER_SPECS,
    input_codes,
    rtl_report,
    simulate,
    synthesize,
)
from src.fpga.trigger import (
    estimates,
    estimator_error,
    glue_values,
    placeholders,
    readable_verdict,
    verdict,
)
from src.models.spec import StudentSpec
from src.models.store import load
from src.models.student import build_student

needs_verilator = pytest.mark.skipif(shutil.which("verilator") is None, reason="no verilator")
needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="no yosys")
REPORT = models_dir(PROFILES["default"]) / TRIGGER_MODEL / SYNTH_DIR / REPORT_FILE


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A seeded 8x8-input student without convolution, its hls4ml project and RTL."""
    model, rng = tiny_student(3)
    hls_model, _ = ensure_project(model, tmp_path_factory.mktemp("tiny") / "prj",
                                  **TRIGGER_SETTINGS)
    network = network_from_hls(hls_model)
    return hls_model, network, verilog(network, module="tiny"), tiny_images(rng)


def tiny_student(seed: int, dense: int = 4, bits: int = 8):
    """A seeded student of 8x8 images (2x2 pooling, no convolution) with random weights, and
    the generator that drew them."""
    seed_everything(seed)
    model = build_student(StudentSpec(image_size=8, input_pool=2, filters=(), dense=dense,
                                      bits=bits, integer_bits=2))
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 1.5, w.shape) for w in model.get_weights()])
    return model, rng


def tiny_images(rng: np.random.Generator, n: int = 300) -> np.ndarray:
    """Sparse unit-sum 8x8 images."""
    return rng.dirichlet(np.full(64, 0.3), n).reshape(n, 8, 8)


@pytest.mark.hls
def test_numpy_emulation_is_bit_identical_to_hls4ml(tiny):
    hls_model, _, _, images = tiny
    emulated = emulate(hls_model, images[..., None], n_workers=1, progress=False)[:, 0]
    numpy_emulated = FirmwareModel(hls_model).predict(images[..., None])[:, 0]
    assert np.array_equal(numpy_emulated, emulated)
    assert len(np.unique(emulated)) > 50


@pytest.mark.hls
@needs_verilator
@pytest.mark.parametrize("seed, dense, bits", [(3, 4, 8), (4, 6, 8), (7, 3, 6)])
def test_verilator_simulation_matches_the_numpy_emulation(seed, dense, bits, tmp_path):
    model, rng = tiny_student(seed, dense, bits)
    hls_model = convert(model, tmp_path / "prj", write=False, **TRIGGER_SETTINGS)
    network = network_from_hls(hls_model)
    images = tiny_images(rng)
    codes = FirmwareModel(hls_model).predict(images[..., None])[:, 0] \
        * 2.0**network.output.fractional
    simulated = simulate(verilog(network, module="tiny"),
                         input_codes(images, network.input.fractional), tmp_path)
    assert simulated.shape == (len(images),)  # one jet per clock, all came out
    assert np.array_equal(simulated, codes)
    assert len(np.unique(codes)) > 20  # a spread of values


@pytest.mark.hls
@needs_verilator
def test_verilator_simulation_is_bit_identical_to_hls4ml(tiny, tmp_path):
    hls_model, network, design, images = tiny
    emulated = emulate(hls_model, images[..., None], n_workers=1, progress=False)[:, 0]
    simulated = simulate(design, input_codes(images, network.input.fractional), tmp_path)
    assert simulated.shape == (len(images),)  # one jet per clock, all came out
    assert np.array_equal(simulated / 2.0**network.output.fractional, emulated)


@pytest.mark.hls
@needs_yosys
def test_yosys_counts_come_from_a_real_run(tiny, tmp_path):
    design = tiny[2]
    result = synthesize(design, tmp_path)
    assert result["LUT"] > 50 and result["CARRY"] > 0 and result["DSP48E2"] == 0
    # every pipeline register bit (the input register at least) is a flip-flop
    assert result["FF"] >= design.n_inputs * design.input_bits
    assert result["cells"]["LUT6"] + result["cells"].get("LUT2", 0) > 0
    path = result["critical_path"]
    assert path["cells"]["LUT"] >= 1 and 0 < path["ns"] < 10 and path["max_lut_levels"] >= 1


@pytest.mark.parametrize("name", TRIGGER_SPECS)
def test_committed_report_belongs_to_the_committed_student(tmp_path, name):
    path = models_dir(PROFILES["default"]) / name / SYNTH_DIR / REPORT_FILE
    report = json.loads(path.read_text())
    model = load(path.parents[1])
    assert model.spec == TRIGGER_SPECS[name] and report["model"]["name"] == name
    network = network_from_hls(convert(model, tmp_path, write=False, **TRIGGER_SETTINGS))
    design = verilog(network, levels_per_stage=LEVELS_PER_STAGE)
    assert hashlib.sha256(design.source.encode()).hexdigest() == report["rtl"]["sha256"]
    assert report["rtl"]["latency_cycles"] == design.latency
    assert report["model"]["products"] == network.multiplications
    assert report["verilator"]["jets"] > 0 and report["yosys"]["LUT"] > 0


def test_verdict_and_estimator_error_on_the_committed_report():
    report = json.loads(REPORT.read_text())
    tables = estimates(build_student(TRIGGER_SPEC))
    table = verdict(report, tables)
    assert list(table.columns) == ["Yosys synthesis (LUT adders)", *tables]
    for key in TARGETS:
        assert f"{key} ok" in table.index
    synthesized = table["Yosys synthesis (LUT adders)"]
    assert synthesized["latency_ns"] == report["rtl"]["latency_cycles"] * 5.0
    assert tables["estimator, DSP products"].loc["total", "DSP"] > 0
    assert tables["estimator, LUT products"].loc["total", "DSP"] == 0
    error = estimator_error(report, tables["estimator, LUT products"])
    assert error.loc["LUT", "Yosys / RTL"] == report["yosys"]["LUT"]
    assert error.loc["LUT", "estimate / Yosys"] == pytest.approx(
        error.loc["LUT", "estimate"] / report["yosys"]["LUT"])


def test_the_readable_verdict_marks_each_target():
    report = json.loads(REPORT.read_text())
    tables = estimates(build_student(TRIGGER_SPEC))
    table = readable_verdict(verdict(report, tables))
    assert list(table.columns) == ["Yosys synthesis (LUT adders)", *tables]
    assert table.loc["latency [ns], at most 200", "Yosys synthesis (LUT adders)"] == (
        f"{report['rtl']['latency_cycles'] * 5.0:g} ✓")
    lut = table.loc["LUTs [% of the U250], at most 5", "estimator, LUT products"]
    assert lut.endswith("✗") == (tables["estimator, LUT products"].loc["total", "LUT_%"] > 5)
    assert table.loc["clock path [ns], at most 5", "estimator, DSP products"] == ""


def test_placeholders_have_the_types_of_measured_values():
    report = json.loads(REPORT.read_text())
    measured = glue_values(report, estimates(build_student(TRIGGER_SPEC)))
    for name, value in placeholders().items():
        assert isinstance(value, str) == isinstance(measured[name], str), name


def test_rtl_report_is_kept_per_rtl_and_measured_only_with_the_tools(monkeypatch, tmp_path):
    target, calls = tmp_path / "synth" / "report.json", []

    def measure(versions):
        calls.append(versions)
        return {"rtl": {"adders": len(calls)}}

    def design(source: str) -> Rtl:
        return Rtl(source, "m", 1, 1, FixedType(8, 2), 1, 0)

    tools = {"yosys": "Yosys 0.23", "verilator": "Verilator 5.006"}
    monkeypatch.setattr(synth, "tool_versions", lambda: tools)
    first = rtl_report(target, design("module a"), False, measure)
    assert first["measured_here"] and first["rtl"]["adders"] == 1 and calls == [tools]
    again = rtl_report(target, design("module a"), False, measure)
    assert not again["measured_here"] and again["rtl"] == first["rtl"] and len(calls) == 1
    assert rtl_report(target, design("module a"), True, measure)["rtl"]["adders"] == 2
    changed = rtl_report(target, design("module b"), False, measure)
    assert changed["measured_here"] and changed["rtl"]["adders"] == 3
    monkeypatch.setattr(synth, "tool_versions", lambda: {"yosys": None, "verilator": None})
    kept = rtl_report(target, design("module b"), True, measure)
    assert not kept["measured_here"] and len(calls) == 3
    assert rtl_report(target, design("module c"), False, measure) is None
