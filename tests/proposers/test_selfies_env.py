"""SelfiesEnv as a core environment: alphabet, masks, SMILES <-> states, valid samples."""

import torch
from rdkit import Chem

from sciloop.proposers.env import DiscreteEnv
from sciloop.proposers.exact import enumerate_states
from sciloop.proposers.policy import SequencePolicy
from sciloop.proposers.selfies_env import SelfiesEnv
from sciloop.proposers.trajectories import from_terminal, sample_trajectories


def test_round_trip_real_molecules(nci_smiles):
    env = SelfiesEnv.from_corpus(nci_smiles[:1000], max_len=40)
    checked = 0
    for smi in nci_smiles[:300]:
        ids = env.tokenize(smi)
        if ids is None:
            continue
        assert 1 <= len(ids) <= env.max_len and all(0 <= i < env.pad for i in ids)
        assert Chem.CanonSmiles(env.decode(ids)) == Chem.CanonSmiles(smi)
        checked += 1
    assert checked > 200
    states = env.from_designs(nci_smiles[:300])
    assert len(states) == checked
    designs = env.to_designs(states)
    assert torch.equal(env.from_designs(designs), states)


def test_tokenize_rejects_what_it_cannot_represent():
    env = SelfiesEnv.from_corpus(["CCO", "CCN"], max_len=4)
    assert env.tokenize("CCCCCO") is None  # too long
    assert env.tokenize("CCCl") is None  # [Cl] not in the alphabet
    assert env.tokenize("CCO.N") is None  # several fragments
    assert env.tokenize("not a smiles") is None
    assert env.tokenize("OCC") is not None


def test_from_corpus_skips_elements_rdkit_disagrees_on():
    env = SelfiesEnv.from_corpus(["CCO", "[Be](C)C", "C[Sn](C)(C)C"], max_len=10)
    assert env.alphabet == ["[C]", "[O]"]


def test_designs_and_states():
    env = SelfiesEnv.from_corpus(["CCO"], max_len=5)
    assert isinstance(env, DiscreteEnv) and env.is_tree
    assert env.decode([]) == ""
    assert env.decode([env.pad, 0, 0]) == ""
    states = env.from_designs(["CCO", "OCC", "CCCCCCCC", "N"])
    assert states.shape == (2, 5)
    assert env.to_designs(states) == ["CCO", "OCC"]


def test_forward_mask():
    env = SelfiesEnv.from_corpus(["CC(C)O", "C1CC1"], max_len=8)
    first = env.forward_mask(env.initial(1))[0]
    allowed = {tok for tok, ok in zip(env.alphabet + ["<stop>"], first.tolist()) if ok}
    assert allowed == {"[C]", "[O]"}  # no stop, [Branch1], [Ring1]
    one = env.step(env.initial(1), torch.tensor([env.alphabet.index("[C]")]))
    assert env.forward_mask(one).all()  # anything after an atom, stop included
    short = SelfiesEnv.from_corpus(["CCC"], max_len=3)
    full = short.from_designs(["CCC"])
    assert short.forward_mask(full)[0].tolist() == [False, True]  # stop is forced


def test_tiny_world_enumerates_and_walks_back():
    env = SelfiesEnv.from_corpus(["C", "N", "O"], max_len=3)
    graph = enumerate_states(env)
    assert len(graph.states) == 1 + 3 + 9 + 27
    x = env.from_designs(["CNO", "N"])
    traj = from_terminal(env, x)
    assert torch.equal(traj.terminal, x) and traj.lengths.tolist() == [4, 2]


def test_state_dict_round_trip():
    env = SelfiesEnv.from_corpus(["CCO", "c1ccccc1N"], max_len=12)
    again = SelfiesEnv.from_state_dict(env.state_dict())
    assert again.alphabet == env.alphabet and again.max_len == env.max_len


def test_sampled_sequences_decode_to_valid_molecules(nci_smiles):
    env = SelfiesEnv.from_corpus(nci_smiles, max_len=30)
    torch.manual_seed(0)
    policy = SequencePolicy.for_env(env, hidden=32, num_layers=1)
    traj = sample_trajectories(env, policy, 500, torch.Generator().manual_seed(0), epsilon=0.5)
    for smi in env.to_designs(traj.terminal):
        assert smi and Chem.MolFromSmiles(smi) is not None, smi
