"""From files on disk to batches in ``model.fit``: cubes, renderers, degradations,
dataset readers, the embedded synthetic dataset, patch caches and input pipelines."""
