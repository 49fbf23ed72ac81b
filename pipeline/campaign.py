"""The campaign: rounds of fit surrogate -> train proposer -> propose -> select -> score.

The ledger is written first at every step (the source of truth); MLflow mirrors it.
`Campaign.run()` drives the oracle itself; `propose(n)` / `tell(results)` let a user drive it.
"""

from __future__ import annotations

import csv
import logging
import random
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sciloop.oracles.base import OracleResult
from sciloop.oracles.runner import OracleRunner
from sciloop.pipeline.builders import fit_surrogate, round_acquisition
from sciloop.pipeline.checkpoints import Checkpoints, round_of
from sciloop.pipeline.config import CampaignConfig, ConfigError, load_config
from sciloop.pipeline.domains import make_domain, select_diverse
from sciloop.pipeline.ledger import DesignRow, Label, Ledger, RunDirError, RunDirLock
from sciloop.pipeline.plugins import resolve_oracle
from sciloop.pipeline.proposer_registry import make_proposer, proposer_entry
from sciloop.pipeline.ray_runtime import start_ray
from sciloop.pipeline.report import summary_table
from sciloop.pipeline.round_log import RoundContext, log_round, round_metrics
from sciloop.pipeline.tracking import Tracker, open_campaign_tracker
from sciloop.surrogates.acquisition import acquisition_values, make_log_reward

from sciloop.pipeline import __version__

