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
# A trigger decides within about a microsecond whether to keep a collision, on FPGAs that
# are shared with everything else the trigger does. The encoder of chapter 2, with its
# {glue:text}`full_params` parameters and {glue:text}`full_macs` million multiplications
# per image, is far from that.
# The study took two steps towards it, and this chapter repeats them:
#
# 1. a **reduced encoder** with the same residual layout but three narrow stages
#    (16, 20 and 4 filters) and a linear `conv_fin` layer before the dense heads, trained
#    as a joint VAE with the full decoder, exactly like the big one;
# 2. **quantization-aware training** (QAT) with QKeras: kernels, biases and activations
#    become fixed-point numbers `<16,6>`, QKeras' `quantized_bits(16, 6)`: 16 bits, of
#    which 6 are integer bits besides the sign (hls4ml's `ap_fixed<16,7>`; its default
#    `ap_fixed<16,6>` counts the sign among the integer bits). During training the
#    forward pass rounds to that grid, while the gradients update float shadow weights.
#
# It then follows the study's own outlook one step further: **magnitude pruning** of the
# quantized encoder, and **knowledge distillation** into a student network small enough
# for a trigger. Only the encoder matters for the KL scores, so only the encoder is
# compressed; the decoder is needed for training only.

# %% tags=["parameters"]
profile = "default"

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from myst_nb import glue

from src.analysis import plots
from src.analysis.metrics import auc, metrics_table, roc
from src.backend import keras, tf
from src.compress import distill, energy, quantize
from src.config import get_profile, models_dir
from src.data.splits import split_images
from src.models.networks import count_macs
from src.models.registry import trained
from src.models.store import read_record

plots.set_style()
tf.get_logger().setLevel("ERROR")  # no retracing or deprecation notices in the book
P = get_profile(profile)
qcd, top = split_images(P, "qcd", "test"), split_images(P, "top", "test")
labels = np.concatenate([np.zeros(len(qcd)), np.ones(len(top))])
teacher = trained(P, "jointvae")
reduced = quantize.float_reduced(P)
quantized = quantize.quantized_reduced(P)
qat_record = read_record(models_dir(P) / "reduced_q16_6")


def kl_total_auc(model) -> float:
    """KL-total AUC of a joint VAE on this chapter's test jets."""
    return quantize.kl_auc(model, qcd, top)


def styled(frame: pd.DataFrame, *args, **kwargs):
    """A formatted table whose labels may contain "<" and ">" (as in <16,6>)."""
    return (frame.style.format(*args, **kwargs).format_index(escape="html", axis=0)
            .format_index(escape="html", axis=1))


glue("n_test_qcd", len(qcd), display=False)
glue("n_test_top", len(top), display=False)
glue("qat_epochs", qat_record["train"]["epochs"], display=False)
glue("qat_lr", qat_record["train"]["learning_rate"], display=False)
glue("full_params", f"{teacher.encoder.count_params():,}", display=False)
glue("full_macs", round(sum(count_macs(teacher.encoder).values()) / 1e6, 1), display=False)

# %% [markdown]
# ## The reduced encoder
#
# Every convolution and dense layer, with the names of the study's Table 3.2, its output
# shape, parameters and multiply–accumulate operations (MACs) per image. Grouped
# convolutions (4 groups, 2 for `conv_fin`) keep every convolution under the 1024
# parameters per layer that the thesis gives as Vivado HLS's limit; the dense heads stay
# under the paper's 2048. The instance normalizations (two parameters per channel) and
# the activations sit between these layers.

# %%
macs = count_macs(reduced.encoder)
layers = pd.DataFrame([
    {"layer": layer.name, "output shape": str(layer.output_shape[1:]),
     "parameters": layer.count_params(), "MACs": macs[layer.name]}
    for layer in reduced.encoder.layers if layer.name in macs
]).set_index("layer")
params = {"reduced": reduced.encoder.count_params(), "full": teacher.encoder.count_params()}
glue("reduced_params", params["reduced"], display=False)
glue("reduced_macs", round(sum(macs.values()) / 1e6, 2), display=False)
glue("reduced_ratio", round(params["full"] / params["reduced"]), display=False)
glue("first_stage_share", sum(v for k, v in macs.items() if "_b0" in k) / sum(macs.values()),
     display=False)
