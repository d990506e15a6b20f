"""Train and evaluate drcnn_sam and its baselines, one network per scale (Sec. 4.1-4.2).

``train``: for every scale of the profile, cut the random training patches, train the
proposed cascade (``drcnn_x<s>``) and the three grey-image baselines (``srcnn_x<s>``,
``espcn_x<s>``, ``vdsr_x<s>``) with ``common.training.fit`` (resume, CSV/TensorBoard
logs, atomic weights). A network that already finished in the run folder is loaded, so an
interrupted run resumes at the network it was training.

``evaluate``: every test image of every dataset, whole image in one pass (Sec. 4.1: "we
used the whole interpolated low-resolution images as the input"), PSNR over the whole cube
with the n-bit peak and SAM in degrees (eqs. 4-5), per image and averaged, in the layout of
Tables 1-2; figures for the first test image.
"""

import time

import numpy as np

from common import metrics
from common.evaluation import evaluate_images
from common.inference import forward, predict_full
from common.io import KitError
from common.training import count_params, fit, load_weights, set_seed
from papers.drcnn_sam import baselines as bl
from papers.drcnn_sam import data as D
from papers.drcnn_sam.config import architecture
from papers.drcnn_sam.model import build_drcnn, inference_model
from papers.drcnn_sam.train import LossTermLog, compile_baseline, compile_drcnn, schedule_callbacks

PAPER = "drcnn_sam"
METHOD = "Ours (DRCNN + SAM loss)"
METHOD_NAMES = {
    "bicubic": "Bicubic",
    "srcnn": "SRCNN (Dong[4])",
    "espcn": "ESPCN (Shi[18])",
    "vdsr": "VDSR (Kim[11])",
    "drcnn": METHOD,
}


# ----------------------------------------------------------------------------- models

def build_network(kind, scale, config):
    """The untrained network ``kind`` ('drcnn', 'srcnn', 'espcn', 'vdsr') of a profile."""
    if kind == "drcnn":
        return build_drcnn(architecture(config), name=f"drcnn_x{scale}")
    arch = config["baselines"][kind]
    if kind == "srcnn":
        return bl.build_srcnn(arch, name=f"srcnn_x{scale}")
    if kind == "espcn":
        return bl.build_espcn(scale, arch, name=f"espcn_x{scale}")
    if kind == "vdsr":
        return bl.build_vdsr(arch, name=f"vdsr_x{scale}")
    raise KitError(f"drcnn_sam: unknown network {kind!r}")


def networks(config):
    return ["drcnn"] + [m for m in config["baselines"]["methods"] if m != "bicubic"]


def build_networks(config):
    """{'<kind>_x<scale>': untrained network} for every scale, the cascade first."""
    return {f"{kind}_x{scale}": build_network(kind, scale, config)
            for scale in config["model"]["scales"] for kind in networks(config)}


# ----------------------------------------------------------------------------- training

def _training_images(sources, which):
    """The ``which`` ("fit" or "val") images of every source (``data.fit_and_validation_images``)."""
    for source in sources:
        fit, val = D.fit_and_validation_images(source)
        for name in (fit if which == "fit" else val):
            yield source.load(name)[0]


def make_patches(sources, scale, config, seed):
    """(train, val) patch dicts for one scale (see ``data.image_patches``)."""
    data = config["data"]
    sigma, size, total = data["blur_sigma"], data["patch_size"], data["n_patches"]
    fraction = data["val_fraction"]
    n_train = int(round(total * (1 - fraction)))
    protocol = D.Degradation.of(config)
    train = D.training_patches(_training_images(sources, "fit"), scale, sigma, n_train, size, seed, protocol)
    # The validation patches come from images the network does not train on (CAVE / Harvard:
    # ``data.hold_out_images``; synthetic: the validation scenes), so the plateau schedule
    # watches an error on unseen content.
    val = D.training_patches(_training_images(sources, "val"), scale, sigma, total - n_train, size,
                             seed + 1, protocol)
    return train, val


def _dataset(inputs, targets, batch, seed, shuffle):
    from data_prep.pipeline import make_dataset

    return make_dataset(inputs, targets, batch, shuffle=shuffle, augment=False, seed=seed)


