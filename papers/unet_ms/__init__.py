"""unet_ms: multi-scale U-Net spectral super-resolution (Yan et al., PRCV 2018); see README.md."""
