"""Property-based: arbitrary strings never crash a domain, an oracle or the label import."""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sciloop.oracles.registry import load_oracle
from sciloop.pipeline.domain import MoleculeDomain

SMILES_ALPHABET = string.ascii_letters + string.digits + "()[]=#@+-/\\%.:*$ "
garbage = st.one_of(st.text(max_size=60), st.text(alphabet=SMILES_ALPHABET, max_size=60))


@given(garbage)
@settings(max_examples=300, deadline=None)
def test_domain_canonical_never_raises(design):
    key = MoleculeDomain().canonical(design)
    assert key is None or (isinstance(key, str) and key and MoleculeDomain().canonical(key) == key)


@given(st.lists(garbage, min_size=1, max_size=8))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_builtin_oracles_give_one_result_per_design(batch):
    for name in ("celecoxib_rediscovery", "qed", "isomers_c7h8n2o2", "sitagliptin_mpo"):
        results = load_oracle(name).score(batch)
        assert len(results) == len(batch)
        for design, result in zip(batch, results):
            if MoleculeDomain().canonical(design) is None:
                assert not result.ok and result.reason
            else:
                assert result.ok or result.reason
