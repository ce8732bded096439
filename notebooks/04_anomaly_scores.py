# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Anomaly scores and baselines
#
# An anomaly detector trained on background alone must turn each jet into one number
# that is larger for jets unlike the training data. The joint VAE offers two families:
#
# - **latent scores**, from the encoder alone: the KL divergence of a jet's Gaussian
#   posterior from $\mathcal N(0, 1)$ (`kl_cont`), of its category posterior from the
#   uniform distribution (`kl_disc`), and their sum (`kl_total`);
# - **reconstruction scores**, which need the decoder too, as in autoencoder searches for
#   new physics {cite}`farina2020`: the squared error averaged over the pixels (`mse`, the
#   study's energy difference up to a constant factor), the binary cross-entropy of the
#   reconstruction against the input summed over the pixels (`bce`), the Dice loss
#   $1 - 2\sum x \hat x / (\sum x + \sum \hat x)$ (`dice`) and `total` = `bce` + `dice`.
#
# Every score is computed deterministically (posterior means, most likely category), so
# the same jet always gets the same number. That, the correct order of the BCE arguments
# and the correct names of the reconstruction scores are three differences from the
# study's evaluation code.
#
# A number alone says little. We put beside it, on the same test jets: the jet mass
# (one physics variable), a plain autoencoder and a continuous-only VAE with the same
# encoder and decoder, trained the same way, and a supervised CNN with the same encoder
# trunk trained with labels, the ceiling any unsupervised method is measured against.

# %% tags=["parameters", "remove-cell"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown
from myst_nb import glue

from src import style
from src.analysis import comparison, metrics, plots, tables
from src.config import get_profile

style.use()
P = get_profile(profile)
scores = comparison.test_scores(P)
glue("n_test_qcd", len(scores["jointvae"]["qcd"]), display=False)
glue("n_test_top", len(scores["jointvae"]["top"]), display=False)
tables.show(comparison.model_table().rename(columns={"model": "description"})
            .rename_axis("model (folder in models/)"))

# %% [markdown]
# ## The joint VAE's scores
#
# {numref}`fig-scores-histograms` shows the distributions of the seven scores for
# {glue:text}`n_test_qcd` QCD and {glue:text}`n_test_top` top test jets (the study's
# figure 3.10).
#
# ```{glue:figure} fig_score_histograms
# :name: fig-scores-histograms
#
# Normalized distributions of the joint VAE's seven scores for QCD and top test jets,
# between the 0.5% and 99.5% quantiles of both classes together, on logarithmic density
# axes (and logarithmic score axes for the KL divergences). KL divergences are in nats;
# the BCE is summed over the 1600 pixels of the unit-sum images (nats), the squared error
# averaged over them; the Dice loss is a ratio between 0 and 1.
# ```

# %% tags=["hide-input"]
plots.score_histograms(scores["jointvae"], ("qcd", "top"))
glue("fig_score_histograms", plt.gcf(), display=False)
plt.close()

# %% [markdown]
# ## Every score beside its baselines
#
# Area under the ROC curve (top jets as signal, QCD jets as background) and the top-jet
# efficiency at a QCD efficiency (false positive rate) of 10% and 1%, with standard
# deviations from 200 stratified bootstrap replicates. The study's numbers (its Table 1
# for the KL scores, the ROC legends of its thesis figure for the reconstruction scores:
# {glue:md}`study_source`) were obtained on the
# public reference dataset with its own detector simulation; they are a guide to the
# order of magnitude, not a target for the digits.

# %% tags=["hide-input"]
top_table = comparison.comparison(scores, comparison.ROWS, "top", seed=P.seed)
best_latent = top_table.loc[comparison.LATENT_ROWS, "auc"].idxmax()
best_auc = top_table.loc[best_latent, "auc"]
cnn_auc = top_table.loc["supervised CNN", "auc"]
glue("auc_kl_total", round(float(top_table.loc["JointVAE KL total", "auc"]), 3), display=False)
glue("best_latent", best_latent, display=False)
glue("best_latent_auc", round(float(best_auc), 3), display=False)
glue("cnn_auc", round(float(cnn_auc), 3), display=False)
glue("cnn_gap", round(float(cnn_auc - best_auc), 3), display=False)
glue("mass_auc", round(float(top_table.loc["jet mass", "auc"]), 3), display=False)
glue("study_source", Markdown(comparison.source_note()), display=False)
tables.show(comparison.with_study(top_table, comparison.ROWS), 1)

# %% [markdown]
# The best latent score, {glue:text}`best_latent`, reaches an AUC of
# {glue:text}`best_latent_auc:.3f`; the supervised CNN, trained with the labels this
# method never sees, reaches {glue:text}`cnn_auc:.3f`, a gap of
# {glue:text}`cnn_gap:.3f`. The jet mass alone gives {glue:text}`mass_auc:.3f`.
#
# That last number is the sobering one: in AUC, the unsupervised model does no better than
# a single physics variable. Chapter 3 showed why: the distance of a jet's posterior from
# the prior grows with its mass. The KL scores are not *only* the mass, though. Where a
# trigger would operate, at low background rates, they reject far more QCD than a one-sided
# mass cut (a window around the top mass, which must know the signal, does better still;
# chapter 7): at {glue:text}`eff_point:.0%` top efficiency the KL total keeps one QCD jet in
# {glue:text}`rej_kl:.0f`, a mass cut one in {glue:text}`rej_mass:.0f` (the ROC curves
# below). The squared error, the study's "energy difference", fails as it did in the
# study: a jet's pixels are normalized to unit sum, and a top jet, spread over more
# pixels, has *smaller* squared differences to a smooth average than a QCD jet with one
# bright core. The BCE, which weights the empty pixels, does not have that problem.
#
# ## ROC curves
#
# {numref}`fig-scores-roc` shows the background rejection (1 / QCD efficiency) against
# the top efficiency, the study's figure 3.11, for the latent scores, the best
# reconstruction scores and the baselines.
#
# ```{glue:figure} fig_roc
# :name: fig-scores-roc
#
# ROC curves of top (signal) against QCD (background) test jets, each score in its own
# colour and line style; the dotted line is a random tagger, the grey dashed line the
# working point of a 10% QCD efficiency. The KL total (solid) and the KL continuous
# (dashed) coincide: their AUCs are {glue:text}`auc_kl_total_4:.4f` and
# {glue:text}`auc_kl_cont_4:.4f`, because the discrete KL that the total adds averages
# {glue:text}`kl_disc_top:.1e` nats on the top test jets, against
# {glue:text}`kl_cont_top:.2f` nats for the continuous KL.
# ```

