"""From spectra to RGB: the renderings the five papers train and evaluate on.

Each paper makes its RGB input from the hyperspectral cube in its own way:

- NTIRE 2020 "clean" track (rdab_coordconv): the cube (about [0, 1]) is projected on the
  CIE 1964 10-degree colour matching functions, each scaled so that its 31 samples
  (400-700 nm, 10 nm) sum to 255, divided by 255, clipped to [0, 1] and stored as 8-bit
  PNG by the organisers (``SpectralUtils.py`` of github.com/boazarad/NTIRE2020_spectral:
  ``projectToRGB`` then ``savePNG``). ``ntire2020_clean_response`` derives these numbers
  from colour-science at run time; the test compares them with the organisers' CSV.
- Alvarez-Gila et al. (pix2pix_hs, ICCVW 2017, Sec. 3.2, eqs. 8-9): per-image min
  subtraction and max scaling, CIE XYZ with the CIE 1964 10-degree observer and the
  normalisation K, then the sRGB matrix and the sRGB gamma.
- ms_ssfnet (Han et al., ICCVW 2019, Sec. 4): a Nikon D700 camera (Jiang et al. 2013,
  ``data_prep.responses``), ``render_camera``.

``cube_to_xyz``, ``xyz_to_lab`` (CIEDE2000 needs CIELAB) and ``display_srgb`` (figures)
work on any band grid, e.g. Harvard's 420-720 nm, by sampling the colour matching
functions at the cube's own wavelengths. colour-science is imported lazily: only the
functions that need the CIE tables load it.

Every function takes an ``HSCube`` or an array whose last axis holds the bands (an
image H x W x C, or any stack of spectra ... x C); arrays are assumed to be on
``DEFAULT_WAVELENGTHS`` unless ``wavelengths`` says otherwise.
"""

import functools

import numpy as np

from common.io import KitError
from data_prep.cube import DEFAULT_WAVELENGTHS, HSCube
from data_prep.responses import NIKON_D700_JIANG2013

CMFS_NAME = "CIE 1964 10 Degree Standard Observer"

# IEC 61966-2-1:1999 XYZ (D65) -> linear sRGB matrix, as printed in the standard (and
# used by colour-science's sRGB colourspace).
XYZ_TO_SRGB = np.array([
    [3.2406, -1.5372, -0.4986],
    [-0.9689, 1.8758, 0.0415],
    [0.0557, -0.2040, 1.0570],
])

SRGB_WHITE_XY = (0.3127, 0.3290)  # D65, CIE 1931 2-degree, the sRGB reference white
D65_10DEG_XY = (0.31382, 0.33100)  # D65 white for the CIE 1964 10-degree observer

# Bradford cone response matrix (Lam 1985), for the von Kries adaptation in display_srgb.
BRADFORD = np.array([
    [0.8951, 0.2664, -0.1614],
    [-0.7502, 1.7135, 0.0367],
    [0.0389, -0.0685, 1.0296],
])


# ----------------------------------------------------------------------------- helpers

def _spectra(cube, wavelengths=None):
    """(values, wavelengths) from an HSCube or an array whose last axis is the bands."""
    if isinstance(cube, HSCube):
        values = cube.data
        grid = cube.wavelengths if wavelengths is None else wavelengths
    else:
        values = np.asarray(cube)
        grid = DEFAULT_WAVELENGTHS if wavelengths is None else wavelengths
    grid = np.asarray(grid, dtype=np.float64).ravel()
    if values.ndim < 1 or values.shape[-1] != grid.size:
        raise KitError(
            f"spectra have {values.shape[-1] if values.ndim else 0} bands but "
            f"{grid.size} wavelengths were given")
    if grid.size < 2 or np.any(np.diff(grid) <= 0):
        raise KitError("wavelengths must be at least two strictly increasing values (nm)")
    return values, grid


def _band_widths(wavelengths):
    """Delta lambda of each band (10 nm on the papers' grids; np.gradient if uneven)."""
    return np.gradient(wavelengths)


@functools.lru_cache(maxsize=16)
def _cmfs_cached(grid):
    import colour

    cmfs = colour.MSDS_CMFS[CMFS_NAME]
    low, high = cmfs.wavelengths[0], cmfs.wavelengths[-1]
    if grid[0] < low or grid[-1] > high:
        raise KitError(
            f"wavelengths {grid[0]:g}-{grid[-1]:g} nm fall outside the CIE 1964 tables "
            f"({low:g}-{high:g} nm)")
    table = np.array(cmfs[np.array(grid)], dtype=np.float64)  # interpolated off the 1-nm grid
    table.setflags(write=False)
    return table


