"""End to end: a tiny campaign on real Ray, real MLflow (sqlite), real rdkit and torch.

The oracle is a plain function of this test module, named in config as
`test_campaign:score`: it reaches the Ray workers only because sciloop ships the module.
"""

import collections
import os
import sys
import tempfile
from pathlib import Path

import torch
import pytest
from mlflow.tracking import MlflowClient
from rdkit import Chem
from rich.console import Console

from sciloop.pipeline.campaign import Campaign
from sciloop.pipeline.ledger import Ledger
from sciloop.proposers.gflownet import GFlowNetProposer
from sciloop.surrogates.ensemble import EnsembleSurrogate
from sciloop.surrogates.featurizers import MorganFeaturizer

CALL_LOG = Path(tempfile.gettempdir()) / "sciloop-test-campaign-calls.log"  # set per test


def score(smiles: list[str]) -> list[float]:
    """A user's oracle: heteroatoms, best at 8 heavy atoms; logs every design it is paid for."""
    with open(CALL_LOG, "a") as fh:
        fh.writelines(f"{os.getpid()}\t{s}\n" for s in smiles)
    out = []
    for s in smiles:
        atoms = [a.GetSymbol() for a in Chem.MolFromSmiles(s).GetAtoms()]
        out.append(sum(a != "C" for a in atoms) - 0.1 * (len(atoms) - 8) ** 2)
    return out


def _with_user_oracle(config: dict) -> dict:
    config["oracle"]["target"] = "test_campaign:score"
    return config


def test_tiny_campaign_end_to_end(ray_session, tmp_path, monkeypatch, tiny):
    monkeypatch.chdir(Path(__file__).parent)  # `test_campaign` imports from the working directory
    # the oracle travels to the workers by value, this module's globals with it
    monkeypatch.setattr(sys.modules[__name__], "CALL_LOG", tmp_path / "calls.log")
    config = _with_user_oracle(tiny)
    campaign = Campaign.from_config(config, run_dir=str(tmp_path / "run"), console=Console(quiet=True))
    rounds = campaign.run()

    # ledger: three rounds (initial screen + 2), every design sent once, every call recorded
    assert [r["round"] for r in rounds] == [0, 1, 2] and all(r["stage"] == "done" for r in rounds)
    ledger = Ledger(tmp_path / "run" / "ledger.sqlite")
    counts = ledger.counts()
    assert counts["submitted"] == 16 + 2 * 8 == ledger.oracle_calls()
    assert counts.get("labeled", 0) + counts.get("failed", 0) == counts["submitted"]
    calls = [line.split("\t")[1].strip() for line in CALL_LOG.read_text().splitlines()]
    assert len(calls) == counts["submitted"]
    keys = [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in calls]
    assert max(collections.Counter(keys).values()) == 1, "a canonical design was paid twice"
    labels = {l.key: l.value for l in ledger.labels()}
    assert set(labels) <= set(keys) and len(labels) == counts["labeled"]
    sources = {r["source"] for i in (1, 2) for r in ledger.batch(i)}
    assert sources == {"gflownet"}
    assert all(r["mean"] is not None for r in ledger.batch(2))

    # MLflow: parent run, one nested run per round, metrics, batch tables, config artifact
    client = MlflowClient(f"sqlite:///{tmp_path / 'run' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("tiny")
    assert exp.artifact_location.startswith((tmp_path / "run" / "artifacts").as_uri())
    runs = client.search_runs([exp.experiment_id])
    parent = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent[0].info.run_id]
    assert len(parent) == 1 and len(children) == 3
    assert parent[0].data.params["oracle.target"] == "test_campaign:score"
    history = client.get_metric_history(parent[0].info.run_id, "by_calls/top10_mean")
    assert [m.step for m in history] == [16, 24, 32]
    for child in children:
        r = int(child.data.tags["sciloop.round"])
        assert child.data.metrics["oracle_calls"] == 16 + 8 * r
        artifacts = [a.path for a in client.list_artifacts(child.info.run_id, "batch")]
        assert artifacts == [f"batch/round-{r:03d}.json"]
    assert "config.yaml" in [a.path for a in client.list_artifacts(parent[0].info.run_id)]
    round2 = [c for c in children if c.data.tags["sciloop.round"] == "2"][0]
    for metric in ("spearman_batch", "miscalibration_area_batch", "proposer_loss", "proposer_log_z",
                   "diversity_top10", "novelty_top10", "modes_above_initial_best", "seconds_proposer",
                   "seconds_oracle", "failures", "top100_mean"):
        assert metric in round2.data.metrics, metric
    rid = round2.info.run_id
    paths = {a.path for folder in ("top", "plots", "checkpoints")
             for a in client.list_artifacts(rid, folder)}
    assert paths == {"top/round-002.png", "plots/curves-round-002.png", "plots/reward-round-002.png",
                     "plots/calibration-round-002.png", "checkpoints/proposer-round-002.pt",
                     "checkpoints/surrogate-round-002.pt"}
    (dataset_input,) = round2.inputs.dataset_inputs
    assert dataset_input.dataset.name == "labels-round-002"
    # checkpoints are plain artifacts that sciloop loads back
    local = Path(client.download_artifacts(rid, "checkpoints", str(tmp_path / "dl")))
    proposer = GFlowNetProposer.from_state_dict(torch.load(local / "proposer-round-002.pt", weights_only=False))
    assert len(proposer.sample(3)) == 3 if proposer.config.num_actors == 0 else proposer.prior is not None
    surrogate = EnsembleSurrogate(MorganFeaturizer())
    surrogate.load_state_dict(torch.load(local / "surrogate-round-002.pt", weights_only=False))
    mean, std = surrogate.predict(list(labels)[:4])
    assert mean.shape == (4,) and bool((std >= 0).all())

    # a second run on the same directory has nothing left to do and pays nothing
    again = Campaign.from_config(config, run_dir=str(tmp_path / "run"), console=Console(quiet=True)).run()
    assert len(again) == 3 and Ledger(tmp_path / "run" / "ledger.sqlite").oracle_calls() == 32
    assert len(CALL_LOG.read_text().splitlines()) == 32
    assert len(client.search_runs([exp.experiment_id])) == 4  # reattached to its runs: none added
    assert [m.step for m in client.get_metric_history(parent[0].info.run_id, "by_calls/top10_mean")] == [16, 24, 32]


