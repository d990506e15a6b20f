"""pix2pix_hs networks against Alvarez-Gila et al. (ICCVW 2017), Sec. 2.2 and Fig. 4.

The expected layer lists and the parameter count are derived here from the paper's text
(eight 3x3 stride-2 convolutions 64 -> 512, eight transposed-convolution blocks with
dropout 0.1 and skip concatenations, two 1x1 convolutions, tanh; a 5-convolution
PatchGAN with an 8x8 output for 256x256), not read back from the code.
"""

import numpy as np
import pytest

import keras

from common.inference import predict_tiled
from papers.pix2pix_hs.model import build_discriminator, build_generator

PAPER_ENCODER = [64, 128, 256, 512, 512, 512, 512, 512]  # Sec. 2.2: 64 doubling to 512, then constant


def _layers(model, cls):
    return [layer for layer in model.layers if type(layer) is cls]


def _conv_params(k, c_in, c_out):
    return k * k * c_in * c_out + c_out


def _paper_generator_params(bands=31):
    """Weights of the Sec. 2.2 generator counted from the paper's description."""
    total, channels = 0, [3]
    for filters in PAPER_ENCODER:  # encoder: 3x3 stride-2 convolutions
        total += _conv_params(3, channels[-1], filters)
        channels.append(filters)
    # Decoder: from the 1x1 bottleneck up; each block's output is concatenated with the
    # encoder activation of the same size (channels[level - 1]); the last block returns to
    # 256x256 and is concatenated with the RGB input. Filters mirror the encoder.
    decoder_filters = PAPER_ENCODER[-2::-1] + [64]  # 512 x4, 256, 128, 64, then 64
    x = channels[-1]
    for level, filters in zip(range(8, 0, -1), decoder_filters):
        total += _conv_params(3, x, filters)
        x = filters + channels[level - 1]
    total += _conv_params(1, x, 64) + _conv_params(1, 64, bands)  # two 1x1 convolutions
    return total


@pytest.fixture(scope="module")
def paper_generator():
    return build_generator()


def test_generator_structure_matches_paper(paper_generator):
    g = paper_generator
    convs = _layers(g, keras.layers.Conv2D)
    encoder = [c for c in convs if c.strides == (2, 2)]
    assert [c.filters for c in encoder] == PAPER_ENCODER
    assert all(c.kernel_size == (3, 3) for c in encoder)
    head = [c for c in convs if c.strides == (1, 1)]
    assert [(c.kernel_size, c.filters) for c in head] == [((1, 1), 64), ((1, 1), 31)]
    deconvs = _layers(g, keras.layers.Conv2DTranspose)
    assert len(deconvs) == 8
    assert all(d.kernel_size == (3, 3) and d.strides == (2, 2) for d in deconvs)
    assert [d.filters for d in deconvs] == [512, 512, 512, 512, 256, 128, 64, 64]
    dropouts = _layers(g, keras.layers.Dropout)
    assert len(dropouts) == 8 and all(d.rate == pytest.approx(0.1) for d in dropouts)
    assert len(_layers(g, keras.layers.Concatenate)) == 8  # eight skip connections
    assert len(_layers(g, keras.layers.LeakyReLU)) == 8 + 8 + 1
    assert not any("normalization" in type(layer).__name__.lower() for layer in g.layers)  # no BN
    assert g.layers[-1].get_config()["activation"] == "tanh"
    assert g.count_params() == _paper_generator_params()


def test_generator_bottleneck_is_1x1_for_256_input(paper_generator):
    g = paper_generator
    probe = keras.Model(g.input, [g.get_layer("enc8_lrelu").output, g.output])
    bottleneck, out = probe.predict_on_batch(np.zeros((1, 256, 256, 3), np.float32))
    assert bottleneck.shape == (1, 1, 1, 512)
    assert out.shape == (1, 256, 256, 31)


def test_discriminator_structure_and_8x8_patch_map():
    d = build_discriminator()
    convs = _layers(d, keras.layers.Conv2D)
    assert [c.filters for c in convs] == [64, 128, 256, 512, 1]
    assert all(c.kernel_size == (3, 3) and c.strides == (2, 2) for c in convs)
    assert d.layers[-1].get_config()["activation"] == "sigmoid"
    expected = _conv_params(3, 3 + 31, 64) + _conv_params(3, 64, 128) + _conv_params(3, 128, 256)
    expected += _conv_params(3, 256, 512) + _conv_params(3, 512, 1)
    assert d.count_params() == expected
    rgb = np.zeros((1, 256, 256, 3), np.float32)
    hs = np.zeros((1, 256, 256, 31), np.float32)
    patch = d.predict_on_batch([rgb, hs])
    assert patch.shape == (1, 8, 8, 1)
    assert np.all((patch > 0) & (patch < 1))


@pytest.mark.parametrize("n_branches", [1, 2, 5, 9])
def test_branch_pruning_layer_counts(n_branches):
    """Fig. 4: model k keeps k - 1 encoder levels (9 = the full net)."""
    g = build_generator(n_branches, base_filters=4, max_filters=8)
    depth = n_branches - 1
    assert len([c for c in _layers(g, keras.layers.Conv2D) if c.strides == (2, 2)]) == depth
    assert len(_layers(g, keras.layers.Conv2DTranspose)) == depth
    assert len(_layers(g, keras.layers.Concatenate)) == depth


def _influence_span(generator, size=64, at=32):
    """Rows of the output that change when one input pixel changes."""
    x = np.random.default_rng(0).uniform(-1, 1, (1, size, size, 3)).astype(np.float32)
    moved = x.copy()
    moved[0, at, at] += 0.5
    changed = np.abs(generator.predict_on_batch(moved) - generator.predict_on_batch(x)).max(axis=-1)[0] > 0
    rows = np.flatnonzero(changed.any(axis=1))
    return rows.max() - rows.min() + 1


def test_one_branch_generator_is_per_pixel_and_context_grows():
    assert _influence_span(build_generator(1, 4, 8)) == 1  # Sec. 3.3.1: "predicts each output pixel independently"
    spans = [_influence_span(build_generator(k, 4, 8)) for k in (2, 3, 4)]
    assert 1 < spans[0] < spans[1] < spans[2]
    # The paper labels model k with its encoder's receptive field 2^k - 1; the decoder's
    # transposed convolutions spread one input pixel at most that far again.
    assert all(span <= 2 * (2**k - 1) - 1 for k, span in zip((2, 3, 4), spans))


def test_forward_on_non_square_and_odd_sizes():
    g = build_generator(4, base_filters=4, max_filters=8)
    out = g.predict_on_batch(np.zeros((2, 24, 40, 3), np.float32))  # multiples of 2^3
    assert out.shape == (2, 24, 40, 31)
    image = np.random.default_rng(1).uniform(-1, 1, (37, 53, 3)).astype(np.float32)
    rec = predict_tiled(g, image, tile=16)  # odd sides: edge tiles zero-padded, cropped back
    assert rec.shape == (37, 53, 31)
    assert np.all(np.abs(rec) <= 1.0)


def test_bad_branch_count_is_a_clear_error():
    with pytest.raises(ValueError, match="n_branches must be 1..9"):
        build_generator(10)


def test_keras_save_load_round_trip(tmp_path):
    g = build_generator(3, base_filters=4, max_filters=8)
    x = np.random.default_rng(2).uniform(-1, 1, (1, 16, 16, 3)).astype(np.float32)
    path = tmp_path / "generator.keras"
    g.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict_on_batch(x), g.predict_on_batch(x))
