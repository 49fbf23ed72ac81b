import sys

import pytest

from sciloop.oracles.base import FunctionOracle
from sciloop.pipeline.config import ConfigError, OracleConfig
from sciloop.pipeline.plugins import import_target, module_path, resolve_oracle


def test_builtin_and_unknown_names():
    oracle, module = resolve_oracle(OracleConfig(target="qed", num_cpus=0.25))
    assert oracle.name == "qed" and oracle.num_cpus == 0.25 and module is None
    with pytest.raises(ConfigError, match="no oracle named 'qedd'"):
        resolve_oracle(OracleConfig(target="qedd"))


def test_function_from_working_directory_is_shipped(tmp_path, monkeypatch):
    (tmp_path / "lab_oracle_fn.py").write_text("def score(xs):\n    return [1.0] * len(xs)\n")
    monkeypatch.chdir(tmp_path)
    oracle, module = resolve_oracle(OracleConfig(target="lab_oracle_fn:score", batch_size=4))
    assert isinstance(oracle, FunctionOracle) and oracle.batch_size == 4
    assert module_path(module) == str(tmp_path / "lab_oracle_fn.py")
    assert resolve_oracle(OracleConfig(target="json:dumps"))[1] is None  # installed: not shipped


def test_import_errors_name_the_target(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="cannot import 'nope_module'"):
        resolve_oracle(OracleConfig(target="nope_module:score"))
    (tmp_path / "lab_oracle_attr.py").write_text("x = 1\n")
    with pytest.raises(ConfigError, match="has no 'score'"):
        resolve_oracle(OracleConfig(target="lab_oracle_attr:score"))


def test_working_directory_is_searched_only_for_the_oracle_import(tmp_path, monkeypatch):
    """A module planted in the working directory must not shadow a library imported later."""
    (tmp_path / "lab_oracle_cwd.py").write_text("def score(xs):\n    return [1.0] * len(xs)\n")
    (tmp_path / "colorsys.py").write_text("raise RuntimeError('planted module imported')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    score = import_target("lab_oracle_cwd:score")
    assert str(tmp_path) not in sys.path
    import colorsys  # the standard library's, not the planted one

    assert colorsys.__file__ != str(tmp_path / "colorsys.py")
    assert import_target("lab_oracle_cwd:score") is score  # still importable (sys.modules)


def test_default_timeout_for_synchronous_oracles_only(tmp_path, monkeypatch):
    (tmp_path / "lab_oracle_cls.py").write_text(
        "class Dock:\n    def score(self, xs):\n        return [1.0] * len(xs)\n")
    monkeypatch.chdir(tmp_path)
    oracle, _ = resolve_oracle(OracleConfig(target="lab_oracle_cls:Dock"))
    assert oracle.timeout_s == 3600.0
    assert resolve_oracle(OracleConfig(target="lab_oracle_cls:Dock", timeout_s=5))[0].timeout_s == 5
    lab, _ = resolve_oracle(OracleConfig(target="lab"))  # asynchronous: a lab takes weeks
    assert lab.timeout_s is None