if TYPE_CHECKING:
    from sciloop.proposers.gflownet import GFlowNetProposer


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
    """

    def __init__(self, config: CampaignConfig, console: Console | None = None, resuming: bool = False):
        self.config = config
        self.console = console or Console()
        self.run_dir = Path(config.run_dir).resolve()
        self.domain = make_domain(config)  # what a design is: keys, library, featurizer, similarity
        self.oracle, self._user_module = resolve_oracle(config.oracle)
        self.library = self.domain.initial_designs()
        self.surrogate_featurizer = self.domain.featurizer(config.surrogate.member)
        self.proposer: Any = None
        self.surrogate: Any = None  # the last round's, refitted warm (`surrogate.warm_max_steps`)
        self.tracker: Tracker | None = None
        self._owns_ray = False
        self._lock = RunDirLock(self.run_dir)
        self.checkpoints = Checkpoints(self.run_dir / "checkpoints")  # the models, one copy
        self.ledger: Ledger | None = None  # opened here for an existing campaign, else by `_begin`
        if resuming or (self.run_dir / "ledger.sqlite").exists() or (self.run_dir / "config.yaml").exists():
            self.ledger = Ledger.of_run_dir(self.run_dir)  # refuses a missing or damaged ledger
            stored = self.ledger.get_meta("config_digest")
            if stored is not None and stored not in config.digests():  # legacy forms accepted
                raise ConfigError(f"{self.run_dir} holds a campaign with a different config "
                                  f"(digest {stored} != {config.digest()}; only "
                                  f"{' and '.join(config.EXTENDABLE)} may change): use a new run_dir")

    @classmethod
    def resume(cls, run_dir: str | Path, overrides: list[str] | None = None,
               console: Console | None = None) -> "Campaign":
        """The campaign stored in `run_dir` (wherever it is run from; its config's own `run_dir`
        may be relative to another working directory).

        Raises:
            ConfigError: `run_dir` holds no campaign.
            RunDirError: its ledger is missing or damaged.
        """
        run_dir = Path(run_dir).resolve()
        if not (run_dir / "config.yaml").exists():
            raise ConfigError(f"{run_dir} is not a run directory (no config.yaml)")
        config = load_config(run_dir / "config.yaml", overrides, run_dir=str(run_dir))
        return cls(config, console=console, resuming=True)

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
                    console: Console | None = None, **kw: Any) -> "Campaign":
        """Build from a YAML path or dict, with `key.sub=value` overrides and keyword overrides."""
        return cls(load_config(source, overrides, **kw), console=console)

    # -- set-up ---------------------------------------------------------------------------
    def _start_ray(self) -> None:
        """A private local Ray on 127.0.0.1 with token auth, or the cluster `ray.address` names
        (or a Ray Job's `RAY_ADDRESS`); a Ray someone else started is used as it is."""
        hide_worker_death_notices()
        self._owns_ray = start_ray(self.config.ray.address, self.config.ray.num_cpus, self._user_module) \
            or self._owns_ray

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
            self.tracker = open_campaign_tracker(self.config, self.run_dir, self.ledger, __version__)
        except Exception as exc:  # noqa: BLE001 - any tracking failure: go on without it
            self._tracking_lost("connect", exc)

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

    def _make_proposer(self, round_: int) -> Any:
        checkpoint = self.checkpoints.latest("proposer", round_)  # resume: the last round's weights and draws
        proposer = make_proposer(self.config, self.library, self._pretrain if checkpoint is None else None)
        if checkpoint is not None:  # tensors and plain containers only: a checkpoint runs no code
            proposer.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
        return proposer

    def _pretrain(self, proposer: GFlowNetProposer, steps: int) -> None:
        with self._progress(counted=False) as progress:  # pretrain() reports no steps
            progress.add_task(f"pretrain GFlowNet policy on the library ({steps} steps)", total=None)
            nll = proposer.pretrain(steps)
        self._log(f"pretrained the policy for {steps} steps (NLL {nll:.2f})")

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
            waiting = self._settle_in_flight()
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
                    if self.tracker is not None:
                        for run_id in filter(None, (self._round_run_id(round_), self.tracker.parent_id)):
                            self._mirror("end run", self.tracker.end_run, run_id, "FAILED")
                    raise
            if waiting:
                self._log(f"paused: {len(self.ledger.in_flight())} designs await their labels. "
                                 f"Import them with `sciloop label {self.run_dir} results.csv`, "
                                 f"then `sciloop resume {self.run_dir}`")
            elif self.tracker is not None:
                self._mirror("log final models", self._log_final_models)
                self._mirror("end run", self.tracker.end_run, self.tracker.parent_id)
            if not waiting:
                self.ledger.set_meta("finished", True)  # `sciloop sync` may then end the parent run
            rounds = self.ledger.rounds()
            from sciloop.pipeline.report import cheap_builtin, screening_baseline

            screening = None  # random screening of the same library at as many calls, beside it
            if not waiting and cheap_builtin(self.domain.name, self.config.oracle.target):
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
        if rows:  # resumed after selection: score what is left, select nothing new
            pending_keys = {r.key for r in self.ledger.pending()}
            to_score = [r for r in rows if r.key in pending_keys]
        else:
            rows = (self._initial_batch(min(self.config.initial.size, remaining)) if round_ == 0
                    else self._propose(round_, min(self.config.batch_size, remaining), metrics, ctx))
            self.ledger.add_designs(round_, rows)
            to_score = rows
        self.ledger.set_stage(round_, "selected")
        t_score = time.monotonic()
        if getattr(self.oracle, "asynchronous", False) and to_score:  # a lab: hand off and pause
            path = self.oracle.export(self.run_dir, round_, [r.design for r in to_score])
            self.ledger.mark_submitted([r.key for r in to_score])
            self.ledger.set_stage(round_, "awaiting_labels")
            self._log(f"round {round_}: {len(to_score)} designs exported to {path}")
            return False
        if to_score:
            self._score(to_score, f"round {round_}: oracle")
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

    def _initial_batch(self, n: int) -> list[DesignRow]:
        """Round 0: a random screen of the library (counted against the budget)."""
        rng = random.Random(self.config.seed)
        known = self.ledger.known_keys()
        picks = rng.sample([s for s in self.library if s not in known], n)
        return [DesignRow(key=s, design=s, source=self.domain.initial_source) for s in picks]

    def _fit_surrogate(self, round_: int, labels: list[Label]) -> tuple[Any, list[str], list[float], dict[str, float]]:
        if len(labels) < 2:
            failed = self.ledger.failed()
            raise RunDirError(
                f"round {round_} needs at least 2 labels to fit the surrogate, and the ledger holds "
                f"{len(labels)} ({len(failed)} designs failed, e.g. {self.ledger.failures()[:1]}). "
                f"Correct failures with `sciloop label {self.run_dir} results.csv` (a failure may be "
                f"corrected to a label), then `sciloop resume {self.run_dir}`")
        designs, y = [l.key for l in labels], [l.value for l in labels]
        surrogate, stats, where = fit_surrogate(self.config, self.surrogate_featurizer, designs, y, round_,
                                                self.surrogate)
        self.surrogate = surrogate
        if where is not None:
            self.ledger.record_placements(round_, "surrogate", [where])
        return surrogate, designs, y, {f"surrogate_{k}": float(v) for k, v in stats.items()}

    def _propose(self, round_: int, n: int, metrics: dict[str, float], ctx: RoundContext) -> list[DesignRow]:
        """Fit the surrogate, train the proposer on its reward, sample a pool, select `n` by index.

        A proposer with `prepare(top)` (offspring: breeding, which needs labels but no surrogate)
        is started before the fit, so the two overlap; `seconds_surrogate` then shares the CPUs.
        """
        t = time.monotonic()
        labels = self.ledger.labels()
        ranked = sorted(((label.value, label.key) for label in labels), reverse=True)
        top = [key for _, key in ranked[: self.config.proposer.replay_top]]  # the best labelled designs
        if self.proposer is not None and hasattr(self.proposer, "prepare"):
            self.proposer.prepare(top)
        surrogate, designs, y, fit_stats = self._fit_surrogate(round_, labels)
        metrics.update(fit_stats)
        metrics["seconds_surrogate"] = time.monotonic() - t
        self.ledger.set_stage(round_, "surrogate")

        acq_cfg = round_acquisition(self.config, round_)
        if self.proposer is None:
            self.proposer = self._make_proposer(round_)
        t = time.monotonic()
        log_reward = make_log_reward(surrogate, acq_cfg, designs, y)
        pc = self.config.proposer
        steps = proposer_entry(pc.name).steps(pc)
        samplers = getattr(self.proposer, "samplers", nullcontext)  # one actor start-up per round
        with samplers(), self._progress() as progress:
            task = progress.add_task(f"round {round_}: train proposer", total=steps)
            calls = iter(range(1, steps + 1))  # proposers number their steps from 0 or from 1: count calls
            train_stats = self.proposer.train(log_reward, steps, offline=top,
                                              progress=lambda _i, _m: progress.update(
                                                  task, completed=next(calls, steps)))
            metrics["seconds_proposer"] = time.monotonic() - t
            t = time.monotonic()
            pool, candidates = self._sample_pool(self.config.proposer.pool_factor * n)
        metrics.update({f"proposer_{k}": float(v) for k, v in (train_stats or {}).items()})
        workers = {(p["node_id"], p["actor_id"]): p["gpu_ids"] for p in getattr(self.proposer, "placements", [])}
        self.ledger.record_placements(round_, "proposer", [{"node": n, "worker": a, "gpus": g}
                                                           for (n, a), g in workers.items()])
        ctx.checkpoints = [self.checkpoints.write("proposer", round_, self.proposer.state_dict()),
                           self.checkpoints.write("surrogate", round_, surrogate.state_dict())]
        self.ledger.set_stage(round_, "trained")
        self.ledger.add_candidates(round_, candidates)
        metrics.update(pool_sampled=len(candidates), pool_kept=len(pool),
                       pool_invalid=sum(c[2] == "invalid" for c in candidates),
                       pool_labelled=sum(c[2] == "labelled" for c in candidates))
        if not pool:
            raise RuntimeError(f"round {round_}: the proposer produced no new valid design "
                               f"({len(candidates)} sampled); raise proposer.pool_factor")
        values = acquisition_values(log_reward.acquisition, surrogate.features(pool))  # the reward's own
        picks = select_diverse(self.domain, values, pool, n, min_distance=self.config.selection.min_distance)
        mean, std = surrogate.predict([pool[i] for i in picks])
        metrics["seconds_propose"] = time.monotonic() - t
        pool_log_rewards = log_reward(pool).tolist()
        ctx.train_designs, ctx.train_y = designs, y
        ctx.pool_log_rewards, ctx.picked_log_rewards = pool_log_rewards, [pool_log_rewards[i] for i in picks]
        return [DesignRow(key=pool[i], design=pool[i], source=self.config.proposer.name,
                          acquisition=float(values[i]), mean=float(m), std=float(s))
                for i, m, s in zip(picks, mean.tolist(), std.tolist())]

    def _sample_pool(self, size: int, attempts: int = 4) -> tuple[list[str], list[tuple[str, str | None, str | None]]]:
        """Sample until `size` new, valid, distinct designs (canonical) or `attempts` draws.

        A proposer that concentrates on designs it was shown (replayed top labels) returns many
        already-labelled ones: drawing again keeps the batch full. Returns the pool and every
        candidate as (design, key, why dropped).
        """
        known, seen = self.ledger.known_keys(), set()
        pool: list[str] = []
        candidates: list[tuple[str, str | None, str | None]] = []
        for _ in range(attempts):
            for design in self.proposer.sample(size):
                key = self.domain.canonical(design)
                why = ("invalid" if key is None else "labelled" if key in known
                       else "duplicate" if key in seen else None)
                candidates.append((design, key, why))
                if why is None:
                    seen.add(key)
                    pool.append(key)
            if len(pool) >= size:
                break
        return pool, candidates

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

    def _settle_in_flight(self) -> bool:
        """Designs sent with no result yet: a lab's are awaited (True: wait); after a crash they
        are re-sent (idempotent oracles) or marked unknown for `sciloop label`."""
        flight = self.ledger.in_flight()
        if not flight:
            return False
        if getattr(self.oracle, "asynchronous", False):
            return True
        if self.oracle.idempotent:
            self._log(f"re-sending {len(flight)} designs left in flight by the last run "
                             f"(the oracle is idempotent)")
            self._score(flight, "re-send in-flight designs", resend=True)
        else:
            self.ledger.mark_unknown([r.key for r in flight],
                                     "in flight when the campaign stopped; the oracle is not idempotent")
            self._log(f"[yellow]warning:[/yellow] {len(flight)} designs were in flight when the "
                             f"last run stopped; they are not sent again (the oracle is not idempotent). "
                             f"Supply their values with: sciloop label {self.run_dir} results.csv")
        return False

    def _score(self, rows: list[DesignRow], description: str, resend: bool = False) -> int:
        """Send rows to the oracle on Ray; the ledger records every paid call and each result.

        A call again (a transient-error retry, or a re-send of an idempotent oracle's lost call)
        is a `resubmitted` row counted against the budget, and is refused once the budget is
        spent. Results the ledger could not take are written to `unrecorded-results.csv`.
        """
        by_key = {r.design: r.key for r in rows}
        runner = OracleRunner(self.oracle, max_consecutive_failures=self.config.oracle.max_consecutive_failures)
        mark = self.ledger.mark_resubmitted if resend else self.ledger.mark_submitted
        unsent = len(rows)  # designs of this batch not yet paid for: already promised to the budget
        with self._progress() as progress:
            task = progress.add_task(description, total=len(rows))

            def on_submit(chunk: list[str]) -> None:
                nonlocal unsent
                mark([by_key[d] for d in chunk])
                unsent -= len(chunk)

            def on_retry(design: str, result: OracleResult, attempt: int) -> bool:
                if self.ledger.oracle_calls() + unsent >= self.config.total_budget:
                    return False
                self.ledger.mark_resent(by_key[design], f"attempt {attempt + 1} after: {result.reason}")
                return True

            done: set[str] = set()

            def on_result(design: str, result: OracleResult, node: str) -> None:
                self._record(by_key[design], result, node)
                done.add(design)  # designs with a final result, never above the batch
                progress.update(task, completed=len(done))

            try:
                return runner.run([r.design for r in rows], on_submit, on_result, on_retry)
            finally:
                self._rescue(getattr(runner.report, "undelivered", []), by_key)

    def _rescue(self, undelivered: list[tuple[str, OracleResult, str]], by_key: dict[str, str]) -> None:
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
            self.ledger.mark_unknown([by_key.get(d, d) for d, _, _ in undelivered],
                                     "paid; its result is in unrecorded-results.csv")
            then = ""
        except Exception:  # noqa: BLE001 - the ledger is what failed: resume marks them unknown
            then = f"`sciloop resume {self.run_dir}` (it marks them unknown), then "
        self._log(f"[red]error:[/red] {len(rows)} paid results could not be recorded in the ledger; "
                         f"they are {where}. Once the cause is fixed, import them with {then}"
                         f"`sciloop label {self.run_dir} <csv>`")

    def _record(self, key: str, result: OracleResult, node: str) -> None:
        """A result into the ledger; a score vector is kept whole and scalarised for the surrogate."""
        values = result.values
        value = None if values is None else self.config.oracle.scalarise(values)
        self.ledger.record_result(key, value, result.reason, node, values if values and len(values) > 1 else None)

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
                left = self.config.total_budget - ledger.oracle_calls() - len(ledger.pending())
                if n > left:
                    raise ConfigError(f"propose({n}): the budget of {self.config.total_budget} oracle "
                                      f"calls has {max(left, 0)} left (pending designs included)")
                rounds = ledger.rounds()
                round_ = 0 if not rounds else rounds[-1]["round"] + 1
                if rounds and rounds[-1]["stage"] != "done" and not ledger.designs(round_ - 1):
                    round_ -= 1  # a proposal that failed before selecting anything: again
                ledger.start_round(round_)
                rows = (self._initial_batch(n) if round_ == 0 else self._propose(round_, n, {}, RoundContext()))
                self.checkpoints.prune(round_ - 1)  # this round's and the previous round's stay
                ledger.add_designs(round_, rows)
                ledger.set_stage(round_, "selected")
                return [r.design for r in rows]
            finally:
                self._stop_ray()

    def tell(self, results: dict[str, float | None]) -> None:
        """Record results of designs from `propose` (None marks a failure); a round whose designs
        all have results is finished with the same metrics as a `run` round. Designs of a `tell`
        that a crash cut short may be told again.

        Raises:
            ValueError: a design that was not proposed, or was told already.
        """
        with self._locked():
            ledger = self._begin()
            pending = {r.design: r for r in ledger.pending()}
            told_before = {r.design: r for r in ledger.in_flight()}  # a `tell` cut short by a crash
            unknown = [d for d in results if d not in pending and d not in told_before]
            if unknown:
                raise ValueError(f"{len(unknown)} designs were not proposed or already told: {unknown[:3]}")
            pending |= told_before
            ledger.mark_submitted([pending[d].key for d in results if d not in told_before])
            for design, value in results.items():
                res = OracleResult.from_value(value) if value is not None else OracleResult.failure("reported failed")
                self._record(pending[design].key, res, "user")
            rounds = ledger.rounds()
            if rounds and rounds[-1]["stage"] != "done" and not ledger.pending() and not ledger.in_flight():
                round_ = rounds[-1]["round"]
                rows = ledger.designs(round_)
                metrics = round_metrics(ledger, round_, rows, len(ledger.failures(round_)), self.domain)
                ledger.finish_round(round_, metrics)


def _needs(prefix: str, cpus: float, gpus: float, resources: dict[str, float]) -> list[tuple[str, str, float]]:
    """One stage's Ray request as `(config key, Ray resource, amount)` rows.

    The keys are `{prefix}num_cpus`, `{prefix}num_gpus` and `{prefix}resources.<name>`; every
    stage's config spells them so (the proposer's with the prefix `proposer.actor_`).
    """
    return [(f"{prefix}num_cpus", "CPU", cpus), (f"{prefix}num_gpus", "GPU", gpus),
            *((f"{prefix}resources.{k}", k, v) for k, v in resources.items())]
