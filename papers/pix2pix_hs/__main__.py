"""Command line of pix2pix_hs (Alvarez-Gila et al., ICCVW 2017):

    python -m papers.pix2pix_hs train|evaluate|reproduce|ablation [--data synthetic|icvl=<root>]
        [--data-root DIR] [--profile quick|paper|smoke] [--epochs N] [--out DIR] [--seed N]

``train`` leaves its run folder open, so ``evaluate`` with the same arguments continues in
it (or pass the folder with ``--out``); ``reproduce`` = train + evaluate + comparison
(the full cGAN on every fold and run, the per-pixel 1-branch cGAN and the linear
regression); ``ablation`` also trains every branch count of the profile's Fig. 4 list.
"""

from common import distribute
from common.cli import COMMANDS, choose_dataset, make_parser, positive_int, prepare_run, run_main
from common.io import KitError
from common.report import load_published, write_results
from papers.pix2pix_hs import baselines
from papers.pix2pix_hs import experiment as E
from papers.pix2pix_hs.config import PROFILES, get_profile

TITLE = "Adversarial Networks for Spatial Context-Aware Spectral Image Reconstruction from RGB"
TASK = "spectral reconstruction: sRGB -> 31 bands (400-700 nm)"


def profile_notes(args, profile, dataset):
    """What this run changed from the paper, for the comparison's notes."""
    model, train, data = profile["model"], profile["train"], profile["data"]
    notes = []
    if args.profile != "paper":
        notes.append(
            f"{args.profile} profile: {train['crop']}x{train['crop']} crops and tiles (paper 256), so the full "
            f"U-Net has {model['n_branches']} branches (paper 9); G widths {model['g_filters']}.."
            f"{model['g_max_filters']} and D from {model['d_filters']} (paper 64..512, 64); "
            f"{args.epochs or train['epochs']} epochs of {train['crops_per_image']} random crop(s) per image "
            f"(paper: one per image and epoch, epochs not given); alternation D "
            f"{train['d_iterations']} / G {train['g_iterations']} steps (paper 50 / 25); Adam lr "
            f"{train['learning_rate']:g} (paper 2e-4); {data['runs_per_fold']} run(s) per fold (paper 2).")
    elif args.epochs:
        notes.append(f"--epochs {args.epochs} instead of the kit's {train['epochs']} (the paper gives none).")
    if args.batch_size:
        notes.append(f"--batch-size {args.batch_size} (the paper trains with batch 1, Sec. 2.3).")
    if dataset.name != "icvl":
        notes.append(
            "Data: the synthetic set, not ICVL: compare the gain of the full net over the per-pixel "
            "(1-branch) cGAN with the paper's Fig. 4 gain, not the values.")
    notes.append(
        "The Fig. 4 baseline is the paper's own per-pixel model (1 branch); the linear-regression row is "
        "this kit's extra baseline (least-squares affine map fitted on training pixels), not in Table 1. "
        "Arad et al. [2] is not rerun.")
    return notes


def main(argv=None):
    parser = make_parser(E.PAPER, __doc__.split("\n\n")[0], profiles=tuple(PROFILES),
                         commands=COMMANDS + ("ablation",))
    parser.add_argument(
        "--batch-size", type=positive_int, default=None,
        help="override the profile's batch size (the paper trains with 1, Sec. 2.3; with "
        "--distribute it must be a multiple of the number of devices)")
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    if args.batch_size:
        profile["train"]["batch_size"] = args.batch_size
    run = prepare_run(args, E.PAPER)
    replicas = distribute.active().replicas
    if profile["train"]["batch_size"] % replicas:
        raise KitError(f"--distribute: a batch of {profile['train']['batch_size']} does not split between "
                       f"{replicas} replicas (the paper trains with batch 1, Sec. 2.3); add --batch-size "
                       f"{replicas} or a multiple of it")
    dataset, why = choose_dataset(args, ("icvl",), synthetic_kwargs={
        "n_scenes": profile["data"]["synthetic_scenes"], "size": profile["data"]["synthetic_size"]})
    run.stage(f"data: {dataset.describe()} ({why})")

    branches = [1, profile["model"]["n_branches"]]
    if args.command == "ablation":
        branches += profile["eval"]["ablation_branches"]
    outcome = E.run_experiment(run, dataset, profile, branches, train=args.command != "evaluate")
    if args.command == "train":
        run.stage(f"trained models in {run.out_dir}; evaluate with the same arguments")
        return 0

    full = profile["model"]["n_branches"]
    fold_id = outcome["folds"][0]["id"]
    logs = {E.branch_row(k): run.out_dir / f"{E.model_name(k, fold_id if k == full else outcome['ablation_fold']['id'], 0)}_log.csv"
            for k in (full, 1)}
    figures = E.figures(run, outcome, logs)
    dataset_text = f"{dataset.describe()}; {outcome['split_text']}; sRGB input rendered as in Sec. 3.2"
    short = f"{dataset.name}, {outcome['split_text']}"
    tables = E.measured_tables(outcome["results"], outcome["linreg_rows"], outcome["folds"],
                               outcome["ablation_fold"], profile, dataset.name, short)
    published = load_published(E.PUBLISHED_PATH)
    head_rmse = tables[0]["rows"][0]["values"]["RMSE"]
    linreg = next((r for r in tables[0]["rows"] if r["method"] == baselines.LINREG_NAME), None)
    trained = [f for f in outcome["facts"] if f.get("n_branches") == full][:1]
    measured = {
        "title": TITLE,
        "task": TASK,
        "dataset": {"name": dataset.name, "description": dataset_text, "chosen_because": why},
        "tables": tables,
        "per_image": {E.model_name(*key): rows for key, rows in outcome["results"].items()},
        "per_image_markdown": E.per_image_section(outcome),
        "train_seconds": sum(f.get("train_seconds", 0.0) for f in outcome["facts"]),
        "training": outcome["facts"],
        "parameters": {
            "paper_profile": E.paper_parameter_count(),
            "trained": {"generator": trained[0]["generator_parameters"],
                        "discriminator": trained[0]["discriminator_parameters"]} if trained else None,
        },
        "beats_linear_regression": None if linreg is None else head_rmse < linreg["values"]["RMSE"],
        "figures": figures,
        "notes": profile_notes(args, profile, dataset),
    }
    write_results(run, published, measured)
    run.stage(f"beats the linear regression: {measured['beats_linear_regression']}")
    run.finish()
    return 0


if __name__ == "__main__":
    run_main(main)
