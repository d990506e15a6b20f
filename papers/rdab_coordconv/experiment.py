"""Train, evaluate and compare: the logic behind ``python -m papers.rdab_coordconv``.

* Networks: the proposed model and, when the profile asks for them, the ablations of
  Tables 2-3 (without CoordConv, without CBAM), each trained by ``train.train_network``
  into the run folder (``<variant>.keras``, logs, resume), plus the kit's linear
  regression baseline. With the authors' weights file present, the released model is
  imported and evaluated as one more row: the authors' ARAD-trained network on our data.
* Inference (Sec. 3.1 and the released test script): 64 x 64 tiles, the edge tiles
  zero-padded, each predicted independently. The kit's overlap-blended tiling (tiles
  overlapping by ``eval.overlap`` pixels, averaged under a ramp window) is run too and
  compared in a table of its own.
* Metrics per image, then the mean over images: MRAE (NTIRE 2020: mean of |gt - rec| / gt
  over H x W x C, zeros in the truth handled by ``eval.mrae_zero_policy``), SSIM (per band,
  11 x 11 Gaussian window, peak 1, averaged over bands) and RMSE (over the cube, on the
  cube's [0, 1] scale); plus the parameter count and the time per 482 x 512 image.
"""

import time
from pathlib import Path

import numpy as np

from common import distribute
from common.evaluation import evaluate_images, per_image_markdown
from common.figures import standard_figures
from common.inference import predict_tiled
from common.metrics import mrae, rmse, ssim
from common.training import count_params, set_seed
from data_prep.cube import DEFAULT_WAVELENGTHS
from papers.rdab_coordconv import data as D
from papers.rdab_coordconv.baselines import fit_linear_baseline, load_linear_baseline
from papers.rdab_coordconv.model import build_model
from papers.rdab_coordconv.train import train_network

PAPER = "rdab_coordconv"

PROPOSED = "Proposed (RDAB + CoordConv + CBAM)"
RELEASED = "Released weights (authors, trained on ARAD)"
LINEAR = "Linear regression (kit baseline)"
# variant -> (row name in Tables 2-3, build_model overrides)
VARIANTS = {
    "proposed": (PROPOSED, {}),
    "no_coordconv": ("Without Coordinate Convolution", {"use_coordconv": False}),
    "no_cbam": ("Without CBAM", {"use_cbam": False}),
}


# ----------------------------------------------------------------------------- training

def variants_to_train(config):
    return list(VARIANTS) if config["train"]["ablations"] else ["proposed"]


def build_variant(config, variant):
    m = config["model"]
    overrides = {"use_coordconv": m["use_coordconv"], "use_cbam": m["use_cbam"], **VARIANTS[variant][1]}
    return build_model(widths=tuple(m["widths"]), dense_width=m["dense_width"], dropout=m["dropout"],
                       zero_coord_kernels=m.get("zero_coord_kernels", False), **overrides)


def train(run, config, data):
    """Train every network of the profile and fit the linear baseline; returns
    ({variant: model}, facts). With ``--model`` (``config['eval']['model']``) nothing is
    trained: that model is evaluated as the proposed network."""
    if config["eval"].get("model"):
        return load_trained(run, config), {}
    dataset, description, splits = data.dataset, data.description, data.splits
    train_ds, val_ds, steps, n_patches = D.training_data(dataset, description, splits, config, run.seed)
    run.stage(f"training patches: {n_patches} of {config['data']['patch_size']}px, {steps} steps per epoch")
    facts = {"train_seconds": {}, "patches": n_patches, "steps_per_epoch": steps}
    models = {}
    for variant in variants_to_train(config):
        set_seed(run.seed)
        model = build_variant(config, variant)
        trainable, frozen = count_params(model)
        run.stage(f"training {variant} ({trainable + frozen:,} values) for {config['train']['epochs']} epochs")
        start = time.monotonic()
        train_network(model, train_ds, val_ds, config["train"], steps, run.out_dir, variant)
        facts["train_seconds"][variant] = round(time.monotonic() - start, 1)
        models[variant] = model
    start = time.monotonic()
    pairs = (D.load_pair(dataset, name) for name in splits["train"])
    fit_linear_baseline(pairs, seed=run.seed).save(run.path("linear_baseline.npy"))
    facts["train_seconds"]["linear_baseline"] = round(time.monotonic() - start, 1)
    return models, facts


# ----------------------------------------------------------------------------- evaluation

def reconstruct(model, rgb, tile=64, overlap=0):
    """Released test script (``overlap=0``): zero-padded 64 x 64 tiles; ``overlap > 0``:
    overlapping tiles averaged under a ramp window."""
    return predict_tiled(model, rgb, tile, overlap=overlap, blend=overlap > 0)


