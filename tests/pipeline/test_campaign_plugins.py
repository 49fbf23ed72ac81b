"""A new acquisition, surrogate member, proposer or domain is one file each, reached from a campaign
config by `module:Class` alone (tests/plugins/acquisition_plugin.py, surrogate_plugin.py,
proposer_plugin.py, domain_plugin.py)."""

from pathlib import Path

import torch
from rich.console import Console

from sciloop.pipeline.campaign import Campaign

PLUGINS = Path(__file__).parent.parent / "plugins"


def _run(tiny: dict, tmp_path: Path, section: str, key: str, target: str) -> Campaign:
    tiny["rounds"] = 1
    tiny["proposer"] |= {"num_actors": 0}
    tiny.setdefault(section, {})[key] = target
    campaign = Campaign.from_config(tiny, run_dir=str(tmp_path / "run"), console=Console(quiet=True))
    rounds = campaign.run()
    assert [r["stage"] for r in rounds] == ["done", "done"]
    assert len(campaign.ledger.designs(1)) == 8  # a batch selected on the plugin's values
    return campaign


def test_an_acquisition_plugin_is_one_file(ray_session, tmp_path, tiny, monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    import acquisition_plugin

    before = acquisition_plugin.OptimisticUCB.calls
    campaign = _run(tiny, tmp_path, "acquisition", "name", "acquisition_plugin:OptimisticUCB")
    assert acquisition_plugin.OptimisticUCB.calls - before >= tiny["proposer"]["steps"]  # the reward it owns
    assert all(row.acquisition is not None for row in campaign.ledger.designs(1))


def test_a_surrogate_plugin_is_one_file(ray_session, tmp_path, tiny, monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    import surrogate_plugin

    before = surrogate_plugin.LinearEnsemble.fits
    campaign = _run(tiny, tmp_path, "surrogate", "member", "surrogate_plugin:LinearEnsemble")
    assert surrogate_plugin.LinearEnsemble.fits - before == 1  # one round, one fit
    state = torch.load(campaign.run_dir / "checkpoints" / "surrogate-round-001.pt", weights_only=False)
    assert state["config"]["member"] == "surrogate_plugin:LinearEnsemble" and set(state["net"]) == {"weight", "bias"}


def test_a_proposer_plugin_is_one_file(ray_session, tmp_path, tiny, monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    import proposer_plugin

    before = proposer_plugin.RewardScreen.trains
    tiny["proposer"]["replay_top"] = 1000  # every label reaches the plugin as `offline`
    campaign = _run(tiny, tmp_path, "proposer", "name", "proposer_plugin:RewardScreen")
    assert proposer_plugin.RewardScreen.trains - before == 1
    rows = campaign.ledger.designs(1)
    assert {row.source for row in rows} == {"proposer_plugin:RewardScreen"}
    assert {row.key for row in rows} <= {campaign.domain.canonical(d) for d in campaign.library}  # screened from it


def test_a_domain_plugin_is_one_file(ray_session, tmp_path, tiny, monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    tiny |= {"domain": {"name": "domain_plugin:Necklaces", "beads": "RGB", "length": 6}}
    tiny["initial"] |= {"library_size": 100, "size": 12}
    tiny["oracle"] |= {"target": "domain_plugin:score"}
    del tiny["proposer"]["max_len"]  # the molecule's setting
    campaign = _run(tiny, tmp_path, "proposer", "name", "gflownet")
    domain = campaign.domain
    labels = campaign.ledger.labels()
    assert len(labels) == 12 + 8 and not campaign.ledger.failures()
    for label in labels:  # keyed up to rotation, scored by the plugin's oracle
        assert label.key == domain.canonical(label.key) and len(label.key) == 6
        assert label.value == sum(label.key[i] != label.key[i - 1] for i in range(6)) / 6
    assert domain.canonical("GRBRGB") == domain.canonical("RGBGRB") == "BGRBRG"
