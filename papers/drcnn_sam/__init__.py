"""drcnn_sam: deep residual CNN with a spectral-angle loss for hyperspectral image
super-resolution (ICIG 2017). Run ``python -m papers.drcnn_sam --help``."""
