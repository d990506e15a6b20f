"""Full-image inference for fully convolutional models.

Two ways to run a trained network on a whole image:

- ``predict_full``: one forward pass over the whole image, as unet_ms and ms_ssfnet do.
  Sides that are not a multiple of the network's total down-sampling factor are padded
  (reflect by default, so the border sees image-like content) and the output is cropped
  back to the input size. An image larger than ``max_inference_pixels()`` (4 Mpixel by
  default, ``KIT_MAX_INFER_PIXELS`` to change it) goes through in overlapping tiles
  instead, so memory does not grow with the image size.
- ``predict_tiled``: fixed-size tiles, for papers whose released test script tiles
  (rdab_coordconv: 64x64 tiles, edge tiles zero-padded) and for images too large for
  memory. With ``overlap > 0`` and ``blend=True`` neighbouring tiles overlap and are
  averaged with a separable ramp window, which removes the seams of hard tiling. With a
  ``margin`` as well, the ``margin`` pixels along a tile's inner edges get no weight (the
  "overlap-tile" strategy): a network whose receptive field reaches at most ``margin``
  pixels gives exactly its one-pass output.
"""

import math
import os

import numpy as np

from common.io import KitError


def pad_to_multiple(x, multiple, mode="reflect"):
    """Pad an HxWxC array at the bottom/right so both sides are multiples of ``multiple``."""
    height, width = x.shape[:2]
    pad_h = (-height) % multiple
    pad_w = (-width) % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    if mode == "reflect" and (pad_h >= height or pad_w >= width):
        mode = "symmetric"  # reflect needs the pad to be shorter than the side
    return np.pad(x, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode)


def forward(model, batch):
    """One forward pass of ``model`` over ``batch`` (an array or a dict of arrays) as float32.

    Under ``--distribute`` with N replicas the batch is split between them: it is padded
    to a multiple of N with copies of its last sample (JAX cannot split a batch of one
    image between two devices) and run through ``predict`` (Keras 3.15's
    ``predict_on_batch`` under a TensorFlow ``MirroredStrategy`` returns every replica's
    output for the whole batch); the padding's outputs are dropped.
    """
    from common import distribute

    replicas = distribute.active().replicas
    if replicas == 1:
        return np.asarray(model.predict_on_batch(batch), dtype=np.float32)
    arrays = batch if isinstance(batch, dict) else {None: batch}
    n = len(next(iter(arrays.values())))
    pad = (-n) % replicas
    padded = {k: np.concatenate([a, np.repeat(a[-1:], pad, axis=0)]) for k, a in arrays.items()}
    out = model.predict(padded if isinstance(batch, dict) else padded[None], batch_size=n + pad, verbose=0)
    if isinstance(out, (list, tuple)):
        return [np.asarray(o[:n], dtype=np.float32) for o in out]
    return np.asarray(out[:n], dtype=np.float32)


MAX_PIXELS_ENV = "KIT_MAX_INFER_PIXELS"
DEFAULT_MAX_PIXELS = 2048 * 2048
TILE_MARGIN = 48  # > the receptive field of drcnn_sam (42 pixels each way) and its baselines
TILE_RAMP = 32  # pixels over which neighbouring tiles cross-fade


def max_inference_pixels():
    """The largest image (in pixels, after padding) ``predict_full`` runs in one pass:
    ``$KIT_MAX_INFER_PIXELS`` if set, else 4 Mpixel. A 26.7 M-weight U-Net (unet_ms)
    needs a few kB of activations per pixel, so 4 Mpixel is several GB to tens of GB:
    lower the limit on a small GPU, raise it on a large one."""
    text = os.environ.get(MAX_PIXELS_ENV)
    if text is None:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise KitError(f"{MAX_PIXELS_ENV}={text!r}: expected a positive number of pixels")
    return value


