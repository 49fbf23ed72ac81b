"""Ehrlich functions: the reference library's values, the optimum, feasibility, quantization."""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from sciloop.oracles.ehrlich import Ehrlich, default_alphabet
from sciloop.oracles.registry import available_oracles, load_oracle
from sciloop.oracles.runner import OracleRunner

DATA = Path(__file__).with_name("data") / "ehrlich_reference_values.json"
CASES = json.loads(DATA.read_text())["cases"]


def _build(case) -> Ehrlich:
    return Ehrlich(num_states=case["num_states"], length=case["length"], num_motifs=case["num_motifs"],
                   motif_length=case["motif_length"], quantization=case["quantization"],
                   epistasis_factor=case["epistasis_factor"], seed=case["seed"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"v{c['num_states']}-L{c['length']}-c{c['num_motifs']}"
                         f"-k{c['motif_length']}-q{c['quantization']}-s{c['seed']}")
def test_matches_reference_library(case):
    """Same seed, same instance; same values (the library's -inf for infeasible is our 0)."""
    f = _build(case)
    assert [list(m) for m in f.motifs] == case["motifs"]
    assert [list(np.diff(o)) for o in f.offsets] == case["spacings"]
    assert np.argwhere(f.transition_matrix == 0).tolist() == case["infeasible"]
    designs = [f.decode(x) for x in case["designs"]]
    got = [r.value for r in f.score(designs)]
    want = [0.0 if v is None else v for v in case["values"]]
    assert got == pytest.approx(want, abs=1e-6)  # the library computes in float32
    assert [f.is_feasible(d) for d in designs] == [v is not None for v in case["values"]]
    assert len(set(want)) >= 3  # the stored sequences exercise more than 0 and 1


def test_optimal_solution_scores_one_and_is_feasible():
    for seed in range(5):
        f = Ehrlich(num_states=20, length=48, num_motifs=3, motif_length=4, quantization=2, seed=seed)
        best = f.optimal_solution()
        assert len(best) == 48 and f.is_feasible(best)
        assert f.score([best])[0].value == 1.0


def test_infeasible_sequences_score_zero():
    f = Ehrlich(num_states=20, length=32, num_motifs=2, motif_length=4, seed=0)
    best = list(f.optimal_solution())
    bad_from, bad_to = map(int, np.argwhere(f.transition_matrix == 0)[0])
    best[10], best[11] = f.alphabet[bad_from], f.alphabet[bad_to]
    broken = "".join(best)
    assert not f.is_feasible(broken)
    assert f.score([broken])[0].value == 0.0
    # most uniformly random sequences break some transition
    rng = np.random.default_rng(0)
    randoms = [f.decode(rng.integers(20, size=32)) for _ in range(50)]
    infeasible = [d for d in randoms if not f.is_feasible(d)]
    assert len(infeasible) > 25 and all(r.value == 0.0 for r in f.score(infeasible))


def test_values_are_quantized_products():
    f = Ehrlich(num_states=20, length=40, num_motifs=2, motif_length=6, quantization=3, seed=4)
    values = {r.value for r in f.score(f.sample_feasible(400, seed=1))}
    allowed = [a * b for a in (0, 1 / 3, 2 / 3, 1) for b in (0, 1 / 3, 2 / 3, 1)]
    assert all(any(abs(v - a) < 1e-12 for a in allowed) for v in values), values
    assert len(values) >= 3
    # one motif element wrong: 5 of 6 hits, quantized to 3 levels, is 2/3 (not 5/6)
    X = np.array([[f.alphabet.index(t) for t in f.optimal_solution()]])
    X[0, f.offsets[0][2]] = (f.motifs[0][2] + 1) % 20
    assert f.motif_scores(X).tolist() == [[pytest.approx(2 / 3), 1.0]]
    feasible = bool((f.transition_matrix[X[0, :-1], X[0, 1:]] > 0).all())
    assert f.values(X)[0] == pytest.approx(2 / 3 if feasible else 0.0)


def test_malformed_designs_fail_and_arguments_are_checked():
    f = Ehrlich(num_states=4, length=8, num_motifs=1, motif_length=4, seed=0)
    assert f.alphabet == "ACDE" == default_alphabet(4)
    res = f.score(["ACDEACD", "ACDEACDX", 7, "ACDEACDE"])
    assert [r.reason for r in res[:3]] == ["invalid design"] * 3 and res[3].ok
    with pytest.raises(ValueError, match="do not fit"):
        Ehrlich(length=7, num_motifs=2, motif_length=4)
    with pytest.raises(ValueError, match="must divide"):
        Ehrlich(motif_length=4, quantization=3)
    g = Ehrlich(alphabet="ab", length=6, num_motifs=1, motif_length=2, seed=1)
    assert set(g.optimal_solution()) <= {"a", "b"} and g.score([g.optimal_solution()])[0].value == 1.0


def test_seed_fixes_the_instance_and_it_pickles():
    a, b, c = Ehrlich(seed=3), Ehrlich(seed=3), Ehrlich(seed=4)
    assert a.motifs == b.motifs and a.offsets == b.offsets
    assert (a.motifs, a.offsets) != (c.motifs, c.offsets)
    clone = pickle.loads(pickle.dumps(a))
    designs = a.sample_feasible(20)
    assert [r.value for r in clone.score(designs)] == [r.value for r in a.score(designs)]


def test_registry_and_runner(ray_session):
    assert "ehrlich" in {o.name for o in available_oracles()}
    f = load_oracle("ehrlich", num_states=20, length=32, num_motifs=2, motif_length=4, seed=0)
    assert isinstance(f, Ehrlich) and f.name == "ehrlich"
    designs = [f.optimal_solution(), *f.sample_feasible(9, seed=2), "TOO-SHORT"]
    results = {}
    failures = OracleRunner(f).run(designs, lambda c: None, lambda d, r, n: results.__setitem__(d, r))
    assert failures == 1 and results["TOO-SHORT"].reason == "invalid design"
    assert results[designs[0]].value == 1.0
    assert [results[d].value for d in designs[1:-1]] == [r.value for r in f.score(designs[1:-1])]
