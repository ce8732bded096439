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
# {cite}`duarte2018,aarrestad2021` into a high-level-synthesis (HLS) project for an {glue:text}`study_card`
# card at a {glue:text}`study_clock` clock ({glue:text}`study_tool`, {glue:text}`study_hw_source`). The study wrote the missing instance normalization
# for hls4ml, synthesized some blocks, extrapolated the largest linearly and concluded that the
# encoder does not fit one FPGA. Its C-simulation, the bit-accurate software model of the firmware,
# took {glue:text}`study_csim_time` for about {glue:text}`study_csim_images` test images
# ({glue:text}`study_csim_source`). We repeat that path with hls4ml 1.3 and our own
# instance-normalization port (`src/fpga/instancenorm.py`), and take chapter 5's student down it:
#
# 1. **Is the firmware what we trained?** hls4ml's `compile()` builds the project's C++ with g++, a
#    bit-accurate emulation of the firmware; we compare its anomaly scores with the QKeras model's.
# 2. **How big and how fast would it be?** Without Vivado or Vitis here, every resource and latency
#    figure is an **estimate** of our own model (`src/fpga/estimate.py`) from operation counts, bit
#    widths, reuse and parallelization factors, checked against the multipliers hls4ml plans.
# 3. **Does it meet a Level-1 trigger budget?** Autoencoders built for a 40 MHz Level-1 trigger run
#    well under a microsecond on a fraction of one FPGA {cite}`govorkova2022`. Our targets for the
#    student (`feasibility.TARGETS`): at most {glue:text}`target_latency_us` µs at 200 MHz (better:
#    under {glue:text}`target_stretch_ns` ns), at most {glue:text}`target_pct`% of the U250's LUTs
#    and DSPs, and an emulated AUC within {glue:text}`target_auc_gap` of its QKeras twin.

# %% tags=["parameters", "remove-cell"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from IPython.display import Markdown, display
from myst_nb import glue

from src import style
from src.analysis import tables
from src.config import get_profile
from src.data.splits import labelled
from src.fpga import convert, crosscheck, exact, feasibility, firmware, plots, search
from src.study import CSIM, HARDWARE, TABLE_3_5

style.use()
P = get_profile(profile)
names, targets = feasibility.NAMES, feasibility.TARGETS
models = firmware.book_models(P)
images, labels = labelled(P, "test")
clock = HARDWARE.values["clock_ns"]
for name, value in {"n_test": len(images), "n_test_qcd": int((labels == 0).sum()),
                    "n_test_top": int((labels == 1).sum()), "student_params": int(models["student"].count_params()),
                    "encoder_params": int(models["reduced encoder"].count_params()),
                    "study_csim_time": firmware.study_csim_time(), "study_csim_images": f"{CSIM.values['images']:,}",
                    "study_csim_source": CSIM.source, "study_card": HARDWARE.values["card"],
                    "study_tool": HARDWARE.values["tool"], "study_hw_source": HARDWARE.source,
                    "study_clock": f"{clock:g} ns ({1e3 / clock:g} MHz)",
                    "target_latency_us": f"{targets.latency_ns / 1000:g}", "target_auc_gap": targets.auc_gap,
                    "target_stretch_ns": f"{targets.stretch_latency_ns:g}", "target_pct": f"{targets.resource_pct:g}"}.items():
    glue(name, value, display=False)

# %% [markdown]
# ## From QKeras to an HLS project
#
# Both networks are converted with the Vivado backend for the U250 (`xcu250-figd2104-2L-e`).
# hls4ml reads the types of weights, biases and activations from the QKeras quantizers:
# `quantized_bits(16, 6)` becomes `ap_fixed<16,7>` (the sign counts as an integer bit),
# `quantized_relu(16, 6)` a 16-bit type with rounding and saturation. Three choices are ours
# (`src.fpga.convert.BOOK_SETTINGS`):
#
# - **Input** `ap_ufixed<16,0>`: unit-sum images have every pixel in [0, 1), so all 16 bits can
#   be fractional; `ap_fixed<16,6>` would zero every pixel below $2^{-10}$ of the jet's $p_T$.
# - **Unquantized results** of the reduced encoder (convolution outputs entering an instance
#   normalization, residual additions, dense heads): the study gave them all `ap_fixed<16,6>`,
#   which puts its emulated KL scores a few percent off QKeras's; we take the types
#   {doc}`chapter 8 <08_trigger_firmware>` profiles on training jets. For the student, which has
#   no normalization, hls4ml infers exact accumulator widths.
# - **Implementation**: `io_parallel`, Latency strategy, reuse factor 1 is the reference project
#   we emulate; `io_stream` projects are written too. Reuse and parallelization factors only
#   schedule the same arithmetic, so we choose them later.
#
# Each project is written under `models/<profile>/<model>/hls4ml_prj_*` and reused while model and
# settings stay the same. Below the projects, the C++ types hls4ml chose for the student.

