# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Generating the jets
#
# Every jet in this book comes from our own event generation. We follow the recipe of the
# public Top Tagging reference dataset {cite}`kasieczka2019` as closely as the tools on a
# laptop allow:
#
# * **Hard process.** Pythia 8 {cite}`bierlich2022` simulates 14 TeV proton–proton collisions with the hard
#   scattering restricted to $550 < \hat p_T < 650$ GeV. Background is inclusive QCD
#   dijet production; the signal is $t\bar t$ production with both W bosons forced to
#   decay into quarks. A third sample, a W boson recoiling against a quark or gluon with
#   the W decaying hadronically, is kept aside: the model never sees it, and chapter 4
#   uses it to ask whether the anomaly scores find a signal they were not tuned for.
#   There are no multiparton interactions and no pile-up.
# * **Detector.** Instead of Delphes we apply a small energy-flow detector modelled on
#   the Delphes ATLAS card (module `src.detector`): charged particles above 0.5 GeV
#   inside the tracker become smeared tracks, everything else deposits its energy in
#   $0.1 \times 2\pi/64$ calorimeter cells with ECAL or HCAL resolution and thresholds.
# * **Jets.** FastJet {cite}`cacciari2012` clusters the detector objects with anti-$k_T$, $R = 0.8$. Only the
#   leading jet of each event is kept, and only if $550 < p_T < 650$ GeV and
#   $|\eta| < 2$. A signal jet must in addition contain the top (or W) and every one of
#   its decay quarks within $\Delta R < 0.8$ of its axis; a top jet that lost its b quark
#   is not a three-prong jet and would blur the signal.
# * **Images.** The up to 200 hardest constituents are centred on their $p_T$-weighted
#   centroid, rotated so that the principal axis of the $p_T$-weighted second-moment
#   tensor is vertical, flipped so that the hardest quadrant is the lower left one, and
#   binned into $40 \times 40$ pixels of $(\Delta\eta', \Delta\phi') = (0.029, 0.035)$.
#   A pixel holds the summed $p_T$ of its constituents. Before training each image is
#   divided by its total, so the networks see the *shape* of the energy flow, not its
#   scale.
#
# Generation is cut into shards with their own seeds; the shards run in parallel (or on a
# dask cluster) and are written atomically, so a killed run resumes where it stopped.
# The same command is available outside the book:
#
# ```bash
# python -m src generate --process top --n 40000 --out data/jets/top.h5 --workers 2
# ```

# %% tags=["parameters", "remove-cell"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from myst_nb import glue

from src import style
from src.analysis import metrics, plots, tables
from src.config import get_profile
from src.data import summary

style.use()
P = get_profile(profile)
jets, attrs = summary.load_samples(P)

# %% [markdown]
# ## The samples
#
# The table lists how many jets each sample holds and the fraction of generated events
# whose leading jet passed the selection (and, for signal, the truth matching).

# %% tags=["hide-input"]
table = summary.sample_table(jets, attrs)
glue("n_qcd", int(table.loc["qcd", "jets"]), display=False)
glue("n_top", int(table.loc["top", "jets"]), display=False)
tables.show(table, {"acceptance": 3, "mean constituents": 1})

# %% [markdown]
# ## Average images
#
# Averaging many images shows what the network will have to learn
# ({numref}`fig-data-mean-images`). QCD jets are one hard core with soft radiation around
# it, stretched along the vertical principal axis. Top jets spread their energy over three
# prongs: the flip puts the hardest one just below and left of the centre, and the softer
# prongs appear above it along the principal axis. W jets have two prongs on the same axis.
#
# ```{glue:figure} fig_mean_images
# :name: fig-data-mean-images
#
# Average raw image of each sample, pixel $p_T$ in GeV on one logarithmic colour scale
# shared by the three panels; pixels below its floor of $10^{-3}$ GeV take its lowest
# colour. The titles give the brightest pixel and the total $p_T$ inside the window of the
# average image.
# ```

