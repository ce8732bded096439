"""Chapter 4's comparison: every model's anomaly scores on the test jets beside the baselines
(jet mass, supervised CNN) and beside the study's numbers.

The scores are held as ``scores[source][process]``: a per-jet table for each model of
:data:`src.models.registry.STUDY_MODELS` that scores images (columns of
:func:`src.analysis.scores.score_images`), ``"jet"`` (column ``jet_mass``, GeV) and
``"classifier"`` (column ``probability``, the supervised CNN's signal probability). A row of
a comparison is ``label: (source, column)``; every score is oriented so that higher means
more signal-like.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from ..config import Profile
from ..data.splits import split
from ..models.registry import RECIPES, STUDY_MODELS, trained
from ..study import FIGURE_3_10, PAPER_TABLE_1
from .metrics import metrics_table, stack
from .scores import score_images
from .tables import with_errors

Rows = Mapping[str, tuple[str, str]]

#: Models scored by :func:`score_images` (the classifier gives one probability instead).
SCORED = ("jointvae", "ae", "vae", "jointvae_top")

#: Top against QCD: the joint VAE's seven scores, the other models' and the baselines.
ROWS: dict[str, tuple[str, str]] = {
    "JointVAE KL continuous": ("jointvae", "kl_cont"),
    "JointVAE KL discrete": ("jointvae", "kl_disc"),
    "JointVAE KL total": ("jointvae", "kl_total"),
    "JointVAE BCE": ("jointvae", "bce"),
    "JointVAE squared error": ("jointvae", "mse"),
    "JointVAE Dice": ("jointvae", "dice"),
    "JointVAE BCE + Dice": ("jointvae", "total"),
    "AE squared error": ("ae", "mse"),
    "AE BCE": ("ae", "bce"),
    "VAE KL": ("vae", "kl_cont"),
    "VAE BCE": ("vae", "bce"),
    "jet mass": ("jet", "jet_mass"),
    "supervised CNN": ("classifier", "probability"),
}

#: The joint VAE's encoder-only (latent) scores among :data:`ROWS`.
LATENT_ROWS = ["JointVAE KL continuous", "JointVAE KL discrete", "JointVAE KL total"]

#: Rows drawn as ROC curves: the latent scores, the best reconstruction scores, baselines.
ROC_ROWS = {row: ROWS[row] for row in (
    "JointVAE KL total", "JointVAE KL continuous", "JointVAE KL discrete", "JointVAE BCE + Dice",
    "AE squared error", "VAE KL", "jet mass", "supervised CNN")}

#: The inverted task: the joint VAE trained on top jets, QCD jets as the signal.
INVERTED_ROWS: dict[str, tuple[str, str]] = {
    "JointVAE KL total": ("jointvae_top", "kl_total"),
    "JointVAE KL continuous": ("jointvae_top", "kl_cont"),
    "JointVAE BCE": ("jointvae_top", "bce"),
    "JointVAE squared error": ("jointvae_top", "mse"),
    "JointVAE BCE + Dice": ("jointvae_top", "total"),
}

#: Columns of :func:`with_study`: title -> metric of a :func:`metrics_table`.
ERROR_COLUMNS = {"AUC [%]": "auc", "TPR @ FPR 10% [%]": "tpr@fpr=0.1",
                 "TPR @ FPR 1% [%]": "tpr@fpr=0.01"}

#: The model of the study (the joint VAE trained on QCD jets), whose rows it quotes.
STUDY_SOURCE = "jointvae"


def model_table() -> pd.DataFrame:
    """One row per model of :data:`STUDY_MODELS` with its description."""
    return pd.DataFrame({"model": {name: RECIPES[name].description for name in STUDY_MODELS}})


def test_scores(profile: Profile, processes: Iterable[str] = ("qcd", "top", "w"),
                ) -> dict[str, dict[str, pd.DataFrame]]:
    """``scores[source][process]`` on each process's test split (see the module docstring).

    Every model of :data:`STUDY_MODELS` is loaded from its cache, or trained if it has none.
    """
    test = {p: split(profile, p, "test", ("images", "jet_mass")) for p in processes}
    models = {name: trained(profile, name) for name in STUDY_MODELS}
    scores = {name: {p: score_images(models[name], test[p]["images"]) for p in test}
              for name in SCORED}
    scores["jet"] = {p: pd.DataFrame({"jet_mass": test[p]["jet_mass"]}) for p in test}
    scores["classifier"] = {
        p: pd.DataFrame({"probability": models["classifier"].predict_proba(test[p]["images"])})
        for p in test}
    return scores


def columns(scores: Mapping[str, Mapping[str, pd.DataFrame]], rows: Rows,
            process: str) -> dict[str, np.ndarray]:
    """``{row: per-jet scores of process}`` for every row ``label: (source, column)``."""
    return {row: np.asarray(scores[source][process][column])
            for row, (source, column) in rows.items()}


def comparison(scores: Mapping[str, Mapping[str, pd.DataFrame]], rows: Rows, signal: str,
               background: str = "qcd", seed: int = 0) -> pd.DataFrame:
    """:func:`src.analysis.metrics.metrics_table` of every row, ``signal`` against
    ``background`` jets (fractions, not percent), one table row per comparison row."""
    return metrics_table(columns(scores, rows, background), columns(scores, rows, signal),
                         seed=seed)


def stacked(scores: Mapping[str, Mapping[str, pd.DataFrame]], rows: Rows, signal: str,
            background: str = "qcd") -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every row's scores of the background then the signal jets, and their labels 0 / 1:
    the input of :func:`src.analysis.metrics.roc_set`."""
    bkg, sig = columns(scores, rows, background), columns(scores, rows, signal)
    pairs = {row: stack(bkg[row], sig[row]) for row in rows}
    return {row: values for row, (values, _) in pairs.items()}, next(iter(pairs.values()))[1]


def study_columns(rows: Rows) -> pd.DataFrame:
    """The study's AUC and TPR at FPR = 10% [%] for the rows it quotes (its Table 1 for the
    KL scores, the legends of its Figure 3.10 for the reconstruction scores, which give no
    TPR), NaN for every other row."""
    quoted = {}
    for row, (source, column) in rows.items():
        if source == STUDY_SOURCE and column in PAPER_TABLE_1.values:
            quoted[row] = PAPER_TABLE_1.values[column]
        elif source == STUDY_SOURCE and column in FIGURE_3_10.values:
            quoted[row] = (FIGURE_3_10.values[column], np.nan)
        else:
            quoted[row] = (np.nan, np.nan)
    return pd.DataFrame.from_dict(quoted, orient="index",
                                  columns=["study AUC [%]", "study TPR @ FPR 10% [%]"])


def with_study(table: pd.DataFrame, rows: Rows) -> pd.DataFrame:
    """A :func:`comparison` in percent, each cell ``"value ± error"``, beside
    :func:`study_columns` of the same rows."""
    return pd.concat([with_errors(table, ERROR_COLUMNS), study_columns(rows).loc[table.index]],
                     axis=1)


def source_note() -> str:
    """Where the study's numbers of :func:`study_columns` stand (Markdown)."""
    return f"{PAPER_TABLE_1.source}; {FIGURE_3_10.source}"

