"""MS-SSFNet (Han et al., ICCVW 2019) and its Table 1 baselines against the paper's text.

Structure (Section 3.2): S spectral blocks and S-1 spatial blocks of two convs + PReLU,
x2 deconvolutions, 2x2 max-pools between spatial blocks, S-1 stack fusions; multi-level
heads (Section 3.3), removed at test time; N(0, 0.001^2) initialisation (Section 4.2).
"""

import numpy as np
import pytest

import keras
from papers.ms_ssfnet import baselines
from tests.conftest import paper_config
from papers.ms_ssfnet.model import build_ms_ssfnet, inference_model, intermediate_factors


def _layers_of(model, cls):
    return [layer for layer in model.layers if type(layer) is cls]


def _inputs(batch, h, w, scales, bands=31, seed=0):
    rng = np.random.default_rng(seed)
    f = 2**scales
    return {
        "lr": rng.random((batch, h, w, bands), dtype=np.float32),
        "rgb": rng.random((batch, h * f, w * f, 3), dtype=np.float32),
    }


def _conv_params(k, c_in, c_out):
    return k * k * c_in * c_out + c_out


def test_structure_x16_matches_section_3_2():
    model = build_ms_ssfnet(bands=31, scales=4, spectral_width=64, spatial_width=64)
    convs = _layers_of(model, keras.layers.Conv2D)
    spectral = [c for c in convs if c.name.startswith("spectral_block")]
    spatial = [c for c in convs if c.name.startswith("spatial_block")]
    heads = [c for c in convs if c.name in ("z", "z1")]
    assert len(spectral) == 2 * 4  # S blocks of two convs
    assert len(spatial) == 2 * 3  # S-1 blocks of two convs
    assert len(heads) == 2  # 2 levels for x16 (Section 4.2)
    assert len(convs) == 8 + 6 + 2
    deconvs = _layers_of(model, keras.layers.Conv2DTranspose)
    assert len(deconvs) == 4 and all(d.strides == (2, 2) for d in deconvs)
    pools = _layers_of(model, keras.layers.MaxPooling2D)
    assert len(pools) == 2 and all(p.pool_size == (2, 2) for p in pools)  # between 3 blocks
    assert len(_layers_of(model, keras.layers.Concatenate)) == 3  # S-1 stack fusions (eq. 7)
    prelus = _layers_of(model, keras.layers.PReLU)
    assert len(prelus) == 8 + 6  # one PReLU after every block conv
    assert all(list(p.shared_axes) == [1, 2] for p in prelus)
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert all(c.filters == 64 for c in spectral + spatial)

    # Closed form of the parameter count for C=31, width 64, 3x3 convs, 4x4 deconvs:
    # blocks 1-2 see C and w channels, blocks 3-4 the 2w-channel stacks at 4x and 8x,
    # the final head the 2w-channel stack at HR, the z1 head the w-channel X_2^Up.
    c, w = 31, 64
    spectral_params = (
        _conv_params(3, c, w) + _conv_params(3, w, w) + 2 * _conv_params(3, w, w)
        + 2 * (_conv_params(3, 2 * w, w) + _conv_params(3, w, w))
    )
    deconv_params = 4 * (4 * 4 * w * w + w)
    spatial_params = _conv_params(3, 3, w) + _conv_params(3, w, w) + 2 * 2 * _conv_params(3, w, w)
    head_params = _conv_params(3, 2 * w, c) + _conv_params(3, w, c)
    prelu_params = 14 * w
    expected = spectral_params + deconv_params + spatial_params + head_params + prelu_params
    assert model.count_params() == expected == 853_502
    # The inference model drops the intermediate reconstruction layer only.
    assert inference_model(model).count_params() == expected - _conv_params(3, w, c)


