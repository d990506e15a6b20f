"""The embedded default dataset: physically grounded synthetic hyperspectral radiance cubes.

No dataset can be downloaded where the kit runs by default, so every paper's quick profile
trains and evaluates on scenes the kit renders itself. They are built to behave like
natural hyperspectral images (ICVL, CAVE, Harvard), not like noise, from real spectra:

radiance(x, y, lambda) = shading(x, y) * texture(x, y) * reflectance(x, y, lambda)
                         * illumination(x, y, lambda)

- Layout: a dead-leaves model (Matheron 1968; Lee, Mumford & Huang 2001): occluding discs,
  ellipses and rotated rectangles, dropped front to back until the image is covered, with
  radii drawn from a power law p(r) ~ r^-3 (the scale-invariant choice that reproduces the
  1/f^2 power spectrum of natural images).
- Reflectance: each scene draws a small palette of materials; a material is a convex
  mixture of 1-3 measured reflectance spectra shipped by colour-science (ColorChecker
  BabelColor / Ohta, the PMC chart, the CIE 2024 test colour samples, the NIST CQS 9.0
  samples and the 190 rawtoaces training patches), clipped to [0, 1]. Within each shape
  the material blends smoothly (a linear ramp) towards a second palette material, so
  surfaces vary spectrally as real objects do.
- Illumination: a key light, either CIE daylight (D series, CCT 4000-10000 K) or an
  artificial source (CIE A, fluorescent FL2/FL7/FL11, LED-B3/B5/V2), plus, in most
  scenes, an ambient fill of another daylight (skylight filling the shadows). The key light
  is blocked by soft shadows, so shadowed regions are dimmer and take the fill's colour.
- Shading: per-object brightness (Lambertian facets at different orientations), a smooth
  low-frequency illumination gradient, and a small multiplicative fractal texture (1/f
  noise) per object.
- Optics: a Gaussian point spread function (sigma 0.7 px), then per-scene exposure so the
  brightest pixel is 0.9-1.0 (``source_peak`` 1.0: the data are already on [0, 1]).

Smooth spectra (daylight, CIE A, reflectances) are sampled at the band centres 400, 410,
..., 700 nm. Line spectra (fluorescent, LED) are averaged over each 10 nm band, as a camera
with 10 nm bands would integrate them, so a mercury line between two centres is not lost.
No sensor noise is added to the cubes (the renderers add it to RGB where a paper wants it).

Scene ``i`` of seed ``s`` is drawn from ``numpy.random.default_rng([s, i])``, so any scene
can be generated on its own and the dataset is identical on every machine. The cubes are
cached in one HDF5 file per (seed, n_scenes, size, generator version).
"""

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from common.io import KitError, atomic_path
from data_prep.cube import DEFAULT_WAVELENGTHS, HSCube

#: Bump when the generator changes: cached files of another version are rebuilt.
GENERATOR_VERSION = 1

WAVELENGTHS = DEFAULT_WAVELENGTHS.astype(np.float64)  # 400, 410, ..., 700 nm

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE_DIR = REPO_ROOT / "cache" / "synthetic"

DAYLIGHT_CCT_RANGE = (4000.0, 10000.0)
#: Artificial key lights, by their colour-science ``SDS_ILLUMINANTS`` names.
ARTIFICIAL_ILLUMINANTS = ("A", "FL2", "FL7", "FL11", "LED-B3", "LED-B5", "LED-V2")
#: Spectra with narrow lines, averaged over each band rather than sampled at its centre.
LINE_SPECTRA = ("FL", "LED")

PSF_SIGMA = 0.7  # pixels


