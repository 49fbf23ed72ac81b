"""The campaign: rounds of fit surrogate -> train proposer -> propose -> select -> score.

The ledger is written first at every step (the source of truth); MLflow mirrors it. A round's
two halves are stages the campaign hands its services to: `Proposal` (fit, reward, train,
sample, select) and `Scoring` (the oracle on Ray, every paid call in the ledger). The campaign
owns the services (the run directory and its lock, the ledger, Ray, MLflow, the checkpoints) and
the round loop. `Campaign.run()` drives the oracle itself; `propose(n)` / `tell(results)` let a
user drive it.
"""

from __future__ import annotations

import logging
import random
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sciloop.oracles.base import OracleResult
from sciloop.pipeline.checkpoints import Checkpoints, round_of
from sciloop.pipeline.config import CampaignConfig, ConfigError, load_config
from sciloop.pipeline.domains import make_domain
from sciloop.pipeline.ledger import Ledger, RunDirLock
from sciloop.pipeline.plugins import resolve_oracle
from sciloop.pipeline.proposal import Proposal
from sciloop.pipeline.proposer_registry import proposer_entry
from sciloop.pipeline.ray_runtime import start_ray
from sciloop.pipeline.report import summary_table
from sciloop.pipeline.round_log import RoundContext, log_round, round_metrics
from sciloop.pipeline.scoring import Scoring
from sciloop.pipeline.tracking import Tracker, open_campaign_tracker

from sciloop.pipeline import __version__