# %% tags=["hide-input"]
folders = firmware.model_dirs(P)
profiled = exact.profiled_precision(models["reduced encoder"], P, folders["reduced encoder"])
projects, conversion = firmware.ensure_projects(models, folders,
                                                layer_configs={"reduced encoder": profiled})
reduced_project = projects["reduced encoder", "io_parallel"]
glue("reduced_hls_layers", len(list(reduced_project.hls_model.get_layers())), display=False)
display(tables.show(conversion, 1))
tables.show(convert.precision_table(projects["student", "io_parallel"].hls_model))

# %% [markdown]
# ## Bit-accurate emulation of the student on the whole test set
#
# The student's reference project is compiled once and run on all {glue:text}`n_test` test jets
# ({glue:text}`n_test_qcd` QCD, {glue:text}`n_test_top` top) in batches over the machine's cores.
# The QKeras model gives the reference scores (float32 arithmetic on quantized values);
# {numref}`fig-emulation` compares the two.
#
# ```{glue:figure} fig_emulation
# :name: fig-emulation
#
# The student's score (its standardized prediction of the teacher's log KL total) on every test
# jet. Top left: emulated firmware against QKeras, with the line of equality. Top right: their
# difference per jet. Bottom: the emulated score of QCD and top test jets.
# ```

# %% tags=["hide-input"]
student = firmware.emulate_student(models["student"], projects["student", "io_parallel"],
                                   images, labels, P.workers)
for name, value in student.glue_values().items():  # the numbers the prose below cites
    glue(name, value, display=False)
display(tables.show(student.table(), ".4g"))
artists = plots.emulation_agreement(student.reference, student.emulated, labels)
glue("fig_emulation", artists[0].figure, display=False)
plt.close(artists[0].figure)

# %% [markdown]
# The emulated scores follow the QKeras scores with a correlation of {glue:text}`emu_corr`; the
# largest difference is {glue:text}`emu_max_diff`, the mean one {glue:text}`emu_mean_diff`, against
# a spread of {glue:text}`score_spread`. They come from the input: QKeras averages float pixels in
# the first pooling layer, the firmware 16-bit fixed-point ones, and a rounding that tips one
# activation to the next value shifts the score by a multiple of its step of $2^{-10}$. The
# emulation's AUC, {glue:text}`emu_auc`, is {glue:text}`auc_diff` from QKeras's {glue:text}`qkeras_auc`.
#
# On {glue:text}`workers` cores the emulation processes {glue:text}`emu_images_per_s` images per
# second: {glue:text}`emu_seconds_50k` s for {glue:text}`study_csim_images` images instead of the
# study's {glue:text}`study_csim_time`, {glue:text}`study_speedup:,d` times faster. Not like for
# like: the student has {glue:text}`student_params:,d` parameters against the reduced encoder's
# {glue:text}`encoder_params:,d`, and the study ran the HLS tool's C-simulation ({doc}`chapter 8
# <08_trigger_firmware>` times the encoder itself). The student's other projects (`io_stream`,
# the tuned factors below) only schedule the same operations anew and must give the same numbers.

# %% tags=["hide-input"]
tables.show(firmware.check_variant("io_stream", projects["student", "io_stream"], student, P), names=names)

