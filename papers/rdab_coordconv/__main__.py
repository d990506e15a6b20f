"""Command line of rdab_coordconv (light-weight residual dense attention net, NTIRE 2020):

    python -m papers.rdab_coordconv train|evaluate|reproduce [--data synthetic|ntire2020=<root>]
        [--data-root DIR] [--profile quick|paper|smoke] [--epochs N] [--out DIR] [--seed N]
        [--model FILE.keras] [--released FILE.hdf5|none] [--loss l2_ssim|sse_half]
    python -m papers.rdab_coordconv import-weights FILE.hdf5 [--out model.keras]

``train`` leaves its run folder open, so ``evaluate`` with the same arguments continues in
it (or pass the folder with ``--out``); ``reproduce`` = train + evaluate + comparison with
Tables 1-3. ``evaluate --model released.keras`` evaluates a saved model (for instance the
authors' weights imported with ``import-weights``) as the proposed network. The authors'
weights file, when present (default: ``../shared/weights/``), is also evaluated as its own
row; ``--released none`` skips it.
"""

from pathlib import Path

from common import distribute
from common.cli import REPO_ROOT, make_parser, prepare_run, run_main
from common.io import KitError
from common.report import load_published, write_results
from papers.rdab_coordconv import experiment as E
from papers.rdab_coordconv.config import PROFILES, get_profile
from papers.rdab_coordconv.train import LOSSES

COMMANDS = ("train", "evaluate", "reproduce", "import-weights")


def parser():
    p = make_parser(E.PAPER, __doc__.split("\n\n")[0], profiles=tuple(PROFILES), commands=COMMANDS)
    p.add_argument("weights_file", nargs="?", help="import-weights: the released Keras 2 .hdf5 file")
    p.add_argument("--model", default=None, help="evaluate: a saved .keras model to evaluate as the proposed network")
    p.add_argument("--released", default=str(E.RELEASED_DEFAULT),
                   help="the authors' released .hdf5, evaluated as an extra row when present ('none' to skip)")
    p.add_argument("--loss", choices=LOSSES, default=None,
                   help="training loss: l2_ssim (the paper's eq. 14, default) or sse_half (the release's)")
    return p


def import_weights_command(args):
    from papers.rdab_coordconv.weights import import_weights

    if not args.weights_file:
        raise KitError("import-weights: give the released .hdf5 file, e.g. "
                       "python -m papers.rdab_coordconv import-weights weights.hdf5 --out model.keras")
    out = Path(args.out) if args.out else REPO_ROOT / "results" / E.PAPER / "released_ntire2020.keras"
    if out.suffix != ".keras":
        raise KitError(f"--out {out}: import-weights writes a .keras file; give a path ending in .keras")
    _, count = import_weights(args.weights_file, out)
    print(f"imported {count:,} values from {args.weights_file} into {out}")
    return 0


def profile_notes(args, config, dataset, facts, models):
    notes = []
    data, train = config["data"], config["train"]
    if args.profile != "paper":
        notes.append(
            f"{args.profile} profile, a CPU-sized run, not the paper's training: the full network "
            f"(widths {config['model']['widths']}, dense {config['model']['dense_width']}) trained on "
            f"{facts.get('patches', '?')} patches of {data['patch_size']}x{data['patch_size']} for "
            f"{train['epochs']} epochs (paper: 8000 patches of 64x64 (printed '20 x 20'), 500 epochs), "
            f"batch {train['batch_size']}, Adam {train['learning_rate']:g} -> {train['final_learning_rate']:g}"
            + ("" if train["ablations"] else "; the ablations of Tables 2-3 are not trained in this profile")
            + ".")
        if config["model"].get("zero_coord_kernels"):
            notes.append("Initialisation (this profile only): the kernel entries of the two convolutions that read "
                         "the CoordConv channels start at zero, not Glorot-uniform (coordinates in [-1, 1] swamp "
                         "RGB in [0, 1] at initialisation; same layers and values).")
    elif args.epochs:
        notes.append(f"--epochs {args.epochs} instead of the paper's 500.")
    if dataset.name != "ntire2020":
        notes.append("Data: the kit's synthetic scenes rendered with the NTIRE 2020 clean-track response, "
                     "not ARAD: the values are not comparable with the paper's; the gaps between rows are.")
    if train["loss"] == "l2_ssim":
        where = ("every pixel of the patch (eq. 13 literally, window truncated at the border)"
                 if train.get("ssim_positions", "valid") == "all"
                 else "the valid 11x11 window positions (tf.image.ssim)")
        notes.append(f"Loss: l2_ssim (L2 + (1 - SSIM), eq. 14; SSIM averaged over {where}).")
    else:
        notes.append(f"Loss: {train['loss']} (the release: sum of squared errors / 2).")
    notes.append(
        "Inference as the released test script: 64x64 tiles, edge tiles zero-padded. MRAE = mean |gt - rec| / gt "
        f"over H x W x C (NTIRE 2020), zero policy '{config['eval']['mrae_zero_policy']}' (truth elements equal to 0 "
        "left out); SSIM per band (11x11 Gaussian, peak 1), averaged; RMSE over the cube on the [0, 1] scale.")
    if E.RELEASED in models:
        notes.append("'Released weights' = the authors' NTIRE 2020 model imported from their Keras 2 file, run on "
                     "this run's data without retraining. Its second full-resolution RDAB and its last decoder "
                     "RDAB output zeros for every input (dead ReLUs after their output BatchNorm), so its "
                     "multi-scale branch adds only a constant per band: its reconstruction is the dense branch's.")
    if args.model:
        notes.append(f"The proposed row is the model given with --model {args.model}, not a network trained here.")
    notes.append(f"{E.LINEAR}: an affine least-squares RGB -> 31 map fitted on training pixels; not in the paper.")
    return notes


