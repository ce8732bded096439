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
from myst_nb import glue

from src.analysis import latent, plots
from src.analysis.tables import styled
from src.config import get_profile
from src.models.registry import trained

plots.set_style()
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
# {glue:text}`n_embed` test jets of each class, drawn at random with the profile's seed.
# Top row: the continuous latent (posterior means); bottom row: the discrete latent
# (category probabilities). The axes of each projection have no physical unit.

# %% tags=["hide-input"]
plots.projections(latent.embeddings(features, ("umap", "tsne", "pca"), seed=P.seed), labels)
plt.show()

# %% [markdown]
# How much of the class information survives in each latent, independently of any
# projection? A logistic regression fitted on the latent features with five-fold
# cross-validation answers this with an AUC. It uses the labels, so it is not an anomaly
# detector: it is an upper bound on what a linear cut in the latent space could do.

# %% tags=["hide-input"]
probe = latent.probe_auc(features, labels)
glue("probe_cont", round(float(probe["continuous"]), 3), display=False)
glue("probe_disc", round(float(probe["discrete"]), 3), display=False)
probe.to_frame()

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

# %% tags=["hide-input"]
occupancy = latent.category_occupancy(features["discrete"], labels)
used = latent.used_categories(occupancy, 0.01)
glue("n_used", int(len(used)), display=False)
fig, ax = plt.subplots(figsize=(11, 4))
plots.category_bars(occupancy, ax=ax)
fig.tight_layout()

# %% [markdown]
# {glue:text}`n_used` of the 20 categories hold more than 1% of the jets of either
# class, but QCD jets crowd into a few of them while top jets spread over all: again a
# core of QCD with top jets around it. The table shows what the categories track: the
# mean jet mass and constituent count of the jets in each category, for both classes
# together, and the fraction of top jets in it.

# %% tags=["hide-input"]
profiles = latent.category_table(features["discrete"], {
    "jet_mass": jets.values["jet_mass"], "n_constituents": jets.values["n_constituents"]}, labels)
styled(profiles.loc[used], {"jet_mass_mean": "{:.1f}", "jet_mass_std": "{:.1f}",
                            "n_constituents_mean": "{:.1f}", "n_constituents_std": "{:.1f}",
                            "top fraction": "{:.2f}"})

# %% [markdown]
# ## Distance from the prior against jet mass
#
# The length of the vector of posterior means, $|\mu|$, is the distance of a jet from
# the centre of the prior. Against the jet mass and the number of constituents, per
# class:

# %% tags=["hide-input"]
distance = latent.prior_distance(features["continuous"])
plots.distance_scatter({"jet mass [GeV]": jets.values["jet_mass"],
                        "number of constituents": jets.values["n_constituents"]}, distance, labels)
plt.show()
correlation = latent.rank_correlations({"jet mass": jets.values["jet_mass"],
                                        "constituents": jets.values["n_constituents"]}, distance)
glue("corr_mass", round(float(correlation["jet mass"]), 2), display=False)
glue("corr_nconst", round(float(correlation["constituents"]), 2), display=False)
correlation.to_frame()

# %% [markdown]
# The distance from the prior grows with the jet mass (rank correlation
# {glue:text}`corr_mass:.2f`) and with the number of constituents
# ({glue:text}`corr_nconst:.2f`): the encoder, never told about either, has learnt that
# heavy, busy jets are unusual for QCD. The next chapter turns this distance into
# anomaly scores and measures how well they find top jets.
