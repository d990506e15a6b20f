"""Training, evaluation and the comparison with Table 2 for unet_ms.

- ``train``: the U-Net with Adam (lr 5e-5 multiplied by 0.93 every 10 epochs, weight
  decay 1e-6), MSE loss, 100 epochs, batch 128 (Sec. 4.2 and the released code), through
  ``common.training.fit`` (resume, CSV / TensorBoard logs, atomic ``unet_ms.keras``).
- ``evaluate``: the released test protocol (``test.py`` with ``dataset.py`` and
  ``utilities.py`` of the authors' code): the top-left 1280 x 1280 region of every test
  image (profile ``eval.crop``; ``None`` = the whole image, padded to a multiple of 16 and
  cropped back) goes through the network in one forward pass, and through the baselines;
  truth and prediction are clamped to [0, 1] and scaled to 0-255 for RMSE1, RMSE2, rRMSE1
  and rRMSE2 (``eval.clamp``), SAM takes them unclamped, as ``utilities.py`` does (Table 2
  conventions, ``common.metrics.yan_*``); per image, then averaged; figures of the first
  test image.
- ``reproduce``: both, then ``metrics.json`` and ``comparison.md`` beside the published
  Table 2 (``common.report``).
"""

import time

import numpy as np

from common import metrics as M
from common.evaluation import evaluate_images, per_image_markdown, summarize
from papers.unet_ms import baselines
from papers.unet_ms import data as D
from papers.unet_ms.model import build_model, reconstruct

PAPER = "unet_ms"
MODEL_NAME = "unet_ms"
METHOD = "Ours (multi-scale U-Net)"  # the row name of published.json
METRIC_ORDER = ("RMSE1", "RMSE2", "rRMSE1", "rRMSE2", "SAM")


# ----------------------------------------------------------------------------- metrics
def table2_metrics(scale=255.0, clamp=True):
    """Table 2's metrics ({name: fn(truth, pred)}) on truth / predictions on [0, 1].

    As the released ``utilities.py``: with ``clamp``, truth and prediction are clamped to
    [0, 1] and then multiplied by ``scale`` (``data_range=255.``) for RMSE1
    (``batch_RMSE``), RMSE2 (``batch_RMSE_G``), rRMSE1 (``batch_rRMSE``) and rRMSE2
    (``batch_rRMSE_G``); SAM (``batch_SAM``) takes the values unclamped. rRMSE1, rRMSE2 and
    SAM do not depend on the scale. rRMSE1 leaves truth values equal to zero out of the
    mean (the printed formula, and ``batch_rRMSE``, divide by them).
    """
    def prepared(t, p):
        if clamp:
            t, p = np.clip(t, 0.0, 1.0), np.clip(p, 0.0, 1.0)
        return t * scale, p * scale

    return {
        "RMSE1": lambda t, p: M.yan_rmse1(*prepared(t, p)),
        "RMSE2": lambda t, p: M.yan_rmse2(*prepared(t, p)),
        "rRMSE1": lambda t, p: M.yan_rrmse1(*prepared(t, p), zero_policy="exclude"),
        "rRMSE2": lambda t, p: M.yan_rrmse2(*prepared(t, p)),
        "SAM": lambda t, p: M.sam(t, p, degrees=True, zero_policy="exclude"),
    }


def evaluated_region(image, crop):
    """The part of a test image the released protocol evaluates: its top-left ``crop`` x
    ``crop`` pixels (``dataset.py``, ``HyperDataset(crop_size=1280, mode='test')``: "crop
    up left"; a side shorter than ``crop`` stays whole); ``crop=None``: the whole image."""
    if crop is None:
        return image
    return image[: int(crop), : int(crop)]


# ----------------------------------------------------------------------------- training
def lr_at_epoch(epoch, settings):
    """Sec. 4.2: ``lr0 * decay ** (epoch // every)`` (epoch counted from 0)."""
    return settings["learning_rate"] * settings["lr_decay"] ** (epoch // settings["lr_decay_epochs"])


def compile_model(model, settings):
    """Adam with weight decay and MSE (Sec. 4.2); the learning rate is set per epoch."""
    import keras

    from common.training import jit_compile_setting

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=settings["learning_rate"],
                                        weight_decay=settings["weight_decay"] or None),
        loss="mse",
        # "auto" lets Keras use XLA where it can; the smoke profile runs eagerly because
        # tracing a graph costs more than its few steps save.
        jit_compile=jit_compile_setting(settings.get("jit_compile", "auto"), settings.get("run_eagerly", False)),
        run_eagerly=settings.get("run_eagerly", False),
    )
    return model


