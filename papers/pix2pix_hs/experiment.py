"""Training, evaluation and the comparison with Table 1 and Fig. 4 for pix2pix_hs.

- ``train``: every cGAN of the plan (the full net on each fold and run; the per-pixel
  1-branch net, and for ``ablation`` every branch count of Fig. 4, on the ablation fold)
  through ``common.training.fit`` (resume, CSV / TensorBoard logs); the generator is also
  saved as ``<name>_generator.keras``.
- ``evaluate``: each test image is cut into non-overlapping tiles (256 in the paper),
  each tile goes through G, the tiles are stitched (Sec. 2.3), and RMSE (0-255), RMSERel,
  GFC and CIEDE2000 are computed over the valid pixels (Sec. 3.2, Table 1). A fold's value
  is the mean over all its valid test pixels (images weighted by their pixel counts); the
  weighted average pools both folds; runs are averaged. A fold's ± is the spread (population
  std) of its runs; the weighted average's ± is the mean of the folds' ±, as Table 1's are
  (0.0024 = mean(0.0024, 0.0024), 0.00012 = mean(0.00001, 0.00023), 0.341 = mean(0.324,
  0.358); its RMSE ± 0.040 is not the mean of 0.101 and 0.022, the one exception).
  The linear-regression baseline goes through the same code.
"""

import json
import time
from pathlib import Path

import numpy as np

from common import metrics as M
from common.evaluation import evaluate_images
from common.io import KitError, atomic_write_json, save_model_atomic
from papers.pix2pix_hs import baselines
from papers.pix2pix_hs import data as D
from papers.pix2pix_hs.config import model_settings
from papers.pix2pix_hs.model import build_pix2pix_hs, from_tanh_range, to_tanh_range

PAPER = "pix2pix_hs"
METHOD = "Ours (weighted avg.)"  # Table 1 row of the full net
TASK = "spectral reconstruction: sRGB -> 31 bands (400-700 nm)"
METRIC_ORDER = ("RMSE", "RMSERel", "GFC", "dE00")
RECEPTIVE_FIELDS = ("1x1", "3x3", "7x7", "15x15", "31x31", "63x63", "127x127", "255x255", "256x256")


def branch_row(n_branches):
    """Fig. 4 row name of the generator with ``n_branches`` branches (as in published.json)."""
    label = "1 branch" if n_branches == 1 else f"{n_branches} branches"
    full = ", full net" if n_branches == 9 else ""
    return f"{label} (RF {RECEPTIVE_FIELDS[n_branches - 1]}{full})"


def model_name(n_branches, fold_id, run_index):
    return f"cgan{n_branches}_fold{fold_id}_run{run_index}"


# ----------------------------------------------------------------------------- metrics
def table1_metrics(wavelengths, scale=255.0):
    """Table 1's metrics ({name: fn(truth, pred, mask)}) on cubes in [0, 1] (Sec. 3.2).

    RMSE on the 0-``scale`` range, per pixel over the spectrum then averaged; RMSERel per
    pixel relative to its mean true value; GFC per pixel; CIEDE2000 between the CIELAB
    values (CIE 1964 10-degree XYZ with the eq. 8-9 normalisation, D65 10-degree white)
    of the true and the reconstructed spectra. ``mask`` keeps the valid pixels.
    """
    from data_prep.render import cube_to_xyz, xyz_to_lab

    def lab(cube):
        return xyz_to_lab(cube_to_xyz(cube, wavelengths))

    return {
        "RMSE": lambda t, p, mask: M.rmse_per_pixel(t * scale, p * scale, mask=mask),
        "RMSERel": lambda t, p, mask: M.rmse_rel_per_pixel(t, p, mask=mask),
        "GFC": lambda t, p, mask: M.gfc(t, p, mask=mask),
        "dE00": lambda t, p, mask: M.ciede2000(lab(t), lab(p), mask=mask),
    }


def pooled(rows):
    """Mean of per-image values weighted by each image's valid pixels (a per-pixel mean)."""
    weights = np.array([row["n_pixels"] for row in rows], dtype=np.float64)
    return {m: float(np.sum(weights * [row[m] for row in rows]) / weights.sum()) for m in METRIC_ORDER}


