"""Design-space search over the resource ESTIMATES of :mod:`src.fpga.estimate`.

:func:`scan` totals one model under several uniform settings; :func:`tune` picks per-layer
reuse and parallelization factors of low estimated latency within a resource budget;
:func:`layer_config` turns its choice into hls4ml's per-layer configuration and
:func:`settings_table` into a table to read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from .devices import CLOCK_NS, RESOURCES, U250_PART, device_capacity
from .estimate import _pixels, _shape, estimate_model


def scan(keras_model, settings: Sequence[Mapping[str, Any]], **common: Any) -> pd.DataFrame:
    """Total ESTIMATE of one model under several settings.

    Each setting is a dict of :func:`estimate_model` keyword arguments (merged over ``common``).
    One row per setting: its entries (a mapping shown as text), then the total ``DSP``, ``LUT``,
    ``FF``, ``BRAM_18K``, their ``%`` of the part, ``latency_cycles``, ``latency_ns``,
    ``II_cycles`` and ``II_ns`` (the clock period times the II).
    """
    columns = [*RESOURCES, *(f"{k}_%" for k in RESOURCES), "latency_cycles", "latency_ns",
               "II_cycles"]
    rows = []
    for setting in settings:
        arguments = {**common, **setting}
        total = estimate_model(keras_model, **arguments).loc["total", columns]
        row = {k: str(dict(v)) if isinstance(v, Mapping) else v for k, v in setting.items()}
        row.update(total.to_dict())
        row["II_ns"] = row["II_cycles"] * float(arguments.get("clock_period", CLOCK_NS))
        rows.append(row)
    return pd.DataFrame(rows)


def tune(keras_model, budget: Mapping[str, float],
         reuse_factors: Sequence[int] = (1, 2, 4, 8, 16, 32, 64), **common: Any) -> tuple[dict[str, dict[str, int]], pd.DataFrame]:
    """Per-layer reuse and parallelization factors of low ESTIMATED latency within a budget.

    ``budget`` maps resources to the % of the part they may take (e.g. ``{"DSP": 10, "LUT": 10}``).
    Convolutions, dense layers and instance norms get a reuse factor from ``reuse_factors``;
    ``io_parallel`` convolutions also a parallelization factor, a divisor of their output pixels
    (hls4ml accepts no other). A layer's estimate does not depend on the others' settings, so each
    layer's options are estimated once; a greedy search starts from the cheapest option of every
    layer and repeatedly takes the change with the largest latency saving per share of the budget
    it adds, while the totals stay within the budget. Returns ``({"reuse_factor": {layer: R},
    "parallelization_factor": {layer: PF}}, estimate_model table of that choice)``; raises
    ``ValueError`` if even the cheapest options exceed the budget.
    """
    base = estimate_model(keras_model, **common)
    stream = common.get("io_type", "io_parallel") == "io_stream"
    tunable = base.index[base["type"].isin(["Conv2D", "QConv2D", "Dense", "QDense",
                                            "InstanceNormalization"])]
    pixels = {layer.name: _pixels(_shape(layer.output_shape)) for layer in keras_model.layers}
    pfs = sorted({d for n in tunable for d in range(1, pixels[n] + 1) if pixels[n] % d == 0})
    limit = {k: v * device_capacity(common.get("part", U250_PART))[k] / 100 for k, v in budget.items()}
    options: dict[str, dict[tuple[int, int], pd.Series]] = {n: {} for n in tunable}
    for reuse in reuse_factors:
        for pf in (pfs if not stream else [1]):
            table = estimate_model(keras_model, **{**common, "reuse_factor": reuse,
                                                   "parallelization_factor": pf})
            for name in tunable:
                conv = base.loc[name, "type"].endswith("Conv2D") and not stream
                if (pixels[name] % pf == 0) if conv else pf == 1:
                    options[name][reuse, pf if conv else 1] = table.loc[name]
    fixed = base.drop(index=[*tunable, "total"])
    total = {k: float(fixed[k].sum()) for k in limit}

    def share(row: pd.Series) -> float:
        return max(row[k] / limit[k] for k in limit)

    choice = {n: min(opts, key=lambda key, o=opts: (share(o[key]), o[key]["latency_cycles"]))
              for n, opts in options.items()}
    for name, key in choice.items():
        for k in limit:
            total[k] += options[name][key][k]
    if any(total[k] > limit[k] for k in limit):
        raise ValueError(f"even the cheapest settings exceed the budget {dict(budget)}: {total}")
    while True:
        best, best_gain = None, 0.0
        for name, opts in options.items():
            now = opts[choice[name]]
            for key, row in opts.items():
                saved = now["latency_cycles"] - row["latency_cycles"]
                added = {k: row[k] - now[k] for k in limit}
                if saved <= 0 or any(total[k] + added[k] > limit[k] for k in limit):
                    continue
                gain = saved / max(max(added[k] / limit[k] for k in limit), 1e-9)
                if gain > best_gain:
                    best, best_gain = (name, key, added), gain
        if best is None:
            break
        name, key, added = best
        choice[name] = key
        for k in limit:
            total[k] += added[k]
    settings = {"reuse_factor": {n: r for n, (r, _) in choice.items()},
                "parallelization_factor": {n: pf for n, (_, pf) in choice.items()
                                           if base.loc[n, "type"].endswith("Conv2D")}}
    merged = {**common, "reuse_factor": settings["reuse_factor"],
              "parallelization_factor": {"default": 1, **settings["parallelization_factor"]}}
    return settings, estimate_model(keras_model, **merged)


def layer_config(settings: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """:func:`tune`'s choice as hls4ml per-layer entries (``layer_config`` of
    :func:`src.fpga.convert.convert`): ``{layer: {"ReuseFactor": R, "ParallelizationFactor":
    PF}}``, the latter for the convolutions only."""
    config = {name: {"ReuseFactor": int(r)} for name, r in settings["reuse_factor"].items()}
    for name, pf in settings["parallelization_factor"].items():
        if name not in config:
            raise ValueError(f"layer {name!r} has a parallelization factor but no reuse factor")
        config[name]["ParallelizationFactor"] = int(pf)
    return config


def settings_table(settings: Mapping[str, Mapping[str, int]]) -> pd.DataFrame:
    """:func:`tune`'s choice, one row per layer: ``reuse factor`` and ``pixels per pass``
    (empty for layers other than convolutions)."""
    table = pd.DataFrame({key: dict(settings[key])
                          for key in ("reuse_factor", "parallelization_factor")})
    return table.astype("Int64").rename(columns={"reuse_factor": "reuse factor",
                                                 "parallelization_factor": "pixels per pass"}
                                        ).rename_axis("layer")
