"""Beyond the study, after its own outlook: magnitude pruning and a distilled trigger-sized student.

**Pruning.** :func:`prune_encoder` wraps every ``QConv2D`` / ``QDense`` of a quantized
encoder with tensorflow-model-optimization's ``prune_low_magnitude`` (a polynomial schedule
from 0 to the target sparsity over the first half of the fine-tune), fine-tunes it to
reproduce the unpruned encoder's outputs (mean squared error of every head, each unit
scaled by its spread) and strips the wrappers: the kernels keep their zeros, the model is
plain QKeras again. Biases are not pruned. :func:`pruned_reduced` does this to the
quantized ``<16,6>`` reduced encoder and caches the joint VAE (its decoder untouched).

**Distillation.** The student (:func:`build_student`) is a small QKeras network that
hls4ml 1.3 converts as it is: average pooling of the input, ``QConv2D`` + quantized ReLU +
max pooling stages, one hidden ``QDense`` layer and a one-unit linear ``QDense`` output.
No normalization, no grouped convolutions. It learns, on QCD training jets only (no top
labels), to regress the teacher's log KL-total, standardized on those jets; its output is
the anomaly score. The teacher is the full float joint VAE of chapter 2. Regressing the
teacher's 84 posterior parameters instead and rebuilding the KL from them was tried on a
subset of the default profile (10k jets, same student body): most dimensions sit at the
prior, the regression fits their noise and the rebuilt KL ranked jets worse than chance,
while the log KL-total target matched the teacher's AUC; only that target is kept.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .backend import keras, seed_everything  # sets TensorFlow up for QKeras: import it first

# isort: split
import tensorflow_model_optimization as tfmot
from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

from .config import Profile, models_dir
from .experiments import split_images, trained
from .model import (
    SPEC_FILE,
    WEIGHTS_FILE,
    as_model_input,
    atomic_folder,
    build_model,
    read_record,
)
from .quantize import (
    DistillSpec,
    encoder_outputs,
    kernels,
    kl_scores,
    quantized_reduced,
    regress,
    settings_digest,
)
from .train import cached, data_fingerprint

#: Floor of the teacher's KL-total before the logarithm [nats].
KL_FLOOR = 1e-6
#: Student epochs per epoch of the profile.
STUDENT_EPOCHS_PER_PROFILE_EPOCH = 3


@dataclasses.dataclass(frozen=True)
class StudentSpec:
    """Architecture of the student; every conv is 'same'-padded and followed by a quantized
    ReLU and a 2x2 max pooling. Kernels and biases use ``quantized_bits(bits,
    integer_bits, alpha=1)``, activations ``quantized_relu(bits, integer_bits)``."""

    kind: str = "student"
    image_size: int = 40
    input_pool: int = 2
    filters: tuple[int, ...] = (4, 8)
    kernel: int = 3
    dense: int = 16
    bits: int = 16
    integer_bits: int = 6

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", tuple(int(f) for f in self.filters))
        size = self.image_size // self.input_pool
        if (self.kind != "student" or self.image_size % self.input_pool
                or size % 2 ** len(self.filters) or self.bits < 2 or self.integer_bits < 0):
            raise ValueError(f"invalid StudentSpec: {self}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StudentSpec:
        """Spec from (JSON) data, with a one-line error for unknown fields."""
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown StudentSpec fields: {', '.join(unknown)}")
        return cls(**values)


def build_student(spec: StudentSpec = StudentSpec()) -> keras.Model:
    """The student network: ``(N, 40, 40, 1)`` unit-sum images -> ``(N, 1)`` score."""

    def quantizer() -> quantized_bits:
        return quantized_bits(spec.bits, spec.integer_bits, alpha=1)

    def relu(name: str) -> QActivation:
        return QActivation(quantized_relu(spec.bits, spec.integer_bits), name=name)

    images = keras.Input((spec.image_size, spec.image_size, 1), name="image")
    x = keras.layers.AveragePooling2D(spec.input_pool, name="pool_in")(images)
    for i, filters in enumerate(spec.filters):
        x = QConv2D(filters, spec.kernel, padding="same", kernel_quantizer=quantizer(),
                    bias_quantizer=quantizer(), name=f"conv{i}")(x)
        x = relu(f"relu{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = QDense(spec.dense, kernel_quantizer=quantizer(), bias_quantizer=quantizer(),
               name="dense")(x)
    x = relu("relu_dense")(x)
    score = QDense(1, kernel_quantizer=quantizer(), bias_quantizer=quantizer(), name="score")(x)
    return keras.Model(images, score, name="student")


def save_student(model: keras.Model, path: Path, metadata: dict[str, Any]) -> None:
    """Write ``weights.h5`` and ``spec.json`` (``metadata``, with a ``student`` spec entry)
    atomically (:func:`src.model.atomic_folder`)."""
    if "student" not in metadata:
        raise ValueError("student metadata needs a 'student' spec entry")
    with atomic_folder(path) as tmp:
        model.save_weights(str(tmp / WEIGHTS_FILE))
        (tmp / SPEC_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")


def load_student(path: str | Path) -> keras.Model:
    """Student written by :func:`save_student`."""
    record = read_record(path)
    if "student" not in record:
        raise ValueError(f"{path} holds no student (no 'student' entry in {SPEC_FILE})")
    model = build_student(StudentSpec.from_dict(record["student"]))
    model.load_weights(str(Path(path) / WEIGHTS_FILE))
    return model


def teacher_log_kl(teacher: keras.Model, images: np.ndarray) -> np.ndarray:
    """The teacher's log KL-total per image (KL floored at :data:`KL_FLOOR` nats)."""
    return np.log(np.maximum(kl_scores(teacher, images)["kl_total"].to_numpy(), KL_FLOOR))


