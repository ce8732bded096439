"""Training throughput of a model on this machine, against the attainable matmul rate."""

from __future__ import annotations

import os
import time

import numpy as np

from ..backend import seed_everything, tf
from ..models.networks import build_model, count_macs
from ..models.spec import ModelSpec
from ..models.train import TrainSpec, compile_model


def random_images(n: int, size: int = 40, seed: int = 0) -> np.ndarray:
    """Sparse-looking random images, each normalized to unit sum (float32 ``(n, size, size)``)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, size, size), dtype=np.float32) ** 16
    return x / x.sum(axis=(1, 2), keepdims=True)


def matmul_rate(n: int = 2048, repeats: int = 5) -> dict:
    """Attainable float32 GFLOP/s: best of ``repeats`` ``n x n`` matmuls (``2 n^3`` FLOP)."""
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    tf.matmul(a, b).numpy()  # warm-up
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        tf.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return {"n": n, "seconds": best, "gflops": 2 * n**3 / best / 1e9}


def training_throughput(spec: ModelSpec, n_images: int = 1024, batch_size: int = 128,
                        warmup_steps: int = 2, seed: int = 0) -> dict:
    """Images per second of full training steps (forward, backward, AdamW update).

    Runs ``warmup_steps`` steps (graph tracing) and then ``n_images // batch_size`` timed
    steps on random unit-sum images. ``achieved_gflops`` counts ``3 x forward MACs x 2``
    FLOP per image (forward pass plus a backward pass of about twice its cost);
    ``ratio`` divides it by :func:`matmul_rate` measured in the same process.
    """
    seed_everything(seed)
    model = build_model(spec)
    compile_model(model, TrainSpec(batch_size=batch_size, seed=seed))
    images = random_images(n_images, spec.image_size, seed)[..., None]
    if spec.kind == "classifier":
        labels = np.arange(n_images, dtype=np.float32).reshape(-1, 1) % 2
        data = tf.data.Dataset.from_tensor_slices((images, labels))
    else:
        data = tf.data.Dataset.from_tensor_slices(images)
    batches = iter(data.batch(batch_size, drop_remainder=True).repeat())
    step = model.make_train_function()
    for _ in range(warmup_steps):
        step(batches)
    steps = max(n_images // batch_size, 1)
    start = time.perf_counter()
    for _ in range(steps):
        logs = step(batches)
    float(logs["loss"])
    seconds = time.perf_counter() - start
    images_per_s = steps * batch_size / seconds
    macs = count_macs(model)
    forward = sum(macs.values())
    achieved = 3 * forward * 2 * images_per_s / 1e9
    attainable = matmul_rate()["gflops"]
    parts = [model.network] if spec.kind == "classifier" else [model.encoder, model.decoder]
    return {
        "kind": spec.kind,
        "parameters": {p.name: int(p.count_params()) for p in parts},
        "forward_macs": int(forward),
        "batch_size": batch_size,
        "steps": steps,
        "seconds_per_step": seconds / steps,
        "images_per_s": images_per_s,
        "achieved_gflops": achieved,
        "attainable_gflops": attainable,
        "ratio": achieved / attainable,
        "cpu_count": os.cpu_count(),
    }
