"""--mixed-precision bf16: the option is parsed, applied before any model and recorded;
under Keras' mixed_bfloat16 policy every paper's network (smoke sizes) computes its
convolutions in bfloat16, keeps float32 variables, returns float32 outputs, and a
training step gives a finite float32 loss. Every test that changes the global policy
restores it (``bf16`` fixture)."""

import argparse
import json

import numpy as np
import pytest

import keras
from common import cli, run_all
from common.io import KitError
from tests.conftest import paper_command, paper_config


@pytest.fixture
def bf16():
    before = keras.mixed_precision.global_policy()
    cli.set_precision("bf16")
    yield
    keras.mixed_precision.set_global_policy(before)


@pytest.fixture
def restore_policy():
    before = keras.mixed_precision.global_policy()
    yield
    keras.mixed_precision.set_global_policy(before)


# ----------------------------------------------------------------- the option


def test_option_parsed_with_float32_default():
    parser = cli.make_parser("toy", "toy paper")
    assert parser.parse_args(["train"]).mixed_precision == "none"
    assert parser.parse_args(["train", "--mixed-precision", "bf16"]).mixed_precision == "bf16"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--mixed-precision", "fp16"])  # float16 is not offered


def _args(**kw):
    base = dict(command="train", data=None, data_root=None, profile="quick", epochs=None, out=None, seed=0,
                mixed_precision="none")
    base.update(kw)
    return argparse.Namespace(**base)


def test_prepare_run_sets_the_policy_and_records_it(tmp_path, restore_policy):
    run = cli.prepare_run(_args(out=str(tmp_path / "bf16"), mixed_precision="bf16"), "toy")
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    run.path("x").write_text("")
    assert json.loads((tmp_path / "bf16" / "run_args.json").read_text())["mixed_precision"] == "bf16"
    # A float32 run is another run: it does not continue in the bf16 run's folder...
    with pytest.raises(KitError, match="holds a run with other arguments"):
        cli.prepare_run(_args(out=str(tmp_path / "bf16")), "toy")
    # ... and it puts the policy back to float32.
    cli.prepare_run(_args(out=str(tmp_path / "f32")), "toy")
    assert keras.mixed_precision.global_policy().name == "float32"


def test_write_results_records_the_precision(tmp_path):
    from tests.test_report import PUBLISHED, _measured

    from common.report import write_results

    run = cli.Run(paper="toy", args=argparse.Namespace(profile="quick", seed=0, command="reproduce",
                                                       mixed_precision="bf16"), folder=tmp_path)
    write_results(run, PUBLISHED, _measured())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["mixed_precision"] == "bf16" and metrics["precision_policy"] == "mixed_bfloat16"
    assert "Precision: mixed_bfloat16" in (tmp_path / "comparison.md").read_text()


def test_run_all_passes_the_option_on(tmp_path, monkeypatch):
    commands = []

    class FakeProcess:
        def __init__(self, command, **kwargs):
            commands.append(command)
            self.stdout = iter(())

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def wait(self):
            return 1

    monkeypatch.setattr(run_all.subprocess, "Popen", FakeProcess)
    args = run_all.parse_args(["--papers", "unet_ms", "--mixed-precision", "bf16"])
    run_all.run_paper("unet_ms", args, tmp_path, 0.0)
    assert commands[0][-2:] == ["--mixed-precision", "bf16"]
    run_all.run_paper("unet_ms", run_all.parse_args(["--papers", "unet_ms"]), tmp_path, 0.0)
    assert "--mixed-precision" not in commands[1]


# ----------------------------------------------------------------- the networks


