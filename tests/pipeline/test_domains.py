"""The domain plug point: the registry, the config's `domain:` and the sequence domain's parts."""

import pytest
import torch

from sciloop.pipeline.config import ConfigError, load_config
from sciloop.pipeline.domain import MoleculeDomain
from sciloop.pipeline.domain_sequence import SequenceDomain, SequenceSettings
from sciloop.pipeline.domains import DOMAINS, make_domain, select_diverse
from sciloop.proposers.sequence_env import SequenceEnv
from sciloop.surrogates.sequences import OneHotFeaturizer, SequenceFeaturizer

SEQ = {"name": "sequence", "alphabet": "ACGT", "length": 4}


def test_molecule_is_the_default_and_is_written_as_its_name():
    config = load_config({})
    assert config.domain.name == "molecule" and isinstance(make_domain(config), MoleculeDomain)
    assert config.model_dump(mode="json")["domain"] == "molecule"
    assert load_config({"domain": "molecule"}).digest() == config.digest()


def test_a_sequence_domain_from_config_and_unknown_names():
    config = load_config({"domain": SEQ, "surrogate": {"member": "cnn"}})
    assert isinstance(config.domain, SequenceSettings) and config.domain.length == 4
    assert load_config({"domain": config.model_dump(mode="json")["domain"]}).domain == config.domain
    assert config.digest() != load_config({"domain": {**SEQ, "length": 5}}).digest()
    with pytest.raises(ConfigError, match=r"unknown domain 'protein': choose from molecule, sequence"):
        load_config({"domain": "protein"})
    with pytest.raises(ConfigError, match=r"domain 'sequence': lenght"):
        load_config({"domain": {**SEQ, "lenght": 3}})
    with pytest.raises(ConfigError, match=r"alphabet 'AA' repeats"):
        load_config({"domain": {**SEQ, "alphabet": "AA"}})
    with pytest.raises(ConfigError, match=r"member=gnn reads graphs .* domain 'sequence' .*choose from mlp, cnn"):
        load_config({"domain": SEQ, "surrogate": {"member": "gnn"}})
    with pytest.raises(ConfigError, match=r"proposer.name=genetic does not serve domain 'sequence'"):
        load_config({"domain": SEQ, "proposer": {"name": "genetic"}})
    with pytest.raises(ConfigError, match=r"proposer.name=sequence_offspring does not serve domain 'molecule': "
                                          r"choose from gflownet, genetic, gflownet\+genetic, offspring, screening"):
        load_config({"proposer": {"name": "sequence_offspring"}})  # it failed in round 1, after the screen was paid
    with pytest.raises(ConfigError, match=r"prior_checkpoint is a pretrained SELFIES policy .* domain 'sequence'"):
        load_config({"domain": SEQ, "proposer": {"prior_checkpoint": "configs/priors/moses-selfies-gru.pt"}})
    plugin = load_config({"domain": SEQ, "proposer": {"name": "tests.plugins.proposer_plugin:RewardScreen"}})
    assert plugin.proposer.name.endswith(":RewardScreen")  # a plug-in proposer is the user's call on any domain
    assert set(DOMAINS) >= {"molecule", "sequence"}


class TinyDomain(SequenceDomain):
    """A plugin domain: binary strings, built from the config alone."""

    Settings = SequenceSettings
    inputs = ("vectors",)
    proposers = ("gflownet",)


def test_a_domain_by_module_and_class():
    config = load_config({"domain": {"name": f"{__name__}:TinyDomain", "alphabet": "01", "length": 3}})
    domain = make_domain(config)
    assert isinstance(domain, TinyDomain) and domain.canonical("011") == "011"
    with pytest.raises(ConfigError, match="member=cnn reads tokens"):
        load_config({"domain": {"name": f"{__name__}:TinyDomain"}, "surrogate": {"member": "cnn"}})


def test_sequence_validity_with_reasons_never_a_crash():
    domain = make_domain(load_config({"domain": {**SEQ, "min_length": 2}}))
    assert domain.canonical("ACG") == "ACG" and domain.invalid_reason("ACG") is None
    assert "outside the alphabet 'ACGT'" in domain.invalid_reason("ACXZ")
    assert domain.invalid_reason("ACGTA") == "length 5 is not 2..4"
    for bad in ("", None, 3, "A"):
        assert domain.canonical(bad) is None and domain.invalid_reason(bad)


def test_sequence_parts(tmp_path):
    config = load_config({"domain": SEQ, "seed": 3, "initial": {"library_size": 100}})
    domain = make_domain(config)
    library = domain.initial_designs()
    assert library == make_domain(config).initial_designs()  # seeded
    assert len(set(library)) == len(library) and all(domain.canonical(d) == d for d in library)
    env = domain.environment(library, max_len=40)
    assert isinstance(env, SequenceEnv) and (env.max_len, env.min_len) == (4, 4)
    assert env.to_designs(env.from_designs(library[:5])) == library[:5]
    onehot, tokens = domain.featurizer("mlp"), domain.featurizer("cnn")
    assert isinstance(onehot, OneHotFeaturizer) and onehot(["ACGT"]).shape == (1, 16)
    assert type(tokens) is SequenceFeaturizer and torch.equal(tokens(["ACGT"]), torch.tensor([[1.0, 2, 3, 4]]))
    sim = domain.similarity(["ACGT", "ACGA"], ["ACGT", "TTTT", "ACG"])
    assert sim.tolist() == [[1.0, 0.25, 0.75], [0.75, 0.0, 0.75]]
    picks = select_diverse(domain, torch.tensor([3.0, 2.0, 1.0]), ["ACGT", "ACGA", "TTTT"], 2, min_distance=0.5)
    assert picks == [0, 2]  # ACGA is 1/4 from ACGT
    path = tmp_path / "start.txt"
    path.write_text("ACGT\n# a comment\nGGGG\nACGT\n")
    from_file = make_domain(load_config({"domain": {**SEQ, "initial_file": str(path)}}))
    assert from_file.initial_designs() == ["ACGT", "GGGG"] and from_file.initial_source == "file:start.txt"
    path.write_text("\ufeffACGT\n\n# a comment\nACGU\n", encoding="utf-8")  # a byte-order mark, as Excel saves
    with pytest.raises(ValueError, match=r"line 4 \('ACGU'\): tokens 'U' are outside"):  # the file's line
        from_file.initial_designs()
    # variable length: distance over the longer sequence (positions both lack are no match)
    short = make_domain(load_config({"domain": {**SEQ, "length": 10, "min_length": 2}}))
    assert short.similarity(["ACGTAC", "AC"], ["CGTACG", "ACGTAC"]).ravel().tolist() == pytest.approx([0, 1, 0, 2 / 6])


def test_each_domain_shows_its_best_designs():
    from matplotlib.figure import Figure

    seq = make_domain(load_config({"domain": {**SEQ, "min_length": 2}}))
    fig = seq.picture(["ACGT", "AAGT", "TTT", "ACG"], [0.9, 0.8, 0.1, 0.5], k=3)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0.900", "0.800", "0.500"]  # best first
    assert "".join(t.get_text() for t in ax.get_xticklabels()) == "ACGT"  # most frequent token per position
    assert seq.drawing("ACGT") is None  # shown as text in the report
    mol = make_domain(load_config({}))
    assert mol.drawing("c1ccccc1O").lstrip().startswith("<svg") and mol.drawing("not a molecule") is None
    image = mol.picture(["CCO", "c1ccccc1O"], [0.1, 0.9], k=2)
    assert image is None or image.size == (4 * 250, 200)  # None only where rdkit cannot draw