def cie1964_cmfs(wavelengths=None):
    """CIE 1964 10-degree colour matching functions (xbar, ybar, zbar) as a (C, 3) array,
    sampled at ``wavelengths`` (default 400-700 nm every 10 nm) from colour-science's
    1-nm table."""
    grid = DEFAULT_WAVELENGTHS if wavelengths is None else wavelengths
    return _cmfs_cached(tuple(float(w) for w in np.ravel(grid))).copy()


def _light(light, wavelengths):
    """Spectral power of a named CIE illuminant ('D65', 'A', 'E', ...) or an array, on the grid."""
    if isinstance(light, str):
        if light.upper() == "E":
            return np.ones(wavelengths.size)
        import colour

        if light not in colour.SDS_ILLUMINANTS:
            raise KitError(f"unknown illuminant {light!r}; use a CIE name such as 'D65' or an array")
        return np.array(colour.SDS_ILLUMINANTS[light][wavelengths], dtype=np.float64)
    power = np.asarray(light, dtype=np.float64).ravel()
    if power.size != wavelengths.size:
        raise KitError(f"illuminant has {power.size} samples but the cube has {wavelengths.size} bands")
    return power


def srgb_encode(linear):
    """IEC 61966-2-1 sRGB transfer function: 12.92 x below 0.0031308, else
    1.055 x^(1/2.4) - 0.055 (the "1/2.4 power law with a linear segment" of pix2pix_hs)."""
    linear = np.asarray(linear, dtype=np.float64)
    safe = np.maximum(linear, 0.0031308)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * safe ** (1 / 2.4) - 0.055)


def _xyz_to_srgb(xyz):
    linear = np.clip(xyz @ XYZ_TO_SRGB.T, 0.0, 1.0)
    return srgb_encode(linear).astype(np.float32)


def _xy_to_xyz(xy, luminance=1.0):
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y]) * luminance


# ----------------------------------------------------------------------------- colorimetry

def cube_to_xyz(cube, wavelengths=None, illuminant=None):
    """CIE XYZ (CIE 1964 10-degree observer) of every spectrum, on a scale where Y = 1 is white.

    X = K * sum_lambda S(lambda) L(lambda) xbar(lambda) dlambda, K = 1 / sum L ybar dlambda
    (pix2pix_hs eqs. 8-9 divided by 100).

    Args:
        cube: HSCube or array (..., C).
        wavelengths: band centres in nm (default: the cube's own, else 400-700/10).
        illuminant: None when the spectra are radiance (the light is already in them):
            L = 1 (equal-energy), so a flat spectrum of value 1 has Y = 1. A CIE name
            ('D65') or an array when the spectra are reflectance: they are multiplied
            by L and a perfect white reflector has Y = 1.

    Returns:
        array (..., 3): float32 for a float32 cube, else float64.
    """
    values, grid = _spectra(cube, wavelengths)
    light = np.ones(grid.size) if illuminant is None else _light(illuminant, grid)
    cmfs = cie1964_cmfs(grid)
    weights = light * _band_widths(grid)
    k = 1.0 / np.sum(weights * cmfs[:, 1])
    matrix = cmfs * (k * weights)[:, None]
    if values.dtype == np.float32:  # keep big images in float32 (no float64 copy of the cube)
        return values @ matrix.astype(np.float32)
    return values.astype(np.float64) @ matrix


def xyz_to_lab(xyz, white=None):
    """CIE 1976 L*a*b* from XYZ (Y = 1 scale), reference white D65 for the CIE 1964
    10-degree observer (x, y = 0.31382, 0.33100) unless ``white`` (XYZ) is given.
    L* lies in [0, 100] for Y in [0, 1]."""
    xyz = np.asarray(xyz, dtype=np.float64)
    white = _xy_to_xyz(D65_10DEG_XY) if white is None else np.asarray(white, dtype=np.float64)
    t = xyz / white
    delta = 6.0 / 29.0
    f = np.where(t > delta ** 3, np.cbrt(t), t / (3 * delta ** 2) + 4.0 / 29.0)
    lightness = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([lightness, a, b], axis=-1)