def _designs_by_round(run_dir: Path) -> list[list[str]]:
    ledger = Ledger(run_dir / "ledger.sqlite")
    return [[row["design"] for row in ledger.batch(r["round"])] for r in ledger.rounds()]


def test_same_seed_same_campaign(ray_session, tmp_path, monkeypatch, tiny):
    monkeypatch.chdir(Path(__file__).parent)
    small = _with_user_oracle(tiny) | {"rounds": 1}
    for name in ("a", "b"):
        Campaign.from_config(small, run_dir=str(tmp_path / name), console=Console(quiet=True)).run()
    first, second = _designs_by_round(tmp_path / "a"), _designs_by_round(tmp_path / "b")
    assert len(first) == 2 and len(first[1]) == 8
    assert first == second


def test_ask_tell(ray_session, tmp_path, tiny):
    campaign = Campaign.from_config(tiny, run_dir=str(tmp_path / "run"),
                                    console=Console(quiet=True))
    initial = campaign.propose(16)
    campaign.tell({d: float(len(d)) for d in initial})
    designs = campaign.propose(5)
    assert len(designs) == 5 and not set(designs) & set(initial)
    campaign.tell({designs[0]: 1.0, designs[1]: None})
    ledger = Ledger(tmp_path / "run" / "ledger.sqlite")
    assert ledger.oracle_calls() == 18 and len(ledger.labels()) == 17
    assert len(ledger.pending()) == 3
    with pytest.raises(ValueError, match="not numbers"):  # text from a CSV: refused, nothing recorded
        campaign.tell({designs[2]: 0.5, designs[3]: "0.83"})
    assert ledger.oracle_calls() == 18 and len(ledger.pending()) == 3
    more = campaign.propose(4)  # round 2 while round 1 still waits for three results
    mol = Chem.MolFromSmiles(designs[2])
    spelt = Chem.MolToSmiles(mol, rootedAtAtom=mol.GetNumAtoms() - 1)  # another SMILES of the same molecule
    assert spelt != designs[2]
    with pytest.raises(ValueError, match="two spellings"):
        campaign.tell({designs[2]: 1.0, spelt: 1.0})
    campaign.tell({spelt: 1.0} | {d: 1.0 for d in designs[3:] + more})
    assert ledger.has_label(designs[2])
    assert [r["stage"] for r in ledger.rounds()] == ["done", "done", "done"]  # round 1 was left 'selected'
    assert ledger.rounds()[1]["metrics"]["new_labels"] == 4 and ledger.rounds()[1]["metrics"]["failures"] == 1
    # each round's metrics as of its own end, though round 1 was finished with round 2
    assert [(r["metrics"]["oracle_calls"], r["metrics"]["labels"]) for r in ledger.rounds()] == [
        (16, 16), (21, 20), (25, 24)]


