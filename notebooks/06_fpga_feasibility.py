# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Can the encoder run in a trigger FPGA?
#
# The last step of the study takes the quantized reduced encoder of chapter 5 through hls4ml
# {cite}`duarte2018,aarrestad2021` into a high-level-synthesis (HLS) project for an AMD Xilinx
# Alveo U250 card at a 5 ns clock (200 MHz) and asks whether it fits. The study wrote the missing
# instance normalization for hls4ml itself, could synthesize only some blocks of the encoder,
# extrapolated the largest block linearly and concluded that the encoder does not fit one FPGA.
# Its C-simulation, the bit-accurate software model of the firmware, took
# {glue:text}`study_csim_time` for about {glue:text}`study_csim_images` test images
# ({glue:text}`study_csim_source`).
#
# This chapter repeats that path with hls4ml 1.3 and our own instance-normalization port
# (`src/fpga/instancenorm.py`, `src/fpga/hls/nnet_instancenorm.h`), and takes the student network
# of chapter 5, distilled from the full joint VAE, down the same path. Three questions:
#
# 1. **Is the firmware what we trained?** hls4ml's `compile()` builds the project's C++ with g++;
#    calling it image by image is a bit-accurate emulation of the firmware's fixed-point
#    arithmetic. We compare its anomaly scores with the QKeras model's.
# 2. **How big and how fast would it be?** Without Vivado or Vitis here, every resource and
#    latency figure below is an **estimate** of our own model (`src/fpga/estimate.py`): operation
#    counts, bit widths, reuse and parallelization factors, cross-checked against the multiplier
#    counts hls4ml itself plans for each layer.
# 3. **Does it meet a Level-1 trigger budget?** For the student we set the targets
#    (`src.fpga.feasibility.TARGETS`): at most 1 µs latency at 200 MHz (better: under 200 ns), at
#    most 10% of the U250's LUTs and DSPs, and an emulated AUC within 0.01 of its QKeras twin.

# %% tags=["parameters", "remove-cell"]
profile = "default"

# %% tags=["hide-input"]
from IPython.display import Markdown, display
from myst_nb import glue

from src.analysis.plots import set_style
from src.config import get_profile
from src.data.splits import labelled
from src.fpga import convert, crosscheck, exact, feasibility, firmware, plots, search
from src.study import CSIM, TABLE_3_5

set_style()
P = get_profile(profile)
models = firmware.book_models(P)
images, labels = labelled(P, "test")
glue("n_test", len(images), display=False)
glue("n_test_qcd", int((labels == 0).sum()), display=False)
glue("n_test_top", int((labels == 1).sum()), display=False)
glue("student_params", int(models["student"].count_params()), display=False)
glue("encoder_params", int(models["reduced encoder"].count_params()), display=False)
glue("study_csim_time", firmware.study_csim_time(), display=False)
glue("study_csim_images", f"{CSIM.values['images']:,}", display=False)
glue("study_csim_source", CSIM.source, display=False)

# %% [markdown]
# ## From QKeras to an HLS project
#
# Both networks are converted with the Vivado backend for the U250 (`xcu250-figd2104-2L-e`) at a
# 5 ns clock. hls4ml reads the precision of weights, biases and activations from the QKeras
# quantizers: `quantized_bits(16, 6)` becomes `ap_fixed<16,7>` (the sign counts as an integer
# bit), `quantized_relu(16, 6)` an unsigned (with the leaky slope, signed) 16-bit type with
# rounding and saturation. Three choices are ours (`src.fpga.convert.BOOK_SETTINGS`):
#
# - **Input** `ap_ufixed<16,0>`: unit-sum images have every pixel in [0, 1), so all 16 bits can
#   be fractional; `ap_fixed<16,6>` would zero every pixel below $2^{-10}$ of the jet's $p_T$.
# - **Unquantized results** of the reduced encoder (convolution outputs entering an instance
#   normalization, residual additions, dense heads): the study gave them all `ap_fixed<16,6>`,
#   which puts its emulated KL scores a few percent off QKeras's. The projects here take the
#   types {doc}`chapter 8 <08_trigger_firmware>` profiles on training jets
#   (`src/fpga/precision.py`); that chapter also emulates the encoder on every test jet. For
#   the student, which has no normalization, hls4ml infers exact accumulator widths.
# - **Implementation**: `io_parallel`, Latency strategy, reuse factor 1 is the reference project
#   we emulate; `io_stream` projects are written as well (for the student also emulated). Reuse
#   and parallelization factors only schedule the same arithmetic, so we choose them later.
#
# Each project is written under its model's folder, `models/<profile>/<model>/hls4ml_prj_*`, and
# reused while model and settings stay the same, so g++ runs once. Below the projects, the C++
# types hls4ml chose for the student (the reduced encoder's follow the same pattern, plus the
# internal types of `src/fpga/instancenorm.py`).

