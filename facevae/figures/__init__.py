"""Figures of the paper, each also summarised as numbers in metrics.json."""