@pytest.mark.parametrize("surrogate", [
    {"members": 3, "hidden": 32, "epochs": 20, "warm_max_steps": 10, "dropout": 0.2},
    {"member": "gp", "warm_max_steps": 10}])
def test_a_campaign_picked_up_by_a_new_process_proposes_what_it_would_have(ray_session, tmp_path, tiny, surrogate):
    """Ask/tell from a fresh `Campaign` (a new process, or `resume`) gives the designs the same
    campaign gives without the break: the warm surrogate (MLP ensemble, GP) is refitted from its
    checkpoint and the round's random streams are seeded (dropout draws from torch's global one)."""
    config = tiny | {"surrogate": surrogate,
                     "proposer": {"name": "offspring", "offspring_children": 200, "replay_top": 100000}}
    value = lambda batch: {d: float(len(d)) for d in batch}  # noqa: E731

    def first_rounds(run_dir):
        campaign = Campaign.from_config(config, run_dir=str(run_dir), console=Console(quiet=True))
        campaign.tell(value(campaign.propose(16)))
        campaign.tell(value(campaign.propose(8)))
        return campaign

    unbroken = first_rounds(tmp_path / "a").propose(8)
    first_rounds(tmp_path / "b")
    torch.manual_seed(12345)  # whatever the new process's global state
    picked_up = Campaign.from_config(config, run_dir=str(tmp_path / "b"), console=Console(quiet=True)).propose(8)
    assert picked_up == unbroken


def test_tracking_lost_at_the_very_end_does_not_stop_the_campaign(ray_session, tmp_path, monkeypatch, tiny):
    """The server goes away while the final models are logged: one warning, and the campaign
    still finishes (ending its MLflow run used the tracker the failure had just switched off)."""
    def server_gone(self):
        raise ConnectionError("tracking server went away")

    monkeypatch.setattr(Campaign, "_log_final_models", server_gone)
    console = Console(record=True, width=200)
    rounds = Campaign.from_config(tiny | {"rounds": 1}, run_dir=str(tmp_path / "run"), console=console).run()
    assert [r["stage"] for r in rounds] == ["done", "done"]
    text = console.export_text()
    assert text.count("MLflow unavailable (log final models: ConnectionError") == 1 and "sciloop sync" in text
    assert Ledger(tmp_path / "run" / "ledger.sqlite").get_meta("finished") is True


def faulty(smiles: list[str]) -> list[float]:
    """Raises on chlorine, NaN for bromine, kills its worker on sulfur; logs what it is paid for."""
    with open(CALL_LOG, "a") as fh:
        fh.writelines(f"{os.getpid()}\t{s}\n" for s in smiles)
    if any("Cl" in s for s in smiles):
        raise RuntimeError("simulator rejects chlorine")
    if any("S" in s for s in smiles):
        os._exit(3)
    return [float("nan") if "Br" in s else float(len(s)) for s in smiles]


def test_multi_objective_values_are_kept_and_scalarised(ray_session, tmp_path, tiny):
    # told from a lab's two columns (a built-in objective scores one and would refuse two weights)
    tiny["oracle"] = {"target": "lab", "kwargs": {"value_columns": ["yield", "purity"]}, "weights": [1.0, 0.5]}
    campaign = Campaign.from_config(tiny, run_dir=str(tmp_path / "run"))
    designs = campaign.propose(16)
    campaign.tell({d: (0.2, 0.4) for d in designs[:3]} | {designs[3]: (1.0, float("nan"))})
    vectors = campaign.ledger.vectors()
    assert len(vectors) == 3 and all(v == [0.2, 0.4] for v in vectors.values())
    assert {round(l.value, 6) for l in campaign.ledger.labels()} == {0.4}  # 1.0 * 0.2 + 0.5 * 0.4
    assert campaign.ledger.failures()[0][1].startswith("non-finite")


