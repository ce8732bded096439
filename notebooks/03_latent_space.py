# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # The latent space
#
# The joint VAE of chapter 2 has seen only QCD jets. Where does it put jets it has never
# seen? This chapter looks at the encoder's output for test jets of both classes: the 32
# posterior means of the continuous latent and the 20 category probabilities of the
# discrete one. Nothing here uses the decoder, and nothing is trained with labels: the
# labels only colour the points.
#
# Both latents are projected to two dimensions three ways. PCA is linear and keeps large
# distances; t-SNE {cite}`vandermaaten2008` and UMAP {cite}`mcinnes2018` are non-linear
# and keep neighbourhoods, at the price of distances between clusters that mean little.
# A structure that all three show is real; one that only a single method shows may be
# an artefact of its settings.

# %% tags=["parameters"]
profile = "default"

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from myst_nb import glue
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from src.analysis import plots
from src.analysis.latent import category_occupancy, category_profiles, embed, latent_features
from src.config import get_profile
from src.data.splits import split
from src.models.registry import trained

plots.set_style()
P = get_profile(profile)
model = trained(P, "jointvae")
rng = np.random.default_rng(P.seed)
fields = ("images", "jet_mass", "n_constituents")
jets = {}
for process in ("qcd", "top"):
    test = split(P, process, "test", fields)
    keep = np.sort(rng.choice(len(test["images"]), min(P.n_embed, len(test["images"])),
                              replace=False))
    jets[process] = {name: values[keep] for name, values in test.items()}
labels = np.concatenate([np.zeros(len(jets["qcd"]["images"]), int),
                         np.ones(len(jets["top"]["images"]), int)])
images = np.concatenate([jets["qcd"]["images"], jets["top"]["images"]])
features = {"continuous": latent_features(model, images, "continuous"),
            "discrete": latent_features(model, images, "discrete")}
glue("n_embed", int(len(jets["qcd"]["images"])), display=False)

# %% [markdown]
# ## Projections
#
# {glue:text}`n_embed` test jets of each class, drawn at random with the profile's seed.
# Top row: the continuous latent (posterior means); bottom row: the discrete latent
# (category probabilities). The axes of each projection have no physical unit.

# %%
methods = {"umap": "UMAP", "tsne": "t-SNE", "pca": "PCA"}
fig, axes = plt.subplots(2, 3, figsize=(15, 9.5))
for row, (which, x) in enumerate(features.items()):
    for col, (method, title) in enumerate(methods.items()):
        xy = embed(x, method, seed=P.seed)
        ax = axes[row, col]
        for label, process in enumerate(("qcd", "top")):
            sel = labels == label
            ax.scatter(xy[sel, 0], xy[sel, 1], s=3, alpha=0.4, color=plots.COLORS[process],
                       label=f"{plots.LABELS[process]} ({sel.sum()} jets)", rasterized=True)
        ax.set_title(f"{which} latent, {title}")
        ax.set_xlabel(f"{title} 1")
        ax.set_ylabel(f"{title} 2")
        ax.legend(markerscale=4, loc="best")
fig.tight_layout()

# %% [markdown]
# How much of the class information survives in each latent, independently of any
# projection? A logistic regression fitted on the latent features with five-fold
# cross-validation answers this with an AUC. It uses the labels, so it is not an anomaly
# detector: it is an upper bound on what a linear cut in the latent space could do.

# %%
probe = {}
for which, x in features.items():
    predicted = cross_val_predict(LogisticRegression(max_iter=2000), x, labels, cv=5,
                                  method="predict_proba")[:, 1]
    probe[which] = roc_auc_score(labels, predicted)
glue("probe_cont", round(float(probe["continuous"]), 3), display=False)
glue("probe_disc", round(float(probe["discrete"]), 3), display=False)
pd.Series(probe, name="cross-validated AUC of a linear probe").to_frame()