# %% tags=["hide-input"]
folders = firmware.model_dirs(P)
profiled = exact.profiled_precision(models["reduced encoder"], P, folders["reduced encoder"])
projects, conversion = firmware.ensure_projects(models, folders,
                                                layer_configs={"reduced encoder": profiled})
reduced_project = projects["reduced encoder", "io_parallel"]
glue("reduced_hls_layers", len(list(reduced_project.hls_model.get_layers())), display=False)
display(conversion)
convert.precision_table(projects["student", "io_parallel"].hls_model)

# %% [markdown]
# ## Bit-accurate emulation of the student on the whole test set
#
# The student's reference project is compiled once and run on all {glue:text}`n_test` test jets
# ({glue:text}`n_test_qcd` QCD, {glue:text}`n_test_top` top) in batches over the machine's cores.
# The QKeras model gives the reference scores (float32 arithmetic on quantized values).

# %% tags=["hide-input"]
student = firmware.emulate_student(models["student"], projects["student", "io_parallel"],
                                   images, labels, P.workers)
for name, value in student.glue_values().items():  # the numbers the prose below cites
    glue(name, value, display=False)
display(student.table().style.format("{:.4g}", na_rep=""))
artists = plots.emulation_agreement(student.reference, student.emulated, labels)

# %% [markdown]
# The emulated scores follow the QKeras scores with a correlation of {glue:text}`emu_corr`; the
# largest difference is {glue:text}`emu_max_diff`, the mean one {glue:text}`emu_mean_diff`,
# against a spread of the scores of {glue:text}`score_spread`. They come from the input: QKeras
# averages the float pixels in the first pooling layer, the firmware 16-bit fixed-point pixels
# keeping 16 fractional bits of the mean, and a rounding step that tips one quantized activation
# to the next value shifts the score by a multiple of the activation's step of $2^{-10}$. The
# emulation's AUC, {glue:text}`emu_auc`, differs from the QKeras AUC of {glue:text}`qkeras_auc`
# by {glue:text}`auc_diff`.
#
# On {glue:text}`workers` cores the emulation processes {glue:text}`emu_images_per_s` images per
# second: {glue:text}`emu_seconds_50k` s for {glue:text}`study_csim_images` images instead of the
# study's {glue:text}`study_csim_time`, {glue:text}`study_speedup:,d` times faster. Not like for
# like: the student has {glue:text}`student_params:,d` parameters against the reduced encoder's
# {glue:text}`encoder_params:,d` and about a twentieth of its multiplications, and the study ran
# a C-simulation through the HLS tool, not a plain g++ build ({doc}`chapter 8
# <08_trigger_firmware>` measures the reduced encoder's own speed). The student's other
# projects (`io_stream`, and the tuned factors chosen below) must compute exactly the same
# numbers: they only schedule the same operations anew.

# %% tags=["hide-input"]
firmware.check_variant("io_stream", projects["student", "io_stream"], student, P)

# %% [markdown]
# ## Resources and latency: estimates, not synthesis
#
# The estimate model is documented in `src/fpga/estimate.py`. In short: every multiplication is
# placed on a multiplier reused $R$ times (the reuse factor); an `io_parallel` convolution in
# hls4ml 1.3 computes `ParallelizationFactor` output pixels per pass (1 by default), an
# `io_stream` one a pixel per clock. A product of two operands wider than 10 bits takes a DSP48E2
# slice, a narrower one LUTs; adders, comparators and registers take a LUT and a flip-flop per
# bit. The latency sums the layers' passes times $R$ and their pipeline stages. These rules of
# thumb (hls4ml papers, Xilinx data sheets) can be off by a factor of a few, either way.
#
# First, the check against hls4ml: for every convolution and dense layer, the products and
# multipliers hls4ml's own layer configuration plans, beside ours. Their ratio is 1 where the
# kernels have no zeros; hls4ml drops products with zero weights, which our estimate counts.

