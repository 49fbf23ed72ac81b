"""Synthetic oracles: the hypergrid reward (checked against the proposers' own), toy functions."""

import itertools
import math

import pytest
import torch
from sciloop.oracles.registry import available_oracles, load_oracle
from sciloop.oracles.synthetic import Hypergrid, TokenCount, TwoTokenFractions
from sciloop.proposers.hypergrid import HypergridReward


@pytest.mark.parametrize("ndim,height", [(2, 8), (3, 5), (4, 8)])
def test_hypergrid_equals_the_environment_reward_everywhere(ndim, height):
    grid = Hypergrid(ndim=ndim, height=height)
    points = list(itertools.product(range(height), repeat=ndim))
    ours = [r.value for r in grid.score([",".join(map(str, p)) for p in points])]
    theirs = HypergridReward(height).__call__(torch.tensor(points)).double().exp().tolist()
    assert ours == pytest.approx(theirs, rel=1e-6)


def test_hypergrid_known_values_and_invalid_designs():
    grid = Hypergrid()  # 2-D, height 8, R0=0.1, R1=0.5, R2=2.0
    res = grid.score(["0,0", "1,1", "3,4", "6,1", "8,0", "1", "1,2,3", "a,b", "-1,0", ""])
    assert [r.value for r in res[:4]] == pytest.approx([0.6, 2.6, 0.1, 2.6])
    assert [r.reason for r in res[4:]] == ["invalid design"] * 6
    assert Hypergrid(r0=0.001).score(["3,3"])[0].value == pytest.approx(0.001)
    with pytest.raises(ValueError):
        Hypergrid(height=1)


def test_token_count_and_two_objective_toy():
    assert [r.value for r in TokenCount(token="G").score(["GGA", "AAA"])] == [2.0, 0.0]
    assert TokenCount(normalize=True).score(["AAC"])[0].value == pytest.approx(2 / 3)
    assert TokenCount().score([""])[0].reason == "invalid design"
    res = TwoTokenFractions().score(["AACC", "AAAA", "GGGG", ""])
    assert [r.value for r in res[:3]] == [(0.5, 0.5), (1.0, 0.0), (0.0, 0.0)]
    assert res[0].values == (0.5, 0.5) and res[0].num_objectives == 2
    assert res[3].reason == "invalid design" and res[3].values is None


def test_registered_as_builtins_with_kwargs():
    infos = {o.name: o for o in available_oracles()}
    for name in ("hypergrid", "token_count", "two_token_fractions", "ehrlich"):
        assert infos[name].source == "built-in"
    grid = load_oracle("hypergrid", ndim=3, height=4)
    assert isinstance(grid, Hypergrid) and grid.score(["0,0,0"])[0].value == pytest.approx(0.6)
    assert load_oracle("token_count", token="C").score(["CCN"])[0].value == 2.0
    two = load_oracle("two_token_fractions", first="G", second="T")
    assert two.score(["GT"])[0].value == (0.5, 0.5) and two.num_objectives == 2
    assert math.isclose(load_oracle("hypergrid").score(["1,1"])[0].value, 2.6)
