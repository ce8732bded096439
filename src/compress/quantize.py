"""The study's reduced encoder, its QKeras quantization-aware twin and a bit-width scan.

The reduced encoder (thesis section 3.5, Table 3.2) is a :class:`src.models.spec.ModelSpec`:
filters (16, 20, 4), depths (1, 2, 1), 4 groups, a linear ``conv_fin`` with 2 filters in
2 groups, 10,674 parameters. It is trained as a joint VAE with the profile's decoder. The
quantized twin has the same topology and layer names, built by :class:`src.models.layers.QKerasFactory`:
``QConv2D`` / ``QDense`` with ``quantized_bits(bits, integer, alpha=1)`` kernels and
biases, ``QActivation(quantized_relu(bits, integer, negative_slope=0.25))`` activations and
float instance normalization, as in the study.

Quantization-aware training (QAT) of the ``<16,6>`` twin is the study's: the whole joint
VAE fine-tuned from the float weights with the training objective. The bit-width scan uses
a cheaper QAT of the encoder alone, which learns to reproduce the float encoder's outputs
(:func:`src.models.train.regress`), and post-training quantization (the float weights rounded, no
training). Models are cached in ``models/<profile>/<name>`` and read back with
:func:`src.models.store.load`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..analysis import metrics, scores
from ..backend import keras, seed_everything
from ..config import Profile, models_dir
from ..data.splits import binary_labels, split_images
from ..models.layers import QKerasFactory
from ..models.networks import as_model_input, build_encoder, build_model, encoder_outputs
from ..models.spec import ModelSpec
from ..models.store import cached, data_fingerprint, settings_digest
from ..models.train import DistillSpec, TrainSpec, fit, regress, train_or_load

#: ModelSpec fields of the study's reduced encoder; the leaky-ReLU slope is the power of two
#: (0.25) that the quantized activation needs, so both twins compute the same function.
REDUCED = {"filters": (16, 20, 4), "depths": (1, 2, 1), "groups": 4, "final_filters": 2,
           "final_groups": 2, "negative_slope": 0.25}
#: Total bits of the bit-width scan; epochs and QCD training jets of its encoder fine-tunes.
SCAN_BITS = (16, 12, 10, 8, 6, 4)
SCAN_EPOCHS = 2
SCAN_JETS = 6000
#: The scan's series as (integer bits, epochs): encoder QAT, then post-training quantization
#: (no training) at 6 and at 3 integer bits.
SCAN_SERIES = ((6, SCAN_EPOCHS), (6, 0), (3, 0))
#: Largest loss of KL-total AUC that quantization may cost this project's encoder.
AUC_TOLERANCE = 0.03


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
    reproduce the float encoder's outputs (:func:`src.models.train.regress`, learning rate 5e-4). Returned
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
    return scores.kl_scores(encoder_outputs(model, images))


def kl_auc(model: keras.Model, qcd: np.ndarray, top: np.ndarray) -> float:
    """ROC AUC of the KL-total score, top (signal) against QCD."""
    values = np.concatenate([kl_scores(model, qcd)["kl_total"], kl_scores(model, top)["kl_total"]])
    return metrics.auc(values, binary_labels(len(qcd), len(top)))


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


def bit_scans(profile: Profile, series: Sequence[tuple[int, int]] = SCAN_SERIES,
              verbose: int = 0) -> pd.DataFrame:
    """:func:`bit_scan` of every ``(integer_bits, epochs)`` series, stacked in that order."""
    return pd.concat([bit_scan(profile, integer_bits=integer_bits, epochs=epochs,
                               verbose=verbose) for integer_bits, epochs in series],
                     ignore_index=True)


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


def largest_weight(kernels_by_layer: dict[str, np.ndarray]) -> float:
    """Largest kernel-weight magnitude over all layers of :func:`kernels`' output."""
    return float(max(np.abs(w).max() for w in kernels_by_layer.values()))


def activation_range(encoder: keras.Model, images: np.ndarray) -> float:
    """Largest magnitude reached by any activation layer (name ending in ``_act``) of an
    encoder on ``images`` (N, 40, 40): the range its fixed-point activations must cover."""
    outputs = [layer.output for layer in encoder.layers if layer.name.endswith("_act")]
    if not outputs:
        raise ValueError(f"encoder {encoder.name!r} has no activation layer ending in '_act'")
    probe = keras.Model(encoder.input, outputs)
    values = probe.predict(as_model_input(images, encoder.input_shape[1]), verbose=0)
    return max(float(np.abs(v).max()) for v in (values if len(outputs) > 1 else [values]))


def integer_bits_for(magnitude: float) -> int:
    """Integer bits (sign excluded, as QKeras counts them) that hold ``magnitude``."""
    return max(0, int(np.ceil(np.log2(magnitude))))
