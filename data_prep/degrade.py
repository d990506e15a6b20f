"""Spatial degradations: HR hyperspectral cube -> LR cube, in NumPy (no TensorFlow needed).

drcnn_sam (Sec. 4.1): "we blurred the original images using a Gaussian kernel (standard
deviation = 3), downsampled it by a scale factor (= 2, 3, 4) and then upscaled it to the
desired size using bicubic interpolation" -> ``degrade_sr``.

ms_ssfnet (eq. 1, Sec. 4): X = (Z * D) downsampled by 2^S, with a spatial filter D that
the paper does not give, for x16; plus an intermediate target downsampled x4 ->
``downsample``. The default D here is a Gaussian with sigma = factor / 2: its modulation
transfer at the LR Nyquist frequency, exp(-pi^2 sigma^2 / (2 factor^2)) = 0.29, is the
~0.3 of the Wald protocol commonly used to simulate LR images for fusion. ``kernel='box'``
(the mean of each factor x factor block, the protocol of Akhtar et al. and Lanaras et
al. for Harvard/CAVE fusion) and ``kernel='bicubic'`` (MATLAB ``imresize`` with its
anti-aliasing) are the alternatives; the choice changes absolute scores, so papers'
reports must say which one was used.

All resampling uses one separable scheme, axis by axis:
- output pixel i sits at input coordinate (i + 0.5) / scale - 0.5 (pixel centres
  aligned: MATLAB ``imresize``, TF/Keras ``resize`` with half-pixel centres);
- its value is the kernel-weighted mean of the input samples, weights normalised to 1;
- samples beyond the border are mirrored half-sample symmetrically (d c b a | a b c d |
  d c b a: MATLAB ``imresize``'s and ``scipy.ndimage``'s 'reflect').
Bicubic is Keys' cubic convolution with a = -0.5 (MATLAB, Pillow and TF/Keras
``bicubic``), without anti-aliasing: when shrinking, the kernel is not widened (as
``keras.ops.image.resize(..., antialias=False)``); the Gaussian blur is the anti-aliasing.
A constant image therefore stays exactly constant and nothing depends on TensorFlow.
"""

import math

import numpy as np

from common.io import KitError
from data_prep.cube import HSCube

GAUSSIAN_TRUNCATE = 4.0  # kernel radius = int(4 sigma + 0.5), as scipy.ndimage.gaussian_filter


# ----------------------------------------------------------------------------- kernels

