"""unet_ms: every setting of the paper profile that carries the paper's meaning, against
the paper (Yan et al., PRCV 2018) or the authors' released PyTorch code (GitHub
ml-lab/Multiscale-Super-Spectral: model.py, train.py, test.py, dataset.py, utilities.py).

The expected values are literals copied from those sources, not read from the kit's
constants; the metric and initialisation checks use independent NumPy computations of the
released formulas on data that tells the conventions apart.
"""

import numpy as np
import pytest

import keras

from common.io import KitError
from data_prep.cube import DEFAULT_WAVELENGTHS, HSCube
from papers.unet_ms import data as D
from papers.unet_ms import experiment as E
from papers.unet_ms.model import build_model, build_unet_ms
from tests.conftest import paper_config


@pytest.fixture(scope="module")
def paper():
    return paper_config("unet_ms", "paper")


# ----------------------------------------------------------------------------- settings
def test_paper_profile_model_and_data_settings(paper):
    model, data = paper["model"], paper["data"]
    assert model["base_width"] == 64  # released model.py: in_conv = double_conv(3, 64), ... 1024
    assert model["bands"] == 31  # Sec. 4.1: "31 successive bands ranging from 400 ~ 700nm"
    assert model["dropout"] == 0.2  # Sec. 4.2: "our method utilizes 20% dropout rate"
    assert model["output_scale"] == 1.0  # released model.py: the 1x1 conv is the output
    # Sec. 4.2: "extracting patches of size 64 x 64 with a stride of 40 pixels"
    assert (data["patch_size"], data["stride"]) == (64, 40)
    assert data["max_patches"] is None  # "The total amount of training samples is over 267,000"
    assert data["augment"] is False  # the patch extraction is the augmentation (Sec. 4.2)


def test_paper_profile_training_settings(paper):
    train = paper["train"]
    assert train["batch_size"] == 128  # released train.py: --batchSize default=128
    assert train["epochs"] == 100  # Sec. 4.2: "We train the networks for 100 epochs"
    # Sec. 4.2: "The initial learning rate is 5 x 10^-5 and is multiplied by 0.93 every 10 epochs"
    assert (train["learning_rate"], train["lr_decay"], train["lr_decay_epochs"]) == (5e-5, 0.93, 10)
    assert train["weight_decay"] == 1e-6  # Sec. 4.2 "Adam optimizer with 10^-6 regularization"; train.py
    assert train["loss"] == "mse"  # Sec. 4.4 "MSE loss"; released train.py nn.MSELoss()


def test_paper_profile_test_protocol(paper):
    evaluation = paper["eval"]
    assert evaluation["crop"] == 1280  # released test.py --size default=1280 (top-left crop, dataset.py)
    assert evaluation["clamp"] is True  # released utilities.py: im.clamp(0., 1.).mul_(data_range)
    assert evaluation["metric_scale"] == 255.0  # released utilities.py: data_range=255.


def test_compiled_optimizer_and_loss_are_the_papers(paper):
    model = E.compile_model(build_unet_ms(base_width=4), {**paper["train"], "jit_compile": False})
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.Adam) and not isinstance(optimizer, keras.optimizers.AdamW)
    assert float(optimizer.learning_rate) == pytest.approx(5e-5)  # Sec. 4.2
    assert optimizer.weight_decay == pytest.approx(1e-6)  # Sec. 4.2, released train.py
    assert (optimizer.beta_1, optimizer.beta_2) == (0.9, 0.999)  # released train.py betas
    assert model.loss == "mse"  # released train.py nn.MSELoss()
    # Sec. 4.2 schedule, per epoch from 0: 5e-5 * 0.93 ** (epoch // 10)
    assert [E.lr_at_epoch(e, paper["train"]) for e in (0, 9, 10, 19, 20, 99)] == pytest.approx(
        [5e-5, 5e-5, 5e-5 * 0.93, 5e-5 * 0.93, 5e-5 * 0.93**2, 5e-5 * 0.93**9])


