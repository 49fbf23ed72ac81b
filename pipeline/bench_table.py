"""The README's PMO table, rebuilt from the result files of `sciloop bench pmo`.

Per objective: each measured method as mean +- std of AUC top-10 over its seeds (with the seed
count; sciloop's runs only with the current config, see `current`), beside the leaderboard's published means. Sums are given over the 20 objectives and over
the 10 tuning ones, only where a method has every objective of that set.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from sciloop.pipeline.bench import METHODS, RESULTS, ROOT, TUNING, config_id, load_results, published

START, END = "<!-- pmo-table:start -->", "<!-- pmo-table:end -->"
PUBLISHED_COLUMNS = ("genetic_gfn", "reinvent", "graph_ga", "gp_bo", "screening", "gflownet")


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} +- {std:.3f} ({len(values)})"


def current(results: list[dict[str, Any]], sciloop_config: str | None = None) -> list[dict[str, Any]]:
    """The runs the table counts: 10,000 calls, sciloop only with the current `configs/pmo.yaml`
    (and prior), and the newest run of each objective, method and seed."""
    sciloop_config = sciloop_config or config_id()
    newest: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in sorted(results, key=lambda r: r["started"]):
        if r["budget"] == 10_000 and (r["method"] != "sciloop" or r.get("config_id") == sciloop_config):
            newest[r["objective"], r["method"], r["seed"]] = r
    return list(newest.values())


def pmo_table(results: list[dict[str, Any]]) -> str:
    """Markdown table of AUC top-10 by objective: measured methods, then published columns."""
    board = published()
    auc: dict[tuple[str, str], list[float]] = defaultdict(list)
    walls: dict[str, list[float]] = defaultdict(list)
    loads: dict[str, list[float]] = defaultdict(list)
    machines: dict[str, set[str]] = defaultdict(set)
    for r in current(results):
        auc[r["objective"], r["method"]].append(r["auc_top10"])
        walls[r["method"]].append(r["wall_s"])
        loads[r["method"]].append(max(r.get("load_average") or [0.0]))
        machines[r["method"]].add(r["machine"])
    measured = [m for m in METHODS if walls[m]]
    head = ["objective", *(f"{m} (ours)" for m in measured), *(f"{c} (pub.)" for c in PUBLISHED_COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for objective in sorted(board):
        tag = " (tuning)" if objective in TUNING else ""
        cells = [_cell(auc[objective, m]) for m in measured]
        cells += [board[objective][c] for c in PUBLISHED_COLUMNS]
        lines.append(f"| {objective}{tag} | " + " | ".join(cells) + " |")
    for label, subset in (("sum, 20 objectives", sorted(board)), ("sum, 10 tuning", TUNING)):
        cells = []
        for m in measured:
            have = [statistics.mean(auc[o, m]) for o in subset if auc[o, m]]
            cells.append(f"{sum(have):.2f}" if len(have) == len(subset) else f"({len(have)}/{len(subset)} done)")
        cells += [f"{sum(float(board[o][c]) for o in subset):.2f}" for c in PUBLISHED_COLUMNS]
        lines.append(f"| **{label}** | " + " | ".join(cells) + " |")
    notes = [f"- {m}: median wall time per 10,000-call run {statistics.median(walls[m]):.0f} s "
             f"(median 1-minute load average {statistics.median(loads[m]):.1f}); "
             f"machine(s): {'; '.join(sorted(machines[m]))}" for m in measured]
    return "\n".join(lines + [""] + notes)


def write_readme(readme: Path = ROOT / "README.md", results_dir: Path = RESULTS) -> str:
    """Replaces the text between the table markers of the README; returns the table."""
    table = pmo_table(load_results(results_dir))
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    readme.write_text(head + START + "\n" + table + "\n" + END + rest.split(END, 1)[1])
    return table
