"""The anomaly score this project recommends for every kind of model it ships.

``python -m src score`` writes, for any model folder, the scores the model has (see
:data:`src.analysis.scores.SCORE_COLUMNS`) plus a column ``anomaly``: higher = more anomalous.

- joint VAE and VAE: ``kl_total``, the encoder-only score of the study (chapter 4);
- autoencoder: ``bce``, its better reconstruction score for top against QCD (chapter 4
  tabulates both);
- supervised classifier: the signal probability;
- student: its estimate of the teacher's log KL total (or of the recommended score);
- a model that carries a fitted scoring rule (``score.json``, chapter 7's recommended
  models): every score of :class:`src.analysis.independence.LatentScorer`, and ``anomaly``
  copies the one the rule names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..models.store import write_score_rule
from ..models.student import student_scores
from .independence import LatentScorer
from .scores import score_images

#: The score chapter 7 recommends for its recommended models.
RECOMMENDED_SCORE = "kl_total"

#: Column of the score table that ``anomaly`` copies, per model kind (None: the model's
#: own single output, which is then the only column).
RECOMMENDED: dict[str, str | None] = {
    "jointvae": "kl_total", "vae": "kl_total", "ae": "bce", "classifier": None, "student": None,
}


def _single_output(model: Any, images: np.ndarray, batch_size: int,
                   progress: bool) -> np.ndarray:
    """The one output of a classifier (signal probability) or a student, batch by batch."""
    predict = (model.predict_proba if model.spec.kind == "classifier"
               else lambda x, batch_size: student_scores(model, x, batch_size))
    parts = []
    with tqdm(total=len(images), disable=not progress, unit="jet", desc="scoring") as bar:
        for start in range(0, len(images), batch_size):
            x = np.asarray(images[start:start + batch_size], dtype=np.float32)
            parts.append(np.asarray(predict(x, batch_size=batch_size), dtype=np.float64))
            bar.update(len(x))
    return np.concatenate(parts)


def score_model(model: Any, images: Any, batch_size: int = 1024,
                progress: bool = False) -> pd.DataFrame:
    """Every score of ``model`` on unit-sum ``images`` (N, 40, 40), one row per image, and
    the recommended ``anomaly`` column last."""
    kind = getattr(getattr(model, "spec", None), "kind", None)
    if kind not in RECOMMENDED:
        raise ValueError(f"no recommended score for a model of kind {kind!r}; "
                         f"known kinds: {', '.join(RECOMMENDED)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    rule = getattr(model, "score_rule", None)
    if rule is not None:
        return _ruled(model, rule, images, batch_size, progress)
    column = RECOMMENDED[kind]
    if column is None:
        return pd.DataFrame({"anomaly": _single_output(model, images, batch_size, progress)})
    frame = score_images(model, images, batch_size=batch_size, progress=progress)
    frame["anomaly"] = frame[column]
    return frame


def _ruled(model: Any, rule: dict, images: Any, batch_size: int,
           progress: bool) -> pd.DataFrame:
    """Scores of a model with a fitted rule, batch by batch, ``anomaly`` last."""
    scorer = LatentScorer.from_dict(model, rule["scorer"])
    parts = []
    with tqdm(total=len(images), disable=not progress, unit="jet", desc="scoring") as bar:
        for start in range(0, len(images), batch_size):
            x = np.asarray(images[start:start + batch_size], dtype=np.float32)
            parts.append(scorer.scores(x)[0])
            bar.update(len(x))
    frame = pd.concat(parts, ignore_index=True)
    frame["anomaly"] = frame[rule["anomaly"]]
    return frame


def ship_score(model: Any, path: Any, train_images: np.ndarray,
               anomaly: str = RECOMMENDED_SCORE, seed: int = 0) -> LatentScorer:
    """Fit the latent scores of ``model`` on ``train_images`` and store them beside its
    weights at ``path`` with ``anomaly`` as the recommended score; the model then carries
    the rule (``python -m src score`` uses it)."""
    scorer = LatentScorer.fit(model, train_images, seed)
    frame = scorer.scores(np.asarray(train_images[:2], np.float32))[0]
    if anomaly not in frame:
        raise ValueError(f"unknown score {anomaly!r}; the model has {', '.join(frame.columns)}")
    rule = {"anomaly": anomaly, "scorer": scorer.to_dict()}
    write_score_rule(path, rule)
    model.score_rule = rule
    return scorer