# ----------------------------------------------------------------------------- network
def test_dropout_sits_where_the_released_code_puts_it(paper):
    """released model.py: double_conv = conv-BN-LReLU-Dropout2d-conv-BN-LReLU; down_block =
    MaxPool-Dropout2d-double_conv; up_block = PixelShuffle, cat, Dropout2d, double_conv."""
    model = build_unet_ms(base_width=4, dropout=paper["model"]["dropout"])

    def source(layer_name):
        return model.get_layer(layer_name).input._keras_history.operation.name

    for block in ["enc0", "enc1", "enc2", "enc3", "enc4", "dec1", "dec2", "dec3", "dec4"]:
        assert source(f"{block}_dropout1") == f"{block}_lrelu1"
        assert source(f"{block}_conv2") == f"{block}_dropout1"
    for level in (1, 2, 3, 4):
        assert source(f"down{level}_dropout") == f"down{level}_pool"
        assert source(f"enc{level}_conv1") == f"down{level}_dropout"
        assert source(f"up{level}_dropout") == f"up{level}_concat"
        assert source(f"dec{level}_conv1") == f"up{level}_dropout"
    assert source("out_conv1x1") == "dec4_lrelu2"  # no dropout before the 1x1 output conv
    drops = [layer for layer in model.layers if isinstance(layer, keras.layers.SpatialDropout2D)]
    assert len(drops) == 17 and {d.rate for d in drops} == {0.2}  # Sec. 4.2: 20 %, Dropout2d


def test_initialisation_is_the_released_kaiming_normal_and_bn_gamma():
    """released utilities.py weights_init_kaimingNormal: Conv -> kaiming_normal(a=0.2,
    mode='fan_in'), i.e. N(0, 2 / ((1 + a^2) fan_in)); BatchNorm weight -> normal(0, 0.01)
    (PyTorch's third argument is the std), bias -> 0."""
    keras.utils.set_random_seed(0)
    model = build_unet_ms(base_width=16)
    kernel = np.asarray(model.get_layer("enc4_conv2").kernel)  # 3 x 3 x 256 x 256: 589,824 values
    std = np.sqrt(2.0 / ((1.0 + 0.2**2) * (3 * 3 * 256)))
    assert kernel.std() == pytest.approx(std, rel=0.005)  # a = 0 would give 2 % more
    assert abs(kernel.mean()) < 0.01 * std
    # Untruncated: |w| > 2 std for 4.55 % of a normal's values (none when truncated at 2 std).
    assert np.mean(np.abs(kernel) > 2 * std) == pytest.approx(0.0455, abs=0.003)
    out = np.asarray(model.get_layer("out_conv1x1").kernel)  # 1 x 1 x 16 x 31
    assert out.std() == pytest.approx(np.sqrt(2.0 / (1.04 * 16)), rel=0.1)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    gamma = np.concatenate([np.asarray(bn.gamma) for bn in bns])
    beta = np.concatenate([np.asarray(bn.beta) for bn in bns])
    assert gamma.size > 1000
    assert gamma.std() == pytest.approx(0.01, rel=0.1)  # std 0.01, not 0.1 (variance 0.01) nor 1
    assert abs(gamma.mean()) < 0.001 and not beta.any()
    # The untrained network's output is small: std ~0.01 in training mode (gamma = 1: ~1).
    x = np.random.default_rng(0).random((2, 64, 64, 3)).astype("float32")
    assert float(np.std(np.asarray(model(x, training=True)))) < 0.05


# ----------------------------------------------------------------------------- metrics
def _released_metrics(truth, pred):
    """The released utilities.py on one image (batch of 1), written out in NumPy:
    batch_RMSE, batch_RMSE_G, batch_rRMSE, batch_rRMSE_G clamp both to [0, 1] and scale by
    data_range = 255; batch_SAM takes them raw, angle in degrees averaged over pixels."""
    t, p = np.clip(truth, 0.0, 1.0) * 255.0, np.clip(pred, 0.0, 1.0) * 255.0
    squared = (t - p) ** 2
    dot = np.sum(truth * pred, axis=-1)
    cos = dot / (np.linalg.norm(truth, axis=-1) * np.linalg.norm(pred, axis=-1))
    return {
        "RMSE1": np.sqrt(squared).sum() / t.size,
        "RMSE2": np.sqrt(squared.sum() / t.size),
        "rRMSE1": (np.sqrt(squared) / t).sum() / t.size,
        "rRMSE2": np.sqrt((squared / np.mean(t) ** 2).sum() / t.size),
        "SAM": np.mean(np.degrees(np.arccos(cos))),
    }