# %% tags=["hide-input"]
plots.mean_images(jets)
glue("fig_mean_images", plt.gcf(), display=False)
plt.close()

# %% [markdown]
# Single jets are sparse ({numref}`fig-data-example-jets`): a few dozen lit pixels out of
# 1600, which is why pixel-wise losses are dominated by the few bright pixels and why a jet
# image is a hard object to reconstruct exactly.
#
# ```{glue:figure} fig_example_jets
# :name: fig-data-example-jets
#
# The first two jets of each sample (columns: QCD, top, W), pixel $p_T$ in GeV on one
# logarithmic colour scale; empty pixels and pixels below 0.1 GeV take its lowest colour.
# The titles give the jet mass and the number of constituents.
# ```

# %% tags=["hide-input"]
plots.example_jets(jets, n=2)
glue("fig_example_jets", plt.gcf(), display=False)
plt.close()

# %% [markdown]
# ## Jet kinematics
#
# The transverse momentum fills the 550-650 GeV window of the selection for every sample
# ({numref}`fig-data-kinematics`), with a hump rather than a flat spectrum: the hard
# process is generated in the same window, and a jet carries a little less than its
# parton's momentum (radiation leaves the cone), which thins out the upper edge. The jet
# mass is where the physics shows: the top jets peak near the top mass of 173 GeV, the W
# jets near 80 GeV, and QCD jets fall from low masses with a long tail. Top jets also have
# more constituents.
#
# ```{glue:figure} fig_kinematics
# :name: fig-data-kinematics
#
# Normalized distributions of the jet $p_T$, the jet mass and the number of constituents
# of every sample (each histogram integrates to one).
# ```

# %% tags=["hide-input"]
plots.kinematics(jets)
glue("fig_kinematics", plt.gcf(), display=False)
plt.close()
glue("top_mass_peak", summary.histogram_peak(jets["top"]["jet_mass"], range(0, 305, 5)),
     display=False)

# %% [markdown]
# ## The simplest physics baseline: jet mass
#
# Before any network, a single number separates top from QCD jets: the jet mass. On the
# same test split that every later chapter uses (25% of each sample, seeded by the
# profile), we score each jet by its mass: the heavier, the more signal-like
# ({numref}`fig-data-mass-roc`). Any unsupervised method that does not beat this line
# has learnt less than a physicist's first histogram. (It is not a fair *anomaly*
# detector: choosing the mass means knowing what the signal looks like.)
#
# ```{glue:figure} fig_mass_roc
# :name: fig-data-mass-roc
#
# The jet mass as a tagger on the test split: background rejection (1 / QCD efficiency)
# against signal efficiency, for top and for W jets against QCD jets. The dotted line is a
# random tagger; the grey dashed line marks a QCD efficiency of 10% (rejection 10), the
# working point of the tables of chapter 4.
# ```

# %% tags=["hide-input"]
mass = summary.test_values(jets, "jet_mass", P.seed)
glue("mass_auc_top", round(metrics.auc(*metrics.stack(mass["qcd"], mass["top"])), 3),
     display=False)
glue("mass_auc_w", round(metrics.auc(*metrics.stack(mass["qcd"], mass["w"])), 3), display=False)
curves = metrics.roc_versus(mass["qcd"], {"top vs QCD, jet mass": mass["top"],
                                          "W vs QCD, jet mass": mass["w"]})
fig, ax = plt.subplots(figsize=style.figsize(3.6, width=5.5), layout="constrained")
plots.roc_curves(curves, ax=ax)
glue("fig_mass_roc", fig, display=False)
plt.close(fig)

# %% [markdown]
# On this sample the top-quark peak of the jet mass sits at
# {glue:text}`top_mass_peak:.1f` GeV and the mass alone gives an area under the ROC curve
# of {glue:text}`mass_auc_top:.3f` for top against QCD jets and
# {glue:text}`mass_auc_w:.3f` for W against QCD jets. That is the bar for the
# unsupervised scores of chapter 4.
