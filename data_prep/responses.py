"""Camera spectral sensitivities embedded in the kit (no download at run time).

``NIKON_D700_JIANG2013``: the Nikon D700 spectral sensitivity, 400-720 nm every 10 nm,
from the camera spectral sensitivity database of

    J. Jiang, D. Liu, J. Gu and S. Susstrunk, "What is the space of spectral
    sensitivity functions for digital color cameras?", IEEE Workshop on Applications
    of Computer Vision (WACV), 2013, pp. 168-179.

ms_ssfnet (Han, Zheng and Chen, ICCVW 2019, Sec. 4) simulates its HR RGB images with
this camera. The figures are copied digit for digit from
``data/responses/nikon_d700_jiang2013_400-720nm.csv`` of the shared reproduction notes
(columns R, G, B; the G channel peaks at 1 at 530 nm, the database's own scaling).
The rows 710 and 720 nm are kept because the Harvard images are sampled at 420-720 nm.

The NTIRE 2020 "clean" response is not stored here: it is the CIE 1964 10-degree
colour matching functions, derived at run time from colour-science
(``data_prep.render.ntire2020_clean_response``).
"""

import numpy as np

# wavelength (nm), R, G, B
NIKON_D700_JIANG2013 = np.array([
    (400, 0.0017775, 0.0014335, 0.0059157),
    (410, 0.0027445, 0.001874, 0.014395),
    (420, 0.048766, 0.02308, 0.37455),
    (430, 0.05565, 0.043356, 0.65271),
    (440, 0.039817, 0.059914, 0.75309),
    (450, 0.031348, 0.082364, 0.90218),
    (460, 0.026632, 0.13356, 0.91167),
    (470, 0.02811, 0.24498, 0.86787),
    (480, 0.032437, 0.35961, 0.81577),
    (490, 0.029863, 0.40937, 0.64403),
    (500, 0.031673, 0.57699, 0.46041),
    (510, 0.038347, 0.76619, 0.27786),
    (520, 0.06215, 0.90061, 0.13072),
    (530, 0.075373, 1, 0.064085),
    (540, 0.039432, 0.95495, 0.031748),
    (550, 0.021926, 0.88728, 0.015075),
    (560, 0.02526, 0.74714, 0.0074314),
    (570, 0.095391, 0.6249, 0.0053662),
    (580, 0.49461, 0.45115, 0.0041164),
    (590, 0.74372, 0.2869, 0.0026565),
    (600, 0.71172, 0.14489, 0.001269),
    (610, 0.61752, 0.065037, 0.00075685),
    (620, 0.51236, 0.031947, 0.00050643),
    (630, 0.41128, 0.019449, 0.0003322),
    (640, 0.3198, 0.012242, 0.0003053),
    (650, 0.24236, 0.0081427, 0.00039176),
    (660, 0.16547, 0.0059358, 0.00023539),
    (670, 0.082116, 0.0042266, 0.00018848),
    (680, 0.02628, 0.0020565, 8.047e-05),
    (690, 0.0073938, 0.0008812, 4.5734e-05),
    (700, 0.0028568, 0.00048014, 3.4504e-05),
    (710, 0.0011169, 0.0002376, 2.7962e-05),
    (720, 0.00047128, 0.00011756, 2.4659e-05),
], dtype=np.float64)
