"""The study's reduced encoder, its QKeras quantization-aware twin and a bit-width scan.

The reduced encoder (thesis section 3.5, Table 3.2) is a :class:`src.model.ModelSpec`:
filters (16, 20, 4), depths (1, 2, 1), 4 groups, a linear ``conv_fin`` with 2 filters in
2 groups, 10,674 parameters. It is trained as a joint VAE with the profile's decoder. The
quantized twin has the same topology and layer names, built by :class:`QKerasFactory`:
``QConv2D`` / ``QDense`` with ``quantized_bits(bits, integer, alpha=1)`` kernels and
biases, ``QActivation(quantized_relu(bits, integer, negative_slope=0.25))`` activations and
float instance normalization, as in the study.

Quantization-aware training (QAT) of the ``<16,6>`` twin is the study's: the whole joint
VAE fine-tuned from the float weights with the training objective. The bit-width scan uses
a cheaper QAT of the encoder alone, which learns to reproduce the float encoder's outputs
(:func:`regress`), and post-training quantization (the float weights rounded, no
training). Models are cached in ``models/<profile>/<name>`` and read back with
:func:`src.model.load`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .backend import keras, seed_everything, tf  # sets TensorFlow up for QKeras: import it first

# isort: split
from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

from . import scores
from .config import Profile, models_dir, settings_hash
from .experiments import split_images
from .model import (
    LayerFactory,
    ModelSpec,
    as_model_input,
    build_encoder,
    build_model,
    read_record,
)
from .model import encoder_outputs as bare_encoder_outputs
from .train import TrainSpec, cached, data_fingerprint, fit, train_or_load

#: ModelSpec fields of the study's reduced encoder; the leaky-ReLU slope is the power of two
#: (0.25) that the quantized activation needs, so both twins compute the same function.
REDUCED = {"filters": (16, 20, 4), "depths": (1, 2, 1), "groups": 4, "final_filters": 2,
           "final_groups": 2, "negative_slope": 0.25}
#: Total bits of the bit-width scan; epochs and QCD training jets of its encoder fine-tunes.
SCAN_BITS = (16, 12, 10, 8, 6, 4)
SCAN_EPOCHS = 2
SCAN_JETS = 6000
#: Study's Table 3.3: (TPR at FPR = 10 % [%], AUC [%]) per model and KL score.
STUDY_TABLE_3_3 = {
    ("reduced float", "kl_disc"): (31.46, 68.29),
    ("reduced float", "kl_cont"): (63.48, 84.52),
    ("reduced float", "kl_total"): (63.63, 84.64),
    ("quantized <16,6>", "kl_disc"): (51.67, 77.38),
    ("quantized <16,6>", "kl_cont"): (59.79, 80.88),
    ("quantized <16,6>", "kl_total"): (60.03, 81.17),
}


class QKerasFactory(LayerFactory):
    """QKeras encoder layers with ``bits`` total and ``integer`` integer bits (sign apart).

    Kernels and biases use ``quantized_bits(bits, integer, alpha=1)``, activations
    ``quantized_relu(bits, integer, negative_slope)`` (0 for a plain ReLU); instance
    normalization stays float. Grouped convolutions are grouped ``QConv2D`` layers.
    """

    def __init__(self, bits: int, integer: int):
        self.bits = int(bits)
        self.integer = int(integer)

    def quantizer(self) -> quantized_bits:
        return quantized_bits(self.bits, self.integer, alpha=1)

    def conv(self, filters: int, kernel: int, strides: int, groups: int, name: str):
        return QConv2D(filters, kernel, strides=strides, padding="same", groups=groups,
                       kernel_initializer="he_normal", kernel_quantizer=self.quantizer(),
                       bias_quantizer=self.quantizer(), name=name)

    def dense(self, units: int, name: str):
        return QDense(units, kernel_initializer="he_normal", kernel_quantizer=self.quantizer(),
                      bias_quantizer=self.quantizer(), name=name)

    def activation(self, kind: str, negative_slope: float, name: str):
        slope = 0.0 if kind == "relu" else negative_slope
        return QActivation(quantized_relu(self.bits, self.integer, negative_slope=slope),
                           name=name)


def reduced_spec(profile: Profile, bits: int = 0, integer_bits: int = 6) -> ModelSpec:
    """The reduced joint VAE with the profile's decoder; ``bits = 0`` is the float model."""
    return ModelSpec(**{**profile.model, **REDUCED, "kind": "jointvae", "bits": bits,
                        "integer_bits": integer_bits})


