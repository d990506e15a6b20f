"""MS-SSFNet (Han, Zheng, Chen, ICCVW 2019): multi-level and multi-scale spatial and
spectral fusion CNN for x16 hyperspectral super-resolution from LR-HS + HR-RGB."""
