"""Mol GA as a PMO peer: the budget wrapper's accounting, and a real run at a tiny budget."""

import pytest
from rdkit import Chem

from sciloop.pipeline import bench
from sciloop.pipeline.domain import load_library


def test_wrapper_pays_new_valid_designs_only_and_stops_the_ga_at_the_budget(monkeypatch):
    pytest.importorskip("mol_ga")
    import mol_ga

    seen = {"batches": 0, "after_budget": 0, "returned": []}

    def fake_default_ga(starting_population_smiles, scoring_function, **settings):
        assert settings["offspring_size"] == 5 and settings["population_size"] == 500
        assert settings["parallel"] is None
        batches = [list(starting_population_smiles),
                   ["OCC", "CCO", "not a smiles", "c1ccccc1"],  # "OCC" repeats "CCO": free
                   ["CCN", "CCCN", "CCCCN", "CCCCCN", "CCCCCCN"]]  # only 2 more fit the budget of 6
        for batch in batches:
            seen["batches"] += 1
            seen["returned"].append(scoring_function(batch))
        seen["after_budget"] += 1  # never reached: the budget ends the run inside scoring_function

    monkeypatch.setattr(mol_ga, "default_ga", fake_default_ga)
    values, designs, stages = bench.mol_ga_in_process("qed", 6, 0, ["CCO", "CC(=O)O"])
    assert len(values) == len(designs) == 6  # stops exactly at the budget
    assert designs == ["CCO", "CC(=O)O", "c1ccccc1", "CCN", "CCCN", "CCCCN"]  # call order, canonical
    assert seen["after_budget"] == 0 and seen["batches"] == 3
    second = seen["returned"][1]
    assert second[0] == second[1] > 0 and second[2] == 0.0  # the repeat's value; invalid: 0, unpaid
    assert set(stages) == {"propose", "oracle"}


def test_real_run_spends_exactly_the_budget_and_is_reproducible():
    pytest.importorskip("mol_ga")
    corpus = load_library("nci")
    first = bench.run_one("qed", "mol_ga", 3, 130, "nci", corpus)
    again = bench.run_mol_ga("qed", 130, 3, corpus)
    assert first.calls == 130 and first.auc_every == 10
    values, designs, _ = again
    assert len(values) == len(set(designs)) == 130  # no design paid twice
    assert all(Chem.MolToSmiles(Chem.MolFromSmiles(d)) == d for d in designs)
    starting = set(bench.random.Random(3).sample(corpus, 100))
    assert set(designs[:100]) == starting  # the 100 starting molecules are paid first
    assert first.auc_top10 == pytest.approx(bench.summarise("qed", "mol_ga", 3, 130, values, 0, "nci", {}).auc_top10)
