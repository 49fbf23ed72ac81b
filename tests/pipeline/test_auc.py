"""The PMO area-under-curve metric against hand-computed curves and the published code."""

import numpy as np
import pytest

from sciloop.pipeline.auc import calls_to_reach, top_k_auc, top_k_curve, top_k_mean


def pmo_top_auc(buffer, top_n, finish, freq_log, max_oracle_calls):
    """mol_opt's `top_auc` (main/optimizer.py), transcribed: buffer = {smiles: [score, call]}."""
    total, prev, called = 0, 0, 0
    ordered = list(sorted(buffer.items(), key=lambda kv: kv[1][1]))
    for idx in range(freq_log, min(len(buffer), max_oracle_calls), freq_log):
        temp = sorted(ordered[:idx], key=lambda kv: kv[1][0], reverse=True)[:top_n]
        now = np.mean([item[1][0] for item in temp])
        total += freq_log * (now + prev) / 2
        prev, called = now, idx
    temp = sorted(ordered, key=lambda kv: kv[1][0], reverse=True)[:top_n]
    now = np.mean([item[1][0] for item in temp])
    total += (len(buffer) - called) * (now + prev) / 2
    if finish and len(buffer) < max_oracle_calls:
        total += (max_oracle_calls - len(buffer)) * now
    return total / max_oracle_calls


def test_hand_computed_curve():
    # curve (2, 2), (4, 4): trapezoids 2*(0+2)/2 + 2*(2+4)/2 = 8 over 4 calls
    assert top_k_curve([1, 2, 3, 4], k=1, every=2) == [(2, 2.0), (4, 4.0)]
    assert top_k_auc([1, 2, 3, 4], k=1, budget=4, every=2) == pytest.approx(2.0)
    # top-2: (2, mean(3, 1)) and (4, mean(5, 3))
    assert top_k_auc([1, 3, 2, 5], k=2, budget=4, every=2) == pytest.approx(2.0)


def test_early_stop_is_held_at_the_final_value():
    # 8 as above + 4 calls at the final value 4 = 24 over 8
    assert top_k_auc([1, 2, 3, 4], k=1, budget=8, every=2) == pytest.approx(3.0)
    assert top_k_auc([1, 2, 3, 4], k=1, budget=8, every=2, finish=False) == pytest.approx(1.0)


def test_last_partial_segment_and_calls_past_the_budget():
    # marks 2, 4, 5: 0 + 2*(0+1)/2 + 1*(1+1)/2 = 2 over 5
    assert top_k_auc([0, 0, 1, 1, 1], k=1, budget=5, every=2) == pytest.approx(0.4)
    assert top_k_auc([0, 0, 1, 1, 1, 9, 9], k=1, budget=5, every=2) == pytest.approx(0.4)


def test_fewer_than_k_values_average_what_there_is():
    assert top_k_mean([0.2, 0.4], k=10) == pytest.approx(0.3)
    assert top_k_mean([], k=10) == 0.0  # PMO: no value counts as 0; round metrics ask for nan
    assert top_k_mean([], k=10, empty=float("nan")) != top_k_mean([], k=10, empty=float("nan"))


@pytest.mark.parametrize("n,k,budget", [(1000, 10, 1000), (737, 10, 1000), (1000, 1, 1000),
                                        (350, 100, 1000), (999, 10, 1000)])
def test_matches_the_published_code(n, k, budget):
    rng = np.random.default_rng(n + k)
    values = rng.random(n).tolist()
    buffer = {f"m{i}": [v, i + 1] for i, v in enumerate(values)}
    assert top_k_auc(values, k, budget) == pytest.approx(pmo_top_auc(buffer, k, True, 100, budget))


def test_calls_to_reach():
    assert calls_to_reach([0.1, 0.5, 0.9], k=2, target=0.7) == 3
    assert calls_to_reach([0.1, 0.5, 0.9], k=2, target=0.71) is None
    assert calls_to_reach([0.9], k=2, target=0.1) is None  # needs k values


def test_bad_budget():
    with pytest.raises(ValueError, match="budget"):
        top_k_auc([1.0], k=1, budget=0)


def test_circles_counts_diverse_hits_best_first():
    from sciloop.pipeline.auc import circles

    benzene_like = ["c1ccccc1O", "c1ccccc1N", "Oc1ccccc1C"]  # close to each other
    other = "CCCCCCCCCCCCCCCC(=O)O"
    assert circles(benzene_like + [other], [0.9, 0.8, 0.7, 0.6], threshold=0.5) == 2
    assert circles(benzene_like + [other], [0.9, 0.8, 0.7, 0.6], threshold=0.65) == 1  # the acid is no hit
    assert circles(["c1ccccc1O", "not smiles"], [0.9, 1.0], threshold=0.5) == 1  # invalid: skipped
    assert circles(["CCO"], [0.1], threshold=0.5) == 0
    # distance 0 keeps every hit but one identical copy still counts as a separate design
    assert circles(benzene_like, [0.9, 0.9, 0.9], threshold=0.5, distance=0.0) == 3
