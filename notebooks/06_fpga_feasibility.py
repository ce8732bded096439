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
# The last step of the study takes the quantized reduced encoder of chapter 5 through
# hls4ml {cite}`duarte2018,aarrestad2021` into a high-level-synthesis (HLS) project for an AMD
# Xilinx Alveo U250 card at a 5 ns clock (200 MHz) and asks whether it fits. The study had
# to write the missing instance normalization for hls4ml itself, could synthesize only some
# blocks of the encoder, extrapolated the largest block linearly and concluded that the
# encoder does not fit one FPGA. Its C-simulation, the bit-accurate software model of the
# firmware, took 31 h 53 min for about 50,000 test images.
#
# This chapter repeats that path with hls4ml 1.3 and our own instance-normalization port
# (`src/hls_instancenorm.py`, `src/hls/nnet_instancenorm.h`), and takes the student network
# of chapter 5, distilled from the full joint VAE, down the same path. Three questions:
#
# 1. **Is the firmware what we trained?** hls4ml's `compile()` builds the project's C++ with
#    g++; calling it image by image is a bit-accurate emulation of the firmware's fixed-point
#    arithmetic. We compare its anomaly scores with the QKeras model's.
# 2. **How big and how fast would it be?** No Vivado or Vitis is installed here, so no
#    synthesis report exists. Every resource and latency figure below is an **estimate** of
#    our own model (`src/fpga_estimate.py`): operation counts, bit widths, reuse and
#    parallelization factors, cross-checked against the multiplier counts hls4ml itself
#    plans for each layer.
# 3. **Does it meet a Level-1 trigger budget?** For the student we set the targets: at most
#    1 µs latency at 200 MHz (better: under 200 ns), at most 10% of the U250's LUTs and
#    DSPs, and an emulated AUC within 0.01 of its QKeras twin.

# %% tags=["parameters"]
profile = "default"

# %%
import contextlib
import io
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from src import fpga
from src.analysis import plots, scores
from src.compress.distill import student
from src.compress.quantize import kl_scores, quantized_reduced
from src.config import get_profile, models_dir
from src.data.splits import split_images
from src.models.student import student_scores

plots.set_style()
P = get_profile(profile)
# Images emulated through the reduced encoder's C++ (about 8 min of g++ and 7-12 images/s per
# core): a seeded subset, none in the smoke profile unless a compiled library is already there.
REDUCED_IMAGES = {"smoke": 0, "default": 2000, "paper": 4000}[P.name]
# Images emulated through the student's other projects (io_stream, tuned reuse), to check that
# they compute exactly what the reference project computes.
VARIANT_IMAGES = {"smoke": 250, "default": 2000, "paper": 2000}[P.name]
WORKERS = P.workers
PART, CLOCK_NS = fpga.U250_PART, 5.0
BUDGET = {"DSP": 10.0, "LUT": 10.0}  # % of the U250 the student may take

reduced = quantized_reduced(P)
encoder = reduced.encoder
distilled = student(P)
qcd, top = split_images(P, "qcd", "test"), split_images(P, "top", "test")
images = np.concatenate([qcd, top])
labels = np.concatenate([np.zeros(len(qcd)), np.ones(len(top))])
glue("n_test", len(images), display=False)
glue("n_test_qcd", len(qcd), display=False)
glue("n_test_top", len(top), display=False)
glue("student_params", int(distilled.count_params()), display=False)
glue("encoder_params", int(encoder.count_params()), display=False)


def quiet(function, *args, **kwargs):
    """Call ``function`` with hls4ml's progress printing silenced."""
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args, **kwargs)


# %% [markdown]
# ## From QKeras to an HLS project
#
# Both networks are converted with the Vivado backend for the U250 part
# (`xcu250-figd2104-2L-e`) at a 5 ns clock. hls4ml reads the precision of every weight, bias
# and activation from the QKeras quantizers: `quantized_bits(16, 6)` becomes
# `ap_fixed<16,7>` (hls4ml counts the sign among the integer bits) and
# `quantized_relu(16, 6)` an unsigned or, with the leaky slope, signed 16-bit type with
# rounding and saturation. Three choices are ours:
#
# - **Input** `ap_ufixed<16,0>`: the images are normalized to unit sum, so every pixel lies
#   in [0, 1) and all 16 bits can be fractional. The default `ap_fixed<16,6>` keeps 10
#   fractional bits and truncates every pixel below $2^{-10}$ of the jet's $p_T$ to zero.
# - **Unquantized results** (the convolution outputs that enter an instance normalization,
#   the additions of the residual blocks, the dense heads) of the reduced encoder get
#   `ap_fixed<16,6>`, the type the study used, except the first convolution's: its input is
#   the tiny pixel values and its output spread is set by them, so it gets `ap_fixed<26,6>`
#   (20 fractional bits) before the instance normalization divides by that spread. The
#   student has no normalization; hls4ml infers exact accumulator widths for it.
# - **Implementation**: `io_parallel` with the Latency strategy and reuse factor 1 is the
#   reference project we emulate. `io_stream` projects are written as well, for the student
#   also compiled and emulated. Reuse and parallelization factors only change how the same
#   arithmetic is scheduled, so we choose them later, from the estimates.
#
# Each project is written under the model's folder, `models/<profile>/<model>/hls4ml_prj_*`,
# and reused while the model and the settings stay the same, so the minutes of g++ are paid
# once.