def test_campaign_survives_oracle_faults(ray_session, tmp_path, monkeypatch, tiny):
    monkeypatch.chdir(Path(__file__).parent)
    monkeypatch.setattr(sys.modules[__name__], "CALL_LOG", tmp_path / "calls.log")
    config = tiny | {"rounds": 1, "initial": {"size": 30}}
    config["oracle"] = {"target": "test_campaign:faulty", "batch_size": 1, "num_cpus": 0.5,
                        "max_consecutive_failures": 50}
    Campaign.from_config(config, run_dir=str(tmp_path / "run"), console=Console(quiet=True)).run()
    ledger = Ledger(tmp_path / "run" / "ledger.sqlite")
    reasons = dict(ledger.failures())
    for design in (r.design for r in ledger.designs(0) + ledger.designs(1)):
        if "Cl" in design:
            assert "simulator rejects chlorine" in reasons[design]
        elif "S" in design:
            assert reasons[design].startswith("worker lost")
        elif "Br" in design:
            assert "non-finite" in reasons[design]
    kinds = {"chlorine" if "Cl" in d else "worker" if "S" in d else "nan" for d in reasons}
    assert kinds == {"chlorine", "worker", "nan"}, reasons  # every fault happened at least once
    paid = [line.split("\t")[1].strip() for line in CALL_LOG.read_text().splitlines()]
    assert len(paid) == len(set(paid)) == ledger.oracle_calls()  # the non-idempotent oracle: never twice


def short(smiles: list[str]) -> list[float]:
    return [1.0] * (len(smiles) - 1)


def test_wrong_number_of_results_stops_the_campaign(ray_session, tmp_path, monkeypatch, tiny):
    from sciloop.oracles.base import ResultCountError

    monkeypatch.chdir(Path(__file__).parent)
    tiny["oracle"] = {"target": "test_campaign:short", "batch_size": 4, "num_cpus": 0.5}
    with pytest.raises(ResultCountError, match=r"oracle 'test_campaign:short' returned 3 results for 4 designs"):
        Campaign.from_config(tiny, run_dir=str(tmp_path / "run"), console=Console(quiet=True)).run()
    ledger = Ledger(tmp_path / "run" / "ledger.sqlite")
    assert ledger.failures() and ledger.rounds()[0]["stage"] != "done"


def test_lab_hand_off_round_trip(ray_session, tmp_path, tiny):
    """A lab as the oracle: each batch is exported, the campaign pauses, labels come back by CSV."""
    from sciloop.pipeline.cli import main

    tiny["oracle"] = {"target": "lab"}
    run_dir = tmp_path / "run"
    exports = []
    for round_ in range(3):
        Campaign.from_config(tiny, run_dir=str(run_dir), console=Console(quiet=True)).run()
        ledger = Ledger(run_dir / "ledger.sqlite")
        assert [r["stage"] for r in ledger.rounds()][-1] == "awaiting_labels"
        batch = run_dir / "handoff" / f"batch-{round_:03d}.csv"
        designs = [line.split(",")[0] for line in batch.read_text().splitlines()[1:]]
        assert len(designs) == (16 if round_ == 0 else 8) and not set(designs) & set(exports)
        exports += designs
        # the lab measures all but one design, which comes back without a value
        rows = [f"{d},{len(d)}" for d in designs[:-1]] + [f"{designs[-1]},"]
        (tmp_path / "results.csv").write_text("design,value\n" + "\n".join(rows) + "\n")
        assert main(["label", str(run_dir), str(tmp_path / "results.csv")]) == 0
        assert main(["label", str(run_dir), str(tmp_path / "results.csv")]) == 0  # twice: no change
    Campaign.from_config(tiny, run_dir=str(run_dir), console=Console(quiet=True)).run()
    ledger = Ledger(run_dir / "ledger.sqlite")
    assert [r["stage"] for r in ledger.rounds()] == ["done"] * 3
    assert len(ledger.labels()) == 32 - 3 and len(ledger.failures()) == 3
    assert ledger.oracle_calls() == 32 and ledger.in_flight() == []


def test_impossible_resource_request_stops_before_any_oracle_call(ray_session, tmp_path, tiny):
    from sciloop.pipeline.config import ConfigError

    tiny["oracle"] |= {"num_gpus": 1}
    with pytest.raises(ConfigError, match=r"oracle.num_gpus asks for 1.0 GPU but the Ray cluster has 0.0"):
        Campaign.from_config(tiny, run_dir=str(tmp_path / "a"), console=Console(quiet=True)).run()
    tiny["oracle"] |= {"num_gpus": 0, "resources": {"docking_licence": 1}}
    with pytest.raises(ConfigError, match=r"oracle.resources.docking_licence asks for 1"):
        Campaign.from_config(tiny, run_dir=str(tmp_path / "b"), console=Console(quiet=True)).run()
    assert Ledger(tmp_path / "b" / "ledger.sqlite").oracle_calls() == 0
    tiny["oracle"] |= {"resources": {}}
    tiny["surrogate"] |= {"placement": "ray", "num_gpus": 1}
    with pytest.raises(ConfigError, match=r"surrogate.num_gpus asks for 1.0 GPU"):
        Campaign.from_config(tiny, run_dir=str(tmp_path / "c"), console=Console(quiet=True)).run()
    tiny["surrogate"] |= {"placement": "driver"}
    tiny["proposer"] |= {"name": "gflownet", "num_actors": 1, "actor_resources": {"gfn_node": 1}}
    with pytest.raises(ConfigError, match=r"proposer.actor_resources.gfn_node asks for 1"):
        Campaign.from_config(tiny, run_dir=str(tmp_path / "d"), console=Console(quiet=True)).run()


