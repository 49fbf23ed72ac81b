"""The scoring half of a round: designs to the oracle on Ray, every paid call and result in the ledger.

`Scoring` keeps the ledger's promises at the oracle: a call is recorded as `submitted` before it
is paid, a retry or re-send is a `resubmitted` row counted against the budget (and refused once
the budget is spent), a design left in flight by a crash is re-sent only to an idempotent oracle,
and a paid result the ledger cannot take is kept in `unrecorded-results.csv` for `sciloop label`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from sciloop.oracles.base import Oracle, OracleResult
from sciloop.oracles.runner import OracleRunner
from sciloop.pipeline.config import CampaignConfig
from sciloop.pipeline.ledger import DesignRow, Ledger
from sciloop.pipeline.proposal import ProgressFactory


class Scoring:
    """Sends designs to the campaign's oracle and records what comes back.

    Args:
        config: the campaign's config (budget, scalarisation, failure limit).
        oracle: the resolved oracle.
        run_dir: where results the ledger could not take are written.
        progress: makes a progress bar.
        log: prints one time-stamped line.
    """

    def __init__(self, config: CampaignConfig, oracle: Oracle, run_dir: Path, progress: ProgressFactory,
                 log: Callable[[str], None]) -> None:
        self.config, self.oracle, self.run_dir = config, oracle, run_dir
        self._progress, self._log = progress, log

    def settle_in_flight(self, ledger: Ledger) -> bool:
        """Designs sent with no result yet: a lab's are awaited (True: wait); after a crash they
        are re-sent (idempotent oracles) or marked unknown for `sciloop label`."""
        flight = ledger.in_flight()
        if not flight:
            return False
        if getattr(self.oracle, "asynchronous", False):
            # a hand-off cut short after its batch was exported and marked sent: its round awaits
            # the lab's labels as if the pause had been recorded (`sciloop label` takes them then)
            for round_ in sorted({r for row in flight if (r := ledger.round_of(row.key)) is not None}):
                ledger.set_stage(round_, "awaiting_labels")
            return True
        if self.oracle.idempotent:  # sent again, each a paid call, as far as the budget goes
            owed = len(ledger.pending())  # selected, not yet sent: their calls come first
            left = self.config.total_budget - ledger.oracle_calls() - owed
            resend, over = flight[:max(left, 0)], flight[max(left, 0):]
            if over:
                ledger.mark_unknown([r.key for r in over], "in flight when the campaign stopped; not sent "
                                                           "again: the budget is spent")
                self._log(f"[yellow]warning:[/yellow] {len(over)} designs in flight when the last run "
                          f"stopped are not sent again: the budget is spent. Supply their values with "
                          f"`sciloop label {self.run_dir} results.csv`, or extend it with --budget")
            if resend:
                self._log(f"re-sending {len(resend)} designs left in flight by the last run "
                          f"(the oracle is idempotent)")
                self.score(ledger, resend, "re-send in-flight designs", resend=True, owed=owed)
        else:
            ledger.mark_unknown([r.key for r in flight],
                                "in flight when the campaign stopped; the oracle is not idempotent")
            self._log(f"[yellow]warning:[/yellow] {len(flight)} designs were in flight when the "
                      f"last run stopped; they are not sent again (the oracle is not idempotent). "
                      f"Supply their values with: sciloop label {self.run_dir} results.csv")
        return False

    def score(self, ledger: Ledger, rows: list[DesignRow], description: str, resend: bool = False,
              owed: int = 0) -> int:
        """Send rows to the oracle on Ray; the ledger records every paid call and each result.

        A call again (a transient-error retry, or a re-send of an idempotent oracle's lost call)
        is a `resubmitted` row counted against the budget, and is refused once the budget is
        spent, `owed` calls (designs selected outside `rows`, still to be sent) included. Results
        the ledger could not take are written to `unrecorded-results.csv`.
        """
        by_key = {r.design: r.key for r in rows}
        oc = self.config.oracle
        runner = OracleRunner(self.oracle, max_consecutive_failures=oc.max_consecutive_failures,
                              setup_timeout_s=oc.setup_timeout_s)
        mark = ledger.mark_resubmitted if resend else ledger.mark_submitted
        unsent = len(rows)  # designs of this batch not yet paid for: already promised to the budget
        with self._progress() as progress:
            task = progress.add_task(description, total=len(rows))

            def on_submit(chunk: list[str]) -> None:
                nonlocal unsent
                mark([by_key[d] for d in chunk])
                unsent -= len(chunk)

            def on_retry(design: str, result: OracleResult, attempt: int) -> bool:
                if ledger.oracle_calls() + unsent + owed >= self.config.total_budget:
                    return False
                ledger.mark_resent(by_key[design], f"attempt {attempt + 1} after: {result.reason}")
                return True

            done: set[str] = set()

            def on_result(design: str, result: OracleResult, node: str) -> None:
                self.record(ledger, by_key[design], result, node)
                done.add(design)  # designs with a final result, never above the batch
                progress.update(task, completed=len(done))

            try:
                return runner.run([r.design for r in rows], on_submit, on_result, on_retry)
            finally:
                self._rescue(ledger, getattr(runner.report, "undelivered", []), by_key)

    def record(self, ledger: Ledger, key: str, result: OracleResult, node: str) -> None:
        """A result into the ledger; a score vector is kept whole and scalarised for the surrogate."""
        values = result.values
        value = None if values is None else self.config.oracle.scalarise(values)
        ledger.record_result(key, value, result.reason, node, values if values and len(values) > 1 else None)

    def _rescue(self, ledger: Ledger, undelivered: list[tuple[str, OracleResult, str]],
                by_key: dict[str, str]) -> None:
        """Keep paid results the ledger could not take (a full disk, a bad `oracle.weights`) in a
        CSV that `sciloop label` imports; print them if even that cannot be written."""
        if not undelivered:
            return
        width = max(len(r.values or ()) for _, r, _ in undelivered)
        columns = ["value"] if width <= 1 else [f"value_{i + 1}" for i in range(width)]
        rows = [[by_key.get(d, d), *((r.values or ()) + ("",) * (len(columns) - len(r.values or ()))),
                 r.reason or ""] for d, r, _ in undelivered]
        path = self.run_dir / "unrecorded-results.csv"
        try:
            new = not path.exists()
            with open(path, "a", newline="") as fh:
                writer = csv.writer(fh)
                if new:
                    writer.writerow(["design", *columns, "reason"])
                writer.writerows(rows)
            where = f"written to {path}"
        except OSError:
            where = "printed here: " + "; ".join(",".join(map(str, r)) for r in rows)
        try:  # awaiting `sciloop label`, as an unknown outcome is
            ledger.mark_unknown([by_key.get(d, d) for d, _, _ in undelivered],
                                "paid; its result is in unrecorded-results.csv")
            then = ""
        except Exception:  # noqa: BLE001 - the ledger is what failed: resume settles them
            then = (f"`sciloop resume {self.run_dir}` (it sends them to the oracle again, which is idempotent: "
                    f"paid twice; the CSV keeps the first values), then " if self.oracle.idempotent else
                    f"`sciloop resume {self.run_dir}` (it marks them unknown), then ")
        self._log(f"[red]error:[/red] {len(rows)} paid results could not be recorded in the ledger; "
                  f"they are {where}. Once the cause is fixed, import them with {then}"
                  f"`sciloop label {self.run_dir} <csv>`")