# ----------------------------------------------------------------------------- the plan
def plan(profile, folds, branches):
    """[(n_branches, fold, run_index)]: the full net on every fold and run, the other
    branch counts (Fig. 4) on the ablation fold (ICVL fold 1, or the only fold)."""
    runs = profile["data"]["runs_per_fold"]
    full = profile["model"]["n_branches"]
    ablation_fold = next((f for f in folds if f["id"] == profile["eval"]["ablation_fold"]), folds[-1])
    items = [(full, fold, r) for fold in folds for r in range(runs)]
    items += [(k, ablation_fold, r) for k in sorted(set(branches) - {full}) for r in range(runs)]
    return items, ablation_fold


# ----------------------------------------------------------------------------- training
def _gan(profile, n_branches):
    return build_pix2pix_hs(model_settings(profile, n_branches))


def train_one(run, store, fold, profile, n_branches, run_index):
    """Train one cGAN (or load it when this run folder already finished it)."""
    from common.training import count_params, fit, set_seed

    tsettings = profile["train"]
    epochs = tsettings["epochs"]
    name = model_name(n_branches, fold["id"], run_index)
    facts_path = run.out_dir / f"{name}_facts.json"
    set_seed(run.seed + 1000 * run_index + n_branches)
    gan = _gan(profile, n_branches)
    crops = D.RandomCrops(store, fold["train"], tsettings["crop"], batch_size=tsettings["batch_size"],
                          crops_per_image=tsettings["crops_per_image"], seed=run.seed + 1000 * run_index)
    val = D.centre_crops(store, fold["val"], tsettings["crop"])
    trainable = count_params(gan.generator)[0] + count_params(gan.discriminator)[0]
    already = (run.out_dir / f"{name}.done").is_file() and facts_path.is_file()
    run.stage(f"{'loading' if already else 'training'} {name}: G {gan.generator.count_params():,} + "
              f"D {gan.discriminator.count_params():,} weights, {epochs} epochs x {len(crops)} steps of "
              f"{tsettings['crop']}x{tsettings['crop']} crops, D {gan.d_iterations} / G {gan.g_iterations} steps")
    started = time.monotonic()
    history = fit(gan, crops, val, epochs=epochs, run_dir=run.out_dir, name=name, save_keras=False,
                  verbose=2 if not already else 0)
    if already:
        return gan.generator, json.loads(facts_path.read_text())
    seconds = time.monotonic() - started
    save_model_atomic(gan.generator, run.out_dir / f"{name}_generator.keras")
    last = {key: values[-1] for key, values in history.items() if key != "epoch" and values}
    facts = {"name": name, "n_branches": n_branches, "fold": fold["id"], "run": run_index,
             "train_seconds": seconds, "epochs": epochs, "steps": epochs * len(crops),
             "trainable_parameters": trainable,
             "generator_parameters": gan.generator.count_params(),
             "discriminator_parameters": gan.discriminator.count_params(), "final_logs": last}
    atomic_write_json(facts_path, facts)
    run.stage(f"{name} trained in {seconds:.0f}s; last epoch: " + ", ".join(
        f"{k} {v:.4g}" for k, v in last.items() if not k.startswith("val_")))
    return gan.generator, facts


def load_generator(folder, n_branches, fold_id, run_index):
    """The generator a run trained (``<name>_generator.keras``) and its training facts."""
    import common.saving

    name = model_name(n_branches, fold_id, run_index)
    path = folder / f"{name}_generator.keras"
    if not path.is_file():
        raise KitError(f"{folder}: no trained {name} here; run `python -m papers.{PAPER} train` "
                       f"with the same arguments first (or pass its folder with --out)")
    facts_path = folder / f"{name}_facts.json"
    facts = json.loads(facts_path.read_text()) if facts_path.is_file() else {}
    return common.saving.load_model(path), facts


# ----------------------------------------------------------------------------- evaluation
def reconstruct(generator, rgb, tile):
    """Sec. 2.3: non-overlapping tiles through G, stitched; [0, 1] in and out."""
    from common.inference import predict_tiled

    return from_tanh_range(predict_tiled(generator, to_tanh_range(rgb), tile=tile))


def evaluate_method(predict, store, names, tile, fns):
    """Per-image rows (with ``n_pixels``) of one method over ``names``; and the first
    image's (rgb, truth, prediction) for the figures."""
    rows, first = [], None
    for name in names:
        rgb, hs, mask = D.test_pair(store, name, tile)
        pred = predict(rgb)
        row = evaluate_images([(name, hs, pred, {"mask": mask})], fns)["per_image"][0]
        row["n_pixels"] = int(mask.sum())
        rows.append(row)
        if first is None:
            first = (rgb, hs, pred)
    return rows, first


