"""Graph GA baseline: operators on real rdkit molecules, the ask/tell contract, a toy run."""

import numpy as np
import pytest
from rdkit import Chem, rdBase
from rdkit.Chem import QED, rdChemReactions
from sciloop.proposers.graph_ga import (
    MUTATIONS,
    GraphGA,
    GraphGAConfig,
    crossover,
    mol_ok,
    mutate,
    ring_ok,
)

CFG = GraphGAConfig()


def _labelled(smiles: str, isotope: int) -> Chem.Mol:
    mol = Chem.MolFromSmiles(smiles)
    for atom in mol.GetAtoms():
        atom.SetIsotope(isotope)
    return mol


def _valid(mol: Chem.Mol) -> bool:
    again = Chem.MolFromSmiles(Chem.MolToSmiles(mol))
    return again is not None and again.GetNumAtoms() > 5


def test_crossover_children_are_valid_and_hold_fragments_of_both_parents():
    pairs = [
        ("CCOc1ccc(CC(=O)NC)cc1", "CN(C)CCc1ccc(Cl)cc1"),  # acyclic cuts possible
        ("c1ccc2ccccc2c1", "c1ccc2ncccc2c1"),  # fused rings only: ring crossover only
    ]
    with rdBase.BlockLogs():
        for smiles_a, smiles_b in pairs:
            a, b = _labelled(smiles_a, 13), _labelled(smiles_b, 14)
            before = (Chem.MolToSmiles(a), Chem.MolToSmiles(b))
            children = [crossover(a, b, np.random.default_rng(s), CFG) for s in range(30)]
            children = [c for c in children if c is not None]
            assert len(children) >= 10, smiles_a
            assert (Chem.MolToSmiles(a), Chem.MolToSmiles(b)) == before  # parents untouched
            for child in children:
                assert _valid(child)
                isotopes = {atom.GetIsotope() for atom in child.GetAtoms()}
                assert {13, 14} <= isotopes, Chem.MolToSmiles(child)
                assert Chem.MolToSmiles(child) not in before


def test_every_mutation_operator_yields_valid_molecules(nci_smiles):
    mols = [m for m in (Chem.MolFromSmiles(s) for s in nci_smiles[:60]) if m is not None]
    for mol in mols:
        Chem.Kekulize(mol, clearAromaticFlags=True)
    rng = np.random.default_rng(0)
    with rdBase.BlockLogs():
        for operator in MUTATIONS:
            produced = 0
            for mol in mols:
                smarts = operator(rng, mol)
                if smarts is None:
                    continue
                rxn = rdChemReactions.ReactionFromSmarts(smarts)
                for (product,) in rxn.RunReactants((mol,)):
                    if mol_ok(product, rng, CFG) and ring_ok(product):
                        assert _valid(product)
                        produced += 1
            assert produced > 0, operator.__name__


def test_mutate_always_returns_a_valid_molecule_or_none(nci_smiles):
    rng = np.random.default_rng(1)
    changed = 0
    with rdBase.BlockLogs():
        for smiles in nci_smiles[:80]:
            mol = Chem.MolFromSmiles(smiles)
            if mol is None or mol.GetNumAtoms() <= 5:
                continue
            child = mutate(mol, 1.0, rng, CFG)
            if child is not None:
                assert _valid(child)
                changed += Chem.MolToSmiles(child) != Chem.MolToSmiles(mol)
            assert mutate(mol, 0.0, rng, CFG) is mol
    assert changed > 20


def _qed(smiles: list[str]) -> list[float]:
    with rdBase.BlockLogs():
        mols = [Chem.MolFromSmiles(s) for s in smiles]
    return [0.0 if m is None else QED.qed(m) for m in mols]  # invalid scores 0, as in PMO


def test_ask_never_repeats_a_told_design(nci_smiles):
    config = GraphGAConfig(population_size=30, offspring_size=40, mutation_rate=0.5)
    ga = GraphGA(nci_smiles, config)
    pre_told = [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in nci_smiles[:300]]
    ga.tell(["OCC"], [0.1])  # non-canonical: recorded as CCO
    ga.tell(pre_told, [0.0] * len(pre_told))
    told = set(pre_told) | {"CCO"}
    for _ in range(6):
        batch = ga.ask()
        assert batch and len(set(batch)) == len(batch)
        assert told.isdisjoint(batch)
        assert all(Chem.MolToSmiles(Chem.MolFromSmiles(s)) == s for s in batch)
        ga.tell(batch, _qed(batch))
        told |= set(batch)
    assert ga.n_told == len(told)


def test_first_ask_is_a_random_sample_of_the_pool_or_its_head(nci_smiles):
    pool = ["not a smiles"] + nci_smiles[:500]
    canon = {Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in pool[1:]}
    with rdBase.BlockLogs():
        first = GraphGA(pool, GraphGAConfig(population_size=50)).ask()
        head = GraphGA(pool, GraphGAConfig(population_size=50, initial="first")).ask()
    assert len(first) == 50 and set(first) <= canon
    expected_head = list(dict.fromkeys(Chem.MolToSmiles(Chem.MolFromSmiles(s))
                                       for s in pool[1:60]))[:50]
    assert head == expected_head and first != head


def test_same_seed_same_asks_and_other_seed_differs(nci_smiles):
    def run(seed: int) -> list[list[str]]:
        ga = GraphGA(nci_smiles, GraphGAConfig(population_size=40, offspring_size=30, seed=seed))
        asks = []
        for _ in range(3):
            batch = ga.ask()
            ga.tell(batch, _qed(batch))
            asks.append(batch)
        return asks

    assert run(3) == run(3)
    assert run(3)[0] != run(4)[0]


def test_flat_scores_stop_the_run_after_patience(nci_smiles):
    ga = GraphGA(nci_smiles, GraphGAConfig(population_size=110, offspring_size=20, patience=3))
    generations = 0
    while batch := ga.ask():
        ga.tell(batch, [0.5] * len(batch))
        generations += 1
        assert generations < 20
    assert ga.stopped is not None and "flat" in ga.stopped
    assert generations == 4  # initial population, then 3 flat generations
    assert ga.ask() == []


@pytest.mark.parametrize("seed", [0])
def test_toy_qed_run_beats_its_start_and_screening(nci_smiles, seed):
    ga = GraphGA(nci_smiles, GraphGAConfig(seed=seed))
    scores: list[float] = []
    initial_top10 = None
    while len(scores) < 1000:
        batch = ga.ask()
        assert batch, ga.stopped
        values = _qed(batch)
        ga.tell(batch, values)
        scores += values
        if initial_top10 is None:
            initial_top10 = np.mean(sorted(values)[-10:])
    top10 = np.mean(sorted(scores[:1000])[-10:])
    rng = np.random.default_rng(seed)
    screened = _qed(list(rng.choice(nci_smiles, 1000, replace=False)))
    assert top10 > initial_top10 + 0.08
    assert top10 > np.mean(sorted(screened)[-10:])
    assert [y for _, y in ga.population[:10]] == sorted(scores, reverse=True)[:10]


def test_untold_designs_are_dropped_and_an_untold_start_stops(nci_smiles):
    ga = GraphGA(nci_smiles, GraphGAConfig(population_size=20, offspring_size=20))
    first = ga.ask()
    ga.tell(first[:5], _qed(first[:5]))  # the budget ran out after five
    second = ga.ask()
    assert second and set(second).isdisjoint(first[:5])
    assert {s for s, _ in ga.population} <= set(first[:5])
    idle = GraphGA(nci_smiles, GraphGAConfig(population_size=20))
    idle.ask()
    assert idle.ask() == [] and "initial population" in idle.stopped