def test_fusions_join_same_size_maps_at_the_largest_scales():
    # Eq. 7: the deconvolved spectral map X_s^Up and the spatial block output of the same
    # size, at 2^2 .. 2^S times the LR size; the HR stack feeds the final reconstruction.
    model = build_ms_ssfnet(bands=5, scales=4, spectral_width=3, spatial_width=2)
    stacks = [layer.name for layer in _layers_of(model, keras.layers.Concatenate)]
    assert sorted(stacks) == ["stack2", "stack3", "stack4"]
    probe = keras.Model(model.inputs, {name: model.get_layer(name).output for name in stacks})
    shapes = probe(_inputs(1, 3, 2, 4, bands=5))
    for s in (2, 3, 4):
        assert tuple(shapes[f"stack{s}"].shape) == (1, 3 * 2**s, 2 * 2**s, 3 + 2)
    assert model.get_layer("spatial_block1_conv1").input.shape[-1] == 3  # block 1 on the RGB
    assert model.get_layer("spectral_block1_conv1").input.shape[-1] == 5  # block 1 on the LR-HS


def test_reading_a_fuses_the_max_pooled_spatial_maps_at_2_4_8():
    # Reading A: eqs. 5-6 as written (spatial block 1 on the HR RGB), eq. 7's map is the
    # max-pooled Y of eq. 6; X_1^Up .. X_3^Up stacked at 2, 4, 8; one extra deconvolution.
    model = build_ms_ssfnet(bands=5, scales=4, spectral_width=3, spatial_width=2, reading="A")
    stacks = sorted(layer.name for layer in _layers_of(model, keras.layers.Concatenate))
    assert stacks == ["stack1", "stack2", "stack3"]
    assert len(_layers_of(model, keras.layers.MaxPooling2D)) == 3
    assert len(_layers_of(model, keras.layers.Conv2DTranspose)) == 4
    probe = keras.Model(model.inputs, {n: model.get_layer(n).output for n in stacks + ["spatial_block1_prelu2"]})
    out = probe(_inputs(1, 3, 2, 4, bands=5))
    assert tuple(out["spatial_block1_prelu2"].shape) == (1, 48, 32, 2)  # block 1 at the HR size
    for s in (1, 2, 3):
        assert tuple(out[f"stack{s}"].shape) == (1, 3 * 2**s, 2 * 2**s, 3 + 2)
    for s in (1, 2, 3):  # the spatial side of every stack is a max-pooling output
        inbound = model.get_layer(f"stack{s}")._inbound_nodes[0].input_tensors
        assert type(inbound[1]._keras_history[0]) is keras.layers.MaxPooling2D
    assert model.get_layer("z").input.shape[-1] == 3  # the HR deconvolution alone, no stack


def test_reading_b_spatial_pathway_is_the_spectral_one_minus_its_smallest_block():
    # Reading B (Sec. 3.2: "removing the corresponding part with the smallest spatial size
    # block"): spatial blocks at 8, 4, 2 x LR (the RGB pooled once), their outputs stacked
    # with X_3^Up, X_2^Up, X_1^Up.
    model = build_ms_ssfnet(bands=5, scales=4, spectral_width=3, spatial_width=2, reading="B")
    names = ["spatial_block1_prelu2", "spatial_block2_prelu2", "spatial_block3_prelu2", "stack1", "stack3"]
    probe = keras.Model(model.inputs, {n: model.get_layer(n).output for n in names})
    out = probe(_inputs(1, 3, 2, 4, bands=5))
    for j, s in ((1, 3), (2, 2), (3, 1)):  # spectral block s + 1 at 2^s; spatial block j at 2^(4 - j)
        assert tuple(out[f"spatial_block{j}_prelu2"].shape) == (1, 3 * 2 ** (4 - j), 2 * 2 ** (4 - j), 2)
    assert tuple(out["stack1"].shape) == (1, 6, 4, 5) and tuple(out["stack3"].shape) == (1, 24, 16, 5)
    for s in (1, 2, 3):
        inbound = model.get_layer(f"stack{s}")._inbound_nodes[0].input_tensors
        assert type(inbound[1]._keras_history[0]) is keras.layers.PReLU  # a block output
    first_pool = model.get_layer("maxpool0")
    assert first_pool._inbound_nodes[0].input_tensors[0]._keras_history[0].name == "rgb"
    assert len(_layers_of(model, keras.layers.MaxPooling2D)) == 3
    assert model.get_layer("z").input.shape[-1] == 3