def _fit_network(run, kind, scale, config, train, val, seed):
    """Train one network; returns (model, facts)."""
    model = build_network(kind, scale, config)
    if kind == "drcnn":
        compile_drcnn(model, config)
        batch, epochs = config["train"]["batch_size"], config["train"]["epochs"]
        train_ds = _dataset(train["up"], (train["hr"], train["hr"]), batch, seed, True)
        val_ds = _dataset(val["up"], (val["hr"], val["hr"]), batch, seed, False)
        probe = slice(0, min(len(val["hr"]), batch))  # a fixed batch of validation patches
        callbacks = schedule_callbacks(config) + [LossTermLog(val["up"][probe], val["hr"][probe], config)]
    else:
        settings = config["baselines"]
        optimizer = settings["vdsr_optimizer"] if kind == "vdsr" else settings["optimizer"]
        x_key, y_key = ("lr", "hr_sub") if kind == "espcn" else ("up", "hr")
        compile_baseline(model, optimizer)
        batch, epochs = settings["batch_size"], settings["epochs"]
        train_ds = _dataset(train[x_key], train[y_key], batch, seed, True)
        val_ds = _dataset(val[x_key], val[y_key], batch, seed, False)
        callbacks = schedule_callbacks(config)
    name = f"{kind}_x{scale}"
    started = time.monotonic()
    history = fit(model, train_ds, val_ds, epochs=epochs, run_dir=run.out_dir, name=name,
                  callbacks=callbacks, verbose=2, save_keras=True)
    seconds = time.monotonic() - started
    facts = {
        "network": name,
        "train_seconds": seconds,
        "epochs_logged": len(history.get("epoch", [])),
        "final_val_loss": (history.get("val_loss") or [None])[-1],
        "final_learning_rate": (history.get("learning_rate") or [None])[-1],
        "trained_parameters": count_params(model)[0],
        "train_samples": int(len(train["hr"])),
        "val_samples": int(len(val["hr"])),
    }
    return model, facts


def train(run, config, data):
    """Train every network of every scale; returns ({name: model}, facts)."""
    sources = data.parts["sources"]
    set_seed(run.seed)
    models, facts = {}, {"networks": {}}
    started = time.monotonic()
    for scale in config["model"]["scales"]:
        run.stage(f"x{scale}: cutting {config['data']['n_patches']} patches of {config['data']['patch_size']}^2")
        train_p, val_p = make_patches(sources, scale, config, run.seed)
        grey_train = D.grey_patches(train_p, config["baselines"]["n_grey_patches"], scale, run.seed)
        n_val_grey = max(1, int(config["baselines"]["n_grey_patches"] * config["data"]["val_fraction"]))
        grey_val = D.grey_patches(val_p, n_val_grey, scale, run.seed + 1)
        for kind in networks(config):
            run.stage(f"x{scale}: training {kind}")
            data = (train_p, val_p) if kind == "drcnn" else (grey_train, grey_val)
            model, fact = _fit_network(run, kind, scale, config, *data, seed=run.seed)
            models[fact["network"]] = model
            facts["networks"][fact["network"]] = fact
            run.stage(f"x{scale}: {kind} done in {fact['train_seconds']:.1f}s "
                      f"(val loss {fact['final_val_loss']})")
    facts["train_seconds"] = time.monotonic() - started
    return models, facts


def load_trained(run, config):
    """The finished networks of a training run in the run folder (weights files)."""
    return {name: load_weights(model, run.folder, name, PAPER) for name, model in build_networks(config).items()}


# ----------------------------------------------------------------------------- evaluation

def _grey_predict(model, cube, chunk=8):
    """Band by band: every band of an H x W x C cube through a 1-channel network."""
    bands = np.transpose(cube, (2, 0, 1))[..., None]
    out = [forward(model, bands[i : i + chunk]) for i in range(0, len(bands), chunk)]
    return np.transpose(np.concatenate(out)[..., 0], (1, 2, 0))


def predict_all(models, scale, up, lr, config):
    """Every method's reconstruction of one image, clipped to the valid range [0, peak]."""
    peak = config["eval"]["psnr_peak"]
    preds = {"bicubic": up}
    for kind in networks(config):
        model = models[f"{kind}_x{scale}"]
        if kind == "drcnn":
            preds[kind] = predict_full(inference_model(model), up)
        elif kind == "espcn":
            # The sub-pixel output covers floor(H/s)*s rows/cols; a border thinner than the
            # scale is left to the bicubic input (same data for every method otherwise).
            sr = _grey_predict(model, lr)
            full = up.copy()
            full[: sr.shape[0], : sr.shape[1]] = sr
            preds[kind] = full
        else:
            preds[kind] = _grey_predict(model, up)
    return {k: np.clip(v, 0.0, peak) for k, v in preds.items()}


def metric_fns(config):
    """Eq. (4): PSNR over the whole cube with the n-bit peak; eq. (5): SAM in degrees, an
    all-zero reconstruction of a non-zero spectrum counting as 90 degrees
    (``common.metrics.sam``'s 'right_angle' policy: a method is charged for a lost pixel)."""
    peak = config["eval"]["psnr_peak"]
    return {
        "PSNR": lambda gt, rec: metrics.psnr(gt, rec, peak=peak, mode="cube"),
        "SAM": lambda gt, rec: metrics.sam(gt, rec, degrees=True, zero_policy="right_angle"),
    }