def qat_train_spec(profile: Profile, epochs: int | None = None,
                   learning_rate: float = 2e-4) -> TrainSpec:
    """Fine-tuning settings: the profile's, with a lower learning rate and fewer epochs
    (a quarter of the profile's, at least one, unless ``epochs`` is given)."""
    base = TrainSpec.from_profile(profile)
    return dataclasses.replace(base, epochs=epochs or max(1, base.epochs // 4),
                               learning_rate=learning_rate)


@dataclasses.dataclass(frozen=True)
class DistillSpec:
    """Optimizer settings of a regression fine-tune (:func:`regress`)."""

    epochs: int = 24
    batch_size: int = 128
    learning_rate: float = 3e-3
    lr_patience: int = 2
    stop_patience: int = 4
    seed: int = 0


def _scaled_mse(scale: np.ndarray):
    """Mean squared error with every output unit divided by ``scale``."""
    weight = tf.constant(1.0 / np.square(scale), tf.float32)

    def loss(y_true, y_pred):
        return tf.reduce_mean(tf.square(y_true - y_pred) * weight, axis=-1)

    return loss


def regress(model: keras.Model, images: np.ndarray, targets: np.ndarray | list[np.ndarray],
            spec: DistillSpec, val: tuple[np.ndarray, Any] | None = None,
            callbacks: Sequence[keras.callbacks.Callback] = (),
            verbose: int = 0) -> dict[str, list[float]]:
    """Fit ``model`` to ``targets`` (one array per output) with Adam and a mean squared
    error per output, each unit scaled by its spread; returns the history. With ``val``
    (images, targets): learning-rate halving on plateaus and early stopping that keeps the
    best epoch."""
    seed_everything(spec.seed)
    target_list = targets if isinstance(targets, list) else [targets]
    losses = [_scaled_mse(np.std(t, axis=0) + 1e-12) for t in target_list]
    model.compile(optimizer=keras.optimizers.Adam(spec.learning_rate), loss=losses)
    steps = list(callbacks)
    validation = None
    if val is not None:
        validation = (as_model_input(val[0], model.input_shape[1]), val[1])
        steps += [keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=spec.lr_patience),
                  keras.callbacks.EarlyStopping(patience=spec.stop_patience,
                                                restore_best_weights=True)]
    result = model.fit(as_model_input(images, model.input_shape[1]), targets,
                       validation_data=validation, epochs=spec.epochs,
                       batch_size=spec.batch_size, shuffle=True, callbacks=steps,
                       verbose=verbose)
    return {k: [float(v) for v in vals] for k, vals in result.history.items()}


def encoder_outputs(model: keras.Model, images: np.ndarray) -> dict[str, np.ndarray]:
    """``logits``, ``mu``, ``logvar`` of a joint VAE or of a bare joint-VAE encoder."""
    if hasattr(model, "encode"):
        return model.encode(images)
    return bare_encoder_outputs(model, images)


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Weights of a joint VAE into its twin of the same topology (float <-> quantized)."""
    for layer in target.encoder.layers:
        layer.set_weights(source.encoder.get_layer(layer.name).get_weights())
    target.decoder.set_weights(source.decoder.get_weights())


def quantized_twin(model: keras.Model, bits: int, integer_bits: int = 6) -> keras.Model:
    """Post-training quantization: the ``<bits, integer_bits>`` twin with ``model``'s weights."""
    twin = build_model(model.spec.replace(bits=bits, integer_bits=integer_bits))
    copy_weights(model, twin)
    return twin


def quantized_encoder(model: keras.Model, bits: int, integer_bits: int = 6) -> keras.Model:
    """The ``<bits, integer_bits>`` QKeras twin of a joint VAE's encoder, with its weights."""
    encoder = build_encoder(model.spec.replace(bits=bits, integer_bits=integer_bits),
                            QKerasFactory(bits, integer_bits))
    encoder.set_weights(model.encoder.get_weights())
    return encoder


def settings_digest(path: Path) -> str:
    """Digest of the training settings of a saved model (the parent of a fine-tune)."""
    record = read_record(path)
    return settings_hash({k: record.get(k) for k in ("model", "train", "data", "init")})


def float_reduced(profile: Profile, verbose: int = 0) -> keras.Model:
    """The reduced float joint VAE of a profile (``models/<profile>/reduced``), trained on QCD."""
    return train_or_load("reduced", reduced_spec(profile), TrainSpec.from_profile(profile),
                         split_images(profile, "qcd", "train"),
                         split_images(profile, "qcd", "val"), models_dir(profile),
                         verbose=verbose)


def quantized_reduced(profile: Profile, bits: int = 16, integer_bits: int = 6,
                      epochs: int | None = None, verbose: int = 0) -> keras.Model:
    """The QAT twin ``<bits, integer_bits>`` of :func:`float_reduced`: the joint VAE
    fine-tuned from its weights with :func:`qat_train_spec` on the QCD training jets, cached
    as ``reduced_q<bits>_<integer_bits>`` (``_e<epochs>`` appended when ``epochs`` is given)."""
    parent = float_reduced(profile, verbose)
    spec = reduced_spec(profile, bits, integer_bits)
    train_spec = qat_train_spec(profile, epochs)
    train, val = split_images(profile, "qcd", "train"), split_images(profile, "qcd", "val")
    directory = models_dir(profile)
    name = f"reduced_q{bits}_{integer_bits}" + (f"_e{epochs}" if epochs else "")

    def make() -> keras.Model:
        seed_everything(train_spec.seed)
        model = quantized_twin(parent, bits, integer_bits)
        fit(model, train, val, train_spec, verbose)
        return model

    settings = {"model": dataclasses.asdict(spec), "train": dataclasses.asdict(train_spec),
                "data": data_fingerprint(train, val), "init": settings_digest(directory / "reduced")}
    return cached(directory / name, settings, make)


