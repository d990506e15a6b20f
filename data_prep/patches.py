"""Training patches: extraction on a stride grid, aligned multi-resolution pairs, HDF5 cache.

The papers train on patches cut from the training images on a regular grid:

- unet_ms (Yan et al. 2018, Sec. 4.1): 64x64 RGB / 31-band pairs, stride 40;
- rdab_coordconv: 64x64 tiles; drcnn_sam: 32x32x31 patches (LR input and HR target at
  the same size, the LR image being bicubic-upsampled);
- pix2pix_hs: 256x256 crops;
- ms_ssfnet (Han et al. 2019, Sec. 4): an 8x8x31 LR patch (stride 2 on the x16-smaller
  image), the 128x128x3 RGB and 128x128x31 HR patches over the same scene region, and a
  32x32x31 intermediate (x4-smaller) target.

``extract_patches`` cuts one image; ``extract_patch_pairs`` cuts several aligned arrays of
different resolutions at the same scene positions and checks that their sizes, strides
and resolutions agree. ``PatchCache`` stores the patches in HDF5, one chunk per patch so
that a random patch costs one chunk read, with provenance attributes (dataset, split,
scale, renderer, sizes, strides, seed, kit version) and a completeness marker, written
through a temporary file; a cache that is incomplete or was made differently is rebuilt.

Edge policy (all functions): patch corners lie at 0, stride, 2 * stride, ... as long as
the whole patch fits ("valid" positions, as the papers' own patch scripts do); the strip
at the bottom and right narrower than a stride is not covered. An image smaller than the
patch is an error.
"""

import hashlib
import json
import logging
import math
import mmap
from fractions import Fraction
from pathlib import Path

import numpy as np

import common
from common.io import KitError, atomic_path

log = logging.getLogger(__name__)

#: Layout version of the HDF5 patch files; caches of another format are rebuilt.
CACHE_FORMAT = 1
KIT_VERSION = getattr(common, "__version__", "0+unversioned")

STORAGE_DTYPES = ("float32", "float16", "uint16")
UINT16_PEAK = 65535.0


# ----------------------------------------------------------------------------- extraction
def _grid(length, size, stride, what):
    if size < 1 or stride < 1:
        raise KitError(f"{what}: patch size and stride must be positive, got {size} and {stride}")
    if length < size:
        raise KitError(f"{what}: image side {length} is smaller than the patch size {size}")
    return (length - size) // stride + 1


def _windows(img, size):
    """Read-only view (H - size + 1, W - size + 1, size, size, C) of all windows."""
    view = np.lib.stride_tricks.sliding_window_view(img, (size, size), axis=(0, 1))
    return view.transpose(0, 1, 3, 4, 2)


def extract_patches(img, size, stride):
    """All size x size patches of an H x W x C image on the stride grid -> (N, size, size, C).

    Patches are ordered row by row (top-left first); N = n_rows * n_cols with
    n = (side - size) // stride + 1 (see the module docstring for the edge policy).
    """
    img = np.asarray(img)
    if img.ndim != 3:
        raise KitError(f"extract_patches: expected an H x W x C image, got shape {img.shape}")
    rows = _grid(img.shape[0], size, stride, "extract_patches")
    cols = _grid(img.shape[1], size, stride, "extract_patches")
    view = _windows(img, size)[: rows * stride : stride, : cols * stride : stride]
    return np.ascontiguousarray(view).reshape(rows * cols, size, size, img.shape[2])


def _check_alignment(image, sizes, strides, where):
    """Reference key (largest array) and the grid (rows, cols) shared by every array.

    Each array must see the same scene region: size_k / side_k and stride_k / side_k
    must be the same for every key k and both sides (exact rational arithmetic).
    """
    for key, array in image.items():
        if np.ndim(array) != 3:
            raise KitError(f"{where}: array {key!r} must be H x W x C, got shape {np.shape(array)}")
    if set(image) != set(sizes) or set(image) != set(strides):
        raise KitError(
            f"{where}: arrays {sorted(image)}, sizes {sorted(sizes)} and strides "
            f"{sorted(strides)} must name the same keys")
    ref = max(image, key=lambda k: image[k].shape[0] * image[k].shape[1])
    ref_h, ref_w = image[ref].shape[:2]
    for key, array in image.items():
        h, w = array.shape[:2]
        ratio = Fraction(ref_h, h)
        if Fraction(ref_w, w) != ratio:
            raise KitError(
                f"{where}: {key!r} is {h}x{w} but {ref!r} is {ref_h}x{ref_w}: the two sides "
                f"are not scaled by the same factor (crop the images to a multiple of the scale)")
        for what, value in (("size", sizes), ("stride", strides)):
            if Fraction(value[ref], value[key]) != ratio:
                raise KitError(
                    f"{where}: {key!r} ({h}x{w}) has {what} {value[key]} but {ref!r} "
                    f"({ref_h}x{ref_w}) has {what} {value[ref]}: the {what} ratio "
                    f"{Fraction(value[ref], value[key])} differs from the resolution ratio {ratio}")
    rows = _grid(ref_h, sizes[ref], strides[ref], f"{where} {ref!r}")
    cols = _grid(ref_w, sizes[ref], strides[ref], f"{where} {ref!r}")
    return rows, cols


