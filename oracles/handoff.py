"""A lab as the oracle: export a batch as CSV, later import the lab's results CSV.

The campaign pauses after `export_batch` and resumes once `read_results` has brought the
values in (the pause and `sciloop label` are the pipeline's). A results file has a header with
at least `design` and `value`, and optionally `reason`; an empty value, NaN or a non-number is
a failure (with the file's reason when given). A multi-objective lab names several value
columns (`value_columns=("yield", "purity")`): a design's score is then the tuple of them, and
an empty or non-numeric entry in any of them fails the design.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from sciloop.oracles.base import OracleResult


@dataclass(frozen=True)
class ImportedResults:
    """What a results file held, checked against the designs that were sent.

    Attributes:
        results: a result for each expected design found in the file.
        missing: expected designs the file does not mention (still pending).
        unknown: designs in the file that were not expected (ignored).
        duplicates: designs listed more than once (the first row counts).
    """

    results: dict[str, OracleResult]
    missing: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def export_batch(path: str | Path, designs: Iterable[str], value_columns: Sequence[str] = ("value",)) -> Path:
    """Write `designs` to a CSV (`design,value`, values empty) for the lab; atomic.

    Args:
        path: the CSV to write; its folder is created.
        designs: the batch, in order.
        value_columns: the empty columns the lab fills in (several: one per objective).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["design", *value_columns])
        writer.writerows([d, *([""] * len(value_columns))] for d in designs)
    os.replace(tmp, path)
    return path


def read_results(path: str | Path, expected: Iterable[str] | None = None,
                 value_columns: Sequence[str] = ("value",)) -> ImportedResults:
    """Read a results CSV (`design,value[,reason]`).

    Args:
        path: the lab's file.
        expected: the designs that were sent; None accepts every design in the file.
        value_columns: the score's columns; several make each score a tuple (multi-objective).

    Raises:
        ValueError: the file lacks the `design` column or a value column.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a spreadsheet's "CSV UTF-8" starts with a BOM
        reader = csv.DictReader(f)
        reader.fieldnames = [c.strip() for c in reader.fieldnames or []]  # `design, value` as written by hand
        cols = set(reader.fieldnames)
        if not {"design", *value_columns} <= cols:
            wanted_cols = " and ".join(repr(c) for c in ("design", *value_columns))
            raise ValueError(f"{path}: expected columns {wanted_cols}, found {sorted(cols)}")
        rows = list(reader)
    wanted = None if expected is None else list(expected)
    wanted_set = None if wanted is None else set(wanted)
    results: dict[str, OracleResult] = {}
    unknown, duplicates = [], []
    for row in rows:
        design = (row["design"] or "").strip()
        if wanted_set is not None and design not in wanted_set:
            unknown.append(design)
            continue
        if design in results:
            duplicates.append(design)
            continue
        raw = [(row[c] or "").strip() for c in value_columns]
        reason = (row.get("reason") or "").strip()
        if not all(raw):
            result = OracleResult.failure(reason or "no value reported")
        else:
            # the file's text is parsed here: the oracle contract takes numbers, never strings
            numbers: list[float] = []
            typo: str | None = None
            for text in raw:
                try:
                    numbers.append(float(text))
                except ValueError:  # "abc", "n/a", "1,5": fix the file, import it again
                    typo = text
                    break
            result = (OracleResult.failure(f"not a number: {typo!r}") if typo is not None else
                      OracleResult.from_value(numbers[0] if len(numbers) == 1 else numbers))
        if not result.ok and reason:
            result = OracleResult.failure(reason)
        results[design] = result
    missing = [d for d in (wanted or []) if d not in results]
    return ImportedResults(results, missing, unknown, duplicates)


@dataclass
class LabOracle:
    """Marks a campaign whose oracle is a lab: batches go out as files, results come back.

    It has no `score`: the pipeline exports each batch to `folder/batch-<round>.csv`, pauses,
    and imports a results file with `read_results` (`sciloop label <run-dir> results.csv`).

    Args:
        folder: where batches are written (relative paths: inside the run directory).
        name: shown in listings and errors.
        value_columns: the columns the lab fills in; several make a multi-objective score.
    """

    folder: str = "handoff"
    name: str = "lab"
    batch_size: int = 96
    idempotent: bool = False
    cost: float = 1.0
    asynchronous: bool = True
    value_columns: tuple[str, ...] = ("value",)

    def batch_path(self, run_dir: str | Path, round_: int) -> Path:
        return Path(run_dir) / self.folder / f"batch-{round_:03d}.csv"

    def export(self, run_dir: str | Path, round_: int, designs: Iterable[str]) -> Path:
        return export_batch(self.batch_path(run_dir, round_), designs, self.value_columns)

    def read(self, path: str | Path, expected: Iterable[str] | None = None) -> ImportedResults:
        """`read_results` with this lab's value columns."""
        return read_results(path, expected, self.value_columns)