def test_reading_c_is_the_default_and_an_unknown_reading_is_refused():
    config = paper_config("ms_ssfnet", "paper")
    assert config["model"]["reading"] == "C"
    with pytest.raises(ValueError, match="reading"):
        build_ms_ssfnet(bands=5, scales=4, spectral_width=3, spatial_width=2, reading="D")


def test_intermediate_factors_follow_eq_8():
    assert intermediate_factors(4, (2, 2)) == (4,)
    assert intermediate_factors(3, (1, 1, 1)) == (2, 4)
    assert intermediate_factors(5, (3, 2)) == (4,)
    with pytest.raises(ValueError):
        intermediate_factors(4, (2, 1))
    with pytest.raises(ValueError):
        build_ms_ssfnet(scales=1)


@pytest.mark.parametrize("scales,levels,h,w", [(4, (2, 2), 3, 5), (2, (1, 1), 7, 1), (3, (1, 1, 1), 1, 2)])
def test_forward_any_lr_size(scales, levels, h, w):
    model = build_ms_ssfnet(bands=6, scales=scales, spectral_width=4, spatial_width=3, level_scales=levels)
    out = model(_inputs(2, h, w, scales, bands=6))
    f = 2**scales
    assert tuple(out["z"].shape) == (2, h * f, w * f, 6)
    for level, factor in enumerate(intermediate_factors(scales, levels), start=1):
        assert tuple(out[f"z{level}"].shape) == (2, h * f // factor, w * f // factor, 6)
    single = inference_model(model)(_inputs(1, h, w, scales, bands=6))
    assert tuple(single.shape) == (1, h * f, w * f, 6)


def test_initialisation_is_normal_with_std_0_001():
    model = build_ms_ssfnet(bands=31, scales=4, spectral_width=64, spatial_width=64)
    kernel = keras.ops.convert_to_numpy(model.get_layer("spectral_block3_conv1").kernel)
    assert abs(kernel.mean()) < 3e-5
    assert kernel.std() == pytest.approx(0.001, rel=0.02)  # 73,728 samples
    bias = keras.ops.convert_to_numpy(model.get_layer("spectral_block3_conv1").bias)
    assert np.all(bias == 0)
    alpha = keras.ops.convert_to_numpy(model.get_layer("spectral_block2_prelu1").alpha)
    assert alpha.size == 64 and np.all(alpha == 0.25)  # Caffe's PReLU default


def _tiny_targets(inputs, scales, factors):
    # A learnable target: the bicubic-free trivial one, spectra of the LR pixel repeated.
    f = 2**scales
    hr = np.repeat(np.repeat(inputs["lr"], f, axis=1), f, axis=2)
    targets = {"z": hr}
    for level, factor in enumerate(factors, start=1):
        targets[f"z{level}"] = hr[:, ::factor, ::factor]
    return targets


def test_one_training_step_lowers_the_multi_level_loss():
    keras.utils.set_random_seed(0)
    model = build_ms_ssfnet(bands=4, scales=2, spectral_width=4, spatial_width=4, level_scales=(1, 1), init_std=0.05)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss={"z": "mse", "z1": "mse"},
        loss_weights={"z": 1.0, "z1": 1.0},
        jit_compile=False,  # an XLA compile would dominate a 3-step test
    )
    x = _inputs(4, 3, 3, 2, bands=4)
    y = _tiny_targets(x, 2, (2,))

    def eq_10(outputs):  # the sum over levels of each level's mean squared error
        return sum(float(np.mean((keras.ops.convert_to_numpy(outputs[k]) - y[k]) ** 2)) for k in ("z", "z1"))

    before = eq_10(model(x))
    logs = model.train_on_batch(x, y, return_dict=True)  # reports the loss before its update
    assert logs["loss"] == pytest.approx(before, rel=1e-4)
    assert logs["loss"] == pytest.approx(logs["z_loss"] + logs["z1_loss"], rel=1e-4)
    for _ in range(2):
        model.train_on_batch(x, y)
    assert eq_10(model(x)) < before


