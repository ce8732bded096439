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
# A variational autoencoder compresses an image $x$ into a posterior distribution
# $q(z \mid x)$ over a few latent variables and decodes a sample of it back into an
# image. The *joint* VAE {cite}`dupont2018` has two kinds of latents side by side: a
# continuous Gaussian $z \in \mathbb{R}^{32}$ and one categorical variable $c$ with 20
# classes, relaxed with the Gumbel-Softmax trick so that gradients flow through the
# sampling. The decoder sees both, concatenated into 52 numbers.
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

# %% tags=["parameters"]
profile = "default"

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from myst_nb import glue

from src.analysis import plots
from src.analysis.latent import interpolate, sample_prior
from src.config import get_profile, models_dir
from src.data.splits import split_images
from src.models.networks import count_macs
from src.models.registry import trained
from src.models.store import read_record

plots.set_style()
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
# The table lists every block of the encoder with its output shape, its parameters and
# its multiply–accumulate operations (MACs) per image. The encoder is what a trigger would
# run; the decoder is only needed for training and for reconstruction-based scores.

# %%
macs = count_macs(model)


def layer_table(network):
    rows = []
    for layer in network.layers:
        params = layer.count_params()
        if not params and layer.name not in macs:
            continue
        shape = layer.output_shape
        rows.append({"layer": layer.name, "output shape": str(tuple(shape[1:])),
                     "parameters": params, "MACs": macs.get(layer.name, 0)})
    return pd.DataFrame(rows).set_index("layer")


encoder_table, decoder_table = layer_table(model.encoder), layer_table(model.decoder)
totals = pd.DataFrame({
    "parameters": [encoder_table["parameters"].sum(), decoder_table["parameters"].sum()],
    "MACs per image": [encoder_table["MACs"].sum(), decoder_table["MACs"].sum()],
}, index=["encoder", "decoder"])
glue("encoder_params", int(totals.loc["encoder", "parameters"]), display=False)
glue("encoder_macs", float(totals.loc["encoder", "MACs per image"]) / 1e6, display=False)
display(totals)
encoder_table

# %% [markdown]
# ## Training curves
#
# Total loss, its three parts and three image-quality measures, per epoch, on the
# training and the validation QCD jets ({glue:text}`n_train` and {glue:text}`n_val` jets).
# The run took {glue:text}`epochs_run` epochs and {glue:text}`train_minutes` minutes on
# the CPU it was trained on (the time is stored with the model in `spec.json`).
# MSE is the squared error summed over an image; PSNR and SSIM compare the unit-sum
# images with a maximum value of 1, so they are high even for blurred reconstructions
# and are best read as relative numbers.

# %%
metrics = [m for m in ("loss", "bce", "kl_cont", "kl_disc", "mse", "psnr", "ssim")
           if m in history]
names = {"loss": "total loss", "bce": "BCE (summed pixels)", "kl_cont": "KL continuous",
         "kl_disc": "KL discrete", "mse": "MSE (summed pixels)", "psnr": "PSNR [dB]",
         "ssim": "SSIM"}
