# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Compression: fewer filters, fewer bits, fewer weights, a student
#
# A trigger decides within about a microsecond whether to keep a collision, on shared FPGAs. The
# encoder of chapter 2, with {glue:text}`full_params` parameters and {glue:text}`full_macs` million
# multiplications per image, is far from that. The study took two steps, which we repeat:
#
# 1. a **reduced encoder**, the same residual layout with three narrow stages ({glue:text}`reduced_filters`
#    filters) and a linear `conv_fin` before the heads, trained with the full decoder like the big one;
# 2. **quantization-aware training** (QAT) with QKeras {cite}`coelho2021`: kernels, biases and
#    activations become fixed-point numbers `<16,6>`, QKeras' `quantized_bits(16, 6)`: 16 bits, 6
#    of them integer bits besides the sign. The forward pass rounds to that grid, while the
#    gradients update float shadow weights.
#
# We then follow the study's outlook: **magnitude pruning** of the quantized encoder and
# **knowledge distillation** into a student small enough for a trigger. Only the encoder, which
# gives the KL scores, is compressed; only training needs the decoder.

# %% tags=["parameters", "remove-cell"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from myst_nb import glue

from src import style
from src.analysis import metrics, tables
from src.backend import tf
from src.compress import distill, energy, prune, quantize, report
from src.compress import plots as compress_plots
from src.config import get_profile
from src.data.splits import binary_labels, split_images
from src.models.networks import count_macs, layer_table
from src.models.registry import trained
from src.study import HLS_PARAMETER_LIMIT, TABLE_3_2, TABLE_3_3, TABLE_3_4

style.use()
tf.get_logger().setLevel("ERROR")  # no retracing or deprecation notices in the book
P = get_profile(profile)
qcd, top = split_images(P, "qcd", "test"), split_images(P, "top", "test")
images, labels = np.concatenate([qcd, top]), binary_labels(len(qcd), len(top))
teacher, reduced = trained(P, "jointvae"), quantize.float_reduced(P)
quantized = quantize.quantized_reduced(P)
full_macs = sum(count_macs(teacher.encoder).values())
qat = quantize.qat_train_spec(P)  # the <16,6> twin's fine-tune
for name, value in {"n_test_qcd": len(qcd), "n_test_top": len(top), "qat_epochs": qat.epochs, "qat_lr": qat.learning_rate,
                    "full_params": f"{teacher.encoder.count_params():,}", "reduced_filters": "{}, {} and {}".format(*quantize.reduced_spec(P).filters),
                    "full_macs": round(full_macs / 1e6, 1), "hls_limit_source": HLS_PARAMETER_LIMIT.source,
                    **{f"hls_limit_{k}": v for k, v in HLS_PARAMETER_LIMIT.values.items()}}.items():
    glue(name, value, display=False)

# %% [markdown]
# ## The reduced encoder
#
# Every convolution and dense layer (names of the study's Table 3.2) with its output shape,
# parameters and multiply–accumulate operations (MACs) per image. Grouped convolutions keep every
# convolution under the {glue:text}`hls_limit_thesis` parameters per layer the thesis gives as
# Vivado HLS's limit, the dense heads under the paper's {glue:text}`hls_limit_paper`
# ({glue:text}`hls_limit_source`). Instance normalizations and activations sit between them.

# %% tags=["hide-input"]
layers = layer_table(reduced.encoder).query("MACs > 0")  # the convolutions and dense layers
reduced_params, reduced_macs = reduced.encoder.count_params(), int(layers["MACs"].sum())
for name, value in {"reduced_params": reduced_params, "reduced_macs": round(reduced_macs / 1e6, 2),
                    "reduced_ratio": round(teacher.encoder.count_params() / reduced_params),
                    "first_stage_share": int(layers.filter(like="_b0", axis=0)["MACs"].sum()) / reduced_macs}.items():
    glue(name, value, display=False)
tables.show(layers)

# %% [markdown]
# The encoder has {glue:text}`reduced_params` parameters, {glue:text}`reduced_ratio` times fewer than
# the full one, and {glue:text}`reduced_macs` million MACs per image,
# {glue:text}`first_stage_share:.0%` of them in the first stage.
#
# ## Weights before and after quantization
#
# The quantized twin starts from the trained float weights and is fine-tuned for
# {glue:text}`qat_epochs` epoch(s) at a learning rate of {glue:text}`qat_lr`. In `<16,6>` a weight
# is a multiple of $2^{-9} \approx 0.002$ between $-64$ and $64$. {numref}`fig-quant-weights` shows
# the kernels as the quantizer delivers them, beside the float ones (the study's figures 3.12-3.13).
#
# ```{glue:figure} fig_quant_weights
# :name: fig-quant-weights
#
# Kernel weights. Top: histograms, float (left) and `<16,6>` (right), coloured by stage (layers in
# brackets). Bottom: per layer, boxes spanning the quartiles and whiskers the minimum to the maximum.
# ```

