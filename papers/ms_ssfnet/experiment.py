"""Train and evaluate MS-SSFNet and the Table 1 baselines.

``train`` fits MS-SSFNet with the multi-level loss (eq. 10) and the network baselines
(SSF-CNN, SSF-ResNet, Spectral-ResNet) on the same patches with the same optimiser and
epochs (Section 4.3: "in the same conditions"). ``evaluate`` runs every method once on
each whole test image (the intermediate reconstruction layers removed) and computes
Table 1's metrics (RMSE, PSNR, SSIM per band on 0-255 then averaged over bands; SAM in
degrees; mean and standard deviation over the test images, the standard deviation with
N - 1 as MATLAB's ``std``), with figures.
"""

import json
import time

import numpy as np

from common import metrics
from common.cli import REPO_ROOT
from common.evaluation import evaluate_images, summarize
from common.inference import forward
from common.io import KitError, atomic_write_json

PAPER = "ms_ssfnet"
METHOD = "MS-SSFNet (ours)"
BICUBIC = "Bicubic"
#: The published table of each dataset (Table 1 (a), (b), (c)); synthetic and CAVE runs
#: go under (a).
TABLE_OF = {"harvard": "table1a", "icvl": "table1b", "nus": "table1c"}
#: Section 4: random splits (images used, test images) of each dataset; NUS ships its own
#: training / testing folders, used when present.
SPLITS = {"harvard": (50, 10), "icvl": (101, 30), "nus": (66, 25)}
#: Harvard: the 50 daylight images of "CZ_hsdb" (the indoor "CZ_hsdbi" ones are left out).
HARVARD_DAYLIGHT_FOLDER = "CZ_hsdb"


# ----------------------------------------------------------------------------- metrics
def metric_fns(peak):
    """Table 1's metrics on arrays already on the 0-``peak`` scale (``eval.metric_scale``,
    255): RMSE and PSNR "calculated on each 2D spatial image" (Sec. 4.1: per band, then
    the mean over bands), SSIM per band with the data range ``peak``, SAM in degrees."""
    return {
        "RMSE": lambda gt, rec: metrics.rmse(gt, rec, mode="band_mean"),
        "PSNR": lambda gt, rec: metrics.psnr(gt, rec, peak, mode="band_mean"),
        # Degrees (Fig. 4: "Anger degree in the range [0, 180]"); an all-zero reconstruction
        # of a non-zero spectrum counts as 90 degrees (common.metrics.sam, 'right_angle').
        "SAM": lambda gt, rec: metrics.sam(gt, rec, degrees=True, zero_policy="right_angle"),
        "SSIM": lambda gt, rec: metrics.ssim(gt, rec, peak),
    }


#: Table 1's metrics on the 0-255 scale.
METRICS = metric_fns(255.0)


def image_metrics(name, truth, pred, config):
    """One test image's row of Table 1 from a truth and a reconstruction on [0, 1]: both
    multiplied by ``eval.metric_scale`` (255) first."""
    scale = float(config["eval"]["metric_scale"])
    return evaluate_images([(name, truth * scale, pred * scale)], metric_fns(scale))["per_image"][0]


# ----------------------------------------------------------------------------- data
def paper_split(dataset, seed=0):
    """{'train', 'val', 'test'} for Harvard, ICVL or NUS as in Section 4 (``SPLITS``)."""
    from data_prep.splits import random_split, seeded_order

    if dataset.name not in SPLITS:
        raise KitError(f"ms_ssfnet uses Harvard, ICVL and NUS, not {dataset.name}")
    used, n_test = SPLITS[dataset.name]
    names = sorted(dataset.names)
    groups = {n: dataset.group(n) for n in names} if hasattr(dataset, "group") else {}
    if dataset.name == "harvard":
        names = [n for n in names if groups.get(n) == HARVARD_DAYLIGHT_FOLDER] or names
    elif dataset.name == "nus":
        train = [n for n in names if groups.get(n, "").lower().startswith("train")]
        test = [n for n in names if groups.get(n, "").lower().startswith("test")]
        if train and test:
            return {"train": train, "val": [], "test": test}
    elif dataset.name == "icvl" and len(names) > used:
        names = sorted(seeded_order(names, seed)[:used])
    train, test = random_split(names, min(n_test, len(names) - 1), seed)
    return {"train": train, "val": [], "test": test}