layers

# %% [markdown]
# The encoder has {glue:text}`reduced_params` parameters, {glue:text}`reduced_ratio`
# times fewer than the full one, and needs {glue:text}`reduced_macs` million MACs per
# image, {glue:text}`first_stage_share:.0%` of them in the first stage, where the
# $20 \times 20$ feature maps are.
#
# ## Weights before and after quantization
#
# The quantized twin starts from the trained float weights and is fine-tuned for
# {glue:text}`qat_epochs` epoch(s) at a learning rate of {glue:text}`qat_lr`. In `<16,6>`
# a weight is a multiple of $2^{-9} \approx 0.002$ between $-64$ and $64$. The figures
# show the kernels per layer as the quantizer delivers them to the convolution, beside
# the float model's (the study's figures 3.12 and 3.13): histograms on the left,
# whiskers spanning the minimum to the maximum on the right, with the box from the first
# to the third quartile.

# %%
float_kernels = quantize.kernels(reduced.encoder, quantized=False)
quant_kernels = quantize.kernels(quantized.encoder, quantized=True)
all_quant = np.concatenate(list(quant_kernels.values()))
edge = 1.05 * max(np.abs(np.concatenate(list(float_kernels.values()))).max(),
                  np.abs(all_quant).max())
glue("q_zero_fraction", float(np.mean(all_quant == 0)), display=False)
glue("q_max_weight", round(float(np.abs(all_quant).max()), 2), display=False)
activations = keras.Model(reduced.encoder.input, [layer.output for layer in reduced.encoder.layers
                                                  if layer.name.endswith("_act")])
act_max = max(float(np.abs(a).max()) for a in activations.predict(
    np.concatenate([qcd[:500], top[:500]])[..., None], verbose=0))