def _training_data(dataset, parts, profile, seed, stage):
    """(train_data, val_data, steps_per_epoch, patch count, how) for ``common.training.fit``."""
    from data_prep.pipeline import make_dataset

    dsettings, tsettings = profile["data"], profile["train"]
    size, stride, batch = dsettings["patch_size"], dsettings["stride"], tsettings["batch_size"]
    first_rgb, _, _ = D.load_pair(dataset, parts["train"][0])
    nbytes, count = D.estimate_patch_bytes(first_rgb.shape, len(parts["train"]), size, stride,
                                           max_patches=dsettings["max_patches"])
    if nbytes <= D.IN_MEMORY_LIMIT_BYTES:
        stage(f"cutting {count} training patches of {size}x{size} (stride {stride}) in memory")
        patches = D.patch_arrays(dataset, parts["train"], size, stride,
                                 max_patches=dsettings["max_patches"], seed=seed)
        count = len(patches["rgb"])
        train = make_dataset(patches["rgb"], patches["hs"], batch, shuffle=True,
                             augment=dsettings["augment"], seed=seed)
        how = f"{count} patches in memory"
    else:
        stage(f"streaming about {count} training patches ({nbytes / 2**30:.0f} GiB as float32)")
        train, count = D.streamed_dataset(dataset, parts["train"], size, stride, batch, seed=seed)
        how = f"about {count} patches streamed image by image"
    val = None
    if parts.get("val"):
        vpatches = D.patch_arrays(dataset, parts["val"], size, stride,
                                  max_patches=dsettings["val_max_patches"], seed=seed + 10_000)
        val = make_dataset(vpatches["rgb"], vpatches["hs"], batch, shuffle=False, augment=False)
    steps = D.steps_for(count, batch) if nbytes <= D.IN_MEMORY_LIMIT_BYTES else None
    return train, val, steps, count, how


def train(run, profile, data):
    """Train the U-Net on the training images; returns ({name: model}, facts)."""
    import keras

    from common.training import count_params, fit, set_seed

    dataset, parts = data.dataset, data.splits
    tsettings = profile["train"]
    epochs = tsettings["epochs"]
    facts = run.read_facts()
    if (run.out_dir / f"{MODEL_NAME}.done").is_file() and facts:
        run.stage(f"{MODEL_NAME} already trained in this run folder: loading it")
        return load_trained(run, profile), facts
    set_seed(run.seed)
    train_data, val_data, steps, count, how = _training_data(dataset, parts, profile, run.seed, run.stage)
    model = compile_model(build_model(profile), tsettings)
    trainable, non_trainable = count_params(model)
    run.stage(f"training {model.name} ({trainable:,} weights) for {epochs} epochs on {how}, "
              f"batch {tsettings['batch_size']}")
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch: lr_at_epoch(epoch, tsettings))
    started = time.monotonic()
    history = fit(model, train_data, val_data, epochs=epochs, run_dir=run.out_dir, name=MODEL_NAME,
                  steps_per_epoch=steps, callbacks=[schedule], verbose=2)
    seconds = time.monotonic() - started
    run.stage(f"training done in {seconds:.0f}s; final loss {history.get('loss', [float('nan')])[-1]:.3g}")
    facts = {
        "train_seconds": seconds,
        "epochs": epochs,
        "train_patches": count,
        "final_loss": history.get("loss", [None])[-1],
        "final_val_loss": history.get("val_loss", [None])[-1],
    }
    return {MODEL_NAME: model}, facts


def load_trained(run, profile):
    """The network trained in this run folder (``unet_ms.weights.h5``)."""
    from common.training import load_weights

    model = compile_model(build_model(profile), profile["train"])
    load_weights(model, run.folder, MODEL_NAME, PAPER)
    return {MODEL_NAME: model}