# %% tags=["hide-input"]
estimates = feasibility.reference_estimates(models)
checks = crosscheck.compare_models(estimates, firmware.hls_models(projects))
glue("mults_ratio_max", f"{checks['mults_ratio'].max():.3f}", display=False)
checks

# %% [markdown]
# ### The reduced encoder, layer by layer
#
# Reuse factor 1, Latency strategy, `io_parallel`, one output pixel per pass (hls4ml 1.3's
# default). Percentages are of the U250; the VU13P is the same die with the same resources (an
# Alveo card's shell also takes a part of the device, which we do not subtract).

# %% tags=["hide-input"]
layers = feasibility.layer_table(estimates["reduced encoder"])
total = layers.loc["total"]
glue("reduced_r1_dsp_pct", round(float(total["DSP_%"])), display=False)
glue("reduced_r1_lut_pct", round(float(total["LUT_%"])), display=False)
glue("reduced_r1_latency_us", round(float(total["latency_ns"]) / 1000, 1), display=False)
glue("reduced_mults", f"{int(total['mults']):,}", display=False)
layers.style.format(precision=1, na_rep="")

# %% [markdown]
# At reuse factor 1 the estimate asks for {glue:text}`reduced_r1_dsp_pct`% of the U250's DSPs and
# {glue:text}`reduced_r1_lut_pct`% of its LUTs for {glue:text}`reduced_mults` multiplications per
# image, with a latency of {glue:text}`reduced_r1_latency_us` µs, mostly the 400 passes of each
# convolution of the first stage. The instance normalizations are a large share: three products
# per value (squared deviation, times $1/\sqrt{\mathrm{var} + \epsilon}$, times the scale).
#
# ### Beside the study's Table 3.5
#
# The study reports Vivado HLS estimates for four blocks, each a convolution with its instance
# normalization and activation ({glue:text}`table_3_5_source`). Reading its shapes, a block is
# named after the layer that feeds it (`src.fpga.feasibility.BLOCKS`): "conv2_b0_0" is our
# `dconv_b1`, (20, 20, 16) to (10, 10, 20); "conv2_b1_1" is `dconv_b2`, to (5, 5, 4); "dconv_b2"
# is `conv1_b2_0`; the "final block" is `conv_fin` with its normalization and the dense heads. Our
# estimates of these blocks compute all output pixels in one pass, as the hls4ml of 2022 built an
# `io_parallel` convolution, or one pixel per pass, hls4ml 1.3's default.

# %% tags=["hide-input"]
comparison = feasibility.block_comparison(models["reduced encoder"], estimates["reduced encoder"])
glue("table_3_5_source", TABLE_3_5.source, display=False)
comparison.style.format("{:,.0f}", subset=list(feasibility.RESOURCES)).format(
    "{:.2f}", subset=[f"{k} %" for k in feasibility.RESOURCES])

# %% [markdown]
# The study could not synthesize "conv2_b0_0" and scaled the "conv2_b1_1" block by its eq. 3.14,
#
# $$
# \rho(a, b) = \frac{(h^a_\text{in}/s)\,(w^a_\text{in}/s)\,d^a_\text{in}\,d^a_\text{out}}
#                   {(h^b_\text{in}/s)\,(w^b_\text{in}/s)\,d^b_\text{in}\,d^b_\text{out}},
# $$
#
# the ratio of the two convolutions' multiplications for equal kernels and stride $s = 2$. (The
# thesis prints $d^b_\text{in}$ twice in the denominator, and its table's last shape column holds
# {glue:text}`study_printed_d_out`, the output heights; only the layers' output channels,
# {glue:text}`our_d_out`, give the factor of {glue:text}`rho` that all four of its resource
# columns show.) The scaling reproduced:

# %% tags=["hide-input"]
eq314 = feasibility.eq314(models["reduced encoder"], comparison)
for name, value in eq314.glue_values().items():  # the numbers the prose cites
    glue(name, value, display=False)
eq314.table.style.format("{:,.1f}")

