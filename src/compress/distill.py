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

from ..backend import keras, seed_everything
from ..config import Profile, models_dir
from ..data.splits import split_images
from ..models.registry import trained
from ..models.spec import StudentSpec
from ..models.store import cached, data_fingerprint, settings_digest
from ..models.student import build_student
from ..models.train import DistillSpec, regress
from .quantize import kl_scores

#: Floor of the teacher's KL-total before the logarithm [nats].
KL_FLOOR = 1e-6
#: Student epochs per epoch of the profile.
STUDENT_EPOCHS_PER_PROFILE_EPOCH = 3


def teacher_log_kl(teacher: keras.Model, images: np.ndarray) -> np.ndarray:
    """The teacher's log KL-total per image (KL floored at :data:`KL_FLOOR` nats)."""
    return np.log(np.maximum(kl_scores(teacher, images)["kl_total"].to_numpy(), KL_FLOOR))


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