# %% tags=["hide-input"]
act_max = quantize.activation_range(reduced.encoder, np.concatenate([qcd[:500], top[:500]]))
for name, value in {"q_zero_fraction": prune.sparsity(quantized.encoder), "act_max": round(act_max, 1),
                    "q_max_weight": round(quantize.largest_weight(quantize.kernels(quantized.encoder)), 2),
                    "act_int": quantize.integer_bits_for(act_max)}.items():
    glue(name, value, display=False)
_, whiskers = compress_plots.weight_panels({"float reduced encoder": reduced.encoder,
                                           "quantized <16,6> encoder": quantized.encoder})
glue("fig_quant_weights", whiskers[0].figure, display=False)
plt.close(whiskers[0].figure)

# %% [markdown]
# The grid is much finer than the weights, the largest {glue:text}`q_max_weight` in magnitude, far
# inside $\pm 64$; {glue:text}`q_zero_fraction:.1%` of them round to zero. The float activations reach
# {glue:text}`act_max` on 1000 test jets, a range {glue:text}`act_int` integer bits cover; `<16,6>` reserves 6.
#
# ## Anomaly detection, float against quantized
#
# The KL scores of both reduced encoders on {glue:text}`n_test_qcd` QCD and {glue:text}`n_test_top`
# top test jets, ± bootstrap standard deviations, beside the study's Table 3.3 (its own dataset).

# %% tags=["hide-input"]
kl = {"reduced float": quantize.kl_scores(reduced, images),
      "quantized <16,6>": quantize.kl_scores(quantized, images)}
kl_metrics = report.kl_metrics(kl, labels, seed=P.seed)
q_auc = {m: float(kl_metrics.loc[(m, "kl_total"), "auc"]) for m in kl}
q_change = q_auc["quantized <16,6>"] - q_auc["reduced float"]
comparison = report.table_3_3(kl_metrics)
study = comparison.xs("KL total", level="score")["study AUC [%]"]
for name, value in {"q_auc_float": round(q_auc["reduced float"], 3), "q_auc_change": round(q_change, 3),
                    "q_auc_quant": round(q_auc["quantized <16,6>"], 3), "q_tolerance": quantize.AUC_TOLERANCE,
                    "q_verdict": "within" if abs(q_change) <= quantize.AUC_TOLERANCE else "outside",
                    "study_q_cost": round(float(study["reduced float"] - study["quantized <16,6>"]), 1)}.items():
    glue(name, value, display=False)
tables.show(comparison, 2, caption=f"The study: {TABLE_3_3.source}")

# %% [markdown]
# The KL total reaches an AUC of {glue:text}`q_auc_float:.3f` float and {glue:text}`q_auc_quant:.3f`
# quantized, a change of {glue:text}`q_auc_change:+.3f`, {glue:text}`q_verdict` our tolerance of
# {glue:text}`q_tolerance` (`quantize.AUC_TOLERANCE`); in the study it cost {glue:text}`study_q_cost` points.
#
# ## How many bits?
#
# `<16,6>` was the study's choice, not a measured need. With 6 integer bits every bit removed is a
# fractional one: at 8 bits the grid step is 0.5, coarser than most weights. Three series
# ({numref}`fig-bit-scan`, table below it): QAT of the encoder alone, which learns in
# {glue:text}`scan_epochs` epochs on {glue:text}`scan_jets` QCD training jets to reproduce the float
# encoder's outputs, and post-training quantization (float weights rounded) at 6 and 3 integer bits.
#
# ```{glue:figure} fig_bit_scan
# :name: fig-bit-scan
#
# KL-total AUC (top vs QCD, test jets) against the bits of kernels, biases and activations; star:
# the joint-VAE QAT `<16,6>` encoder above, dashed: the float encoder, dotted: a random guess.
# ```

# %% tags=["hide-input"]
scan = quantize.bit_scans(P)
lines = compress_plots.bit_scan(scan, q_auc["reduced float"], q_auc["quantized <16,6>"])
glue("fig_bit_scan", lines[0].figure, display=False)
plt.close(lines[0].figure)
scan_aucs = report.scan_table(scan)
for name, value in {"scan_jets": quantize.SCAN_JETS, "scan_epochs": quantize.SCAN_EPOCHS,
                    **report.scan_values(scan_aucs)}.items():  # qat_10, ptq3_10, ...
    glue(name, value, display=False)
