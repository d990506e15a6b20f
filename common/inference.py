"""Full-image inference for fully convolutional models.

Two ways to run a trained network on a whole image:

- ``predict_full``: one forward pass over the whole image, as unet_ms and ms_ssfnet do.
  Sides that are not a multiple of the network's total down-sampling factor are padded
  (reflect by default, so the border sees image-like content) and the output is cropped
  back to the input size.
- ``predict_tiled``: fixed-size tiles, for papers whose released test script tiles
  (rdab_coordconv: 64x64 tiles, edge tiles zero-padded) and for images too large for
  memory. With ``overlap > 0`` and ``blend=True`` neighbouring tiles overlap and are
  averaged with a separable ramp window, which removes the seams of hard tiling.
"""

import numpy as np


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


def predict_full(model, x, multiple=1, pad_mode="reflect"):
    """Run ``model`` on one HxWxC image in a single pass; returns the HxWxC' prediction."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"predict_full expects one HxWxC image, got shape {x.shape}")
    height, width = x.shape[:2]
    padded = pad_to_multiple(x, multiple, pad_mode)
    out = forward(model, padded[None])[0]
    return out[:height, :width]


def _ramp_window(tile, overlap):
    """A separable weight that rises linearly over ``overlap`` pixels at each tile edge."""
    ramp = np.ones(tile, dtype=np.float32)
    if overlap > 0:
        rise = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        ramp[:overlap] = rise
        ramp[-overlap:] = rise[::-1]
    return ramp[:, None] * ramp[None, :]


def _tile_origins(size, tile, step):
    origins = list(range(0, max(size - tile, 0) + 1, step))
    if origins[-1] + tile < size:
        origins.append(origins[-1] + step)
    return origins


def predict_tiled(model, x, tile, overlap=0, blend=False, batch_size=32):
    """Run ``model`` tile by tile over an HxWxC image; returns the HxWxC' prediction.

    ``overlap=0``: the image is cut into a grid of ``tile`` x ``tile`` tiles, the edge
    tiles zero-padded, each tile predicted independently (the released rdab_coordconv test
    script). ``overlap > 0``: tiles advance by ``tile - overlap``; with ``blend=True`` the
    overlapping predictions are averaged under a ramp window, otherwise each output pixel
    takes the last tile that covers it.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"predict_tiled expects one HxWxC image, got shape {x.shape}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got overlap={overlap}, tile={tile}")
    height, width = x.shape[:2]
    step = tile - overlap
    rows = _tile_origins(height, tile, step)
    cols = _tile_origins(width, tile, step)
    canvas_h, canvas_w = rows[-1] + tile, cols[-1] + tile
    canvas = np.zeros((canvas_h, canvas_w, x.shape[2]), dtype=np.float32)
    canvas[:height, :width] = x

    origins = [(r, c) for r in rows for c in cols]
    window = _ramp_window(tile, overlap) if blend else np.ones((tile, tile), np.float32)
    out = None
    weight = np.zeros((canvas_h, canvas_w, 1), dtype=np.float32)
    for start in range(0, len(origins), batch_size):
        chunk = origins[start : start + batch_size]
        tiles = np.stack([canvas[r : r + tile, c : c + tile] for r, c in chunk])
        preds = forward(model, tiles)
        if out is None:
            out = np.zeros((canvas_h, canvas_w, preds.shape[-1]), dtype=np.float32)
        for (r, c), pred in zip(chunk, preds):
            if blend:
                out[r : r + tile, c : c + tile] += pred * window[..., None]
                weight[r : r + tile, c : c + tile] += window[..., None]
            else:
                out[r : r + tile, c : c + tile] = pred
    if blend:
        out = out / np.maximum(weight, 1e-12)
    return out[:height, :width]
