"""Oracles: the ground-truth scorers, their adapters and the parallel batch runner on Ray."""
