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
# A trigger decides within about a microsecond whether to keep a collision, on FPGAs that are shared
# with everything else the trigger does. The encoder of chapter 2, with its {glue:text}`full_params`
# parameters and {glue:text}`full_macs` million multiplications per image, is far from that. The
# study took two steps towards it, and this chapter repeats them:
#
# 1. a **reduced encoder** with the same residual layout but three narrow stages (16, 20 and 4
#    filters) and a linear `conv_fin` layer before the dense heads, trained as a joint VAE with the
#    full decoder, exactly like the big one;
# 2. **quantization-aware training** (QAT) with QKeras: kernels, biases and activations become
#    fixed-point numbers `<16,6>`, QKeras' `quantized_bits(16, 6)`: 16 bits, of which 6 are integer
#    bits besides the sign (hls4ml's `ap_fixed<16,7>`; its default `ap_fixed<16,6>` counts the sign
#    among the integer bits). During training the forward pass rounds to that grid, while the
#    gradients update float shadow weights.
#
# It then follows the study's own outlook one step further: **magnitude pruning** of the quantized
# encoder, and **knowledge distillation** into a student network small enough for a trigger. Only
# the encoder matters for the KL scores, so it alone is compressed; only training needs the decoder.

# %% tags=["parameters", "remove-cell"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from myst_nb import glue

from src.analysis import metrics, plots, tables
from src.backend import tf
from src.compress import distill, energy, prune, quantize, report
from src.compress import plots as compress_plots
from src.config import get_profile
from src.data.splits import binary_labels, split_images
from src.models.networks import count_macs, layer_table
from src.models.registry import trained
from src.study import TABLE_3_2, TABLE_3_3, TABLE_3_4

plots.set_style()
tf.get_logger().setLevel("ERROR")  # no retracing or deprecation notices in the book
P = get_profile(profile)
qcd, top = split_images(P, "qcd", "test"), split_images(P, "top", "test")
images, labels = np.concatenate([qcd, top]), binary_labels(len(qcd), len(top))
teacher, reduced = trained(P, "jointvae"), quantize.float_reduced(P)
quantized = quantize.quantized_reduced(P)
full_macs = sum(count_macs(teacher.encoder).values())
glue("n_test_qcd", len(qcd), display=False)
glue("n_test_top", len(top), display=False)
glue("qat_epochs", quantize.qat_train_spec(P).epochs, display=False)  # the <16,6> twin's fine-tune
glue("qat_lr", quantize.qat_train_spec(P).learning_rate, display=False)
glue("full_params", f"{teacher.encoder.count_params():,}", display=False)
glue("full_macs", round(full_macs / 1e6, 1), display=False)

# %% [markdown]
# ## The reduced encoder
#
# Every convolution and dense layer, with the names of the study's Table 3.2, its output shape,
# parameters and multiply–accumulate operations (MACs) per image. Grouped convolutions (4 groups, 2
# for `conv_fin`) keep every convolution under the 1024 parameters per layer that the thesis gives
# as Vivado HLS's limit; the dense heads stay under the paper's 2048. The instance normalizations
# (two parameters per channel) and the activations sit between these layers.

# %% tags=["hide-input"]
layers = layer_table(reduced.encoder).query("MACs > 0")  # the convolutions and dense layers
reduced_params, reduced_macs = reduced.encoder.count_params(), int(layers["MACs"].sum())
glue("reduced_params", reduced_params, display=False)
glue("reduced_macs", round(reduced_macs / 1e6, 2), display=False)
glue("reduced_ratio", round(teacher.encoder.count_params() / reduced_params), display=False)
glue("first_stage_share", int(layers.filter(like="_b0", axis=0)["MACs"].sum()) / reduced_macs, display=False)
layers

# %% [markdown]
# The encoder has {glue:text}`reduced_params` parameters, {glue:text}`reduced_ratio` times fewer
# than the full one, and needs {glue:text}`reduced_macs` million MACs per image,
# {glue:text}`first_stage_share:.0%` of them in the first stage, on the $20 \times 20$ feature maps.
#
# ## Weights before and after quantization
#
# The quantized twin starts from the trained float weights and is fine-tuned for
# {glue:text}`qat_epochs` epoch(s) at a learning rate of {glue:text}`qat_lr`. In `<16,6>` a weight
# is a multiple of $2^{-9} \approx 0.002$ between $-64$ and $64$. The figures show the kernels per
# layer as the quantizer delivers them to the convolution, beside the float model's (the study's
# figures 3.12 and 3.13): histograms on the left, whiskers spanning the minimum to the maximum on
# the right, with the box from the first to the third quartile.

