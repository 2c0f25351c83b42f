"""Datasets: the sample format, render_dataset, its executors, exports and the training stream.

``sampleio`` (encode, store, read samples and the manifest) <- ``executors`` (where samples
are rendered) <- ``dataset`` (``render_dataset``); ``formats`` (COCO, GeoJSON, HoVer-Net
exports, written from stored samples); ``stream`` (``SceneSource``) renders samples for
training without writing them; ``torch`` (``SynthlangDataset``, imports torch: never imported
here) reads a folder as a PyTorch dataset.
"""
