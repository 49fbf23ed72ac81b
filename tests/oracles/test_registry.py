"""Built-ins and entry-point plug-ins, found through importlib.metadata."""

import sys

import pytest

from sciloop.oracles.base import FunctionOracle
from sciloop.oracles.registry import as_oracle, available_oracles, load_oracle


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """A fake installed distribution offering two oracles through `sciloop.oracles`."""
    (tmp_path / "fake_plug.py").write_text(
        "def heavy(xs):\n    return [float(len(x)) for x in xs]\n\n"
        "class Docking:\n    '''Docks with a fake engine.'''\n    name = 'docking'\n"
        "    num_cpus = 1.0\n    num_gpus = 0.0\n    timeout_s = None\n    batch_size = 4\n"
        "    idempotent = True\n    def __init__(self, box=10):\n        self.box = box\n"
        "    def score(self, xs):\n        return [float(self.box)] * len(xs)\n")
    info = tmp_path / "fake_plug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[sciloop.oracles]\nheavy_atoms = fake_plug:heavy\ndocking = fake_plug:Docking\nqed = fake_plug:heavy\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("fake_plug", None)


def test_lists_builtins_and_plugins(plugin_dist):
    infos = {o.name: o for o in available_oracles()}
    assert infos["qed"].source == "built-in"  # a plug-in cannot shadow a built-in
    assert infos["heavy_atoms"].source == "plug-in (fake-plug)"
    assert infos["docking"].target == "fake_plug:Docking"


def test_loads_functions_and_classes(plugin_dist):
    fn = load_oracle("heavy_atoms")
    assert isinstance(fn, FunctionOracle) and fn.name == "heavy_atoms"
    assert fn.score(["CCO"])[0].value == 3.0
    docking = load_oracle("docking", box=7)
    assert docking.score(["C"]) == [7.0] and docking.batch_size == 4  # raw values: the runner wraps them
    assert load_oracle("qed").name == "qed"
    with pytest.raises(KeyError, match="no oracle named 'nope'"):
        load_oracle("nope")


def test_as_oracle_rejects_non_oracles():
    with pytest.raises(TypeError, match="neither an oracle"):
        as_oracle(42, "x")


def test_both_definitions_of_the_changed_pmo_objectives_are_listed():
    infos = {o.name: o for o in available_oracles()}
    for name in ("zaleplon_mpo", "sitagliptin_mpo", "isomers_c7h8n2o2", "isomers_c9h10n2o2pf2cl"):
        assert infos[name].source == infos[f"{name}_prev"].source == "built-in"
    assert load_oracle("isomers_c7h8n2o2_prev").name == "isomers_c7h8n2o2_prev"


def test_every_builtin_has_its_own_description():
    """`sciloop oracles` tells the objectives apart (11 once shared one line)."""
    from sciloop.oracles.registry import available_oracles

    built = [o for o in available_oracles() if o.source == "built-in"]
    summaries = [o.summary for o in built]
    assert all(summaries) and len(set(summaries)) == len(summaries), summaries
    by_name = {o.name: o.summary for o in built}
    assert "leaderboard" in by_name["zaleplon_mpo_prev"] and "0.3.7" in by_name["zaleplon_mpo"]
