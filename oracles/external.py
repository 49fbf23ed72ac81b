"""An external program as an oracle: candidates to a file, the command run, results read back.

The command is a template with `{input}` (a file with one design per line, also given on the
program's standard input) and, optionally, `{output}` (where the program writes its results;
without it, its standard output is read); other braces are left as they are (`awk '{print}'`).
It runs in the working directory sciloop was started from (where the node has that folder; else
a fresh temporary one), so `python dock.py {input}` finds `dock.py` as in a shell.
Results are one value per line in input order (`output_format="lines"`; several numbers on a
line, separated by commas or spaces, make a multi-objective score; an empty line or a failure
token fails that design), or a CSV with a header naming the design and value columns
(`output_format="csv"`; several `value_columns` make a multi-objective score). A non-zero exit
fails the whole call with the exit status and the end of stderr (a CSV keeps the values of the
designs it names, as far as it was written: each was paid for). Lines are matched to designs by
position, so output with more or fewer lines than designs fails the whole call (a skipped line
would give every later design its neighbour's score): a program that may skip designs writes a
CSV, where a design missing fails alone. A program that cannot be found on a worker stops the
campaign at that worker's set-up, before any design is charged.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sciloop.oracles.base import DEFAULT_TIMEOUT_S, OracleResult, RetryPolicy


@dataclass
class CommandOracle:
    """Runs `command` once per batch.

    Args:
        command: the command template, e.g. `"python dock.py --in {input} --out {output}"`
            (split like a shell would, without a shell) or a list of arguments.
        output_format: "lines" (one value per line, in input order) or "csv".
        design_column: the CSV column naming the design.
        value_columns: the CSV value column(s); several make a multi-objective score.
        command_timeout_s: kill the program (its whole process group) after this many
            seconds; None: 95% of `timeout_s` (of an hour when that is None), so the program is
            stopped before the runner gives up on the worker (a killed worker would leave the
            program running); `math.inf`: no limit.
        env: extra environment variables for the program.
        cwd: the program's working directory (default: the one sciloop was started from where
            it exists, else a fresh temporary folder per call).
        failure_tokens: output values that mean "failed" (reported as such, not as malformed;
            any case).
        num_objectives: when set, a design whose score has another length fails.

    Example:
        >>> CommandOracle("python dock.py {input} {output}", batch_size=8, timeout_s=600)
    """

    command: str | list[str]
    name: str = "command"
    output_format: Literal["lines", "csv"] = "lines"
    design_column: str = "design"
    value_columns: tuple[str, ...] = ("value",)
    command_timeout_s: float | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    failure_tokens: tuple[str, ...] = ("", "nan", "fail", "failed", "error", "none")
    num_objectives: int | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    resources: dict[str, float] = field(default_factory=dict)
    timeout_s: float | None = None
    batch_size: int = 16
    idempotent: bool = False
    cost: float = 1.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    started_in: str = field(default_factory=os.getcwd, repr=False)  # where the oracle was built

    def _parts(self) -> list[str]:
        return shlex.split(self.command) if isinstance(self.command, str) else list(self.command)

    def _argv(self, inp: Path, out: Path) -> list[str]:
        return [p.replace("{input}", str(inp)).replace("{output}", str(out)) for p in self._parts()]

    def _limit(self) -> float | None:
        limit = self.command_timeout_s
        if limit is None:
            limit = 0.95 * (DEFAULT_TIMEOUT_S if self.timeout_s is None else self.timeout_s)
        return limit if math.isfinite(limit) else None

    def _cwd(self, tmp: str) -> str:
        if self.cwd is not None:
            return self.cwd
        return self.started_in if Path(self.started_in).is_dir() else tmp

    def setup(self) -> None:
        """Check, on the worker, that the program exists and may be run (a typo or a program
        not installed there would otherwise fail, and be charged, batch after batch)."""
        program = self._parts()[0] if self._parts() else ""
        with tempfile.TemporaryDirectory(prefix="sciloop-cmd-") as tmp:
            cwd = self._cwd(tmp)
            if os.sep in program:  # a path: relative to where the program runs, as in a shell
                path = Path(cwd, program)
                found = str(path) if path.is_file() and os.access(path, os.X_OK) else None
            else:
                found = shutil.which(program, path=(os.environ | self.env).get("PATH"))
        if found is None:
            raise FileNotFoundError(f"command {program!r} not found or not executable on this worker "
                                    f"(working directory {cwd}); nothing was scored")

    def score(self, batch: list[str]) -> list[OracleResult]:
        with tempfile.TemporaryDirectory(prefix="sciloop-cmd-") as tmp:
            inp, out = Path(tmp) / "input.txt", Path(tmp) / "output.txt"
            inp.write_text("".join(f"{d}\n" for d in batch))
            argv = self._argv(inp, out)
            with inp.open() as stdin:
                proc = subprocess.Popen(argv, cwd=self._cwd(tmp), env=os.environ | self.env, stdin=stdin,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        start_new_session=True)
                try:
                    stdout, stderr = proc.communicate(timeout=self._limit())
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.communicate()
                    return [OracleResult.failure("timeout (command killed)")] * len(batch)
            uses_file = any("{output}" in p for p in self._parts())
            text = (out.read_text() if out.exists() else None) if uses_file else stdout
            if proc.returncode != 0:
                tail = " | ".join(stderr.strip().splitlines()[-3:])[:300]
                reason = f"command exited with status {proc.returncode}" + (f": {tail}" if tail else "")
                kept = self._results(text, batch) if self.output_format == "csv" and text else []
                if any(r.ok for r in kept):  # the designs it named before it failed keep their values
                    return [OracleResult.failure(reason) if r.reason == self._MISSING else r for r in kept]
                return [OracleResult.failure(reason)] * len(batch)
            if text is None:
                return [OracleResult.failure("command wrote no output file")] * len(batch)
        return self._results(text, batch)

    _MISSING = "malformed output: design missing"

    def _results(self, text: str, batch: list[str]) -> list[OracleResult]:
        parsed = self._parse_csv(text, batch) if self.output_format == "csv" else self._parse_lines(text, batch)
        return [r.expecting(self.num_objectives) for r in parsed]

    def _value(self, token: str) -> OracleResult:
        token = token.strip()
        if token.lower() in {t.lower() for t in self.failure_tokens}:
            return OracleResult.failure(f"command reported failure: {token!r}")
        try:
            return OracleResult.from_value(float(token))
        except ValueError:
            return OracleResult.failure(f"malformed output: {token[:80]!r}")

    def _line(self, line: str) -> OracleResult:
        """One line: a number, or several (commas or spaces between) for a vector."""
        parts = [p for p in re.split(r"[,\s]+", line.strip()) if p]
        if len(parts) < 2:
            return self._value(line)
        results = [self._value(p) for p in parts]
        bad = next((r for r in results if not r.ok), None)
        return bad or OracleResult(tuple(r.value for r in results))  # type: ignore[misc]

    def _parse_lines(self, text: str, batch: list[str]) -> list[OracleResult]:
        lines = text.splitlines()
        while len(lines) > len(batch) and not lines[-1].strip():  # a trailing empty line
            lines.pop()
        if len(lines) != len(batch):  # which design a line belongs to is unknown: none is scored
            return [OracleResult.failure(f"malformed output: {len(lines)} lines for {len(batch)} designs "
                                         f"(one line per design, in input order; a program that may skip "
                                         f"designs writes output_format csv)")] * len(batch)
        return [self._line(line) for line in lines]

    def _parse_csv(self, text: str, batch: list[str]) -> list[OracleResult]:
        rows = [{(k or "").strip(): v for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]
        header = set(rows[0]) if rows else set()
        missing_cols = [c for c in (self.design_column, *self.value_columns) if c not in header]
        if missing_cols:
            return [OracleResult.failure(f"malformed output: no column(s) {missing_cols}")] * len(batch)
        by_design: dict[str, OracleResult] = {}
        for row in rows:
            design = row[self.design_column]
            if design in by_design:
                by_design[design] = OracleResult.failure("malformed output: design listed twice")
                continue
            parts = [self._value(row[c] or "") for c in self.value_columns]
            bad = next((p for p in parts if not p.ok), None)
            by_design[design] = bad or (parts[0] if len(parts) == 1 else
                                         OracleResult(tuple(p.value for p in parts)))  # type: ignore[misc]
        return [by_design.get(d, OracleResult.failure(self._MISSING)) for d in batch]