def dataset_and_split(args, config, datasets):
    """(dataset, why, {'train', 'val', 'test'}) for this run."""
    from common.cli import choose_dataset
    from data_prep.splits import cave_split

    dataset, why = choose_dataset(args, datasets, synthetic_kwargs=config["data"]["synthetic"])
    if dataset.name == "synthetic":
        split = {part: dataset.split(part) for part in ("train", "val", "test")}
    elif dataset.name == "cave":
        split = cave_split(dataset)
    else:
        split = paper_split(dataset, seed=args.seed)
    return dataset, why, split


def _patch_arrays(dataset, split, config, seed):
    """Training and validation patches as dicts of arrays or PatchCache columns."""
    from papers.ms_ssfnet.data import HARVARD_SCALING, patch_geometry, training_patches

    data = config["data"]
    if not data["patch_cache"]:
        train = training_patches(dataset, split["train"], config, seed=seed, max_patches=data["max_patches"])
        if split["val"]:
            val = training_patches(dataset, split["val"], config, seed=seed, max_patches=data["val_patches"])
        else:
            train, val = _hold_out(train, data["val_fraction"], seed)
        return train, val
    from data_prep.patches import PatchCache, provenance_digest

    sizes, strides = patch_geometry(config)

    def provenance(names, max_patches):
        return {
            "paper": PAPER, "dataset": dataset.describe(), "images": names, "sizes": sizes,
            "strides": strides, "max_patches": max_patches, "seed": seed, "scales": config["model"]["scales"],
            "mid_factor": data["mid_factor"], "degradation": data["degradation_kernel"],
            "renderer": "render_camera(nikon_d700_response, normalise='white')",
            "harvard_scaling": HARVARD_SCALING,
        }

    def cache(part, names, max_patches):
        prov = provenance(names, max_patches)
        digest = provenance_digest(prov)
        path = REPO_ROOT / "cache" / PAPER / f"{dataset.name}_{part}_{digest}.h5"
        per_image = None if max_patches is None else max(1, int(np.ceil(max_patches / len(names))))

        def make():
            for i, name in enumerate(names):
                yield training_patches(dataset, [name], config, seed=seed + i, max_patches=per_image)

        store = PatchCache.build(path, prov, make, storage=data["patch_storage"])
        return store.columns()

    train = cache("train", split["train"], data["max_patches"])
    val = cache("val", split["val"], data["val_patches"]) if split["val"] else None
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
    return make_dataset(inputs, targets, config["train"]["batch_size"], shuffle=shuffle,
                        augment=config["data"]["augment"], seed=seed)


# ----------------------------------------------------------------------------- models
def ms_ssfnet_targets(config):
    """Output name -> patch key: the HR truth for ``z``, the x4 intermediate for ``z1``."""
    from papers.ms_ssfnet.model import intermediate_factors

    model, mid = config["model"], config["data"]["mid_factor"]
    factors = intermediate_factors(model["scales"], model["level_scales"])
    if len(factors) != 1 or factors[0] != mid:
        raise KitError(
            f"level_scales {model['level_scales']} give intermediate targets at x{factors}; the data "
            f"provides one at x{mid} (mid_factor): make them agree"
        )
    return {"z": "hs", "z1": "mid"}