def extract_patch_pairs(images, sizes, strides, max_patches=None, seed=0, return_origins=False):
    """Aligned patches of several arrays of one scene at different resolutions.

    images: a list of dicts (one per scene) of H_k x W_k x C_k arrays, e.g.
        ``{'rgb': HxWx3, 'hs': HxWx31}`` or, for x16 fusion, ``{'lr': H/16 x W/16 x 31,
        'rgb': HxWx3, 'hs': HxWx31, 'mid': H/4 x W/4 x 31}``. A single dict is accepted.
    sizes, strides: patch size and stride per key, proportional to each array's
        resolution, e.g. sizes ``{'lr': 8, 'rgb': 128, 'hs': 128, 'mid': 32}`` and strides
        ``{'lr': 2, 'rgb': 32, 'hs': 32, 'mid': 8}``; a mismatch raises ``KitError``.
    max_patches: keep at most this many positions, drawn uniformly without replacement
        over all scenes with ``numpy.random.default_rng(seed)``, in grid order.

    Returns a dict of arrays (N, size_k, size_k, C_k), in the arrays' own dtypes, and
    with ``return_origins`` also an (N, 3) int array (scene index, top, left) in the
    pixels of the largest array.
    """
    if isinstance(images, dict):
        images = [images]
    images = [{k: np.asarray(v) for k, v in image.items()} for image in images]
    if not images:
        raise KitError("extract_patch_pairs: no images given")
    grids = [_check_alignment(image, sizes, strides, f"extract_patch_pairs (image {i})")
             for i, image in enumerate(images)]
    counts = [rows * cols for rows, cols in grids]
    total = sum(counts)
    chosen = np.arange(total)
    if max_patches is not None and max_patches < total:
        chosen = np.sort(np.random.default_rng(seed).choice(total, int(max_patches), replace=False))
    starts = np.concatenate([[0], np.cumsum(counts)])
    scene = np.searchsorted(starts, chosen, side="right") - 1
    patches = {key: [] for key in sizes}
    origins = []
    for i, image in enumerate(images):
        local = chosen[scene == i] - starts[i]
        row, col = np.divmod(local, grids[i][1])
        ref = max(image, key=lambda k: image[k].shape[0] * image[k].shape[1])
        origins.append(np.stack([np.full(local.size, i), row * strides[ref], col * strides[ref]], 1))
        for key, array in image.items():
            view = _windows(array, sizes[key])
            patches[key].append(view[row * strides[key], col * strides[key]])
    out = {key: np.concatenate(parts) for key, parts in patches.items()}
    if return_origins:
        return out, np.concatenate(origins).astype(np.int64)
    return out


# ----------------------------------------------------------------------------- HDF5 cache
def _canonical(obj):
    """Provenance as JSON-comparable Python (tuples -> lists, NumPy -> Python)."""
    return json.loads(json.dumps(obj, sort_keys=True, default=_json_default))