def _distinguishing_pair():
    """Non-flat spectra, unequal errors per pixel, non-zero angles, predictions above 1
    and below 0 and one saturated truth value (above 1), so that clamping, the scale, the
    order of mean and root, and the angle all change the numbers."""
    rng = np.random.default_rng(0)
    wavelengths = np.linspace(0.0, 1.0, 31)
    truth = 0.15 + 0.6 * wavelengths[None, None, :] * rng.uniform(0.3, 1.0, (3, 4, 1))
    truth[0, 0, -1] = 1.05
    pred = truth * (1.0 + 0.2 * (wavelengths - 0.5)) + rng.normal(0.0, 0.03, truth.shape)
    pred[1, 2, 25:] = 1.3
    pred[2, 3, :3] = -0.1
    return truth, pred


def test_table2_metrics_are_the_released_formulas(paper):
    truth, pred = _distinguishing_pair()
    evaluation = paper["eval"]
    got = {k: f(truth, pred) for k, f in E.table2_metrics(evaluation["metric_scale"], evaluation["clamp"]).items()}
    expected = _released_metrics(truth, pred)
    for name in E.METRIC_ORDER:
        assert got[name] == pytest.approx(expected[name], rel=1e-9), name
    # The data tell the conventions apart: no clamp, a 4095 scale, RMSE1 as a root mean square.
    unclamped = {k: f(truth, pred) for k, f in E.table2_metrics(255.0, False).items()}
    assert unclamped["RMSE1"] > got["RMSE1"] * 1.01 and unclamped["rRMSE2"] != pytest.approx(got["rRMSE2"])
    assert got["RMSE2"] > got["RMSE1"] * 1.1 and got["SAM"] > 1.0
    clamped_sam = _released_metrics(np.clip(truth, 0, 1), np.clip(pred, 0, 1))["SAM"]
    assert abs(clamped_sam - got["SAM"]) > 0.05  # SAM is computed on the raw values


def test_the_released_test_region_is_the_top_left_1280_square(paper):
    image = np.arange(1300 * 1392, dtype=np.float32).reshape(1300, 1392, 1)  # NTIRE 2018: 1392 x 1300
    region = E.evaluated_region(image, paper["eval"]["crop"])
    np.testing.assert_array_equal(region, image[:1280, :1280])
    small = image[:256, :300]  # a side shorter than the crop stays whole (dataset.py slicing)
    np.testing.assert_array_equal(E.evaluated_region(small, 1280), small)
    assert E.evaluated_region(image, None) is image


# ----------------------------------------------------------------------------- data
def test_ntire2018_cube_without_its_png_is_an_error_naming_it():
    cube = HSCube(data=np.full((8, 8, 31), 0.3), wavelengths=DEFAULT_WAVELENGTHS, name="BGU_HS_00003",
                  source_peak=4095.0)
    with pytest.raises(KitError, match="BGU_HS_00003"):
        D.rgb_input(cube, "ntire2018")
    assert D.rgb_input(cube, "icvl").shape == (8, 8, 3)  # ICVL ships no RGB: rendered
    cube.rgb = np.zeros((8, 8, 3), np.float32)
    assert D.rgb_input(cube, "ntire2018") is not None


def test_build_model_reads_the_profile(paper):
    model = build_model({"model": {**paper["model"], "base_width": 4}})
    assert not any(layer.name == "output_scale" for layer in model.layers)
    drops = {layer.rate for layer in model.layers if isinstance(layer, keras.layers.SpatialDropout2D)}
    assert drops == {0.2}
