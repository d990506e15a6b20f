"""Every paper compiles a jitted training step on JAX.

The profiles turn XLA off where it does not pay off on a TensorFlow CPU
(``jit_compile=False``). On JAX that flag would run each step op by op, so the kit maps
it to True there (``common.training.jit_compile_setting``). This file runs under both
backends (tests/run.sh runs ``test_*_jax.py`` files again with KERAS_BACKEND=jax): on
TensorFlow the profile's own setting must come through unchanged. On JAX, paper runs
also keep compiled programs on disk (``common.cli.enable_compilation_cache``).
"""

import keras
import pytest

from common.training import jit_compile_setting
from tests.conftest import paper_config

ON_JAX = keras.backend.backend() == "jax"


def expected(profile_value):
    return True if ON_JAX else profile_value


@pytest.mark.parametrize("value", [False, True, "auto"])
def test_setting_per_backend(value):
    assert jit_compile_setting(value) == expected(value)
    assert jit_compile_setting(value, run_eagerly=True) is False


def _tiny(outputs=1, bands=31):
    """A one-convolution network with ``outputs`` outputs: the compile paths under test
    do not depend on the network (building the papers' networks is slow on JAX)."""
    inputs = keras.Input((None, None, 3))
    heads = [keras.layers.Conv2D(bands, 1)(inputs) for _ in range(outputs)]
    return keras.Model(inputs, heads if outputs > 1 else heads[0])


def test_rdab_coordconv():
    from papers.rdab_coordconv import train

    model = train.compile_model(_tiny(), paper_config("rdab_coordconv", "smoke")["train"], total_steps=4)
    assert model.jit_compile == expected(False)


def test_drcnn_sam_and_its_baselines():
    from papers.drcnn_sam import train

    config = paper_config("drcnn_sam", "smoke")
    model = train.compile_drcnn(_tiny(outputs=2, bands=config["model"]["bands"]), config)
    assert model.jit_compile == expected(config["train"]["jit_compile"])
    baseline = train.compile_baseline(_tiny(bands=1), config["train"]["optimizer"])
    assert baseline.jit_compile == expected(False)


def test_ms_ssfnet_training_and_inference_models():
    from papers.ms_ssfnet.experiment import build_networks

    config = paper_config("ms_ssfnet", "smoke")
    config["baselines"]["methods"] = ("SSF-CNN",)  # one baseline: building is slow on JAX
    assert config["train"]["jit_compile"] is False
    for method, (train_model, infer_model, _) in build_networks(config).items():
        assert train_model.jit_compile == expected(False), method
        assert infer_model.jit_compile == expected(False), method


def test_unet_ms_quick_jits_and_smoke_runs_eagerly():
    from papers.unet_ms.experiment import compile_model

    model = compile_model(_tiny(), paper_config("unet_ms", "smoke")["train"])
    assert model.jit_compile is False and model.run_eagerly is True
    quick = paper_config("unet_ms", "quick")["train"]
    assert quick.get("jit_compile", "auto") == "auto"  # Keras decides on TensorFlow
    model = compile_model(_tiny(), quick)
    if ON_JAX:
        assert model.jit_compile is True


def test_pix2pix_hs():
    from papers.pix2pix_hs.config import model_settings
    from papers.pix2pix_hs.model import build_pix2pix_hs

    gan = build_pix2pix_hs(model_settings(paper_config("pix2pix_hs", "smoke"), 1))
    assert gan.jit_compile == expected(False)


def test_compilation_cache_folder(monkeypatch, tmp_path):
    from common.cli import JAX_CACHE_ENV, enable_compilation_cache

    monkeypatch.setenv(JAX_CACHE_ENV, "off")
    assert enable_compilation_cache() is None
    monkeypatch.setenv(JAX_CACHE_ENV, str(tmp_path / "compiled"))
    if not ON_JAX:
        assert enable_compilation_cache() is None
        return
    import jax

    before = jax.config.jax_compilation_cache_dir
    try:
        folder = enable_compilation_cache()
        assert folder == tmp_path / "compiled" and folder.is_dir()
        assert jax.config.jax_compilation_cache_dir == str(folder)
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
