"""Compute the reference library's values of the PMO objectives sciloop ships as built-ins.

Runs in a separate venv with the reference library (it pins old packages, rdkit < 2024.3):

    python -m venv /tmp/pmo-venv && . /tmp/pmo-venv/bin/activate
    pip install torch==2.13.0 pytdc==1.1.15 'setuptools<81' rdkit
    pip download --no-deps PyTDC==0.3.6 -d /tmp/dl && tar xzf /tmp/dl/PyTDC-0.3.6.tar.gz -C /tmp/dl
    python benchmarks/pmo_reference.py --tdc-0.3.6 /tmp/dl/PyTDC-0.3.6
    # writes tests/oracles/data/pmo_reference_values.json

Every value is pytdc's on the rdkit canonical SMILES of the molecule, which is what mol_opt's
Oracle passes to pytdc (the leaderboard's isomer term reads the SMILES text, so the text matters);
`canonical` in the output maps each molecule as listed to the text that was scored.

The four objectives whose definition pytdc 0.3.7 changed are computed both ways: `<name>` with
pytdc 1.1.15's current oracle, `<name>_prev` with its `zaleplon_mpo_prev`,
`sitagliptin_mpo_prev` and, for the two isomer tasks, `Isomer_scoring_prev(formula)`.
With `--tdc-0.3.6` the same four are also computed by pytdc 0.3.6's own code (its
`chem_utils/oracle/oracle.py` from the PyPI sdist, loaded with two import shims: `rdkit.six`
no longer exists and the package-relative utilities are not used by these functions) and stored
under `pytdc_0_3_6`: tests/oracles/test_pmo_reference.py shows how they relate to `_prev`.

Molecules: every 80th valid molecule of rdkit's bundled NCI set (`Data/NCI/first_5K.smi`,
about 60), plus each objective's own targets and a few formula isomers, so that every
objective sees low, middle and top scores. pytdc's SA oracle needs rdkit's bundled fragment
scores as `./oracle/fpscores.pkl`; the script puts them there (in a temporary folder).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
import types
from importlib.metadata import version
from pathlib import Path

#: sciloop built-in name -> pytdc 1.1.15 oracle name, or ("isomer_prev", formula) for
#: `tdc.chem_utils.oracle.oracle.Isomer_scoring_prev(formula)` (no Oracle name of its own).
OBJECTIVES: dict[str, str | tuple[str, str]] = {
    "celecoxib_rediscovery": "celecoxib_rediscovery",
    "troglitazone_rediscovery": "troglitazone_rediscovery",
    "thiothixene_rediscovery": "thiothixene_rediscovery",
    "albuterol_similarity": "albuterol_similarity",
    "mestranol_similarity": "mestranol_similarity",
    "isomers_c7h8n2o2": "isomers_c7h8n2o2",
    "isomers_c9h10n2o2pf2cl": "isomers_c9h10n2o2pf2cl",
    "isomers_c7h8n2o2_prev": ("isomer_prev", "C7H8N2O2"),
    "isomers_c9h10n2o2pf2cl_prev": ("isomer_prev", "C9H10N2O2PF2Cl"),
    "qed": "qed",
    "sa": "sa",
    "median1": "median1",
    "median2": "median2",
    "osimertinib_mpo": "osimertinib_mpo",
    "fexofenadine_mpo": "fexofenadine_mpo",
    "ranolazine_mpo": "ranolazine_mpo",
    "perindopril_mpo": "perindopril_mpo",
    "amlodipine_mpo": "amlodipine_mpo",
    "zaleplon_mpo": "zaleplon_mpo",
    "zaleplon_mpo_prev": "zaleplon_mpo_prev",
    "sitagliptin_mpo": "sitagliptin_mpo",
    "sitagliptin_mpo_prev": "sitagliptin_mpo_prev",
    "valsartan_smarts": "valsartan_smarts",
    "deco_hop": "deco_hop",
    "scaffold_hop": "scaffold_hop",
}
# Not compared: sciloop's "logp" is plain Crippen logP; pytdc's "logp" oracle is a normalised
# penalised logP (logP - SA - long cycles), a different objective that is not a PMO task.

#: sciloop `_prev` name -> the function of pytdc 0.3.6's oracle module that the leaderboard called.
TDC_0_3_6 = {
    "zaleplon_mpo_prev": "zaleplon_mpo",
    "sitagliptin_mpo_prev": "sitagliptin_mpo",
    "isomers_c7h8n2o2_prev": "isomers_c7h8n2o2",
    "isomers_c9h10n2o2pf2cl_prev": "isomers_c9h10n2o2pf2cl",
}

EXTRA = [
    "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F",  # celecoxib
    "Cc1c(C)c2OC(C)(COc3ccc(CC4SC(=O)NC4=O)cc3)CCc2c(C)c1O",  # troglitazone
    "CN(C)S(=O)(=O)c1ccc2Sc3ccccc3C(=CCCN4CCN(C)CC4)c2c1",  # thiothixene
    "CC(C)(C)NCC(O)c1ccc(O)c(CO)c1",  # albuterol
    "COc1ccc2[C@H]3CC[C@@]4(C)[C@@H](CC[C@@]4(O)C#C)[C@@H]3CCc2c1",  # mestranol
    "Cc1ccc(N)c([N+](=O)[O-])c1", "NC(=O)c1ccc(N)cc1O", "CNC(=O)c1ccncc1O",  # C7H8N2O2 and near
    "NC(=O)C(Cl)c1ccc(OP(F)F)c(N)c1CC", "CCN(C)C(=O)c1ccc(P(F)(F)=O)cc1Cl",  # near C9H10N2O2PF2Cl
    "NC(=O)C(N)(Cl)C(=O)OP(F)(F)C1=CCCC1",  # near C9H10N2O2PF2Cl, a ring-closure digit in its text
    "CC1(C)C2CCC1(C)C(=O)C2", "CC(C)C1CCC(C)CC1O",  # camphor, menthol (median1)
    "COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34",  # osimertinib
    "CC(C)(C(=O)O)c1ccc(cc1)C(O)CCCN2CCC(CC2)C(O)(c3ccccc3)c4ccccc4",  # fexofenadine
    "COc1ccccc1OCC(O)CN2CCN(CC(=O)Nc3c(C)cccc3C)CC2",  # ranolazine
    "O=C(OCC)C(NC(C(=O)N1C(C(=O)O)CC2CCCCC12)C)CCC",  # perindopril
    "Clc1ccccc1C2C(=C(/N/C(=C2/C(=O)OCC)COCCN)C)\\C(=O)OC",  # amlodipine
    "O=C(C)N(CC)C1=CC=CC(C2=CC=NC3=C(C=NN23)C#N)=C1",  # zaleplon
    "CCN(C(C)=O)c1cccc(-c2ccnc3c(C#N)cnn23)c1",  # zaleplon, written otherwise
    "Fc1cc(c(F)cc1F)CC(N)CC(=O)N3Cc2nnc(n2CC3)C(F)(F)F",  # sitagliptin
    "CCCCC(=O)N(Cc1ccc(-c2ccccc2-c2nnn[nH]2)cc1)C(C(C)C)C(=O)O",  # valsartan
    "CCCOc1cc2ncnc(Nc3ccc4ncsc4c3)c2cc1S(=O)(=O)C(C)(C)C",  # the hops' pharmacophore
    "CCCOc1cc2ncnc(Nc3ccc4ncsc4c3)c2cc1O",  # a deco-hop-like variant
    # NCI molecules and a valsartan-like one that score above zero on the narrow MPOs
    "CN(C=O)Cc1ccc(-c2ccccc2-c2nnn[nH]2)cc1",
    "N=C1N[CH](N=C(N1)NC2=CC=CC=C2)C3=CC=CC=C3",
    "CC1=CC=C(C=C1)S(=O)(=O)NS(=O)(=O)C2=CC=C(C)C=C2",
    "O=C1C[CH](C(=O)N2N1C(=O)[CH](CC2=O)C3=CC=CC=C3)C4=CC=CC=C4",
    "CN1C(=CC=C1C2=CC=CN=C2)SSC3=CC=C(N3C)C4=CC=CN=C4",
    "COC1=CC=C(C=C1)C2=NC3=NC(=NC(=C3N=C2C4=CC=C(OC)C=C4)O)N",
    "CC1=NC2=C(C=CC=C2)C(=O)N1C3=CC=C(C=C3)C4=CC=C(N)C=C4",
]


def molecules(step: int = 80) -> list[str]:
    from rdkit import Chem, RDConfig, RDLogger

    RDLogger.DisableLog("rdApp.*")
    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    lines = [ln.split()[0] for ln in path.read_text().splitlines()[1:] if ln.strip()]
    valid = [s for s in lines if Chem.MolFromSmiles(s) is not None]
    return valid[::step] + EXTRA


def load_tdc_0_3_6(sdist: Path) -> types.ModuleType:
    """pytdc 0.3.6's `tdc/chem_utils/oracle/oracle.py`, loaded from its unpacked sdist."""
    sys.modules.setdefault("rdkit.six", types.SimpleNamespace(iteritems=lambda d: iter(d.items())))
    source = (sdist / "tdc" / "chem_utils" / "oracle" / "oracle.py").read_text()
    source = source.replace("from ...utils import oracle_load", "oracle_load = None")
    source = source.replace("from ...utils import print_sys, install", "print_sys = install = print")
    module = types.ModuleType("tdc_0_3_6_oracle")
    exec(compile(source, "tdc-0.3.6/tdc/chem_utils/oracle/oracle.py", "exec"), module.__dict__)
    return module