# %%
REDUCED_SETTINGS = {
    "part": PART, "clock_period": CLOCK_NS, "input_precision": "ap_ufixed<16,0>",
    "result_precision": "ap_fixed<16,6>",
    "layer_config": {"dconv_b0": {"Precision": {"result": "ap_fixed<26,6>"}}},
}
STUDENT_SETTINGS = {"part": PART, "clock_period": CLOCK_NS, "input_precision": "ap_ufixed<16,0>"}
folders = {"reduced encoder": models_dir(P) / "reduced_q16_6", "student": models_dir(P) / "student"}
models = {"reduced encoder": encoder, "student": distilled}
settings = {"reduced encoder": REDUCED_SETTINGS, "student": STUDENT_SETTINGS}
projects, hls_models, rows = {}, {}, []
for name, model in models.items():
    for io_type in ("io_parallel", "io_stream"):
        folder = fpga.project_dir(folders[name], io_type, "Latency", 1)
        start = time.perf_counter()
        hls_model, reused = quiet(fpga.ensure_project, model, folder, io_type=io_type,
                                  strategy="Latency", reuse_factor=1, **settings[name])
        projects[name, io_type], hls_models[name, io_type] = folder, hls_model
        rows.append({"model": name, "I/O": io_type,
                     "project": str(folder.relative_to(folders[name].parents[1])),
                     "hls4ml layers": len(list(hls_model.get_layers())),
                     "written now": not reused, "compiled library": fpga.library_ready(folder),
                     "conversion [s]": round(time.perf_counter() - start, 1)})
glue("reduced_hls_layers", len(list(hls_models["reduced encoder", "io_parallel"].get_layers())),
     display=False)
pd.DataFrame(rows).set_index(["model", "I/O"])

# %% [markdown]
# The C++ types hls4ml chose for the student, layer by layer (the reduced encoder's table
# follows the same pattern; its instance normalizations add the internal types of
# `src/hls_instancenorm.py`):

# %%
fpga.precision_table(hls_models["student", "io_parallel"])

# %% [markdown]
# ## Bit-accurate emulation of the student on the whole test set
#
# The reference project of the student is compiled once and run on all
# {glue:text}`n_test` test jets ({glue:text}`n_test_qcd` QCD, {glue:text}`n_test_top` top),
# split into batches over the machine's cores with a progress bar. The QKeras model gives
# the reference scores (float32 arithmetic on quantized weights and activations).

# %%
project = projects["student", "io_parallel"]
start = time.perf_counter()
quiet(fpga.load_library, hls_models["student", "io_parallel"])
student_compile_s = time.perf_counter() - start
start = time.perf_counter()
emulated = fpga.emulate(project, images[..., None], n_workers=WORKERS)[:, 0]
emulation_s = time.perf_counter() - start
reference = student_scores(distilled, images)

agreement = fpga.compare(reference, emulated)
qkeras_auc, emu_auc = metrics.auc(reference, labels), metrics.auc(emulated, labels)
rate = len(images) / emulation_s
per_50k = fpga.STUDY_CSIM_IMAGES / rate
study_speedup = fpga.STUDY_CSIM_SECONDS / per_50k
glue("student_compile_s", round(student_compile_s), display=False)
glue("emu_corr", f"{agreement['correlation']:.6f}", display=False)
glue("emu_max_diff", f"{agreement['max_abs_diff']:.2g}", display=False)
glue("emu_mean_diff", f"{agreement['mean_abs_diff']:.2g}", display=False)
glue("score_spread", f"{np.std(reference):.2f}", display=False)
glue("qkeras_auc", round(qkeras_auc, 4), display=False)
glue("emu_auc", round(emu_auc, 4), display=False)
glue("auc_diff", f"{abs(emu_auc - qkeras_auc):.1e}", display=False)
glue("emu_images_per_s", round(rate), display=False)
glue("emu_seconds_50k", round(per_50k), display=False)
glue("study_speedup", round(study_speedup), display=False)
glue("workers", WORKERS, display=False)
pd.DataFrame({
    "QKeras (float32)": [qkeras_auc, np.nan, np.nan],
    "hls4ml emulation": [emu_auc, rate, per_50k / 60],
    "study's C-simulation": [np.nan, fpga.STUDY_CSIM_IMAGES / fpga.STUDY_CSIM_SECONDS,
                             fpga.STUDY_CSIM_SECONDS / 60],
}, index=["AUC, top vs QCD", "images per second", "minutes per 50,000 images"]).style.format(
    "{:.4g}", na_rep="")