# %% [markdown]
# ## Resources and latency: estimates, not synthesis
#
# The estimate model (`src/fpga/estimate.py`) in short: every multiplication sits on a multiplier
# reused $R$ times (the reuse factor); an `io_parallel` convolution in hls4ml 1.3 computes
# `ParallelizationFactor` output pixels per pass (1 by default), an `io_stream` one a pixel per
# clock. A product of operands wider than 10 bits takes a DSP48E2 slice, a narrower one LUTs;
# adders, comparators and registers a LUT and a flip-flop per bit. The latency sums the layers'
# passes times $R$ and their pipeline stages. These rules of thumb (hls4ml papers, Xilinx data
# sheets) can be off by a factor of a few. First, the check against hls4ml: per convolution and
# dense layer, the products and multipliers hls4ml plans beside ours (ratio 1 where the kernels
# have no zeros; hls4ml drops products with zero weights, which our estimate counts).

# %% tags=["hide-input"]
estimates = feasibility.reference_estimates(models)
checks = crosscheck.compare_models(estimates, firmware.hls_models(projects))
glue("mults_ratio_max", f"{checks['mults_ratio'].max():.3f}", display=False)
tables.show(checks, 3, names)

# %% [markdown]
# ### The reduced encoder, layer by layer
#
# Reuse factor 1, Latency strategy, `io_parallel`, one output pixel per pass (hls4ml 1.3's
# default). The VU13P is the U250's die (the card's shell, which takes a part, is not subtracted).

# %% tags=["hide-input"]
layers = feasibility.layer_table(estimates["reduced encoder"])
total = layers.loc["total"]
for name, value in {"reduced_r1_dsp_pct": round(float(total["DSP_%"])), "reduced_mults": f"{int(total['mults']):,}",
                    "reduced_r1_lut_pct": round(float(total["LUT_%"])),
                    "reduced_r1_latency_us": round(float(total["latency_ns"]) / 1000, 1)}.items():
    glue(name, value, display=False)
tables.show(layers, feasibility.LAYER_DIGITS, names)

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
tables.show(comparison, {**dict.fromkeys(feasibility.RESOURCES, 0),
                         **{f"{k} %": 2 for k in feasibility.RESOURCES}}, names)

# %% [markdown]
# The study could not synthesize "conv2_b0_0" and scaled the "conv2_b1_1" block by its eq. 3.14,
#
# $$
# \rho(a, b) = \frac{(h^a_\text{in}/s)\,(w^a_\text{in}/s)\,d^a_\text{in}\,d^a_\text{out}}
#                   {(h^b_\text{in}/s)\,(w^b_\text{in}/s)\,d^b_\text{in}\,d^b_\text{out}},
# $$
#
# the ratio of the two convolutions' multiplications for equal kernels and stride $s = 2$. (The
# thesis prints $d^b_\text{in}$ twice in the denominator and its last shape column holds the output
# heights, {glue:text}`study_printed_d_out`; only the output channels, {glue:text}`our_d_out`, give
# the factor {glue:text}`rho` of all four of its resource columns.) The scaling reproduced:

# %% tags=["hide-input"]
eq314 = feasibility.eq314(models["reduced encoder"], comparison)
for name, value in eq314.glue_values().items():  # the numbers the prose cites
    glue(name, value, display=False)
tables.show(eq314.table, dict(zip(eq314.table.columns, (0, 0, 0, 1, 1), strict=True)), names)

# %% [markdown]
# $\rho$ = {glue:text}`rho` reproduces the study's row exactly, {glue:text}`study_lut_pct`% of the
# U250's LUTs for one block. Our two blocks differ by close to $\rho$ in DSPs and LUTs, by less in
# BRAM (the normalization's tables). In absolute numbers, the study's Vivado put most 16-bit products
# into LUTs ({glue:text}`study_b11_dsp` DSPs beside {glue:text}`study_b11_lut` LUTs), our rule puts
# them into DSPs. Either way, a full-parallel first stage does not fit.
#
# ### Reuse, parallelization and I/O: what could fit?
#
# The same two networks under many settings (`feasibility.SCAN_GRID`): reuse factors 1 to 64 with
# one or all pixels per pass, the Resource strategy (weights in BRAM) and `io_stream`, each a point
# of {numref}`fig-design-space`.
#
# ```{glue:figure} fig_design_space
# :name: fig-design-space
#
# Estimated latency against the larger of the DSP and LUT shares of the U250, reduced encoder (top)
# and student (bottom): marker by implementation, colour by reuse factor $R$ (the Resource strategy
# only moves weights into BRAM, so its open diamonds sit on the Latency points of the same $R$);
# black: per-layer designs (below). Dotted: latency targets; dashed: 10% and 100% of the device.
# ```

