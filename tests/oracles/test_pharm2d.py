"""The fast 2D pharmacophore fingerprint against rdkit's own, bit for bit (real rdkit throughout)."""

import itertools
import random

import pytest
from rdkit import Chem
from rdkit.Chem.Pharm2D import Generate, Gobbi_Pharm2D, SigFactory

from sciloop.oracles.pharm2d import GOBBI_BINS, Pharm2DFingerprint
from sciloop.pipeline.domain import load_library

FACTORY = Gobbi_Pharm2D.factory


def _nci(n: int) -> list[str]:
    return random.Random(0).sample(load_library("nci"), n)


def _joined(parts: list[Chem.Mol], rng: random.Random) -> Chem.Mol:
    """One connected molecule: `parts` chained by single bonds between aliphatic CH carbons."""
    mol = parts[0]
    for part in parts[1:]:
        rw = Chem.RWMol(Chem.CombineMols(mol, part))
        left = [a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == "C" and not a.GetIsAromatic()
                and a.GetTotalNumHs() > 0]
        right = [mol.GetNumAtoms() + a.GetIdx() for a in part.GetAtoms() if a.GetSymbol() == "C"
                 and not a.GetIsAromatic() and a.GetTotalNumHs() > 0]
        i, j = rng.choice(left), rng.choice(right)
        rw.AddBond(i, j, Chem.BondType.SINGLE)
        for atom in (rw.GetAtomWithIdx(i), rw.GetAtomWithIdx(j)):
            if atom.GetNumExplicitHs():  # the new bond takes one of its hydrogens
                atom.SetNumExplicitHs(atom.GetNumExplicitHs() - 1)
        Chem.SanitizeMol(rw)
        mol = Chem.MolFromSmiles(Chem.MolToSmiles(rw.GetMol()))
    return mol


ORGANIC = set("BCNOPSFI") | {"Cl", "Br"}


def _bits(fp) -> list[int]:
    return list(fp.GetOnBits())


def test_the_bits_equal_rdkits_on_nci_molecules():
    fast = Pharm2DFingerprint(FACTORY)
    mols = [m for m in map(Chem.MolFromSmiles, _nci(150)) if m is not None]
    assert len(mols) > 140
    differ = [Chem.MolToSmiles(m) for m in mols if _bits(fast(m)) != _bits(Generate.Gen2DFingerprint(m, FACTORY))]
    assert differ == []
    assert sum(fast(m).GetNumOnBits() > 0 for m in mols) > 100  # the comparison is not of empty sets


def test_the_bits_equal_rdkits_on_large_molecules():
    # what Mol GA grows on the hop objectives: over 100 atoms, hundreds of feature triples
    rng = random.Random(1)
    def joinable(m):
        return m is not None and 15 <= m.GetNumAtoms() <= 35 and {a.GetSymbol() for a in m.GetAtoms()} <= ORGANIC \
            and any(a.GetSymbol() == "C" and not a.GetIsAromatic() and a.GetTotalNumHs() for a in m.GetAtoms())

    pool = [m for m in map(Chem.MolFromSmiles, _nci(400)) if joinable(m)]
    fast = Pharm2DFingerprint(FACTORY)
    sizes = []
    for k in (3, 4, 5):
        mol = _joined(rng.sample(pool, k), rng)
        sizes.append(mol.GetNumAtoms())
        assert _bits(fast(mol)) == _bits(Generate.Gen2DFingerprint(mol, FACTORY))
    assert max(sizes) > 100


def test_disconnected_and_featureless_molecules_match_rdkit():
    fast = Pharm2DFingerprint(FACTORY)
    for smiles in ("C", "CC", "CCO.OCC", "c1ccccc1.NCC(=O)O", "[Na+].[Cl-]"):
        mol = Chem.MolFromSmiles(smiles)
        assert _bits(fast(mol)) == _bits(Generate.Gen2DFingerprint(mol, FACTORY)), smiles


def test_a_triangles_only_factory_matches_rdkit_where_a_molecule_has_no_triangle():
    from rdkit.Chem import ChemicalFeatures
    from rdkit.Chem.Pharm2D.Gobbi_Pharm2D import fdef

    triangles = SigFactory.SigFactory(ChemicalFeatures.BuildFeatureFactoryFromString(fdef), minPointCount=3,
                                      maxPointCount=3, trianglePruneBins=True)
    triangles.SetBins(GOBBI_BINS)
    triangles.Init()
    fast = Pharm2DFingerprint(triangles)
    for smiles in ("CCO", "OCCCCN", "c1ccccc1CCC(=O)O"):
        mol = Chem.MolFromSmiles(smiles)
        assert _bits(fast(mol)) == _bits(Generate.Gen2DFingerprint(mol, triangles)), smiles


def test_factories_it_does_not_cover_are_refused():
    from rdkit.Chem import ChemicalFeatures
    from rdkit.Chem.Pharm2D.Gobbi_Pharm2D import fdef

    features = ChemicalFeatures.BuildFeatureFactoryFromString(fdef)
    other_bins = SigFactory.SigFactory(features, minPointCount=2, maxPointCount=3)
    other_bins.SetBins([(1, 2), (2, 5), (5, 8)])
    other_bins.Init()
    with pytest.raises(ValueError, match="bins"):
        Pharm2DFingerprint(other_bins)
    four_points = SigFactory.SigFactory(features, minPointCount=2, maxPointCount=4)
    four_points.SetBins(GOBBI_BINS)
    with pytest.raises(ValueError, match="2-3 points"):
        Pharm2DFingerprint(four_points)


@pytest.mark.slow
def test_a_distance_may_stand_for_its_bin_start_in_every_triangle():
    # the fast path looks bits up with each distance replaced by its bin's start: rdkit's bit must
    # not change for any distance triple and any pattern of repeated families (three distinct ones
    # keep their order, `Utils.OrderTriangle`). Every triple of path lengths 2-40 here; 2-99 (4.7M
    # triples, the last bin's whole range, four patterns) showed no difference when run once.
    def bit(perm, dists):
        try:
            return FACTORY.GetBitIdx(list(perm), list(dists), sortIndices=False)
        except IndexError:  # a triple the bins rule out: must be ruled out both ways
            return None

    start = {d: low for low, high in GOBBI_BINS for d in range(low, high)}
    checked = 0
    for perm in ((0, 0, 0), (0, 0, 1), (0, 1, 1)):
        binned_bits = {}
        for dists in itertools.product(range(2, 41), repeat=3):
            binned = tuple(start[d] for d in dists)
            if binned != dists:
                if binned not in binned_bits:
                    binned_bits[binned] = bit(perm, binned)
                assert bit(perm, dists) == binned_bits[binned], (perm, dists)
                checked += 1
    assert checked > 150_000
