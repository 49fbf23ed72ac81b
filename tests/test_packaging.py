"""The built wheel carries every sub-package under its `sciloop.` name."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["pipeline", "proposers", "oracles", "surrogates"]

IMPORT_CHECK = """
import importlib, sys
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path_hooks = [h for h in sys.path_hooks if "editable" not in repr(h).lower()]
root = sys.argv[1]
sys.path.insert(0, root)
for name in sys.argv[2:]:
    module = importlib.import_module("sciloop." + name)
    assert module.__file__.startswith(root), (name, module.__file__)
    print(name, module.__file__)
"""


def test_wheel_imports_every_subpackage(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(ROOT)], check=True)
    (wheel,) = (tmp_path / "dist").glob("sciloop-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for pkg in PACKAGES:
        assert f"sciloop/{pkg}/__init__.py" in names
    assert not any(n.startswith(("pipeline/", "oracles/", "tests/")) for n in names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    out = subprocess.run([sys.executable, "-c", IMPORT_CHECK, str(site), *PACKAGES],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == len(PACKAGES)
    # the benchmark's tables of published values and #Circles thresholds are package data: they
    # load from the installed files, run from a folder that is not a checkout
    data = subprocess.run([sys.executable, "-c", IMPORT_CHECK + BENCH_DATA_CHECK, str(site), "pipeline.bench"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert data.returncode == 0, data.stderr
    assert data.stdout.splitlines()[-1] == "published 24 objectives, thresholds 24"


BENCH_DATA_CHECK = """
bench = module
assert bench.DATA.is_relative_to(root), bench.DATA
print(f"published {len(bench.published())} objectives, thresholds {len(bench.circles_thresholds())}")
"""
