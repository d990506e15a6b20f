"""drcnn_sam: every setting of the paper profile that carries the paper's meaning, checked
against the paper's text (the values are written here as the paper prints them, never
read from the kit's constants), and the wiring that turns them into the training step,
the data and the scores.

Sections and equations are those of Wang et al., ICIG 2017.
"""

import copy

import numpy as np
import pytest
from scipy import ndimage

keras = pytest.importorskip("keras")

from papers.drcnn_sam import data as D  # noqa: E402
from papers.drcnn_sam import experiment as E  # noqa: E402
from papers.drcnn_sam.config import PAPER_ARCHITECTURE  # noqa: E402
from papers.drcnn_sam.model import build_drcnn  # noqa: E402
from papers.drcnn_sam.train import (  # noqa: E402
    AdjustableClipSGD,
    LossTermLog,
    compile_drcnn,
    make_optimizer,
    term_gradients,
)
from tests.conftest import paper_config  # noqa: E402

PAPER = paper_config("drcnn_sam", "paper")


# ----------------------------------------------------------------------------- settings

def test_sec_3_1_and_4_1_architecture():
    # Sec. 3.1: "f1 = 9, f2 = 3, f3 = 5, n1 = 96, n2 = 64"; "We cascade 6 sub-networks";
    # Sec. 4.1: "added supervised output to the end of the third one"; c = 31 bands (Sec. 4).
    model = PAPER["model"]
    assert (model["f1"], model["f2"], model["f3"], model["n1"], model["n2"]) == (9, 3, 5, 96, 64)
    assert model["n_subnets"] == 6 and model["supervised_after"] == 3 and model["bands"] == 31
    # Sec. 4.1: "We trained three independent networks for factor = 2, 3, 4."
    assert model["scales"] == [2, 3, 4]


def test_sec_4_1_optimizer_schedule_and_batch():
    # Sec. 4.1: "the batch size was set to 128. We set the momentum parameter to 0.9 and the
    # weight decay to 0.0001. Learning rate was initially set to 0.01 and then decreased by a
    # factor of 10 if the validation error did not decrease for 3 epochs. If the learning
    # rate was less than 10^-6, the procedure was terminated."
    train = PAPER["train"]
    assert train["batch_size"] == 128
    assert train["optimizer"]["learning_rate"] == 0.01
    assert train["optimizer"]["momentum"] == 0.9
    assert train["optimizer"]["weight_decay"] == 0.0001
    assert train["plateau"] == {"factor": 0.1, "patience": 3}
    assert train["min_lr"] == 1e-6
    optimizer = make_optimizer(train["optimizer"])
    assert type(optimizer) is keras.optimizers.SGD  # "mini-batch gradient descent"
    assert float(optimizer.learning_rate) == pytest.approx(0.01)
    assert optimizer.momentum == pytest.approx(0.9) and optimizer.weight_decay == pytest.approx(1e-4)


def test_sec_4_1_patches_and_degradation():
    # Sec. 4.1: "32 x 32 x 31 cubic-patches randomly cropped from the training images. In
    # total, 30,000 cubic-patches"; "a Gaussian kernel (standard deviation=3)".
    data = PAPER["data"]
    assert data["patch_size"] == 32 and data["n_patches"] == 30000
    assert data["blur_sigma"] == 3.0
    # Sec. 4: "we used only the top left 1024 x 1024 pixels of each [Harvard] image".
    assert data["harvard_crop"] == 1024


def test_eq_3_loss_settings():
    # Eq. (3): L = alpha l1 + (1 - alpha) l2, "where alpha = 0.5 in our work"; Sec. 3.1:
    # "minimizing the loss function of both supervised output and the final output" (equal
    # weights); l1 of eq. (1) per spectrum like eq. (2) (the kit's reading, README "Loss").
    train = PAPER["train"]
    assert train["alpha"] == 0.5
    assert train["supervised_weight"] == 1.0
    assert train["l1_reduction"] == "spectrum" and train["sam_term"] == "angle"


def test_eq_4_5_metric_settings():
    # Eq. (4): PSNR with the n-bit peak 2^n - 1 over all bands and pixels; the kit divides
    # every cube by its n-bit full scale when reading it, so the peak is 1.0.
    assert PAPER["eval"]["psnr_peak"] == 1.0


# ----------------------------------------------------------------------------- loss wiring

TINY = dict(PAPER_ARCHITECTURE, bands=6, n_subnets=2, supervised_after=1, f1=3, f2=3, f3=3, n1=8, n2=8)