def _mean_std(per_run):
    """Mean and population std over runs of {metric: value} dicts (std only with 2+ runs)."""
    mean = {m: float(np.mean([v[m] for v in per_run])) for m in METRIC_ORDER}
    std = {m: float(np.std([v[m] for v in per_run])) for m in METRIC_ORDER} if len(per_run) > 1 else {}
    return mean, std


def measured_tables(results, linreg_rows, folds, ablation_fold, profile, dataset_key, dataset_text):
    """Table 1 and Fig. 4 in the published shape from the per-image rows of every model."""
    full = profile["model"]["n_branches"]
    runs = profile["data"]["runs_per_fold"]
    table1 = []
    per_run_avg = [pooled([row for fold in folds for row in results[(full, fold["id"], r)]]) for r in range(runs)]
    mean, _ = _mean_std(per_run_avg)
    fold_rows = []
    for fold in folds:
        fold_mean, fold_std = _mean_std([pooled(results[(full, fold["id"], r)]) for r in range(runs)])
        fold_rows.append({"method": f"Ours (fold {fold['id']})", "values": fold_mean, "std": fold_std})
    # Table 1's weighted-average ± is the mean of the folds' ± (three of its four columns).
    std = ({m: float(np.mean([row["std"][m] for row in fold_rows])) for m in METRIC_ORDER}
           if runs > 1 else {})
    table1.append({"method": METHOD, "values": mean, "std": std})
    if len(folds) > 1:
        table1 += fold_rows
    if linreg_rows:
        table1.append({"method": baselines.LINREG_NAME,
                       "values": pooled([row for rows in linreg_rows.values() for row in rows])})
    fig4 = []
    for k in sorted({key[0] for key in results}):
        if all((k, ablation_fold["id"], r) in results for r in range(runs)):
            mean, std = _mean_std([pooled(results[(k, ablation_fold["id"], r)]) for r in range(runs)])
            fig4.append({"method": branch_row(k), "values": mean, "std": std})
    fold_text = "all folds" if len(folds) > 1 else "its one fold"
    notes1 = (f"{runs} run(s) per fold; a fold's std = the spread of its runs (none with one run), the "
              f"weighted average's std = the mean of the folds' stds, as in Table 1. The weighted average "
              f"pools the valid test pixels of {fold_text}.")
    notes4 = (f"Models trained and tested on fold {ablation_fold['id']}. The full net for "
              f"{profile['train']['crop']}x{profile['train']['crop']} crops has {full} branches.")
    return [
        {"id": "table1", "dataset": dataset_text, "dataset_key": dataset_key, "rows": table1, "notes": notes1},
        {"id": "fig4", "dataset": dataset_text if len(folds) == 1 else f"{dataset_text}; fold {ablation_fold['id']}",
         "dataset_key": dataset_key,
         "rows": fig4, "notes": notes4},
    ]


def _store(run, data):
    folds = data.parts["folds"]
    names = sorted({n for fold in folds for part in ("train", "val", "test") for n in fold[part]})
    return D.PairStore(data.dataset, names, stage=run.stage)


def train(run, profile, data):
    """Train (or load, when this run folder finished them) every cGAN of the plan;
    returns ({model name: generator}, facts)."""
    from common import distribute

    batch, replicas = profile["train"]["batch_size"], distribute.active().replicas
    if batch % replicas:
        raise KitError(f"--distribute: a batch of {batch} does not split between {replicas} replicas (the "
                       f"paper trains with batch 1, Sec. 2.3); add --batch-size {replicas} or a multiple of it")
    items, _ = plan(profile, data.parts["folds"], branches_of(profile))
    store = _store(run, data)
    generators, facts = {}, []
    for n_branches, fold, run_index in items:
        generator, model_facts = train_one(run, store, fold, profile, n_branches, run_index)
        generators[model_name(n_branches, fold["id"], run_index)] = generator
        facts.append(model_facts)
    store.close()
    return generators, {"models": facts, "train_seconds": sum(f.get("train_seconds", 0.0) for f in facts)}


def branches_of(profile):
    """The branch counts a run trains: the full net and the per-pixel 1-branch baseline,
    and every count of Fig. 4 for ``ablation``."""
    branches = [1, profile["model"]["n_branches"]]
    if profile["eval"].get("ablation"):
        branches += profile["eval"]["ablation_branches"]
    return branches