# %% tags=["hide-input"]
glue("q_zero_fraction", prune.sparsity(quantized.encoder), display=False)
glue("q_max_weight", round(quantize.largest_weight(quantize.kernels(quantized.encoder)), 2), display=False)
act_max = quantize.activation_range(reduced.encoder, np.concatenate([qcd[:500], top[:500]]))
glue("act_max", round(act_max, 1), display=False)
glue("act_int", quantize.integer_bits_for(act_max), display=False)
compress_plots.weight_panels({"float reduced encoder": reduced.encoder,
                              "quantized <16,6> encoder": quantized.encoder})
plt.show()

# %% [markdown]
# The grid step is much finer than the spread of the weights, whose largest magnitude is
# {glue:text}`q_max_weight`, far inside the range of $\pm 64$; the smallest weights are rounded to
# zero, {glue:text}`q_zero_fraction:.1%` of all kernel weights. The activations of the float encoder
# reach {glue:text}`act_max` in magnitude on 1000 test jets, a range that {glue:text}`act_int`
# integer bits cover; `<16,6>` reserves 6.
#
# ## Anomaly detection, float against quantized
#
# The three KL scores of both reduced encoders on the same {glue:text}`n_test_qcd` QCD and
# {glue:text}`n_test_top` top test jets, with bootstrap standard deviations, beside the study's
# Table 3.3 (obtained on its own dataset; the source is in the table's caption).

# %% tags=["hide-input"]
kl = {"reduced float": quantize.kl_scores(reduced, images),
      "quantized <16,6>": quantize.kl_scores(quantized, images)}
kl_metrics = report.kl_metrics(kl, labels, seed=P.seed)
q_auc = {m: float(kl_metrics.loc[(m, "kl_total"), "auc"]) for m in kl}
glue("q_auc_float", round(q_auc["reduced float"], 3), display=False)
glue("q_auc_quant", round(q_auc["quantized <16,6>"], 3), display=False)
q_change = q_auc["quantized <16,6>"] - q_auc["reduced float"]
glue("q_auc_change", round(q_change, 3), display=False)
glue("q_tolerance", quantize.AUC_TOLERANCE, display=False)
glue("q_verdict", "within" if abs(q_change) <= quantize.AUC_TOLERANCE else "outside", display=False)
comparison = report.table_3_3(kl_metrics)
study = comparison.xs("KL total", level="score")["study AUC [%]"]
glue("study_q_cost", round(float(study["reduced float"] - study["quantized <16,6>"]), 1), display=False)
tables.styled(comparison, precision=2).set_caption(f"The study: {TABLE_3_3.source}")

# %% [markdown]
# The KL total reaches an AUC of {glue:text}`q_auc_float:.3f` with the float reduced encoder and
# {glue:text}`q_auc_quant:.3f` with its quantized twin, a change of {glue:text}`q_auc_change:+.3f`,
# {glue:text}`q_verdict` our tolerance of {glue:text}`q_tolerance` (`quantize.AUC_TOLERANCE`).
# In the study, quantization cost {glue:text}`study_q_cost` points of AUC.
#
# ## How many bits?
#
# `<16,6>` was the study's choice, not a measured need. The scan below keeps 6 integer bits and
# lowers the total, so every bit removed is a fractional one: at 8 bits the grid step is 0.5 and at
# 7 or fewer it is 1 or more, coarser than nearly every weight. Three series: quantization-aware
# training of the encoder alone, which learns in {glue:text}`scan_epochs` epochs on (at most)
# {glue:text}`scan_jets` QCD training jets to reproduce the float encoder's outputs, a much cheaper
# recipe than the full joint-VAE fine-tune above; and post-training quantization (the float weights
# rounded, no training) at 6 and at 3 integer bits.

# %% tags=["hide-input"]
scan = quantize.bit_scans(P)
glue("scan_jets", quantize.SCAN_JETS, display=False)
glue("scan_epochs", quantize.SCAN_EPOCHS, display=False)
compress_plots.bit_scan(scan, q_auc["reduced float"], q_auc["quantized <16,6>"])
plt.show()
scan_aucs = report.scan_table(scan)
glue("ptq6_8", round(float(scan_aucs.loc[8, "post-training, 6 integer bits"]), 3), display=False)
glue("ptq3_8", round(float(scan_aucs.loc[8, "post-training, 3 integer bits"]), 3), display=False)
glue("qat_8", round(float(scan_aucs.loc[8, "encoder QAT, 6 integer bits"]), 3), display=False)
tables.styled(scan_aucs, precision=3)

