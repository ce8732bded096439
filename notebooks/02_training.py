# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Training the joint VAE
#
# A variational autoencoder {cite}`kingma2014` compresses an image $x$ into a posterior
# distribution
# $q(z \mid x)$ over a few latent variables and decodes a sample of it back into an image. The *joint* VAE {cite}`dupont2018` has two kinds of latents side by side: a
# continuous Gaussian $z \in \mathbb{R}^{32}$ and one categorical variable $c$ with 20
# classes, relaxed with the Gumbel-Softmax trick {cite}`jang2017` so that gradients flow
# through the sampling. The decoder sees both, concatenated into 52 numbers.
#
# The loss is the one of the study: the binary cross-entropy summed over the 1600 pixels
# (mean over the batch), plus $\beta$ times the Kullback–Leibler divergences of the two
# posteriors from their priors, $\mathcal N(0, 1)$ and the uniform categorical, with
# $\beta = 3000$:
#
# $$
# \mathcal L = \sum_{\text{pixels}} \mathrm{BCE}(x, \hat x)
#   + \beta \, D_{KL}\!\left(q(z \mid x) \,\|\, \mathcal N(0, 1)\right)
#   + \beta \, D_{KL}\!\left(q(c \mid x) \,\|\, \mathcal U(20)\right).
# $$
#
# The encoder is a residual convolutional network: four stages of a stride-2 convolution
# followed by residual blocks, grouped convolutions (8 groups) to save parameters, instance
# normalization and leaky ReLU. Three dense heads give the category logits, the means and
# the log-variances. The decoder broadcasts the latent vector over a small grid with two
# coordinate channels and upsamples it back to $40 \times 40$ with a sigmoid output. The
# model is trained on QCD jets only, with AdamW (weight decay $10^{-3}$), a learning rate
# halved when the validation loss stalls for three epochs, and early stopping after four.

# %% tags=["parameters", "remove-cell"]
profile = "default"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from src import style
from src.analysis import plots, tables, training
from src.analysis.latent import interpolate, sample_prior
from src.config import get_profile, models_dir
from src.data.splits import split_images
from src.data.summary import border_profile
from src.models.networks import layer_table
from src.models.registry import trained
from src.models.store import read_record
from src.study import SAMPLE, TABLE_3_1, TRAINING

style.use()
P = get_profile(profile)
model = trained(P, "jointvae")
record = read_record(models_dir(P) / "jointvae")
history = pd.DataFrame(model.training_history)
test_qcd, test_top = split_images(P, "qcd", "test"), split_images(P, "top", "test")
glue("n_train", record["n_train"], display=False)
glue("n_val", len(split_images(P, "qcd", "val")), display=False)
glue("epochs_run", len(history), display=False)
glue("train_minutes", round(record["train_seconds"] / 60, 1), display=False)

# %% [markdown]
# ## Architecture
#
# The tables list the parameters and multiply–accumulate operations (MACs) per image of the
# encoder and the decoder, then every block of the encoder with its output shape. The
# encoder is what a trigger would run; the decoder is only needed for training and for
# reconstruction-based scores.

# %% tags=["hide-input"]
encoder_table = layer_table(model.encoder)
totals = training.size_totals({"encoder": encoder_table, "decoder": layer_table(model.decoder)})
glue("encoder_params", int(totals.loc["encoder", "parameters"]), display=False)
glue("encoder_macs", float(totals.loc["encoder", "MACs per image"]) / 1e6, display=False)
display(tables.show(totals))
tables.show(encoder_table)

# %% [markdown]
# ## Training curves
#
# {numref}`fig-training-curves` shows the total loss, its three parts and three
# image-quality measures, per epoch, on the training and the validation QCD jets
# ({glue:text}`n_train` and {glue:text}`n_val` jets). The run took {glue:text}`epochs_run`
# epochs and {glue:text}`train_minutes` minutes on the CPU it was trained on (the time is
# stored with the model in `spec.json`).
#
# ```{glue:figure} fig_training_curves
# :name: fig-training-curves
#
# Training (solid) and validation (dashed) metrics per epoch, on logarithmic axes except
# PSNR and SSIM. MSE is the squared error summed over the 1600 pixels of an image; PSNR
# and SSIM compare the unit-sum images with a maximum value of 1, so they are high even
# for blurred reconstructions and are best read as relative numbers. The learning rate
# is drawn only when it changed during the run.
# ```

