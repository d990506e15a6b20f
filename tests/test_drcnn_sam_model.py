"""drcnn_sam: the network and baselines against the paper's description (Sec. 3.1, 4.1-4.2).

References are hand computations from the paper's numbers (kernel sizes, widths, layer
counts) and NumPy, never the code's own output.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from papers.drcnn_sam import baselines as bl  # noqa: E402
from papers.drcnn_sam.config import PAPER_ARCHITECTURE  # noqa: E402
from papers.drcnn_sam.model import (  # noqa: E402
    FINAL_OUTPUT,
    SUPERVISED_OUTPUT,
    build_drcnn,
    inference_model,
)

TINY = dict(PAPER_ARCHITECTURE, bands=5, n_subnets=3, supervised_after=2, f1=3, f2=3, f3=3, n1=6, n2=4)


def _convs(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def test_paper_structure_18_convs_kernel_sizes_and_widths():
    model = build_drcnn()
    convs = _convs(model)
    assert len(convs) == 18  # Sec. 4.1: "we finally used 18 convolution layers"
    for k in range(6):
        c1, c2, c3 = convs[3 * k : 3 * k + 3]
        # Sec. 3.1: c x 9 x 9 x 96, 96 x 3 x 3 x 64, 64 x 3 ... x 5 x 5 x c, c = 31.
        assert tuple(c1.kernel.shape) == (9, 9, 31, 96)
        assert tuple(c2.kernel.shape) == (3, 3, 96, 64)
        assert tuple(c3.kernel.shape) == (5, 5, 64, 31)
        assert all(c.padding == "same" for c in (c1, c2, c3))  # zero padding keeps the size
        assert c1.activation.__name__ == "relu" and c2.activation.__name__ == "relu"
        assert c3.activation.__name__ == "linear"  # signed residual (README)


def test_paper_parameter_count_by_hand():
    per_subnet = (9 * 9 * 31 * 96 + 96) + (3 * 3 * 96 * 64 + 64) + (5 * 5 * 64 * 31 + 31)
    assert per_subnet == 346143
    assert build_drcnn().count_params() == 6 * per_subnet == 2076858


def test_supervised_output_after_third_subnetwork():
    model = build_drcnn()
    assert len(model.outputs) == 2
    supervised = model.get_layer(SUPERVISED_OUTPUT)
    # The Add takes the input of sub-network 3 and the residual from its third conv.
    inbound = {t._keras_history[0].name for t in supervised._inbound_nodes[0].input_tensors}
    assert "subnet3_conv3" in inbound
    final = model.get_layer(FINAL_OUTPUT)
    inbound = {t._keras_history[0].name for t in final._inbound_nodes[0].input_tensors}
    assert "subnet6_conv3" in inbound


def test_literal_relu_on_residual_option():
    model = build_drcnn(dict(TINY, residual_activation="relu"))
    assert all(c.activation.__name__ == "relu" for c in _convs(model))


@pytest.mark.parametrize("height,width", [(13, 17), (1, 1), (32, 9)])
def test_forward_on_odd_sizes_keeps_the_image_size(height, width):
    model = build_drcnn(TINY)
    x = np.random.default_rng(0).random((2, height, width, 5)).astype("float32")
    supervised, final = model.predict_on_batch(x)
    assert supervised.shape == final.shape == x.shape


def test_cascade_starts_close_to_identity():
    # Residual convs start from std 1e-3 weights and zero bias: each sub-network adds
    # only a small residual, so the untrained cascade returns about its bicubic input.
    model = build_drcnn(TINY)
    x = np.random.default_rng(1).random((1, 24, 24, 5)).astype("float32")
    _, final = model.predict_on_batch(x)
    assert np.max(np.abs(final - x)) < 0.05


def test_bad_architecture_is_a_clear_error():
    with pytest.raises(ValueError, match="supervised_after"):
        build_drcnn(dict(TINY, supervised_after=4))
    with pytest.raises(ValueError, match="missing"):
        build_drcnn({"bands": 31})


def test_save_load_round_trip_identical(tmp_path):
    model = build_drcnn(TINY)
    path = tmp_path / "drcnn.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(2).random((1, 11, 7, 5)).astype("float32")
    for a, b in zip(model.predict_on_batch(x), loaded.predict_on_batch(x)):
        np.testing.assert_array_equal(a, b)
    single = inference_model(loaded)
    np.testing.assert_array_equal(single.predict_on_batch(x), model.predict_on_batch(x)[1])


# ---------------------------------------------------------------- baselines (Sec. 4.2)


def test_bands_to_grey_against_a_loop():
    x = np.random.default_rng(3).random((2, 4, 3, 5)).astype("float32")
    grey = bl.bands_to_grey(x)
    assert grey.shape == (10, 4, 3, 1)
    for b in range(2):
        for c in range(5):
            np.testing.assert_array_equal(grey[b * 5 + c, :, :, 0], x[b, :, :, c])
    np.testing.assert_array_equal(bl.grey_to_bands(grey, 5), x)


def test_srcnn_is_9_1_5_with_64_32():
    model = bl.build_srcnn()
    shapes = [tuple(c.kernel.shape) for c in _convs(model)]
    assert shapes == [(9, 9, 1, 64), (1, 1, 64, 32), (5, 5, 32, 1)]
    assert model.count_params() == (81 * 64 + 64) + (64 * 32 + 32) + (25 * 32 + 1)


def test_vdsr_has_20_layers_and_adds_the_input():
    model = bl.build_vdsr()
    convs = _convs(model)
    assert len(convs) == 20
    assert tuple(convs[0].kernel.shape) == (3, 3, 1, 64) and tuple(convs[-1].kernel.shape) == (3, 3, 64, 1)
    assert model.count_params() == (9 * 64 + 64) + 18 * (9 * 64 * 64 + 64) + (9 * 64 + 1)
    tiny = bl.build_vdsr({"depth": 3, "width": 4, "kernel": 3})
    for v in tiny.weights:  # zero every weight: the network must return its input exactly
        v.assign(np.zeros(v.shape, dtype="float32"))
    x = np.random.default_rng(4).random((1, 9, 7, 1)).astype("float32")
    np.testing.assert_allclose(tiny.predict_on_batch(x), x)


@pytest.mark.parametrize("scale", [2, 3])
def test_espcn_sub_pixel_output(scale):
    model = bl.build_espcn(scale)
    shapes = [tuple(c.kernel.shape) for c in _convs(model)]
    assert shapes == [(5, 5, 1, 64), (3, 3, 64, 32), (3, 3, 32, scale * scale)]
    x = np.random.default_rng(5).random((2, 5, 7, 1)).astype("float32")
    assert model.predict_on_batch(x).shape == (2, 5 * scale, 7 * scale, 1)