def bradford_adapt(xyz, source_white, target_white):
    """von Kries adaptation in the Bradford cone space (XYZ of both whites on the same scale)."""
    source = BRADFORD @ np.asarray(source_white, dtype=np.float64)
    target = BRADFORD @ np.asarray(target_white, dtype=np.float64)
    matrix = np.linalg.inv(BRADFORD) @ np.diag(target / source) @ BRADFORD
    return np.asarray(xyz, dtype=np.float64) @ matrix.T


# ----------------------------------------------------------------------------- NTIRE 2020

def ntire2020_clean_response():
    """The NTIRE 2020 clean-track camera response, (31, 3) for 400-700 nm (10 nm).

    Columns R, G, B are the CIE 1964 10-degree xbar, ybar, zbar, each scaled so that its
    31 samples sum to 255: a cube in [0, 1] projects to [0, 255] (the organisers'
    ``cie_1964_w_gain``).
    """
    cmfs = cie1964_cmfs(DEFAULT_WAVELENGTHS)
    return cmfs * (255.0 / cmfs.sum(axis=0))


def render_ntire2020_clean(cube, quantize=False):
    """The NTIRE 2020 clean-track RGB of a 400-700 nm cube in about [0, 1] -> (..., 3) in [0, 1].

    rgb = clip(cube @ response / 255, 0, 1). With ``quantize`` the values are truncated
    to 8 bits as the organisers' ``savePNG`` did (``(rgb * 255).astype(uint8)`` floors)
    and returned as multiples of 1/255.
    """
    values, grid = _spectra(cube)
    if grid.size != DEFAULT_WAVELENGTHS.size or not np.allclose(grid, DEFAULT_WAVELENGTHS):
        raise KitError("the NTIRE 2020 clean response is defined on 400-700 nm in 10 nm steps")
    rgb = np.clip(values @ ntire2020_clean_response() / 255.0, 0.0, 1.0)
    if quantize:
        rgb = np.floor(rgb * 255.0) / 255.0
    return rgb.astype(np.float32)


# ----------------------------------------------------------------------------- pix2pix_hs

def render_srgb_alvarez_gila(cube, wavelengths=None):
    """sRGB rendition of Alvarez-Gila et al. (pix2pix_hs, Sec. 3.2, eqs. 8-9) -> (..., 3) in [0, 1].

    1. S <- S - min(S), then S <- S / max(S), over the whole image.
    2. X = K * sum_{400..700} S(lambda) xbar(lambda) dlambda (eq. 8, dlambda = 10 nm),
       CIE 1964 10-degree observer.
    3. K = 100 / sum L(lambda) ybar(lambda) dlambda (eq. 9). The ICVL cubes are radiance:
       the scene illuminant is already inside S and is not known (Sec. 3.1), so S is not
       multiplied by any L and the only consistent L in K is the equal-energy one (L = 1),
       which is also colour-science's default for ``sd_to_XYZ``. K is then a constant
       that maps the flat spectrum S = 1 (the image maximum after step 1) to Y = 100.
    4. XYZ / 100 -> linear sRGB with the IEC 61966-2-1 matrix (no chromatic adaptation
       is mentioned in the paper, so none is applied), clipped to [0, 1], then the sRGB
       gamma (1/2.4 power with the linear toe).
    """
    values, grid = _spectra(cube, wavelengths)
    dtype = np.float32 if values.dtype == np.float32 else np.float64
    shifted = values.astype(dtype) - values.min()
    peak = shifted.max()
    if peak > 0:
        shifted /= peak
    return _xyz_to_srgb(cube_to_xyz(shifted, grid))


# ----------------------------------------------------------------------------- cameras

def nikon_d700_response(wavelengths=None):
    """Nikon D700 sensitivity (Jiang et al., WACV 2013) as (C, 3) R, G, B on ``wavelengths``
    (default 400-700 nm: the 31 rows used by ms_ssfnet; 420-720 nm for Harvard).
    Only the tabulated 10-nm points 400-720 nm are available."""
    grid = DEFAULT_WAVELENGTHS if wavelengths is None else np.asarray(wavelengths, dtype=np.float64)
    table = NIKON_D700_JIANG2013
    rows = [np.flatnonzero(np.isclose(table[:, 0], w)) for w in np.ravel(grid)]
    if any(r.size == 0 for r in rows):
        raise KitError("the Nikon D700 table covers 400-720 nm in 10 nm steps only")
    return table[np.concatenate(rows), 1:].copy()