def metric_fns(zero_policy):
    return {
        "MRAE": lambda gt, rec: mrae(gt, rec, zero_policy=zero_policy),
        "SSIM": lambda gt, rec: ssim(gt, rec, peak=1.0),
        "RMSE": rmse,
    }


def zero_fraction(dataset, names):
    zeros = total = 0
    for name in names:
        cube = dataset.load(name).data
        zeros += int(np.count_nonzero(cube == 0))
        total += cube.size
    return zeros / max(total, 1)


def time_per_image(model, shape, tile=64, overlap=0, repeats=3):
    """Median seconds to reconstruct one ``shape`` image (after one warm-up run)."""
    rgb = np.random.default_rng(0).random((*shape, 3)).astype(np.float32)
    reconstruct(model, rgb, tile, overlap)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        reconstruct(model, rgb, tile, overlap)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def load_trained(run, config):
    """{variant: keras model}: the variants trained in the run folder, or the model of
    ``--model`` (``config['eval']['model']``) as the proposed network."""
    from common.saving import load_model
    from common.training import load_weights

    if config["eval"].get("model"):
        return {"proposed": load_model(config["eval"]["model"])}
    return {variant: load_weights(build_variant(config, variant), run.folder, variant, PAPER)
            for variant in variants_to_train(config)}


def released_model(config):
    """The authors' released network imported from ``config['eval']['released']`` when that
    file exists (None otherwise)."""
    from papers.rdab_coordconv.weights import import_weights

    path = config["eval"].get("released")
    return import_weights(path)[0] if path and Path(path).is_file() else None


def evaluate(run, config, data, networks):
    """Every method on the train / val / test images (Table 1, the ablations of Tables
    2-3, the released weights, the linear baseline), the tiling comparison, the time per
    image and the figures."""
    dataset, splits, ev = data.dataset, data.splits, config["eval"]
    models = {VARIANTS[variant][0]: model for variant, model in networks.items()}
    released = released_model(config)
    if released is not None:
        models[RELEASED] = released
    linear_path = run.path("linear_baseline.npy")
    if not linear_path.is_file():  # --model without a training run: fit the baseline here
        pairs = (D.load_pair(dataset, n) for n in splits["train"])
        fit_linear_baseline(pairs, seed=run.seed).save(linear_path)
    linear = load_linear_baseline(linear_path)
    results = _evaluate_splits(run, dataset, splits, config, models, linear)
    times = {}
    for method in (m for m in (PROPOSED, RELEASED) if m in models):
        times[method] = {mode: time_per_image(models[method], ev["timing_shape"], ev["tile"], overlap,
                                              ev["timing_repeats"])
                         for mode, overlap in (("tiles", 0), ("blended", ev["overlap"]))}
        run.stage(f"{method}: {times[method]['tiles']:.3f} s per {ev['timing_shape'][0]}x{ev['timing_shape'][1]} image")
    logs = {v: run.folder / f"{v}_log.csv" for v in VARIANTS}
    note = f"{config['profile']} profile; " + (f"--model {ev['model']}" if ev.get("model") else "trained in this run")
    short = D.short_description(dataset, splits, ev["max_test_images"])
    return {
        "dataset_key": D.dataset_key(dataset),
        "tables": measured_tables(results, short, D.dataset_key(dataset), note) + [tiling_table(results, times)],
        "truth_zero_fraction_test": zero_fraction(dataset, splits["test"][: ev["max_test_images"] or None]),
        "per_image": per_image(results),
        "per_image_markdown": per_image_md(results),
        "seconds_per_image": {"shape": ev["timing_shape"], "device": "gpu" if distribute.on_gpu() else "cpu",
                              **times},
        "figures": figures(run, dataset, splits, config, models, logs, linear),
        "released_evaluated": RELEASED in models,
    }


def _evaluate_splits(run, dataset, splits, config, models, linear):
    """Per split, per method: the evaluation summary; plus the tiling comparison."""
    ev = config["eval"]
    fns = metric_fns(ev["mrae_zero_policy"])
    limit = ev["max_test_images"]
    results = {}
    for split in ev["splits"]:
        names = splits[split][:limit] if limit else splits[split]
        pairs = [(name, *D.load_pair(dataset, name)) for name in names]
        methods = dict(models)
        if linear is not None:
            methods[LINEAR] = linear
        for method, model in methods.items():
            predict = model.predict if method == LINEAR else (lambda rgb, m=model: reconstruct(m, rgb, ev["tile"]))
            run.stage(f"evaluating {method} on {len(pairs)} {split} image(s)")
            items = ((name, cube, predict(rgb)) for name, rgb, cube in pairs)
            results.setdefault(split, {})[method] = evaluate_images(items, fns)
        if split == "test":
            for method in (m for m in (PROPOSED, RELEASED) if m in models):
                items = ((name, cube, reconstruct(models[method], rgb, ev["tile"], ev["overlap"]))
                         for name, rgb, cube in pairs)
                results.setdefault("test_blended", {})[method] = evaluate_images(items, fns)
    return results


