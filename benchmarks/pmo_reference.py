"""Compute the reference library's values of the PMO objectives sciloop ships as built-ins.

Runs in a separate venv with the reference library (it pins old packages):

    python -m venv /tmp/pmo-venv && . /tmp/pmo-venv/bin/activate
    pip install torch==2.13.0 pytdc==1.1.15 'setuptools<81' rdkit
    python benchmarks/pmo_reference.py   # writes tests/oracles/data/pmo_reference_values.json

Molecules: every 80th valid molecule of rdkit's bundled NCI set (`Data/NCI/first_5K.smi`,
about 60), plus each objective's own targets and a few formula isomers, so that every
objective sees low, middle and top scores. pytdc's SA oracle needs rdkit's bundled fragment
scores as `./oracle/fpscores.pkl`; the script puts them there (in a temporary folder).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

#: sciloop built-in name -> pytdc oracle name (zaleplon and sitagliptin: pytdc's `*_prev`, the
#: leaderboard's).
OBJECTIVES = {
    "celecoxib_rediscovery": "celecoxib_rediscovery",
    "troglitazone_rediscovery": "troglitazone_rediscovery",
    "thiothixene_rediscovery": "thiothixene_rediscovery",
    "albuterol_similarity": "albuterol_similarity",
    "mestranol_similarity": "mestranol_similarity",
    "isomers_c7h8n2o2": "isomers_c7h8n2o2",
    "isomers_c9h10n2o2pf2cl": "isomers_c9h10n2o2pf2cl",
    "qed": "qed",
    "sa": "sa",
    "median1": "median1",
    "median2": "median2",
    "osimertinib_mpo": "osimertinib_mpo",
    "fexofenadine_mpo": "fexofenadine_mpo",
    "ranolazine_mpo": "ranolazine_mpo",
    "perindopril_mpo": "perindopril_mpo",
    "amlodipine_mpo": "amlodipine_mpo",
    "zaleplon_mpo": "zaleplon_mpo_prev",
    "sitagliptin_mpo": "sitagliptin_mpo_prev",
    "valsartan_smarts": "valsartan_smarts",
    "deco_hop": "deco_hop",
    "scaffold_hop": "scaffold_hop",
}
# Not compared: sciloop's "logp" is plain Crippen logP; pytdc's "logp" oracle is a normalised
# penalised logP (logP - SA - long cycles), a different objective that is not a PMO task.

EXTRA = [
    "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F",  # celecoxib
    "Cc1c(C)c2OC(C)(COc3ccc(CC4SC(=O)NC4=O)cc3)CCc2c(C)c1O",  # troglitazone
    "CN(C)S(=O)(=O)c1ccc2Sc3ccccc3C(=CCCN4CCN(C)CC4)c2c1",  # thiothixene
    "CC(C)(C)NCC(O)c1ccc(O)c(CO)c1",  # albuterol
    "COc1ccc2[C@H]3CC[C@@]4(C)[C@@H](CC[C@@]4(O)C#C)[C@@H]3CCc2c1",  # mestranol
    "Cc1ccc(N)c([N+](=O)[O-])c1", "NC(=O)c1ccc(N)cc1O", "CNC(=O)c1ccncc1O",  # C7H8N2O2 and near
    "NC(=O)C(Cl)c1ccc(OP(F)F)c(N)c1CC", "CCN(C)C(=O)c1ccc(P(F)(F)=O)cc1Cl",  # near C9H10N2O2PF2Cl
    "CC1(C)C2CCC1(C)C(=O)C2", "CC(C)C1CCC(C)CC1O",  # camphor, menthol (median1)
    "COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34",  # osimertinib
    "CC(C)(C(=O)O)c1ccc(cc1)C(O)CCCN2CCC(CC2)C(O)(c3ccccc3)c4ccccc4",  # fexofenadine
    "COc1ccccc1OCC(O)CN2CCN(CC(=O)Nc3c(C)cccc3C)CC2",  # ranolazine
    "O=C(OCC)C(NC(C(=O)N1C(C(=O)O)CC2CCCCC12)C)CCC",  # perindopril
    "Clc1ccccc1C2C(=C(/N/C(=C2/C(=O)OCC)COCCN)C)\\C(=O)OC",  # amlodipine
    "O=C(C)N(CC)C1=CC=CC(C2=CC=NC3=C(C=NN23)C#N)=C1",  # zaleplon
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


def main() -> None:
    from rdkit import RDConfig

    out = Path(__file__).resolve().parents[1] / "tests" / "oracles" / "data" / "pmo_reference_values.json"
    smiles = molecules()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        Path("oracle").mkdir()
        with gzip.open(Path(RDConfig.RDContribDir) / "SA_Score" / "fpscores.pkl.gz") as src, \
                open("oracle/fpscores.pkl", "wb") as dst:
            shutil.copyfileobj(src, dst)
        from tdc import Oracle

        values = {}
        for ours, theirs in OBJECTIVES.items():
            oracle = Oracle(name=theirs)
            values[ours] = {s: float(oracle(s)) for s in smiles}
            print(f"{ours}: {len(smiles)} values", file=sys.stderr)
    meta = dict(pytdc=version("pytdc"), rdkit=version("rdkit"), python=sys.version.split()[0])
    out.write_text(json.dumps(dict(meta=meta, values=values), indent=1, sort_keys=True))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
