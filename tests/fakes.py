"""Test helpers shared by the test files: numpy stand-ins, test images, tiny specs and the
reader of the values an executed notebook recorded (fixtures live in ``conftest.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np


class LinearEncoder:
    """A model's numpy ``encode`` interface from fixed random linear maps of the pixels.

    ``batches`` records the size of every encoded batch.
    """

    def __init__(self, kind: str, latent_dim: int, n_categories: int, seed: int):
        self.spec = SimpleNamespace(kind=kind, latent_dim=latent_dim, n_categories=n_categories)
        rng = np.random.default_rng(seed)
        self.w_mu = rng.normal(size=(1600, latent_dim))
        self.w_var = rng.normal(size=(1600, latent_dim))
        self.w_cat = rng.normal(size=(1600, n_categories))
        self.batches: list[int] = []

    def encode(self, images, batch_size=512):
        flat = images.reshape(len(images), -1).astype(np.float64) * 100.0
        self.batches.append(len(images))
        if self.spec.kind == "ae":
            return {"z": flat @ self.w_mu}
        out = {"mu": flat @ self.w_mu, "logvar": np.tanh(flat @ self.w_var)}
        if self.spec.kind == "jointvae":
            out["logits"] = flat @ self.w_cat
        return out


def unit_sum_images(n: int, seed: int = 0) -> np.ndarray:
    """``n`` random positive 40 x 40 images, each normalized to unit sum."""
    raw = np.random.default_rng(seed).exponential(size=(n, 40, 40)).astype(np.float32)
    return raw / raw.sum(axis=(1, 2), keepdims=True)


def sparse_unit_sum_images(n: int, seed: int = 0) -> np.ndarray:
    """``n`` random 40 x 40 images with a few bright pixels (uniform ** 8), unit sum."""
    x = np.random.default_rng(seed).random((n, 40, 40), dtype=np.float32) ** 8
    return x / x.sum(axis=(1, 2), keepdims=True)


#: The smallest joint VAE the training, cache and CLI tests use (two encoder stages).
TINY_SPEC = {"filters": (4, 8), "depths": (1, 0), "groups": 2, "latent_dim": 4, "n_categories": 3,
             "decoder_size": 10, "decoder_base": 8, "decoder_filters": (4, 4),
             "decoder_depths": (1, 0), "decoder_groups": 2}
#: A tiny quantized <16,6> joint VAE for the pruning, distillation and report tests.
TINY_QUANTIZED_SPEC = {"filters": (4, 4), "depths": (0, 1), "groups": 2, "latent_dim": 4,
                       "n_categories": 3, "decoder_base": 4, "decoder_filters": (4, 4, 4, 4),
                       "decoder_depths": (0, 0, 0, 0), "negative_slope": 0.25, "bits": 16,
                       "integer_bits": 6}


def glued(notebook: Path) -> dict[str, str]:
    """Values an executed notebook recorded with ``myst_nb.glue``, by glue name, as the text
    the book shows (``text/plain``, string quotes stripped: ``'16,572'`` -> ``16,572``)."""
    values = {}
    for cell in json.loads(Path(notebook).read_text())["cells"]:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook")
            if record:
                text = output["data"][record["mime_prefix"] + "text/plain"]
                values[record["name"]] = str(text).strip("'\"")
    return values


def number(text: str) -> float | None:
    """A glued text as a number (thousands separators allowed); None if it is not one."""
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def hand_quantized_model(groups: int = 1):
    """Input (8, 8, 2) -> QConv2D 4x3x3 'same' <16,6> -> QActivation relu <8,3> -> Flatten ->
    QDense 3 <8,3>: a network small enough to check firmware estimates by hand."""
    from src.backend import keras  # noqa: I001  (TensorFlow is set up before QKeras)
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 2), name="image")
    x = QConv2D(4, 3, padding="same", groups=groups,
                kernel_quantizer=quantized_bits(16, 6, alpha=1),
                bias_quantizer=quantized_bits(16, 6, alpha=1), name="conv")(inputs)
    x = QActivation(quantized_relu(8, 3), name="act")(x)
    x = keras.layers.Flatten(name="flat")(x)
    x = QDense(3, kernel_quantizer=quantized_bits(8, 3, alpha=1),
               bias_quantizer=quantized_bits(8, 3, alpha=1), name="dense")(x)
    return keras.Model(inputs, x)