# %%
fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
axes[0].plot(reference, emulated, ".", ms=2, alpha=0.4)
low, high = np.min(reference), np.max(reference)
axes[0].plot([low, high], [low, high], "k--", lw=1, label="equal")
axes[0].set_xlabel("student score, QKeras")
axes[0].set_ylabel("student score, hls4ml C++ emulation")
axes[0].legend()
axes[1].hist(emulated - reference, bins=80, histtype="step", color="k")
axes[1].set_xlabel("emulated minus QKeras score")
axes[1].set_ylabel("test jets per bin")
axes[1].set_yscale("log")
bins = np.linspace(low, high, 60)
for label, name in ((0, "QCD"), (1, "top")):
    axes[2].hist(emulated[labels == label], bins=bins, histtype="step", density=True, label=name)
axes[2].set_xlabel("student score, hls4ml C++ emulation")
axes[2].set_ylabel("probability density")
axes[2].legend()
fig.tight_layout()

# %% [markdown]
# The emulated scores follow the QKeras scores with a correlation of
# {glue:text}`emu_corr`; the largest difference is {glue:text}`emu_max_diff` and the mean
# difference {glue:text}`emu_mean_diff`, against a spread of the scores of
# {glue:text}`score_spread`. The differences come from the input: QKeras averages the
# float pixels in the first pooling layer, the firmware averages 16-bit fixed-point pixels
# and keeps 16 fractional bits of the mean, and a rounding step that tips one quantized
# activation over to the next value shifts the score by a multiple of the activation's step
# of $2^{-10}$. The AUC of the emulation, {glue:text}`emu_auc`, differs from the QKeras AUC
# of {glue:text}`qkeras_auc` by {glue:text}`auc_diff`.
#
# On {glue:text}`workers` cores the emulation processes {glue:text}`emu_images_per_s` images
# per second: {glue:text}`emu_seconds_50k` s for 50,000 images instead of the study's
# 31 h 53 min, {glue:text}`study_speedup:,d` times faster. The comparison is not like for like:
# the student has {glue:text}`student_params:,d` parameters against the reduced encoder's
# {glue:text}`encoder_params:,d` and about a twentieth of its multiplications, and the study
# ran a C-simulation through the HLS tool rather than a plain g++ build; the reduced
# encoder's own emulation speed follows below.
#
# The student's other projects (`io_stream`, and the tuned reuse and parallelization
# factors chosen in the estimates section) must compute exactly the same numbers, since
# they only schedule the same fixed-point operations differently:

# %%
subset = np.random.default_rng(P.seed).choice(len(images), min(VARIANT_IMAGES, len(images)),
                                              replace=False)
variant_rows = []
for io_type in ("io_stream",):
    start = time.perf_counter()
    quiet(fpga.load_library, hls_models["student", io_type])
    compile_s = time.perf_counter() - start
    out = fpga.emulate(projects["student", io_type], images[subset, ..., None], n_workers=WORKERS,
                       progress=False)[:, 0]
    variant_rows.append({"project": io_type, "images": len(subset), "compile [s]": round(compile_s),
                         "identical to io_parallel": bool(np.array_equal(out, emulated[subset]))})
pd.DataFrame(variant_rows).set_index("project")

# %% [markdown]
# ## Emulating the reduced encoder
#
# The reduced encoder's project is much larger: {glue:text}`reduced_hls_layers` hls4ml
# layers, twelve of them instance normalizations, about a million multiplications per
# image. Its C++ takes about 8 minutes of one core and 3 GB of memory to compile, and runs
# at 7 to 12 images per second per core, so we emulate a seeded subset of the test jets,
# half QCD and half top, and compare its KL scores with the QKeras model's on the same jets.
# Unlike the student's, these scores cannot agree to the last bit: QKeras normalizes in
# float32, the firmware in fixed point, with 16-bit values (10 fractional bits) between the
# layers.

# %%
reduced_project = projects["reduced encoder", "io_parallel"]
n_reduced = REDUCED_IMAGES
if n_reduced == 0 and fpga.library_ready(reduced_project):
    n_reduced = 8  # the library is already compiled: a handful of images costs nothing
