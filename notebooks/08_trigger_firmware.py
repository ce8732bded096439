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
#   classes and giving every unquantized result the range and resolution it needs, and the
#   instance normalization an accurate 1/sqrt (one Newton-Raphson step after its table) and a
#   variance resolved against its epsilon, brings the emulated KL total from
#   {glue:text}`study_median`% to {glue:text}`profiled_median`% of QKeras's in the median over
#   all {glue:text}`n_test_jets` test jets (target 0.5%). The AUC is within
#   {glue:text}`profiled_auc_diff` of QKeras's (target 0.002).
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
# - **No preprocessing needed.** The same student reading the jet's constituents binned around
#   the jet axis, without centring, rotation, flip or normalization, keeps
#   {glue:text}`win_ratio:.1%` of its teacher's AUC ({glue:text}`win_auc:.3f`) for the same
#   resources.

# %% tags=["parameters", "remove-cell"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from IPython.display import Markdown, display
from myst_nb import glue

from src import style
from src.analysis.tables import show
from src.config import get_profile
from src.data.preprocess import WINDOW_SCALE
from src.data.splits import labelled
from src.fpga import blocks, exact, firmware, plots, synth, trigger
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
# convolution's outputs on unit-sum images spread by a few $10^{-4}$ within a channel, finer
# than that grid, and the normalization scales them up by $1/\sqrt{\sigma^2+\epsilon}$, about
# 30; the learned scales and shifts of the normalizations lose their last bits too. `src/fpga/precision.py` runs the QKeras encoder on
# {glue:text}`profile_jets` training jets (half QCD, half top) and sets, per layer: integer bits
# for twice the largest magnitude seen; 16 fractional bits below the smallest spread of one
# channel of one image for a tensor entering a normalization; 20 fractional bits for other
# results and for the normalization's scale and shift; and enough input bits to keep 11
# significant bits of the smallest pixel. Each normalization's variance type holds twice the
# largest sum of squared deviations seen and resolves the smallest variance plus epsilon to
# $2^{-20}$, and its $1/\sqrt{\sigma^2+\epsilon}$ takes one Newton-Raphson step after the
# 1,024-entry table. The choice is stored beside the weights
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
# Where the difference comes from is measured below on {glue:text}`ablation_jets` test jets,
# adding the normalization's choices one at a time to the profiled result types: with the
# port's default normalization the median is {glue:text}`abl_default`%; scales and shifts with 20
# fractional bits bring it to {glue:text}`abl_scale`%, the Newton step to {glue:text}`abl_newton`% and the
# variance type to {glue:text}`abl_all`%. Every error of a normalized value can push a value
# across one of the $2^{-9}$ rounding steps of the quantized activation that follows, and such flips
# add up along the network; the KL total of this encoder (a collapsed posterior, chapter 3) is a
# few hundredths of a nat, so a few flips show. The port's default 1/sqrt table is off by up to
# $2^{-11}$; one Newton-Raphson step, three products per channel and jet rather than per pixel,
# squares that error. The default variance type has a step of about $10^{-4}$ of the variance
# plus epsilon ($10^{-3}$ here), comparable to each squared deviation of the first
# normalization's inputs, which spread by only a few $10^{-4}$ on unit-sum images. The AUC, what the trigger decides on, moves by {glue:text}`profiled_auc_diff`.

# %% tags=["hide-input"]
pick_ablation = firmware.balanced_subset(labels, exact.ABLATION_JETS, P.seed + 3)
glue("ablation_jets", f"{len(pick_ablation):,}", display=False)
ablation = exact.norm_ablation(encoder, config, images[pick_ablation],
                              result.kl_qkeras[pick_ablation])
for name, value in zip(("abl_default", "abl_scale", "abl_newton", "abl_all"),
                       ablation["median relative KL difference [%]"], strict=True):
    glue(name, f"{value:.2f}", display=False)
show(ablation, digits={"median relative KL difference [%]": 2, "99th percentile [%]": 1},
     caption="The normalization's choices, one at a time: KL total against QKeras")

# %% [markdown]
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
# ## The study's Table 3.5, one block measured
#
# For the study's block "conv2_b1_1" (our `dconv_b2`, chapter 6) the estimator with products in
# DSPs asks for {glue:text}`blk_est_dsp` DSPs where the study's Vivado HLS reported
# {glue:text}`blk_study_dsp`, next to {glue:text}`blk_study_lut` LUTs. `src/fpga/blocks.py`
# writes one output pixel of that convolution, with the study's `ap_fixed<16,6>` types and our
# weights, as the same shift-and-add RTL and synthesizes it.

