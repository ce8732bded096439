"""The recipe scan of chapter 7: every recipe trained with several seeds on QCD jets and
on top jets with one small, equal budget, and evaluated on the same test jets.

A run is one recipe, one training class and one seed. Its model is cached like the
book's others (``models/<profile>/scan/<run>``, not committed); its evaluation
(:func:`src.analysis.independence.evaluate`) is stored in ``models/<profile>/scan.json``
(committed) under the digest of everything that made it, so a rebuilt book reuses the
hours of training behind it and recomputes a run whose settings changed.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..config import Profile, models_dir, settings_hash
from ..data.splits import split, split_images
from ..files import OutputError, atomic_file, exclusive_lock
from ..models.registry import model_spec
from ..models.store import data_fingerprint, read_record
from ..models.train import TrainSpec, train_or_load
from .independence import SCORES, evaluate, mass_baselines, stacked_auc
from .tables import styled

RESULTS_FILE = "scan.json"
#: Version of the evaluation; raise it when :func:`evaluate` changes what it measures.
EVALUATION_VERSION = 1
#: Training jets on whose codes the latent densities are fitted.
FIT_JETS = 4000


@dataclass(frozen=True)
class Recipe:
    """A way to train the detector: model kind, regularization and input transform."""

    label: str
    kind: str = "jointvae"
    beta: float = 3e3
    capacity: bool = False
    transform: str = "none"
    group: str = "regularization"
    model: dict = field(default_factory=dict)

    def train_spec(self, profile: Profile, seed: int) -> TrainSpec:
        """The scan budget of ``profile`` with this recipe's objective."""
        steps = profile.scan_epochs * -(-profile.scan_jets // profile.batch_size)
        return TrainSpec(epochs=profile.scan_epochs, batch_size=profile.batch_size,
                         beta=self.beta, capacity=self.capacity,
                         capacity_iterations=max(1, steps // 2), seed=seed)


#: Every recipe of the scan, by name.
RECIPES: dict[str, Recipe] = {
    **{f"beta{b:g}": Recipe(f"JointVAE, beta = {b:g}", beta=float(b))
       for b in (0.01, 0.1, 1, 100, 3000)},
    "capacity": Recipe("JointVAE, capacity 5 + 2 nats", capacity=True),
    "sqrt_beta1": Recipe("JointVAE, beta = 1, sqrt pixels", beta=1.0, transform="sqrt",
                         group="input"),
    "log_beta1": Recipe("JointVAE, beta = 1, log pixels", beta=1.0, transform="log",
                        group="input"),
    "vae_beta1": Recipe("VAE, beta = 1", kind="vae", beta=1.0, group="baseline"),
    "ae": Recipe("AE", kind="ae", group="baseline"),
    "cnn": Recipe("supervised CNN (ceiling)", kind="classifier", group="baseline"),
}


def run_name(recipe: str, trained_on: str, seed_index: int) -> str:
    """Folder and key of one run, e.g. ``beta10_qcd_s0``."""
    return f"{recipe}_{trained_on}_s{seed_index}"


def _spec(profile: Profile, recipe: Recipe):
    base = model_spec(profile, "jointvae")
    return base.replace(kind=recipe.kind, input_transform=recipe.transform, **recipe.model)


class Scan:
    """The scan of one profile: its data, its stored results and the runs still missing."""

    def __init__(self, profile: Profile, progress: bool = True):
        self.profile = profile
        self.progress = progress
        self.directory = models_dir(profile)
        self.path = self.directory / RESULTS_FILE
        n, n_val = profile.scan_jets, max(profile.scan_jets // 5, 1)
        self.train = {p: split_images(profile, p, "train")[:n] for p in ("qcd", "top")}
        self.val = {p: split_images(profile, p, "val")[:n_val] for p in ("qcd", "top")}
        self.test = {p: split(profile, p, "test", ("images", "jet_mass"))
                     for p in ("qcd", "top", "w")}
        # digests of the data every run's settings name, computed once, not once per run
        self.fingerprints = {
            "classifier": data_fingerprint(self.train["qcd"], self.train["top"]),
            **{p: data_fingerprint(self.train[p], self.val[p]) for p in ("qcd", "top")},
            "test": data_fingerprint(*(self.test[p]["images"] for p in sorted(self.test)))}
        self.results = self._read()

    def _read(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.path}: not valid JSON ({exc})") from None
        return data.get("runs", {}) if isinstance(data, dict) else {}

    def _write(self) -> None:
        with atomic_file(self.path) as tmp:
            tmp.write_text(json.dumps({"runs": self.results}, indent=1, sort_keys=True) + "\n")

    def settings(self, recipe: str, trained_on: str, seed_index: int) -> dict[str, Any]:
        """Everything a run's result depends on."""
        r = RECIPES[recipe]
        seed = self.profile.seed + seed_index
        data = self.fingerprints["classifier" if r.kind == "classifier" else trained_on]
        return {"model": asdict(_spec(self.profile, r)),
                "train": asdict(r.train_spec(self.profile, seed)),
                "data": data, "test": self.fingerprints["test"],
                "evaluation": EVALUATION_VERSION}

    def runs(self) -> list[tuple[str, str, int]]:
        """Every (recipe, trained_on, seed index) of the profile's scan."""
        out = []
        for seed_index in range(self.profile.scan_seeds):  # a whole first seed comes first
            for name, r in RECIPES.items():
                out.append((name, "qcd", seed_index))
                if r.kind != "classifier":
                    out.append((name, "top", seed_index))
        return out

    def missing(self) -> list[tuple[str, str, int]]:
        """Runs without a stored result made with their current settings."""
        return [run for run in self.runs()
                if self.results.get(run_name(*run), {}).get("hash")
                != settings_hash(self.settings(*run))]

    def run(self, recipe: str, trained_on: str, seed_index: int) -> dict[str, Any]:
        """Train (or load) one run's model and evaluate it."""
        r, settings = RECIPES[recipe], self.settings(recipe, trained_on, seed_index)
        spec, train_spec = _spec(self.profile, r), r.train_spec(
            self.profile, self.profile.seed + seed_index)
        folder = self.directory / "scan"
        name = run_name(recipe, trained_on, seed_index)
        if r.kind == "classifier":
            images = np.concatenate([self.train["qcd"], self.train["top"]])
            labels = np.r_[np.zeros(len(self.train["qcd"])), np.ones(len(self.train["top"]))]
            val = np.concatenate([self.val["qcd"], self.val["top"]])
            val_labels = np.r_[np.zeros(len(self.val["qcd"])), np.ones(len(self.val["top"]))]
            model = train_or_load(name, spec, train_spec, images, val, folder,
                                  train_labels=labels, val_labels=val_labels)
            result = {"scores": {"cnn": _classifier_aucs(model, self.test)}, "usage": {}}
        else:
            model = train_or_load(name, spec, train_spec, self.train[trained_on],
                                  self.val[trained_on], folder)
            result = evaluate(model, self.train[trained_on][:FIT_JETS], self.test, trained_on,
                              seed=self.profile.seed + seed_index)
        seconds = read_record(folder / name).get("train_seconds", 0.0)
        return {**result, "hash": settings_hash(settings), "train_seconds": seconds}

    def complete(self, part: int = 0, parts: int = 1) -> dict[str, Any]:
        """Run what is missing and return all results. Each result is stored as it comes;
        ``parts`` processes with ``part = 0 .. parts - 1`` share the missing runs."""
        todo = self.missing()[part::parts]
        for run in tqdm(todo, desc="scan runs", unit="run", disable=not self.progress):
            self._store(run_name(*run), self.run(*run))
        self.results = self._read()
        return self.results

    def _store(self, name: str, result: dict[str, Any], wait: float = 600.0) -> None:
        """Add one result to the file under its lock (re-reading what others added)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                with exclusive_lock(self.path, "another scan"):
                    self.results = {**self._read(), name: result}
                    self._write()
                    return
            except OutputError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def baselines(self) -> dict[str, dict[str, float]]:
        """Jet-mass baselines on the scan's test jets."""
        return mass_baselines(self.test)


def _classifier_aucs(model: Any, test: dict) -> dict[str, float]:
    """The supervised ceiling: its AUCs for top and W jets; for the inverted task a
    classifier trained with the labels swapped ranks the same jets, so the same AUC."""
    p = {k: model.predict_proba(v["images"]) for k, v in test.items()}
    top = stacked_auc(p["qcd"], p["top"])
    return {"auc_top": top, "auc_w": stacked_auc(p["qcd"], p["w"]), "auc_inverted": top}


def table(results: dict[str, Any], recipes: dict[str, Recipe] = RECIPES) -> pd.DataFrame:
    """One row per (recipe, score): mean and standard deviation over seeds of every metric
    (``auc_inverted`` from the top-trained twins, the rest from the QCD-trained runs)."""
    rows: dict[tuple[str, str], dict[str, list[float]]] = {}
    for key, result in results.items():
        recipe, trained_on, _ = key.rsplit("_", 2)
        if recipe not in recipes:
            continue
        for score, metrics in result["scores"].items():
            cell = rows.setdefault((recipe, score), {})
            for metric, value in metrics.items():
                if recipes[recipe].kind == "classifier" or trained_on == "qcd" or \
                        metric == "auc_inverted":
                    cell.setdefault(metric, []).append(float(value))
    records = []
    for (recipe, score), metrics in rows.items():
        record = {"recipe": recipe, "score": score, "seeds": max(map(len, metrics.values()))}
        for metric, values in metrics.items():
            record[metric] = float(np.mean(values))
            record[f"{metric}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        records.append(record)
    order = {name: i for i, name in enumerate(recipes)}
    rank = {name: i for i, name in enumerate((*SCORES, "cnn"))}
    records.sort(key=lambda r: (order[r["recipe"]], rank.get(r["score"], len(rank))))
    return pd.DataFrame(records).set_index(["recipe", "score"])


def usage_table(results: dict[str, Any], trained_on: str = "qcd") -> pd.DataFrame:
    """Mean over seeds of what the latent carries (:func:`latent_usage`), one row per recipe."""
    rows: dict[str, list[dict]] = {}
    for key, result in results.items():
        recipe, on, _ = key.rsplit("_", 2)
        if on == trained_on and result.get("usage"):
            rows.setdefault(recipe, []).append(result["usage"])
    return pd.DataFrame({r: pd.DataFrame(v).mean() for r, v in rows.items()}).T


#: Readable names of the scores of :data:`src.analysis.independence.SCORES`.
SCORE_NAMES = {"kl_total": "KL total", "kl_cont": "KL continuous", "kl_disc": "KL discrete",
               "bce": "BCE", "sum_mu2": "sum of squared means", "mahalanobis": "Mahalanobis",
               "mixture": "mixture density", "mixture+bce": "mixture + BCE",
               "cnn": "signal probability"}
#: Metrics of the summary, with their column titles.
COLUMNS = {"auc_top": "AUC top vs QCD", "auc_w": "AUC W vs QCD",
           "auc_inverted": "AUC inverted", "auc_window": "AUC top, 140-200 GeV",
           "js10": "JS 10% [bits]", "js1": "JS 1% [bits]"}
#: The scores the chapter's summary shows for every recipe.
SUMMARY_SCORES = ("kl_total", "bce", "mixture", "cnn")
TASKS = ("auc_top", "auc_w", "auc_inverted")


def summary(table: pd.DataFrame, baselines: dict[str, dict[str, float]],
            recipes: dict[str, Recipe] = RECIPES) -> pd.DataFrame:
    """Every (recipe, score) of :func:`table` and the baselines, one row each labelled
    ``"<recipe> · <score>"`` (baselines by name, no seed spread), with ``worst``: the
    smallest of the top, W and inverted AUCs."""
    rows = {}
    for (recipe, score), row in table.iterrows():
        label = f"{recipes[recipe].label} · {SCORE_NAMES.get(score, score)}"
        rows[label] = {**row.to_dict(), "recipe": recipe, "score": score}
    if "cnn" in recipes:
        cnn = [k for k, v in rows.items() if v["recipe"] == "cnn"]
        for key in cnn:
            rows[recipes["cnn"].label] = rows.pop(key)
    for name, values in baselines.items():
        rows[name] = {**values, **{f"{k}_std": 0.0 for k in values}, "seeds": 0,
                      "recipe": "baseline", "score": name}
    frame = pd.DataFrame(rows).T
    numeric = [c for c in frame.columns if c not in ("recipe", "score")]
    frame[numeric] = frame[numeric].astype(float)
    frame["worst"] = frame[list(TASKS)].min(axis=1)
    return frame


def best(frame: pd.DataFrame) -> dict[str, str]:
    """The unsupervised row of :func:`summary` with the largest worst-task AUC, as text."""
    unsupervised = frame[~frame["recipe"].isin(["cnn", "baseline"])]
    label = unsupervised["worst"].astype(float).idxmax()
    row = frame.loc[label]
    out = {"label": label, "recipe": row["recipe"], "score": row["score"]}
    for metric in (*TASKS, "auc_window"):
        out[metric] = f"{row[metric]:.3f} ± {row[f'{metric}_std']:.3f}"
    return out


def display_summary(frame: pd.DataFrame, scores: tuple[str, ...] = SUMMARY_SCORES):
    """The summary rows of ``scores`` and the baselines, cells ``mean ± std`` over the seeds
    (a baseline, which has no training seed, its single value)."""
    shown = frame[frame["score"].isin(scores) | (frame["recipe"] == "baseline")]
    cells = {title: [f"{r[m]:.3f} ± {r[f'{m}_std']:.3f}" if r["seeds"] > 1 and
                     np.isfinite(r[m]) else (f"{r[m]:.3f}" if np.isfinite(r[m]) else "")
                     for _, r in shown.iterrows()]
             for m, title in COLUMNS.items() if m in shown}
    rows = [tuple(label.split(" · ", 1)) if " · " in label else (label, "")
            for label in shown.index]
    out = pd.DataFrame(cells, index=pd.MultiIndex.from_tuples(rows, names=["recipe", "score"]))
    return styled(out).set_table_styles([
        {"selector": "td", "props": "white-space: nowrap; padding: 0.1em 0.6em"},
        {"selector": "th", "props": "padding: 0.1em 0.6em"}])


def display_usage(usage: pd.DataFrame, recipes: dict[str, Recipe] = RECIPES):
    """What the latent carries per recipe (mean over seeds, QCD-trained runs)."""
    names = {"kl_cont": "KL continuous [nats]", "kl_disc": "KL discrete [nats]",
             "purity": "category purity", "recon_spread": "reconstruction spread [%]"}
    out = usage.rename(index={k: r.label for k, r in recipes.items()}, columns=names)
    return styled(out[[c for c in names.values() if c in out]], precision=3, na_rep="")


def training_seconds(results: dict[str, Any]) -> float:
    """Total training wall time of the runs that recorded it."""
    return float(sum(r.get("train_seconds", 0.0) for r in results.values()))