# %% [markdown]
# At 8 bits with 6 integer bits, rounding alone leaves an AUC of {glue:text}`ptq6_8:.3f` and the
# encoder QAT gives {glue:text}`qat_8:.3f`; the same 8 bits split as 3 integer and 4 fractional bits
# give {glue:text}`ptq3_8:.3f` without any training. Once the grid step exceeds almost every weight,
# the encoder is left with a handful of non-zero weights and its score approaches a constant (AUC
# 0.5). How the bits are split between the integer and the fractional part matters as much as how
# many there are.
#
# ## Energy per inference
#
# QTools, shipped inside QKeras, estimates the energy of one inference from the operation counts and
# the data types of every layer, with per-operation energies of a 45 nm process. The input image is
# read as `<16,6>` numbers, float layers are priced as 16-bit floating point, QKeras layers at their
# quantizers' widths. Two caveats, both shared with the study: QTools prices a grouped convolution
# as if it were dense (the column "grouped MACs" rescales the arithmetic to the multiplications
# really done), and it does not know instance normalization, which we price ourselves
# ({glue:text}`norm_mul` multiplications and {glue:text}`norm_add` additions per element, rows
# marked "estimate"). Energies depend on the architecture and the number formats, not on weights.
#
# Per layer (first table), our float numbers are the study's Table 3.2: the architecture is the
# same, and so are QTools' prices. The totals (second table) stand beside the study's Table 3.4.

# %% tags=["hide-input"]
glue("norm_mul", energy.NORM_OPS[0], display=False)
glue("norm_add", energy.NORM_OPS[1], display=False)
energies = {"reduced float": energy.energy_table(reduced.encoder),
            "quantized <16,6>": energy.energy_table(quantized.encoder)}
per_layer = energy.study_comparison(energies["reduced float"], energies["quantized <16,6>"])
display(tables.styled(per_layer, precision=1).set_caption(f"The study: {TABLE_3_2.source}"))
energy_totals = energy.totals(energies)
qtools_uj = energy_totals["QTools [uJ]"]
glue("energy_float", round(float(qtools_uj["reduced float"]), 3), display=False)
glue("energy_quant", round(float(qtools_uj["quantized <16,6>"]), 3), display=False)
glue("energy_saving", energy.saving(energy_totals), display=False)
glue("study_energy_saving", energy.saving(energy_totals, "study [uJ]"), display=False)
tables.styled(energy_totals, precision=4).set_caption(f"The study: {TABLE_3_4.source}")

# %% [markdown]
# Quantization lowers the estimate from {glue:text}`energy_float` to {glue:text}`energy_quant` µJ
# per image ({glue:text}`energy_saving:.1%` less; the study reports
# {glue:text}`study_energy_saving:.1%`). The saving is QTools' price difference between a 16-bit
# integer and a 16-bit floating-point multiply–accumulate; on an FPGA the larger gain is that
# fixed-point arithmetic maps onto DSP slices and look-up tables without any floating-point logic,
# which QTools does not model.
#
# ## Pruning
#
# Many weights of a trained network can be set to zero at little cost, and hls4ml's latency strategy
# does not build a multiplier for a weight that is zero. Magnitude pruning
# (tensorflow-model-optimization) zeroes the smallest weights of every convolution and dense layer
# of the quantized encoder, ramping the sparsity from 0 to the target over the first half of a short
# fine-tune, in which the pruned encoder learns to reproduce the outputs of the unpruned one on QCD
# training jets.

# %% tags=["hide-input"]
pruned = prune.pruned_reduced(P, 0.5)
macs_nonzero = prune.nonzero_macs(pruned.encoder)
prune_auc = quantize.kl_auc(pruned, qcd, top)
glue("prune_sparsity", prune.sparsity(pruned.encoder), display=False)
glue("prune_auc", round(prune_auc, 3), display=False)
glue("prune_macs", round(macs_nonzero / 1e6, 2), display=False)
tables.styled(report.pruning_table(quantized.encoder, pruned.encoder, q_auc["quantized <16,6>"],
                                   prune_auc), precision=3)