tables.show(scan_aucs, 3)

# %% [markdown]
# At 8 bits with 6 integer bits, rounding leaves an AUC of {glue:text}`ptq6_8:.3f`, the encoder QAT
# {glue:text}`qat_8:.3f`, and 3 integer bits {glue:text}`ptq3_8:.3f` without training: how the bits
# are split matters as much as how many there are. Coarser still, the score becomes a constant (0.5).
#
# **QAT does worse than rounding at 10 bits**: {glue:text}`qat_10:.3f`, against
# {glue:text}`ptq3_10:.3f` for plain rounding with 3 integer bits, as good as the float encoder (12
# bits: {glue:text}`qat_12:.3f` against {glue:text}`ptq3_12:.3f`); it beats rounding only on its own
# 6-integer-bit grid ({glue:text}`ptq6_10:.3f`). Likely reason: {glue:text}`scan_epochs` epochs on
# {glue:text}`scan_jets` jets cannot recover from a grid 8 times coarser (3 fractional bits, not 6),
# while post-training quantization rounds a float model trained to the end.
#
# ## Energy per inference
#
# QTools {cite}`coelho2021` (in QKeras) estimates the energy of one inference from the operations and
# data types of every layer at 45 nm (input `<16,6>`, float layers as 16-bit floats). Two caveats,
# shared with the study: it prices a grouped convolution as a dense one (column "grouped MACs":
# the multiplications really done), and it does not know instance normalization, which we price
# ({glue:text}`norm_mul` multiplications, {glue:text}`norm_add` additions per element). Per layer
# (first table; the study lists no residual additions, `add_*`), our float numbers are the study's
# Table 3.2; the totals (second table) stand beside its Table 3.4.

# %% tags=["hide-input"]
energies = {"reduced float": energy.energy_table(reduced.encoder),
            "quantized <16,6>": energy.energy_table(quantized.encoder)}
per_layer = energy.study_comparison(energies["reduced float"], energies["quantized <16,6>"])
display(tables.show(per_layer, 1, caption=f"Energy per layer [nJ]; the study: {TABLE_3_2.source}"))
energy_totals = energy.totals(energies)
qtools_uj = energy_totals["QTools [uJ]"]
for name, value in {"norm_mul": energy.NORM_OPS[0], "norm_add": energy.NORM_OPS[1],
                    "energy_float": round(float(qtools_uj["reduced float"]), 3),
                    "energy_quant": round(float(qtools_uj["quantized <16,6>"]), 3),
                    "energy_saving": energy.saving(energy_totals),
                    "study_energy_saving": energy.saving(energy_totals, "study [uJ]")}.items():
    glue(name, value, display=False)
tables.show(energy_totals, 4, caption=f"Energy per image; the study: {TABLE_3_4.source}")

# %% [markdown]
# Quantization lowers the estimate from {glue:text}`energy_float` to {glue:text}`energy_quant` µJ
# per image ({glue:text}`energy_saving:.1%` less; the study: {glue:text}`study_energy_saving:.1%`),
# QTools' price difference between 16-bit integer and floating-point arithmetic. On an FPGA the
# larger gain, which QTools does not model, is fixed-point logic in DSPs and LUTs.
#
# ## Pruning
#
# hls4ml's latency strategy builds no multiplier for a weight that is zero. Magnitude pruning
# (tensorflow-model-optimization) zeroes the smallest weights of every convolution and dense layer
# of the quantized encoder, ramping the sparsity up over the first half of a short fine-tune in
# which the pruned encoder learns to reproduce the unpruned one's outputs on QCD training jets.

# %% tags=["hide-input"]
pruned = prune.pruned_reduced(P, 0.5)
macs_nonzero = prune.nonzero_macs(pruned.encoder)
prune_auc = quantize.kl_auc(pruned, qcd, top)
for name, value in {"prune_sparsity": prune.sparsity(pruned.encoder), "prune_auc": round(prune_auc, 3),
                    "prune_macs": round(macs_nonzero / 1e6, 2)}.items():
    glue(name, value, display=False)
tables.show(report.pruning_table(quantized.encoder, pruned.encoder, q_auc["quantized <16,6>"],
                                 prune_auc), 3)

