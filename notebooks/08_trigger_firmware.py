# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Firmware you can trust, at trigger speed
#
# Chapter 6 converted the study's reduced encoder with the study's choice of fixed-point types
# and found its emulated KL scores a few percent off its QKeras twin; its C++ emulation was too
# slow for the whole test split; every resource figure was an estimate. This chapter closes
# those three gaps.
#
# **Findings.**
#
# - **Types from the data, not by hand.** Profiling the encoder on training jets of both
#   classes and giving every unquantized result the range and resolution it needs brings the
#   emulated KL total from {glue:text}`study_median`% to {glue:text}`profiled_median`%
#   of QKeras's in the median over all {glue:text}`n_test_jets` test jets: six times closer, but
#   just short of the 0.5% we aimed at. The AUC is within {glue:text}`profiled_auc_diff` of
#   QKeras's (target 0.002).
# - **An exact emulator, fast.** A NumPy model of the firmware's fixed-point arithmetic
#   (`src/fpga/fixedpoint.py`) is bit-identical to the hls4ml C++ on
#   {glue:text}`cpp_jets` test jets and runs {glue:text}`numpy_rate` jets per second on one
#   process: {glue:text}`numpy_minutes` minutes for the study's {glue:text}`study_images`
#   images, {glue:text}`numpy_vs_study` times the rate of the study's C-simulation for the
#   same network ({glue:text}`cpp_vs_study` times for the C++ built with g++).
# - **A student for 40 MHz, synthesized.** A {glue:text}`trig_params`-parameter student reaches
#   an AUC of {glue:text}`trig_auc` (top vs QCD), as its teacher does ({glue:text}`trig_teacher_auc`;
#   the goal was 95% of it). Its RTL, synthesized with {glue:text}`yosys_version`, takes {glue:text}`trig_lut` LUTs ({glue:text}`trig_lut_pct`% of
#   the U250) and {glue:text}`trig_dsp` DSPs, gives a score {glue:text}`trig_latency_ns` ns after
#   the jet and accepts a new jet every clock; simulated with Verilator on
#   {glue:text}`trig_sim_jets` test jets it matches the C++ emulation with
#   {glue:text}`trig_sim_mismatches` mismatches.

# %% tags=["parameters", "remove-cell"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from IPython.display import Markdown, display
from myst_nb import glue

from src import style
from src.analysis.tables import show
from src.config import get_profile
from src.data.splits import labelled
from src.fpga import exact, firmware, plots, synth, trigger
from src.study import CSIM

style.use()
P = get_profile(profile)
encoder = firmware.book_models(P)["reduced encoder"]
folder = firmware.model_dirs(P)["reduced encoder"]
images, labels = labelled(P, "test")
glue("n_test_jets", f"{len(images):,}", display=False)
glue("study_images", f"{CSIM.values['images']:,}", display=False)

# %% [markdown]
# ## Fixed-point types from profiled values
#
# QKeras quantizes the encoder's weights and activations; the convolution outputs, the instance
# normalizations, the residual sums and the dense heads stay float in QKeras and need a type in
# firmware. The study gave all of them `ap_fixed<16,6>`: 10 fractional bits. The first
# convolution's outputs on unit-sum images spread by a few $10^{-3}$ within a channel, and the
# normalization divides by that spread; the learned scales and shifts of the normalizations
# lose their last bits too. `src/fpga/precision.py` runs the QKeras encoder on
# {glue:text}`profile_jets` training jets (half QCD, half top) and sets, per layer: integer bits
# for twice the largest magnitude seen; 16 fractional bits below the smallest spread of one
# channel of one image for a tensor entering a normalization; 20 fractional bits for other
# results, 16 for the normalization's scale and shift; and enough input bits to keep 11
# significant bits of the smallest pixel. The normalization's $1/\sqrt{\sigma^2+\epsilon}$ table
# grows from 1,024 to 8,192 entries. The choice is stored beside the weights
# (`firmware_precision.json`), so `python -m src score --firmware` rebuilds the same firmware.

# %% tags=["hide-input"]
config = exact.profiled_precision(encoder, P, folder)
glue("profile_jets", f"{exact.PROFILE_JETS:,}", display=False)
projects, _ = firmware.ensure_projects({"reduced encoder": encoder},
                                       {"reduced encoder": folder}, ("io_parallel",),
                                       {"reduced encoder": config})
project = projects["reduced encoder", "io_parallel"]
show(exact.precision_table(config), caption="Profiled result types of the reduced encoder")

# %% [markdown]
# ## The whole test split through the firmware
#
# Both firmwares, the study's types and the profiled ones, run on every test jet through the
# NumPy emulation; the profiled one also through the compiled hls4ml C++ on a seeded half-QCD,
# half-top subset, which must give the same bits.

# %% tags=["hide-input"]
pick = firmware.balanced_subset(labels, P.fpga_reduced_images, P.seed + 1)
result = exact.emulate_exact(encoder, project.hls_model, project.folder, images, labels, pick,
                             P.workers)