glue("act_max", round(act_max, 1), display=False)
glue("act_int", max(0, int(np.ceil(np.log2(act_max)))), display=False)
fig, axes = plt.subplots(1, 3, figsize=(17, 5.5), gridspec_kw={"width_ratios": [1, 1, 1.3]})
for ax, (title, kernels) in zip(axes[:2], (("float reduced encoder", float_kernels),
                                           ("quantized <16,6> encoder", quant_kernels)),
                                strict=True):
    for name, w in kernels.items():
        ax.hist(w, bins=np.linspace(-edge, edge, 121), histtype="step", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("kernel weight")
    ax.set_ylabel("weights per bin")
    ax.set_title(title)
axes[0].legend(fontsize=6, ncol=2)
names = list(float_kernels)
positions = np.arange(len(names))
for offset, kernels, colour, label in ((-0.2, float_kernels, "C0", "float"),
                                       (0.2, quant_kernels, "C3", "quantized <16,6>")):
    parts = axes[2].boxplot([kernels[n] for n in names], positions=positions + offset,
                            widths=0.35, orientation="horizontal", whis=(0, 100),
                            showfliers=False, patch_artist=True)
    for box in parts["boxes"]:
        box.set(facecolor=colour, alpha=0.5)
    axes[2].plot([], [], "s", color=colour, alpha=0.5, label=label)
axes[2].set_yticks(positions, names, fontsize=7)
axes[2].set_xlabel("kernel weight (whiskers: minimum to maximum)")
axes[2].set_ylabel("layer")
axes[2].legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
fig.tight_layout()

# %% [markdown]
# The grid step is much finer than the spread of the weights, whose largest magnitude is
# {glue:text}`q_max_weight`, far inside the range of $\pm 64$; the smallest weights are
# rounded to zero, {glue:text}`q_zero_fraction:.1%` of all kernel weights. The
# activations of the float encoder reach {glue:text}`act_max` in magnitude on 1000 test
# jets, a range that {glue:text}`act_int` integer bits cover; `<16,6>` reserves 6.
#
# ## Anomaly detection, float against quantized
#
# The three KL scores of both reduced encoders on the same
# {glue:text}`n_test_qcd` QCD and {glue:text}`n_test_top` top test jets, with bootstrap
# standard deviations, beside the study's Table 3.3 (obtained on its own dataset).

# %%
kl = {"reduced float": {"qcd": quantize.kl_scores(reduced, qcd),
                        "top": quantize.kl_scores(reduced, top)},
      "quantized <16,6>": {"qcd": quantize.kl_scores(quantized, qcd),
                           "top": quantize.kl_scores(quantized, top)}}
names = {"kl_disc": "KL discrete", "kl_cont": "KL continuous", "kl_total": "KL total"}
rows = []
for model_name, parts in kl.items():
    table = metrics_table(parts["qcd"], parts["top"], fprs=(0.1,), seed=P.seed)
    for score, label in names.items():
        study_tpr, study_auc = quantize.STUDY_TABLE_3_3[(model_name, score)]
        rows.append({"model": model_name, "score": label,
                     "AUC [%]": f"{100 * table.loc[score, 'auc']:.1f} ± "
                                f"{100 * table.loc[score, 'auc_std']:.1f}",
                     "TPR @ FPR 10% [%]": f"{100 * table.loc[score, 'tpr@fpr=0.1']:.1f} ± "
                                          f"{100 * table.loc[score, 'tpr@fpr=0.1_std']:.1f}",
                     "study AUC [%]": study_auc, "study TPR @ FPR 10% [%]": study_tpr,
                     "auc": table.loc[score, "auc"]})
comparison = pd.DataFrame(rows).set_index(["model", "score"])
q_auc = {m: float(comparison.loc[(m, "KL total"), "auc"]) for m in kl}
glue("q_auc_float", round(q_auc["reduced float"], 3), display=False)
glue("q_auc_quant", round(q_auc["quantized <16,6>"], 3), display=False)
q_change = q_auc["quantized <16,6>"] - q_auc["reduced float"]
glue("q_auc_change", round(q_change, 3), display=False)
glue("q_verdict", "within" if abs(q_change) <= 0.03 else "outside", display=False)
comparison.drop(columns="auc")

# %% [markdown]
# The KL total reaches an AUC of {glue:text}`q_auc_float:.3f` with the float reduced
# encoder and {glue:text}`q_auc_quant:.3f` with its quantized twin, a change of
# {glue:text}`q_auc_change:+.3f`, {glue:text}`q_verdict` the 0.03 we allowed. In the
# study, quantization cost 3.5 points of AUC.
#
# ## How many bits?
#
# `<16,6>` was the study's choice, not a measured need. The scan below keeps 6 integer
# bits and lowers the total, so every bit removed is a fractional one: at 8 bits the
# grid step is 0.5 and at 7 or fewer it is 1 or more, coarser than nearly every weight.
# Three series: quantization-aware training of the encoder alone, which learns in
# {glue:text}`scan_epochs` epochs on (at most) {glue:text}`scan_jets` QCD training jets
# to reproduce the float encoder's outputs, a much cheaper recipe than the full joint-VAE
# fine-tune above; and post-training quantization (the float weights rounded, no
# training) at 6 and at 3 integer bits.

# %%
scan_qat = quantize.bit_scan(P)
scan_ptq = pd.concat([quantize.bit_scan(P, integer_bits=i, epochs=0) for i in (6, 3)])
glue("scan_jets", quantize.SCAN_JETS, display=False)
glue("scan_epochs", quantize.SCAN_EPOCHS, display=False)
fig, ax = plt.subplots(figsize=(8, 5))
ax.plot(scan_qat["bits"], scan_qat["auc"], "o-", label="encoder QAT, 6 integer bits")
for (integer, part), marker in zip(scan_ptq.groupby("integer_bits"), ("v--", "^:"),
                                   strict=True):
    ax.plot(part["bits"], part["auc"], marker, label=f"post-training, {integer} integer bits")
ax.plot([16], [q_auc["quantized <16,6>"]], "*", ms=14, color="k",
        label="joint-VAE QAT <16,6> (table above)")
ax.axhline(q_auc["reduced float"], color="grey", ls="--", lw=1, label="float reduced encoder")
ax.axhline(0.5, color="grey", ls=":", lw=1, label="random guess")
ax.set_xlabel("total bits of kernels, biases and activations")
ax.set_ylabel("KL-total AUC, top vs QCD")
ax.set_xticks(quantize.SCAN_BITS)
ax.legend(fontsize=8)
fig.tight_layout()
ptq6 = scan_ptq[scan_ptq["integer_bits"] == 6].set_index("bits")["auc"]
ptq3 = scan_ptq[scan_ptq["integer_bits"] == 3].set_index("bits")["auc"]
glue("ptq6_8", round(float(ptq6.loc[8]), 3), display=False)
glue("ptq3_8", round(float(ptq3.loc[8]), 3), display=False)
glue("qat_8", round(float(scan_qat.set_index("bits").loc[8, "auc"]), 3), display=False)
scan = pd.concat([scan_qat, scan_ptq]).pivot_table(index="bits", columns=["epochs",
                                                                           "integer_bits"],
                                                   values="auc")
scan.columns = [f"{'encoder QAT' if e else 'post-training'}, {i} integer bits"
                for e, i in scan.columns]
styled(scan, precision=3)

# %% [markdown]
# At 8 bits with 6 integer bits, rounding alone leaves an AUC of {glue:text}`ptq6_8:.3f`
# and the encoder QAT gives {glue:text}`qat_8:.3f`; the same 8 bits split as 3 integer
# and 4 fractional bits give {glue:text}`ptq3_8:.3f` without any training. Once the grid
# step exceeds almost every weight, the encoder is left with a handful of non-zero
# weights and its score approaches a constant (AUC 0.5). How the bits are split between
# the integer and the fractional part matters as much as how many there are.
#
# ## Energy per inference
#
# QTools, shipped inside QKeras, estimates the energy of one inference from the
# operation counts and the data types of every layer, with per-operation energies of a
# 45 nm process. The input image is read as `<16,6>` numbers, float layers are priced as
# 16-bit floating point, QKeras layers at their quantizers' widths. Two caveats, both
# shared with the study: QTools prices a grouped convolution as if it were dense (the
# column "grouped MACs" rescales the arithmetic to the multiplications really done), and
# it does not know instance normalization, which we price ourselves
# ({glue:text}`norm_mul` multiplications and {glue:text}`norm_add` additions per
# element, rows marked "estimate"). Energies do not depend on the weights, only on the
# architecture and the number formats.

# %%
glue("norm_mul", energy.NORM_OPS[0], display=False)
glue("norm_add", energy.NORM_OPS[1], display=False)
energies = {"reduced float": energy.energy_table(reduced.encoder),
            "quantized <16,6>": energy.energy_table(quantized.encoder)}
per_layer = energy.study_comparison(energies["reduced float"], energies["quantized <16,6>"])
styled(per_layer, precision=1)

# %% [markdown]
# Per layer, our float numbers are the study's Table 3.2: the architecture is the same,
# and so are QTools' prices. The totals, beside the study's Table 3.4:

# %%
energy_totals = energy.totals(energies)
saving = 1 - (energy_totals.loc["quantized <16,6>", "QTools [uJ]"]
              / energy_totals.loc["reduced float", "QTools [uJ]"])
glue("energy_float", round(float(energy_totals.loc["reduced float", "QTools [uJ]"]), 3),
     display=False)
glue("energy_quant", round(float(energy_totals.loc["quantized <16,6>", "QTools [uJ]"]), 3),
     display=False)
glue("energy_saving", float(saving), display=False)
styled(energy_totals, precision=4)

# %% [markdown]
# Quantization lowers the estimate from {glue:text}`energy_float` to
# {glue:text}`energy_quant` µJ per image ({glue:text}`energy_saving:.1%` less; the study
# reports 39.2%). The saving is QTools' price difference between a 16-bit integer and a
# 16-bit floating-point multiply–accumulate; on an FPGA the larger gain is that
# fixed-point arithmetic maps onto DSP slices and look-up tables without any
# floating-point logic, which QTools does not model.
#
# ## Pruning
#
# Many weights of a trained network can be set to zero at little cost, and hls4ml's
# latency strategy does not build a multiplier for a weight that is zero. Magnitude
# pruning (tensorflow-model-optimization) zeroes the smallest weights of every
# convolution and dense layer of the quantized encoder, ramping the sparsity from 0 to
# the target over the first half of a short fine-tune, in which the pruned encoder
# learns to reproduce the outputs of the unpruned one on QCD training jets.

# %%
pruned = distill.pruned_reduced(P, 0.5)
pruned_kernels = quantize.kernels(pruned.encoder, quantized=True)
macs_nonzero = sum(macs[name] * float(np.mean(w != 0)) for name, w in pruned_kernels.items())
prune_auc = kl_total_auc(pruned)
glue("prune_sparsity", distill.sparsity(pruned.encoder), display=False)
glue("prune_auc", round(prune_auc, 3), display=False)
glue("prune_macs", round(macs_nonzero / 1e6, 2), display=False)
styled(pd.DataFrame({"KL-total AUC": [q_auc["quantized <16,6>"], prune_auc],
                     "zero kernel weights": [float(np.mean(all_quant == 0)),
                                             distill.sparsity(pruned.encoder)],
                     "MACs with a non-zero weight [M]": [sum(macs.values()) / 1e6,
                                                         macs_nonzero / 1e6]},
                    index=["quantized <16,6>", "quantized <16,6>, pruned"]), precision=3)

# %% [markdown]
# With {glue:text}`prune_sparsity:.0%` of the kernel weights at zero, the KL total has
# an AUC of {glue:text}`prune_auc:.3f`, and the multiplications an FPGA would build drop
# to {glue:text}`prune_macs` million per image (QTools still prices the zeros as full
# multiplications). The instance normalizations, each a mean, a variance and a
# division over a whole feature map, remain. A smaller network is needed, not only a
# thinner one.
#
# ## A student for the trigger
#
# Knowledge distillation trains a small *student* to imitate a large *teacher*. The
# teacher is the full float joint VAE of chapter 2; the student sees only QCD training
# jets, never a label, and learns to predict the teacher's logarithmic KL total, which
# it then outputs directly as the anomaly score. It is built from layers hls4ml
# converts as they are: an average pooling of the input to $20 \times 20$, two
# quantized $3 \times 3$ convolutions (4 and 8 filters) with quantized ReLUs and
# $2 \times 2$ max pooling, one 16-unit quantized dense layer and a linear output, all
# `<16,6>`. No normalization layer, no grouped convolution.

# %%
student_model = distill.student(P)
student_macs_per_layer = count_macs(student_model)
teacher_scores = np.concatenate([quantize.kl_scores(teacher, x)["kl_total"] for x in (qcd, top)])
student_values = np.concatenate([distill.student_scores(student_model, x) for x in (qcd, top)])
teacher_auc, student_auc = auc(teacher_scores, labels), auc(student_values, labels)
student_macs = sum(student_macs_per_layer.values())
energies["student"] = energy.energy_table(student_model)
student_energy = energies["student"]["energy_nJ"].sum()
glue("teacher_auc", round(teacher_auc, 3), display=False)
glue("student_auc", round(student_auc, 3), display=False)
glue("student_ratio", student_auc / teacher_auc, display=False)
glue("student_verdict", "meets" if student_auc >= 0.95 * teacher_auc else "misses",
     display=False)
glue("student_params", student_model.count_params(), display=False)
glue("student_macs", student_macs, display=False)
glue("student_energy", round(float(student_energy), 1), display=False)
glue("student_vs_quant", round(float(energy_totals.loc["quantized <16,6>", "QTools [uJ]"]
                                      * 1e3 / student_energy)), display=False)
glue("student_corr", float(np.corrcoef(np.log(np.maximum(teacher_scores, distill.KL_FLOOR)),
                                       student_values)[0, 1]), display=False)
pd.DataFrame([
    {"layer": layer.name, "type": type(layer).__name__, "output shape": str(layer.output_shape[1:]),
     "parameters": layer.count_params(), "MACs": student_macs_per_layer.get(layer.name, 0)}
    for layer in student_model.layers[1:]
]).set_index("layer")

# %% [markdown]
# The student has {glue:text}`student_params` parameters and needs
# {glue:text}`student_macs` multiplications per image. Its score reaches an AUC of
# {glue:text}`student_auc:.3f`, {glue:text}`student_ratio:.1%` of the teacher's
# {glue:text}`teacher_auc:.3f` (it {glue:text}`student_verdict` the goal of 95%), and
# QTools puts one inference at {glue:text}`student_energy` nJ,
# {glue:text}`student_vs_quant` times less than the quantized reduced encoder. Left: the student's score against the teacher's on the test
# jets (correlation {glue:text}`student_corr:.2f`); right: ROC curves of both, with the
# reduced encoders for reference.

# %%
fig, axes = plt.subplots(1, 2, figsize=(15, 5.5))
n_qcd = len(qcd)
for name, part in (("qcd", slice(0, n_qcd)), ("top", slice(n_qcd, None))):
    axes[0].scatter(teacher_scores[part], student_values[part], s=3, alpha=0.3,
                    color=plots.COLORS[name], label=plots.LABELS[name])
axes[0].set_xscale("log")
axes[0].set_xlabel("teacher KL total [nats]")
axes[0].set_ylabel("student score (predicted log KL total, standardized)")
axes[0].legend(markerscale=4)
curves = {}
for label, values in (("teacher (full float joint VAE)", teacher_scores),
                      ("student", student_values),
                      ("reduced float", np.concatenate([kl["reduced float"][p]["kl_total"]
                                                        for p in ("qcd", "top")])),
                      ("quantized <16,6>", np.concatenate([kl["quantized <16,6>"][p]["kl_total"]
                                                           for p in ("qcd", "top")]))):
    fpr, tpr, _ = roc(values, labels)
    curves[f"{label} (AUC {auc(values, labels):.3f})"] = (fpr, tpr)
plots.roc_curves(curves, ax=axes[1])
axes[1].set_title("top (signal) against QCD (background), test jets")
fig.tight_layout()

# %% [markdown]
# ## Summary
#
# Every encoder of this chapter with its size, its cost and its KL-total AUC on the same
# test jets. Energies are QTools' estimates: as QTools computes them (grouped
# convolutions priced as dense ones, zero weights as full multiplications, instance
# normalization left out), and with the multiplications really done plus our
# instance-norm estimate. The MACs of the pruned encoder count only multiplications by
# a non-zero weight.

# %%
energies["full float (teacher)"] = energy.energy_table(teacher.encoder)
all_totals = energy.totals(energies)
rows = {"full float (teacher)": ("full float (teacher)", params["full"],
                                 sum(count_macs(teacher.encoder).values()), teacher_auc),
        "reduced float": ("reduced float", params["reduced"], sum(macs.values()),
                          q_auc["reduced float"]),
        "quantized <16,6>": ("quantized <16,6>", params["reduced"], sum(macs.values()),
                             q_auc["quantized <16,6>"]),
        "quantized <16,6>, 50% pruned": ("quantized <16,6>", params["reduced"],
                                         round(macs_nonzero), prune_auc),
        "student <16,6>": ("student", student_model.count_params(), student_macs, student_auc)}
summary = pd.DataFrame.from_dict({
    name: {"parameters": n_params, "MACs per image": n_macs,
           "energy, QTools [nJ]": 1e3 * all_totals.loc[table, "QTools [uJ]"],
           "energy, grouped MACs + norm [nJ]":
               1e3 * all_totals.loc[table, "grouped MACs, with norm [uJ]"],
           "KL-total AUC": value}
    for name, (table, n_params, n_macs, value) in rows.items()}, orient="index")
styled(summary, {"parameters": "{:,.0f}", "MACs per image": "{:,.0f}",
                 "energy, QTools [nJ]": "{:,.1f}", "energy, grouped MACs + norm [nJ]": "{:,.1f}",
                 "KL-total AUC": "{:.3f}"})

# %% [markdown]
# The student is the candidate for the trigger: it approximates the teacher's ranking of
# jets with a few thousand parameters and tens of thousands of multiplications, and it
# has none of the layers that hls4ml cannot convert. Chapter 6 converts it, together
# with the study's quantized encoder, and estimates what each would occupy on the FPGA.
