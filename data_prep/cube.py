"""A hyperspectral cube that carries its band centres and where its numbers came from.

Every reader, renderer and degradation in the kit passes ``HSCube`` objects: the array
alone is ambiguous (is band 0 at 400 nm or at 420 nm? was it divided by 4095 or by
65535?). The cube is float32, height x width x bands, divided by the dataset's nominal
peak so that it lies in about [0, 1]; ``source_peak`` records that divisor so a value
can always be put back on the dataset's own scale (e.g. the 0-4095 ICVL raw counts).

Most datasets of the five papers are sampled at 400-700 nm every 10 nm (31 bands,
``DEFAULT_WAVELENGTHS``); Harvard is sampled at 420-720 nm (``HARVARD_WAVELENGTHS``) and
is kept on that grid rather than relabelled.
"""

import dataclasses

import numpy as np

from common.io import KitError

DEFAULT_WAVELENGTHS = np.arange(400, 701, 10)
"""Band centres (nm) of the 31-band 400-700 nm data (ICVL, NTIRE, CAVE, NUS)."""

HARVARD_WAVELENGTHS = np.arange(420, 721, 10)
"""Band centres (nm) of the Harvard data set (Chakrabarti and Zickler, CVPR 2011)."""


@dataclasses.dataclass
class HSCube:
    """A hyperspectral image with its wavelengths and provenance.

    Attributes:
        data: float32 array (H, W, C), the stored values divided by ``source_peak``.
        wavelengths: (C,) band centres in nm, strictly increasing.
        name: image name inside its dataset (e.g. ``'BGU_HS_00257'``, ``'balloons'``).
        source: the file (or folder) it was read from, or ``'synthetic:...'``.
        source_peak: the divisor applied to the stored values (4095 for ICVL raw
            counts, 65535 for CAVE 16-bit PNGs, 1.0 for data stored as reflectance).
        rgb: optional float32 (H, W, 3) in [0, 1] shipped with the dataset (e.g. the
            NTIRE "clean" PNG), not computed by the kit.
        mask: optional bool (H, W), True where pixels are valid (e.g. Harvard ``lbl``).
        bit_depth: bits per stored sample when the source is an integer image (16 for
            CAVE's 16-bit PNG bands, 8 for its 8-bit scene 'watercolors'), else None.
            A reproduction that quantises like the source (``data_prep.degrade``) or
            uses the n-bit PSNR peak reads it here.
    """

    data: np.ndarray
    wavelengths: np.ndarray
    name: str = "cube"
    source: str = "<memory>"
    source_peak: float = 1.0
    rgb: np.ndarray = None
    mask: np.ndarray = None
    bit_depth: int = None

    def __post_init__(self):
        where = self.source or self.name
        data = np.asarray(self.data)
        if data.ndim != 3:
            raise KitError(f"{where}: a cube must be H x W x bands, got shape {data.shape}")
        if not np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.complexfloating):
            raise KitError(f"{where}: cube values must be real numbers, got dtype {data.dtype}")
        self.data = data.astype(np.float32, copy=False)

        wavelengths = np.asarray(self.wavelengths, dtype=np.float64).ravel()
        if wavelengths.size != self.data.shape[2]:
            raise KitError(
                f"{where}: {self.data.shape[2]} bands but {wavelengths.size} wavelengths")
        if wavelengths.size > 1 and np.any(np.diff(wavelengths) <= 0):
            raise KitError(f"{where}: wavelengths must be strictly increasing")
        self.wavelengths = wavelengths

        if not np.all(np.isfinite(self.data)):
            bad = int(self.data.size - np.count_nonzero(np.isfinite(self.data)))
            raise KitError(f"{where}: cube contains {bad} NaN/Inf value(s)")
        if not (np.isfinite(self.source_peak) and self.source_peak > 0):
            raise KitError(f"{where}: source_peak must be a positive number, got {self.source_peak}")
        self.source_peak = float(self.source_peak)

        if self.bit_depth is not None:
            if int(self.bit_depth) != self.bit_depth or not 1 <= self.bit_depth <= 32:
                raise KitError(f"{where}: bit_depth must be an integer 1-32 or None, got {self.bit_depth!r}")
            self.bit_depth = int(self.bit_depth)

        height, width = self.data.shape[:2]
        if self.rgb is not None:
            rgb = np.asarray(self.rgb, dtype=np.float32)
            if rgb.shape != (height, width, 3):
                raise KitError(
                    f"{where}: RGB image is {rgb.shape} but the cube is {height}x{width}")
            if not np.all(np.isfinite(rgb)):
                raise KitError(f"{where}: RGB image contains NaN/Inf")
            self.rgb = rgb
        if self.mask is not None:
            mask = np.asarray(self.mask)
            if mask.shape != (height, width):
                raise KitError(f"{where}: mask is {mask.shape} but the cube is {height}x{width}")
            self.mask = mask.astype(bool, copy=False)

    @property
    def shape(self):
        return self.data.shape

    @property
    def bands(self):
        return self.data.shape[2]

    def crop(self, top, left, height, width):
        """The window [top:top+height, left:left+width] (e.g. Harvard's top-left 1024x1024
        used by drcnn_sam), with rgb and mask cropped alike."""
        if top < 0 or left < 0 or top + height > self.shape[0] or left + width > self.shape[1]:
            raise KitError(
                f"{self.source}: crop {height}x{width} at ({top}, {left}) exceeds the "
                f"{self.shape[0]}x{self.shape[1]} image")
        window = (slice(top, top + height), slice(left, left + width))
        return dataclasses.replace(
            self,
            data=self.data[window],
            rgb=None if self.rgb is None else self.rgb[window],
            mask=None if self.mask is None else self.mask[window],
        )