def encoder_qat(profile: Profile, bits: int, integer_bits: int = 6, epochs: int = SCAN_EPOCHS,
                n_train: int = SCAN_JETS, verbose: int = 0) -> keras.Model:
    """QAT of the encoder alone: the ``<bits, integer_bits>`` twin of the float reduced
    encoder, fine-tuned for ``epochs`` on the first ``n_train`` QCD training jets to
    reproduce the float encoder's outputs (:func:`regress`, learning rate 5e-4). Returned
    as a joint VAE with the float decoder, cached as
    ``reduced_q<bits>_<integer_bits>_enc_e<epochs>_n<n_train>``."""
    parent = float_reduced(profile, verbose)
    train = split_images(profile, "qcd", "train")[:n_train]
    fit_spec = DistillSpec(epochs=epochs, batch_size=profile.batch_size, learning_rate=5e-4,
                           seed=profile.seed)
    directory = models_dir(profile)

    def make() -> keras.Model:
        targets = list(encoder_outputs(parent.encoder, train).values())
        model = quantized_twin(parent, bits, integer_bits)
        regress(model.encoder, train, targets, fit_spec, verbose=verbose)
        return model

    settings = {"model": dataclasses.asdict(reduced_spec(profile, bits, integer_bits)),
                "distill": dataclasses.asdict(fit_spec), "data": data_fingerprint(train),
                "init": settings_digest(directory / "reduced")}
    name = f"reduced_q{bits}_{integer_bits}_enc_e{epochs}_n{n_train}"
    return cached(directory / name, settings, make)


def kl_scores(model: keras.Model, images: np.ndarray) -> pd.DataFrame:
    """KL scores (``kl_cont``, ``kl_disc``, ``kl_total``) of a joint VAE (or of its bare
    encoder): the encoder alone is evaluated."""
    encoded = encoder_outputs(model, images)
    cont = scores.kl_cont(encoded["mu"], encoded["logvar"])
    disc = scores.kl_disc(encoded["logits"])
    return pd.DataFrame({"kl_cont": cont, "kl_disc": disc, "kl_total": cont + disc})


def kl_auc(model: keras.Model, qcd: np.ndarray, top: np.ndarray) -> float:
    """ROC AUC of the KL-total score, top (signal) against QCD."""
    values = np.concatenate([kl_scores(model, qcd)["kl_total"], kl_scores(model, top)["kl_total"]])
    labels = np.concatenate([np.zeros(len(qcd)), np.ones(len(top))])
    return scores.auc(values, labels)


def bit_scan(profile: Profile, bits: Sequence[int] = SCAN_BITS, integer_bits: int = 6,
             epochs: int = SCAN_EPOCHS, n_train: int = SCAN_JETS,
             verbose: int = 0) -> pd.DataFrame:
    """KL-total AUC on the test jets against total bits at fixed ``integer_bits``.

    Each width is :func:`encoder_qat` (``epochs`` on ``n_train`` jets); ``epochs = 0``
    rounds the float weights without training (post-training quantization, nothing
    cached). Columns ``bits``, ``integer_bits``, ``epochs``, ``auc``.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    qcd, top = split_images(profile, "qcd", "test"), split_images(profile, "top", "test")
    parent = float_reduced(profile, verbose)
    rows = []
    for b in bits:
        model = (encoder_qat(profile, b, integer_bits, epochs, n_train, verbose) if epochs
                 else quantized_encoder(parent, b, integer_bits))
        rows.append({"bits": b, "integer_bits": integer_bits, "epochs": epochs,
                     "auc": kl_auc(model, qcd, top)})
    return pd.DataFrame(rows)


def kernels(encoder: keras.Model, quantized: bool = True) -> dict[str, np.ndarray]:
    """Flattened kernels of every conv / dense layer; as the quantizer outputs them when
    ``quantized`` and the layer has a kernel quantizer, else the stored float values."""
    out = {}
    for layer in encoder.layers:
        if not isinstance(layer, keras.layers.Conv2D | keras.layers.Dense):
            continue
        quantizer = getattr(layer, "kernel_quantizer_internal", None)
        w = quantizer(layer.kernel) if quantized and quantizer is not None else layer.kernel
        out[layer.name] = np.asarray(w).ravel()
    return out
