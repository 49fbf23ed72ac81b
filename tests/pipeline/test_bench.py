"""`sciloop bench pmo` end to end on a small budget: result files, the table, and the CLI."""

import json

import pytest

from sciloop.pipeline import bench, bench_table
from sciloop.pipeline.cli import main

TINY_SCILOOP = ["initial.size=20", "batch_size=20", "surrogate.members=2", "surrogate.hidden=32",
                "surrogate.epochs=5", "proposer.steps=2", "proposer.batch_size=8", "proposer.hidden=32",
                "proposer.max_len=20", "proposer.prior_checkpoint=null", "proposer.pretrain_steps=2", "proposer.num_actors=0",
                "proposer.pool_factor=3", "proposer.genetic_generations=2", "oracle.num_cpus=0.5"]


def test_baselines_write_result_files_and_the_table(tmp_path):
    results = bench.bench_pmo(["qed"], [0], budget=300, methods=["graph_ga", "screening"],
                              corpus_name="nci", results_dir=tmp_path, log=lambda _: None)
    assert [r.method for r in results] == ["screening", "graph_ga"]  # screening first: its top-10 is a target
    files = sorted(tmp_path.glob("qed/*.json"))
    assert len(files) == 2
    screening = json.loads(next(f for f in files if f.name.startswith("screening")).read_text())
    assert screening["calls"] == 300 and screening["budget"] == 300
    assert 0 < screening["auc_top100"] <= screening["auc_top10"] <= screening["auc_top1"] <= 1
    assert screening["commit"] and screening["machine"] and screening["curve_top10"][-1][0] == 300
    ga = results[1]
    assert ga.calls <= 300 and ga.final_top10 >= 0
    table = bench_table.pmo_table(bench.load_results(tmp_path))
    assert "| qed (tuning) |" in table and "graph_ga (pub.)" in table
    assert "(1/20 done)" not in table  # budget 300 runs are not leaderboard runs: not summed


def test_unknown_objective_is_named(tmp_path):
    with pytest.raises(ValueError, match="drd2"):
        bench.bench_pmo(["drd2"], [0], budget=300, results_dir=tmp_path)


def test_sciloop_method_runs_the_campaign(ray_session, tmp_path):
    result = bench.run_one("qed", "sciloop", 0, 60, "nci", [], TINY_SCILOOP)
    assert result.calls == 60  # the campaign spent exactly the budget, nothing twice
    assert {"surrogate", "proposer", "oracle"} <= set(result.stage_s)
    assert result.auc_top10 > 0
    assert result.config_id == bench.config_id(TINY_SCILOOP) != bench.config_id()


def test_table_counts_the_newest_run_per_seed_and_only_the_current_sciloop_config():
    def run(method, seed, started, auc, config=""):
        return {"objective": "qed", "method": method, "seed": seed, "budget": 10_000, "started": started,
                "auc_top10": auc, "wall_s": 1.0, "machine": "m", "config_id": config}

    now = bench.config_id()
    results = [run("screening", 0, "2026-01-01", 0.1), run("screening", 0, "2026-01-02", 0.2),
               run("sciloop", 0, "2026-01-01", 0.9, "old"), run("sciloop", 1, "2026-01-01", 0.5, now)]
    kept = bench_table.current(results)
    assert sorted((r["method"], r["auc_top10"]) for r in kept) == [("sciloop", 0.5), ("screening", 0.2)]


def test_cli_table(capsys):
    assert main(["bench", "table"]) == 0
    assert "sum, 20 objectives" in capsys.readouterr().out


def test_missing_only_skips_what_the_current_config_has_done(tmp_path):
    (tmp_path / "qed").mkdir()
    done = {"objective": "qed", "method": "sciloop", "seed": 0, "config_id": bench.config_id()}
    (tmp_path / "qed" / "sciloop-seed0-1.json").write_text(json.dumps(done))
    said = []
    ran = bench.bench_pmo(["qed"], [0, 1], budget=200, methods=["screening"], corpus_name="nci",
                          results_dir=tmp_path, log=said.append, missing_only=True)
    assert [(r.objective, r.seed) for r in ran] == [("qed", 1)]  # seed 0 skipped, seed 1 run
    assert "done already" in said[0]
