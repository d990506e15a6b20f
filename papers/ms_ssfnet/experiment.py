"""Train, evaluate and reproduce MS-SSFNet and the Table 1 baselines.

    python -m papers.ms_ssfnet train|evaluate|reproduce [--data synthetic|harvard=DIR|
        icvl=DIR|nus=DIR] [--data-root DIR] [--profile quick|paper|smoke] [--epochs N]
        [--out DIR] [--seed N]

``train`` fits MS-SSFNet with the multi-level loss (eq. 10) and the network baselines
(SSF-CNN, SSF-ResNet, Spectral-ResNet) on the same patches with the same optimiser and
epochs (Section 4.3: "in the same conditions"). ``evaluate`` runs every method once on
each whole test image (the intermediate reconstruction layers removed), computes Table 1's
metrics (RMSE, PSNR, SSIM per band on 0-255 then averaged over bands; SAM in degrees;
mean and standard deviation over the test images) and writes ``metrics.json``,
``comparison.md`` and the figures. ``reproduce`` does both. ``evaluate`` alone reads
the networks trained by ``train`` in the same run folder (same arguments, or ``--out``).
"""

import json
import time
from pathlib import Path

import numpy as np

from common import metrics
from common.cli import REPO_ROOT, choose_dataset, make_parser, prepare_run, run_main
from common.evaluation import evaluate_images, summarize
from common.inference import forward
from common.io import KitError, atomic_write_json
from common.report import load_published, write_results

PAPER = "ms_ssfnet"
TITLE = "Multi-level and Multi-scale Spatial and Spectral Fusion CNN for Hyperspectral Image Super-resolution"
METHOD = "MS-SSFNet (ours)"
BICUBIC = "Bicubic"
HERE = Path(__file__).resolve().parent
PUBLISHED = HERE / "published.json"
#: The published table of each dataset (Table 1 (a), (b), (c)); synthetic runs go under (a).
TABLE_OF = {"harvard": "table1a", "icvl": "table1b", "nus": "table1c"}
PEAK = 255.0  # Table 1 reports RMSE and PSNR on a 0-255 scale


# ----------------------------------------------------------------------------- metrics
#: Table 1's metrics on arrays already scaled to 0-255.
METRICS = {
    "RMSE": lambda gt, rec: metrics.rmse(gt, rec, mode="band_mean"),  # per 2-D band (Sec. 4.1)
    "PSNR": lambda gt, rec: metrics.psnr(gt, rec, PEAK, mode="band_mean"),
    "SAM": lambda gt, rec: metrics.sam(gt, rec, degrees=True),
    "SSIM": lambda gt, rec: metrics.ssim(gt, rec, PEAK),
}


# ----------------------------------------------------------------------------- data
def dataset_and_split(args, config):
    """(dataset, description, {'train', 'val', 'test'}) for this run."""
    from data_prep.splits import ms_ssfnet_split
    from papers.ms_ssfnet.data import PAPER_DATASETS

    dataset, note = choose_dataset(args, PAPER_DATASETS, synthetic_kwargs=config.get("synthetic"))
    if dataset.name == "synthetic":
        split = {part: dataset.split(part) for part in ("train", "val", "test")}
    else:
        split = dict(ms_ssfnet_split(dataset, seed=args.seed), val=[])
    return dataset, f"{dataset.describe()} [{note}]", split


def _patch_arrays(dataset, split, config, seed):
    """Training and validation patches as dicts of arrays or PatchCache columns."""
    from papers.ms_ssfnet.data import patch_geometry, training_patches

    if not config.get("patch_cache"):
        train = training_patches(dataset, split["train"], config, seed=seed)
        if split["val"]:
            val = training_patches(dataset, split["val"], dict(config, max_patches=config["val_patches"]), seed=seed)
        else:
            train, val = _hold_out(train, config["val_fraction"], seed)
        return train, val
    from data_prep.patches import PatchCache, provenance_digest

    sizes, strides = patch_geometry(config)

    def provenance(names, max_patches):
        return {
            "paper": PAPER, "dataset": dataset.describe(), "images": names, "sizes": sizes,
            "strides": strides, "max_patches": max_patches, "seed": seed, "scales": config["scales"],
            "mid_factor": config["mid_factor"], "degradation": config["degradation_kernel"],
            "renderer": "render_camera(nikon_d700_response, normalise='white')",
        }

    def cache(part, names, max_patches):
        prov = provenance(names, max_patches)
        digest = provenance_digest(prov)
        path = REPO_ROOT / "cache" / PAPER / f"{dataset.name}_{part}_{digest}.h5"
        per_image = None if max_patches is None else max(1, int(np.ceil(max_patches / len(names))))

        def make():
            for i, name in enumerate(names):
                yield training_patches(dataset, [name], dict(config, max_patches=per_image), seed=seed + i)

        store = PatchCache.build(path, prov, make, storage=config["patch_storage"])
        return store.columns()

    train = cache("train", split["train"], config["max_patches"])
    val = cache("val", split["val"], config["val_patches"]) if split["val"] else None
    return train, val


