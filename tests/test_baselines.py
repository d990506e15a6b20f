"""The shared linear baseline recovers a known map exactly (a closed-form check)."""

import numpy as np
import pytest

from common.baselines import LinearSpectralRegression, sample_pixels
from common.io import KitError


def test_recovers_an_affine_map_and_clips():
    rng = np.random.default_rng(0)
    weights, bias = rng.normal(size=(3, 31)), rng.normal(size=31)
    rgb = rng.random((12, 9, 3))
    hs = rgb @ weights + bias
    model = LinearSpectralRegression().fit(rgb, hs)
    np.testing.assert_allclose(model.predict(rgb), hs, rtol=1e-4, atol=1e-4)
    clipped = LinearSpectralRegression(clip=(0.0, 1.0)).fit(rgb, hs).predict(rgb)
    np.testing.assert_allclose(clipped, np.clip(hs, 0, 1), atol=1e-4)


def test_without_intercept_is_the_projection_through_the_origin():
    rgb = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 1.0]])
    hs = rgb @ np.arange(6.0).reshape(3, 2)
    model = LinearSpectralRegression(intercept=False).fit(rgb, hs)
    np.testing.assert_allclose(model.weights, np.arange(6.0).reshape(3, 2), atol=1e-12)


def test_save_load_round_trip(tmp_path):
    rgb = np.random.default_rng(1).random((20, 3))
    model = LinearSpectralRegression().fit(rgb, rgb @ np.ones((3, 4)))
    model.save(tmp_path / "linear.npy")
    again = LinearSpectralRegression().load_weights(tmp_path / "linear.npy")
    np.testing.assert_array_equal(again.predict(rgb), model.predict(rgb))


def test_sample_pixels_takes_per_image_without_replacement():
    image = np.arange(4 * 5 * 3, dtype=float).reshape(4, 5, 3)
    rgb, hs = sample_pixels([(image, image[..., :2])] * 2, per_image=7, seed=0)
    assert rgb.shape == (14, 3) and hs.shape == (14, 2)
    np.testing.assert_array_equal(rgb[:, :2], hs)
    assert len({tuple(p) for p in rgb[:7]}) == 7


def test_errors_are_clear():
    with pytest.raises(KitError, match="predict called before fit"):
        LinearSpectralRegression().predict(np.zeros((2, 3)))
    with pytest.raises(KitError, match="3 channels"):
        LinearSpectralRegression().fit(np.zeros((5, 4)), np.zeros((5, 2)))
    with pytest.raises(KitError, match="at least 4 training pixels"):
        LinearSpectralRegression().fit(np.zeros((3, 3)), np.zeros((3, 2)))
