"""Built-in PMO objectives against the reference library's stored values.

The values (tests/oracles/data/) were computed by pytdc 1.1.15 in a separate venv with
benchmarks/pmo_reference.py.
"""

import json
from pathlib import Path

import pytest

from sciloop.oracles.molecular import builtin_oracles

REFERENCE = Path(__file__).parent / "data" / "pmo_reference_values.json"
VALUES = json.loads(REFERENCE.read_text())["values"]


def test_every_offline_pmo_objective_has_reference_values():
    assert len(VALUES) >= 20


@pytest.mark.parametrize("name", sorted(VALUES))
def test_matches_reference_within_1e_3(name):
    reference = VALUES[name]
    assert len(reference) >= 50
    designs = sorted(reference)
    ours = builtin_oracles()[name]().score(designs)
    off = {d: (r.value, reference[d]) for d, r in zip(designs, ours)
           if r.value is None or abs(r.value - reference[d]) > 1e-3}
    assert not off, f"{name}: {len(off)} of {len(designs)} differ, e.g. {list(off.items())[:3]}"