def _hold_out(patches, fraction, seed):
    """Split in-memory patches into (train, val) with ``fraction`` of them for validation."""
    n = len(next(iter(patches.values())))
    n_val = int(round(n * fraction))
    if n_val < 1 or n_val >= n:
        return patches, None
    order = np.random.default_rng(seed).permutation(n)
    pick = lambda idx: {k: v[np.sort(idx)] for k, v in patches.items()}  # noqa: E731
    return pick(order[n_val:]), pick(order[:n_val])


def _dataset(patches, input_keys, target_keys, config, seed, shuffle=True):
    from data_prep.pipeline import make_dataset

    inputs = {k: patches[k] for k in input_keys}
    targets = {k: patches[v] for k, v in target_keys.items()} if isinstance(target_keys, dict) else patches[target_keys]
    return make_dataset(inputs, targets, config["batch_size"], shuffle=shuffle, augment=config["augment"], seed=seed)


# ----------------------------------------------------------------------------- models
def ms_ssfnet_targets(config):
    """Output name -> patch key: the HR truth for ``z``, the x4 intermediate for ``z1``."""
    from papers.ms_ssfnet.model import intermediate_factors

    factors = intermediate_factors(config["scales"], config["level_scales"])
    if len(factors) != 1 or factors[0] != config["mid_factor"]:
        raise KitError(
            f"level_scales {config['level_scales']} give intermediate targets at x{factors}; the data "
            f"provides one at x{config['mid_factor']} (mid_factor): make them agree"
        )
    return {"z": "hs", "z1": "mid"}


def compile_ms_ssfnet(model, config):
    import keras

    from common.training import jit_compile_setting

    names = ["z"] + [f"z{i}" for i in range(1, len(config["level_weights"]))]
    model.compile(
        optimizer=keras.optimizers.Adam(config["learning_rate"]),
        loss={name: "mse" for name in names},
        loss_weights=dict(zip(names, config["level_weights"])),
        jit_compile=jit_compile_setting(config["jit_compile"]),
    )
    return model


def compile_baseline(model, config):
    import keras

    from common.training import jit_compile_setting

    model.compile(
        optimizer=keras.optimizers.Adam(config["learning_rate"]), loss="mse",
        jit_compile=jit_compile_setting(config["jit_compile"]),
    )
    return model


def build_networks(config, compile=True):
    """{method: (training model, inference model, input keys)} for every trained method.

    ``compile=False`` for evaluation only (no optimizer whose state the saved weights
    would be checked against).
    """
    from common.training import jit_compile_setting
    from papers.ms_ssfnet import baselines
    from papers.ms_ssfnet.model import build_from_config, inference_model

    def ready(model, compile_fn=None):
        if compile and compile_fn is not None:
            return compile_fn(model, config)
        if config["jit_compile"] is False:
            # an uncompiled model would pick XLA on its own (on TensorFlow)
            model.jit_compile = jit_compile_setting(False)
        return model

    main = ready(build_from_config(config), compile_ms_ssfnet)
    infer = ready(inference_model(main))
    networks = {METHOD: (main, infer, ("lr", "rgb"))}
    for name in config["baselines"]:
        net = ready(baselines.NETWORK_BASELINES[name](config), compile_baseline)
        networks[name] = (net, net, baselines.INPUTS[name])
    return networks


