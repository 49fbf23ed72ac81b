"""The README's PMO tables, rebuilt from the result files of `sciloop bench pmo`.

PMO (10,000 calls): per objective, each measured method as mean +- std of AUC top-10 over its seeds
(with the seed count; sciloop's runs only with a frozen method, each in its own column, see
`current`), beside published means. The 16 stable objectives come first, then the four that pytdc
0.3.7 changed, under both definitions; a published method is shown on a changed objective only under
the definition its authors used (`bench.published`). Headline rows: the sums over the 16 stable and
over the 8 evaluation objectives, as sums of seed means and per seed, and the sum over the 20
objectives in the leaderboard's definitions; then the #Circles counts summed the same way over the
16 stable objectives (a mean per run would weigh each method by the objectives it happens to have).
PMO-1K (1,000 calls, the 16 stable objectives) follows when any 1,000-call run exists; no
published numbers there.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sciloop.pipeline.bench import (BENCH_CONFIG, EVALUATION, METHOD_VERSIONS, METHODS, OBJECTIVES, RESULTS,
                                    STABLE, TUNING, auc_every, config_id, load_results, method_overrides,
                                    published)

START, END = "<!-- pmo-table:start -->", "<!-- pmo-table:end -->"
PUBLISHED_COLUMNS = ("genetic_gfn", "reinvent", "graph_ga", "gp_bo", "screening", "mol_ga", "invirtuogen",
                     "frag_prescreen")
"""Published columns shown (f-RAG prescreens ZINC250k with the task's oracle, uncounted)."""
LEADERBOARD_20 = STABLE + tuple(f"{name}_prev" for name in ("isomers_c7h8n2o2", "isomers_c9h10n2o2pf2cl",
                                                              "sitagliptin_mpo", "zaleplon_mpo"))
"""The 20 objectives in the leaderboard's definitions."""


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} +- {std:.3f} ({len(values)})"


REPORT_UNTIMED = "2026-12-06T21:04:10"
"""sciloop result files stamped before this (UTC; `started` is stamped when a result is written, at
the run's end) ran a harness that timed the campaign's closing screening report too (the sweep ran
commit 02240a6's harness from 21:04:15); they predate the `report_timed` field that says so."""

PMO_CORPUS = "zinc250k"
"""The corpus PMO used (Gao et al. 2022): a method's runs on it replace its runs on any other."""


def sciloop_columns(budget: int, config: Path = BENCH_CONFIG) -> dict[str, str]:
    """config_id -> table column of each frozen sciloop method at `budget` (`bench.METHOD_VERSIONS`):
    the newest is "sciloop", an earlier one "sciloop v1", "sciloop v2", ..."""
    count = len(METHOD_VERSIONS.get(budget, ((),)))
    return {config_id(method_overrides(budget, version=v), config, budget): "sciloop" if v == count
            else f"sciloop v{v}" for v in range(1, count + 1)}


