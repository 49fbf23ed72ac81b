"""Surrogates: featurizers, ensemble members, the ensemble as a BoTorch model, acquisition rewards."""