def test_gnn_surrogate_with_early_stopping(ray_session, tmp_path, tiny):
    tiny["rounds"] = 1
    tiny["surrogate"] |= {"member": "gnn", "hidden": 16, "epochs": 30, "patience": 3, "num_threads": 1}
    rounds = Campaign.from_config(tiny, run_dir=str(tmp_path / "run"), console=Console(quiet=True)).run()
    metrics = rounds[1]["metrics"]
    assert metrics["surrogate_epochs"] <= 30 and "spearman_batch" in metrics
    assert all(row["mean"] is not None for row in Ledger(tmp_path / "run" / "ledger.sqlite").batch(1))


def test_gp_surrogate_and_genetic_proposer(ray_session, tmp_path, tiny):
    tiny["rounds"] = 1
    tiny["surrogate"] |= {"member": "gp"}
    tiny["proposer"] |= {"name": "genetic", "genetic_generations": 3}
    rounds = Campaign.from_config(tiny, run_dir=str(tmp_path / "run"), console=Console(quiet=True)).run()
    metrics = rounds[1]["metrics"]
    assert metrics["proposer_children"] > 0 and "spearman_batch" in metrics
    batch = Ledger(tmp_path / "run" / "ledger.sqlite").batch(1)
    assert len(batch) == tiny["batch_size"] and all(row["std"] > 0 for row in batch)


@pytest.mark.parametrize("member", ["mlp", "gp"])
def test_offspring_proposer_with_warm_refits(ray_session, tmp_path, tiny, member):
    tiny["rounds"] = 2
    tiny["surrogate"] |= {"warm_max_steps": 5, "member": member}
    tiny["proposer"] |= {"name": "offspring", "offspring_children": 60, "replay_top": 1000}
    rounds = Campaign.from_config(tiny, run_dir=str(tmp_path / "run"), console=Console(quiet=True)).run()
    first, second = rounds[1]["metrics"], rounds[2]["metrics"]
    assert first["surrogate_warm"] == 0 and second["surrogate_warm"] == 1 and second["surrogate_steps"] <= 5
    assert first["proposer_children"] > 0 and second["proposer_children"] > 0
    ledger = Ledger(tmp_path / "run" / "ledger.sqlite")
    assert all(len(ledger.batch(r)) == tiny["batch_size"] for r in (1, 2))
    assert all(row["source"] == "offspring" for r in (1, 2) for row in ledger.batch(r))


def test_picks_closer_than_min_distance_are_counted_not_hidden(ray_session, tmp_path, tiny):
    """`select_diverse` fills a batch with close designs when too few far-apart ones exist: the
    round says how many (a metric, and a line in the log), measured on the picks in pick order."""
    from sciloop.pipeline.domains import make_domain

    tiny |= {"rounds": 1, "selection": {"min_distance": 1.0}}  # any shared fingerprint bit is too close
    tiny["proposer"] |= {"name": "offspring", "offspring_children": 60, "replay_top": 1000}  # related children
    campaign = Campaign.from_config(tiny, run_dir=str(tmp_path / "run"), console=Console(quiet=True))
    rounds = campaign.run()
    batch = [row["design"] for row in Ledger(tmp_path / "run" / "ledger.sqlite").batch(1)]
    domain = make_domain(campaign.config)
    close = sum(float(domain.similarity([d], batch[:k]).max()) > 0 for k, d in enumerate(batch) if k)
    assert rounds[1]["metrics"]["selection_too_close"] == close > 0


def test_greedy_fraction_reaches_the_selection(ray_session, tmp_path, tiny):
    """The pool above, where min_distance 1.0 must break: with `selection.greedy_fraction` 1 every
    pick is a free one (the top by acquisition), so none is counted as too close."""
    tiny |= {"rounds": 1, "selection": {"min_distance": 1.0, "greedy_fraction": 1.0}}
    tiny["proposer"] |= {"name": "offspring", "offspring_children": 60, "replay_top": 1000}
    metrics = Campaign.from_config(tiny, run_dir=str(tmp_path / "run"), console=Console(quiet=True)).run()[1]["metrics"]
    assert metrics["selection_too_close"] == 0
