"""The ledger: an append-only SQLite record of every candidate, oracle call, label and round.

It is the campaign's source of truth (MLflow is only the window). Oracle calls are recorded as
events: a `submitted` row is committed when a ready worker is about to call the oracle (the
oracle is called only after it: a design without one provably never reached the oracle), a
`resubmitted` row before every paid call again (a transient-error retry, or an idempotent
re-send), and a `labeled` or `failed` row the moment a result arrives. Unique indexes allow one
`submitted` event and one `labeled` event per canonical key, so the database itself refuses to
send a design to the oracle twice or to keep two labels for it. A design left in flight by a
crash is either `resubmitted` (idempotent oracles only) or marked `unknown` until a user
supplies its value (`sciloop label`); a failure may later be corrected to a label, nothing else.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rounds(
    round INTEGER PRIMARY KEY, stage TEXT NOT NULL, started REAL NOT NULL, finished REAL,
    mlflow_run_id TEXT, metrics TEXT, logged INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS candidates(
    round INTEGER NOT NULL, design TEXT NOT NULL, key TEXT, dropped TEXT);
CREATE TABLE IF NOT EXISTS designs(
    key TEXT PRIMARY KEY, design TEXT NOT NULL, round INTEGER NOT NULL, source TEXT NOT NULL,
    acquisition REAL, mean REAL, std REAL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL REFERENCES designs(key),
    kind TEXT NOT NULL CHECK (kind IN ('submitted', 'resubmitted', 'labeled', 'failed', 'unknown')),
    value REAL, reason TEXT, node TEXT, t REAL NOT NULL, vector TEXT);
CREATE TABLE IF NOT EXISTS placements(
    round INTEGER NOT NULL, stage TEXT NOT NULL, node TEXT NOT NULL, worker TEXT NOT NULL,
    gpus TEXT NOT NULL DEFAULT '', t REAL NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS one_submission ON events(key) WHERE kind = 'submitted';
CREATE INDEX IF NOT EXISTS events_key ON events(key);
"""
# Created after `_dedupe_labels` has migrated a ledger written before it existed.
ONE_LABEL = "CREATE UNIQUE INDEX IF NOT EXISTS one_label ON events(key) WHERE kind = 'labeled'"


class LedgerError(RuntimeError):
    """The ledger could not be written (disk full, read-only), or is damaged; it is left as it was."""


class RunDirError(RuntimeError):
    """A run directory in a state that must be refused (damaged or missing ledger, a design
    that cannot take another label): nothing was sent to the oracle or written."""


@dataclass(frozen=True)
class DesignRow:
    """A design selected for the oracle, with what the surrogate thought of it."""

    key: str
    design: str
    source: str
    acquisition: float | None = None
    mean: float | None = None
    std: float | None = None


@dataclass(frozen=True)
class Label:
    key: str
    design: str
    round: int
    value: float