def compile_ms_ssfnet(model, config):
    import keras

    from common.training import jit_compile_setting

    train = config["train"]
    names = ["z"] + [f"z{i}" for i in range(1, len(train["level_weights"]))]
    model.compile(
        optimizer=keras.optimizers.Adam(train["learning_rate"]),
        loss={name: "mse" for name in names},
        loss_weights=dict(zip(names, train["level_weights"])),
        jit_compile=jit_compile_setting(train["jit_compile"]),
    )
    return model


def compile_baseline(model, config):
    import keras

    from common.training import jit_compile_setting

    model.compile(
        optimizer=keras.optimizers.Adam(config["train"]["learning_rate"]), loss="mse",
        jit_compile=jit_compile_setting(config["train"]["jit_compile"]),
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
        if config["train"]["jit_compile"] is False:
            # an uncompiled model would pick XLA on its own (on TensorFlow)
            model.jit_compile = jit_compile_setting(False)
        return model

    main = ready(build_from_config(config), compile_ms_ssfnet)
    infer = ready(inference_model(main))
    networks = {METHOD: (main, infer, ("lr", "rgb"))}
    for name in config["baselines"]["methods"]:
        net = ready(baselines.NETWORK_BASELINES[name](config), compile_baseline)
        networks[name] = (net, net, baselines.INPUTS[name])
    return networks


def with_inference(models):
    """{method: (training model, inference model, input keys)} of trained models
    ({method: training model}): MS-SSFNet without its intermediate heads, the baselines
    as they are."""
    from papers.ms_ssfnet import baselines
    from papers.ms_ssfnet.model import inference_model

    return {method: (model, inference_model(model), ("lr", "rgb")) if method == METHOD
            else (model, model, baselines.INPUTS[method]) for method, model in models.items()}


def file_stem(method):
    return {METHOD: "ms_ssfnet"}.get(method, method.lower().replace("-", "_"))


# ----------------------------------------------------------------------------- commands
def train(run, config, data):
    """Fit every network of ``config`` (networks a previous run finished are loaded);
    returns the networks as :func:`build_networks` and the training times."""
    from common.io import save_model_atomic
    from common.training import fit, set_seed
    from papers.ms_ssfnet.data import center_crop

    dataset, split = data.dataset, data.splits
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
        crop = config["baselines"]["hr_patch"]
        if not is_main and crop and crop < tr["hs"].shape[1]:
            if config["data"]["patch_cache"]:
                raise KitError("baselines.hr_patch needs in-memory patches (data.patch_cache false)")
            tr = center_crop(tr, ("up", "rgb", "hs"), crop)
            va = center_crop(va, ("up", "rgb", "hs"), crop) if va is not None else None
        train_ds = _dataset(tr, inputs, targets, config, run.seed)
        val_ds = _dataset(va, inputs, targets, config, run.seed, shuffle=False) if va is not None else None
        epochs = config["train"]["epochs"] if is_main else (config["baselines"]["epochs"] or config["train"]["epochs"])
        run.stage(f"training {method}: {model.count_params():,} parameters, {epochs} epochs")
        finished_before = (run.out_dir / f"{file_stem(method)}.done").is_file()
        started = time.monotonic()
        fit(model, train_ds, val_ds, epochs=epochs, run_dir=run.out_dir, name=file_stem(method),
            verbose=config["train"]["verbose"])
        if not finished_before:  # a resumed run keeps the time of the run that trained it
            seconds[method] = seconds.get(method, 0.0) + time.monotonic() - started
        if is_main:
            save_model_atomic(networks[METHOD][1], run.path("ms_ssfnet_inference.keras"))
        atomic_write_json(seconds_path, seconds)
    models = {method: entry[0] for method, entry in networks.items()}
    return models, {"train_seconds": sum(seconds.values()), "train_seconds_per_method": seconds}


def load_trained(run, config):
    """The networks of ``config`` with the weights ``train`` saved in the run folder."""
    from common.training import load_weights

    networks = build_networks(config, compile=False)
    return {method: load_weights(model, run.folder, file_stem(method), PAPER)
            for method, (model, _, _) in networks.items()}


def predict_image(model, obs, inputs, shape):
    """One forward pass over the whole (padded) image, cropped back to ``shape``."""
    batch = {k: obs[k][None] for k in inputs}
    return forward(model, batch)[0, : shape[0], : shape[1]]


def adjust_published(published, dataset_name):
    """Table 1 (a), (b) or (c) for the run's dataset; the kit's bicubic as the floor."""
    table_id = TABLE_OF.get(dataset_name, "table1a")
    if table_id != published["headline"]["table"]:
        # Table 1 (b) and (c) have no SSF-CNN row: compare with SSF-ResNet there.
        published["headline"] = dict(published["headline"], table=table_id)
        published["baseline"] = {"table": table_id, "method": "SSF-ResNet"}
    # The cheap baselines the run measures itself: bicubic, and the paper's simplest network.
    published["cheap_baselines"] = {"table": table_id, "methods": [BICUBIC, "SSF-CNN"]}
    for entry in published["tables"]:
        if entry["id"] == table_id and dataset_name in TABLE_OF:
            entry["dataset_key"] = dataset_name
    return published


def evaluate(run, config, data, networks):
    """Every method on every test image: Table 1 in the published shape and figures."""
    from common.figures import standard_figures
    from papers.ms_ssfnet.config import PROFILE_NOTES
    from papers.ms_ssfnet.data import load_cube, observations

    dataset, split = data.dataset, data.splits
    networks = with_inference(networks)
    methods = [BICUBIC] + [m for m in networks if m != METHOD] + [METHOD]
    rows = {m: [] for m in methods}
    first = None
    run.stage(f"evaluating {len(methods)} methods on {len(split['test'])} test images (whole images)")
    for name in split["test"]:
        cube = load_cube(dataset, name)
        obs = observations(cube, config)
        shape = cube.data.shape[:2]
        preds = {BICUBIC: obs["up"][: shape[0], : shape[1]]}
        for method, (_, infer, inputs) in networks.items():
            preds[method] = predict_image(infer, obs, inputs, shape)
        for method in methods:
            rows[method].append(image_metrics(name, cube.data, preds[method], config))
        if first is None:
            cheap = "SSF-CNN" if "SSF-CNN" in preds else BICUBIC
            first = (cube, preds[METHOD], obs["rgb"][: shape[0], : shape[1]], (cheap, preds[cheap]))
    ddof = config["eval"]["std_ddof"]
    summaries = {m: summarize(rows[m], list(METRICS), ddof=ddof) for m in methods}

    table = {
        "id": TABLE_OF.get(dataset.name, "table1a"),
        "dataset": f"{dataset.name}, {len(split['train'])} train / {len(split['test'])} test images",
        "rows": [
            {"method": m, "values": summaries[m]["mean"], "std": summaries[m]["std"]} for m in methods
        ],
        "notes": PROFILE_NOTES.get(config["profile"], ""),
    }
    if dataset.name in TABLE_OF:
        table["dataset_key"] = dataset.name

    cube, pred, rgb, cheap = first
    logs = {m: run.folder / f"{file_stem(m)}_log.csv" for m in networks}
    figures = standard_figures(run.out_dir, cube.data, pred, cube.wavelengths, logs, inputs=rgb, prefix="",
                               baseline=cheap)
    return {
        "test_images": split["test"],
        "tables": [table],
        "per_image": {m: rows[m] for m in methods},
        "per_image_markdown": _per_image_markdown(rows, methods),
        "figures": figures,
    }


def _per_image_markdown(rows, methods):
    lines = ["| image | method | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 2) + "|"]
    for i, row in enumerate(rows[methods[0]]):
        for method in methods:
            values = rows[method][i]
            lines.append(f"| {row['image']} | {method} | " + " | ".join(f"{values[m]:.4f}" for m in METRICS) + " |")
    return "\n".join(lines)
