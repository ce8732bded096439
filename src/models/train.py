"""Training: the generative models, the supervised classifier, and a generic regression fit.

Per-epoch metrics (train and ``val_`` prefixed): ``loss`` (the objective), ``bce``
(pixel-summed binary cross-entropy), ``kl_cont`` and ``kl_disc`` (un-weighted KL
divergences, where the model has them), ``mse`` (per-image summed squared error),
``psnr`` and ``ssim`` (``tf.image`` with ``max_val = 1`` on the unit-sum images the model
sees), and ``lr``. Train values are running means over the epoch, validation values are
computed after it. All are batch means; see :func:`src.models.losses.image_metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import keras, seed_everything, tf
from .losses import Capacity, Objective
from .networks import as_model_input, build_model
from .spec import ModelSpec
from .store import cached, data_fingerprint


@dataclass(frozen=True)
class TrainSpec:
    """Optimizer, schedule and objective settings; the defaults are the study's."""

    epochs: int = 8
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 1e-3
    lr_factor: float = 0.5
    lr_patience: int = 3
    stop_patience: int = 4
    beta: float = 3e3
    capacity: bool = False
    gamma: float = 30.0
    cont_capacity: float = 5.0
    disc_capacity: float = 2.0
    capacity_iterations: int = 1500
    seed: int = 0

    @classmethod
    def from_profile(cls, profile: Any) -> TrainSpec:
        """Settings of a :class:`src.config.Profile` (epochs, batch, seed, ``train``)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(profile.train) - known)
        if unknown:
            raise ValueError(f"unknown TrainSpec fields: {', '.join(unknown)}")
        return cls(**{"epochs": profile.epochs, "batch_size": profile.batch_size,
                      "seed": profile.seed, **profile.train})

    def objective(self, spec: ModelSpec) -> Objective:
        """The objective for a model of ``spec``."""
        capacity = (Capacity(self.gamma, self.cont_capacity, self.disc_capacity,
                             self.capacity_iterations) if self.capacity else None)
        return Objective(spec.kind, self.beta, spec.n_categories, spec.eps, capacity)


class RaiseOnNaN(keras.callbacks.Callback):
    """Stop training with a clear error as soon as a loss is not finite."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def _check(self, logs: dict | None, where: str) -> None:
        for key in ("loss", "val_loss"):
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(float(value)):
                raise FloatingPointError(f"training diverged: {key} = {float(value)} {where}")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._check(logs, f"at epoch {self.epoch + 1}, batch {batch + 1}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._check(logs, f"after epoch {epoch + 1}")


def _dataset(arrays: tuple, batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices(arrays if len(arrays) > 1 else arrays[0])
    if shuffle:
        ds = ds.shuffle(len(arrays[0]), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def compile_model(model: keras.Model, spec: TrainSpec) -> None:
    """Compile with AdamW and the objective of the model kind (BCE + AUC for a classifier)."""
    optimizer = keras.optimizers.AdamW(learning_rate=spec.learning_rate,
                                       weight_decay=spec.weight_decay)
    if model.spec.kind == "classifier":
        model.compile(optimizer=optimizer, loss=keras.losses.BinaryCrossentropy(),
                      metrics=[keras.metrics.AUC(name="auc")])
    else:
        model.compile(optimizer=optimizer, objective=spec.objective(model.spec))
    # Slot variables made now spare the training function a second trace that creates them.
    optimizer.build(model.trainable_variables)


def _run(model: keras.Model, train_ds, val_ds, spec: TrainSpec, verbose: int) -> dict:
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=spec.stop_patience,
                                         restore_best_weights=True)
    callbacks = [RaiseOnNaN(), stop,
                 keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=spec.lr_factor,
                                                   patience=spec.lr_patience)]
    result = model.fit(train_ds, validation_data=val_ds, epochs=spec.epochs,
                       callbacks=callbacks, verbose=verbose)
    history = {k: [float(v) for v in vals] for k, vals in result.history.items()}
    model.training_history = history
    return history


def fit(model: keras.Model, train_images: np.ndarray, val_images: np.ndarray,
        spec: TrainSpec, verbose: int = 0) -> dict[str, list[float]]:
    """Train a jointvae / vae / ae model; returns the history (also ``model.training_history``).

    The model keeps the weights of the epoch with the lowest validation loss. ``verbose``
    is Keras' (0 silent, 1 progress bar, 2 one line per epoch).
    """
    if model.spec.kind == "classifier":
        raise ValueError("fit trains generative models; use fit_classifier for a classifier")
    seed_everything(spec.seed)
    size = model.spec.image_size
    train_ds = _dataset((as_model_input(train_images, size),), spec.batch_size, True, spec.seed)
    val_ds = _dataset((as_model_input(val_images, size),), spec.batch_size, False, spec.seed)
    compile_model(model, spec)
    return _run(model, train_ds, val_ds, spec, verbose)


def fit_classifier(model: keras.Model, images: np.ndarray, labels: np.ndarray,
                   val_images: np.ndarray, val_labels: np.ndarray, spec: TrainSpec,
                   verbose: int = 0) -> dict[str, list[float]]:
    """Train the supervised baseline with binary cross-entropy; reports ``auc`` too."""
    if model.spec.kind != "classifier":
        raise ValueError(f"fit_classifier needs a classifier, got kind {model.spec.kind!r}")
    seed_everything(spec.seed)
    size = model.spec.image_size

    def arrays(x: np.ndarray, y: np.ndarray) -> tuple:
        y = np.asarray(y, np.float32).reshape(-1, 1)
        if len(y) != len(x):
            raise ValueError(f"{len(x)} images but {len(y)} labels")
        return as_model_input(x, size), y

    train_ds = _dataset(arrays(images, labels), spec.batch_size, True, spec.seed)
    val_ds = _dataset(arrays(val_images, val_labels), spec.batch_size, False, spec.seed)
    compile_model(model, spec)
    return _run(model, train_ds, val_ds, spec, verbose)


def train_or_load(name: str, spec: ModelSpec, train_spec: TrainSpec,
                  train_images: np.ndarray, val_images: np.ndarray,
                  directory: str | Path, fingerprint: str | None = None,
                  train_labels: np.ndarray | None = None, val_labels: np.ndarray | None = None,
                  verbose: int = 0) -> keras.Model:
    """Load ``directory/name`` if it was trained with the same settings, else train it.

    The cache key (:func:`cached`) is the model spec, the train spec and ``fingerprint``
    (by default a digest of the given arrays). A fresh model is built after seeding,
    trained, and saved atomically with its history, the training wall time
    (``train_seconds``) and the number of training images. A classifier needs
    ``train_labels`` and ``val_labels``.
    """
    if fingerprint is None:
        fingerprint = data_fingerprint(train_images, val_images, train_labels, val_labels)

    def make() -> keras.Model:
        seed_everything(train_spec.seed)
        model = build_model(spec)
        if spec.kind == "classifier":
            if train_labels is None or val_labels is None:
                raise ValueError("training a classifier needs train_labels and val_labels")
            fit_classifier(model, train_images, train_labels, val_images, val_labels,
                           train_spec, verbose)
        else:
            fit(model, train_images, val_images, train_spec, verbose)
        return model

    settings = {"model": asdict(spec), "train": asdict(train_spec), "data": fingerprint}
    return cached(Path(directory) / name, settings, make,
                  metadata={"n_train": len(train_images)})


@dataclass(frozen=True)
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
