"""Magnitude pruning of a quantized encoder (after the study's own outlook).

:func:`prune_encoder` wraps every ``QConv2D`` / ``QDense`` of a quantized encoder with
tensorflow-model-optimization's ``prune_low_magnitude`` (a polynomial schedule from 0 to the
target sparsity over the first half of the fine-tune), fine-tunes it to reproduce the
unpruned encoder's outputs (mean squared error of every head, each unit scaled by its
spread) and strips the wrappers: the kernels keep their zeros, the model is plain QKeras
again. Biases are not pruned. :func:`pruned_reduced` does this to the quantized ``<16,6>``
reduced encoder and caches the joint VAE (its decoder untouched).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..backend import keras  # sets TensorFlow up for QKeras: import it first

# isort: split
import tensorflow_model_optimization as tfmot
from qkeras import QConv2D, QDense

from ..config import Profile, models_dir
from ..data.splits import split_images
from ..models.networks import build_model, count_macs, encoder_outputs
from ..models.store import cached, data_fingerprint, settings_digest
from ..models.train import DistillSpec, regress
from .quantize import kernels, quantized_reduced


def sparsity(encoder: keras.Model) -> float:
    """Fraction of zeros among the quantized kernel weights of all conv / dense layers."""
    values = np.concatenate(list(kernels(encoder, quantized=True).values()))
    return float(np.mean(values == 0))


def nonzero_macs(encoder: keras.Model) -> float:
    """Multiplications per image by a non-zero kernel weight, summed over the conv / dense
    layers: each layer's MACs (:func:`src.models.networks.count_macs`) times the fraction of
    its quantized kernel weights that are not zero. hls4ml's latency strategy builds no
    multiplier for a zero weight, so this is what the firmware would compute."""
    macs = count_macs(encoder)
    return sum(macs[name] * float(np.mean(w != 0))
               for name, w in kernels(encoder, quantized=True).items())


def _prunable(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, QConv2D | QDense)


def prune_encoder(encoder: keras.Model, target: float, images: np.ndarray, spec: DistillSpec,
                  verbose: int = 0) -> keras.Model:
    """Magnitude-pruned copy of a QKeras joint-VAE encoder at sparsity ``target`` (see the
    module docstring); ``encoder`` itself is left unchanged."""
    if not 0.0 < target < 1.0:
        raise ValueError(f"target sparsity must be in (0, 1), got {target}")
    outputs = list(encoder_outputs(encoder, images).values())
    steps = spec.epochs * math.ceil(len(images) / spec.batch_size)
    every = max(1, steps // 20)
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        0.0, target, begin_step=0, end_step=every * max(1, steps // 2 // every), frequency=every)
    fresh = keras.models.clone_model(encoder)
    fresh.set_weights(encoder.get_weights())
    wrapped = keras.models.clone_model(fresh, clone_function=lambda layer: (
        tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        if _prunable(layer) else layer))
    regress(wrapped, images, outputs, spec,
            callbacks=[tfmot.sparsity.keras.UpdatePruningStep()], verbose=verbose)
    return tfmot.sparsity.keras.strip_pruning(wrapped)


def pruned_reduced(profile: Profile, target: float = 0.5, epochs: int = 2,
                   verbose: int = 0) -> keras.Model:
    """The quantized ``<16,6>`` reduced joint VAE with its encoder pruned to ``target``
    sparsity by :func:`prune_encoder` (``epochs`` of fine-tuning on the QCD training jets),
    cached as ``models/<profile>/reduced_q16_6_pruned<percent>``; loads with
    :func:`src.models.store.load`."""
    parent = quantized_reduced(profile, verbose=verbose)
    train = split_images(profile, "qcd", "train")
    fit_spec = DistillSpec(epochs=epochs, batch_size=profile.batch_size, learning_rate=5e-4,
                           seed=profile.seed)
    directory = models_dir(profile)

    def make() -> keras.Model:
        pruned = prune_encoder(parent.encoder, target, train, fit_spec, verbose)
        model = build_model(parent.spec)
        for layer in model.encoder.layers:
            layer.set_weights(pruned.get_layer(layer.name).get_weights())
        model.decoder.set_weights(parent.decoder.get_weights())
        return model

    settings = {"model": dataclasses.asdict(parent.spec), "target_sparsity": target,
                "prune": dataclasses.asdict(fit_spec), "data": data_fingerprint(train),
                "init": settings_digest(directory / "reduced_q16_6")}
    return cached(directory / f"reduced_q16_6_pruned{round(100 * target)}", settings, make)
