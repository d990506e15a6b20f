"""Every paper compiles a jitted training step on JAX.

The profiles turn XLA off where it does not pay off on a TensorFlow CPU
(``jit_compile=False``). On JAX that flag would run each step op by op, so the kit maps
it to True there (``common.training.jit_compile_setting``). This file runs under both
backends (tests/run.sh runs ``test_*_jax.py`` files again with KERAS_BACKEND=jax): on
TensorFlow the profile's own setting must come through unchanged.
"""

import keras
import pytest

from common.training import jit_compile_setting

ON_JAX = keras.backend.backend() == "jax"


def expected(profile_value):
    return True if ON_JAX else profile_value


@pytest.mark.parametrize("value", [False, True, "auto"])
def test_setting_per_backend(value):
    assert jit_compile_setting(value) == expected(value)
    assert jit_compile_setting(value, run_eagerly=True) is False


def test_rdab_coordconv():
    from papers.rdab_coordconv import train
    from papers.rdab_coordconv.config import get_profile
    from papers.rdab_coordconv.model import build_from_config

    config = get_profile("smoke")
    model = train.compile_model(build_from_config(config), config["train"], total_steps=4)
    assert model.jit_compile == expected(False)


def test_drcnn_sam_and_its_baselines():
    from papers.drcnn_sam import train
    from papers.drcnn_sam.config import get_config
    from papers.drcnn_sam.model import build_drcnn

    config = get_config("smoke")
    model = train.compile_drcnn(build_drcnn(config["architecture"]), config)
    assert model.jit_compile == expected(config.get("jit_compile", False))
    inputs = keras.Input((None, None, 1))
    baseline = train.compile_baseline(keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(inputs)),
                                      config["optimizer"], elements=16)
    assert baseline.jit_compile == expected(False)


def test_ms_ssfnet_training_and_inference_models():
    from papers.ms_ssfnet.config import get_config
    from papers.ms_ssfnet.experiment import build_networks

    config = get_config("smoke")
    assert config["jit_compile"] is False
    for method, (train_model, infer_model, _) in build_networks(config).items():
        assert train_model.jit_compile == expected(False), method
        assert infer_model.jit_compile == expected(False), method


def test_unet_ms_quick_jits_and_smoke_runs_eagerly():
    from papers.unet_ms.config import get_profile
    from papers.unet_ms.experiment import compile_model
    from papers.unet_ms.model import build_model

    smoke = get_profile("smoke")
    model = compile_model(build_model(smoke), smoke["train"])
    assert model.jit_compile is False and model.run_eagerly is True
    quick = get_profile("quick")
    assert quick["train"].get("jit_compile", "auto") == "auto"  # Keras decides on TensorFlow
    model = compile_model(model, quick["train"])  # the smoke network, compiled as quick
    if ON_JAX:
        assert model.jit_compile is True


def test_pix2pix_hs():
    from papers.pix2pix_hs.config import get_profile, model_settings
    from papers.pix2pix_hs.model import build_pix2pix_hs

    gan = build_pix2pix_hs(model_settings(get_profile("smoke"), 1))
    assert gan.jit_compile == expected(False)