if n_reduced:
    rng = np.random.default_rng(P.seed + 1)
    half = min(n_reduced // 2, len(qcd), len(top))
    pick = np.concatenate([rng.choice(len(qcd), half, replace=False),
                           len(qcd) + rng.choice(len(top), half, replace=False)])
    compiled_before = fpga.library_ready(reduced_project)
    start = time.perf_counter()
    quiet(fpga.load_library, hls_models["reduced encoder", "io_parallel"])
    reduced_compile_s = np.nan if compiled_before else time.perf_counter() - start
    start = time.perf_counter()
    heads = fpga.emulate(reduced_project, images[pick, ..., None], n_workers=WORKERS)
    reduced_rate = len(pick) / (time.perf_counter() - start)
    kl_emulated = scores.kl_cont(heads[1], heads[2]) + scores.kl_disc(heads[0])
    kl_reference = kl_scores(reduced, images[pick])["kl_total"].to_numpy()
    reduced_agreement = fpga.compare(kl_reference, kl_emulated)
    head_agreement = fpga.compare(encoder.predict(images[pick, ..., None], verbose=0), heads)
    relative = np.abs(kl_emulated - kl_reference) / np.abs(kl_reference)
    reduced_table = pd.DataFrame({
        "images (half QCD, half top)": [len(pick)],
        "compile [s] (empty: compiled before)": [reduced_compile_s],
        "images per second": [reduced_rate],
        "minutes per 50,000 images": [fpga.STUDY_CSIM_IMAGES / reduced_rate / 60],
        "speed-up over the study": [fpga.STUDY_CSIM_SECONDS * reduced_rate
                                    / fpga.STUDY_CSIM_IMAGES],
        "encoder outputs: correlation": [head_agreement["correlation"]],
        "KL total: correlation": [reduced_agreement["correlation"]],
        "KL total: largest difference [nats]": [reduced_agreement["max_abs_diff"]],
        "KL total: median relative difference": [np.median(relative)],
        "AUC, QKeras": [metrics.auc(kl_reference, labels[pick])],
        "AUC, emulation": [metrics.auc(kl_emulated, labels[pick])],
    }, index=["reduced encoder"]).T.style.format("{:.4g}", na_rep="")
    message = (f"Emulated {len(pick)} jets through the reduced encoder's firmware model at "
               f"{reduced_rate:.1f} images per second on {WORKERS} cores: 50,000 images would "
               f"take {fpga.STUDY_CSIM_IMAGES / reduced_rate / 60:.0f} minutes instead of the "
               f"study's 31 h 53 min. The emulated KL total differs from the QKeras one by "
               f"{100 * np.median(relative):.2g}% in the median and "
               f"{100 * relative.max():.2g}% at most.")
else:
    reduced_table = None
    message = (f"The {P.name} profile does not compile the reduced encoder's C++ (about 8 "
               "minutes of one core and 3 GB of memory); its project is written and its "
               "estimates follow. The "
               "default profile emulates a subset of the test jets here.")
display(Markdown(message))
reduced_table

# %%
if reduced_table is not None:
    fig, ax = plt.subplots(figsize=(6, 5))
    for label, name in ((0, "QCD"), (1, "top")):
        chosen = labels[pick] == label
        ax.loglog(kl_reference[chosen], kl_emulated[chosen], ".", ms=3, label=name)
    span = [kl_reference.min(), kl_reference.max()]
    ax.loglog(span, span, "k--", lw=1, label="equal")
    ax.set_xlabel("KL total, QKeras [nats]")
    ax.set_ylabel("KL total, hls4ml C++ emulation [nats]")
    ax.legend()
    fig.tight_layout()

# %% [markdown]
# ## Resources and latency: estimates, not synthesis
#
# The estimate model is documented in `src/fpga_estimate.py`. In short: every multiplication
# of a convolution or dense layer is placed on a multiplier that is reused $R$ times (the
# reuse factor); an `io_parallel` convolution in hls4ml 1.3 computes `ParallelizationFactor`
# output pixels per pass (1 by default), an `io_stream` one a pixel per clock. A product of
# two operands wider than 10 bits takes one DSP48E2 slice, a narrower one is built from LUTs;
# adders, comparators and registers take one LUT and one flip-flop per bit. The latency is
# the sum of the layers' passes times $R$ plus their pipeline stages. The threshold for DSPs
# and the LUT costs are rules of thumb from the hls4ml papers and Xilinx data sheets; a real
# synthesis can differ by a factor of a few, in either direction.
#
# First, the check against hls4ml: for every convolution and dense layer, the number of
# products and of parallel multipliers that hls4ml's own layer configuration plans, beside
# ours. The ratio of products is 1 where the kernels have no zeros; hls4ml drops products
# with zero weights, which our estimate counts.

# %%
reference_estimate = {name: fpga_estimate.estimate_model(model, parallelization_factor=1, part=PART,
                                                         clock_period=CLOCK_NS)
                      for name, model in models.items()}
checks = pd.concat({name: fpga_estimate.compare_with_hls4ml(reference_estimate[name],
                                                            hls_models[name, "io_parallel"])
                    for name in models}, names=["model", "layer"])
glue("mults_ratio_max", f"{checks['mults_ratio'].max():.3f}", display=False)
checks

# %% [markdown]
# ### The reduced encoder, layer by layer
#
# Reuse factor 1, Latency strategy, `io_parallel`, one output pixel per pass (hls4ml 1.3's
# default). Percentages are of the U250; the Virtex UltraScale+ VU13P is the same die with the
# same resource counts, so its percentages are identical (an Alveo card's shell also takes
# a part of the device away from the user's kernel, which we do not subtract).

# %%
u250, vu13p = fpga_estimate.device_capacity(PART), fpga_estimate.device_capacity("xcvu13p")
columns = ["type", "reuse_factor", "mults", "DSP", "LUT", "FF", "BRAM_18K", "DSP_%", "LUT_%",
           "FF_%", "BRAM_18K_%", "latency_cycles", "II_cycles", "latency_ns"]
layers = reference_estimate["reduced encoder"][columns].copy()
for key in ("DSP", "LUT"):
    layers[f"{key}_% VU13P"] = 100 * layers[key] / vu13p[key]
total = layers.loc["total"]
glue("reduced_r1_dsp_pct", round(float(total["DSP_%"])), display=False)
glue("reduced_r1_lut_pct", round(float(total["LUT_%"])), display=False)
glue("reduced_r1_latency_us", round(float(total["latency_ns"]) / 1000, 1), display=False)
glue("reduced_mults", f"{int(total['mults']):,}", display=False)
layers.style.format(precision=1, na_rep="")

# %% [markdown]
# At reuse factor 1 the estimate asks for {glue:text}`reduced_r1_dsp_pct`% of the U250's
# DSPs and {glue:text}`reduced_r1_lut_pct`% of its LUTs for {glue:text}`reduced_mults`
# multiplications per image, with a latency of {glue:text}`reduced_r1_latency_us` µs,
# mostly the 400 passes of each convolution of the first stage. The instance normalizations
# are a large share: each needs three products per value (the squared deviation, the
# product with $1/\sqrt{\mathrm{var} + \epsilon}$ and the scale), all in parallel at
# reuse factor 1.
#
# ### Beside the study's Table 3.5
#
# The study reports Vivado HLS estimates for four blocks, each a convolution with its
# instance normalization and activation. Reading its shapes, a block is named after the
# layer that feeds it: its "conv2_b0_0" block is our `dconv_b1` convolution, (20, 20, 16) to
# (10, 10, 20); "conv2_b1_1" is `dconv_b2`, (10, 10, 20) to (5, 5, 4); "dconv_b2" is
# `conv1_b2_0`, (5, 5, 4) to (5, 5, 4); the "final block" is `conv_fin` with its
# normalization and the three dense heads. Our estimates of the same blocks are shown twice:
# with all output pixels computed in one pass, as the hls4ml versions of 2022 built an
# `io_parallel` convolution, and with one pixel per pass, hls4ml 1.3's default.

# %%
BLOCKS = {
    "conv2_b0_0": ["dconv_b1", "dconv_b1_norm", "dconv_b1_act"],
    "conv2_b1_1": ["dconv_b2", "dconv_b2_norm", "dconv_b2_act"],
    "dconv_b2": ["conv1_b2_0", "conv1_b2_0_norm", "conv1_b2_0_act"],
    "final block": ["conv_fin", "conv_fin_norm", "z_categorical", "z_mean", "z_var"],
}
resources = ["DSP", "LUT", "FF", "BRAM_18K"]
all_pixels = fpga_estimate.estimate_model(encoder, parallelization_factor=None, part=PART)
study = fpga_estimate.study_table_3_5(PART)
comparison = {}
for block, members in BLOCKS.items():
    for source, table in (("study (Vivado HLS)", study.loc[[block]]),
                          ("ours, all pixels per pass", all_pixels.loc[members]),
                          ("ours, one pixel per pass",
                           reference_estimate["reduced encoder"].loc[members])):
        sums = table[resources].sum()
        comparison[block, source] = {**{k: sums[k] for k in resources},
                                     **{f"{k} %": 100 * sums[k] / u250[k] for k in resources}}
comparison = pd.DataFrame.from_dict(comparison, orient="index").rename_axis(["block", "source"])
comparison.style.format("{:,.0f}", subset=resources).format(
    "{:.2f}", subset=[f"{k} %" for k in resources])

# %% [markdown]
# The study could not synthesize its "conv2_b0_0" block and scaled the "conv2_b1_1" block
# by its eq. 3.14,
#
# $$
# \rho(a, b) = \frac{(h^a_\text{in}/s)\,(w^a_\text{in}/s)\,d^a_\text{in}\,d^a_\text{out}}
#                   {(h^b_\text{in}/s)\,(w^b_\text{in}/s)\,d^b_\text{in}\,d^b_\text{out}},
# $$
#
# the ratio of the two convolutions' multiplications for equal kernels and stride $s = 2$.
# (The thesis prints $d^b_\text{in}$ twice in the denominator, and its table's last shape
# column holds 10 and 5, the output heights; only the layers' output channels, 20 and 4,
# give the factor of 16 that all four of its resource columns show.) The scaling reproduced:

# %%
factor = fpga_estimate.eq314_factor((20, 20, 16, 20), (10, 10, 20, 4))
scaled = fpga_estimate.linear_scaling(study.loc["conv2_b1_1", resources].to_dict(),
                                      (20, 20, 16, 20), (10, 10, 20, 4), part=PART)
ours = comparison.xs("ours, all pixels per pass", level="source")
eq314 = pd.DataFrame({
    "study, conv2_b1_1": study.loc["conv2_b1_1", resources],
    f"times rho = {factor:g}": pd.Series({k: scaled[k] for k in resources}),
    "study, conv2_b0_0": study.loc["conv2_b0_0", resources],
    "% of U250": pd.Series({k: scaled[f"{k}_%"] for k in resources}),
    "ours: ratio of the two blocks": (ours.loc["conv2_b0_0", resources]
                                      / ours.loc["conv2_b1_1", resources]),
})
glue("rho", f"{factor:g}", display=False)
glue("study_lut_pct", round(float(scaled["LUT_%"])), display=False)
eq314.style.format("{:,.1f}")

# %% [markdown]
# $\rho$ = {glue:text}`rho` reproduces the study's row exactly, {glue:text}`study_lut_pct`%
# of the U250's LUTs for one block. Our own estimate of the two blocks grows by a factor
# close to $\rho$ in DSPs and LUTs, where the multiplications dominate, and by less in
# BRAM, which holds the normalization's tables. The absolute numbers differ: the study's
# Vivado put most 16-bit products of a block into LUTs (47 DSPs beside 386,856 LUTs), our
# rule puts them into DSPs. Either way, a full-parallel first stage does not fit.
#
# ### Reuse, parallelization and I/O: what could fit?
#
# The same two networks under many settings: reuse factors 1 to 64 with one or all pixels per
# pass, the Resource strategy (weights in BRAM) and `io_stream`. Each point is a whole
# network; the horizontal axis is its estimated latency, the vertical axis the larger of its
# DSP and LUT shares of the U250. In our model the Resource strategy moves the weights into
# BRAM and changes nothing else, so its points sit on the Latency points with the same $R$.

# %%
grid = ([{"reuse_factor": r, "parallelization_factor": pf, "strategy": "Latency",
          "io_type": "io_parallel"} for r in (1, 4, 16, 64) for pf in (1, None)]
        + [{"reuse_factor": r, "parallelization_factor": 1, "strategy": "Resource",
            "io_type": "io_parallel"} for r in (4, 16, 64)]
        + [{"reuse_factor": r, "strategy": "Latency", "io_type": "io_stream"} for r in (1, 4, 16)])
scans = {name: fpga_estimate.scan(model, grid, part=PART, clock_period=CLOCK_NS)
         for name, model in models.items()}
tuned, tuned_tables = {}, {}
for name, model in models.items():
    for budget_name, budget in (("10% of DSP and LUT", BUDGET),
                                ("whole U250", dict.fromkeys(resources, 100.0))):
        try:
            tuned[name, budget_name], tuned_tables[name, budget_name] = fpga_estimate.tune(
                model, budget, part=PART, clock_period=CLOCK_NS)
        except ValueError:
            tuned_tables[name, budget_name] = None

fig, axes = plt.subplots(1, 2, figsize=(15, 5.2), sharey=True)
markers = {"io_parallel": "o", "io_stream": "s"}
for ax, (name, table) in zip(axes, scans.items(), strict=True):
    share = table[["DSP_%", "LUT_%"]].max(axis=1)
    for (io_type, strategy), rows in table.groupby(["io_type", "strategy"]):
        ax.scatter(rows["latency_ns"], share[rows.index], marker=markers[io_type],
                   label=f"{io_type}, {strategy}")
    for i, row in table.iterrows():
        pixels = "" if row["io_type"] == "io_stream" else (
            ", all pixels" if pd.isna(row["parallelization_factor"]) else "")
        ax.annotate(f"R={row['reuse_factor']}{pixels}", (row["latency_ns"], share[i]), fontsize=6,
                    xytext=(4, 3), textcoords="offset points")
    for budget_name, marker in (("10% of DSP and LUT", "*"), ("whole U250", "P")):
        chosen = tuned_tables[name, budget_name]
        if chosen is not None:
            ax.scatter(chosen.loc["total", "latency_ns"],
                       max(chosen.loc["total", "DSP_%"], chosen.loc["total", "LUT_%"]),
                       marker=marker, s=220, color="k", label=f"tuned per layer: {budget_name}")
    for x, text in ((200, "200 ns"), (1000, "1 µs")):
        ax.axvline(x, color="grey", ls=":", lw=1)
        ax.text(x, 0.02, text, rotation=90, va="bottom", ha="right", fontsize=8,
                transform=ax.get_xaxis_transform())
    for y in (10, 100):
        ax.axhline(y, color="grey", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("estimated latency at 200 MHz [ns]")
    ax.set_title(f"{name} (estimates)")
    ax.legend(fontsize=7, loc="upper right")
axes[0].set_ylabel("estimated max(DSP, LUT) share of the U250 [%]")
fig.tight_layout()

# %%
hits = {name: int(((table["latency_ns"] <= 1000) & (table["DSP_%"] <= BUDGET["DSP"])
                   & (table["LUT_%"] <= BUDGET["LUT"])).sum()) for name, table in scans.items()}
glue("n_settings", len(grid), display=False)
glue("student_hits", hits["student"], display=False)
glue("reduced_hits", hits["reduced encoder"], display=False)

# %% [markdown]
# Of these {glue:text}`n_settings` uniform settings, {glue:text}`student_hits` bring the
# student and {glue:text}`reduced_hits` the reduced encoder under 1 µs within 10% of the
# DSPs and LUTs. The stars and crosses are per-layer choices from `fpga_estimate.tune`:
# every convolution, dense layer and instance normalization gets its own reuse factor (1 to
# 64) and every convolution its own number of pixels per pass, a greedy search keeping the
# totals within the budget and spending it where it buys the most latency. The totals of
# these choices:

# %%
summary = {}
for (name, budget_name), table in tuned_tables.items():
    if table is None:
        summary[name, budget_name] = {"fits": False}
        continue
    row = table.loc["total"]
    summary[name, budget_name] = {"fits": True, **{f"{k} %": row[f"{k}_%"] for k in resources},
                                  "latency [ns]": row["latency_ns"],
                                  "II [ns]": row["II_cycles"] * CLOCK_NS}
summary = pd.DataFrame.from_dict(summary, orient="index").rename_axis(["model", "budget"])
summary.style.format(precision=1, na_rep="")

# %%
student_choice = tuned.get(("student", "10% of DSP and LUT"))
student_table = tuned_tables["student", "10% of DSP and LUT"]
if student_table is not None:
    per_layer = pd.DataFrame(student_choice).astype("Int64").rename(
        columns={"reuse_factor": "reuse factor", "parallelization_factor": "pixels per pass"})
    display(per_layer.rename_axis("layer").style.format(na_rep=""))
    display(student_table[columns].style.format(precision=1, na_rep=""))

# %% [markdown]
# The tuned student is also converted with hls4ml (per-layer `ReuseFactor` and
# `ParallelizationFactor`), compiled and emulated on the same subset of jets as the
# `io_stream` project: hls4ml keeps the factors, plans the multipliers we estimate, and the
# outputs do not change. Whether Vivado would place the 16-bit products in DSPs, as we
# assume, or in LUTs, as the study's synthesis did, matters: the last table repeats the
# student's search with every product in LUTs.

# %%
if student_table is not None:
    layer_config = {name: {"ReuseFactor": int(r)}
                    for name, r in student_choice["reuse_factor"].items()}
    for name, pf in student_choice["parallelization_factor"].items():
        layer_config[name]["ParallelizationFactor"] = int(pf)
    tuned_folder = folders["student"] / "hls4ml_prj_parallel_latency_tuned"
    tuned_model, _ = quiet(fpga.ensure_project, distilled, tuned_folder, io_type="io_parallel",
                           strategy="Latency", reuse_factor=1,
                           **{**STUDENT_SETTINGS, "layer_config": layer_config})
    start = time.perf_counter()
    quiet(fpga.load_library, tuned_model)
    compile_s = time.perf_counter() - start
    out = fpga.emulate(tuned_folder, images[subset, ..., None], n_workers=WORKERS,
                       progress=False)[:, 0]
    same = bool(np.array_equal(out, emulated[subset]))
    display(pd.DataFrame([{"project": "io_parallel, tuned", "images": len(subset),
                           "compile [s]": round(compile_s), "identical to io_parallel": same}])
            .set_index("project"))
    display(fpga_estimate.compare_with_hls4ml(student_table, tuned_model))
    _, lut_only = fpga_estimate.tune(distilled, BUDGET, part=PART, clock_period=CLOCK_NS,
                                     dsp_threshold_bits=16)
    display(pd.DataFrame({"products in DSPs (our rule)": student_table.loc["total", columns[3:]],
                          "products in LUTs": lut_only.loc["total", columns[3:]]}).T
            .style.format(precision=1))
    glue("student_lut_only_latency_ns", round(float(lut_only.loc["total", "latency_ns"])),
         display=False)
else:
    glue("student_lut_only_latency_ns", "(no design within the budget)", display=False)

# %% [markdown]
# ## Verdict

# %%
reduced_best = tuned_tables["reduced encoder", "whole U250"]
reduced_small = tuned_tables["reduced encoder", "10% of DSP and LUT"]
rows = {}
if student_table is not None:
    design = student_table.loc["total"]
else:  # not even the cheapest settings fit: report the cheapest design of the scan
    design = scans["student"].loc[scans["student"][["DSP_%", "LUT_%"]].max(axis=1).idxmin()]
student_latency, student_lut, student_dsp = (float(design["latency_ns"]), float(design["LUT_%"]),
                                             float(design["DSP_%"]))
auc_gap = abs(emu_auc - qkeras_auc)
latency_text = f"{student_latency:.0f} ns"
rows["estimated latency at 200 MHz"] = ("<= 1 µs", latency_text, student_latency <= 1000)
rows["estimated latency, stretch goal"] = ("< 200 ns", latency_text, student_latency < 200)
rows["estimated LUTs, % of U250"] = ("<= 10%", f"{student_lut:.1f}%", student_lut <= 10)
rows["estimated DSPs, % of U250"] = ("<= 10%", f"{student_dsp:.1f}%", student_dsp <= 10)
rows["emulated AUC minus QKeras AUC"] = ("within 0.01", f"{emu_auc - qkeras_auc:+.4f}",
                                         auc_gap <= 0.01)
verdict = pd.DataFrame.from_dict(rows, orient="index", columns=["target", "student", "met"])
verdict["met"] = verdict["met"].map({True: "yes", False: "no"})
glue("student_latency_ns", round(student_latency), display=False)
glue("student_lut_pct", round(student_lut, 1), display=False)
glue("student_dsp_pct", round(student_dsp, 1), display=False)
verdict

# %%
student_ok = (student_latency <= 1000 and student_lut <= 10 and student_dsp <= 10
              and auc_gap <= 0.01)
if reduced_best is not None:
    best = reduced_best.loc["total"]
    reduced_text = (f"Our reduced encoder fits one U250 only when the per-layer search may use "
                    f"the whole device: {best['DSP_%']:.0f}% of the DSPs and {best['LUT_%']:.0f}% "
                    f"of the LUTs (estimated) for a latency of {best['latency_ns'] / 1000:.1f} µs "
                    f"and a new image every {best['II_cycles'] * CLOCK_NS:.0f} ns")
else:
    reduced_text = "Our reduced encoder does not fit one U250 under any setting we estimated"
if reduced_small is not None:
    small = reduced_small.loc["total"]
    reduced_text += (f"; within 10% of the DSPs and LUTs its latency grows to "
                     f"{small['latency_ns'] / 1000:.0f} µs.")
else:
    reduced_text += "; it cannot be squeezed into 10% of the DSPs and LUTs at all."
student_text = (
    f"The student meets the targets: an estimated {student_latency:.0f} ns at 200 MHz with "
    f"{student_lut:.1f}% of the LUTs and {student_dsp:.1f}% of the DSPs, and an emulated AUC "
    f"{auc_gap:.4f} from its QKeras twin's"
    if student_ok else
    f"The student misses at least one target (table above): an estimated {student_latency:.0f} ns "
    f"with {student_lut:.1f}% of the LUTs and {student_dsp:.1f}% of the DSPs, an emulated AUC "
    f"{auc_gap:.4f} from its QKeras twin's")
n_mults = int(reference_estimate["student"].loc["total", "mults"])
dsp_budget = BUDGET["DSP"] / 100 * u250["DSP"]
student_text += (
    ". It does not reach the stricter 200 ns, 40 clock cycles: its "
    f"{n_mults:,} multiplications per jet would keep {n_mults / 40:,.0f} multipliers busy in "
    f"every one of them, against {dsp_budget:,.0f} DSPs in {BUDGET['DSP']:.0f}% of the device, "
    "before the adder trees, activations and pooling of its layers add their own cycles."
    if student_latency >= 200 else ".")
display(Markdown(
    "The study's encoder did not fit: one block of it alone was estimated at 358% of the "
    f"U250's LUTs. {reduced_text} That is not a Level-1 trigger algorithm, which gets about "
    f"1 µs and a few percent of an FPGA. {student_text}"))

# %% [markdown]
# All resource and latency numbers of this chapter are estimates from operation counts; the
# emulation results are measurements. The estimates agree with hls4ml's own plan of the
# multipliers (the largest ratio of products is {glue:text}`mults_ratio_max`), but how many
# LUTs a product, an adder or a normalization costs, and whether Vivado puts a 16-bit product
# in a DSP or in LUTs, only a synthesis can tell: with every product in LUTs the student's
# tuned latency becomes {glue:text}`student_lut_only_latency_ns` ns. The path to a real number
# is short now: `hls_model.build(csim=False, synth=True)` on a machine with Vivado HLS, in the
# project folders this chapter writes.