def keys_cubic(x, a=-0.5):
    """Keys (1981) cubic convolution kernel, support [-2, 2]."""
    x = np.abs(x)
    near = (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
    far = a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def _gaussian(sigma):
    radius = int(GAUSSIAN_TRUNCATE * sigma + 0.5)
    return (lambda d: np.exp(-0.5 * (d / sigma) ** 2)), radius


def _box(width):
    return (lambda d: (np.abs(d) < width / 2).astype(np.float64)), width / 2


def _stretched_cubic(factor):
    return (lambda d: keys_cubic(d / factor)), 2.0 * factor


# ----------------------------------------------------------------------------- resampling

def _mirror(index, n):
    """Half-sample symmetric extension of indices into [0, n)."""
    period = np.mod(index, 2 * n)
    return np.where(period < n, period, 2 * n - 1 - period)


def _axis_weights(n_in, n_out, scale, kernel, support):
    """(taps, weights), each (n_out, T): input indices and normalised weights per output."""
    centres = (np.arange(n_out) + 0.5) / scale - 0.5
    reach = int(math.ceil(support))
    taps = np.floor(centres)[:, None].astype(np.int64) + np.arange(-reach, reach + 2)[None, :]
    distance = taps - centres[:, None]
    weights = np.where(np.abs(distance) <= support, kernel(distance), 0.0)
    weights /= weights.sum(axis=1, keepdims=True)
    return _mirror(taps, n_in), weights


def _apply_axis(image, axis, taps, weights):
    """Contract one axis with the sparse (n_out x n_in) weight matrix (duplicated mirrored
    taps are summed)."""
    from scipy import sparse

    n_out, n_in = taps.shape[0], image.shape[axis]
    rows = np.repeat(np.arange(n_out), taps.shape[1])
    matrix = sparse.csr_matrix((weights.ravel(), (rows, taps.ravel())), shape=(n_out, n_in))
    moved = np.moveaxis(image, axis, 0)
    out = matrix @ moved.reshape(n_in, -1).astype(np.float64, copy=False)
    return np.moveaxis(out.reshape((n_out,) + moved.shape[1:]), 0, axis)


def _resample(image, size, scale, kernel, support):
    """Resample axes 0 and 1 of ``image`` to ``size`` with the given kernel and scale."""
    for axis in (0, 1):
        taps, weights = _axis_weights(image.shape[axis], size[axis], scale[axis], kernel, support)
        image = _apply_axis(image, axis, taps, weights)
    return image


def _as_image(hr):
    image = hr.data if isinstance(hr, HSCube) else np.asarray(hr)
    if image.ndim not in (2, 3):
        raise KitError(f"expected an image H x W or H x W x C, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise KitError(f"empty image of shape {image.shape}")
    return image


def _check_factor(factor):
    if int(factor) != factor or factor < 1:
        raise KitError(f"the scale factor must be a positive integer, got {factor}")
    return int(factor)


# ----------------------------------------------------------------------------- public

def gaussian_blur(image, sigma):
    """Gaussian blur of each band (axes 0, 1), same size; radius int(4 sigma + 0.5),
    mirrored borders. Equals scipy.ndimage.gaussian_filter(image, (sigma, sigma, 0),
    mode='reflect')."""
    image = _as_image(image)
    if not sigma > 0:
        raise KitError(f"sigma must be positive, got {sigma}")
    kernel, support = _gaussian(sigma)
    return _resample(image, image.shape[:2], (1.0, 1.0), kernel, support).astype(np.float32)


def bicubic_resize(image, size, scale=None):
    """Bicubic resize (Keys a = -0.5, no anti-aliasing, mirrored borders) of axes 0, 1.

    Args:
        image: (H, W) or (H, W, C).
        size: (height, width) of the output.
        scale: output/input coordinate scale per axis (number or pair). Default
            size / input size. MATLAB's ``imresize(A, s)`` maps coordinates with s
            itself even when the output size was rounded up; pass it to do the same.
    """
    image = _as_image(image)
    size = (int(size[0]), int(size[1]))
    if min(size) < 1:
        raise KitError(f"output size must be positive, got {size}")
    if scale is None:
        scale = (size[0] / image.shape[0], size[1] / image.shape[1])
    elif np.isscalar(scale):
        scale = (float(scale), float(scale))
    return _resample(image, size, scale, keys_cubic, 2.0).astype(np.float32)


def downsample(hr, factor, kernel="gaussian", sigma=None):
    """LR image (H // factor, W // factor, C): filter D, then one sample per factor x factor block.

    Args:
        hr: (H, W) or (H, W, C) array or HSCube.
        factor: integer (16 and 4 for ms_ssfnet).
        kernel: 'gaussian' (default, sigma = factor / 2 unless given), 'box' (block mean),
            or 'bicubic' (MATLAB imresize with anti-aliasing: Keys kernel widened by factor).
    LR pixel i is centred on HR coordinate (i + 0.5) * factor - 0.5, so LR pixel i covers
    HR pixels [i * factor, (i + 1) * factor). Rows/columns beyond the last whole block
    are ignored: crop the HR image to a multiple of ``factor`` to keep the pair aligned.
    """
    image = _as_image(hr)
    factor = _check_factor(factor)
    size = (image.shape[0] // factor, image.shape[1] // factor)
    if min(size) < 1:
        raise KitError(f"image {image.shape[:2]} is smaller than the factor {factor}")
    if kernel == "gaussian":
        sigma = factor / 2.0 if sigma is None else sigma
        if not sigma > 0:
            raise KitError(f"sigma must be positive, got {sigma}")
        weight, support = _gaussian(sigma)
    elif kernel == "box":
        weight, support = _box(factor)
    elif kernel == "bicubic":
        weight, support = _stretched_cubic(factor)
    else:
        raise KitError(f"kernel must be 'gaussian', 'box' or 'bicubic', got {kernel!r}")
    scale = (1.0 / factor, 1.0 / factor)
    return _resample(image, size, scale, weight, support).astype(np.float32)


def degrade_sr(hr, scale, sigma=3.0):
    """drcnn_sam's LR input at the HR size: Gaussian blur (sigma 3), downsample by
    ``scale``, bicubic upsample by ``scale``.

    The blur and the decimation are done in one pass: the blurred image is evaluated at
    the LR pixel centres (i + 0.5) * scale - 0.5 (for odd scales that is exactly
    gaussian_filter followed by taking every scale-th pixel from (scale - 1) / 2). The LR
    image has ceil(H / scale) x ceil(W / scale) pixels, as MATLAB imresize(A, 1/scale);
    the bicubic upsampling maps coordinates with the same factor and returns H x W.
    """
    image = _as_image(hr)
    scale = _check_factor(scale)
    if not sigma > 0:
        raise KitError(f"sigma must be positive, got {sigma}")
    weight, support = _gaussian(sigma)
    low = (math.ceil(image.shape[0] / scale), math.ceil(image.shape[1] / scale))
    lr = _resample(image, low, (1.0 / scale, 1.0 / scale), weight, support)
    return bicubic_resize(lr, image.shape[:2], scale=scale)