# ----------------------------------------------------------------------------- spectra
@functools.lru_cache(maxsize=None)
def reflectance_library():
    """Measured reflectances shipped by colour-science, sampled at 400..700 nm / 10 nm.

    Returns ``(names, spectra)``: a tuple of "set: patch" names and an (M, 31) float64
    array clipped to [0, 1] (a few rawtoaces patches exceed 1 slightly, by fluorescence).
    """
    import colour
    from colour.characterisation import read_training_data_rawtoaces_v1
    from colour.quality import SDS_TCS, SDS_VS

    sets = {
        "ColorChecker BabelColor": colour.SDS_COLOURCHECKERS["BabelColor Average"],
        "ColorChecker Ohta": colour.SDS_COLOURCHECKERS["ColorChecker N Ohta"],
        "PMC": colour.SDS_COLOURCHECKERS["PMC"],
        "CIE 2024 TCS": SDS_TCS["CIE 2024"],
        "NIST CQS 9.0": SDS_VS["NIST CQS 9.0"],
    }
    names, spectra = [], []
    for set_name, sds in sets.items():
        for patch, sd in sds.items():
            names.append(f"{set_name}: {patch}")
            spectra.append(sd[WAVELENGTHS])
    training = read_training_data_rawtoaces_v1()  # 190 patches, MultiSpectralDistributions
    values = np.asarray(training[WAVELENGTHS], dtype=np.float64).T
    names += [f"rawtoaces training: {label}" for label in training.labels]
    spectra += list(values)
    spectra = np.clip(np.asarray(spectra, dtype=np.float64), 0.0, 1.0)
    spectra.setflags(write=False)  # shared by every call
    return tuple(names), spectra


def _band_average(sd):
    """Mean of a spectral distribution over each 10 nm band centred on WAVELENGTHS.

    Trapezoidal mean of the 1 nm interpolation over [centre - 5, centre + 5] nm.
    """
    offsets = np.arange(-5.0, 5.5, 1.0)
    weights = np.ones(offsets.size)
    weights[[0, -1]] = 0.5
    fine = WAVELENGTHS[:, None] + offsets[None, :]
    values = np.interp(fine, np.asarray(sd.wavelengths), np.asarray(sd.values))
    return values @ weights / weights.sum()


@functools.lru_cache(maxsize=None)
def _artificial_spd(name):
    import colour

    sd = colour.SDS_ILLUMINANTS[name]
    spd = _band_average(sd) if name.startswith(LINE_SPECTRA) else np.asarray(sd[WAVELENGTHS], np.float64)
    spd.setflags(write=False)  # cached
    return spd


def daylight_spd(cct):
    """CIE daylight (D series) relative SPD at the 31 band centres, for a CCT in kelvin.

    The chromaticity follows CIE 15: the nominal CCT is scaled by 1.4388 / 1.4380 (the
    revised second radiation constant), as for D65 = 6504 K.
    """
    import colour

    xy = colour.temperature.CCT_to_xy_CIE_D(cct * 1.4388 / 1.4380)
    return np.asarray(colour.sd_CIE_illuminant_D_series(xy)[WAVELENGTHS], dtype=np.float64)


def illuminant_spd(spec):
    """SPD (31,) for ``spec``: a CCT in kelvin (CIE daylight) or an artificial name."""
    if isinstance(spec, str):
        if spec not in ARTIFICIAL_ILLUMINANTS:
            raise KitError(
                f"synthetic: unknown illuminant {spec!r}; use a daylight CCT in kelvin "
                f"or one of {', '.join(ARTIFICIAL_ILLUMINANTS)}"
            )
        return _artificial_spd(spec)
    cct = float(spec)
    if not DAYLIGHT_CCT_RANGE[0] <= cct <= 25000.0:
        raise KitError(f"synthetic: daylight CCT {cct} K is outside 4000-25000 K")
    return daylight_spd(cct)


def _unit_mean(spd):
    return spd / spd.mean()


