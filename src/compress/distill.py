"""Knowledge distillation of a trigger-sized student (after the study's own outlook).

The student (:func:`src.models.student.build_student`) learns, on QCD training jets only (no
top labels), to regress the teacher's log KL-total, standardized on those jets; its output
is the anomaly score. The teacher is the full float joint VAE of chapter 2. Regressing the
teacher's 84 posterior parameters instead and rebuilding the KL from them was tried on a
subset of the default profile (10k jets, same student body): most dimensions sit at the
prior, the regression fits their noise and the rebuilt KL ranked jets worse than chance,
while the log KL-total target matched the teacher's AUC; only that target is kept.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ..backend import keras, seed_everything
from ..config import Profile, models_dir
from ..data.splits import split_images
from ..models.registry import trained
from ..models.spec import StudentSpec
from ..models.store import cached, data_fingerprint, settings_digest
from ..models.student import build_student, student_scores
from ..models.train import DistillSpec, regress
from .quantize import kl_scores

#: Floor of the teacher's KL-total before the logarithm [nats].
KL_FLOOR = 1e-6
#: Student epochs per epoch of the profile.
STUDENT_EPOCHS_PER_PROFILE_EPOCH = 3
#: The student's goal: at least this fraction of the teacher's KL-total AUC.
STUDENT_GOAL = 0.95


def log_kl(kl_total: np.ndarray) -> np.ndarray:
    """The student's target before standardization: log of a KL-total [nats] floored at
    :data:`KL_FLOOR` (a KL of zero would have no logarithm)."""
    return np.log(np.maximum(kl_total, KL_FLOOR))


def teacher_log_kl(teacher: keras.Model, images: np.ndarray) -> np.ndarray:
    """The teacher's log KL-total per image (:func:`log_kl`)."""
    return log_kl(kl_scores(teacher, images)["kl_total"].to_numpy())


def paired_scores(teacher: keras.Model, student_model: keras.Model,
                  images: np.ndarray) -> pd.DataFrame:
    """Teacher and student side by side on ``images`` (N, 40, 40), one row per image:
    ``teacher`` (the teacher's KL-total [nats]), ``teacher_log_kl`` (:func:`log_kl` of it,
    what the student learned to predict) and ``student`` (:func:`student_scores`)."""
    kl_total = kl_scores(teacher, images)["kl_total"].to_numpy()
    return pd.DataFrame({"teacher": kl_total, "teacher_log_kl": log_kl(kl_total),
                         "student": student_scores(student_model, images)})


def fidelity(scores: pd.DataFrame) -> float:
    """Pearson correlation of the student's score with its target on :func:`paired_scores`."""
    return float(np.corrcoef(scores["teacher_log_kl"], scores["student"])[0, 1])


def student(profile: Profile, verbose: int = 0) -> keras.Model:
    """The distilled student of a profile, cached in ``models/<profile>/student``.

    Trained with :func:`src.models.train.regress` for three times the profile's epochs (the
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
    return cached(directory / "student", settings, make)