def provenance_digest(provenance, length=12):
    """A short stable hash of a provenance dict, for naming cache files by what they hold."""
    return hashlib.sha256(json.dumps(_canonical(provenance), sort_keys=True).encode()).hexdigest()[:length]


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _encode(array, storage, where):
    """float32 values -> stored values (float32, float16, or uint16 = round(x * 65535))."""
    array = np.asarray(array, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        raise KitError(f"{where}: patches contain NaN/Inf")
    if storage == "float16":
        if np.abs(array).max(initial=0.0) > np.finfo(np.float16).max:
            raise KitError(f"{where}: values exceed the float16 range")
        return array.astype(np.float16)
    if storage == "uint16":
        low, high = array.min(initial=0.0), array.max(initial=0.0)
        if low < -1e-6 or high > 1.0 + 1e-6:
            raise KitError(f"{where}: uint16 storage needs values in [0, 1], got {low:g}..{high:g}")
        return np.round(np.clip(array, 0.0, 1.0) * UINT16_PEAK).astype(np.uint16)
    return array


def _chunk_offsets(dataset, path):
    """Byte offset in the file of every patch (one chunk each, stored unfiltered).

    Reading a patch is then a zero-copy view of the memory-mapped file: no HDF5 call,
    no lock, and the copy into a batch runs without the GIL in tf.data's threads. h5py's
    own per-element reads cost about 0.15 ms each here; the view costs a few microseconds.
    """
    n = dataset.shape[0]
    if dataset.chunks != (1,) + dataset.shape[1:] or dataset.compression or dataset.shuffle \
            or dataset.fletcher32 or dataset.scaleoffset:
        raise KitError(f"{path}: {dataset.name} is not stored one uncompressed patch per chunk")
    offsets = np.full(n, -1, dtype=np.int64)

    def record(info):
        offsets[info.chunk_offset[0]] = info.byte_offset

    if hasattr(dataset.id, "chunk_iter"):
        dataset.id.chunk_iter(record)
    else:  # HDF5 < 1.12.3
        for i in range(dataset.id.get_num_chunks()):
            record(dataset.id.get_chunk_info(i))
    if np.any(offsets < 0):
        raise KitError(f"{path}: {dataset.name} has {int(np.sum(offsets < 0))} unwritten patches")
    return offsets


class PatchColumn:
    """One array of a ``PatchCache`` (e.g. ``cache['hs']``): N patches read on demand."""

    def __init__(self, cache, key):
        self.cache, self.key = cache, key

    def __len__(self):
        return len(self.cache)

    @property
    def sample_shape(self):
        return self.cache.shapes[self.key]

    @property
    def shape(self):
        return (len(self),) + self.sample_shape

    @property
    def nbytes(self):
        """Bytes once decoded to float32."""
        return 4 * len(self) * math.prod(self.sample_shape)

    def read(self, indices):
        return self.cache.read(indices, keys=[self.key])[self.key]

    def load(self):
        """All patches in memory, float32."""
        return self.read(slice(None))

    def __repr__(self):
        return f"PatchColumn({self.cache.path.name}[{self.key!r}], shape={self.shape})"


class PatchCache:
    """Patches in one HDF5 file, read back as float32.

    Layout: a dataset ``patches/<key>`` of shape (N, size, size, C) per array, chunked one
    patch per chunk; attributes ``provenance`` (JSON), one attribute per provenance entry
    (for ``h5dump``), ``storage``, ``scale`` (1 / 65535 for uint16), ``count``,
    ``format``, ``kit_version`` and, written last, ``complete``.

    Build with ``PatchCache.build`` (open a valid cache or write a new one) or
    ``PatchCache.write``; open with ``PatchCache.open``. Index it by key for a
    ``PatchColumn`` (what ``data_prep.pipeline.make_dataset`` takes).
    """

    def __init__(self, path):
        import h5py

        self.path = Path(path)
        reason = self.problem(self.path)
        if reason is not None:
            raise KitError(f"{self.path}: cannot use this patch cache: {reason}")
        try:
            with h5py.File(self.path, "r") as f:
                attrs = f.attrs
                self.keys = json.loads(attrs["keys"])
                self.provenance = json.loads(attrs["provenance"])
                self.storage = str(attrs["storage"])
                self.scale = float(attrs["scale"])
                self._count = int(attrs["count"])
                datasets = {k: f["patches"][k] for k in self.keys}
                self.shapes = {k: tuple(d.shape[1:]) for k, d in datasets.items()}
                self._dtypes = {k: d.dtype for k, d in datasets.items()}
                self._offsets = {k: _chunk_offsets(d, self.path) for k, d in datasets.items()}
        except KitError:
            raise
        except (OSError, KeyError, ValueError) as err:
            raise KitError(f"{self.path}: not a readable patch cache ({err})") from err
        with open(self.path, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)

    # -- building
    @classmethod
    def write(cls, path, patches, provenance, storage="float32"):
        """Write ``patches`` (a dict of (N, s, s, C) arrays, or an iterable of such dicts,
        appended in order) with ``provenance`` (a JSON-able dict); return the open cache."""
        import h5py

        if storage not in STORAGE_DTYPES:
            raise KitError(f"{path}: storage must be one of {', '.join(STORAGE_DTYPES)}, got {storage!r}")
        parts = [patches] if isinstance(patches, dict) else patches
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            group = f.create_group("patches")
            count, keys, shapes = 0, None, None
            for part in parts:
                part = {k: np.asarray(v) for k, v in part.items()}
                n = {v.shape[0] for v in part.values()}
                if len(n) != 1:
                    raise KitError(f"{path}: arrays of one batch of patches differ in count: "
                                   f"{ {k: v.shape for k, v in part.items()} }")
                if keys is None:
                    keys, shapes = sorted(part), {k: v.shape[1:] for k, v in part.items()}
                    for k in keys:
                        group.create_dataset(k, shape=(0,) + shapes[k], maxshape=(None,) + shapes[k],
                                             dtype=storage, chunks=(1,) + shapes[k])
                if sorted(part) != keys or any(part[k].shape[1:] != shapes[k] for k in keys):
                    raise KitError(f"{path}: every batch of patches must have keys {keys} with "
                                   f"shapes {shapes}, got { {k: v.shape for k, v in part.items()} }")
                n = n.pop()
                for k in keys:
                    dataset = group[k]
                    dataset.resize(count + n, axis=0)
                    dataset[count:count + n] = _encode(part[k], storage, f"{path} [{k}]")
                count += n
            if not count:
                raise KitError(f"{path}: no patches to write")
            provenance = _canonical(provenance)
            for name, value in provenance.items():
                f.attrs[f"prov_{name}"] = json.dumps(value)
            f.attrs["provenance"] = json.dumps(provenance, sort_keys=True)
            f.attrs["keys"] = json.dumps(keys)
            f.attrs["storage"] = storage
            f.attrs["scale"] = 1.0 / UINT16_PEAK if storage == "uint16" else 1.0
            f.attrs["count"] = count
            f.attrs["format"] = CACHE_FORMAT
            f.attrs["kit_version"] = KIT_VERSION
            f.attrs["complete"] = True  # last: a file without it is rebuilt
        return cls(path)

    @staticmethod
    def problem(path, expected_provenance=None, storage=None):
        """Why the file at ``path`` cannot be used as is (a short reason), or None if it can."""
        import h5py

        try:
            with h5py.File(path, "r") as f:
                attrs = dict(f.attrs)
        except FileNotFoundError:
            return "missing"
        except OSError as err:
            return f"unreadable ({err})"
        if not attrs.get("complete", False):
            return "incomplete (no completeness marker)"
        if attrs.get("format") != CACHE_FORMAT:
            return f"format {attrs.get('format')} is not {CACHE_FORMAT}"
        if attrs.get("kit_version") != KIT_VERSION:
            return f"made by kit version {attrs.get('kit_version')}, this is {KIT_VERSION}"
        if storage is not None and attrs.get("storage") != storage:
            return f"stored as {attrs.get('storage')}, {storage} requested"
        if expected_provenance is not None:
            stored = json.loads(attrs.get("provenance", "null"))
            wanted = _canonical(expected_provenance)
            if stored != wanted:
                diff = sorted(k for k in set(stored or {}) | set(wanted)
                              if (stored or {}).get(k) != wanted.get(k))
                return f"provenance differs in {', '.join(diff)}"
        return None

    @classmethod
    def open(cls, path, expected_provenance=None, storage=None):
        """The cache at ``path``, or None (rebuild it) when it is missing, incomplete,
        unreadable, or its provenance (or storage) differs from the expected."""
        reason = cls.problem(path, expected_provenance, storage)
        if reason is None:
            try:
                return cls(path)
            except KitError as err:  # damaged inside despite its marker
                reason = str(err)
        log.info("patch cache %s: %s", path, reason)
        return None

    @classmethod
    def build(cls, path, provenance, make_patches, storage="float32"):
        """Open the cache at ``path`` if it is valid for ``provenance``; otherwise call
        ``make_patches()`` (a dict of arrays or an iterable of them) and write it."""
        cache = cls.open(path, provenance, storage)
        if cache is None:
            cache = cls.write(path, make_patches(), provenance, storage)
        return cache

    # -- reading
    def __len__(self):
        return self._count

    def __getitem__(self, key):
        if key not in self.shapes:
            raise KitError(f"{self.path}: no patch array {key!r} (has {', '.join(self.keys)})")
        return PatchColumn(self, key)

    def columns(self, *keys):
        """{key: PatchColumn} for ``keys`` (default all), e.g. a model's named inputs."""
        return {k: self[k] for k in (keys or self.keys)}

    def patch(self, key, index):
        """Patch ``index`` of array ``key`` as stored (no copy: a view of the mapped file)."""
        shape, offset = self.shapes[key], int(self._offsets[key][index])
        return np.frombuffer(self._map, self._dtypes[key], math.prod(shape), offset).reshape(shape)

    def read(self, indices, keys=None):
        """Patches at ``indices`` (a slice, or integers in any order, repeats allowed) as a
        dict of float32 arrays (uint16 storage is scaled back to [0, 1])."""
        keys = self.keys if keys is None else keys
        if isinstance(indices, slice):
            indices = np.arange(len(self))[indices]
        indices = np.asarray(indices, dtype=np.int64).ravel()
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise KitError(f"{self.path}: patch index out of range 0..{len(self) - 1}")
        out = {}
        for k in keys:
            block = np.empty((indices.size,) + self.shapes[k], np.float32)
            for j, i in enumerate(indices):
                block[j] = self.patch(k, i)
            if self.scale != 1.0:
                block *= np.float32(self.scale)
            out[k] = block
        return out

    def close(self):
        """Unmap the file (left to the garbage collector while views of it are alive)."""
        try:
            self._map.close()
        except BufferError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"PatchCache({self.path}, {len(self)} patches, "
                f"{ {k: s for k, s in self.shapes.items()} }, {self.storage})")