def student_scores(model: keras.Model, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Anomaly score of the student per image (higher = more anomalous): its estimate of
    the teacher's log KL-total, standardized on the QCD training jets."""
    x = as_model_input(images, model.input_shape[1])
    return model.predict(x, batch_size=batch_size, verbose=0)[:, 0].astype(np.float64)


def student(profile: Profile, verbose: int = 0) -> keras.Model:
    """The distilled student of a profile, cached in ``models/<profile>/student``.

    Trained with :func:`src.quantize.regress` for three times the profile's epochs (the
    student is cheap) on the QCD training jets, early-stopped on the QCD validation jets,
    against the profile's full float joint VAE.
    """
    teacher = trained(profile, "jointvae", verbose)
    spec = StudentSpec()
    fit_spec = DistillSpec(epochs=STUDENT_EPOCHS_PER_PROFILE_EPOCH * profile.epochs,
                           batch_size=profile.batch_size, seed=profile.seed)
    train, val = split_images(profile, "qcd", "train"), split_images(profile, "qcd", "val")
    directory = models_dir(profile)

    def make() -> keras.Model:
        y_train, y_val = teacher_log_kl(teacher, train), teacher_log_kl(teacher, val)
        mean, std = float(y_train.mean()), float(y_train.std())
        seed_everything(fit_spec.seed)
        model = build_student(spec)
        regress(model, train, (y_train - mean) / std, fit_spec,
                val=(val, (y_val - mean) / std), verbose=verbose)
        return model

    settings = {"student": dataclasses.asdict(spec), "distill": dataclasses.asdict(fit_spec),
                "teacher": settings_digest(directory / "jointvae"),
                "data": data_fingerprint(train, val)}
    return cached(directory / "student", settings, make, loader=load_student, saver=save_student)


def sparsity(encoder: keras.Model) -> float:
    """Fraction of zeros among the quantized kernel weights of all conv / dense layers."""
    values = np.concatenate(list(kernels(encoder, quantized=True).values()))
    return float(np.mean(values == 0))


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
    :func:`src.model.load`."""
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
