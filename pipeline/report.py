"""Round metrics and the closing summary table."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from rich.table import Table


def top_k_mean(values: Sequence[float], k: int) -> float:
    """Mean of the k best values (of all there are, if fewer); nan when empty."""
    if not len(values):
        return math.nan
    return float(np.mean(sorted(values, reverse=True)[:k]))


def summary_table(rounds: list[dict[str, Any]], title: str) -> Table:
    """One row per finished round: oracle calls, best, top-10 mean, prospective Spearman."""
    table = Table(title=title)
    for col in ("round", "oracle calls", "new labels", "failures", "best", "top-10 mean",
                "spearman (new batch)", "seconds"):
        table.add_column(col, justify="right")

    def fmt(v: Any, spec: str = ".3f") -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"
        return format(int(v) if spec == "d" else v, spec)

    for r in rounds:
        m = r["metrics"]
        table.add_row(str(r["round"]), fmt(m.get("oracle_calls"), "d"), fmt(m.get("new_labels"), "d"),
                      fmt(m.get("failures"), "d"), fmt(m.get("best")), fmt(m.get("top10_mean")),
                      fmt(m.get("spearman_batch")), fmt(m.get("seconds_total"), ".1f"))
    return table