# %% [markdown]
# With {glue:text}`prune_sparsity:.0%` of the kernel weights at zero, the KL total has an AUC of
# {glue:text}`prune_auc:.3f`, and the multiplications an FPGA would build drop to
# {glue:text}`prune_macs` million per image (QTools still prices the zeros as full multiplications).
# The instance normalizations, each a mean, a variance and a division over a whole feature map,
# remain. A smaller network is needed, not only a thinner one.
#
# ## A student for the trigger
#
# Knowledge distillation trains a small *student* to imitate a large *teacher*. The teacher is the
# full float joint VAE of chapter 2; the student sees only QCD training jets, never a label, and
# learns to predict the teacher's logarithmic KL total, which it then outputs directly as the
# anomaly score. It is built from layers hls4ml converts as they are: an average pooling of the
# input to $20 \times 20$, two quantized $3 \times 3$ convolutions (4 and 8 filters) with quantized
# ReLUs and $2 \times 2$ max pooling, one 16-unit quantized dense layer and a linear output, all
# `<16,6>`. No normalization layer, no grouped convolution.

# %% tags=["hide-input"]
student_model = distill.student(P)
student_layers = layer_table(student_model)
paired = distill.paired_scores(teacher, student_model, images)
teacher_auc, student_auc = metrics.auc(paired["teacher"], labels), metrics.auc(paired["student"], labels)
energies["student <16,6>"] = energy.energy_table(student_model)
student_energy = float(energies["student <16,6>"]["energy_nJ"].sum())
glue("teacher_auc", round(teacher_auc, 3), display=False)
glue("student_auc", round(student_auc, 3), display=False)
glue("student_ratio", student_auc / teacher_auc, display=False)
glue("student_goal", distill.STUDENT_GOAL, display=False)
glue("student_verdict", "meets" if student_auc >= distill.STUDENT_GOAL * teacher_auc else "misses",
     display=False)
glue("student_params", student_model.count_params(), display=False)
glue("student_macs", int(student_layers["MACs"].sum()), display=False)
glue("student_energy", round(student_energy, 1), display=False)
glue("student_vs_quant", round(float(qtools_uj["quantized <16,6>"] * 1e3 / student_energy)), display=False)
glue("student_corr", distill.fidelity(paired), display=False)
display(student_layers)
compress_plots.student_panels(paired, labels, {m: kl[m]["kl_total"] for m in kl})
plt.show()

# %% [markdown]
# The student has {glue:text}`student_params` parameters and needs {glue:text}`student_macs`
# multiplications per image. Its score reaches an AUC of {glue:text}`student_auc:.3f`,
# {glue:text}`student_ratio:.1%` of the teacher's {glue:text}`teacher_auc:.3f` (it
# {glue:text}`student_verdict` the goal we set, {glue:text}`student_goal:.0%` of the teacher's AUC,
# `src.compress.distill.STUDENT_GOAL`), and QTools puts one
# inference at {glue:text}`student_energy` nJ, {glue:text}`student_vs_quant` times less than the
# quantized reduced encoder. In the figure, left: the student's score against the teacher's on the
# test jets (correlation {glue:text}`student_corr:.2f`); right: ROC curves of both, with the reduced
# encoders for reference.
#
# ## Summary
#
# Every encoder of this chapter with its size, its cost and its KL-total AUC on the same test jets.
# Energies are QTools' estimates: as QTools computes them (grouped convolutions priced as dense
# ones, zero weights as full multiplications, instance normalization left out), and with the
# multiplications really done plus our instance-norm estimate. The MACs of the pruned encoder count
# only multiplications by a non-zero weight.

# %% tags=["hide-input"]
energies["full float (teacher)"] = energy.energy_table(teacher.encoder)
energies["quantized <16,6>, 50% pruned"] = energies["quantized <16,6>"]  # same formats
tables.styled(report.summary_table({  # (parameters, MACs per image, AUC)
    "full float (teacher)": (teacher.encoder.count_params(), full_macs, teacher_auc),
    "reduced float": (reduced_params, reduced_macs, q_auc["reduced float"]),
    "quantized <16,6>": (reduced_params, reduced_macs, q_auc["quantized <16,6>"]),
    "quantized <16,6>, 50% pruned": (reduced_params, round(macs_nonzero), prune_auc),
    "student <16,6>": (student_model.count_params(), int(student_layers["MACs"].sum()), student_auc),
}, energy.totals(energies)), report.SUMMARY_FORMAT)

# %% [markdown]
# The student is the candidate for the trigger: it approximates the teacher's ranking of jets with a
# few thousand parameters and tens of thousands of multiplications, and it has none of the layers
# that hls4ml cannot convert. Chapter 6 converts it, together with the study's quantized encoder,
# and estimates what each would occupy on the FPGA.