# ----------------------------------------------------------------------------- evaluation
def training_pixels(dataset, names, max_pixels, seed):
    """(N, 3) RGB and (N, 31) spectra: ``max_pixels`` drawn evenly from the training images
    (all of an image's pixels where its share is larger)."""
    per_image = max(1, int(max_pixels) // max(len(names), 1))
    pairs = ((rgb, hs) for _, rgb, hs, _ in D.iter_pairs(dataset, names))
    return baselines.sample_pixels(pairs, per_image, seed=seed)


def fit_linear_regression(dataset, parts, profile, seed):
    """The least-squares RGB -> spectrum baseline, fitted on random training pixels."""
    rgb, hs = training_pixels(dataset, parts["train"], profile["eval"]["linreg_max_pixels"], seed)
    return baselines.LinearSpectralRegression(intercept=False).fit(rgb, hs), len(rgb)


def evaluate(run, profile, data, networks):
    """Table 2 metrics of the network and the baselines on the test images: per image,
    averaged, as tables in the shape of ``published.json``, and figures."""
    from common.figures import standard_figures

    dataset, parts, model = data.dataset, data.splits, networks[MODEL_NAME]
    logs = {"U-Net training": run.folder / f"{MODEL_NAME}_log.csv"}
    esettings = profile["eval"]
    test = list(parts["test"])
    if esettings["max_test_images"]:
        test = test[: esettings["max_test_images"]]
    methods = [METHOD]
    linreg = None
    if "spline" in esettings["baselines"]:
        methods.append(baselines.SPLINE_NAME)
    if "linear_regression" in esettings["baselines"]:
        run.stage("fitting the linear-regression baseline on training pixels")
        linreg, n_pixels = fit_linear_regression(dataset, parts, profile, run.seed)
        methods.append(baselines.LINREG_NAME)

    fns = table2_metrics(esettings["metric_scale"], esettings.get("clamp", True))
    crop = esettings.get("crop")
    rows = {method: [] for method in methods}
    figures = []
    # One image at a time: only the current image's cube and predictions are in memory.
    for index, (name, rgb, hs, wavelengths) in enumerate(D.iter_pairs(dataset, test)):
        shown = D.paper_image_name(name)
        full_shape = rgb.shape
        rgb, hs = evaluated_region(rgb, crop), evaluated_region(hs, crop)
        started = time.monotonic()
        predictions = {METHOD: reconstruct(model, rgb)}
        region = "" if rgb.shape == full_shape else f" (top-left {rgb.shape[0]}x{rgb.shape[1]})"
        run.stage(f"test image {shown} ({full_shape[0]}x{full_shape[1]}{region}): one forward pass "
                  f"in {time.monotonic() - started:.1f}s")
        if baselines.SPLINE_NAME in methods:
            predictions[baselines.SPLINE_NAME] = baselines.spline_interpolation(rgb, wavelengths)
        if linreg is not None:
            predictions[baselines.LINREG_NAME] = linreg.predict(rgb)
        for method, pred in predictions.items():
            rows[method] += evaluate_images([(shown, hs, pred)], fns)["per_image"]
        if index == 0:
            cheap = baselines.LINREG_NAME if baselines.LINREG_NAME in predictions else baselines.SPLINE_NAME
            figures = standard_figures(run.out_dir, hs, predictions[METHOD], wavelengths,
                                       logs or {}, inputs=rgb, prefix=f"{shown}_",
                                       baseline=(cheap, predictions[cheap]) if cheap in predictions else None)
    summaries = {method: summarize(method_rows, list(fns)) for method, method_rows in rows.items()}
    measured = {
        "tables": measured_tables(summaries, dataset.name, D.short_label(dataset, parts)),
        "per_image": {method: s["per_image"] for method, s in summaries.items()},
        "per_image_markdown": per_image_section(summaries),
        "figures": figures,
    }
    if linreg is not None:
        measured["linreg_pixels"] = n_pixels
    return measured


def measured_tables(summaries, dataset_key, dataset_text):
    """Measured tables in the published shape: the average, and per image when the test
    images are the paper's (NTIRE 2018)."""
    tables = [{
        "id": "table2",
        "dataset": dataset_text,
        "dataset_key": dataset_key,
        "rows": [{"method": method, "values": s["mean"], "std": s["std"]} for method, s in summaries.items()],
    }]
    if dataset_key == "ntire2018":
        images = [row["image"] for row in next(iter(summaries.values()))["per_image"]]
        for image in images:
            rows = []
            for method, s in summaries.items():
                row = next(r for r in s["per_image"] if r["image"] == image)
                rows.append({"method": method, "values": {m: row[m] for m in METRIC_ORDER}})
            tables.append({"id": f"table2_{image}", "dataset": f"{dataset_text}; image {image}",
                           "dataset_key": dataset_key, "rows": rows})
    return tables


def per_image_section(summaries):
    parts = []
    for method, summary in summaries.items():
        parts.append(f"**{method}** (0-255 scale for RMSE1/RMSE2, SAM in degrees)\n")
        parts.append(per_image_markdown(summary, METRIC_ORDER))
        parts.append("")
    return "\n".join(parts)


