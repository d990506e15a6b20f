"""Shared building blocks of the kit: layers, losses, metrics, training and evaluation.

Everything here is used by at least two papers; a paper folder under ``papers/`` holds
only what is specific to that paper.
"""

# Recorded in the provenance of every cache (data_prep.patches, data_prep.synthetic):
# a cache written by another version is rebuilt.
__version__ = "0.1.0"