def main() -> None:
    from rdkit import Chem, RDConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tdc-0.3.6", dest="tdc036", type=Path, default=None,
                        help="unpacked PyTDC-0.3.6 sdist: also store its values of the four changed objectives")
    args = parser.parse_args()
    out = Path(__file__).resolve().parents[1] / "tests" / "oracles" / "data" / "pmo_reference_values.json"
    smiles = molecules()
    canonical = {s: Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in smiles}
    old = load_tdc_0_3_6(args.tdc036.resolve()) if args.tdc036 else None
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        Path("oracle").mkdir()
        with gzip.open(Path(RDConfig.RDContribDir) / "SA_Score" / "fpscores.pkl.gz") as src, \
                open("oracle/fpscores.pkl", "wb") as dst:
            shutil.copyfileobj(src, dst)
        from tdc import Oracle
        from tdc.chem_utils.oracle import oracle as tdc_oracle

        values = {}
        for ours, theirs in OBJECTIVES.items():
            # pytdc caches each MPO's fingerprint *and isomer scorer* in module globals on first
            # call, shared by `zaleplon_mpo` and `zaleplon_mpo_prev` (and sitagliptin's pair):
            # whichever runs first in a process decides the isomer term of both. Reset them.
            for cached in ("zaleplon_fp", "sitagliptin_fp_ecfp4"):
                tdc_oracle.__dict__.pop(cached, None)
            oracle = tdc_oracle.Isomer_scoring_prev(theirs[1]) if isinstance(theirs, tuple) else Oracle(name=theirs)
            values[ours] = {s: float(oracle(canonical[s])) for s in smiles}
            print(f"{ours}: {len(smiles)} values", file=sys.stderr)
    meta = dict(pytdc=version("pytdc"), rdkit=version("rdkit"), python=sys.version.split()[0],
                scored="rdkit canonical SMILES of each molecule (`canonical`), as mol_opt's Oracle passes them")
    data = dict(meta=meta, canonical=canonical, values=values)
    if old is not None:
        data["pytdc_0_3_6"] = {ours: {s: float(getattr(old, fn)(canonical[s])) for s in smiles}
                               for ours, fn in TDC_0_3_6.items()}
    out.write_text(json.dumps(data, indent=1, sort_keys=True))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