def file_stem(method):
    return {METHOD: "ms_ssfnet"}.get(method, method.lower().replace("-", "_"))


# ----------------------------------------------------------------------------- commands
def train(run, config, dataset, split):
    """Fit every network of ``config`` (networks a previous run finished are loaded);
    returns the networks as :func:`build_networks` and records the training times."""
    from common.training import fit, set_seed
    from papers.ms_ssfnet.data import center_crop

    set_seed(run.seed)
    run.stage(f"patches from {len(split['train'])} training images")
    train_patches, val_patches = _patch_arrays(dataset, split, config, run.seed)
    run.stage(f"{len(train_patches['hs'])} training patches, HR {train_patches['hs'].shape[1:]}")
    networks = build_networks(config)
    seconds_path = run.out_dir / "train_seconds.json"
    seconds = json.loads(seconds_path.read_text()) if seconds_path.is_file() else {}
    for method, (model, _, inputs) in networks.items():
        is_main = method == METHOD
        targets = ms_ssfnet_targets(config) if is_main else "hs"
        tr, va = train_patches, val_patches
        crop = config.get("baseline_hr_patch")
        if not is_main and crop and crop < tr["hs"].shape[1]:
            if config.get("patch_cache"):
                raise KitError("baseline_hr_patch needs in-memory patches (patch_cache false)")
            tr = center_crop(tr, ("up", "rgb", "hs"), crop)
            va = center_crop(va, ("up", "rgb", "hs"), crop) if va is not None else None
        train_ds = _dataset(tr, inputs, targets, config, run.seed)
        val_ds = _dataset(va, inputs, targets, config, run.seed, shuffle=False) if va is not None else None
        epochs = config["epochs"] if is_main else (config.get("baseline_epochs") or config["epochs"])
        run.stage(f"training {method}: {model.count_params():,} parameters, {epochs} epochs")
        finished_before = (run.out_dir / f"{file_stem(method)}.done").is_file()
        started = time.monotonic()
        fit(model, train_ds, val_ds, epochs=epochs, run_dir=run.out_dir, name=file_stem(method),
            verbose=config.get("verbose", "auto"))
        if not finished_before:  # a resumed run keeps the time of the run that trained it
            seconds[method] = seconds.get(method, 0.0) + time.monotonic() - started
        if is_main:
            from common.io import save_model_atomic

            save_model_atomic(networks[METHOD][1], run.path("ms_ssfnet_inference.keras"))
        atomic_write_json(seconds_path, seconds)
    return networks


def load_trained(run, config):
    """The networks of ``config`` with the weights ``train`` saved in the run folder."""
    networks = build_networks(config, compile=False)
    for method, (model, _, _) in networks.items():
        weights = run.out_dir / f"{file_stem(method)}.weights.h5"
        if not (run.out_dir / f"{file_stem(method)}.done").is_file() or not weights.is_file():
            raise KitError(f"{weights}: no trained {method} in {run.out_dir}; run 'train' with the same arguments first")
        model.load_weights(weights)
    return networks


def predict_image(model, obs, inputs, shape):
    """One forward pass over the whole (padded) image, cropped back to ``shape``."""
    batch = {k: obs[k][None] for k in inputs}
    return forward(model, batch)[0, : shape[0], : shape[1]]