for name, value in result.glue_values().items():  # the numbers the prose cites
    glue(name, value, display=False)
display(show(result.agreement(), digits={"median relative KL difference [%]": 2,
                                         "99th percentile [%]": 1, "AUC top vs QCD": 4,
                                         "AUC difference to QKeras": ".1e"},
             caption="KL total of the emulated firmware against QKeras, every test jet"))
display(Markdown(result.identity_text()))
fig = plots.kl_differences({"study's ap_fixed<16,6>": result.relative(result.kl_study),
                            "profiled types": result.relative(result.kl_profiled)},
                           exact.TARGET_MEDIAN)
glue("fig_kl_differences", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_kl_differences
# :name: fig-kl-differences
#
# Relative difference between the emulated and the QKeras KL total, per test jet, for the
# study's uniform types and for the profiled ones.
# ```
#
# The 0.5% target is missed by a hair, and more bits do not close the gap: wider pixels (15
# instead of 11 significant bits), 20 instead of 16 resolution bits before a normalization,
# or a 1/sqrt table of 16,384 entries each moved the median by 0.01 percentage points or less
# (measured with this emulator). The residual comes from the quantized activations: the KL
# total of this encoder (a collapsed posterior, chapter 3) is a few hundredths of a nat, and an
# activation that rounds to the neighbouring step changes it by a visible fraction; QKeras
# computes in float32, so {numref}`fig-kl-differences` compares two roundings, not the
# firmware with exact arithmetic. The AUC, what the trigger decides on, moves by
# {glue:text}`profiled_auc_diff`.
#
# Like for like, the same network and the same jets:

# %% tags=["hide-input"]
speed = result.speed()
show(speed, digits=dict(zip(speed.columns, (".3g", ",.1f", ",.0f"), strict=True)),
     caption="Emulation speed of the reduced encoder")

# %% [markdown]
# ## A student for a Level-1 trigger, synthesized
#
# Chapter 6's student needs tens of thousands of multiplications per jet and meets 1 µs, not
# the 40 MHz bunch-crossing rate. The trigger student (`src.fpga.synth.TRIGGER_SPEC`) averages
# the image to 10 × 10 pixels and feeds one dense layer of 8 quantized ReLUs and a score, with
# 8-bit weights; it is distilled from chapter 7's recommended detector. `src/fpga/rtl.py`
# writes its Verilog from the hls4ml model, every product by a constant weight as shifts and
# adds, one pipelined adder tree per neuron, arithmetic identical to hls4ml's types.
# `src/fpga/synth.py` synthesizes it with Yosys (`synth_xilinx -family xcup`, UltraScale+) and
# simulates it with Verilator; without the tools, the committed report is shown.

# %% tags=["hide-input"]
report = synth.trigger_report(P) if trigger.can_report(P) else None
if report is None:
    display(Markdown(trigger.missing_text(P)))
    for name, value in trigger.placeholders().items():
        glue(name, value, display=False)
else:
    tables = trigger.estimates(synth.trigger_student(P))
    for name, value in trigger.glue_values(report, tables).items():
        glue(name, value, display=False)
    display(Markdown(trigger.source_text(report)))
    display(show(trigger.readable_verdict(trigger.verdict(report, tables)),
                 caption="Level-1 targets, per design"))
    display(show(trigger.estimator_error(report, tables["estimator, LUT products"]),
                 digits={"estimate / Yosys": 2}, caption="Chapter 6's estimator against the "
                 "synthesis (LUT products)"))

# %% [markdown]
# The synthesized student meets every target with room: {glue:text}`trig_latency_cycles`
# clock cycles ({glue:text}`trig_latency_ns` ns) from pixels to score, a new jet every clock,
# {glue:text}`trig_lut_pct`% of the LUTs and no DSP, and a critical path estimated at
# {glue:text}`trig_path_ns` ns ({glue:text}`trig_lut_levels` LUT levels) against the 5 ns
# clock. Chapter 6's estimator, calibrated here for the first time, gives
# {glue:text}`trig_est_lut` LUTs with products in LUTs, {glue:text}`trig_est_lut_ratio` times the
# synthesized count: its LUT figures are good to a factor of about 1.5, its latency to about 2.
# Taken at face value, the estimator's worse mapping fails one target in each case (LUTs just
# above 5% with products in LUTs, DSPs above 5% with products in DSPs); the synthesis, a
# measurement, meets both with the products in LUTs, because a product by a constant 8-bit
# weight is a handful of shifted additions, not a general multiplier.
#
# **What this does not show.** Yosys is not Vivado: it maps carries to 7-series `CARRY4`
# cells, does no placement or routing, and its logic depth gives a clock estimate, not a timing
# closure. The 25,600 input bits of a 40 × 40 image of 16-bit pixels arrive in one clock here;
# a trigger receives jet constituents, and the centring, rotation, flip, pixelization and
# normalization of chapter 1 are not costed. The reduced encoder itself still does not fit
# (chapter 6); only the distilled student does.