def evaluate(run, config, data, models):
    """Per-image and mean metrics of every method, scale and dataset, plus figures, as
    the measured Tables 1-2.

    Images are read, degraded and reconstructed one at a time and only their metrics are
    kept (``common.evaluation.evaluate_images`` consumes the generator lazily).
    """
    sources = data.parts["sources"]
    scales = config["model"]["scales"]
    logs = {f"DRCNN x{s}": run.folder / f"drcnn_x{s}_log.csv" for s in scales}
    methods = ["bicubic"] + networks(config)
    fns = {f"{m}|{metric}": _on_method(m, fn) for m in methods for metric, fn in metric_fns(config).items()}
    results, figures = {}, []
    fig_scale = config["eval"]["figure_scale"] if config["eval"]["figure_scale"] in scales else scales[0]
    for source in sources:
        for scale in scales:
            def items():
                for i, name in enumerate(source.test):
                    hr, wavelengths = source.load(name)
                    up, lr = D.degrade_pair(hr, scale, protocol=D.Degradation.of(config))
                    preds = predict_all(models, scale, up, lr, config)
                    if i == 0 and scale == fig_scale and source is sources[0]:
                        figures.extend(_figures(run, source, scale, name, hr, up, preds, wavelengths, logs))
                    yield name, hr, preds

            summary = evaluate_images(items(), fns)
            rows = {m: _method_summary(summary, m) for m in methods}
            results[(source.key, scale)] = rows
            run.stage(f"{source.key} x{scale}: " + ", ".join(
                f"{m} {r['mean']['PSNR']:.2f} dB / {r['mean']['SAM']:.2f} deg" for m, r in rows.items()))
    return {
        "tables": measured_tables(results, sources, config),
        "per_image": per_image_json(results),
        "per_image_markdown": per_image_markdown(results),
        "scales": scales,
        "psnr_peak": config["eval"]["psnr_peak"],
        "figures": figures,
    }


def _on_method(method, fn):
    return lambda gt, preds: fn(gt, preds[method])


def _method_summary(summary, method):
    """One method's columns of the combined ``evaluate_images`` summary."""
    prefix = f"{method}|"
    strip = lambda d: {k[len(prefix):]: v for k, v in d.items() if k.startswith(prefix)}  # noqa: E731
    return {
        "per_image": [{"image": row["image"], **strip(row)} for row in summary["per_image"]],
        "mean": strip(summary["mean"]),
        "std": strip(summary["std"]),
        "n_images": summary["n_images"],
    }


def _figures(run, source, scale, name, hr, up, preds, wavelengths, logs):
    from common.figures import standard_figures
    from data_prep.render import display_srgb
    from papers.drcnn_sam.figures import plot_band_comparison

    prefix = f"{source.key}_x{scale}_{name}_"
    paths = standard_figures(run.out_dir, hr, preds["drcnn"], wavelengths, logs or {},
                             inputs=display_srgb(up, wavelengths), prefix=prefix,
                             baseline=(METHOD_NAMES["bicubic"], preds["bicubic"]))
    png = run.out_dir / "figures" / f"{prefix}band_550nm.png"
    plot_band_comparison(hr, preds, wavelengths, png, METHOD_NAMES,
                         title=f"{name}, x{scale}: band nearest 550 nm (cf. Figs. 4-5)")
    return paths + [str(png.relative_to(run.out_dir))]


def measured_tables(results, sources, config):
    """The measured Tables 1-2: one row per method, columns PSNR_x<s> and SAM_x<s>."""
    tables = []
    for source in sources:
        values = {m: {} for m in METHOD_NAMES}
        stds = {m: {} for m in METHOD_NAMES}
        for scale in config["model"]["scales"]:
            for method, summary in results[(source.key, scale)].items():
                for metric in ("PSNR", "SAM"):
                    values[method][f"{metric}_x{scale}"] = summary["mean"][metric]
                    stds[method][f"{metric}_x{scale}"] = summary["std"][metric]
        # Bicubic needs no training: on the paper's data with its protocol its row is
        # directly comparable with the paper's, whatever the profile.
        rows = [{"method": METHOD_NAMES[m], "values": values[m], "std": stds[m], "trained": m != "bicubic"}
                for m in METHOD_NAMES if values[m]]
        tables.append({
            "id": source.table,
            "dataset_key": source.key,
            "dataset": f"{source.key}: test {', '.join(source.test)} ({len(source.test)} images)",
            "rows": rows,
        })
    return tables


def per_image_markdown(results):
    lines = []
    for (key, scale), rows in results.items():
        lines += [f"**{key}, x{scale}** (PSNR dB / SAM degrees)", "",
                  "| image | " + " | ".join(METHOD_NAMES[m] for m in rows) + " |",
                  "|---" * (len(rows) + 1) + "|"]
        names = [r["image"] for r in next(iter(rows.values()))["per_image"]]
        for i, name in enumerate(names):
            cells = [f"{rows[m]['per_image'][i]['PSNR']:.2f} / {rows[m]['per_image'][i]['SAM']:.2f}" for m in rows]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def per_image_json(results):
    return {f"{key}_x{scale}": {METHOD_NAMES[m]: s["per_image"] for m, s in rows.items()}
            for (key, scale), rows in results.items()}
