"""pix2pix_hs: Alvarez-Gila, van de Weijer & Garrote, "Adversarial Networks for Spatial
Context-Aware Spectral Image Reconstruction from RGB" (ICCV 2017 Workshops).

Run ``python -m papers.pix2pix_hs reproduce`` (see README.md)."""