# %% tags=["hide-input"]
scans, tuned = feasibility.scan_models(models), feasibility.tune_models(models)
artists = plots.design_space(scans, tuned)
glue("fig_design_space", artists[0].figure, display=False)
plt.close(artists[0].figure)
hits = feasibility.hits(scans)
for name, value in {"n_settings": len(feasibility.SCAN_GRID), "student_hits": hits["student"],
                    "reduced_hits": hits["reduced encoder"]}.items():
    glue(name, value, display=False)

# %% [markdown]
# Of these {glue:text}`n_settings` uniform settings, {glue:text}`student_hits` bring the student and
# {glue:text}`reduced_hits` the reduced encoder within the latency and resource targets.
# Stars and crosses are per-layer choices of `src.fpga.search.tune`: each convolution, dense layer
# and instance normalization gets its own reuse factor (1 to 64), each convolution its own pixels
# per pass, by a greedy search spending the budget where it buys the most latency. Their totals,
# then the student's choice within 10% of the DSPs and LUTs:

# %% tags=["hide-input"]
display(tables.show(feasibility.tuned_summary(tuned), 1, names))
choice, student_design = tuned["student", targets.budget_name]
display(tables.show(search.settings_table(choice).astype(float), 0))
tables.show(student_design[feasibility.LAYER_COLUMNS], feasibility.LAYER_DIGITS, names)

# %% [markdown]
# The tuned student is also converted with hls4ml (per-layer `ReuseFactor`,
# `ParallelizationFactor`), compiled and emulated like the `io_stream` project: hls4ml keeps the
# factors, plans the multipliers we estimate, and the outputs do not change. Whether Vivado places
# 16-bit products in DSPs, as we assume, or in LUTs, as the study's synthesis did, matters: the
# last table repeats the search with every product in LUTs.

# %% tags=["hide-input"]
tuned_project = firmware.tuned_student_project(models["student"], choice,
                                               firmware.model_dirs(P)["student"])
display(tables.show(firmware.check_variant("io_parallel, tuned", tuned_project, student, P), names=names))
display(tables.show(crosscheck.compare_with_hls4ml(student_design, tuned_project.hls_model), 3, names))
products, lut_only_latency = feasibility.products_in_luts(models["student"], student_design)
glue("student_lut_only_latency_ns", round(lut_only_latency), display=False)
tables.show(products, feasibility.LAYER_DIGITS, names)

# %% [markdown]
# ## Verdict

# %% tags=["hide-input"]
design = student_design.loc["total"]
glue("student_latency_ns", round(float(design["latency_ns"])), display=False)
glue("student_lut_pct", round(float(design["LUT_%"]), 1), display=False)
glue("student_dsp_pct", round(float(design["DSP_%"]), 1), display=False)
display(tables.show(feasibility.verdict_table(design, student.emu_auc, student.qkeras_auc)))
display(Markdown(feasibility.verdict_text(tuned, design, student.emu_auc - student.qkeras_auc,
                                          int(estimates["student"].loc["total", "mults"]))))

# %% [markdown]
# All resource and latency numbers of this chapter are estimates from operation counts; the
# emulation results are measurements. The estimates agree with hls4ml's plan of the multipliers
# (largest ratio of products {glue:text}`mults_ratio_max`), but what a product, an adder or a
# normalization costs, and whether Vivado puts a 16-bit product in a DSP or in LUTs, only a
# synthesis can tell: with every product in LUTs the student's tuned latency becomes
# {glue:text}`student_lut_only_latency_ns` ns. Vivado HLS would give real numbers from the project
# folders written here; {doc}`Chapter 8 <08_trigger_firmware>` synthesizes a smaller student with
# an open tool instead.