def load_trained(run, profile):
    """Every generator a run trained (``*_generator.keras``), by model name."""
    import common.saving

    folder = run.folder
    paths = sorted(Path(folder).glob("*_generator.keras"))
    if not paths:
        raise KitError(f"{folder}: no trained generator here; run `python -m papers.{PAPER} train` "
                       f"with the same arguments first (or pass its folder with --out)")
    return {path.name[: -len("_generator.keras")]: common.saving.load_model(path) for path in paths}


def evaluate(run, profile, data, generators):
    """Every trained model and the linear regression on the test images of their fold:
    Table 1 and Fig. 4 in the published shape, per-image rows and figures."""
    folds = data.parts["folds"]
    store = _store(run, data)
    tile = profile["eval"]["tile"]
    fns = table1_metrics(store.wavelengths, profile["eval"]["metric_scale"])
    items, ablation_fold = plan(profile, folds, branches_of(profile))
    full = profile["model"]["n_branches"]

    results, shown = {}, None
    for n_branches, fold, run_index in items:
        name = model_name(n_branches, fold["id"], run_index)
        if name not in generators:
            raise KitError(f"{run.folder}: no trained {name} here; run `python -m papers.{PAPER} train` "
                           "with the same arguments first")
        generator = generators[name]
        started = time.monotonic()
        rows, first = evaluate_method(lambda rgb: reconstruct(generator, rgb, tile), store, fold["test"], tile, fns)
        results[(n_branches, fold["id"], run_index)] = rows
        run.stage(f"evaluated {name} on {len(rows)} test image(s) in {time.monotonic() - started:.0f}s: "
                  + ", ".join(f"{m} {v:.4g}" for m, v in pooled(rows).items()))
        if shown is None and n_branches == full:
            shown = (fold["test"][0], fold["id"], first, {branch_row(k): run.folder / f"{model_name(k, fold_id, 0)}_log.csv"
                                              for k, fold_id in ((full, fold["id"]), (1, ablation_fold["id"]))})

    linreg_rows, linreg_models = {}, {}
    if "linear_regression" in profile["eval"]["baselines"]:
        for fold in folds:
            rgb, hs = D.sample_pixels(store, fold["train"], profile["eval"]["linreg_max_pixels"], seed=run.seed)
            model = linreg_models[fold["id"]] = baselines.linear_regression().fit(rgb, hs)
            linreg_rows[fold["id"]], _ = evaluate_method(model.predict, store, fold["test"], tile, fns)
            run.stage(f"linear regression (fold {fold['id']}, {len(rgb):,} training pixels): " + ", ".join(
                f"{m} {v:.4g}" for m, v in pooled(linreg_rows[fold["id"]]).items()))
    wavelengths = store.wavelengths
    store.close()

    from common.figures import standard_figures

    image, fold_id, (rgb, hs, pred), logs = shown
    cheap = (baselines.LINREG_NAME, linreg_models[fold_id].predict(rgb)) if fold_id in linreg_models else None
    figures = standard_figures(run.out_dir, hs, pred, wavelengths, logs, inputs=rgb, prefix=f"{image}_",
                               baseline=cheap)
    short = f"{data.name}, {data.parts['split_text']}"
    return {
        "task": TASK,
        "tables": measured_tables(results, linreg_rows, folds, ablation_fold, profile, data.name, short),
        "per_image": {**{model_name(*key): rows for key, rows in results.items()},
                      **({baselines.LINREG_NAME: [row for rows in linreg_rows.values() for row in rows]}
                         if linreg_rows else {})},
        "per_image_markdown": per_image_section(results),
        "figures": figures,
    }


def per_image_section(results):
    from common.evaluation import per_image_markdown

    parts = []
    for (k, fold_id, r), rows in sorted(results.items(), key=lambda kv: str(kv[0])):
        std = {m: float(np.std([row[m] for row in rows])) for m in METRIC_ORDER}
        summary = {"per_image": rows, "mean": pooled(rows), "std": std}
        parts += [f"**{model_name(k, fold_id, r)}** ({branch_row(k)}; RMSE on 0-255; the mean pools all "
                  "valid pixels, the std is over images)", "",
                  per_image_markdown(summary, METRIC_ORDER), ""]
    return "\n".join(parts)

