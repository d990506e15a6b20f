"""Shared building blocks of the kit: layers, losses, metrics, training and evaluation.

Everything here is used by at least two papers; a paper folder under ``papers/`` holds
only what is specific to that paper.
"""
