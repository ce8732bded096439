"""Registry of the trained models of the book, each cached in ``models/<profile>/<name>``.

Every notebook asks for the models it needs through :func:`trained`; a model is trained
only when no saved model matches its settings (architecture, training settings and a
digest of the training data), so the chapters can run in any order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..backend import keras
from ..config import Profile, models_dir
from ..data.splits import labelled, split_images
from .spec import ModelSpec
from .train import TrainSpec, train_or_load


@dataclass(frozen=True)
class Recipe:
    """What a named model is: its kind and the sample(s) it learns from."""

    kind: str
    trained_on: str  # a process, or "qcd+top" for the supervised classifier
    description: str
    model: dict = field(default_factory=dict)  # ModelSpec fields beyond the profile's
    train: dict = field(default_factory=dict)  # TrainSpec fields beyond the profile's


#: Chapter 7's recommended recipe: the ModelSpec and TrainSpec fields that differ from
#: the study's (its scan, :mod:`src.analysis.scan`, compares it with the others).
RECOMMENDED_MODEL: dict = {}
RECOMMENDED_TRAIN = {"beta": 1.0}

RECIPES: dict[str, Recipe] = {
    "jointvae": Recipe("jointvae", "qcd", "joint VAE trained on QCD jets (the study's model)"),
    "ae": Recipe("ae", "qcd", "plain autoencoder, same encoder and decoder, trained on QCD"),
    "vae": Recipe("vae", "qcd", "continuous-only VAE, same encoder and decoder, trained on QCD"),
    "classifier": Recipe("classifier", "qcd+top",
                         "supervised CNN, same encoder trunk, trained with QCD/top labels"),
    "jointvae_top": Recipe("jointvae", "top", "joint VAE trained on top jets (inverted task)"),
    **{name: Recipe("jointvae", process, f"{what} (chapter 7's recommended recipe)",
                    model=RECOMMENDED_MODEL, train=RECOMMENDED_TRAIN)
       for name, process, what in (
           ("recommended", "qcd", "joint VAE trained on QCD jets"),
           ("recommended_top", "top", "its twin trained on top jets (inverted task)"))},
}


#: The models of the study's comparison (chapters 2-4); chapter 7 adds the recommended pair.
STUDY_MODELS = ("jointvae", "ae", "vae", "classifier", "jointvae_top")


def model_spec(profile: Profile, name: str) -> ModelSpec:
    """Architecture of the named model: the profile's JointVAE settings with its kind."""
    recipe = _recipe(name)
    return ModelSpec(**{**profile.model, **recipe.model, "kind": recipe.kind})


def train_spec(profile: Profile, name: str) -> TrainSpec:
    """Training settings of the named model: the profile's with the recipe's changes."""
    return replace(TrainSpec.from_profile(profile), **_recipe(name).train)


def trained(profile: Profile, name: str, verbose: int = 0) -> keras.Model:
    """The named model of :data:`RECIPES`, loaded from its folder or trained now."""
    recipe = _recipe(name)
    spec, settings = model_spec(profile, name), train_spec(profile, name)
    if recipe.kind != "classifier":
        return train_or_load(name, spec, settings, split_images(profile, recipe.trained_on,
                                                                  "train"),
                             split_images(profile, recipe.trained_on, "val"),
                             models_dir(profile), verbose=verbose)
    train, train_labels = labelled(profile, "train")
    val, val_labels = labelled(profile, "val")
    return train_or_load(name, spec, settings, train, val, models_dir(profile),
                         train_labels=train_labels, val_labels=val_labels, verbose=verbose)


def _recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name]