def figures(run, dataset, splits, config, models, logs, linear=None):
    """The standard figures on the first test image for the proposed network (beside the
    linear baseline), and the spectra, error maps and renders of the released network on
    the same image."""
    from common.figures import plot_error_maps, plot_renders, plot_spectra

    name = splits["test"][0]
    rgb, cube = D.load_pair(dataset, name)
    pred = reconstruct(models[PROPOSED], rgb, config["eval"]["tile"])
    logs = {k: v for k, v in logs.items() if Path(v).is_file()}
    paths = standard_figures(run.out_dir, cube, pred, DEFAULT_WAVELENGTHS, logs, inputs=rgb,
                             baseline=(LINEAR, linear.predict(rgb)) if linear is not None else None)
    if RELEASED in models:
        pred = reconstruct(models[RELEASED], rgb, config["eval"]["tile"])
        folder = run.out_dir / "figures"
        title = f"{RELEASED}, {name}"
        paths += [
            plot_spectra(cube, pred, DEFAULT_WAVELENGTHS, folder / "released_spectra.png", title=title),
            plot_error_maps(cube, pred, folder / "released_error_maps.png", title=title),
            plot_renders(cube, pred, DEFAULT_WAVELENGTHS, folder / "released_renders.png", inputs=rgb, title=title),
        ]
    return [str(Path(p).relative_to(run.out_dir)) if Path(p).is_absolute() else str(p) for p in paths]


# ----------------------------------------------------------------------------- tables

def _row(method, results, metrics):
    """A measured row: ``metrics`` is [(published metric key, split, our metric)]."""
    values, std = {}, {}
    for key, split, metric in metrics:
        summary = results.get(split, {}).get(method)
        if summary is not None:
            values[key] = summary["mean"][metric]
            std[key] = summary["std"][metric]
    return {"method": method, "values": values, "std": std} if values else None


def measured_tables(results, description, key, note):
    splits = ("train", "val", "test")
    t1 = [(f"{m}_{s}", s, m) for s in splits for m in ("MRAE", "SSIM")] + [("RMSE_test", "test", "RMSE")]
    t2 = [(f"MRAE_{s}", s, "MRAE") for s in splits]
    t3 = t2 + [(f"RMSE_{s}", s, "RMSE") for s in ("train", "val")]
    methods = [PROPOSED, RELEASED, LINEAR]
    table1 = [_row(m, results, t1) for m in methods]
    with_coord = _row(PROPOSED, results, t2)
    if with_coord:
        with_coord["method"] = "With Coordinate Convolution"
    table2 = [with_coord, _row(VARIANTS["no_coordconv"][0], results, t2), _row(RELEASED, results, t2)]
    table3 = [_row(VARIANTS["no_cbam"][0], results, t3), _row(PROPOSED, results, t3)]
    tables = []
    for table_id, rows in (("table1", table1), ("table2", table2), ("table3", table3)):
        tables.append({"id": table_id, "dataset": description, "dataset_key": key,
                       "rows": [r for r in rows if r], "notes": note})
    return tables


def tiling_table(results, times):
    """Released tiling vs overlap-blended tiling, this run only."""
    lines = ["| method | tiling | MRAE | SSIM | RMSE | s per 482x512 image |", "|---|---|---|---|---|---|"]
    rows = []
    for split, label, timing in (("test", "64x64, zero-padded edges (released script)", "tiles"),
                                 ("test_blended", "64x64, overlap-blended (kit)", "blended")):
        for method, summary in results.get(split, {}).items():
            if method == LINEAR:
                continue
            mean = summary["mean"]
            seconds = times.get(method, {}).get(timing)
            rows.append({"method": method, "tiling": label, **mean, "seconds_per_image": seconds})
            lines.append(f"| {method} | {label} | {mean['MRAE']:.4f} | {mean['SSIM']:.4f} | {mean['RMSE']:.4f} | "
                         + (f"{seconds:.3f} |" if seconds is not None else "– |"))
    return {"id": "tiling", "rows": rows, "markdown": "\n".join(lines)}


def per_image(results):
    return {split: {m: s["per_image"] for m, s in by_method.items()} for split, by_method in results.items()}


def per_image_md(results):
    parts = []
    for method, summary in results.get("test", {}).items():
        parts.append(f"**{method}** (test, released tiling)\n\n" + per_image_markdown(summary, ["MRAE", "SSIM", "RMSE"]))
    return "\n\n".join(parts)
