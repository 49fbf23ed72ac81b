"""A sequence campaign end to end: `domain: {name: sequence, ...}`, an Ehrlich oracle, the MLP on
one-hot rows or the CNN on token ids, and a GFlowNet over tokens (in-process sampling)."""

import sys
from pathlib import Path

import pytest
from rich.console import Console

from sciloop.pipeline.campaign import Campaign
from sciloop.pipeline.config import load_config

ROOT = Path(__file__).resolve().parents[2]
ALPHABET = "ACDE"
#: 4 states, length 8, 2 motifs of length 4: not solved by the initial screen of 16 (best 0.56)
EHRLICH = {"num_states": 4, "length": 8, "num_motifs": 2, "motif_length": 4, "seed": 0}


@pytest.mark.parametrize("member", ["mlp", "cnn"])
def test_a_sequence_campaign_runs(ray_session, tmp_path, tiny, member, monkeypatch):
    for module in ("rdkit", "selfies"):  # the round machine needs neither: importing one fails here
        monkeypatch.setitem(sys.modules, module, None)
    tiny |= {"domain": {"name": "sequence", "alphabet": ALPHABET, "length": 8}}
    tiny["initial"]["library_size"] = 200
    tiny["oracle"] = {"target": "ehrlich", "kwargs": EHRLICH, "batch_size": 8, "num_cpus": 0.5}
    tiny["surrogate"] |= {"member": member, "hidden": 16, "epochs": 10}
    tiny["proposer"] |= {"num_actors": 0, "pretrain_steps": 2}
    del tiny["proposer"]["max_len"]  # the molecule's setting: a sequence has its own length
    campaign = Campaign.from_config(tiny, run_dir=str(tmp_path / "run"), console=Console(quiet=True))
    rounds = campaign.run()
    assert [r["stage"] for r in rounds] == ["done", "done", "done"]
    ledger = campaign.ledger
    labels = ledger.labels()
    assert len(labels) == 16 + 2 * 8 and not ledger.failures()
    assert all(0.0 <= l.value <= 1.0 for l in labels)
    for round_ in (1, 2):
        batch = [r.design for r in ledger.designs(round_)]
        assert len(batch) == 8 and all(len(d) == 8 and set(d) <= set(ALPHABET) for d in batch)
        metrics = rounds[round_]["metrics"]
        for key in ("best", "top10_mean", "diversity_top10", "novelty_top10", "modes_above_initial_best",
                    "proposer_unique_valid", "spearman_batch"):
            assert key in metrics, key
        assert 0.0 <= metrics["diversity_top10"] <= 1.0
    assert {r.source for r in ledger.designs(0)} == {"random"}
    assert {r.source for r in ledger.designs(1)} == {"gflownet"}
    assert list((tmp_path / "run").rglob("top/round-002.png"))  # the domain's picture, logged to MLflow


def test_a_sequence_offspring_campaign_breeds_from_its_labels(ray_session, tmp_path, tiny, monkeypatch):
    for module in ("rdkit", "selfies"):
        monkeypatch.setitem(sys.modules, module, None)
    tiny |= {"domain": {"name": "sequence", "alphabet": ALPHABET, "length": 8}}
    tiny["initial"]["library_size"] = 200
    tiny["oracle"] = {"target": "ehrlich", "kwargs": EHRLICH, "batch_size": 8, "num_cpus": 0.5}
    tiny["surrogate"] |= {"member": "cnn", "hidden": 16, "epochs": 10}
    tiny["proposer"] = {"name": "sequence_offspring", "offspring_children": 200, "replay_top": 1000,
                        "num_actors": 0, "pool_factor": 3}
    campaign = Campaign.from_config(tiny, run_dir=str(tmp_path / "run"), console=Console(quiet=True))
    rounds = campaign.run()
    assert [r["stage"] for r in rounds] == ["done", "done", "done"]
    ledger = campaign.ledger
    assert len(ledger.labels()) == 16 + 2 * 8 and not ledger.failures()
    for round_ in (1, 2):
        batch = [r.design for r in ledger.designs(round_)]
        assert len(batch) == 8 and all(len(d) == 8 and set(d) <= set(ALPHABET) for d in batch)
        assert {r.source for r in ledger.designs(round_)} == {"sequence_offspring"}
    earlier = {r.design for round_ in (0, 1) for r in ledger.designs(round_)}
    assert not earlier & {r.design for r in ledger.designs(2)}  # no labelled design proposed again


@pytest.mark.parametrize("proposer", [
    {"name": "sequence_offspring", "offspring_children": 50},
    {"name": "screening"},  # it offers the library again, all of it labelled
])
def test_an_exhausted_space_stops_with_one_error_line_and_keeps_the_labels(ray_session, tmp_path, tiny, capsys,
                                                                           proposer):
    import yaml

    from sciloop.pipeline.cli import main

    tiny |= {"domain": {"name": "sequence", "alphabet": "AC", "length": 2},  # 4 sequences in all
             "run_dir": str(tmp_path / "run"), "oracle": {"target": "token_count", "num_cpus": 0.5}}
    tiny["initial"] |= {"size": 4, "library_size": 100}  # the screen labels all four
    tiny["proposer"] = proposer | {"num_actors": 0, "pool_factor": 3}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(tiny))
    assert main(["run", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: round 1: the proposer produced no new valid design")
    assert "already labelled" in err and "proposer.pool_factor, now 3" in err and "sciloop best" in err
    from sciloop.pipeline.ledger import Ledger

    assert len(Ledger.of_run_dir(tmp_path / "run").labels()) == 4


def test_the_shipped_ehrlich_config_is_a_sequence_campaign():
    config = load_config(ROOT / "configs" / "ehrlich.yaml")
    assert config.domain.name == "sequence" and config.oracle.target == "ehrlich"
    assert config.oracle.kwargs["length"] == config.domain.length  # type: ignore[attr-defined]
