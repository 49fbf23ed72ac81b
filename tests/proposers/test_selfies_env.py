"""SelfiesEnv: alphabet, masks, SMILES <-> token round trips, validity of samples."""

import torch
from rdkit import Chem

from sciloop.proposers.policy import SequencePolicy
from sciloop.proposers.selfies_env import SelfiesEnv


def test_round_trip_real_molecules(nci_smiles):
    env = SelfiesEnv.from_corpus(nci_smiles[:1000], max_len=40)
    checked = 0
    for smi in nci_smiles[:300]:
        ids = env.encode(smi)
        if ids is None:
            continue
        assert 1 <= len(ids) <= env.max_len and env.eos not in ids
        assert Chem.CanonSmiles(env.decode(ids)) == Chem.CanonSmiles(smi)
        checked += 1
    assert checked > 200


def test_encode_rejects_what_it_cannot_represent():
    env = SelfiesEnv.from_corpus(["CCO", "CCN"], max_len=4)
    assert env.encode("CCCCCO") is None  # too long
    assert env.encode("CCCl") is None  # [Cl] not in the alphabet
    assert env.encode("CCO.N") is None  # several fragments
    assert env.encode("not a smiles") is None
    assert env.encode("OCC") is not None


def test_from_corpus_skips_elements_rdkit_disagrees_on():
    env = SelfiesEnv.from_corpus(["CCO", "[Be](C)C", "C[Sn](C)(C)C"], max_len=10)
    assert env.alphabet == ["[C]", "[O]"]


def test_decode_empty_and_batch():
    env = SelfiesEnv.from_corpus(["CCO"], max_len=5)
    assert env.decode([]) == ""
    assert env.decode([env.eos, 1, 1]) == ""
    batch = env.encode_batch(["CCO", "OCC", "CCCCCCCC"])
    assert batch.shape == (2, 5)
    assert env.decode_batch(batch) == ["CCO", "OCC"]


def test_action_masks():
    env = SelfiesEnv.from_corpus(["CCO"], max_len=3)
    masks = env.action_masks()
    assert masks.shape == (4, env.vocab_size)
    assert not masks[0, env.eos] and masks[0, 1:].all()  # [C], [O]: all atoms
    assert masks[1:3].all()
    assert masks[3, env.eos] and masks[3].sum() == 1


def test_state_dict_round_trip():
    env = SelfiesEnv.from_corpus(["CCO", "c1ccccc1N"], max_len=12)
    again = SelfiesEnv.from_state_dict(env.state_dict())
    assert again.tokens == env.tokens and again.max_len == env.max_len


def test_sampled_sequences_decode_to_valid_molecules(nci_smiles):
    env = SelfiesEnv.from_corpus(nci_smiles, max_len=30)
    torch.manual_seed(0)
    policy = SequencePolicy(env.action_masks(), env.eos, hidden=32, num_layers=1)
    tokens = policy.sample(500, torch.Generator().manual_seed(0), epsilon=0.5)
    for smi in env.decode_batch(tokens):
        assert smi and Chem.MolFromSmiles(smi) is not None, smi


def test_first_action_is_an_atom():
    env = SelfiesEnv.from_corpus(["CC(C)O", "C1CC1"], max_len=8)
    first = env.action_masks()[0]
    allowed = {tok for tok, ok in zip(env.tokens, first.tolist()) if ok}
    assert allowed == {"[C]", "[O]"}  # no EOS, [Branch1], [Ring1]