# ----------------------------------------------------------------------------- layout
def fractal_noise(rng, shape, beta):
    """Gaussian random field with power spectrum ~ 1/f^beta, zero mean, unit variance.

    beta = 2 is the spectrum of natural images; larger beta gives smoother fields (used
    for shading and shadows), smaller beta rougher ones (texture). Periodic, float32.
    """
    h, w = shape
    f = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :])
    f[0, 0] = 1.0
    amplitude = f ** (-beta / 2.0)
    amplitude[0, 0] = 0.0  # zero mean
    noise = rng.standard_normal((2, h, w // 2 + 1))
    field = np.fft.irfft2(amplitude * (noise[0] + 1j * noise[1]), s=(h, w))
    return (field / field.std()).astype(np.float32)


def _power_law_radii(rng, n, r_min, r_max, alpha):
    """n radii with density ~ r^-alpha on [r_min, r_max] (inverse transform sampling)."""
    a, b = r_min ** (1.0 - alpha), r_max ** (1.0 - alpha)
    return (a + rng.random(n) * (b - a)) ** (1.0 / (1.0 - alpha))


@dataclass
class Leaves:
    """A dead-leaves layout: ``labels`` (H, W) int32 indexes the per-shape arrays."""

    labels: np.ndarray
    centre_x: np.ndarray
    centre_y: np.ndarray
    radius: np.ndarray

    @property
    def n_shapes(self):
        return self.radius.size


def dead_leaves(rng, size, r_min=None, r_max=None, alpha=3.0, coverage=0.995, max_shapes=20000):
    """Occluding discs, ellipses and rotated rectangles with power-law radii.

    Shapes are dropped front to back: each one only claims pixels no earlier (nearer)
    shape owns, and dropping stops at the first shape after which ``coverage`` of the
    image is owned. The pixels left over belong to a last, image-sized backdrop shape.
    Centres are uniform over the image grown by the shape's radius, so shapes are cut by
    the border as in a photograph. Shapes are drawn and painted 512 at a time (see
    ``_paint_batch``), with the same result as painting them one by one.
    """
    r_min = max(1.5, size / 64.0) if r_min is None else r_min
    r_max = size / 2.0 if r_max is None else r_max
    labels = np.full((size, size), -1, dtype=np.int32)
    free = size * size
    target_free = (1.0 - coverage) * size * size
    params = []
    n_shapes = 0
    while free > target_free and n_shapes < max_shapes:
        batch = min(512, max_shapes - n_shapes)
        r = _power_law_radii(rng, batch, r_min, r_max, alpha)
        shape = {
            "x": rng.uniform(-r, size + r), "y": rng.uniform(-r, size + r), "r": r,
            "kind": rng.integers(0, 3, batch),  # 0 disc, 1 ellipse, 2 rectangle
            "aspect": rng.uniform(0.3, 1.0, batch), "theta": rng.uniform(0.0, np.pi, batch),
        }
        used, free = _paint_batch(labels, n_shapes, shape, free, target_free)
        params.append({k: v[:used] for k, v in shape.items()})
        n_shapes += used
    labels[labels < 0] = n_shapes  # the backdrop
    cx = np.concatenate([p["x"] for p in params] + [[size / 2.0]])
    cy = np.concatenate([p["y"] for p in params] + [[size / 2.0]])
    radius = np.concatenate([p["r"] for p in params] + [[size / np.sqrt(2.0)]])
    return Leaves(labels, cx, cy, radius)


def _inside(kind, aspect, theta, r, dx, dy):
    """Membership of offsets (dx, dy) from the centre; arrays broadcast over shapes."""
    a = np.where(kind == 2, r / np.sqrt(1.0 + aspect**2), r)  # rectangles fit in r
    b = np.where(kind == 0, a, a * aspect)
    c, s = np.cos(theta), np.sin(theta)
    u = (dx * c + dy * s) / a
    v = (dy * c - dx * s) / b
    return np.where(kind == 2, np.maximum(np.abs(u), np.abs(v)) <= 1.0, u * u + v * v <= 1.0)


def _column(values):
    """Per-shape values as float32 (n, 1, 1), to broadcast over each shape's window."""
    return np.asarray(values, np.float32)[:, None, None]


def _shape_pixels(size, x, y, r, kind, aspect, theta, half):
    """Flat pixel indices and shape numbers of all pixels inside a group of shapes.

    Every shape is tested over a square window of half-width ``half`` >= its radius around
    its centre, all shapes at once (one broadcast NumPy expression).
    """
    width = 2 * int(math.ceil(half)) + 2
    offsets = np.arange(width)
    gx = np.floor(x - half).astype(np.int64)[:, None, None] + offsets[None, None, :]
    gy = np.floor(y - half).astype(np.int64)[:, None, None] + offsets[None, :, None]
    dx = (gx + 0.5).astype(np.float32) - _column(x)
    dy = (gy + 0.5).astype(np.float32) - _column(y)
    inside = _inside(kind[:, None, None], _column(aspect), _column(theta), _column(r), dx, dy)
    inside &= (gx >= 0) & (gx < size) & (gy >= 0) & (gy < size)
    k, iy, ix = np.nonzero(inside)
    return (gy[k, iy, 0] * size + gx[k, 0, ix]), k


#: Shapes with radii up to these half-widths are rasterised together, one window size each.
_GROUP_HALF_WIDTHS = (4.0, 6.0, 9.0, 13.0, 20.0)


def _paint_batch(labels, first, shape, free, target_free):
    """Paint a batch of shapes front to back; return (shapes used, free pixels left).

    Equivalent to painting them one at a time: a free pixel goes to the lowest-numbered
    shape covering it, and the batch is cut after the shape that reaches the coverage.
    Shapes of similar radius are rasterised together; the few large ones one by one.
    """
    size = labels.shape[0]
    flat = labels.reshape(-1)
    names = ("x", "y", "r", "kind", "aspect", "theta")
    r = shape["r"]
    groups, lower = [], 0.0
    for half in _GROUP_HALF_WIDTHS:
        groups.append((np.nonzero((r > lower) & (r <= half))[0], half))
        lower = half
    groups += [(np.array([i]), r[i]) for i in np.nonzero(r > lower)[0]]
    pixels, owners = [], []
    for members, half in groups:
        if members.size:
            p, k = _shape_pixels(size, *(shape[n][members] for n in names), half=half)
            pixels.append(p), owners.append(members[k])
    pixels, owners = np.concatenate(pixels), np.concatenate(owners)
    keep = flat[pixels] < 0
    pixels, owners = pixels[keep], owners[keep]
    order = np.lexsort((owners, pixels))  # by pixel, then nearest shape first
    pixels, owners = pixels[order], owners[order]
    first_hit = np.ones(pixels.size, bool)
    first_hit[1:] = pixels[1:] != pixels[:-1]
    pixels, owners = pixels[first_hit], owners[first_hit]
    n = r.size
    free_after = free - np.cumsum(np.bincount(owners, minlength=n))
    done = np.nonzero(free_after <= target_free)[0]
    used = int(done[0]) + 1 if done.size else n
    claimed = owners < used
    flat[pixels[claimed]] = first + owners[claimed]
    return used, int(free_after[used - 1])


# ----------------------------------------------------------------------------- scenes
@dataclass
class SyntheticScene:
    """One generated scene: ``radiance`` (H, W, 31) float32 on [0, 1] (the dataset cube),
    ``reflectance`` (H, W, 31) float32 before shading and optics, and ``info`` (a JSON-able
    dict: key and fill lights, fill ratio, shadows, number of shapes and materials,
    exposure)."""

    radiance: np.ndarray
    reflectance: np.ndarray
    info: dict = field(default_factory=dict)


def _as_rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _draw_lights(rng, illuminant):
    """(key spd, fill spd, info) with both SPDs scaled to unit mean over 400-700 nm."""
    if illuminant is not None:
        spd = _unit_mean(illuminant_spd(illuminant))
        name = illuminant if isinstance(illuminant, str) else f"D{float(illuminant):.0f}K"
        return spd, spd, {"key_light": name, "fill_light": name}
    if rng.random() < 0.7:
        cct = rng.uniform(*DAYLIGHT_CCT_RANGE)
        key_name, key = f"D{cct:.0f}K", daylight_spd(cct)
        sky_low = max(cct, 6500.0)
    else:
        key_name = ARTIFICIAL_ILLUMINANTS[rng.integers(len(ARTIFICIAL_ILLUMINANTS))]
        key, sky_low = _artificial_spd(key_name), 5000.0
    if rng.random() < 0.7:  # skylight (or a window) fills the shadows
        sky = rng.uniform(sky_low, DAYLIGHT_CCT_RANGE[1])
        fill_name, fill = f"D{sky:.0f}K", daylight_spd(sky)
    else:
        fill_name, fill = key_name, key
    return _unit_mean(key), _unit_mean(fill), {"key_light": key_name, "fill_light": fill_name}


def _palette(rng, library, n_materials):
    """n_materials convex mixtures of 1-3 library spectra (Dirichlet weights)."""
    picks = rng.integers(0, library.shape[0], (n_materials, 3))
    weights = rng.dirichlet(np.ones(3), n_materials)
    n_used = rng.integers(1, 4, n_materials)
    weights[np.arange(3)[None, :] >= n_used[:, None]] = 0.0
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("mk,mkc->mc", weights, library[picks])


def generate_scene(seed, size=256, *, illuminant=None, reflectances=None):
    """Render one synthetic radiance scene (see the module docstring for the model).

    seed: an int, a sequence of ints or a ``numpy.random.Generator``.
    illuminant: None (draw key and fill lights at random), or force one light for the
        whole scene: a daylight CCT in kelvin or a name in ``ARTIFICIAL_ILLUMINANTS``;
        every pixel's spectrum is then reflectance x that SPD x a scalar.
    reflectances: (M, 31) array replacing the measured library (e.g. flat grey spectra).
    """
    rng = _as_rng(seed)
    library = reflectance_library()[1] if reflectances is None else np.asarray(reflectances, np.float64)
    if library.ndim != 2 or library.shape[1] != WAVELENGTHS.size:
        raise KitError(f"synthetic: reflectances must be (M, 31), got {library.shape}")
    if size < 8:
        raise KitError(f"synthetic: scene size must be at least 8 pixels, got {size}")

    key, fill, info = _draw_lights(rng, illuminant)
    leaves = dead_leaves(rng, size)
    n = leaves.n_shapes

    # Materials: a Zipf-weighted palette, each shape ramping from one material to another.
    n_materials = int(rng.integers(6, 17))
    palette = _palette(rng, library, n_materials).astype(np.float32)
    zipf = 1.0 / np.arange(1, n_materials + 1)
    first = rng.choice(n_materials, n, p=zipf / zipf.sum())
    second = rng.integers(0, n_materials, n)
    ramp = np.where(rng.random(n) < 0.5, 0.0, rng.uniform(0.2, 1.0, n))
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    facet = rng.uniform(0.35, 1.0, n)  # Lambertian cosine of each surface
    roughness = rng.uniform(0.0, 0.12, n)

    lab = leaves.labels
    grid = np.arange(size, dtype=np.float32) + 0.5
    along = ((grid[None, :] - leaves.centre_x[lab]) * np.cos(phi)[lab]
             + (grid[:, None] - leaves.centre_y[lab]) * np.sin(phi)[lab]) / (2.0 * leaves.radius[lab])
    t = np.clip(0.5 + ramp[lab] * along, 0.0, 1.0).astype(np.float32)[..., None]
    reflectance = palette[first[lab]] * (1.0 - t) + palette[second[lab]] * t

    # Achromatic factors: facet orientation, texture, low-frequency shading gradient.
    texture = np.exp(roughness[lab] * fractal_noise(rng, (size, size), 1.5))
    psi, gradient = rng.uniform(0.0, 2.0 * np.pi), rng.uniform(0.0, 0.6)
    ramp_xy = (grid[None, :] / size - 0.5) * math.cos(psi) + (grid[:, None] / size - 0.5) * math.sin(psi)
    shading = np.exp(0.25 * fractal_noise(rng, (size, size), 4.0)) * (1.0 + gradient * ramp_xy)
    scalar = (facet[lab] * texture * shading).astype(np.float32)

    # Soft cast shadows block the key light; the fill light reaches everywhere.
    shadowed = rng.random() < 0.6
    if shadowed:
        from scipy.special import expit, ndtri

        fraction = rng.uniform(0.15, 0.45)
        occluders = fractal_noise(rng, (size, size), 3.5)  # smooth field, thresholded
        key_visible = expit((occluders - ndtri(fraction)) / 0.1).astype(np.float32)
    else:
        key_visible = np.ones((size, size), np.float32)
    fill_ratio = rng.uniform(0.1, 0.35)

    illumination = (key_visible[..., None] * key.astype(np.float32)
                    + np.float32(fill_ratio) * fill.astype(np.float32))
    radiance = reflectance * illumination
    radiance *= scalar[..., None]
    radiance = ndimage.gaussian_filter(radiance, sigma=(PSF_SIGMA, PSF_SIGMA, 0.0), truncate=3.0)
    exposure = rng.uniform(0.9, 1.0)
    radiance *= np.float32(exposure / radiance.max())
    np.clip(radiance, 0.0, 1.0, out=radiance)
    info.update(
        fill_ratio=round(float(fill_ratio), 4), shadows=bool(shadowed), n_shapes=int(n),
        n_materials=n_materials, exposure=round(float(exposure), 4),
    )
    return SyntheticScene(radiance.astype(np.float32, copy=False), reflectance, info)


# ----------------------------------------------------------------------------- dataset
def split_sizes(n_scenes, n_test=None):
    """(train, val, test) counts: 1/8 of the scenes for validation (at least one), ``n_test``
    for testing (default: as many as validate), the rest for training; 32 scenes give
    24 / 4 / 4, and 36 scenes with ``n_test=8`` give 24 / 4 / 8 (the same 24 training
    and 4 validation scenes, 4 more test scenes)."""
    if n_scenes < 3:
        raise KitError(f"synthetic: need at least 3 scenes for train/val/test, got {n_scenes}")
    n_val = max(1, round(n_scenes / 8))
    n_test = n_val if n_test is None else int(n_test)
    if n_test < 1 or n_scenes - n_val - n_test < 1:
        raise KitError(f"synthetic: {n_scenes} scenes cannot hold {n_val} validation and {n_test} test "
                       "scenes and still train on one; use more scenes or fewer test scenes")
    return n_scenes - n_val - n_test, n_val, n_test


class SyntheticDataset:
    """The kit's default dataset, with the same interface as the real-dataset readers.

    Scenes are named ``synth_000``, ``synth_001``, ...; scene ``i`` is
    ``generate_scene(numpy.random.default_rng([seed, i]), size).radiance``. Splits:
    the first scenes train, the next 1/8 validate, the last ``n_test`` (default 1/8) test
    (``split_sizes``); the scenes are independent draws, so a split by index is a random
    split. More test scenes make the report's paired verdicts possible (it needs 6).

    The cubes are generated all at once on the first ``load`` and cached in
    ``cache_dir/synthetic_seed<seed>_n<n>_s<size>.h5`` (default ``cache/synthetic`` under
    the repository). The file is written through a temporary name and marked complete
    last; a file that is incomplete, unreadable, or made with other parameters or another
    generator version is rebuilt.
    """

    name = "synthetic"
    root = None

    def __init__(self, n_scenes=32, size=256, seed=0, cache_dir=None, n_test=None):
        if int(n_scenes) != n_scenes or n_scenes < 3:
            raise KitError(f"synthetic: n_scenes must be an integer >= 3, got {n_scenes}")
        if int(size) != size or size < 8:
            raise KitError(f"synthetic: size must be an integer >= 8, got {size}")
        if n_test is not None and int(n_test) != n_test:
            raise KitError(f"synthetic: n_test must be an integer, got {n_test}")
        self.n_scenes, self.size, self.seed = int(n_scenes), int(size), int(seed)
        self.n_test = None if n_test is None else int(n_test)
        split_sizes(self.n_scenes, self.n_test)  # refuses a split with nothing to train on
        self.cache_dir = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
        self.names = [f"synth_{i:03d}" for i in range(self.n_scenes)]
        self.wavelengths = WAVELENGTHS.copy()

    @property
    def cache_path(self):
        return self.cache_dir / f"synthetic_seed{self.seed}_n{self.n_scenes}_s{self.size}.h5"

    def _params(self):
        return {"generator_version": GENERATOR_VERSION, "seed": self.seed,
                "n_scenes": self.n_scenes, "size": self.size}

    def split(self, which):
        """Scene names of 'train', 'val' or 'test' (see ``split_sizes``)."""
        n_train, n_val, _ = split_sizes(self.n_scenes, self.n_test)
        bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val),
                  "test": (n_train + n_val, self.n_scenes)}
        if which not in bounds:
            raise KitError(f"synthetic: unknown split {which!r}; use 'train', 'val' or 'test'")
        lo, hi = bounds[which]
        return self.names[lo:hi]

    def describe(self):
        n_train, n_val, n_test = split_sizes(self.n_scenes, self.n_test)
        return (f"synthetic: {self.n_scenes} scenes of {self.size}x{self.size}x31 "
                f"(400-700 nm, 10 nm), seed {self.seed}, generator v{GENERATOR_VERSION}; "
                f"dead-leaves layouts, measured reflectances under CIE daylight/artificial "
                f"light; split train/val/test {n_train}/{n_val}/{n_test}; "
                f"cache {self.cache_path}")

    def __repr__(self):
        return (f"SyntheticDataset(n_scenes={self.n_scenes}, size={self.size}, seed={self.seed}"
                + (f", n_test={self.n_test})" if self.n_test is not None else ")"))

    def load(self, name):
        """The scene ``name`` as an ``HSCube`` (float32 radiance on [0, 1])."""
        index = self._index(name)
        import h5py

        path = self.ensure_cache()
        try:
            with h5py.File(path, "r") as f:
                data = f["radiance"][index]
        except OSError as err:
            raise KitError(f"{path}: cannot read synthetic scene {name} ({err}); delete the file") from err
        return HSCube(data=data, wavelengths=self.wavelengths, name=name,
                      source=f"synthetic:seed={self.seed},scene={index}", source_peak=1.0)

    def scene_info(self, name):
        """The generator's record of scene ``name`` (lights, shapes, exposure) as a dict."""
        index = self._index(name)
        import h5py

        with h5py.File(self.ensure_cache(), "r") as f:
            return json.loads(f["info"][index])

    def _index(self, name):
        try:
            return self.names.index(name)
        except ValueError:
            raise KitError(
                f"synthetic: no scene named {name!r} (names are {self.names[0]} .. {self.names[-1]})"
            ) from None

    def cache_is_valid(self):
        """True when the cache file exists, is complete and matches these parameters."""
        import h5py

        try:
            with h5py.File(self.cache_path, "r") as f:
                attrs = dict(f.attrs)
                shape_ok = f["radiance"].shape == (self.n_scenes, self.size, self.size, 31)
        except (OSError, KeyError):
            return False
        return (shape_ok and bool(attrs.get("complete", False))
                and all(attrs.get(k) == v for k, v in self._params().items()))

    def ensure_cache(self):
        """Build the HDF5 cache unless a valid one exists; return its path."""
        if not self.cache_is_valid():
            self._build_cache()
        return self.cache_path

    def _build_cache(self):
        import h5py

        shape = (self.n_scenes, self.size, self.size, WAVELENGTHS.size)
        with atomic_path(self.cache_path) as tmp, h5py.File(tmp, "w") as f:
            radiance = f.create_dataset("radiance", shape=shape, dtype="float32",
                                        chunks=(1,) + shape[1:])
            info = f.create_dataset("info", shape=(self.n_scenes,), dtype=h5py.string_dtype())
            f.create_dataset("wavelengths", data=WAVELENGTHS)
            for i in range(self.n_scenes):
                scene = generate_scene(np.random.default_rng([self.seed, i]), self.size)
                radiance[i] = scene.radiance
                info[i] = json.dumps(scene.info)
            for key, value in self._params().items():
                f.attrs[key] = value
            f.attrs["complete"] = True  # written last: a file without it is rebuilt