def _uniform(shape, low=0.05, high=1.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype("float32")


def _ms_ssfnet():
    from papers.ms_ssfnet import experiment, model

    cfg = paper_config("ms_ssfnet", "smoke")
    net = experiment.compile_ms_ssfnet(model.build_from_config(cfg), cfg)
    hr = 2 ** cfg["model"]["scales"] * 2
    return net, {model.INPUT_LR: _uniform((1, 2, 2, cfg["model"]["bands"])), model.INPUT_RGB: _uniform((1, hr, hr, 3))}


def _drcnn_sam():
    from papers.drcnn_sam import config, model, train

    cfg = paper_config("drcnn_sam", "smoke")
    net = train.compile_drcnn(model.build_drcnn(config.architecture(cfg)), cfg)
    return net, _uniform((1, 16, 16, cfg["model"]["bands"]))


def _unet_ms():
    from papers.unet_ms import experiment, model

    profile = paper_config("unet_ms", "smoke")
    net = experiment.compile_model(model.build_model(profile), profile["train"])
    return net, _uniform((1, 16, 16, 3))


def _rdab_coordconv():
    from papers.rdab_coordconv import model, train

    profile = paper_config("rdab_coordconv", "smoke")
    net = train.compile_model(model.build_from_config(profile), profile["train"], total_steps=10)
    return net, _uniform((1, 16, 16, 3))


def _ms_ssfnet_baseline():
    from papers.ms_ssfnet import baselines, experiment

    cfg = paper_config("ms_ssfnet", "smoke")
    net = experiment.compile_baseline(baselines.NETWORK_BASELINES["SSF-ResNet"](cfg), cfg)
    return net, {baselines.INPUT_UP: _uniform((1, 16, 16, cfg["model"]["bands"])),
                 baselines.INPUT_RGB: _uniform((1, 16, 16, 3))}


def _drcnn_vdsr():
    from papers.drcnn_sam import baselines, train

    cfg = paper_config("drcnn_sam", "smoke")
    net = baselines.build_vdsr(cfg["baselines"]["vdsr"])
    train.compile_baseline(net, cfg["baselines"]["optimizer"])
    return net, _uniform((1, 16, 16, 1))


NETWORKS = {"ms_ssfnet": _ms_ssfnet, "drcnn_sam": _drcnn_sam, "unet_ms": _unet_ms,
            "rdab_coordconv": _rdab_coordconv, "ms_ssfnet/ssf_resnet": _ms_ssfnet_baseline,
            "drcnn_sam/vdsr": _drcnn_vdsr}


def _convs(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def _check_mixed(model):
    convs = _convs(model)
    assert convs and convs[0].compute_dtype == "bfloat16", [c.compute_dtype for c in convs[:3]]
    assert {v.dtype for v in model.weights} <= {"float32", "int32", "int64"}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_network_under_bf16(name, bf16):
    model, x = NETWORKS[name]()
    model.run_eagerly = True  # no graph tracing: tens of seconds for rdab_coordconv's on this CPU
    _check_mixed(model)
    y_pred = model(x, training=False)
    assert all(keras.backend.standardize_dtype(t.dtype) == "float32" for t in keras.tree.flatten(y_pred))
    y = keras.tree.map_structure(lambda t: _uniform(tuple(t.shape), seed=1), y_pred)
    loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])


def test_pix2pix_hs_objectives_are_float32(bf16):
    from papers.pix2pix_hs import config, model

    profile = paper_config("pix2pix_hs", "smoke")
    settings = config.model_settings(profile)
    gan = model.build_pix2pix_hs(settings)
    _check_mixed(gan.generator)
    _check_mixed(gan.discriminator)
    side = model.required_multiple(settings["n_branches"])
    side = max(side, 32)
    rgb = keras.ops.convert_to_tensor(_uniform((1, side, side, 3), -1, 1))
    hs = keras.ops.convert_to_tensor(_uniform((1, side, side, settings["bands"]), -1, 1, seed=1))
    assert gan.generator(rgb).dtype == "float32"
    assert gan.discriminator([rgb, hs]).dtype == "float32"
    losses = gan._forward(rgb, hs, training=True)
    assert {name: keras.backend.standardize_dtype(v.dtype) for name, v in losses.items()} == dict.fromkeys(losses, "float32")
    gan.run_eagerly = True
    gan.d_iterations, gan.g_iterations = 1, 1  # one D step, then one G step
    for _ in range(2):
        logs = gan.train_on_batch(rgb, hs, return_dict=True)
        assert all(np.isfinite(v) for v in logs.values())


def test_names_and_weights_do_not_depend_on_the_policy(restore_policy):
    from papers.rdab_coordconv import model

    shapes = {}
    for mode in ("none", "bf16"):
        cli.set_precision(mode)
        net = model.build_model()
        shapes[mode] = [(v.path, tuple(v.shape), v.dtype) for v in net.weights]
        assert net.count_params() == 233_059
    assert shapes["none"] == shapes["bf16"]


@pytest.mark.slow
def test_paper_smoke_run_in_bf16(tmp_path, restore_policy):
    main = paper_command("ms_ssfnet")
    assert main(["reproduce", "--profile", "smoke", "--out", str(tmp_path), "--mixed-precision", "bf16"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["mixed_precision"] == "bf16" and np.isfinite(metrics["headline"]["measured"])
