"""Train MS-SSFNet under each reading of eqs. 3-7 (``model.READINGS``) and compare them:
``python -m papers.ms_ssfnet.compare_readings [--profile quick] [--seeds 0 1 2]
[--readings A B C] [--data synthetic|<dataset>=<root>] [--out DIR]``.

For every reading and seed: the profile's training patches and schedule (the pipeline of
``reproduce``: ``experiment._patch_arrays``, ``compile_ms_ssfnet``, ``common.training.fit``),
then every test image in one pass with the intermediate head removed, scored with Table 1's
metrics (``experiment.image_metrics``: RMSE / PSNR per band on 0-255, SAM in degrees,
SSIM). Prints one Markdown row per reading (mean +- sample std over the seeds of each
seed's test-set mean), the per-seed rows, and the bicubic floor; writes ``readings.json``
in ``--out`` (default ``results/ms_ssfnet/readings-<time>``).
"""

import argparse
import json
import platform
import time
import types
from datetime import datetime
from pathlib import Path

import numpy as np

from common.paper import get_paper

METRIC_NAMES = ("RMSE", "PSNR", "SAM", "SSIM")


def train_and_score(config, dataset, split, seed, out_dir):
    """Train MS-SSFNet of ``config`` with ``seed``; {metric: test mean}, val MSE, facts."""
    from common.training import fit, set_seed
    from papers.ms_ssfnet import experiment as E
    from papers.ms_ssfnet.data import load_cube, observations
    from papers.ms_ssfnet.model import build_from_config, inference_model

    set_seed(seed)
    train, val = E._patch_arrays(dataset, split, config, seed)
    model = E.compile_ms_ssfnet(build_from_config(config), config)
    targets = E.ms_ssfnet_targets(config)
    train_ds = E._dataset(train, ("lr", "rgb"), targets, config, seed)
    val_ds = E._dataset(val, ("lr", "rgb"), targets, config, seed, shuffle=False) if val is not None else None
    started = time.monotonic()
    history = fit(model, train_ds, val_ds, epochs=config["train"]["epochs"], run_dir=out_dir,
                  name=f"ms_ssfnet_{config['model']['reading']}_seed{seed}", verbose=0, save_keras=False)
    seconds = time.monotonic() - started
    infer = inference_model(model)
    rows, bicubic = [], []
    for name in split["test"]:
        cube = load_cube(dataset, name)
        obs = observations(cube, config)
        shape = cube.data.shape[:2]
        pred = E.predict_image(infer, obs, ("lr", "rgb"), shape)
        rows.append(E.image_metrics(name, cube.data, pred, config))
        bicubic.append(E.image_metrics(name, cube.data, obs["up"][: shape[0], : shape[1]], config))
    mean = lambda rs: {m: float(np.mean([r[m] for r in rs])) for m in METRIC_NAMES}  # noqa: E731
    val_mse = (history.get("val_z_loss") or [None])[-1]
    return {"reading": config["model"]["reading"], "seed": seed, "test": mean(rows), "bicubic": mean(bicubic),
            "val_z_mse": val_mse, "train_seconds": seconds, "parameters": int(model.count_params()),
            "inference_parameters": int(infer.count_params())}


def table(results, readings):
    lines = ["| reading | parameters (training / test) | RMSE (0-255) | PSNR (dB) | SAM (deg) | SSIM | HR val MSE |",
             "|---|---|---|---|---|---|---|"]
    for reading in readings:
        runs = [r for r in results if r["reading"] == reading]
        cells = []
        for metric in METRIC_NAMES:
            values = np.array([r["test"][metric] for r in runs])
            digits = 4 if metric == "SSIM" else 2
            std = values.std(ddof=1) if len(values) > 1 else float("nan")
            cells.append(f"{values.mean():.{digits}f} ± {std:.{digits}f}")
        val = np.array([r["val_z_mse"] for r in runs if r["val_z_mse"] is not None])
        val_cell = f"{val.mean():.5f} ± {val.std(ddof=1):.5f}" if len(val) > 1 else "–"
        cells.append(val_cell)
        lines.append(f"| {reading} | {runs[0]['parameters']:,} / {runs[0]['inference_parameters']:,} | "
                     + " | ".join(cells) + " |")
    bicubic = results[0]["bicubic"]
    lines.append("| bicubic (floor) | 0 | " + " | ".join(
        f"{bicubic[m]:.{4 if m == 'SSIM' else 2}f}" for m in METRIC_NAMES) + " | – |")
    return "\n".join(lines)


def per_seed(results):
    lines = ["| reading | seed | RMSE | PSNR | SAM | SSIM | HR val MSE | train s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        t = r["test"]
        val = "–" if r["val_z_mse"] is None else f"{r['val_z_mse']:.5f}"
        lines.append(f"| {r['reading']} | {r['seed']} | {t['RMSE']:.3f} | {t['PSNR']:.3f} | {t['SAM']:.3f} | "
                     f"{t['SSIM']:.4f} | {val} | {r['train_seconds']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--readings", nargs="+", default=None)
    parser.add_argument("--data", default=None)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    from papers.ms_ssfnet import experiment as E
    from papers.ms_ssfnet.model import READINGS

    paper = get_paper("ms_ssfnet")
    readings = args.readings or list(READINGS)
    out = Path(args.out or f"results/ms_ssfnet/readings-{datetime.now():%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    base = paper.config(args.profile)
    if args.epochs:
        base["train"]["epochs"] = args.epochs
    results = []
    for seed in args.seeds:
        data_args = types.SimpleNamespace(data=args.data, data_root=args.data_root, seed=seed)
        dataset, why, split = E.dataset_and_split(data_args, base, paper.datasets)
        for reading in readings:
            config = json.loads(json.dumps(base))
            config["model"]["reading"] = reading
            result = train_and_score(config, dataset, split, seed, out)
            results.append(result)
            print(f"reading {reading}, seed {seed}: " + ", ".join(
                f"{m} {result['test'][m]:.4f}" for m in METRIC_NAMES)
                + f", val MSE {result['val_z_mse']}, {result['train_seconds']:.0f} s", flush=True)
    header = (f"{args.profile} profile, {base['train']['epochs']} epochs, data: {why}; seeds {args.seeds}; "
              f"{platform.node() or 'this machine'}, {datetime.now():%Y-%m-%d}; mean ± sample std over seeds")
    text = "\n\n".join([header, table(results, readings), per_seed(results)])
    print(text)
    (out / "readings.json").write_text(json.dumps({"header": header, "results": results}, indent=2) + "\n")
    (out / "readings.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