# %% tags=["hide-input"]
values, labels = comparison.stacked(scores, comparison.ROC_ROWS, "top")
efficiency = 0.3
glue("eff_point", efficiency, display=False)
glue("rej_kl", round(metrics.rejection(values["JointVAE KL total"], labels, efficiency), 1),
     display=False)
glue("rej_mass", round(metrics.rejection(values["jet mass"], labels, efficiency), 1),
     display=False)
glue("auc_kl_total_4", float(top_table.loc["JointVAE KL total", "auc"]), display=False)
glue("auc_kl_cont_4", float(top_table.loc["JointVAE KL continuous", "auc"]), display=False)
glue("kl_disc_top", float(scores["jointvae"]["top"]["kl_disc"].mean()), display=False)
glue("kl_cont_top", float(scores["jointvae"]["top"]["kl_cont"].mean()), display=False)
fig, ax = plt.subplots(figsize=style.figsize(6.0), layout="constrained")
plots.roc_curves(metrics.roc_set(values, labels), ax=ax, legend_below=True)
glue("fig_roc", fig, display=False)
plt.close(fig)

# %% [markdown]
# ## Does it find a signal it was not designed for?
#
# An anomaly detector earns its name only if it also flags signals nobody had in mind.
# The same models, unchanged, against the W jets of chapter 1: two-prong jets with a
# mass near 80 GeV, harder to tell from QCD than three-prong top jets.

# %% tags=["hide-input"]
w_table = comparison.comparison(scores, comparison.ROWS, "w", seed=P.seed)
glue("w_auc_kl_total", round(float(w_table.loc["JointVAE KL total", "auc"]), 3), display=False)
glue("w_auc_cnn", round(float(w_table.loc["supervised CNN", "auc"]), 3), display=False)
glue("w_tpr_kl", round(float(w_table.loc["JointVAE KL total", "tpr@fpr=0.1"]), 3),
     display=False)
tables.show(pd.concat([
    tables.with_errors(w_table, {"AUC, W vs QCD [%]": "auc", "W efficiency at 10% QCD [%]":
                                 "tpr@fpr=0.1"}),
    tables.with_errors(top_table, {"AUC, top vs QCD [%]": "auc"})], axis=1))

# %% [markdown]
# The KL total reaches an AUC of {glue:text}`w_auc_kl_total:.3f` for W jets, the
# supervised CNN, trained on top jets, {glue:text}`w_auc_cnn:.3f`: neither is a good W
# tagger, and the supervised one has no advantage on a signal it was not trained for.
# At a QCD efficiency of 10% the KL total keeps only {glue:text}`w_tpr_kl:.1%` of the W
# jets, less than a random cut would: the score's tail is made of heavy jets, and W jets,
# at 80 GeV, sit in the middle of the QCD mass distribution rather than in its tail.
#
# ## The inverted task
#
# Train the same joint VAE on top jets and ask it to find QCD jets. Plain autoencoders
# are known to fail here {cite}`heimel2019,finke2021`: a QCD jet, with its one bright
# core, is *simpler* than a top jet and is reconstructed well by a model trained on
# anything, so its reconstruction error is low and it is not flagged. A score that works
# in both directions measures something closer to "unlike the training data" than to
# "complex".

# %% tags=["hide-input"]
inverted = comparison.comparison(scores, comparison.INVERTED_ROWS, "qcd", background="top",
                                 seed=P.seed)
glue("inv_auc_kl_total", round(float(inverted.loc["JointVAE KL total", "auc"]), 3),
     display=False)
glue("inv_auc_mse", round(float(inverted.loc["JointVAE squared error", "auc"]), 3),
     display=False)
tables.show(pd.concat([
    tables.with_errors(inverted, {"AUC, QCD found by a top-trained model [%]": "auc"}),
    tables.with_errors(top_table.loc[inverted.index],
                       {"AUC, top found by a QCD-trained model [%]": "auc"})], axis=1))

# %% [markdown]
# Trained on top jets, the joint VAE's KL total finds QCD jets with an AUC of
# {glue:text}`inv_auc_kl_total:.3f`, far below the coin toss at 0.5: it ranks QCD jets as
# *more* typical than the top jets it was trained on. The squared reconstruction error,
# useless in the normal direction, finds QCD jets with {glue:text}`inv_auc_mse:.3f`,
# because the collapsed decoder now draws an average *top* jet, from which a one-core QCD
# jet is far. So neither family of scores measures "unlike the training data" in
# general: with this strong KL weight the latent scores behave like a measure of how
# massive and busy a jet is. That is what finds top jets among QCD jets, and it is worth
# knowing before such a score is trusted to find an unknown signal. Chapter 7 asks whether
# another KL weight, other inputs or another score fix it, with several training seeds.