def predict_full(model, x, multiple=1, pad_mode="reflect", max_pixels=None):
    """Run ``model`` on one HxWxC image; returns the HxWxC' prediction.

    One pass when the padded image has at most ``max_pixels`` pixels (default
    ``max_inference_pixels()``); otherwise square tiles of the largest multiple of
    ``multiple`` that fits, overlapping by ``2 * TILE_MARGIN + TILE_RAMP`` pixels, their
    inner margins left out and the rest cross-faded (``predict_tiled``). A network whose
    receptive field reaches at most ``TILE_MARGIN`` pixels gives the one-pass result; a
    deeper one (a U-Net) differs slightly near the tile seams.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"predict_full expects one HxWxC image, got shape {x.shape}")
    height, width = x.shape[:2]
    padded = pad_to_multiple(x, multiple, pad_mode)
    max_pixels = max_inference_pixels() if max_pixels is None else max_pixels
    if padded.shape[0] * padded.shape[1] <= max_pixels:
        return forward(model, padded[None])[0][:height, :width]
    side = math.isqrt(max_pixels) // multiple * multiple
    tile = (min(side, padded.shape[0]), min(side, padded.shape[1]))
    overlap = 2 * TILE_MARGIN + TILE_RAMP
    if side <= overlap:
        raise ValueError(
            f"max_pixels={max_pixels} allows {side}x{side} tiles, too small for the "
            f"{overlap}-pixel overlap of tiled inference; allow at least "
            f"{(overlap + multiple) ** 2} pixels")
    out = predict_tiled(model, padded, tile, overlap=overlap, blend=True, margin=TILE_MARGIN,
                        batch_size=1, pad_mode=None)
    return out[:height, :width]


def _edge_weights(length, overlap, margin, at_start, at_end):
    """1-D weights of a tile: ``margin`` zeros then a linear rise over ``overlap - 2 *
    margin`` pixels at each inner edge (an edge on the image border keeps weight 1), so
    two tiles overlapping by ``overlap`` pixels cross-fade with weights summing to 1."""
    weights = np.ones(length, dtype=np.float32)
    ramp = overlap - 2 * margin
    if overlap == 0:
        return weights
    rise = np.concatenate([np.zeros(margin, np.float32),
                           (np.arange(ramp, dtype=np.float32) + 0.5) / ramp])
    if not at_start:
        weights[: len(rise)] = rise
    if not at_end:
        weights[length - len(rise):] = rise[::-1]
    return weights


def _tile_origins(size, tile, step, inside=False):
    """Tile starts along one side; ``inside``: the last tile ends flush with the side
    (needs ``tile <= size``), else it may run past it onto the padded canvas."""
    origins = list(range(0, max(size - tile, 0) + 1, step))
    if origins[-1] + tile < size:
        origins.append(size - tile if inside else origins[-1] + step)
    return origins


def predict_tiled(model, x, tile, overlap=0, blend=False, batch_size=32, margin=0,
                  pad_mode="constant"):
    """Run ``model`` tile by tile over an HxWxC image; returns the HxWxC' prediction.

    ``overlap=0``: the image is cut into a grid of ``tile`` x ``tile`` tiles (``tile``: a
    side or a (height, width) pair), the edge tiles zero-padded, each tile predicted
    independently (the released rdab_coordconv test script). ``overlap > 0``: tiles
    advance by ``tile - overlap``; with ``blend=True`` the overlapping predictions are
    averaged under a ramp window, otherwise each output pixel takes the last tile that
    covers it. ``margin`` (with ``blend``): the outermost ``margin`` pixels of a tile's
    inner edges get no weight and the ramp covers the remaining ``overlap - 2 * margin``;
    every output pixel then comes from tiles in which it lies at least ``margin`` pixels
    from an inner edge. ``pad_mode``: how the image is extended to the tile grid
    (``np.pad`` mode, 'constant' = zeros), or None: no extension, the last tile of a row
    or column ends flush with the image (tiles no larger than the image).
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"predict_tiled expects one HxWxC image, got shape {x.shape}")
    tile_h, tile_w = (tile, tile) if np.isscalar(tile) else tile
    height, width = x.shape[:2]
    inside = pad_mode is None
    if inside and (tile_h > height or tile_w > width):
        raise ValueError(f"tiles of {tile_h}x{tile_w} do not fit inside a {height}x{width} image")
    # A side covered by one tile needs no overlap along it.
    if any(not 0 <= overlap < side for side, size in ((tile_h, height), (tile_w, width))
           if not (inside and side == size)):
        raise ValueError(f"overlap must be in [0, tile), got overlap={overlap}, tile={tile}")
    if blend and overlap > 0 and not 0 <= 2 * margin < overlap:
        raise ValueError(f"margin must be in [0, overlap / 2), got margin={margin}, overlap={overlap}")
    rows = _tile_origins(height, tile_h, max(tile_h - overlap, 1), inside)
    cols = _tile_origins(width, tile_w, max(tile_w - overlap, 1), inside)
    canvas_h, canvas_w = rows[-1] + tile_h, cols[-1] + tile_w
    canvas = x if inside else _extend(x, canvas_h, canvas_w, pad_mode)

    origins = [(r, c) for r in rows for c in cols]
    out = None
    weight = np.zeros((canvas_h, canvas_w, 1), dtype=np.float32)
    for start in range(0, len(origins), batch_size):
        chunk = origins[start : start + batch_size]
        tiles = np.stack([canvas[r : r + tile_h, c : c + tile_w] for r, c in chunk])
        preds = forward(model, tiles)
        if out is None:
            out = np.zeros((canvas_h, canvas_w, preds.shape[-1]), dtype=np.float32)
        for (r, c), pred in zip(chunk, preds):
            if blend:
                window = np.outer(
                    _edge_weights(tile_h, overlap, margin, r == rows[0], r == rows[-1]),
                    _edge_weights(tile_w, overlap, margin, c == cols[0], c == cols[-1]),
                )[..., None]
                out[r : r + tile_h, c : c + tile_w] += pred * window
                weight[r : r + tile_h, c : c + tile_w] += window
            else:
                out[r : r + tile_h, c : c + tile_w] = pred
    if blend:
        np.divide(out, np.maximum(weight, 1e-12), out=out)  # in place: out is the size of the result
    return out[:height, :width]


def _extend(x, height, width, mode):
    """``x`` padded at the bottom/right to ``height`` x ``width`` (``np.pad`` mode)."""
    return np.pad(x, ((0, height - x.shape[0]), (0, width - x.shape[1]), (0, 0)), mode=mode)