def _tiny_config(**train):
    config = copy.deepcopy(PAPER)
    config["model"].update(TINY)
    config["data"]["patch_size"] = 12
    config["train"].update(train)
    return config


def _scene_batch(seed=0, n=4, size=12, bands=6):
    """Truth: three materials with different, non-flat spectra at random brightness, in
    blocks; input: the truth blurred (a bicubic-like start with signed high frequencies)."""
    rng = np.random.default_rng(seed)
    spectra = np.array([np.linspace(0.2, 1.0, bands), np.linspace(1.0, 0.3, bands),
                        0.6 + 0.3 * np.sin(np.arange(bands))])
    labels = rng.integers(0, 3, (n, size // 3, size // 3)).repeat(3, 1).repeat(3, 2)
    bright = rng.uniform(0.3, 1.0, (n, size // 3, size // 3)).repeat(3, 1).repeat(3, 2)
    y = (bright[..., None] * spectra[labels]).astype(np.float32)
    x = ndimage.gaussian_filter(y, (0, 1.2, 1.2, 0), mode="reflect").astype(np.float32)
    return x, y


def _numpy_eq3(y, p, alpha, elements):
    y, p = y.astype(np.float64), p.astype(np.float64)
    l1 = elements * 0.5 * np.mean((y - p) ** 2, axis=(1, 2, 3))
    cos = np.sum(y * p, -1) / (np.linalg.norm(y, axis=-1) * np.linalg.norm(p, axis=-1))
    l2 = np.mean(np.arccos(np.clip(cos, -1, 1)), axis=(1, 2))
    return np.mean(alpha * l1 + (1 - alpha) * l2)


def test_compiled_loss_is_eq3_on_both_outputs_with_equal_weights():
    keras.utils.set_random_seed(0)
    config = _tiny_config()
    model = compile_drcnn(build_drcnn(TINY), config)
    x, y = _scene_batch()
    supervised, final = model.predict_on_batch(x)
    elements = 6  # per spectrum: C = 6 bands
    expected = 1.0 * _numpy_eq3(y, supervised, 0.5, elements) + 1.0 * _numpy_eq3(y, final, 0.5, elements)
    got = model.evaluate(x, (y, y), verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(expected, rel=1e-3)
    # Both outputs enter (a zero supervised weight would leave the final output's alone).
    assert got["loss"] > 1.5 * _numpy_eq3(y, final, 0.5, elements)


def _weights_after_one_step(alpha, seed=0, l1_reduction="spectrum"):
    keras.utils.set_random_seed(seed)
    model = compile_drcnn(build_drcnn(TINY), _tiny_config(alpha=alpha, l1_reduction=l1_reduction))
    before = np.concatenate([np.ravel(w) for w in model.get_weights()])
    x, y = _scene_batch()
    model.train_on_batch(x, (y, y))
    return before, np.concatenate([np.ravel(w) for w in model.get_weights()])


def test_alpha_and_the_spectral_term_change_the_sgd_step():
    # One SGD step (lr 0.01, momentum 0.9, weight decay 1e-4, clip 1) from the same weights:
    # alpha = 1 (no spectral term) moves the weights elsewhere than the paper's alpha = 0.5.
    start, half = _weights_after_one_step(0.5)
    start_1, one = _weights_after_one_step(1.0)
    np.testing.assert_array_equal(start, start_1)
    step_half, step_one = half - start, one - start
    assert np.linalg.norm(step_half) > 0
    assert np.linalg.norm(step_half - step_one) > 0.2 * np.linalg.norm(step_half)


def test_the_spectral_terms_gradient_is_not_negligible():
    keras.utils.set_random_seed(0)
    x, y = _scene_batch()
    model = build_drcnn(TINY)
    paper = term_gradients(model, x, y, _tiny_config())
    assert paper["sam_grad_share"] > 0.3  # the angle term moves the weights as much as the MSE
    assert paper["l1_grad_norm"] > 0.02 * paper["sam_grad_norm"]  # and the MSE still counts
    # The same measurement tells the summed-over-the-patch reading apart: the angle's share
    # falls by the factor H * W = 144 there.
    patch = term_gradients(model, x, y, _tiny_config(l1_reduction="patch"))
    assert patch["sam_grad_norm"] == pytest.approx(paper["sam_grad_norm"], rel=1e-5)
    assert patch["l1_grad_norm"] == pytest.approx(144 * paper["l1_grad_norm"], rel=1e-4)
    assert patch["sam_grad_share"] < paper["sam_grad_share"] / 10


def _fit_with_loss_term_log(epochs):
    """(log, history) of a tiny cascade trained ``epochs`` epochs with a ``LossTermLog``."""
    keras.utils.set_random_seed(0)
    config = _tiny_config()
    model = compile_drcnn(build_drcnn(TINY), config)
    x, y = _scene_batch()
    log = LossTermLog(x[:2], y[:2], config, verbose=False)
    history = model.fit(x, (y, y), batch_size=2, epochs=epochs, verbose=0, callbacks=[log]).history
    return log, history


def test_loss_term_log_writes_both_terms_and_their_gradients(tmp_path):
    log, history = _fit_with_loss_term_log(epochs=1)
    for key in LossTermLog.KEYS:
        assert key in history and np.isfinite(history[key][0])
    assert 0 < history["sam_grad_share"][0] < 1
    assert log.at_start["sam_term"] > 0 and log.at_start["l1_term"] > 0


def test_the_cascades_training_logs_the_loss_terms(monkeypatch, tmp_path):
    seen = {}

    def fake_fit(model, train_ds, val_ds, *, callbacks, **kwargs):
        seen["callbacks"] = callbacks
        return {}

    monkeypatch.setattr(E, "fit", fake_fit)
    config = _tiny_config()
    x, y = _scene_batch()
    patches = {"up": x, "hr": y}
    run = type("Run", (), {"out_dir": tmp_path})()
    E._fit_network(run, "drcnn", 2, config, patches, patches, seed=0)
    logs = [c for c in seen["callbacks"] if isinstance(c, LossTermLog)]
    assert len(logs) == 1 and logs[0].x.shape[1:] == x.shape[1:]


def test_loss_term_log_never_stops_the_training(monkeypatch):
    import papers.drcnn_sam.train as train_module

    def broken(*args, **kwargs):
        raise RuntimeError("no gradient here")

    monkeypatch.setattr(train_module, "term_gradients", broken)
    log, history = _fit_with_loss_term_log(epochs=2)
    assert len(history["loss"]) == 2 and log.failed and "sam_grad_share" not in history


# ----------------------------------------------------------------------------- VDSR's clip

def test_vdsr_clip_follows_the_learning_rate():
    # Kim et al. (CVPR 2016, Sec. 3.3): gradients clipped to [-theta/gamma, theta/gamma],
    # gamma the current learning rate; the paper profile keeps VDSR's lr 0.1, theta 0.01.
    optimizer = make_optimizer(PAPER["baselines"]["vdsr_optimizer"])
    assert isinstance(optimizer, AdjustableClipSGD) and optimizer.theta == pytest.approx(0.01)
    assert float(optimizer.learning_rate) == pytest.approx(0.1)

    def first_step(lr):
        opt = AdjustableClipSGD(theta=0.01, learning_rate=lr)
        w = keras.Variable(np.zeros(3, np.float32))
        grads = keras.ops.convert_to_tensor(np.array([1000.0, -1000.0, 0.05], np.float32))
        opt.apply_gradients([(grads, w)])
        return keras.ops.convert_to_numpy(w), float(keras.ops.convert_to_numpy(opt.clip_bound()))

    w, bound = first_step(0.1)
    assert bound == pytest.approx(0.1)
    np.testing.assert_allclose(w, [-0.01, 0.01, -0.005], rtol=1e-5)  # lr * clip(g, 0.1)
    w, bound = first_step(0.001)  # the schedule lowered the rate: the bound grows to 10
    assert bound == pytest.approx(10.0)
    np.testing.assert_allclose(w, [-0.01, 0.01, -0.00005], rtol=1e-4)  # largest step still theta

    # The bound follows a rate changed during training (as ReduceLROnPlateau does).
    opt = AdjustableClipSGD(theta=0.01, learning_rate=0.1)
    w = keras.Variable(np.zeros(1, np.float32))
    opt.apply_gradients([(keras.ops.ones((1,)) * 1000.0, w)])
    opt.learning_rate = 0.01
    assert float(keras.ops.convert_to_numpy(opt.clip_bound())) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- data

def test_validation_images_are_held_out_of_the_training_images():
    fit, val = D.hold_out_images([f"s{i:02d}" for i in range(25)], 0.1)  # CAVE: 25 training scenes
    assert len(val) == 2 and len(fit) == 23 and not set(fit) & set(val)
    fit, val = D.hold_out_images([f"h{i:02d}" for i in range(67)], 0.1)  # Harvard: 67
    assert len(val) == 7 and len(fit) == 60
    assert D.hold_out_images([f"h{i:02d}" for i in range(67)], 0.1) == (fit, val)  # fixed
    with pytest.raises(ValueError):
        D.hold_out_images(["a", "b"], 0.0)


class _Flat:
    """Images whose every pixel is the image's number / 100: a patch tells its image."""

    name = "cave"
    names = [f"scene{i}" for i in range(10)]

    def load(self, name):
        from data_prep.cube import HSCube

        value = (int(name[5:]) + 1) / 100
        return HSCube(np.full((24, 24, 4), value, np.float32), np.arange(400, 440, 10), name=name, source=name)


def test_validation_patches_come_from_held_out_images_only():
    config = copy.deepcopy(PAPER)
    config["data"].update(patch_size=8, n_patches=40, val_fraction=0.2)
    source = D.Source(_Flat(), "cave", train=_Flat.names[:8], test=_Flat.names[8:], val_fraction=0.2)
    fit, val = D.fit_and_validation_images(source)
    assert len(val) == 2 and set(fit) | set(val) == set(_Flat.names[:8])
    train_p, val_p = E.make_patches([source], 2, config, seed=0)
    origin = lambda p: {f"scene{int(round(v * 100)) - 1}" for v in p["hr"].mean(axis=(1, 2, 3))}  # noqa: E731
    assert origin(val_p) == set(val) and origin(train_p) == set(fit)
    assert len(train_p["hr"]) == 32 and len(val_p["hr"]) == 8


# ----------------------------------------------------------------------------- metrics

def _cubes():
    """Non-flat spectra, several pixels with unequal errors in unequal bands."""
    rng = np.random.default_rng(3)
    gt = rng.uniform(0.2, 0.9, (6, 5, 4))
    rec = gt.copy()
    rec[..., 0] += 0.02
    rec[:3, :, 2] -= 0.15
    rec[0, 0] *= np.array([1.3, 0.7, 1.0, 1.1])
    return gt, rec


def test_eq_4_psnr_over_the_whole_cube_with_the_n_bit_peak():
    gt, rec = _cubes()
    fns = E.metric_fns(PAPER)
    mse = np.mean((gt - rec) ** 2)
    assert fns["PSNR"](gt, rec) == pytest.approx(10 * np.log10(1.0 / mse))
    band_mean = np.mean([10 * np.log10(1.0 / np.mean((gt[..., b] - rec[..., b]) ** 2)) for b in range(4)])
    assert abs(fns["PSNR"](gt, rec) - band_mean) > 0.5  # the test data tell the two apart
    # Peak 1 on data / full scale = peak 255 on 8-bit values = peak 65535 on 16-bit ones.
    assert fns["PSNR"](gt, rec) == pytest.approx(10 * np.log10(255.0 ** 2 / np.mean((255 * gt - 255 * rec) ** 2)))
    assert fns["PSNR"](gt, rec) != pytest.approx(10 * np.log10(1.0 / np.mean((gt * 255 - rec * 255) ** 2)))


def test_eq_5_sam_in_degrees_and_a_lost_spectrum_counts():
    gt, rec = _cubes()
    fns = E.metric_fns(PAPER)
    flat_gt, flat_rec = gt.reshape(-1, 4), rec.reshape(-1, 4)
    cos = np.sum(flat_gt * flat_rec, 1) / (np.linalg.norm(flat_gt, axis=1) * np.linalg.norm(flat_rec, axis=1))
    expected = np.degrees(np.mean(np.arccos(np.clip(cos, -1, 1))))
    assert expected > 1.0  # non-zero angles
    assert fns["SAM"](gt, rec) == pytest.approx(expected, rel=1e-9)
    # A pixel whose reconstruction is all zero (clipped away) counts as 90 degrees.
    rec[1, 1] = 0.0
    angles = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    angles[1 * 5 + 1] = 90.0
    assert fns["SAM"](gt, rec) == pytest.approx(np.mean(angles), rel=1e-9)
    # The kit's default policy (other papers) leaves such a pixel out instead.
    from common.metrics import sam

    kept = np.delete(angles, 1 * 5 + 1)
    assert sam(gt, rec) == pytest.approx(np.mean(kept), rel=1e-9)
