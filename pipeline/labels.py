"""`sciloop label`: import oracle values measured outside sciloop (a lab, a lost worker's results)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from sciloop.oracles.handoff import read_results
from sciloop.pipeline.config import ConfigError, OracleConfig, load_config
from sciloop.pipeline.domain import MoleculeDomain
from sciloop.pipeline.domains import make_domain
from sciloop.pipeline.ledger import Ledger, RunDirLock


@dataclass
class LabelImport:
    """What an import did: designs labelled, failed (no usable value), and skipped (with why)."""

    labeled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def value_columns(oracle: OracleConfig, csv_path: str | Path) -> tuple[str, ...]:
    """The score's columns: a lab oracle's `value_columns`; else `value`, or `value_1..n` (a
    multi-objective score, as `unrecorded-results.csv` writes it)."""
    if oracle.target == "lab" and oracle.kwargs.get("value_columns"):
        return tuple(oracle.kwargs["value_columns"])
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            header = [c.strip() for c in next(csv.reader(fh), [])]
    except FileNotFoundError:
        raise ConfigError(f"label file not found: {csv_path}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{csv_path}: not a UTF-8 text file") from None
    numbered = [c for c in header if c.startswith("value_") and c[6:].isdigit()]
    return ("value",) if "value" in header or not numbered else tuple(sorted(numbered, key=lambda c: int(c[6:])))


def import_labels(run_dir: str | Path, csv_path: str | Path) -> LabelImport:
    """Record values from a results CSV (`design,value[,reason]`) for designs awaiting one.

    Holds the run directory (refused while a campaign runs in it). Accepted: designs whose
    outcome is unknown, that failed (a failure may be corrected to a label), that were
    exported to a lab and await its results, or that were selected and never sent. Skipped,
    with the reason: a design already labelled (nothing is ever labelled twice), one not in
    the ledger, one still in flight from a stopped run (`sciloop resume` settles it first), and
    a value that is not a number (a typo: fix the file and import it again). An empty value
    records a failure (with the file's `reason`). A multi-objective score is kept whole and
    scalarised with `oracle.weights`, as the campaign does.

    Raises:
        ConfigError: the file is missing, unreadable or lacks its columns, or a campaign is
            running in `run_dir`.
    """
    run_dir = Path(run_dir)
    ledger = Ledger.of_run_dir(run_dir)
    config = run_dir / "config.yaml"
    campaign = load_config(config, run_dir=str(run_dir.resolve())) if config.exists() else None
    oracle = campaign.oracle if campaign is not None else OracleConfig()
    columns = value_columns(oracle, csv_path)
    try:
        imported = read_results(csv_path, value_columns=columns)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{csv_path}: {exc}") from None
    out = LabelImport()
    with RunDirLock(run_dir):
        rounds = {r["round"]: r["stage"] for r in ledger.rounds()}
        in_flight = {r.key for r in ledger.in_flight()}
        awaiting_lab = {k for k in in_flight if rounds.get(ledger.round_of(k)) == "awaiting_labels"}
        stranded = in_flight - awaiting_lab
        failed = {r.key for r in ledger.failed()}
        correctable = {r.key for r in ledger.unknown()} | failed | awaiting_lab
        never_sent = {r.key for r in ledger.pending()}
        known = ledger.known_keys()
        domain = make_domain(campaign) if campaign is not None else MoleculeDomain()
        ask_tell = ledger.get_meta("ask_tell", False)  # designs in flight were told, not sent to an oracle
        for design, result in imported.results.items():
            key = domain.canonical(design)
            why = (f"not a valid design: {domain.invalid_reason(design) or 'no canonical form'}" if key is None
                   else _refusal(key, result.reason, known, stranded, correctable | never_sent, ledger, ask_tell))
            if why is None and key in failed and not result.ok:
                why = "failed already; only a value corrects a failure"
            if why is not None:
                out.skipped[design] = why
                continue
            assert key is not None
            values = result.values
            value = None if values is None else oracle.scalarise(values)  # may refuse: before any write
            ledger.record_result(key, value, result.reason, "label", values if values and len(values) > 1 else None,
                                 submitted=key in never_sent)  # never sent: charged with its value, at once
            never_sent.discard(key)
            correctable.discard(key)
            failed.discard(key)
            (out.labeled if result.ok else out.failed).append(key)
    for design in imported.duplicates:
        out.skipped.setdefault(design, "listed twice (the first row counts)")
    return out


def _refusal(key: str, reason: str | None, known: set[str], stranded: set[str],
             accepted: set[str], ledger: Ledger, ask_tell: bool = False) -> str | None:
    """Why a row of a valid design is not imported, or None."""
    if reason and reason.startswith(("not a number", "non-finite")):
        return f"{reason}: fix the value and import the file again"
    if key in stranded and ask_tell:
        return "in flight from a `tell` cut short: tell it again (`Campaign.tell` accepts it)"
    if key in stranded:
        return ("in flight when the campaign stopped: run `sciloop resume` first (it re-sends the "
                "design to an idempotent oracle, or marks it unknown for `sciloop label`)")
    if key in accepted:
        return None
    if key not in known:
        return "not in the ledger"
    return "already has a label" if ledger.has_label(key) else "already has a result"
