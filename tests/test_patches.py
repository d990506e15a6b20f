"""Patch extraction (grid, edge policy, aligned multi-resolution pairs) and the HDF5 cache."""

import h5py
import numpy as np
import pytest

from common.io import KitError
from data_prep.patches import PatchCache, extract_patch_pairs, extract_patches

RNG = np.random.default_rng(0)


def block_mean(img, f):
    h, w, c = img.shape
    return img.reshape(h // f, f, w // f, f, c).mean(axis=(1, 3))


def test_extract_patches_matches_hand_slicing():
    img = RNG.random((10, 13, 2)).astype(np.float32)
    patches = extract_patches(img, 4, 3)
    # corners 0, 3, 6 down (6 + 4 = 10 fits) and 0, 3, 6, 9 across (9 + 4 = 13 fits)
    expected = [img[r:r + 4, c:c + 4] for r in (0, 3, 6) for c in (0, 3, 6, 9)]
    np.testing.assert_array_equal(patches, np.stack(expected))
    assert patches.flags.c_contiguous


def test_extract_patches_drops_the_strip_narrower_than_a_stride():
    img = np.arange(11 * 11, dtype=np.float32).reshape(11, 11, 1)
    patches = extract_patches(img, 4, 4)  # corners 0, 4 fit; 8 + 4 = 12 > 11 does not
    assert patches.shape == (4, 4, 4, 1)
    assert patches.max() == img[7, 7, 0]


@pytest.mark.parametrize("shape, size, stride", [((3, 8, 1), 4, 1), ((8, 8), 4, 1), ((8, 8, 1), 4, 0)])
def test_extract_patches_rejects_bad_input(shape, size, stride):
    with pytest.raises(KitError):
        extract_patches(np.zeros(shape), size, stride)


def test_rgb_hs_pairs_stay_aligned():
    response = RNG.random((31, 3))
    images = []
    for h, w in ((150, 130), (104, 200)):
        hs = RNG.random((h, w, 31)).astype(np.float32)
        images.append({"rgb": hs @ response, "hs": hs})
    pairs = extract_patch_pairs(images, {"rgb": 64, "hs": 64}, {"rgb": 40, "hs": 40})
    # (150-64)//40+1 = 3 by (130-64)//40+1 = 2, plus 2 by 4
    assert pairs["hs"].shape == (6 + 8, 64, 64, 31) and pairs["rgb"].shape == (14, 64, 64, 3)
    np.testing.assert_allclose(pairs["rgb"], pairs["hs"] @ response, rtol=1e-5)


def test_fusion_patches_cover_the_same_region_at_every_resolution():
    hs = RNG.random((256, 256, 31)).astype(np.float32)
    image = {"lr": block_mean(hs, 16), "mid": block_mean(hs, 4), "hs": hs, "rgb": hs[..., ::10]}
    sizes = {"lr": 8, "rgb": 128, "hs": 128, "mid": 32}
    strides = {"lr": 2, "rgb": 32, "hs": 32, "mid": 8}
    pairs, origins = extract_patch_pairs([image], sizes, strides, return_origins=True)
    assert len(pairs["lr"]) == 25  # (256 - 128) / 32 + 1 = 5 per side
    assert pairs["lr"].shape[1:] == (8, 8, 31) and pairs["mid"].shape[1:] == (32, 32, 31)
    for i, (_, top, left) in enumerate(origins):
        np.testing.assert_array_equal(pairs["hs"][i], hs[top:top + 128, left:left + 128])
        np.testing.assert_allclose(pairs["lr"][i], block_mean(pairs["hs"][i], 16), rtol=1e-5)
        np.testing.assert_allclose(pairs["mid"][i], block_mean(pairs["hs"][i], 4), rtol=1e-5)
        np.testing.assert_array_equal(pairs["rgb"][i], pairs["hs"][i][..., ::10])


@pytest.mark.parametrize("change, message", [
    (dict(strides={"lr": 3, "hs": 32}), "stride"),
    (dict(sizes={"lr": 8, "hs": 64}), "size"),
    (dict(lr=np.zeros((16, 15, 31))), "same factor"),
    (dict(sizes={"lr": 8, "rgb": 128}), "same keys"),
])
def test_misaligned_pairs_are_rejected(change, message):
    args = dict(lr=np.zeros((16, 16, 31)), hs=np.zeros((256, 256, 31)),
                sizes={"lr": 8, "hs": 128}, strides={"lr": 2, "hs": 32})
    args.update(change)
    with pytest.raises(KitError, match=message):
        extract_patch_pairs([{"lr": args["lr"], "hs": args["hs"]}], args["sizes"], args["strides"])


def test_max_patches_draws_a_reproducible_subset():
    images = [{"a": RNG.random((40, 40, 1))} for _ in range(3)]
    full, all_origins = extract_patch_pairs(images, {"a": 8}, {"a": 4}, return_origins=True)
    part, origins = extract_patch_pairs(images, {"a": 8}, {"a": 4}, max_patches=20, seed=3,
                                        return_origins=True)
    assert len(part["a"]) == 20 and len(full["a"]) == 3 * 81
    rows = [np.flatnonzero((all_origins == o).all(axis=1))[0] for o in origins]
    assert len(set(rows)) == 20
    np.testing.assert_array_equal(part["a"], full["a"][rows])
    again = extract_patch_pairs(images, {"a": 8}, {"a": 4}, max_patches=20, seed=3)
    other = extract_patch_pairs(images, {"a": 8}, {"a": 4}, max_patches=20, seed=4)
    np.testing.assert_array_equal(again["a"], part["a"])
    assert not np.array_equal(other["a"], part["a"])


# ----------------------------------------------------------------------------- cache
PROVENANCE = {"dataset": "synthetic", "split": "train", "scale": 1, "renderer": "ntire2020_clean",
              "sizes": {"rgb": 8, "hs": 8}, "strides": {"rgb": 4, "hs": 4}, "seed": 0}


def _patches(n=10):
    return {"rgb": RNG.random((n, 8, 8, 3)).astype(np.float32),
            "hs": RNG.random((n, 8, 8, 31)).astype(np.float32)}


def test_cache_round_trip_layout_and_provenance(tmp_path):
    parts = [_patches(6), _patches(4)]
    cache = PatchCache.write(tmp_path / "p.h5", iter(parts), PROVENANCE)
    assert len(cache) == 10 and cache.shapes == {"hs": (8, 8, 31), "rgb": (8, 8, 3)}
    expected = {k: np.concatenate([p[k] for p in parts]) for k in ("rgb", "hs")}
    got = cache.read([7, 2, 2, 9])  # any order, repeats allowed
    for k in expected:
        assert got[k].dtype == np.float32
        np.testing.assert_array_equal(got[k], expected[k][[7, 2, 2, 9]])
    np.testing.assert_array_equal(cache["hs"].load(), expected["hs"])
    assert cache.provenance == PROVENANCE
    with h5py.File(tmp_path / "p.h5", "r") as f:
        assert f["patches/hs"].chunks == (1, 8, 8, 31)  # one patch per chunk
        assert f.attrs["complete"] and f.attrs["prov_renderer"] == '"ntire2020_clean"'
        assert "kit_version" in f.attrs
    with pytest.raises(KitError, match="out of range"):
        cache.read([10])


@pytest.mark.parametrize("storage, tolerance", [("float16", 2.0**-11), ("uint16", 0.5 / 65535)])
def test_compact_storage_reads_back_float32(tmp_path, storage, tolerance):
    patches = _patches()
    cache = PatchCache.write(tmp_path / "p.h5", patches, PROVENANCE, storage=storage)
    with h5py.File(cache.path, "r") as f:
        assert f["patches/hs"].dtype == np.dtype(storage)
    got = cache.read(slice(None))
    for k in patches:
        assert got[k].dtype == np.float32
        assert np.abs(got[k] - patches[k]).max() <= tolerance * 1.0001


def test_uint16_storage_refuses_values_outside_unit_range(tmp_path):
    with pytest.raises(KitError, match=r"\[0, 1\]"):
        PatchCache.write(tmp_path / "p.h5", {"hs": np.full((2, 4, 4, 1), 1.5)}, {}, storage="uint16")
    assert list(tmp_path.iterdir()) == []


def test_open_signals_a_rebuild(tmp_path):
    path = tmp_path / "p.h5"
    assert PatchCache.open(path, PROVENANCE) is None  # missing
    PatchCache.write(path, _patches(), PROVENANCE).close()
    assert PatchCache.open(path, PROVENANCE) is not None
    assert PatchCache.open(path, {**PROVENANCE, "scale": 4}) is None
    assert "scale" in PatchCache.problem(path, {**PROVENANCE, "scale": 4})
    assert PatchCache.open(path, PROVENANCE, storage="float16") is None
    with h5py.File(path, "a") as f:
        del f.attrs["complete"]
    assert PatchCache.open(path, PROVENANCE) is None
    path.write_bytes(b"garbage")
    assert PatchCache.open(path, PROVENANCE) is None


def test_build_writes_only_when_needed_and_never_leaves_half_a_file(tmp_path):
    path = tmp_path / "p.h5"
    calls = []

    def make():
        calls.append(1)
        return _patches()

    PatchCache.build(path, PROVENANCE, make).close()
    PatchCache.build(path, PROVENANCE, make).close()
    assert len(calls) == 1
    PatchCache.build(path, {**PROVENANCE, "seed": 1}, make).close()
    assert len(calls) == 2

    def failing():
        yield _patches()
        raise RuntimeError("interrupted")

    broken = tmp_path / "broken.h5"
    with pytest.raises(RuntimeError):
        PatchCache.write(broken, failing(), PROVENANCE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.h5"]


def test_inconsistent_batches_are_rejected(tmp_path):
    parts = [_patches(3), {"rgb": np.zeros((2, 8, 8, 3)), "hs": np.zeros((2, 4, 4, 31))}]
    with pytest.raises(KitError, match="shapes"):
        PatchCache.write(tmp_path / "p.h5", parts, PROVENANCE)
    with pytest.raises(KitError, match="count"):
        PatchCache.write(tmp_path / "p.h5", {"rgb": np.zeros((2, 8, 8, 3)), "hs": np.zeros((3, 8, 8, 31))},
                         PROVENANCE)


def test_provenance_digest_ignores_key_order_and_numpy_types():
    from data_prep.patches import provenance_digest

    a = provenance_digest({"size": 64, "names": ("a", "b"), "seed": np.int64(3)})
    b = provenance_digest({"seed": 3, "names": ["a", "b"], "size": 64})
    assert a == b and len(a) == 12
    assert provenance_digest({"size": 32, "names": ["a", "b"], "seed": 3}) != a
