"""`sciloop label`: import oracle values measured outside sciloop (a lab, a lost worker's results)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sciloop.oracles.handoff import read_results
from sciloop.pipeline.config import ConfigError
from sciloop.pipeline.domain import MoleculeDomain
from sciloop.pipeline.ledger import Ledger


@dataclass
class LabelImport:
    """What an import did: designs labelled, failed (no usable value), and skipped (with why)."""

    labeled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def import_labels(run_dir: str | Path, csv_path: str | Path) -> LabelImport:
    """Record values from a results CSV (`design,value[,reason]`) for designs awaiting one.

    Accepted: designs whose outcome is unknown, in flight (e.g. exported to a lab) or selected
    and never sent. A design already labelled, or not in the ledger, is skipped with a reason;
    nothing is ever labelled twice. An empty or non-numeric value records a failure.
    """
    ledger = Ledger.of_run_dir(run_dir)
    try:
        imported = read_results(csv_path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    awaiting = {r.key for r in ledger.unknown() + ledger.in_flight()}
    never_sent = {r.key for r in ledger.pending()}
    known = ledger.known_keys()
    domain, out = MoleculeDomain(), LabelImport()
    for design, result in imported.results.items():
        key = domain.canonical(design)
        if key is None or (key not in awaiting and key not in never_sent):
            out.skipped[design] = ("not a valid design" if key is None else "already has a result"
                                   if key in known else "not in the ledger")
            continue
        if key in never_sent:
            ledger.mark_submitted([key])
            never_sent.discard(key)
        awaiting.discard(key)
        ledger.record_result(key, result.value, result.reason, "label")
        (out.labeled if result.ok else out.failed).append(key)
    for design in imported.duplicates:
        out.skipped.setdefault(design, "listed twice (the first row counts)")
    return out