fig, axes = plt.subplots(2, 4, figsize=(14, 6))
epochs = np.arange(1, len(history) + 1)
for ax, metric in zip(axes.flat, metrics, strict=False):
    ax.plot(epochs, history[metric], "o-", label="training")
    ax.plot(epochs, history[f"val_{metric}"], "s--", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(names[metric])
    if metric.startswith("kl"):
        ax.set_yscale("log")
    ax.legend()
ax = axes.flat[len(metrics)]
ax.plot(epochs, history["lr"], "o-", color="k", label="learning rate")
ax.set_xlabel("epoch")
ax.set_ylabel("learning rate")
ax.set_yscale("log")
ax.legend()
fig.tight_layout()

# %% [markdown]
# ## Final metrics beside the study's
#
# The study's Table 3.1 was obtained after 8 epochs on 150,000 training images of the
# Delphes-simulated reference dataset on a GPU; ours on the profile's smaller sample of
# our own jets on a CPU. The orders of magnitude, not the digits, are comparable.

# %%
study = {"loss": (6.053, 6.061), "bce": (6.051, 6.060), "kl_cont": (4.24e-4, 4.47e-4),
         "kl_disc": (2.83e-4, 4.47e-4), "mse": (0.190, 0.188), "psnr": (40.37, 40.43),
         "ssim": (0.942, 0.942)}
best = int(np.argmin(history["val_loss"]))
table = pd.DataFrame({
    "ours, training": [history[m].iloc[best] for m in metrics],
    "ours, validation": [history[f"val_{m}"].iloc[best] for m in metrics],
    "study, training": [study[m][0] for m in metrics],
    "study, validation": [study[m][1] for m in metrics],
}, index=[names[m] for m in metrics])
glue("best_epoch", best + 1, display=False)
table.style.format("{:.4g}")

# %% [markdown]
# The model kept is that of epoch {glue:text}`best_epoch` (lowest validation loss). The
# image-quality measures (BCE, MSE, PSNR, SSIM) agree with the study's to within about
# 15%. The KL terms are small, a few hundredths of a nat for 32 latent dimensions: with
# $\beta = 3000$ every unit of KL costs as much as 3000 units of BCE, so the encoder
# keeps its posterior close to the prior. The total loss still falls at the last epoch,
# through the KL terms, while BCE has flattened; 8 epochs are the study's choice and
# ours. The study's own total is not its BCE plus 3000 times its KL values
# ($6.051 + 3000 \times 7.07 \times 10^{-4} = 8.17 \ne 6.053$), so its KL columns were
# evidently reported with another normalization and are not comparable digit by digit.
#
# ## Weights
#
# Distributions of the trained kernel weights of every convolution and dense layer of
# the encoder (the study's figures 3.5 and 3.6). Their range sets the integer bits a
# fixed-point implementation needs (chapter 5).

# %%
weights = {layer.name: layer.get_weights()[0].ravel() for layer in model.encoder.layers
           if layer.get_weights() and layer.get_weights()[0].ndim > 1}
fig, axes = plt.subplots(1, 2, figsize=(14, 4.5), gridspec_kw={"width_ratios": [1, 2]})
for name, w in weights.items():
    axes[0].hist(w, bins=80, histtype="step", density=True, label=name)
axes[0].set_xlabel("kernel weight")
axes[0].set_ylabel("probability density")
axes[0].set_yscale("log")
axes[0].legend(fontsize=6, ncol=2)
axes[1].boxplot(list(weights.values()), vert=False, whis=(0, 100), showfliers=False)
axes[1].set_yticks(range(1, len(weights) + 1), list(weights), fontsize=7)
axes[1].set_xlabel("kernel weight (whiskers: minimum to maximum)")
axes[1].set_ylabel("layer")
fig.tight_layout()

# %% [markdown]
# ## Reconstructions
#
# Test jets (never seen in training) and their deterministic reconstructions: the
# posterior mean and the most likely category are decoded.

# %%
examples = np.concatenate([test_qcd[:3], test_top[:3]])
labels = ["QCD"] * 3 + ["top"] * 3
recon = model.reconstruct(examples)
fig, axes = plt.subplots(2, 6, figsize=(20, 5.8))
for i, (image, rec, label) in enumerate(zip(examples, recon, labels, strict=True)):
    plots.jet_image(image, ax=axes[0, i], vmin=1e-4, unit="",
                    title=f"{label} test jet {i % 3} (input)")
    plots.jet_image(rec, ax=axes[1, i], vmin=1e-4, unit="", title=f"{label} reconstruction")
fig.tight_layout()
sample = np.concatenate([test_qcd[:1000], test_top[:1000]])
rec_all = model.reconstruct(sample)
spread_in = np.linalg.norm(sample - sample.mean(0), axis=(1, 2)).mean()
spread_out = np.linalg.norm(rec_all - rec_all.mean(0), axis=(1, 2)).mean()
glue("recon_spread", round(float(100 * spread_out / spread_in), 2), display=False)

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

# %% [markdown]
# ## Walking through the latent space
#
# Ten decoded points on the straight line between the posterior means of a QCD jet and a
# top jet (the category switches from the first jet's most likely class to the second's
# half way), the study's figure 3.8. After what the reconstructions showed, the path is
# nearly constant: the two posteriors are too close to the prior, and to each other, for
# the decoder to tell them apart. White pixels are below $10^{-4}$ of the jet pT.

# %%
path = interpolate(model, test_qcd[0], test_top[0], steps=10)
fig, axes = plt.subplots(1, 10, figsize=(22, 2.6))
for step, (ax, image) in enumerate(zip(axes, path, strict=True)):
    shown = np.where(image > 1e-4, image, np.nan)
    artist = ax.imshow(shown, origin="lower", norm=plt.matplotlib.colors.LogNorm(1e-4, 1))
    ax.set_title(f"step {step}", fontsize=8)
    ax.set_xlabel(r"$\eta'$ bin")
    ax.set_ylabel(r"$\phi'$ bin")
    ax.grid(False)
fig.tight_layout()
fig.colorbar(artist, ax=axes, label="pixel $p_T$ / jet $p_T$", fraction=0.02)

# %% [markdown]
# ## Jets drawn from the prior
#
# Decoding $z \sim \mathcal N(0, 1)$ with a random category gives, for the same reason,
# nearly the same smooth average QCD jet every time: as a generator, this model produces
# the mean jet, not the variety of jets. A smaller $\beta$ (or Dupont's capacity
# schedule, available as a training option) would trade anomaly-score sensitivity for a
# latent space that carries the shape of each jet.

# %%
samples = sample_prior(model, 6, seed=P.seed)
fig, axes = plt.subplots(1, 6, figsize=(20, 3))
for i, (ax, image) in enumerate(zip(axes, samples, strict=True)):
    plots.jet_image(image, ax=ax, vmin=1e-4, unit="", title=f"prior sample {i}")
fig.tight_layout()
