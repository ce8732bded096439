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

# %% tags=["parameters", "remove-cell"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
from myst_nb import glue

from src import style
from src.analysis import latent, plots, tables
from src.analysis.scores import kl_disc
from src.config import get_profile
from src.models.registry import trained

style.use()
P = get_profile(profile)
model = trained(P, "jointvae")
jets = latent.test_subsample(P, P.n_embed, ("images", "jet_mass", "n_constituents"))
labels = jets.labels
features = {"continuous": latent.latent_features(model, jets.values["images"], "continuous"),
            "discrete": latent.latent_features(model, jets.values["images"], "discrete")}
glue("n_embed", jets.counts["qcd"], display=False)

# %% [markdown]
# ## Projections
#
# {numref}`fig-latent-projections` projects {glue:text}`n_embed` test jets of each class,
# drawn at random with the profile's seed: the continuous latent (posterior means) in the
# top row, the discrete latent (category probabilities) in the bottom row.
#
# ```{glue:figure} fig_projections
# :name: fig-latent-projections
#
# UMAP, t-SNE and PCA projections of the continuous (top) and discrete (bottom) latents of
# QCD (blue) and top (red) test jets. The points are drawn in a random order, so neither
# class hides the other; the lines are density contours of each class enclosing 50% and
# 90% of its jets. Each axis spans the central 98% of the points (plus a margin), so
# the few far outliers of PCA do not squeeze the rest into a corner. The axes of a
# projection have no physical unit.
# ```

# %% tags=["hide-input"]
plots.projections(latent.embeddings(features, ("umap", "tsne", "pca"), seed=P.seed), labels)
glue("fig_projections", plt.gcf(), display=False)
plt.close()

# %% [markdown]
# How much of the class information survives in each latent, independently of any
# projection? A logistic regression fitted on the latent features with five-fold
# cross-validation answers this with an AUC. It uses the labels, so it is not an anomaly
# detector: it is an upper bound on what a linear cut in the latent space could do.

# %% tags=["hide-input"]
probe = latent.probe_auc(features, labels)
glue("probe_cont", round(float(probe["continuous"]), 3), display=False)
glue("probe_disc", round(float(probe["discrete"]), 3), display=False)
tables.show(probe.rename("AUC of a linear probe (5-fold cross-validated)").rename_axis("latent"))

# %% [markdown]
# A linear probe reaches an AUC of only {glue:text}`probe_cont:.3f` on the continuous
# latent and {glue:text}`probe_disc:.3f` on the category probabilities. The projections
# say why: QCD jets form a compact core and top jets lie *around* it, in every
# direction, so that no single direction separates them (PCA shows the same core). What
# sets top jets apart is their distance from the core, which is what a KL divergence from
# the prior measures.
#
# ## Categories
#
# The study expected the 20 categories of the discrete latent to sort jets into 20
# clusters. At $\beta = 3000$ they do not, and the discrete latent carries next to no
# information: over these test jets the category posterior's KL divergence from
# uniform averages {glue:text}`kl_disc_mean:.2g` nats (at most $\ln 20$ =
# {glue:text}`kl_disc_max:.2f` nats), and the most likely category of a jet has on average
# a probability of {glue:text}`p_max_mean:.4f`, against {glue:text}`p_uniform:.4f` for
# a uniform guess. No projection of the bottom row shows 20 clusters.
#
# Each jet is still assigned its most likely category. {numref}`fig-latent-categories`
# gives, per class, the fraction of jets in each of the 20 categories.
#
# ```{glue:figure} fig_categories
# :name: fig-latent-categories
#
# Fraction of the QCD (blue) and top (red) test jets whose most likely category is each
# of the 20 categories.
# ```

# %% tags=["hide-input"]
probabilities = features["discrete"]
glue("kl_disc_mean", float(kl_disc(np.log(probabilities)).mean()), display=False)
glue("kl_disc_max", float(np.log(probabilities.shape[1])), display=False)
glue("p_max_mean", float(probabilities.max(axis=1).mean()), display=False)
glue("p_uniform", 1 / probabilities.shape[1], display=False)
occupancy = latent.category_occupancy(probabilities, labels)
used = latent.used_categories(occupancy, 0.01)
glue("n_used", int(len(used)), display=False)
fig, ax = plt.subplots(figsize=style.figsize(3.0), layout="constrained")
plots.category_bars(occupancy, ax=ax)
glue("fig_categories", fig, display=False)
plt.close(fig)

# %% [markdown]
# {glue:text}`n_used` of the 20 categories hold more than 1% of the jets of either
# class, but QCD jets crowd into a few of them while top jets spread over all: again a
# core of QCD with top jets around it. The table shows what the categories track: the
# mean jet mass and constituent count of the jets in each category, for both classes
# together, and the fraction of top jets in it.

# %% tags=["hide-input"]
profiles = latent.category_table(probabilities, {
    "jet_mass": jets.values["jet_mass"], "n_constituents": jets.values["n_constituents"]}, labels)
tables.show(profiles.loc[used], {"jet_mass_mean": 1, "jet_mass_std": 1, "n_constituents_mean": 1,
                                 "n_constituents_std": 1, "top fraction": 2})

# %% [markdown]
# ## Distance from the prior against jet mass
#
# The length of the vector of posterior means, $|\mu|$, is the distance of a jet from
# the centre of the prior. {numref}`fig-latent-distance` draws it against the jet mass and
# the number of constituents, per class.
#
# ```{glue:figure} fig_distance
# :name: fig-latent-distance
#
# Length of the posterior means $|\mu|$ (logarithmic axis) against the jet mass (left)
# and the number of constituents (right) for QCD (blue) and top (red) test jets, drawn in
# a random order; the horizontal axes span the central 98% of the jets.
# ```

# %% tags=["hide-input"]
distance = latent.prior_distance(features["continuous"])
plots.distance_scatter({"jet mass [GeV]": jets.values["jet_mass"],
                        "number of constituents": jets.values["n_constituents"]}, distance, labels)
glue("fig_distance", plt.gcf(), display=False)
plt.close()
correlation = latent.rank_correlations({"jet mass": jets.values["jet_mass"],
                                        "constituents": jets.values["n_constituents"]}, distance)
glue("corr_mass", round(float(correlation["jet mass"]), 2), display=False)
glue("corr_nconst", round(float(correlation["constituents"]), 2), display=False)
tables.show(correlation.rename("Spearman rank correlation with |μ|").rename_axis("quantity"), 2)

# %% [markdown]
# The distance from the prior grows with the jet mass (rank correlation
# {glue:text}`corr_mass:.2f`) and with the number of constituents
# ({glue:text}`corr_nconst:.2f`): the encoder, never told about either, has learnt that
# heavy, busy jets are unusual for QCD. The next chapter turns this distance into
# anomaly scores and measures how well they find top jets.
