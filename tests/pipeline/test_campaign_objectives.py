"""Every GFlowNet objective of the core is a campaign choice in YAML (`proposer.objective`),
and a new one is one file reached by `module:Class` (tests/plugins/gfn_objective.py)."""

from pathlib import Path

import pytest
from rich.console import Console

from sciloop.pipeline.campaign import Campaign
from sciloop.pipeline.config import ConfigError, load_config
from sciloop.proposers.objective import OBJECTIVES

PLUGINS = Path(__file__).parent.parent / "plugins"
EXPECTED = {"tb": "TrajectoryBalance", "db": "DetailedBalance", "subtb": "SubTrajectoryBalance",
            "soft_dqn": "SoftDQN", "mdqn": "SoftDQN"}


def _run(tiny: dict, tmp_path: Path, objective: str) -> Campaign:
    tiny["rounds"] = 1
    tiny["proposer"] |= {"objective": objective, "num_actors": 0}
    campaign = Campaign.from_config(tiny, run_dir=str(tmp_path / "run"), console=Console(quiet=True))
    rounds = campaign.run()
    assert [r["stage"] for r in rounds] == ["done", "done"]
    assert len(campaign.ledger.designs(1)) == 8  # a batch proposed by the trained GFlowNet
    return campaign


@pytest.mark.parametrize("objective", sorted(EXPECTED))
def test_each_core_objective_runs_a_campaign(ray_session, tmp_path, tiny, objective):
    assert set(EXPECTED) == set(OBJECTIVES)  # a new registered objective needs a case here
    campaign = _run(tiny, tmp_path, objective)
    trained = campaign.proposal.proposer.trainer.objective
    assert type(trained).__name__ == EXPECTED[objective]
    if objective == "mdqn":
        assert trained.alpha > 0  # Munchausen, unlike plain soft_dqn
    metrics = campaign.ledger.rounds()[1]["metrics"]
    assert metrics["proposer_steps"] == tiny["proposer"]["steps"]


def test_an_objective_plugin_is_one_file(ray_session, tmp_path, tiny, monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    import gfn_objective

    before = gfn_objective.HalfTemperedTB.calls
    campaign = _run(tiny, tmp_path, "gfn_objective:HalfTemperedTB")
    assert type(campaign.proposal.proposer.trainer.objective).__name__ == "HalfTemperedTB"
    assert gfn_objective.HalfTemperedTB.calls - before == tiny["proposer"]["steps"]


def test_an_unknown_objective_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"proposer.objective.*tb, db, subtb, soft_dqn, mdqn"):
        load_config({"proposer": {"objective": "tbb"}})
