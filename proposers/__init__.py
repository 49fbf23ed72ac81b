"""Proposers: GFlowNets on Ray actors and simple baselines behind one `Proposer` interface."""