def hide_worker_death_notices() -> None:
    """Keep Ray's "(raylet) A worker died or was killed ..." notices off the console.

    `ray.init(log_to_driver=False)` silences the workers' output, but not the raylet's error
    notices: the driver's `ray_listen_error_messages` thread prints them to stdout through
    `ray._private.worker.print_to_stdstream`. A worker that dies under an oracle call is already
    a ledger row ("worker lost: ..."), so those notices go to the `sciloop.ray` logger at DEBUG
    instead; every other notice (out of memory, for one) is printed as before. Idempotent.
    """
    from ray._private import worker  # private: checked by tests/pipeline/test_console_output.py

    printer = worker.print_to_stdstream
    if getattr(printer, "_sciloop_filter", False):
        return

    def print_to_stdstream(data: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        lines = data.get("lines") or []
        if data.get("pid") == "raylet" and lines and all("A worker died or was killed" in ln for ln in lines):
            logging.getLogger("sciloop.ray").debug("%s", " ".join(lines))
            return
        printer(data, *args, **kwargs)

    print_to_stdstream._sciloop_filter = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = print_to_stdstream


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Campaign:
    """One active-learning campaign bound to a run directory.

    Everything is validated before anything is written: a config that fails (an unknown
    oracle, a resource no cluster has) leaves no ledger behind, so the corrected config can use
    the same run directory. A run directory that holds a campaign must hold its ledger intact.

    Args:
        config: the validated campaign config.
        console: where progress and the summary go (a quiet console in tests).
        resuming: the run directory must already hold this campaign (`sciloop resume`).
        screening_baseline: close the summary with random screening of the library at as many
            calls, scored in this process after the campaign (built-in molecular objectives only;
            up to 5 samples, none started after a minute; uncharged). The PMO harness turns it off: it is a
            report, not part of the method, and on a slow oracle it took minutes of a run's time.
    """

    def __init__(self, config: CampaignConfig, console: Console | None = None, resuming: bool = False,
                 screening_baseline: bool = True):
        self.config = config
        self.screening_baseline = screening_baseline
        self.console = console or Console()
        self.run_dir = Path(config.run_dir).resolve()
        self._check_settings()
        self.domain = make_domain(config)  # what a design is: keys, library, featurizer, similarity
        self.oracle, self._user_module = resolve_oracle(config.oracle)
        try:
            self.library = self.domain.initial_designs()
        except (ValueError, OSError) as err:  # a library whose package is missing, an initial file not found
            raise ConfigError(f"initial designs of domain {config.domain.name!r}: {err}") from None
        if config.initial.size > len(self.library):
            raise ConfigError(f"initial.size {config.initial.size} exceeds the {len(self.library)} distinct valid "
                              f"designs of the initial library ({self.domain.initial_source}): lower it")
        self.tracker: Tracker | None = None
        self._owns_ray = False
        self._lock = RunDirLock(self.run_dir)
        self.checkpoints = Checkpoints(self.run_dir / "checkpoints")  # the models, one copy
        self.proposal = Proposal(config, self.domain, self.library, self.checkpoints, self.run_dir,
                                 self._progress, self._log)  # carries the surrogate and the proposer
        self.scoring = Scoring(config, self.oracle, self.run_dir, self._progress, self._log)
        self.ledger: Ledger | None = None  # opened here for an existing campaign, else by `_begin`
        if resuming or (self.run_dir / "ledger.sqlite").exists() or (self.run_dir / "config.yaml").exists():
            self.ledger = Ledger.of_run_dir(self.run_dir)  # refuses a missing or damaged ledger
            stored = self.ledger.get_meta("config_digest")
            if stored is not None and stored not in config.digests():  # legacy forms accepted
                raise ConfigError(f"{self.run_dir} holds a campaign with a different config "
                                  f"(digest {stored} != {config.digest()}; only "
                                  f"{' and '.join(config.EXTENDABLE)}, ray.*, tracking.* and *.device may "
                                  f"change): "
                                  f"use a new run_dir")

    @classmethod
    def resume(cls, run_dir: str | Path, overrides: list[str] | None = None,
               console: Console | None = None, screening_baseline: bool = True) -> "Campaign":
        """The campaign stored in `run_dir` (wherever it is run from; its config's own `run_dir`
        may be relative to another working directory). `screening_baseline`: as in `__init__`.

        Raises:
            ConfigError: `run_dir` holds no campaign.
            RunDirError: its ledger is missing or damaged.
        """
        run_dir = Path(run_dir).resolve()
        if not (run_dir / "config.yaml").exists():
            raise ConfigError(f"{run_dir} is not a run directory (no config.yaml)")
        config = load_config(run_dir / "config.yaml", overrides, run_dir=str(run_dir))
        return cls(config, console=console, resuming=True, screening_baseline=screening_baseline)

    def _begin(self) -> Ledger:
        """Create the run directory's ledger and config on first use (after validation)."""
        if self.ledger is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.ledger = Ledger(self.run_dir / "ledger.sqlite")
        if self.ledger.get_meta("config_digest") != self.config.digest():
            self.ledger.set_meta("config_digest", self.config.digest())
        config_yaml = self.run_dir / "config.yaml"
        tmp = config_yaml.with_suffix(".yaml.tmp")
        tmp.write_text(self.config.to_yaml())
        tmp.replace(config_yaml)
        return self.ledger

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the run directory: one writer at a time (`run`, ask/tell, `label`, `sync`)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            yield

    @classmethod
    def from_config(cls, source: str | Path | dict[str, Any], overrides: list[str] | None = None,
                    console: Console | None = None, screening_baseline: bool = True, **kw: Any) -> "Campaign":
        """Build from a YAML path or dict, with `key.sub=value` overrides and keyword overrides."""
        return cls(load_config(source, overrides, **kw), console=console, screening_baseline=screening_baseline)

    # -- set-up ---------------------------------------------------------------------------
    def _start_ray(self) -> None:
        """A private local Ray on 127.0.0.1 with token auth, or the cluster `ray.address` names
        (or a Ray Job's `RAY_ADDRESS`); a Ray someone else started is used as it is."""
        hide_worker_death_notices()
        self._owns_ray = start_ray(self.config.ray.address, self.config.ray.num_cpus, self._user_module) \
            or self._owns_ray

    def _check_settings(self) -> None:
        """Refuse, before Ray starts or anything is written, a device this process cannot use (the
        learner runs here; the surrogate too unless it is fitted in a Ray task, whose device
        resolves there) and a `module:Class` plug-in that does not import (the oracle's target is
        checked where it is resolved)."""
        from sciloop.proposers.devices import resolve_device as learner_device
        from sciloop.surrogates.plugins import import_class
        from sciloop.surrogates.training import resolve_device as surrogate_device

        c = self.config
        if c.domain.name != "molecule" and "target" not in c.oracle.model_fields_set:
            raise ConfigError(f"oracle.target: the default ({c.oracle.target!r}) scores molecules, but the domain "
                              f"is {c.domain.name!r}: name the oracle (e.g. ehrlich, token_count or "
                              f"my_module:score)")  # else every design fails, paid, until 20 in a row stop it
        checks = [("proposer.device", learner_device, c.proposer.device)]
        if c.surrogate.placement == "driver":
            checks.append(("surrogate.device", surrogate_device, c.surrogate.device))
        plugins = {"proposer.name": (c.proposer.name, "proposer"),  # a domain's is checked by its config
                   "proposer.objective": (c.proposer.objective, "GFlowNet objective"),
                   "surrogate.member": (c.surrogate.member, "surrogate member"),
                   "acquisition.name": (c.acquisition.name, "acquisition")}
        checks += [(key, lambda path, what=what: import_class(path, what), path)
                   for key, (path, what) in plugins.items() if ":" in path]
        for key, check, setting in checks:
            try:
                check(setting)
            except ValueError as err:
                raise ConfigError(f"{key}: {err}") from None

    def _check_resources(self) -> None:
        """Refuse, before any oracle call, a request that no Ray cluster of this size can place."""
        import ray

        have = ray.cluster_resources()
        oracle = self.oracle
        need = _needs("oracle.", oracle.num_cpus, oracle.num_gpus, getattr(oracle, "resources", None) or {})
        pc, sc = self.config.proposer, self.config.surrogate
        if proposer_entry(pc.name).actors and pc.num_actors:
            need += _needs("proposer.actor_", pc.actor_num_cpus, pc.actor_num_gpus, pc.actor_resources)
        if sc.placement == "ray":
            need += _needs("surrogate.", sc.num_cpus, sc.num_gpus, sc.resources)
        for key, resource, amount in need:
            if amount and have.get(resource, 0.0) < amount:
                raise ConfigError(f"{key} asks for {amount} {resource} but the Ray cluster has "
                                  f"{have.get(resource, 0.0)}: lower it or add nodes that have it")

    def _start_tracking(self) -> None:
        try:
            self.tracker = open_campaign_tracker(self.config, self.run_dir, self.ledger, __version__, self._log)
        except ConfigError:  # a server that refuses sciloop's user: fix it before anything is paid
            raise
        except Exception as exc:  # noqa: BLE001 - any other tracking failure: go on without it
            self._tracking_lost("connect", exc)
            return
        self._mirror("reopen the campaign's run", self.tracker.reopen)

    def _tracking_lost(self, what: str, exc: BaseException) -> None:
        """Warn once and go on without MLflow: the ledger keeps everything for `sciloop sync`."""
        self._log(f"[yellow]warning:[/yellow] MLflow unavailable ({what}: {type(exc).__name__}: "
                         f"{exc}). The campaign goes on; the ledger keeps every result. "
                         f"Mirror it later with: sciloop sync {self.run_dir}")
        self.tracker = None

    def _mirror(self, what: str, fn: Any, *args: Any) -> Any:
        """Run an MLflow call; the first failure switches tracking off (one warning)."""
        if self.tracker is None:
            return None
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001
            self._tracking_lost(what, exc)
            return None

    def _end_runs(self, run_ids: list[str | None], status: str = "FINISHED") -> None:
        """End `run_ids` and the campaign's run in MLflow, as far as tracking lasts (a failure
        switches it off, and the campaign goes on: it must not raise here)."""
        parent = self.tracker.parent_id if self.tracker is not None else None
        for run_id in filter(None, [*run_ids, parent]):
            if self.tracker is not None:
                self._mirror("end run", self.tracker.end_run, run_id, status)

    def _progress(self, counted: bool = True) -> Progress:
        """A transient bar; `counted=False` for work of unknown length (no "0/?" column)."""
        columns = [TextColumn("[bold]{task.description}"), BarColumn(),
                   *([MofNCompleteColumn()] if counted else []), TimeElapsedColumn()]
        return Progress(*columns, console=self.console, transient=True,
                        disable=not self.console.is_terminal)  # no blank lines in a log file

    def _log(self, message: str) -> None:
        """A time-stamped line (`Console.log` would end each with this file's name and line)."""
        self.console.print(f"[log.time][{time.strftime('%H:%M:%S')}][/log.time] {message}")

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> list[dict[str, Any]]:
        """Run (or continue) the campaign to its last round or its budget; return round records.

        Raises:
            ConfigError: another process is running a campaign in the same run directory.
        """
        with self._locked():
            finished = self._finished() if self.ledger is not None else None
            if finished is not None and self.ledger.get_meta("finished"):  # nothing to do: say so
                self._begin()  # keeps what may change on resume (where `sync` logs it, say)
                rounds = self.ledger.rounds()
                self.console.print(summary_table(rounds, f"sciloop campaign {self.config.name!r}: "
                                                         f"{self.ledger.oracle_calls()} oracle calls"))
                self._log(finished)
                return rounds
            return self._run()

    def _finished(self) -> str | None:
        """Why a campaign has nothing left to do, with how to extend it; None while it has."""
        rounds = self.ledger.rounds() if self.ledger is not None else []
        if not rounds or any(r["stage"] != "done" for r in rounds) or self.ledger.pending():
            return None
        cfg, calls = self.config, self.ledger.oracle_calls()
        done = {r["round"] for r in rounds}
        all_rounds = done >= set(range(cfg.rounds + 1))
        spent = calls >= cfg.total_budget and not (all_rounds and cfg.budget is None)  # no budget of its own
        if not spent and not all_rounds:
            return None
        why = (f"its budget of {cfg.total_budget} oracle calls is spent" if spent else
               f"all {cfg.rounds} rounds after the initial screen are done")
        more = (f"--budget {cfg.total_budget + cfg.batch_size}" if spent
                else f"--rounds {cfg.rounds + 1}")
        return (f"campaign {cfg.name!r} is finished: {why} (initial screen + {len(done - {0})} rounds, "
                f"{calls} of {cfg.total_budget} oracle calls). Extend it with `sciloop resume "
                f"{self.run_dir} {more}` (--rounds N: rounds in all; --budget N: oracle calls in all)")

    def _run(self) -> list[dict[str, Any]]:
        self._start_ray()
        try:
            self._check_resources()
            self._begin()
            if self.ledger.get_meta("finished") and self._finished() is None:
                self.ledger.set_meta("finished", False)  # extended (--rounds / --budget): open again
            self._start_tracking()
            waiting = self.scoring.settle_in_flight(self.ledger)
            done = {r["round"] for r in self.ledger.rounds() if r["stage"] == "done"}
            for round_ in range(self.config.rounds + 1):
                if round_ in done:
                    continue
                if waiting:
                    break
                remaining = self.config.total_budget - self.ledger.oracle_calls()
                if remaining <= 0 and not self.ledger.designs(round_):  # a started round still ends
                    self._log(f"budget of {self.config.total_budget} oracle calls spent")
                    break
                try:
                    waiting = not self._round(round_, remaining)
                except BaseException:  # the ledger keeps what happened; the UI shows the failure
                    self._end_runs([self._round_run_id(round_)], "FAILED")
                    raise
            if waiting:
                self._log(f"paused: {len(self.ledger.in_flight())} designs await their labels. "
                                 f"Import them with `sciloop label {self.run_dir} results.csv`, "
                                 f"then `sciloop resume {self.run_dir}`")
            elif self.tracker is not None:
                self._mirror("log final models", self._log_final_models)
                self._end_runs([])
            if not waiting:
                self.ledger.set_meta("finished", True)  # `sciloop sync` may then end the parent run
            rounds = self.ledger.rounds()
            from sciloop.pipeline.report import cheap_builtin, screening_baseline

            screening = None  # random screening of the same library at as many calls, beside it
            if not waiting and self.screening_baseline and cheap_builtin(self.domain.name, self.config.oracle.target):
                def score(batch: list[str]) -> list[float | None]:
                    return [None if r.values is None else self.config.oracle.scalarise(r.values)
                            for r in self.oracle.score(batch)]

                try:
                    screening = screening_baseline(score, self.library, self.ledger.oracle_calls(),
                                                   self.config.initial.library, seed=self.config.seed)
                except Exception as exc:  # a baseline never fails a finished campaign
                    self._log(f"random-screening baseline skipped: {type(exc).__name__}: {exc}")
            self.console.print(summary_table(rounds, f"sciloop campaign {self.config.name!r}: "
                                                     f"{self.ledger.oracle_calls()} oracle calls", screening))
            return rounds
        finally:
            self._stop_ray()

    def _stop_ray(self) -> None:
        if self._owns_ray:
            import ray

            ray.shutdown()
            self._owns_ray = False

    def _round(self, round_: int, remaining: int) -> bool:
        """One round, or the rest of an interrupted one; False when it waits for a lab's labels."""
        t0 = time.monotonic()
        _seed_everything(self.config.seed * 1000 + round_)
        self.ledger.start_round(round_)
        run_id = self._mirror("start round", lambda: self.tracker.start_round(round_, self._round_run_id(round_)))
        self.ledger.set_stage(round_, "started", mlflow_run_id=run_id)
        metrics: dict[str, float] = {}
        ctx = RoundContext()
        rows = self.ledger.designs(round_)
        if rows:  # resumed after selection (a lab's round, a crash): score what is left, select nothing new
            pending_keys = {r.key for r in self.ledger.pending()}
            to_score = [r for r in rows if r.key in pending_keys]
            metrics = next(r["metrics"] for r in self.ledger.rounds() if r["round"] == round_)  # its proposal's
            ctx = self.proposal.context_of(self.ledger, round_)
        else:
            rows = (self.proposal.initial_batch(self.ledger, min(self.config.initial.size, remaining)) if round_ == 0
                    else self.proposal.propose(self.ledger, round_, min(self.config.batch_size, remaining),
                                               metrics, ctx))
            self.ledger.add_designs(round_, rows)
            to_score = rows
        self.ledger.set_stage(round_, "selected", metrics=metrics)
        t_score = time.monotonic()
        if getattr(self.oracle, "asynchronous", False) and to_score:  # a lab: hand off and pause
            path = self.oracle.export(self.run_dir, round_, [r.design for r in to_score])
            self.ledger.mark_submitted([r.key for r in to_score])
            self.ledger.set_stage(round_, "awaiting_labels")
            self._log(f"round {round_}: {len(to_score)} designs exported to {path}")
            return False
        if to_score:
            self.scoring.score(self.ledger, to_score, f"round {round_}: oracle")
        failures = len(self.ledger.failures(round_))
        metrics["seconds_oracle"] = time.monotonic() - t_score
        metrics.update(round_metrics(self.ledger, round_, rows, failures, self.domain))
        metrics["seconds_total"] = time.monotonic() - t0
        self.ledger.finish_round(round_, metrics)
        self.checkpoints.prune(round_)
        if run_id is not None and self._mirror("log round", log_round, self.tracker, self.ledger, run_id,
                                               round_, metrics, ctx, self.domain):
            self.ledger.mark_logged(round_)
        self._log(f"round {round_}: {int(metrics['new_labels'])} labels, best {metrics['best']:.3f}, "
                         f"top-10 {metrics['top10_mean']:.3f}, {metrics['seconds_total']:.0f}s")
        return True

    def _round_run_id(self, round_: int) -> str | None:
        for r in self.ledger.rounds():
            if r["round"] == round_:
                return r["mlflow_run_id"]
        return None

    def _log_final_models(self) -> None:
        """The final models in MLflow: the last round's checkpoints as artifacts of its run
        (hard links into the embedded store, so the run directory holds their bytes once; a
        tracking server got them with the round), and a reference on the campaign's run."""
        assert self.tracker is not None and self.tracker.parent_id is not None
        paths = self.checkpoints.final()
        if not paths:
            return
        self.tracker.set_tags(self.tracker.parent_id,
                              {"sciloop.final_checkpoints": ",".join(str(p) for p in paths)})
        last = max(r for p in paths if (r := round_of(p)) is not None)
        run_id = self._round_run_id(last)
        if run_id is not None and self.tracker.local_artifact_dir(run_id) is not None:
            for path in paths:
                self.tracker.link_artifact(run_id, path, "checkpoints")

    # -- ask / tell ------------------------------------------------------------------------
    def propose(self, n: int) -> list[str]:
        """Select `n` new designs (recorded in the ledger as pending) for a user-driven oracle.

        Holds the run directory while it works, and refuses more designs than the budget has
        calls left (designs proposed and not yet told count as spent).

        Raises:
            ConfigError: `n` exceeds the budget left, or another process holds the run directory.
        """
        with self._locked():
            self._start_ray()
            try:
                self._check_resources()
                ledger = self._begin()
                if not ledger.get_meta("ask_tell", False):  # `status` then says its rounds await `tell`
                    ledger.set_meta("ask_tell", True)
                left = self.config.total_budget - ledger.oracle_calls() - len(ledger.pending())
                if n > left:
                    raise ConfigError(f"propose({n}): the budget of {self.config.total_budget} oracle "
                                      f"calls has {max(left, 0)} left (pending designs included)")
                rounds = ledger.rounds()
                round_ = 0 if not rounds else rounds[-1]["round"] + 1
                if rounds and rounds[-1]["stage"] != "done" and not ledger.designs(round_ - 1):
                    round_ -= 1  # a proposal that failed before selecting anything: again
                ledger.start_round(round_)
                _seed_everything(self.config.seed * 1000 + round_)  # as `run` seeds its rounds
                metrics: dict[str, float] = {}
                rows = (self.proposal.initial_batch(ledger, n) if round_ == 0
                        else self.proposal.propose(ledger, round_, n, metrics, RoundContext()))
                self.checkpoints.prune(round_ - 1)  # this round's and the previous round's stay
                ledger.add_designs(round_, rows)
                ledger.set_stage(round_, "selected", metrics=metrics)  # `tell` finishes the round with them
                return [r.design for r in rows]
            finally:
                self._stop_ray()

    def tell(self, results: dict[str, float | None]) -> None:
        """Record results of designs from `propose` (None marks a failure); every round whose
        designs all have results is finished with the same metrics as a `run` round. Designs of a
        `tell` that a crash cut short may be told again. Nothing is written when a design or a
        value is refused.

        Raises:
            ValueError: a design that was not proposed or was told already, or a value that is
                not a number (a string from a CSV); NaN and inf are recorded as failures.
        """
        with self._locked():
            ledger = self._begin()
            pending = {r.key for r in ledger.pending()}
            told_before = {r.key for r in ledger.in_flight()}  # a `tell` cut short by a crash
            keys = {d: self.domain.canonical(d) for d in results}  # any spelling of a proposed design
            unknown = [d for d, k in keys.items() if k not in pending and k not in told_before]
            if unknown:
                raise ValueError(f"{len(unknown)} designs were not proposed or already told: {unknown[:3]}")
            if len(set(keys.values())) < len(keys):
                raise ValueError("two spellings of one design in one tell(): give each design once")
            outcomes = {d: OracleResult.from_value(v) if v is not None else OracleResult.failure("reported failed")
                        for d, v in results.items()}
            bad = {d: r.reason for d, r in outcomes.items() if (r.reason or "").startswith("not a number")}
            if bad:  # a typo, or text from a CSV: refused whole, as `sciloop label` skips it (NaN is a failure)
                raise ValueError(f"{len(bad)} values are not numbers (None records a failure), nothing "
                                 f"recorded: {list(bad.items())[:3]}")
            ledger.mark_submitted([k for k in keys.values() if k in pending])
            for design, res in outcomes.items():
                self.scoring.record(ledger, keys[design], res, "user")
            waiting = {r.key for r in ledger.pending()} | {r.key for r in ledger.in_flight()}
            for r in ledger.rounds():
                rows = ledger.designs(r["round"]) if r["stage"] != "done" else []
                if rows and not any(row.key in waiting for row in rows):
                    metrics = round_metrics(ledger, r["round"], rows, len(ledger.failures(r["round"])), self.domain)
                    ledger.finish_round(r["round"], metrics)


def _needs(prefix: str, cpus: float, gpus: float, resources: dict[str, float]) -> list[tuple[str, str, float]]:
    """One stage's Ray request as `(config key, Ray resource, amount)` rows.

    The keys are `{prefix}num_cpus`, `{prefix}num_gpus` and `{prefix}resources.<name>`; every
    stage's config spells them so (the proposer's with the prefix `proposer.actor_`).
    """
    return [(f"{prefix}num_cpus", "CPU", cpus), (f"{prefix}num_gpus", "GPU", gpus),
            *((f"{prefix}resources.{k}", k, v) for k, v in resources.items())]