# %% [markdown]
# With {glue:text}`prune_sparsity:.0%` of the kernel weights at zero, the KL total has an AUC of
# {glue:text}`prune_auc:.3f` and an FPGA would build {glue:text}`prune_macs` million multiplications
# per image. The instance normalizations remain: a smaller network is needed, not a thinner one.
#
# ## A student for the trigger
#
# Knowledge distillation {cite}`hinton2015` trains a small *student* to imitate a large *teacher*,
# here the float joint VAE of chapter 2. On QCD training jets only, never a label, the student learns
# to predict the teacher's log KL total, its anomaly score. Its layers (table below) are ones hls4ml
# converts as they are: average pooling to $20 \times 20$, two quantized $3 \times 3$ convolutions with
# ReLU and max pooling, a quantized dense layer and a linear output, all `<16,6>`, no normalization.

# %% tags=["hide-input"]
student_model = distill.student(P)
student_layers = layer_table(student_model)
paired = distill.paired_scores(teacher, student_model, images)
teacher_auc, student_auc = metrics.auc(paired["teacher"], labels), metrics.auc(paired["student"], labels)
energies["student <16,6>"] = energy.energy_table(student_model)
student_energy = float(energies["student <16,6>"]["energy_nJ"].sum())
for name, value in {
        "teacher_auc": round(teacher_auc, 3), "student_auc": round(student_auc, 3),
        "student_ratio": student_auc / teacher_auc, "student_gain": round(student_auc - teacher_auc, 3),
        "student_goal": distill.STUDENT_GOAL, "student_corr": distill.fidelity(paired),
        "student_verdict": "meets" if student_auc >= distill.STUDENT_GOAL * teacher_auc else "misses",
        "student_params": student_model.count_params(), "student_macs": int(student_layers["MACs"].sum()),
        "student_energy": round(student_energy, 1), "student_vs_quant": round(float(qtools_uj["quantized <16,6>"] * 1e3 / student_energy))}.items():
    glue(name, value, display=False)
display(tables.show(student_layers))
points, _ = compress_plots.student_panels(paired, labels, {m: kl[m]["kl_total"] for m in kl})
glue("fig_student", points[0].figure, display=False)
plt.close(points[0].figure)

# %% [markdown]
# The student has {glue:text}`student_params` parameters and needs {glue:text}`student_macs`
# multiplications per image. Its AUC is {glue:text}`student_auc:.3f`, {glue:text}`student_ratio:.1%`
# of the teacher's {glue:text}`teacher_auc:.3f` (it {glue:text}`student_verdict` our goal of
# {glue:text}`student_goal:.0%`, `distill.STUDENT_GOAL`), and QTools puts one inference at
# {glue:text}`student_energy` nJ, {glue:text}`student_vs_quant` times less than the quantized
# reduced encoder. {numref}`fig-student` compares student and teacher on the test jets.
#
# ```{glue:figure} fig_student
# :name: fig-student
#
# Top: the student's score against the teacher's KL total, every test jet. Bottom: ROC curves, top
# (signal) against QCD (background) test jets, of the teacher, the student and the two reduced
# encoders, AUCs in the legend; the grey dashed line marks FPR = 10%.
# ```
#
# **The student beats its teacher** by {glue:text}`student_gain:+.3f` in AUC. A regressor can: it
# learns, on QCD jets only, the teacher's log KL total as a smooth function of the pooled image, in
# effect the teacher's score averaged over jets that look alike to it. Its score correlates with the
# teacher's at {glue:text}`student_corr:.2f`, not 1; what it drops is jet-to-jet scatter of the
# teacher that says little about the class, and what it keeps (how heavy and busy a jet looks)
# separates top from QCD at least as well. The gain is small and we read no more into it.
#
# ## Summary
#
# Every encoder of this chapter on the same test jets. Energies: QTools' own (grouped convolutions
# dense, zeros multiplied, no norm), and with the multiplications really done plus the norms.

# %% tags=["hide-input"]
energies["full float (teacher)"] = energy.energy_table(teacher.encoder)
energies["quantized <16,6>, 50% pruned"] = energies["quantized <16,6>"]  # same formats
tables.show(report.summary_table({  # (parameters, MACs per image, AUC)
    "full float (teacher)": (teacher.encoder.count_params(), full_macs, teacher_auc),
    "reduced float": (reduced_params, reduced_macs, q_auc["reduced float"]),
    "quantized <16,6>": (reduced_params, reduced_macs, q_auc["quantized <16,6>"]),
    "quantized <16,6>, 50% pruned": (reduced_params, round(macs_nonzero), prune_auc),
    "student <16,6>": (student_model.count_params(), int(student_layers["MACs"].sum()), student_auc),
}, energy.totals(energies)), report.SUMMARY_DIGITS)

# %% [markdown]
# The student is the trigger candidate: a few thousand parameters, no layer hls4ml cannot convert.
# Chapter 6 converts it, with the study's quantized encoder, and estimates their cost on the FPGA.