# %% tags=["hide-input"]
plots.training_curves(history)
glue("fig_training_curves", plt.gcf(), display=False)
plt.close()
glue("lr_changed", "changed" if history["lr"].nunique() > 1 else "stayed at its initial value",
     display=False)

# %% [markdown]
# The learning rate {glue:text}`lr_changed` during the run.
#
# ## Final metrics beside the study's
#
# The study's Table 3.1 ({glue:md}`table_3_1_source`) was obtained after
# {glue:text}`study_epochs` epochs on {glue:text}`study_n_train` training images of the
# Delphes-simulated reference dataset on a GPU; ours on the profile's smaller sample of our
# own jets on a CPU. The orders of magnitude, not the digits, are comparable.

# %% tags=["hide-input"]
best = training.best_epoch(history)
glue("best_epoch", best, display=False)
glue("table_3_1_source", Markdown(TABLE_3_1.source), display=False)
glue("study_epochs", TRAINING.values["epochs"], display=False)
glue("study_n_train", f"{SAMPLE.values['jets_per_class'] * SAMPLE.values['train_fraction']:,.0f}",
     display=False)
study = {k: v[0] for k, v in TABLE_3_1.values.items()}
glue("study_bce", study["bce"], display=False)
glue("study_kl", study["kl_cont"] + study["kl_disc"], display=False)
glue("study_beta", f"{record['train']['beta']:.0f}", display=False)
glue("study_implied", study["bce"] + record["train"]["beta"] * (study["kl_cont"] + study["kl_disc"]),
     display=False)
glue("study_loss", study["loss"], display=False)
glue("kl_disc_val", float(history["val_kl_disc"].iloc[best - 1]), display=False)
glue("kl_disc_max", float(np.log(model.spec.n_categories)), display=False)
tables.show(training.final_metrics(history, TABLE_3_1), ".4g")

# %% [markdown]
# The model kept is that of epoch {glue:text}`best_epoch` (lowest validation loss). The
# image-quality measures (BCE, MSE, PSNR, SSIM) agree with the study's to within about
# 15%. The KL terms are small, a few hundredths of a nat for 32 latent dimensions: with
# $\beta = 3000$ every unit of KL costs as much as 3000 units of BCE, so the encoder
# keeps its posterior close to the prior. The total loss still falls at the last epoch,
# through the KL terms, while BCE has flattened; {glue:text}`study_epochs` epochs are the
# study's choice and ours. The study's own total is not its BCE plus 3000 times its KL values
# ({glue:text}`study_bce` + {glue:text}`study_beta` × {glue:text}`study_kl:.3g` =
# {glue:text}`study_implied:.2f`, not {glue:text}`study_loss`), so its KL columns were
# evidently reported with another normalization and are not comparable digit by digit.
#
# **The discrete latent adds nothing at $\beta = 3000$.** Its KL from the uniform
# distribution is {glue:text}`kl_disc_val:.2g` nats on the validation jets, out of at most
# $\ln 20$ = {glue:text}`kl_disc_max:.2f` nats for a category known with certainty: the
# category posterior of every jet stays next to uniform, the decoder can learn almost
# nothing from it, and the 20 categories do not become the 20 clusters of the study
# (chapter 3 measures this on the test jets, chapter 7 at smaller $\beta$).
#
# ## Weights
#
# {numref}`fig-training-weights` shows the trained kernel weights of every convolution and
# dense layer of the encoder (the study's figures 3.5 and 3.6). Their range sets the
# integer bits a fixed-point implementation needs (chapter 5).
#
# ```{glue:figure} fig_weights
# :name: fig-training-weights
#
# Top: distribution of the kernel weights of each layer, coloured by the encoder stage the
# layer belongs to (stage $k$: the stride-2 convolution `dconv_b`$k$, counted from 0, and the
# residual blocks after it; dense heads: the category logits, means and log-variances). Bottom: per layer, the box spans
# the middle half of the weights and the whiskers reach the minimum and the maximum.
# ```

# %% tags=["hide-input"]
plots.weight_distributions(training.kernels(model.encoder))
glue("fig_weights", plt.gcf(), display=False)
plt.close()