# %% [markdown]
# A linear probe reaches an AUC of only {glue:text}`probe_cont:.3f` on the continuous
# latent and {glue:text}`probe_disc:.3f` on the category probabilities. The projections
# say why: QCD jets form a compact core and top jets lie *around* it, in every
# direction, so that no single direction separates them (PCA, dominated by a few far
# outliers that are all top jets, shows the same core). What sets top jets apart is
# their distance from the core, which is what a KL divergence from the prior measures.
#
# ## Categories
#
# Each jet is assigned its most likely category. The bars give, per class, the fraction
# of jets in each of the 20 categories.

# %%
occupancy = category_occupancy(features["discrete"], np.where(labels, "top", "QCD"))
used = occupancy.index[(occupancy > 0.01).any(axis=1)]
glue("n_used", int(len(used)), display=False)
fig, ax = plt.subplots(figsize=(11, 4))
width = 0.4
for i, process in enumerate(("qcd", "top")):
    ax.bar(occupancy.index + (i - 0.5) * width, occupancy[plots.LABELS[process]], width,
           color=plots.COLORS[process], label=plots.LABELS[process])
ax.set_xticks(occupancy.index)
ax.set_xlabel("most likely category")
ax.set_ylabel("fraction of the class's jets")
ax.legend()
fig.tight_layout()

# %% [markdown]
# {glue:text}`n_used` of the 20 categories hold more than 1% of the jets of either
# class, but QCD jets crowd into a few of them while top jets spread over all: again a
# core of QCD with top jets around it. The table shows what the categories track: the
# mean jet mass and constituent count of the jets in each category, for both classes
# together, and the fraction of top jets in it.

# %%
profiles = category_profiles(features["discrete"], {
    "jet_mass": np.concatenate([jets["qcd"]["jet_mass"], jets["top"]["jet_mass"]]),
    "n_constituents": np.concatenate([jets["qcd"]["n_constituents"],
                                      jets["top"]["n_constituents"]]),
})
profiles["top fraction"] = pd.Series(labels).groupby(
    np.argmax(features["discrete"], axis=1)).mean().reindex(profiles.index)
profiles.loc[used].style.format({"jet_mass_mean": "{:.1f}", "jet_mass_std": "{:.1f}",
                                 "n_constituents_mean": "{:.1f}",
                                 "n_constituents_std": "{:.1f}", "top fraction": "{:.2f}"})

# %% [markdown]
# ## Distance from the prior against jet mass
#
# The length of the vector of posterior means, $|\mu|$, is the distance of a jet from
# the centre of the prior. Against the jet mass and the number of constituents, per
# class:

# %%
norm = np.linalg.norm(features["continuous"], axis=1)
mass = np.concatenate([jets["qcd"]["jet_mass"], jets["top"]["jet_mass"]])
nconst = np.concatenate([jets["qcd"]["n_constituents"], jets["top"]["n_constituents"]])
fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
for ax, (values, name) in zip(axes, ((mass, "jet mass [GeV]"),
                                     (nconst, "number of constituents")), strict=True):
    for label, process in enumerate(("qcd", "top")):
        sel = labels == label
        ax.scatter(values[sel], norm[sel], s=3, alpha=0.4, color=plots.COLORS[process],
                   label=plots.LABELS[process], rasterized=True)
    ax.set_xlabel(name)
    ax.set_ylabel(r"$|\mu|$, length of the posterior means")
    ax.set_yscale("log")
    ax.legend(markerscale=4)
fig.tight_layout()
correlation = {name: float(spearmanr(values, norm).statistic)
               for name, values in (("jet mass", mass), ("constituents", nconst))}
glue("corr_mass", round(correlation["jet mass"], 2), display=False)
glue("corr_nconst", round(correlation["constituents"], 2), display=False)
pd.Series(correlation, name=r"Spearman correlation with |mu|").to_frame()

# %% [markdown]
# The distance from the prior grows with the jet mass (rank correlation
# {glue:text}`corr_mass:.2f`) and with the number of constituents
# ({glue:text}`corr_nconst:.2f`): the encoder, never told about either, has learnt that
# heavy, busy jets are unusual for QCD. The next chapter turns this distance into
# anomaly scores and measures how well they find top jets.
