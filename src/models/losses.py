"""Reconstruction loss, KL divergences, image-quality metrics and the training objective.

Per-sample functions return shape ``(B,)``; :class:`Objective` averages over the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..backend import tf

EPS = 1e-7


def bce_sum(x, x_hat, eps: float = EPS):
    """Binary cross-entropy summed over all pixels of each image.

    ``x_hat`` is clipped to ``[eps, 1 - eps]`` so that the logarithms stay finite.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    p = tf.clip_by_value(tf.convert_to_tensor(x_hat, tf.float32), eps, 1.0 - eps)
    bce = -(x * tf.math.log(p) + (1.0 - x) * tf.math.log(1.0 - p))
    return tf.reduce_sum(tf.reshape(bce, [tf.shape(bce)[0], -1]), axis=1)


def kl_continuous(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, 1)) summed over latent dimensions."""
    mu = tf.convert_to_tensor(mu, tf.float32)
    logvar = tf.convert_to_tensor(logvar, tf.float32)
    return -0.5 * tf.reduce_sum(1.0 + logvar - tf.square(mu) - tf.exp(logvar), axis=-1)


def kl_discrete(logits, eps: float = EPS):
    """KL(softmax(logits) || uniform) as ``sum q log(q + eps) - q log(1/K + eps)``."""
    logits = tf.convert_to_tensor(logits, tf.float32)
    q = tf.nn.softmax(logits, axis=-1)
    k = tf.cast(tf.shape(logits)[-1], tf.float32)
    return tf.reduce_sum(q * tf.math.log(q + eps) - q * tf.math.log(1.0 / k + eps), axis=-1)


def image_metrics(x, x_hat) -> dict:
    """Batch means of reconstruction-quality metrics on the images the model sees.

    ``mse``: squared error summed over the pixels of an image (the study's convention);
    ``psnr``: ``10 log10(1 / mean-pixel squared error)`` in dB; ``ssim``: structural
    similarity with an 11x11 Gaussian window. Both use ``max_val = 1`` on unit-sum
    images, so most pixels are ~0 and PSNR is high even for blurred reconstructions.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    x_hat = tf.convert_to_tensor(x_hat, tf.float32)
    sq = tf.reshape(tf.square(x - x_hat), [tf.shape(x)[0], -1])
    return {
        "mse": tf.reduce_mean(tf.reduce_sum(sq, axis=1)),
        "psnr": tf.reduce_mean(tf.image.psnr(x, x_hat, max_val=1.0)),
        "ssim": tf.reduce_mean(tf.image.ssim(x, x_hat, max_val=1.0)),
    }


@dataclass(frozen=True)
class Capacity:
    """Dupont's capacity control: ``gamma * |KL - C(t)|`` with ``C`` growing linearly
    from 0 to its maximum over ``iterations`` optimizer steps, for each latent part."""

    gamma: float = 30.0
    cont_max: float = 5.0
    disc_max: float = 2.0
    iterations: int = 1500

    def at(self, c_max: float, step):
        """Capacity after ``step`` optimizer steps."""
        frac = tf.minimum(tf.cast(step, tf.float32) / float(max(self.iterations, 1)), 1.0)
        return c_max * frac


class Objective:
    """Training objective of one model kind, returning the loss and its terms.

    Default (the study): ``BCE + beta * KL_cont + beta * KL_disc`` (batch means). With a
    :class:`Capacity`, the KL terms become ``gamma * |KL - C(t)|``. ``vae`` has no
    discrete term, ``ae`` only the BCE.
    """

    def __init__(self, kind: str, beta: float = 3e3, n_categories: int = 20,
                 eps: float = EPS, capacity: Capacity | None = None):
        if kind not in ("jointvae", "vae", "ae"):
            raise ValueError(f"no generative objective for model kind {kind!r}")
        if capacity is not None and kind == "jointvae" and capacity.disc_max > math.log(
                n_categories):
            raise ValueError(f"disc capacity {capacity.disc_max} exceeds log(K) = "
                             f"{math.log(n_categories):.3f}, the largest KL_disc possible")
        self.kind = kind
        self.beta = float(beta)
        self.eps = float(eps)
        self.capacity = capacity

    def _penalty(self, kl, c_max: float, step):
        if self.capacity is None:
            return self.beta * kl
        return self.capacity.gamma * tf.abs(kl - self.capacity.at(c_max, step))

    def __call__(self, x, outputs: dict, step=0) -> dict:
        bce = tf.reduce_mean(bce_sum(x, outputs["reconstruction"], self.eps))
        terms = {"bce": bce}
        loss = bce
        if self.kind in ("jointvae", "vae"):
            terms["kl_cont"] = tf.reduce_mean(kl_continuous(outputs["mu"], outputs["logvar"]))
            cap = self.capacity.cont_max if self.capacity else 0.0
            loss = loss + self._penalty(terms["kl_cont"], cap, step)
        if self.kind == "jointvae":
            terms["kl_disc"] = tf.reduce_mean(kl_discrete(outputs["logits"], self.eps))
            cap = self.capacity.disc_max if self.capacity else 0.0
            loss = loss + self._penalty(terms["kl_disc"], cap, step)
        return {"loss": loss, **terms}
