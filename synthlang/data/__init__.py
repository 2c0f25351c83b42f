"""Datasets: the on-disk sample format, render_dataset, its executors and the training stream."""
