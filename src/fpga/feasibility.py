"""Feasibility of the firmware against the study's numbers and a Level-1 trigger budget.

The study's Table 3.5 as a table, its eq. 3.14 (linear scaling of a block too big to
synthesize from a smaller one), and the mapping from the study's block names to the layers
of our reduced encoder.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..study import TABLE_3_5
from .devices import RESOURCES, U250_PART, device_capacity


def study_table_3_5(part: str = U250_PART) -> pd.DataFrame:
    """The study's Table 3.5 (:data:`src.study.TABLE_3_5`) with each resource's ``%`` of
    ``part``."""
    capacity = device_capacity(part)
    table = pd.DataFrame.from_dict(
        {name: {"shape": shape, **dict(zip(RESOURCES, values, strict=True))}
         for name, (shape, *values) in TABLE_3_5.values.items()}, orient="index")
    for key in RESOURCES:
        table[f"{key}_%"] = 100.0 * table[key] / capacity[key]
    table.index.name = "block"
    return table


def eq314_factor(target: tuple[int, int, int, int], reference: tuple[int, int, int, int],
                 stride: int = 2) -> float:
    """Scaling factor of the study's eq. 3.14 between two strided convolutions ``a`` and ``b``.

    ``rho(a, b) = (h_in^a/s * w_in^a/s * d_in^a * d_out^a) / (h_in^b/s * w_in^b/s * d_in^b * d_out^b)``
    with each layer given as ``(h_in, w_in, d_in, d_out)``, ``d`` the channels. For equal kernels
    and strides this is the ratio of their multiplications. The thesis prints ``d_in^b`` twice in
    the denominator; its Table 3.5 (factor 16 between conv2_b0_0, (20, 20, 16) -> 20 channels, and
    conv2_b1_1, (10, 10, 20) -> 4 channels) is reproduced with ``d_out^b``.
    """
    for shape in (target, reference):
        if len(shape) != 4 or min(shape) < 1:
            raise ValueError(f"a layer is (h_in, w_in, d_in, d_out) with positive entries, got {shape}")
    h_a, w_a, di_a, do_a = target
    h_b, w_b, di_b, do_b = reference
    return ((h_a / stride) * (w_a / stride) * di_a * do_a) / ((h_b / stride) * (w_b / stride) * di_b * do_b)


def linear_scaling(reference_resources: Mapping[str, float], target: tuple[int, int, int, int],
                   reference: tuple[int, int, int, int], stride: int = 2,
                   part: str | None = U250_PART) -> dict[str, float]:
    """ESTIMATE the resources of a convolution too big to synthesize from a synthesized smaller one.

    The reference layer's resources (e.g. ``{"DSP": 47, "LUT": 386856}``) are multiplied by
    :func:`eq314_factor` (the study's eq. 3.14). With ``part``, ``<resource>_%`` entries give the
    share of the device for the resources it knows.
    """
    factor = eq314_factor(target, reference, stride)
    scaled = {key: float(value) * factor for key, value in reference_resources.items()}
    if part is not None:
        capacity = device_capacity(part)
        scaled.update({f"{k}_%": 100.0 * v / capacity[k] for k, v in list(scaled.items()) if k in capacity})
    return scaled
