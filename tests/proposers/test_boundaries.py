"""Import rules of proposers/: no oracles/surrogates/pipeline; Ray only where work is placed on
workers (the sampler pool and the data-parallel learner)."""

import ast
import pathlib

import sciloop.proposers

PACKAGE = pathlib.Path(sciloop.proposers.__file__).parent
FORBIDDEN = ("sciloop.oracles", "sciloop.surrogates", "sciloop.pipeline")
RAY_MODULES = {"actors.py", "data_parallel.py"}


def imported_modules(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_import_rules():
    files = sorted(PACKAGE.glob("*.py"))
    assert {"actors.py", "gflownet.py", "policy.py", "selfies_env.py"} <= {f.name for f in files}
    for path in files:
        modules = imported_modules(path)
        assert not [m for m in modules if m.startswith(FORBIDDEN)], path.name
        uses_ray = any(m == "ray" or m.startswith("ray.") for m in modules)
        assert uses_ray == (path.name in RAY_MODULES), path.name