# %% [markdown]
# $\rho$ = {glue:text}`rho` reproduces the study's row exactly, {glue:text}`study_lut_pct`% of the
# U250's LUTs for one block. Our estimate of the two blocks grows by close to $\rho$ in DSPs and
# LUTs, where the multiplications dominate, and by less in BRAM (the normalization's tables). The
# absolute numbers differ: the study's Vivado put most 16-bit products into LUTs
# ({glue:text}`study_b11_dsp` DSPs beside {glue:text}`study_b11_lut` LUTs), our rule puts them
# into DSPs. Either way, a full-parallel first stage does not fit.
#
# ### Reuse, parallelization and I/O: what could fit?
#
# The same two networks under many settings (`src.fpga.feasibility.SCAN_GRID`): reuse factors 1
# to 64 with one or all pixels per pass, the Resource strategy (weights in BRAM) and `io_stream`.
# Each point is a whole network: its estimated latency against the larger of its DSP and LUT
# shares. The Resource strategy only moves the weights into BRAM in our model, so its points sit
# on the Latency points with the same $R$.

# %% tags=["hide-input"]
scans, tuned = feasibility.scan_models(models), feasibility.tune_models(models)
artists = plots.design_space(scans, tuned)
hits = feasibility.hits(scans)
glue("n_settings", len(feasibility.SCAN_GRID), display=False)
glue("student_hits", hits["student"], display=False)
glue("reduced_hits", hits["reduced encoder"], display=False)

# %% [markdown]
# Of these {glue:text}`n_settings` uniform settings, {glue:text}`student_hits` bring the student
# and {glue:text}`reduced_hits` the reduced encoder under 1 µs within 10% of the DSPs and LUTs.
# Stars and crosses are per-layer choices of `src.fpga.search.tune`: each convolution, dense layer
# and instance normalization gets its own reuse factor (1 to 64), each convolution its own pixels
# per pass, by a greedy search spending the budget where it buys the most latency. Their totals,
# then the student's choice within 10% of the DSPs and LUTs:

# %% tags=["hide-input"]
display(feasibility.tuned_summary(tuned).style.format(precision=1, na_rep=""))
choice, student_design = tuned["student", feasibility.TARGETS.budget_name]
display(search.settings_table(choice).style.format(na_rep=""))
student_design[feasibility.LAYER_COLUMNS].style.format(precision=1, na_rep="")

# %% [markdown]
# The tuned student is also converted with hls4ml (per-layer `ReuseFactor` and
# `ParallelizationFactor`), compiled and emulated on the same jets as the `io_stream` project:
# hls4ml keeps the factors, plans the multipliers we estimate, and the outputs do not change.
# Whether Vivado places the 16-bit products in DSPs, as we assume, or in LUTs, as the study's
# synthesis did, matters: the last table repeats the student's search with every product in LUTs.

# %% tags=["hide-input"]
tuned_project = firmware.tuned_student_project(models["student"], choice,
                                               firmware.model_dirs(P)["student"])
display(firmware.check_variant("io_parallel, tuned", tuned_project, student, P))
display(crosscheck.compare_with_hls4ml(student_design, tuned_project.hls_model))
products, lut_only_latency = feasibility.products_in_luts(models["student"], student_design)
glue("student_lut_only_latency_ns", round(lut_only_latency), display=False)
products.style.format(precision=1)

# %% [markdown]
# ## Verdict

# %% tags=["hide-input"]
design = student_design.loc["total"]
glue("student_latency_ns", round(float(design["latency_ns"])), display=False)
glue("student_lut_pct", round(float(design["LUT_%"]), 1), display=False)
glue("student_dsp_pct", round(float(design["DSP_%"]), 1), display=False)
display(feasibility.verdict_table(design, student.emu_auc, student.qkeras_auc))
display(Markdown(feasibility.verdict_text(tuned, design, student.emu_auc - student.qkeras_auc,
                                          int(estimates["student"].loc["total", "mults"]))))

# %% [markdown]
# All resource and latency numbers of this chapter are estimates from operation counts; the
# emulation results are measurements. The estimates agree with hls4ml's own plan of the
# multipliers (the largest ratio of products is {glue:text}`mults_ratio_max`), but what a product,
# an adder or a normalization costs, and whether Vivado puts a 16-bit product in a DSP or in LUTs,
# only a synthesis can tell: with every product in LUTs the student's tuned latency becomes
# {glue:text}`student_lut_only_latency_ns` ns. Vivado HLS would give a real number in the
# project folders written here (`hls_model.build(csim=False, synth=True)`); {doc}`Chapter 8
# <08_trigger_firmware>` synthesizes a smaller student with an open tool instead.
