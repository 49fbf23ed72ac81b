"""`sciloop label`: import oracle values measured outside sciloop (a lab, a lost worker's results)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from sciloop.pipeline.config import ConfigError
from sciloop.pipeline.domain import MoleculeDomain
from sciloop.pipeline.ledger import Ledger


@dataclass
class LabelImport:
    """What an import did: designs labelled, failed (empty or non-numeric value), and skipped."""

    labeled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # design -> why


def import_labels(run_dir: str | Path, csv_path: str | Path) -> LabelImport:
    """Record values from a CSV with columns `design,value` for designs awaiting a result.

    Accepted: designs whose outcome is unknown, in flight (e.g. exported to a lab) or selected
    and never sent. A design already labelled, or not in the ledger, is skipped with a reason;
    nothing is ever labelled twice. An empty or non-numeric value records a failure.
    """
    ledger_path = Path(run_dir) / "ledger.sqlite"
    if not ledger_path.exists():
        raise ConfigError(f"{run_dir} is not a run directory (no ledger.sqlite)")
    ledger = Ledger(ledger_path)
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"design", "value"} <= set(reader.fieldnames):
            raise ConfigError(f"{csv_path}: expected a header with columns 'design' and 'value', "
                              f"got {reader.fieldnames}")
        rows = list(reader)
    awaiting = {r.key: r for r in ledger.unknown() + ledger.in_flight()}
    never_sent = {r.key: r for r in ledger.pending()}
    domain, out = MoleculeDomain(), LabelImport()
    for row in rows:
        design = (row["design"] or "").strip()
        key = domain.canonical(design)
        if key is None:
            out.skipped[design] = "not a valid design"
            continue
        if key not in awaiting and key not in never_sent:
            out.skipped[design] = "already has a result" if key in ledger.known_keys() else "not in the ledger"
            continue
        if key in never_sent:
            ledger.mark_submitted([key])
            never_sent.pop(key)
        awaiting.pop(key, None)
        try:
            value = float(row["value"])
        except (TypeError, ValueError):
            value = math.nan
        if math.isfinite(value):
            ledger.record_result(key, value, None, "label")
            out.labeled.append(key)
        else:
            ledger.record_result(key, None, f"labelled without a usable value: {row['value']!r}", "label")
            out.failed.append(key)
    return out
