"""Knowledge distillation of a trigger-sized student (after the study's own outlook).

The student (:func:`src.models.student.build_student`) learns, on QCD training jets only (no
top labels), to regress the teacher's log KL-total, standardized on those jets; its output
is the anomaly score. The teacher is the full float joint VAE of chapter 2. Regressing the
teacher's 84 posterior parameters instead and rebuilding the KL from them was tried on a
subset of the default profile (10k jets, same student body): most dimensions sit at the
prior, the regression fits their noise and the rebuilt KL ranked jets worse than chance,
while the log KL-total target matched the teacher's AUC; only that target is kept.

A student with ``inputs="window"`` (:class:`src.models.spec.StudentSpec`) learns the same
target, the teacher's on its preprocessed images, from the window images of the same jets
(:func:`src.data.preprocess.window_images`): no per-jet preprocessing before the student.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from ..analysis.anomaly import score_model
from ..backend import keras, seed_everything
from ..config import Profile, models_dir, settings_hash
from ..data.splits import split_images, split_window_images
from ..models.registry import trained
from ..models.spec import StudentSpec
from ..models.store import cached, data_fingerprint, read_score_rule, settings_digest
from ..models.student import build_student, student_scores
from ..models.train import DistillSpec, regress
from .quantize import kl_scores

#: Floor of the teacher's KL-total before the logarithm [nats].
KL_FLOOR = 1e-6
#: Student epochs per epoch of the profile.
STUDENT_EPOCHS_PER_PROFILE_EPOCH = 3
#: The student's goal: at least this fraction of the teacher's KL-total AUC.
STUDENT_GOAL = 0.95


#: Readers of a split part as a student sees it, by :attr:`StudentSpec.inputs`.
INPUT_READERS = {"standard": split_images, "window": split_window_images}


def student_inputs(profile: Profile, spec: StudentSpec, process: str, part: str) -> np.ndarray:
    """The images a student of ``spec`` takes, of one split part of a profile's sample."""
    return INPUT_READERS[spec.inputs](profile, process, part)


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


def gaussian_ranks(values: np.ndarray) -> np.ndarray:
    """Normal quantiles of the ranks of ``values``: a monotone map of any score onto a
    standard normal, so a student regresses a well-behaved target with the same ordering."""
    ranks = rankdata(np.asarray(values, np.float64))
    return norm.ppf(ranks / (len(ranks) + 1))


def teacher_target(teacher: keras.Model, images: np.ndarray) -> np.ndarray:
    """What a student of ``teacher`` regresses before standardization: the recommended
    anomaly score of a teacher with a fitted rule (chapter 7), else its log KL-total."""
    if getattr(teacher, "score_rule", None) is not None:
        return score_model(teacher, images)["anomaly"].to_numpy()
    return teacher_log_kl(teacher, images)


def student(profile: Profile, verbose: int = 0, teacher_name: str = "jointvae",
            name: str = "student", spec: StudentSpec | None = None) -> keras.Model:
    """The student of the profile's model ``teacher_name`` with architecture ``spec``
    (default :class:`StudentSpec`), cached in ``models/<profile>/<name>``.

    Trained with :func:`src.models.train.regress` for three times the profile's epochs (the
    student is cheap) on the QCD training jets, early-stopped on the QCD validation jets.
    The target is the teacher's log KL-total, standardized, or for a teacher with a fitted
    score (chapter 7's recommended model) the :func:`gaussian_ranks` of that score; the teacher
    sees the preprocessed images, the student :func:`student_inputs` of the same jets.
    """
    teacher = trained(profile, teacher_name, verbose)
    directory = models_dir(profile)
    if teacher_name != "jointvae":  # a teacher with a rule: it must have been fitted
        teacher.score_rule = read_score_rule(directory / teacher_name)
    ranked = getattr(teacher, "score_rule", None) is not None
    spec = spec or StudentSpec()
    fit_spec = DistillSpec(epochs=STUDENT_EPOCHS_PER_PROFILE_EPOCH * profile.epochs,
                           batch_size=profile.batch_size, seed=profile.seed)
    train, val = split_images(profile, "qcd", "train"), split_images(profile, "qcd", "val")
    seen = (() if spec.inputs == "standard" else
            tuple(student_inputs(profile, spec, "qcd", part) for part in ("train", "val")))
    x_train, x_val = seen or (train, val)

    def make() -> keras.Model:
        y_train, y_val = teacher_target(teacher, train), teacher_target(teacher, val)
        if ranked:
            reference = np.sort(y_train)
            y_train = gaussian_ranks(y_train)
            y_val = norm.ppf(np.clip(np.searchsorted(reference, y_val) / (len(reference) + 1),
                                     0.5 / len(reference), 1 - 0.5 / len(reference)))
            mean, std = 0.0, 1.0
        else:
            mean, std = float(y_train.mean()), float(y_train.std())
        seed_everything(fit_spec.seed)
        model = build_student(spec)
        regress(model, x_train, (y_train - mean) / std, fit_spec,
                val=(x_val, (y_val - mean) / std), verbose=verbose)
        return model

    settings = {"student": dataclasses.asdict(spec), "distill": dataclasses.asdict(fit_spec),
                "teacher": settings_digest(directory / teacher_name),
                "data": data_fingerprint(train, val, *seen)}
    if ranked:
        settings["teacher_score"] = settings_hash(teacher.score_rule)
    return cached(directory / name, settings, make)
