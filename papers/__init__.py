"""One package per reproduced paper; each runs as ``python -m papers.<name>``."""