def evaluate(run, config, dataset, split, networks, description):
    """Every method on every test image; metrics.json, comparison.md and figures."""
    from common.figures import standard_figures
    from common.training import count_params
    from papers.ms_ssfnet.data import observations
    from papers.ms_ssfnet.model import build_from_config
    from papers.ms_ssfnet.config import get_config

    methods = [BICUBIC] + [m for m in networks if m != METHOD] + [METHOD]
    rows = {m: [] for m in methods}
    first = None
    run.stage(f"evaluating {len(methods)} methods on {len(split['test'])} test images (whole images)")
    for name in split["test"]:
        cube = dataset.load(name)
        obs = observations(cube, config)
        shape = cube.data.shape[:2]
        preds = {BICUBIC: obs["up"][: shape[0], : shape[1]]}
        for method, (_, infer, inputs) in networks.items():
            preds[method] = predict_image(infer, obs, inputs, shape)
        truth = cube.data * PEAK
        for method in methods:
            row = evaluate_images([(name, truth, preds[method] * PEAK)], METRICS)["per_image"][0]
            rows[method].append(row)
        if first is None:
            first = (cube, preds[METHOD], obs["rgb"][: shape[0], : shape[1]])
    summaries = {m: summarize(rows[m], list(METRICS)) for m in methods}

    table_id = TABLE_OF.get(dataset.name, "table1a")
    published = load_published(PUBLISHED)
    if table_id != published["headline"]["table"]:
        # Table 1 (b) and (c) have no SSF-CNN row: compare with SSF-ResNet there.
        published["headline"] = dict(published["headline"], table=table_id)
        published["baseline"] = {"table": table_id, "method": "SSF-ResNet"}
    published["simplest_baseline"] = {"table": table_id, "method": BICUBIC}  # measured by the kit
    table = {
        "id": table_id,
        "dataset": f"{dataset.name}, {len(split['train'])} train / {len(split['test'])} test images",
        "rows": [
            {"method": m, "values": summaries[m]["mean"], "std": summaries[m]["std"]} for m in methods
        ],
        "notes": config["notes"],
    }
    if dataset.name in TABLE_OF:
        table["dataset_key"] = dataset.name
    for entry in published["tables"]:
        if entry["id"] == table_id and dataset.name in TABLE_OF:
            entry["dataset_key"] = dataset.name

    cube, pred, rgb = first
    logs = {m: run.out_dir / f"{file_stem(m)}_log.csv" for m in networks}
    figures = standard_figures(run.out_dir, cube.data, pred, cube.wavelengths, logs, inputs=rgb, prefix="")

    train_seconds_path = run.out_dir / "train_seconds.json"
    train_seconds = json.loads(train_seconds_path.read_text()) if train_seconds_path.is_file() else {}
    paper_model = build_from_config(get_config("paper"))
    measured = {
        "paper": PAPER,
        "title": TITLE,
        "dataset": {"name": dataset.name, "description": description, "test_images": split["test"]},
        "config": {k: v for k, v in config.items() if k != "notes"},
        "train_seconds": sum(train_seconds.values()),
        "train_seconds_per_method": train_seconds,
        "parameters": {
            "paper_profile": sum(count_params(paper_model)),
            "trained": sum(count_params(networks[METHOD][0])),
            "trained_inference": sum(count_params(networks[METHOD][1])),
            "baselines": {m: sum(count_params(networks[m][0])) for m in networks if m != METHOD},
        },
        "tables": [table],
        "per_image": {m: rows[m] for m in methods},
        "per_image_markdown": _per_image_markdown(rows, methods),
        "figures": figures,
        "notes": [config["notes"], "Bicubic is not in Table 1: it is the kit's floor (LR-HS up-sampled x16)."],
    }
    return write_results(run, published, measured)


def _per_image_markdown(rows, methods):
    lines = ["| image | method | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 2) + "|"]
    for i, row in enumerate(rows[methods[0]]):
        for method in methods:
            values = rows[method][i]
            lines.append(f"| {row['image']} | {method} | " + " | ".join(f"{values[m]:.4f}" for m in METRICS) + " |")
    return "\n".join(lines)


def main(argv=None):
    from papers.ms_ssfnet.config import get_config

    parser = make_parser(PAPER, __doc__.split("\n\n")[0], profiles=("quick", "paper", "smoke"))
    args = parser.parse_args(argv)
    config = get_config(args.profile, epochs=args.epochs)
    if args.epochs:
        config["baseline_epochs"] = args.epochs
    run = prepare_run(args, PAPER)
    dataset, description, split = dataset_and_split(args, config)
    run.stage(f"data: {description}")
    run.stage(f"split: {len(split['train'])} train / {len(split['val'])} val / {len(split['test'])} test images")
    if args.command in ("train", "reproduce"):
        networks = train(run, config, dataset, split)
        if args.command == "train":
            run.stage(f"trained networks in {run.out_dir}; 'evaluate' with the same arguments evaluates them")
            return 0
    else:
        networks = load_trained(run, config)
    if args.command in ("evaluate", "reproduce"):
        evaluate(run, config, dataset, split, networks, description)
        run.finish()
    return 0


if __name__ == "__main__":
    run_main(main)
