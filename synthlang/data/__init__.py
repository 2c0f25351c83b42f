"""Datasets: the sample format, render_dataset, its executors and the training stream.

``sampleio`` (encode, store, read samples and the manifest) <- ``executors`` (where samples
are rendered) <- ``dataset`` (``render_dataset``); ``stream`` (``SceneSource``) renders
samples for training without writing them.
"""