def main(argv=None):
    args = parser().parse_args(argv)
    if args.command == "import-weights":
        return import_weights_command(args)
    if args.weights_file:
        raise KitError(f"{args.command}: unexpected argument {args.weights_file!r}")
    if args.model and args.command == "train":
        raise KitError("--model names a network to evaluate; use it with 'evaluate' or 'reproduce'")
    config = get_profile(args.profile)
    if args.epochs:
        config["train"]["epochs"] = args.epochs
    if args.loss:
        config["train"]["loss"] = args.loss
    run = prepare_run(args, E.PAPER)
    dataset, description, splits = E.D.open_data(args, config)
    run.stage(f"data: {description}")

    facts = {}
    if args.command in ("train", "reproduce") and not args.model:
        facts = E.train(run, dataset, description, splits, config)
        if args.command == "train":
            run.stage(f"trained networks in {run.out_dir}; evaluate with the same arguments")
            return 0
    else:
        facts = E.load_facts(run)

    released = None if args.released.lower() == "none" else args.released
    models = E.load_models(run, config, args.model, released)
    linear_path = run.out_dir / "linear_baseline.npy"
    if not linear_path.is_file():  # --model without a training run: fit the baseline here
        pairs = (E.D.load_pair(dataset, n) for n in splits["train"])
        E.fit_linear_baseline(pairs, seed=run.seed).save(linear_path)
    linear = E.load_linear_baseline(linear_path)

    results = E.evaluate(run, dataset, splits, config, models, linear)
    ev = config["eval"]
    times = {}
    for method in (m for m in (E.PROPOSED, E.RELEASED) if m in models):
        times[method] = {mode: E.time_per_image(models[method], ev["timing_shape"], ev["tile"], overlap,
                                                ev["timing_repeats"])
                         for mode, overlap in (("tiles", 0), ("blended", ev["overlap"]))}
        run.stage(f"{method}: {times[method]['tiles']:.3f} s per {ev['timing_shape'][0]}x{ev['timing_shape'][1]} image")
    logs = {v: run.out_dir / f"{v}_log.csv" for v in E.VARIANTS}
    figures = E.figures(run, dataset, splits, config, models, logs)

    from common.training import count_params

    paper_counts = count_params(E.build_model())
    note = f"{run.profile} profile; {'--model ' + args.model if args.model else 'trained in this run'}"
    short = E.D.short_description(dataset, splits, ev["max_test_images"])
    tables = E.measured_tables(results, short, E.D.dataset_key(dataset), note) + [E.tiling_table(results, times)]
    measured = {
        "title": E.TITLE,
        "dataset": {"name": dataset.name, "description": description,
                    "splits": {k: len(v) for k, v in splits.items()},
                    "truth_zero_fraction_test": E.zero_fraction(dataset, splits["test"][: ev["max_test_images"] or None])},
        "tables": tables,
        "per_image": E.per_image(results),
        "per_image_markdown": E.per_image_md(results),
        "train_seconds": facts.get("train_seconds"),
        "training": facts,
        "parameters": {"paper_profile": {"trainable": paper_counts[0], "non_trainable": paper_counts[1],
                                         "total": sum(paper_counts)},
                       "trained": facts.get("trained_parameters")},
        "seconds_per_image": {"shape": ev["timing_shape"], "device": "gpu" if distribute.on_gpu() else "cpu", **times},
        "figures": figures,
        "notes": profile_notes(args, config, dataset, facts, models),
    }
    write_results(run, load_published(E.PUBLISHED_PATH), measured)
    run.finish()
    return 0


if __name__ == "__main__":
    run_main(main)
