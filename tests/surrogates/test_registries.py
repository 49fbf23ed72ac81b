"""The acquisition and surrogate-member registries: names, `module:Class` plugins, and errors.

The plugins are the fixture files in tests/plugins/, reached by `module:Class` alone.
"""

import ast
import math
from pathlib import Path

import pytest
import torch

from sciloop.surrogates import MorganFeaturizer
from sciloop.surrogates.acquisition import (
    ACQUISITION_NAMES,
    ACQUISITIONS,
    acquisition_entry,
    check_acquisition,
    make_log_reward,
)
from sciloop.surrogates.members import MEMBERS, check_member, make_surrogate, member_inputs
from sciloop.surrogates.settings import AcquisitionConfig, EnsembleConfig

ROOT = Path(__file__).resolve().parents[2]
SMILES = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCOC", "CN(C)C", "c1ccncc1", "CCCl", "OCCO", "CCC(=O)N"]


@pytest.fixture
def plugins(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tests" / "plugins"))


def test_registered_names():
    assert ACQUISITION_NAMES == ("ucb", "logei", "lognei", "pi", "mean", "thompson") == tuple(ACQUISITIONS)
    assert tuple(MEMBERS) == ("mlp", "gnn", "cnn", "gp")
    assert [member_inputs(n) for n in MEMBERS] == ["vectors", "graphs", "tokens", "fingerprints"]


def test_an_unknown_acquisition_lists_the_known_ones():
    for bad in ("ei", "module:", ":Class", ""):
        with pytest.raises(ValueError, match="ucb, logei, lognei, pi, mean, thompson or give 'module:Class'"):
            check_acquisition(bad)
        with pytest.raises(ValueError, match="ucb, logei"):
            AcquisitionConfig(name=bad)
    with pytest.raises(ValueError, match="cannot import"):
        acquisition_entry(AcquisitionConfig(name="no_such_module_xyz:Entry"))


def test_an_unknown_member_lists_the_known_ones():
    for bad in ("rnn", "module:", ""):
        with pytest.raises(ValueError, match="mlp, gnn, cnn, gp or give 'module:Class'"):
            check_member(bad)
    with pytest.raises(ValueError, match="mlp, gnn, cnn, gp"):
        make_surrogate(MorganFeaturizer(), EnsembleConfig(member="rnn"))
    with pytest.raises(ValueError, match="cannot import"):
        make_surrogate(MorganFeaturizer(), EnsembleConfig(member="surrogate_plugin:NoSuchClass"))


def test_an_acquisition_plugin_is_built_from_its_path(plugins):
    import acquisition_plugin

    from test_acquisition_golden import _surrogates  # its fixed ensemble (this folder is on sys.path)

    surrogate = _surrogates()["ensemble"]
    config = AcquisitionConfig(name="acquisition_plugin:OptimisticUCB", temperature=0.5)
    assert type(acquisition_entry(config)).__name__ == "OptimisticUCB"
    before = acquisition_plugin.OptimisticUCB.calls
    log_reward = make_log_reward(surrogate, config, ["0", "1", "2"], [0.0, 1.0, 2.0])
    r = log_reward(["x", "3", "4"])
    assert r[0] == -50.0 and torch.isfinite(r).all() and acquisition_plugin.OptimisticUCB.calls > before
    assert log_reward.acquisition.beta_prime == pytest.approx(math.sqrt(4.0 * math.pi / 2))


def test_a_surrogate_plugin_is_built_from_its_path(plugins):
    config = EnsembleConfig(member="surrogate_plugin:LinearEnsemble", members=3, epochs=5, num_threads=1)
    assert member_inputs(config.member) == "vectors"
    surrogate = make_surrogate(MorganFeaturizer(), config)
    stats = surrogate.fit(SMILES, [float(len(s)) for s in SMILES])
    mean, std = surrogate.predict(["CCCC"])
    assert stats["n_train"] == len(SMILES) and mean.shape == std.shape == (1,)
    restored = make_surrogate(MorganFeaturizer(), config)
    restored.load_state_dict(surrogate.state_dict())
    torch.testing.assert_close(restored.predict(["CCCC"])[0], mean)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


def test_ensemble_and_gp_do_not_import_each_other():
    assert not {"gp", "members"} & _imports(ROOT / "surrogates" / "ensemble.py")
    assert not {"ensemble", "members"} & _imports(ROOT / "surrogates" / "gp.py")


def test_the_settings_import_no_torch():
    import subprocess
    import sys

    code = ("import sys; import sciloop.surrogates.settings, sciloop.surrogates.members, sciloop.pipeline.config; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
