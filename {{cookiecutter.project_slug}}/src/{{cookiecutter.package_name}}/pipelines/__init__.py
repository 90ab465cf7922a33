"""Batch workflows: training and scoring, built from the steps in `data` and `model`."""