def render_camera(cube, response, wavelengths=None, normalise="white"):
    """Project spectra on a camera response (C, 3) -> float32 (..., 3).

    normalise:
        'white' (default): each channel is divided by the sum of its response, so the
            channel is a weighted mean of the bands and a flat spectrum of value v gives
            (v, v, v); i.e. the camera is white balanced for equal-energy light and a
            cube in [0, 1] gives RGB in [0, 1]. This is the row normalisation of the
            spectral response used by the HS-RGB fusion methods ms_ssfnet compares with
            (R <- R / sum(R, 2) in the CSU/NNSR/DHSIS simulations).
        'peak': all channels divided by the largest channel sum (keeps the camera's own
            channel ratios; no white balance).
        None: the raw projection sum_lambda S(lambda) R(lambda).
    No clipping: fusion networks see the linear camera signal.
    """
    values, grid = _spectra(cube, wavelengths)
    response = np.asarray(response, dtype=np.float64)
    if response.shape != (grid.size, 3):
        raise KitError(f"camera response must be ({grid.size}, 3) for this cube, got {response.shape}")
    sums = response.sum(axis=0)
    if normalise == "white":
        response = response / sums
    elif normalise == "peak":
        response = response / sums.max()
    elif normalise is not None:
        raise KitError(f"normalise must be 'white', 'peak' or None, got {normalise!r}")
    return (values @ response).astype(np.float32)


def add_sensor_noise(rgb, rng, shot=1000.0, read=2.0, quantize=True):
    """Poisson shot noise plus Gaussian read noise, clipped to [0, 1], optionally 8-bit.

    The same model as the NTIRE 2020 "real world" simulation (``addNoise`` of the
    organisers' SpectralUtils.py), without the mosaic:
    signal 1.0 collects ``shot`` photo-electrons; electrons ~ Poisson(rgb * shot);
    read (dark) noise ~ Normal(0, ``read`` electrons); back to [0, 1] by / shot.

    Args:
        rgb: linear RGB (..., 3) in about [0, 1].
        rng: numpy Generator (or an int seed).
        shot: photo-electrons at full scale (1000 gives SNR ~ 32 at white); None: no shot noise.
        read: read-noise standard deviation in electrons; 0: none.
        quantize: round to 8 bits (multiples of 1/255), as an 8-bit ADC would.
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    rgb = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, None)
    if shot is None:
        scale, electrons = 255.0, rgb * 255.0
    else:
        if shot <= 0:
            raise KitError(f"shot must be a positive number of photo-electrons, got {shot}")
        scale, electrons = float(shot), rng.poisson(rgb * shot).astype(np.float64)
    if read:
        electrons = electrons + rng.normal(0.0, read, size=electrons.shape)
    noisy = np.clip(electrons / scale, 0.0, 1.0)
    if quantize:
        noisy = np.round(noisy * 255.0) / 255.0
    return noisy.astype(np.float32)


# ----------------------------------------------------------------------------- figures

def display_srgb(cube, wavelengths=None, white="D65", peak=None):
    """A displayable sRGB picture of a cube on any band grid -> float32 (..., 3) in [0, 1].

    XYZ with the CIE 1964 10-degree functions sampled at the cube's wavelengths (so a
    420-720 nm Harvard cube is rendered from its real bands), white balanced, exposed
    and gamma encoded.

    Args:
        white: the light in which a grey surface should look neutral. 'D65' (default) for
            radiance images taken in daylight (ICVL, NTIRE, Harvard, the synthetic set);
            'E' for reflectance images (CAVE); any CIE illuminant name or an array on the
            cube's grid; None for no white balance. Its XYZ is adapted to the sRGB white
            (D65, 2 degrees) with the Bradford transform.
        peak: the luminance Y (cube_to_xyz scale) shown as white. Default: the 99th
            percentile of the image's Y, robust to specular highlights. Pass the same
            peak for a ground truth and its reconstruction so that their brightness can
            be compared.
    """
    values, grid = _spectra(cube, wavelengths)
    xyz = cube_to_xyz(values, grid)
    if white is not None:
        source = cube_to_xyz(_light(white, grid), grid)
        xyz = bradford_adapt(xyz, source, _xy_to_xyz(SRGB_WHITE_XY, source[1]))
    if peak is None:
        peak = np.percentile(xyz[..., 1], 99) if xyz.size else 1.0
    if not peak > 0:
        peak = 1.0  # an all-black image stays black
    return _xyz_to_srgb(xyz / peak)
