"""Chapter 7's shipped detector: the recommended recipe trained with the full budget on QCD
and on top jets, its fitted anomaly score stored beside the weights, a trigger-sized
student of it, and their evaluation on the whole test split."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ..analysis.anomaly import RECOMMENDED_SCORE, score_model, ship_score
from ..analysis.independence import evaluate, mass_baselines, stacked_auc
from ..analysis.massdep import TOP_WINDOW, auc_in_window
from ..analysis.scan import COLUMNS, FIT_JETS, SCORE_NAMES
from ..analysis.scan import RECIPES as SCAN_RECIPES
from ..analysis.tables import styled
from ..config import Profile, models_dir
from ..data.splits import split, split_images
from ..models.registry import RECIPES, trained
from ..models.student import student_scores
from .distill import STUDENT_GOAL, student

#: Names of the shipped models.
QCD_MODEL, TOP_MODEL, STUDENT_MODEL = "recommended", "recommended_top", "recommended_student"


def shipped(profile: Profile, verbose: int = 0) -> dict[str, Any]:
    """Train (or load) and ship the recommended pair and its student, and evaluate them on
    the test split: a dict with ``rows`` (metrics per model and score), ``glue`` (the
    chapter's numbers), ``qcd_mass`` / ``qcd_scores`` (for the sculpting figure) and
    ``limits`` (rank correlations of the anomaly score with the jet mass and the number of
    constituents, per class and model)."""
    directory = models_dir(profile)
    fit = {p: split_images(profile, p, "train")[:FIT_JETS] for p in ("qcd", "top")}
    models = {QCD_MODEL: trained(profile, QCD_MODEL, verbose),
              TOP_MODEL: trained(profile, TOP_MODEL, verbose)}
    for (name, model), process in zip(models.items(), ("qcd", "top"), strict=True):
        ship_score(model, directory / name, fit[process], seed=profile.seed)
    pupil = student(profile, verbose, teacher_name=QCD_MODEL, name=STUDENT_MODEL)
    test = {p: split(profile, p, "test", ("images", "jet_mass", "n_constituents"))
            for p in ("qcd", "top", "w")}
    ours = evaluate(models[QCD_MODEL], fit["qcd"], test, "qcd", seed=profile.seed)
    twin = evaluate(models[TOP_MODEL], fit["top"], test, "top", seed=profile.seed)
    study = trained(profile, "jointvae", verbose)
    study_eval = evaluate(study, split_images(profile, "qcd", "train")[:FIT_JETS], test, "qcd",
                          seed=profile.seed)
    study_twin = evaluate(trained(profile, "jointvae_top", verbose),
                          split_images(profile, "top", "train")[:FIT_JETS], test, "top",
                          seed=profile.seed)
    rows = {}
    for label, metrics, inverted in (("recommended", ours, twin),
                                     ("study's JointVAE", study_eval, study_twin)):
        for score in ("kl_total", "bce", "sum_mu2", "mahalanobis", "mixture", "mixture+bce"):
            rows[f"{label} · {SCORE_NAMES[score]}"] = {
                **metrics["scores"][score], **inverted["scores"][score]}
    rows.update(mass_baselines(test))
    student_test = {p: student_scores(pupil, d["images"]) for p, d in test.items()}
    mass = np.r_[test["qcd"]["jet_mass"], test["top"]["jet_mass"]]
    labels = np.r_[np.zeros(len(test["qcd"]["images"])), np.ones(len(test["top"]["images"]))]
    rows["recommended student"] = {
        "auc_top": stacked_auc(student_test["qcd"], student_test["top"]),
        "auc_w": stacked_auc(student_test["qcd"], student_test["w"]),
        "auc_window": auc_in_window(np.r_[student_test["qcd"], student_test["top"]], labels,
                                    mass, TOP_WINDOW)}
    frame = pd.DataFrame(rows).T
    anomaly = f"recommended · {SCORE_NAMES[RECOMMENDED_SCORE]}"
    teacher_top = float(frame.loc[anomaly, "auc_top"])
    student_top = float(frame.loc["recommended student", "auc_top"])
    # the shipped anomaly score of both models on QCD and top test jets, computed once
    anomaly_scores = {(name, p): score_model(model, test[p]["images"])["anomaly"].to_numpy()
                      for name, model in models.items() for p in ("qcd", "top")}
    glue = {f"rec_{k}": round(float(frame.loc[anomaly, k]), 3)
            for k in ("auc_top", "auc_w", "auc_inverted", "auc_window", "js10", "js1")}
    glue.update({"rs_params": f"{pupil.count_params():,}", "rs_auc_top": round(student_top, 3),
                 "rs_ratio": student_top / teacher_top, "rs_goal": STUDENT_GOAL,
                 "rec_score_name": SCORE_NAMES[RECOMMENDED_SCORE]})
    return {"label": recipe_label(), "rows": frame, "glue": glue,
            "qcd_mass": test["qcd"]["jet_mass"],
            "qcd_scores": {"study: KL total": study_kl(study, test["qcd"]["images"]),
                           f"recommended: {SCORE_NAMES[RECOMMENDED_SCORE]}":
                               anomaly_scores[(QCD_MODEL, "qcd")]},
            "limits": limits(anomaly_scores, test)}


def recipe_label() -> str:
    """The recommended recipe in words, e.g. ``joint VAE, beta = 1, pixel intensities,
    scored by the KL total``."""
    beta = RECIPES[QCD_MODEL].train.get("beta", 3e3)
    inputs = {"none": "pixel intensities", "sqrt": "square-root intensities",
              "log": "log intensities"}[RECIPES[QCD_MODEL].model.get("input_transform", "none")]
    return (f"joint VAE, beta = {beta:g}, {inputs}, scored by the "
            f"{SCORE_NAMES[RECOMMENDED_SCORE]}")


def scan_label() -> str:
    """The summary row (:func:`src.analysis.scan.summary`) of the shipped recipe and score:
    the scan recipe with the same kind, KL weight and input transform."""
    beta = RECIPES[QCD_MODEL].train.get("beta", 3e3)
    transform = RECIPES[QCD_MODEL].model.get("input_transform", "none")
    for recipe in SCAN_RECIPES.values():
        if (recipe.kind, recipe.beta, recipe.transform, recipe.capacity) == (
                RECIPES[QCD_MODEL].kind, beta, transform, False):
            return f"{recipe.label} · {SCORE_NAMES[RECOMMENDED_SCORE]}"
    raise ValueError("the scan has no recipe like the recommended one")


def study_kl(model: Any, images: np.ndarray) -> np.ndarray:
    """The study's score, KL total, of a joint VAE."""
    return score_model(model, images)["kl_total"].to_numpy()


def limits(scores: dict[tuple[str, str], np.ndarray],
           test: dict[str, dict[str, np.ndarray]]) -> pd.DataFrame:
    """Spearman rank correlation of anomaly scores ``{(model, process): per-jet score}``
    with the jet mass and the number of constituents of those test jets."""
    return pd.DataFrame({
        (name, process): {field: float(spearmanr(score, test[process][field]).statistic)
                          for field in ("jet_mass", "n_constituents")}
        for (name, process), score in scores.items()}).T


def display_shipped(result: dict[str, Any]):
    """The shipped models' metrics on the test split, three decimals."""
    frame = result["rows"][[c for c in COLUMNS if c in result["rows"]]]
    return styled(frame.rename(columns=COLUMNS), precision=3, na_rep="")


def display_limits(result: dict[str, Any]):
    """The rank correlations of :func:`limits` with readable labels."""
    frame = result["limits"].rename(columns={"jet_mass": "rank corr. with jet mass",
                                             "n_constituents": "rank corr. with constituents"})
    frame.index = [f"{model}, {process} test jets" for model, process in frame.index]
    return styled(frame, precision=2)