# %% [markdown]
# ## Reconstructions
#
# {numref}`fig-training-reconstructions` shows test jets (never seen in training) and their
# deterministic reconstructions: the posterior mean and the most likely category are
# decoded.
#
# ```{glue:figure} fig_reconstructions
# :name: fig-training-reconstructions
#
# Three QCD and three top test jets (first and third rows) above their reconstructions
# (second and fourth rows), as fractions of the jet $p_T$ on one logarithmic colour scale
# from $10^{-4}$; empty pixels take its lowest colour. The bright frame of every
# reconstruction is the outermost ring of pixels, where the last convolution of the
# decoder reads zero padding: over 2000 test jets its pixels average
# {glue:text}`frame_recon:.1e` of the jet $p_T$, {glue:text}`frame_ratio:.1f` times the ring
# just inside it, while the inputs' frame averages {glue:text}`frame_input:.1e`. An empty
# input pixel reconstructed as $\epsilon$ costs only about $\epsilon$ in the summed BCE,
# so the whole frame costs about {glue:text}`frame_cost:.2f` nats per image, against a BCE
# of {glue:text}`val_bce:.2f`: training has little reason to remove it.
# ```

# %% tags=["hide-input"]
examples = np.concatenate([test_qcd[:3], test_top[:3]])
plots.reconstructions(examples, model.reconstruct(examples), ["QCD"] * 3 + ["top"] * 3)
glue("fig_reconstructions", plt.gcf(), display=False)
plt.close()
sample = np.concatenate([test_qcd[:1000], test_top[:1000]])
reconstructed = model.reconstruct(sample)
glue("recon_spread", round(training.reconstruction_spread(sample, reconstructed), 2),
     display=False)
frame, frame_in = border_profile(reconstructed, rings=2), border_profile(sample, rings=2)
glue("frame_recon", float(frame[0]), display=False)
glue("frame_ratio", float(frame[0] / frame[1]), display=False)
glue("frame_input", float(frame_in[0]), display=False)
glue("frame_cost", float(frame[0] * (4 * sample.shape[1] - 4)), display=False)
glue("val_bce", float(history["val_bce"].iloc[best - 1]), display=False)

# %% [markdown]
# The reconstructions hardly differ from jet to jet: each is close to a smooth average
# jet, a bright core with a soft tail. Measured over 1000 QCD and 1000 top test jets,
# the typical distance of a reconstruction from the mean reconstruction is
# {glue:text}`recon_spread`% of the typical distance of an input from the mean input.
# This is the price of $\beta = 3000$: the decoder receives almost no information about
# the individual jet (posterior collapse) and learns the average. The reconstruction
# scores of chapter 4 are therefore, in effect, distances of a jet from the average QCD
# jet, while the KL divergence measures how far the encoder had to move a jet's
# posterior, which is all the information the latent carries.
#
# ## Walking through the latent space
#
# {numref}`fig-training-latent-path` decodes ten points on the straight line between the
# posterior means of a QCD jet and a top jet (the category switches from the first jet's
# most likely class to the second's half way), the study's figure 3.8. After what the
# reconstructions showed, the path is nearly constant: the two posteriors are too close to
# the prior, and to each other, for the decoder to tell them apart.
#
# ```{glue:figure} fig_latent_path
# :name: fig-training-latent-path
#
# Decoded images along the path from the first QCD test jet (step 0) to the first top test
# jet (step 9), as fractions of the jet $p_T$ on one logarithmic colour scale from
# $10^{-4}$; pixels below it take its lowest colour.
# ```

# %% tags=["hide-input"]
plots.latent_path(interpolate(model, test_qcd[0], test_top[0], steps=10))
glue("fig_latent_path", plt.gcf(), display=False)
plt.close()

# %% [markdown]
# ## Jets drawn from the prior
#
# Decoding $z \sim \mathcal N(0, 1)$ with a random category gives, for the same reason,
# nearly the same smooth average QCD jet every time ({numref}`fig-training-prior`): as a
# generator, this model produces the mean jet, not the variety of jets. A smaller $\beta$
# (or Dupont's capacity schedule, available as a training option) would trade
# anomaly-score sensitivity for a latent space that carries the shape of each jet.
#
# ```{glue:figure} fig_prior_samples
# :name: fig-training-prior
#
# Six images decoded from draws of the prior, as fractions of the jet $p_T$ on one
# logarithmic colour scale from $10^{-4}$.
# ```

# %% tags=["hide-input"]
plots.prior_samples(sample_prior(model, 6, seed=P.seed))
glue("fig_prior_samples", plt.gcf(), display=False)
plt.close()