def current(results: list[dict[str, Any]], budget: int = 10_000,
            columns: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The runs a table counts: `budget` calls, sciloop only with a frozen method at that budget
    (`columns`, default `sciloop_columns(budget)`: an earlier method's runs are relabelled with its
    column), one corpus per method (`PMO_CORPUS` where the method has runs on
    it, else the corpus of its newest run: a column never mixes corpora), and the newest run of each
    objective, method and seed."""
    columns = sciloop_columns(budget) if columns is None else columns
    kept = sorted(({**r, "method": columns[r.get("config_id", "")]} if r["method"] == "sciloop" else r
                   for r in results if r["budget"] == budget
                   and (r["method"] != "sciloop" or r.get("config_id") in columns)),
                  key=lambda r: r["started"])
    corpus = {r["method"]: r.get("corpus") for r in kept}  # the newest run's
    corpus |= {r["method"]: PMO_CORPUS for r in kept if r.get("corpus") == PMO_CORPUS}
    newest: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in kept:
        if r.get("corpus") == corpus[r["method"]]:
            newest[r["objective"], r["method"], r["seed"]] = r
    return list(newest.values())


def _tag(objective: str) -> str:
    if objective in EVALUATION:
        return " (evaluation)"
    if objective in TUNING:
        return " (tuning)"
    return " (leaderboard def.)" if objective.endswith("_prev") else " (pytdc >= 0.3.7 def.)"


def _sums(auc: dict[tuple[str, str, int], float], method: str, subset: Sequence[str],
          digits: int = 2) -> tuple[str, str]:
    """(sum of seed means, per-seed sums) of `method` over `subset`; counts where incomplete."""
    seeds = sorted({s for (o, m, s) in auc if m == method})
    means = [statistics.mean(v) for o in subset
             if (v := [auc[o, method, s] for s in seeds if (o, method, s) in auc])]
    total = f"{sum(means):.{digits}f}" if len(means) == len(subset) else f"({len(means)}/{len(subset)} done)"
    per_seed = []
    for s in seeds:
        have = [auc[o, method, s] for o in subset if (o, method, s) in auc]
        per_seed.append(f"s{s} {sum(have):.{digits}f}" if len(have) == len(subset)
                        else f"s{s} ({len(have)}/{len(subset)})")
    return total, ", ".join(per_seed) or "-"


def _table(results: list[dict[str, Any]], budget: int, with_published: bool,
           objectives: Sequence[str] = OBJECTIVES, config: Path = BENCH_CONFIG) -> str:
    board = published()
    frozen = sciloop_columns(budget, config)
    runs = current(results, budget=budget, columns=frozen)
    auc: dict[tuple[str, str, int], float] = {}
    walls: dict[str, list[float]] = defaultdict(list)
    loads: dict[str, list[float]] = defaultdict(list)
    machines: dict[str, set[str]] = defaultdict(set)
    circles: dict[tuple[str, str, int], float] = {}
    corpora: dict[str, set[str]] = defaultdict(set)
    reported: dict[str, int] = defaultdict(int)  # runs whose times include the closing screening report
    resumed: dict[str, int] = defaultdict(int)  # runs continued after a kill: their times cover a part
    for r in runs:
        if r["objective"] not in OBJECTIVES:
            continue
        auc[r["objective"], r["method"], r["seed"]] = r["auc_top10"]
        if r.get("resumed"):
            resumed[r["method"]] += 1
        else:
            walls[r["method"]].append(r["wall_s"])
            loads[r["method"]].append(max(r.get("load_average") or [0.0]))
        machines[r["method"]].add(r["machine"])
        corpora[r["method"]].add(r["corpus"])
        old = r["method"].startswith("sciloop") and r["started"] < REPORT_UNTIMED
        reported[r["method"]] += r.get("report_timed", old)
        if r.get("circles") is not None:
            circles[r["objective"], r["method"], r["seed"]] = r["circles"]
    earlier = [c for c in frozen.values() if c != "sciloop"]
    measured = [m for m in (*METHODS[:1], *earlier, *METHODS[1:]) if walls[m] or resumed[m]]
    columns = PUBLISHED_COLUMNS if with_published else ()
    head = ["objective", *(f"{m} (ours)" for m in measured), *(f"{c} (pub.)" for c in columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for objective in objectives:
        cells = [_cell([v for (o, m, _), v in auc.items() if o == objective and m == method])
                 for method in measured]
        cells += ["-" if board[objective][c] is None else f"{board[objective][c]:.3f}" for c in columns]
        lines.append(f"| {objective}{_tag(objective)} | " + " | ".join(cells) + " |")
    headline = [("sum, 16 stable", STABLE), ("sum, 8 evaluation", EVALUATION)]
    if set(LEADERBOARD_20) <= set(objectives):
        headline.append(("sum, 20 (leaderboard definitions)", LEADERBOARD_20))
    for label, subset in headline:
        sums = [_sums(auc, m, subset) for m in measured]
        pub = [f"{sum(v):.2f}" if None not in (v := [board[o][c] for o in subset]) else "-"  # type: ignore[arg-type]
               for c in columns]
        lines.append(f"| **{label}** | " + " | ".join([s for s, _ in sums] + pub) + " |")
        if label != "sum, 20 (leaderboard definitions)":
            lines.append(f"| {label}, per seed | " + " | ".join([p for _, p in sums] + [""] * len(columns)) + " |")
    counts = [_sums(circles, m, STABLE, digits=0) for m in measured]
    lines.append("| #Circles, sum over 16 stable | " + " | ".join(c for c, _ in counts) + " |" * (len(columns) + 1))
    lines.append("| #Circles, 16 stable, per seed | " + " | ".join(p for _, p in counts) + " |" * (len(columns) + 1))
    every = auc_every(budget)
    notes = [f"- AUC top-10 over {budget:,} calls, the top-10 curve read every {every} calls, for every method."]
    notes.append("- sciloop's frozen methods (`bench.METHOD_VERSIONS`), by config id: "
                 + ", ".join(f"{column} `{cid}`" for cid, column in frozen.items()) + ".")
    qed = {m: statistics.mean(v) for m in measured if (v := [c for (o, mm, _), c in circles.items()
                                                           if o == "qed" and mm == m])}
    notes.append("- #Circles: distinct hits after Renz et al. 2024 (thresholds in `pipeline/data`), summed as the "
                 "AUC is; qed's threshold is passed by most drug-like molecules, so its count weighs most "
                 "(mean per qed run: " + ", ".join(f"{m} {v:.0f}" for m, v in qed.items()) + ").")
    if with_published:
        notes.append("- Published: the leaderboard's methods (reinvent, graph_ga, gp_bo, screening; pytdc 0.3.6) "
                     "only on `*_prev`; Genetic GFN (pytdc 0.4.0) only on the current definitions; "
                     "mol_ga, invirtuogen and frag_prescreen (prescreens ZINC250k with the oracle) do not say "
                     "which definitions they used, so only the 16 stable objectives compare. `-`: not comparable.")
    notes += [f"- {m}: " + (f"median wall time per run {statistics.median(walls[m]):.0f} s "
                            f"(median 1-minute load average {statistics.median(loads[m]):.1f}); " if walls[m] else "")
              + f"corpus {', '.join(sorted(corpora[m]))}; machine(s): {'; '.join(sorted(machines[m]))}"
              + (f"; {reported[m]} of {len(walls[m])} runs also timed the campaign's closing screening report "
                 f"(5x its calls, uncharged; left out since 2026-12-06)" if reported[m] else "")
              + (f"; {resumed[m]} run(s) continued after a kill, their wall times left out" if resumed[m] else "")
              for m in measured]
    return "\n".join(lines + [""] + notes)


def pmo_table(results: list[dict[str, Any]], config: Path = BENCH_CONFIG) -> str:
    """Markdown tables of AUC top-10: PMO (10,000 calls, with published columns) and, when any
    1,000-call runs exist, PMO-1K. sciloop's runs count when made with `config` (`current`)."""
    out = _table(results, 10_000, with_published=True, config=config)
    if any(r["budget"] == 1_000 for r in results):
        out += "\n\n**PMO-1K** (1,000 calls, the 16 stable objectives)\n\n" + _table(
            results, 1_000, with_published=False, objectives=STABLE, config=config)
    return out


def write_readme(readme: Path = Path("README.md"), results_dir: Path = RESULTS,
                 config: Path = BENCH_CONFIG) -> str:
    """Replaces the text between the table markers of the README; returns the table."""
    table = pmo_table(load_results(results_dir), config)
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    readme.write_text(head + START + "\n" + table + "\n" + END + rest.split(END, 1)[1])
    return table