class Ledger:
    """SQLite ledger in WAL mode; every method is one transaction.

    Args:
        path: the database file (created with its schema if missing).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # An empty file beside a campaign's config.yaml is a truncated ledger, never a new one (a
        # new ledger gets its schema and digest before config.yaml is written beside it).
        if self.path.is_file() and self.path.stat().st_size == 0 and (self.path.parent / "config.yaml").exists():
            raise RunDirError(f"the ledger {self.path} is empty (truncated?): refusing to use it, "
                              f"since a fresh ledger would pay every design again. Restore it from a "
                              f"backup, or start the campaign in a new run_dir")
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            check = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(check)
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
            if "vector" not in columns:  # a ledger written before multi-objective oracles
                self._db.execute("ALTER TABLE events ADD COLUMN vector TEXT")
            self._dedupe_labels()
            self._db.execute(ONE_LABEL)
        except sqlite3.OperationalError as exc:
            raise LedgerError(f"cannot open the ledger {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:  # not a database, or malformed
            raise RunDirError(f"the ledger {self.path} is damaged ({exc}): refusing to use it. "
                              f"Restore it from a backup, or start the campaign in a new run_dir") from exc

    def _dedupe_labels(self) -> None:
        """Migrate a ledger from before the one-label index: where a design has several labels,
        keep the oracle's (the earliest not imported by `sciloop label`), drop the others."""
        with self._db:
            self._db.execute(
                "DELETE FROM events WHERE kind = 'labeled' AND id NOT IN (SELECT (SELECT e.id FROM "
                "events e WHERE e.key = k.key AND e.kind = 'labeled' ORDER BY (e.node = 'label'), e.id "
                "LIMIT 1) FROM (SELECT DISTINCT key FROM events WHERE kind = 'labeled') k)")

    @classmethod
    def of_run_dir(cls, run_dir: str | Path) -> "Ledger":
        """The ledger of an existing run directory (never creates one).

        Raises:
            ConfigError: `run_dir` holds no ledger.
        """
        from sciloop.pipeline.config import ConfigError

        path = Path(run_dir) / "ledger.sqlite"
        if not path.exists():
            if (Path(run_dir) / "config.yaml").exists():
                raise RunDirError(f"{run_dir} holds a campaign but its ledger.sqlite is missing: "
                                  f"refusing to go on (it would pay every design again). Restore the "
                                  f"ledger from a backup, or start the campaign in a new run_dir")
            raise ConfigError(f"{run_dir} is not a run directory (no ledger.sqlite)")
        return cls(path)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """One transaction; a full disk or a read-only run directory becomes a `LedgerError`
        (SQLite rolls the transaction back, so the ledger stays as it was)."""
        try:
            with self._db:
                yield
        except sqlite3.OperationalError as exc:
            raise LedgerError(f"cannot write the ledger {self.path}: {exc}. Nothing of this step was "
                              f"recorded; free disk space or fix permissions, then `sciloop resume "
                              f"{self.path.parent}`") from exc

    # -- meta -----------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        with self._tx():
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    # -- rounds ---------------------------------------------------------------------------
    def start_round(self, round_: int, stage: str = "started") -> None:
        with self._tx():
            self._db.execute("INSERT OR IGNORE INTO rounds(round, stage, started) VALUES (?, ?, ?)",
                             (round_, stage, time.time()))
            self._db.execute("UPDATE rounds SET stage = ? WHERE round = ?", (stage, round_))

    def set_stage(self, round_: int, stage: str, mlflow_run_id: str | None = None,
                  metrics: dict[str, float] | None = None) -> None:
        """`metrics`: the round's so far (its proposal's), kept for its end: a round that pauses for
        a lab or is finished by `tell` after its selection still reports them."""
        with self._tx():
            self._db.execute("UPDATE rounds SET stage = ?, mlflow_run_id = COALESCE(?, mlflow_run_id), "
                             "metrics = COALESCE(?, metrics) WHERE round = ?",
                             (stage, mlflow_run_id, None if metrics is None else json.dumps(metrics), round_))

    def finish_round(self, round_: int, metrics: dict[str, float]) -> None:
        """The round is done: `metrics` over those stored at its selection (`set_stage`)."""
        with self._tx():
            (stored,) = self._db.execute("SELECT metrics FROM rounds WHERE round = ?", (round_,)).fetchone()
            merged = (json.loads(stored) if stored else {}) | metrics
            self._db.execute("UPDATE rounds SET stage = 'done', finished = ?, metrics = ? "
                             "WHERE round = ?", (time.time(), json.dumps(merged), round_))

    def forget_mlflow_runs(self) -> None:
        """The campaign's tracking moved: no run of it is on the new server, no round logged there."""
        with self._tx():
            self._db.execute("UPDATE rounds SET mlflow_run_id = NULL, logged = 0")
            self._db.execute("DELETE FROM meta WHERE k = 'mlflow_parent_run'")

    def mark_logged(self, round_: int) -> None:
        """The round is fully mirrored to MLflow (`sciloop sync` skips it)."""
        with self._tx():
            self._db.execute("UPDATE rounds SET logged = 1 WHERE round = ?", (round_,))

    def rounds(self) -> list[dict[str, Any]]:
        cur = self._db.execute("SELECT round, stage, started, finished, mlflow_run_id, metrics, logged "
                               "FROM rounds ORDER BY round")
        return [dict(round=r, stage=s, started=a, finished=b, mlflow_run_id=m,
                     metrics=json.loads(x) if x else {}, logged=bool(g)) for r, s, a, b, m, x, g in cur]

    # -- candidates and designs -----------------------------------------------------------
    def add_candidates(self, round_: int, rows: Iterable[tuple[str, str | None, str | None]]) -> None:
        """Record every proposed candidate: (design, canonical key or None, why dropped or None).

        A round proposed again after a crash replaces its earlier candidates."""
        with self._tx():
            self._db.execute("DELETE FROM candidates WHERE round = ?", (round_,))
            self._db.executemany("INSERT INTO candidates VALUES (?, ?, ?, ?)",
                                 [(round_, d, k, why) for d, k, why in rows])

    def add_designs(self, round_: int, rows: Iterable[DesignRow]) -> None:
        """Record designs selected for the oracle (pending). A key seen before is an error."""
        now = time.time()
        with self._tx():
            self._db.executemany(
                "INSERT INTO designs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.key, r.design, round_, r.source, r.acquisition, r.mean, r.std, now) for r in rows])

    def round_of(self, key: str) -> int | None:
        """The round that selected a design (None: not in the ledger)."""
        row = self._db.execute("SELECT round FROM designs WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def known_keys(self) -> set[str]:
        return {k for (k,) in self._db.execute("SELECT key FROM designs")}

    def designs(self, round_: int) -> list[DesignRow]:
        """The designs selected in a round, in selection order."""
        cur = self._db.execute("SELECT key, design, source, acquisition, mean, std FROM designs "
                               "WHERE round = ? ORDER BY rowid", (round_,))
        return [DesignRow(*row) for row in cur]

    def pending(self) -> list[DesignRow]:
        """Designs selected but never submitted to the oracle."""
        cur = self._db.execute(
            "SELECT key, design, source, acquisition, mean, std FROM designs WHERE key NOT IN "
            "(SELECT key FROM events WHERE kind = 'submitted') ORDER BY rowid")
        return [DesignRow(*row) for row in cur]

    def _by_latest_event(self, kinds: tuple[str, ...]) -> list[DesignRow]:
        marks = ", ".join("?" * len(kinds))
        cur = self._db.execute(
            "SELECT d.key, d.design, d.source, d.acquisition, d.mean, d.std FROM designs d "
            "WHERE (SELECT kind FROM events e WHERE e.key = d.key ORDER BY id DESC LIMIT 1) "
            f"IN ({marks}) ORDER BY d.rowid", kinds)
        return [DesignRow(*row) for row in cur]

    def in_flight(self) -> list[DesignRow]:
        """Designs sent to the oracle whose result never arrived (the process died meanwhile)."""
        return self._by_latest_event(("submitted", "resubmitted"))

    def unknown(self) -> list[DesignRow]:
        """Designs whose oracle outcome is unknown and awaits `sciloop label`."""
        return self._by_latest_event(("unknown",))

    # -- oracle events --------------------------------------------------------------------
    def mark_submitted(self, keys: list[str]) -> None:
        """Write `submitted` events; raises sqlite3.IntegrityError if any key was sent before."""
        now = time.time()
        with self._tx():
            self._db.executemany("INSERT INTO events(key, kind, t) VALUES (?, 'submitted', ?)",
                                 [(k, now) for k in keys])

    def mark_resubmitted(self, keys: list[str]) -> None:
        """Write `resubmitted` events for in-flight designs sent again (idempotent oracles only)."""
        now = time.time()
        with self._tx():
            self._db.executemany("INSERT INTO events(key, kind, t) VALUES (?, 'resubmitted', ?)",
                                 [(k, now) for k in keys])

    def mark_resent(self, key: str, reason: str | None) -> None:
        """A paid call again for a design in flight (a retry after a transient failure, or a
        re-send after its worker was lost): one `resubmitted` event, counted against the budget."""
        with self._tx():
            self._db.execute("INSERT INTO events(key, kind, reason, t) VALUES (?, 'resubmitted', ?, ?)",
                             (key, reason, time.time()))

    def mark_unknown(self, keys: list[str], reason: str) -> None:
        """In-flight designs that must not be sent again: their outcome is for the user to supply."""
        now = time.time()
        with self._tx():
            self._db.executemany("INSERT INTO events(key, kind, reason, t) VALUES (?, 'unknown', ?, ?)",
                                 [(k, reason, now) for k in keys])

    def record_result(self, key: str, value: float | None, reason: str | None, node: str,
                      vector: Sequence[float] | None = None, submitted: bool = False) -> None:
        """A label (`value`; with a multi-objective oracle, `value` is the scalarised score the
        surrogate learns and `vector` every objective) or a failure (`value` None, `reason`).
        `submitted`: the design was never sent (a label from elsewhere): its `submitted` event is
        written in the same transaction, so a crash cannot leave it in flight without its value."""
        kind = "labeled" if value is not None else "failed"
        with self._tx():
            if submitted:
                self._db.execute("INSERT INTO events(key, kind, t) VALUES (?, 'submitted', ?)", (key, time.time()))
            inserted = self._db.execute(
                "INSERT INTO events(key, kind, value, reason, node, t, vector) SELECT ?, ?, ?, ?, ?, ?, ? "
                "WHERE NOT EXISTS (SELECT 1 FROM events WHERE key = ? AND kind = 'labeled')",
                (key, kind, value, reason, node, time.time(),
                 json.dumps(list(vector)) if vector is not None else None, key)).rowcount
            if not inserted:
                raise RunDirError(f"design {key!r} already has a label in {self.path}: a label is never "
                                  f"replaced (only a failure may be corrected to a label)")

    def has_label(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM events WHERE key = ? AND kind = 'labeled'", (key,)
                                ).fetchone() is not None

    def failed(self) -> list[DesignRow]:
        """Designs whose latest outcome is a failure (`sciloop label` may correct them)."""
        return self._by_latest_event(("failed",))

    def vectors(self) -> dict[str, list[float]]:
        """Every objective of each multi-objective label, by key."""
        cur = self._db.execute("SELECT key, vector FROM events WHERE kind = 'labeled' AND vector IS NOT NULL")
        return {k: json.loads(v) for k, v in cur}

    # -- where work ran -------------------------------------------------------------------
    def record_placements(self, round_: int, stage: str, workers: list[dict[str, Any]]) -> None:
        """Records the Ray workers a stage ran on: dicts with `node`, `worker` and optional `gpus`."""
        now = time.time()
        with self._tx():
            self._db.executemany(
                "INSERT INTO placements(round, stage, node, worker, gpus, t) VALUES (?, ?, ?, ?, ?, ?)",
                [(round_, stage, w["node"], w["worker"], ",".join(map(str, w.get("gpus", ()))), now)
                 for w in workers])

    def nodes(self, stage: str, round_: int | None = None) -> set[str]:
        """Ray node ids that did a stage's work, in one round or all: "oracle" (read from the
        results) or a stage recorded with `record_placements` ("proposer", "surrogate")."""
        if stage == "oracle":
            sql = ("SELECT DISTINCT e.node FROM events e JOIN designs d USING (key) WHERE e.kind IN "
                   "('labeled', 'failed') AND e.node IS NOT NULL AND e.node != ''")
            args: tuple = ()
            if round_ is not None:
                sql, args = sql + " AND d.round = ?", (round_,)
        else:
            sql, args = "SELECT DISTINCT node FROM placements WHERE stage = ?", (stage,)
            if round_ is not None:
                sql, args = sql + " AND round = ?", (stage, round_)
        return {n for (n,) in self._db.execute(sql, args)}

    def labels(self) -> list[Label]:
        cur = self._db.execute(
            "SELECT d.key, d.design, d.round, e.value FROM events e JOIN designs d USING (key) "
            "WHERE e.kind = 'labeled' ORDER BY d.rowid")  # selection order: repeatable
        return [Label(*row) for row in cur]

    def calls(self, through_round: int | None = None) -> list[tuple[str, float | None]]:
        """One `(key, value)` per paid call, in the order the outcomes arrived; the value is None
        for a call that failed, was retried or whose outcome is unknown. With `through_round`,
        only the calls for designs selected up to that round.

        An outcome recorded without a new call (`sciloop label` correcting a failure or an
        unknown) is no call: it fills in the value of the call it corrects, so the curve's
        x-axis never runs past `oracle_calls()`.
        """
        out: list[tuple[str, float | None]] = []
        open_calls: dict[str, int] = {}  # key -> its paid calls without an outcome yet
        last: dict[str, int] = {}  # key -> index in `out` of its latest call's outcome
        rows = (self._db.execute("SELECT key, kind, value FROM events ORDER BY id") if through_round is None else
                self._db.execute("SELECT e.key, e.kind, e.value FROM events e JOIN designs d USING (key) "
                                 "WHERE d.round <= ? ORDER BY e.id", (through_round,)))
        for key, kind, value in rows:
            if kind == "submitted":
                open_calls[key] = open_calls.get(key, 0) + 1
            elif kind == "resubmitted":  # the call before it ended without a value (a retry, a lost worker)
                if open_calls.get(key, 0):
                    last[key] = len(out)
                    out.append((key, None))
                else:
                    open_calls[key] = open_calls.get(key, 0) + 1
            elif open_calls.get(key, 0):
                open_calls[key] -= 1
                last[key] = len(out)
                out.append((key, value))
            elif key in last and kind == "labeled":  # a correction
                out[last[key]] = (key, value)
        return out

    def call_values(self, through_round: int | None = None) -> list[float | None]:
        """The value of every paid call, in arrival order (`calls()`): None for a failed one."""
        return [value for _, value in self.calls(through_round)]

    def oracle_calls(self, through_round: int | None = None) -> int:
        """Oracle calls paid for: first submissions plus re-sends (the budget spent); with
        `through_round`, only for designs selected up to that round."""
        if through_round is None:
            return self._db.execute("SELECT COUNT(*) FROM events WHERE kind IN ('submitted', 'resubmitted')"
                                    ).fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM events e JOIN designs d USING (key) WHERE "
                                "e.kind IN ('submitted', 'resubmitted') AND d.round <= ?", (through_round,)
                                ).fetchone()[0]

    def counts(self) -> dict[str, int]:
        """Event counts by kind, plus designs selected."""
        out = dict(self._db.execute("SELECT kind, COUNT(*) FROM events GROUP BY kind").fetchall())
        out["designs"] = self._db.execute("SELECT COUNT(*) FROM designs").fetchone()[0]
        return out

    def failures(self, round_: int | None = None) -> list[tuple[str, str]]:
        sql = ("SELECT d.design, e.reason FROM events e JOIN designs d USING (key) "
               "WHERE e.kind = 'failed'" + (" AND d.round = ?" if round_ is not None else ""))
        return self._db.execute(sql, () if round_ is None else (round_,)).fetchall()

    def batch(self, round_: int) -> list[dict[str, Any]]:
        """The round's selected designs with their latest oracle outcome."""
        cur = self._db.execute(
            "SELECT d.design, d.source, d.acquisition, d.mean, d.std, "
            "  (SELECT kind FROM events e WHERE e.key = d.key ORDER BY id DESC LIMIT 1), "
            "  (SELECT value FROM events e WHERE e.key = d.key AND kind = 'labeled'), "
            "  (SELECT node FROM events e WHERE e.key = d.key AND kind != 'submitted') "
            "FROM designs d WHERE d.round = ? ORDER BY d.rowid", (round_,))
        cols = ["design", "source", "acquisition", "mean", "std", "status", "score", "node"]
        return [dict(zip(cols, row)) for row in cur]


class RunDirLock:
    """An exclusive lock on a run directory, so two campaigns never interleave in one ledger.

    The lock is an `flock` on the file `lock`, which holds the holder's pid while held. The OS
    drops the lock when the holder dies (even by SIGKILL): no stale lock after a crash (the file
    stays, unlocked, and the next holder takes it). A clean release deletes the file while still
    holding the lock; whoever opened that file before it was deleted and locks it afterwards
    holds an orphan, sees that `lock` no longer names the file it locked, and opens it anew.
    """

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / "lock"
        self._fh: Any = None
        self._depth = 0  # re-entrant within one object: ask/tell calls inside `run`

    def __enter__(self) -> "RunDirLock":
        self._depth += 1
        if self._depth > 1:
            return self
        try:
            self._fh = self._acquire()
        except BaseException:
            self._depth = 0
            raise
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(str(os.getpid()))
        self._fh.flush()
        return self

    def _acquire(self) -> Any:
        """Lock the file that `self.path` names; the open file, locked."""
        from sciloop.pipeline.config import ConfigError

        while True:
            fh = open(self.path, "a+")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not self._names(fh):  # its holder is releasing it right now: try the new file
                    fh.close()
                    continue
                fh.seek(0)
                holder = fh.read().strip() or "?"
                fh.close()
                raise ConfigError(f"{self.path.parent} is in use by another sciloop process (pid {holder}); "
                                  f"wait for it or use another run_dir") from None
            except BaseException:
                fh.close()
                raise
            if self._names(fh):
                return fh
            fh.close()  # locked an orphan: the previous holder deleted it on release

    def _names(self, fh: Any) -> bool:
        """Whether `self.path` still names the file open as `fh` (not deleted, not replaced)."""
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fh.fileno())
        return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth:
            return
        # empty the pid and delete the file before unlocking: a clean exit leaves no lock file
        # behind, and a process waiting on this file retries on a fresh one (see `_acquire`)
        self._fh.seek(0)
        self._fh.truncate()
        self.path.unlink(missing_ok=True)
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()
        self._fh = None