# %% tags=["hide-input"]
block = blocks.block_report(P)
if block is None:
    display(Markdown(trigger.missing_text(P)))
    for name in blocks.GLUE_NAMES:
        glue(name, "(not measured)", display=False)
else:
    block_table = blocks.block_table(block, encoder)
    for name, value in blocks.glue_values(block, block_table).items():
        glue(name, value, display=False)
    display(Markdown(trigger.source_text(block)))
    display(show(block_table, caption="The study's block \"conv2_b1_1\": Vivado HLS, the "
                 "estimator (all output pixels at once) and Yosys"))

# %% [markdown]
# One output pixel has {glue:text}`blk_products` products by non-zero weights (the grouped
# convolution's other weights are zero); synthesized they take {glue:text}`blk_pixel_lut` LUTs
# and no DSP, and {glue:text}`blk_pixels` pixels at once {glue:text}`blk_all_lut` LUTs;
# Verilator reproduces exact arithmetic on {glue:text}`blk_check_inputs` random inputs with
# {glue:text}`blk_mismatches` mismatches. This is how the study's run can report
# {glue:text}`blk_study_dsp` DSPs: products by constants become logic, not multipliers, and the
# estimator's DSP mapping does not describe what the tools build. Its LUT mapping errs the other
# way at 16 bits: {glue:text}`blk_est_conv_lut` LUTs for the same products,
# {glue:text}`blk_est_ratio` times the synthesis (at the trigger student's 8 bits,
# {glue:text}`trig_est_lut_ratio` times).
# The rest of the study's LUTs belongs to what this RTL leaves out: the normalization, whose
# products multiply two variables, and the activation; and the study's weights are not ours.
#
# ## A student without the preprocessing
#
# The students above read images that chapter 1 centred on the jet's pT centroid, rotated,
# flipped and scaled to unit sum: per-jet work a trigger would have to do before the network.
# The window student (`src.fpga.synth.WINDOW_SPEC`, the same architecture and budget) reads the
# constituents binned on the same grid around the jet axis, which a Level-1 jet finder provides
# as the centre of its window, with no centring, rotation or flip, and pixel pT in units of
# 1,024 GeV instead of a fraction of the jet's pT (`src.data.preprocess.window_images`). Its
# teacher still scores the preprocessed images of the same jets.

# %% tags=["hide-input"]
window = (synth.trigger_report(P, name=synth.WINDOW_MODEL)
          if trigger.can_report(P, synth.WINDOW_MODEL) else None)
if report is None or window is None:
    display(Markdown(trigger.missing_text(P)))
    glue("win_auc", float("nan"), display=False)
    glue("win_ratio", float("nan"), display=False)
    glue("win_input_max", float("nan"), display=False)
else:
    glue("win_auc", round(window["auc"]["student_firmware"], 3), display=False)
    glue("win_ratio", round(window["auc"]["ratio"], 3), display=False)
    glue("win_input_max", round(window["model"]["input_max"] / WINDOW_SCALE), display=False)
    display(Markdown(trigger.source_text(window)))
    display(show(trigger.student_comparison({"preprocessed images": report,
                                             "window around the jet axis": window}),
                 caption="The trigger student with and without the per-jet preprocessing"))

# %% [markdown]
# Without the preprocessing the student's firmware reaches an AUC of {glue:text}`win_auc:.3f`,
# {glue:text}`win_ratio:.1%` of its teacher's, for the same resources and latency: the centring,
# rotation, flip and normalization need not be built. What remains outside the budget is the
# jet finder's axis and the binning of each constituent into the window (a subtraction and an
# index per constituent); the brightest pixel of the test jets carries
# {glue:text}`win_input_max:.0f` GeV, below the 1,024 GeV at which the input type saturates.
#
# **What this does not show.** Yosys is not Vivado: it maps carries to 7-series `CARRY4`
# cells, does no placement or routing, and its logic depth gives a clock estimate, not a timing
# closure. The 25,600 input bits of a 40 × 40 image of 16-bit pixels arrive in one clock here,
# on the study's pixel grid (0.029 × 0.035 in η and φ), finer than a calorimeter trigger's
# towers. The reduced encoder itself still does not fit (chapter 6); only the distilled
# students do.