def test_keras_round_trip_identical_outputs(tmp_path):
    model = build_ms_ssfnet(bands=5, scales=2, spectral_width=3, spatial_width=2, level_scales=(1, 1), init_std=0.1)
    x = _inputs(1, 2, 3, 2, bands=5)
    for net, name in ((model, "train"), (inference_model(model), "infer")):
        path = tmp_path / f"{name}.keras"
        net.save(path)
        loaded = keras.saving.load_model(path)
        a, b = net(x), loaded(x)
        if isinstance(a, dict):
            assert set(a) == set(b)
            for key in a:
                np.testing.assert_array_equal(keras.ops.convert_to_numpy(a[key]), keras.ops.convert_to_numpy(b[key]))
        else:
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_ssf_cnn_is_srcnn_9_1_5_on_the_stack():
    # Section 4.3: SSF-CNN [20] "adopted three convolutional layers based on the SRCNN
    # model": SRCNN's 9x9 / 64, 1x1 / 32, 5x5 (Dong et al., ref. [12]) on the stack.
    config = paper_config("ms_ssfnet", "paper")
    model = baselines.NETWORK_BASELINES["SSF-CNN"](config)
    convs = _layers_of(model, keras.layers.Conv2D)
    assert [c.kernel_size for c in convs] == [(9, 9), (1, 1), (5, 5)]
    assert [c.filters for c in convs] == [64, 32, 31]
    assert [c.activation.__name__ for c in convs] == ["relu", "relu", "linear"]
    assert convs[0].kernel.shape[2] == 31 + 3  # concat of up-sampled LR-HS and RGB
    assert model.count_params() == _conv_params(9, 34, 64) + _conv_params(1, 64, 32) + _conv_params(5, 32, 31)


def test_resnets_have_five_blocks_of_two_convs():
    fused = baselines.build_ssf_resnet(bands=31, width=64)
    rgb_only = baselines.build_spectral_resnet(bands=31, width=64)
    for model, c_in in ((fused, 34), (rgb_only, 3)):
        assert len(_layers_of(model, keras.layers.Add)) == 5
        convs = _layers_of(model, keras.layers.Conv2D)
        assert len(convs) == 1 + 2 * 5 + 1
        assert model.count_params() == (
            _conv_params(3, c_in, 64) + 10 * _conv_params(3, 64, 64) + _conv_params(3, 64, 31) + 6 * 64
        )


def test_baselines_take_the_inputs_the_paper_says(tmp_path):
    rng = np.random.default_rng(1)
    x = {"up": rng.random((1, 13, 9, 4), dtype=np.float32), "rgb": rng.random((1, 13, 9, 3), dtype=np.float32)}
    assert set(baselines.INPUTS) == set(baselines.NETWORK_BASELINES)
    fused = baselines.build_ssf_cnn(bands=4, widths=(4, 4))
    assert sorted(fused.input) == sorted(baselines.INPUTS["SSF-CNN"]) == ["rgb", "up"]
    changed = dict(x, up=x["up"] + 0.5)
    assert not np.allclose(fused(x), fused(changed))
    rgb_only = baselines.build_spectral_resnet(bands=4, width=4, n_blocks=1)
    assert list(rgb_only.input) == list(baselines.INPUTS["Spectral-ResNet"]) == ["rgb"]
    out = keras.ops.convert_to_numpy(rgb_only({"rgb": x["rgb"]}))
    assert out.shape == (1, 13, 9, 4)  # any size, odd included
    path = tmp_path / "spectral_resnet.keras"
    rgb_only.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded({"rgb": x["rgb"]})), out)


def test_profiles():
    paper = paper_config("ms_ssfnet", "paper")
    model, data, train = paper["model"], paper["data"], paper["train"]
    # Section 4.2: x16 in S = 4 scales, batch 16, 2000 epochs, 8x8 LR patches (128 HR,
    # printed 127) and a 32x32 intermediate target at x4 (printed 31).
    assert model["scales"] == 4 and train["batch_size"] == 16 and train["epochs"] == 2000
    assert data["lr_patch"] * 2 ** model["scales"] == data["hr_patch"] == 128
    assert data["hr_patch"] // data["mid_factor"] == 32
