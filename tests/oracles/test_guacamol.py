"""GuacaMol objectives: known fixed points (values against pytdc: test_pmo_reference.py)."""

import pickle

import pytest

from sciloop.oracles.guacamol import clipped, gaussian, parse_formula
from sciloop.oracles.molecular import builtin_oracles


def test_modifiers_and_formula():
    assert gaussian(3, 3, 1) == 1.0 and gaussian(4, 3, 1) == pytest.approx(0.6065306597)
    assert clipped(0.5, 0.75) == pytest.approx(2 / 3) and clipped(0.9, 0.75) == 1.0
    assert parse_formula("C9H10N2O2PF2Cl") == [("C", 9), ("H", 10), ("N", 2), ("O", 2), ("P", 1), ("F", 2), ("Cl", 1)]
    with pytest.raises(ValueError):
        parse_formula("c7h8")


def test_isomer_scores_one_for_the_formula():
    oracle = builtin_oracles()["isomers_c7h8n2o2"]()
    nitroaniline_methyl = "Cc1ccc(N)c([N+](=O)[O-])c1"  # C7H8N2O2
    res = oracle.score([nitroaniline_methyl, "CCO", "oops"])
    assert res[0].value == pytest.approx(1.0) and 0 < res[1].value < 0.1
    assert res[2].reason == "invalid design"


def test_similarity_targets_score_one_and_pickle():
    table = builtin_oracles()
    albuterol = table["albuterol_similarity"]()
    assert albuterol.score([albuterol.target])[0].value == 1.0
    assert albuterol.score(["CCO"])[0].value < 0.5
    mestranol = pickle.loads(pickle.dumps(table["mestranol_similarity"]()))
    assert mestranol.score([mestranol.target])[0].value == 1.0


def test_sa_score_easy_and_hard():
    sa = builtin_oracles()["sa"]()
    steroid = "C[C@H]1C[C@@]2(O)[C@@H]3C[C@H](C)[C@]4(C)CC[C@@H](O)C[C@@H]4[C@H]3CC[C@]2(C)[C@@H]1O"
    easy, hard = sa.score(["c1ccccc1O", steroid])
    assert 1 <= easy.value < 2.5 < hard.value <= 10


def test_every_pmo_objective_without_a_model_is_built_in():
    pmo_without_models = {
        "albuterol_similarity", "amlodipine_mpo", "celecoxib_rediscovery", "deco_hop", "fexofenadine_mpo",
        "isomers_c7h8n2o2", "isomers_c9h10n2o2pf2cl", "median1", "median2", "mestranol_similarity",
        "osimertinib_mpo", "perindopril_mpo", "qed", "ranolazine_mpo", "scaffold_hop", "sitagliptin_mpo",
        "thiothixene_rediscovery", "troglitazone_rediscovery", "valsartan_smarts", "zaleplon_mpo"}
    assert pmo_without_models <= set(builtin_oracles())


def test_pmo_objective_pickles_and_scores_on_ray(ray_session):
    from sciloop.oracles.runner import OracleRunner

    oracle = builtin_oracles()["deco_hop"]()
    oracle.score(["CCO"])  # builds the unpicklable terms
    oracle.num_cpus = 0.5
    results = {}
    OracleRunner(oracle).run(["CCO", "c1ccccc1", "nope"], lambda c: None, lambda d, r, n: results.setdefault(d, r))
    assert results["CCO"].ok and results["nope"].reason == "invalid design"
