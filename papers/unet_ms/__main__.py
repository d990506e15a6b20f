"""Command line of unet_ms (Yan et al., PRCV 2018):

    python -m papers.unet_ms train|evaluate|reproduce [--data synthetic|ntire2018=<root>|icvl=<root>]
        [--data-root DIR] [--profile quick|paper|smoke] [--epochs N] [--out DIR] [--seed N]

``train`` leaves its run folder open, so ``evaluate`` with the same arguments continues in
it (or pass the folder with ``--out``); ``reproduce`` = train + evaluate + comparison.
"""

from common.cli import choose_dataset, make_parser, prepare_run, run_main
from common.report import load_published, write_results
from papers.unet_ms import data as D
from papers.unet_ms import experiment as E
from papers.unet_ms.config import PROFILES, get_profile

TITLE = "Accurate spectral super-resolution from single RGB image using multi-scale CNN"


def profile_notes(args, profile, dataset):
    """What this run changed from the paper, for the comparison's notes."""
    notes = []
    model, data, train = profile["model"], profile["data"], profile["train"]
    if args.profile != "paper":
        notes.append(
            f"{args.profile} profile, a CPU-sized run: base width {model['base_width']} (widths "
            f"{model['base_width']}..{model['base_width'] * 16}) instead of 64..1024; patches of "
            f"{data['patch_size']}x{data['patch_size']} (stride {data['stride']}"
            + (f", at most {data['max_patches']}" if data["max_patches"] else "")
            + f"); {args.epochs or train['epochs']} epochs of batch {train['batch_size']}, lr "
            f"{train['learning_rate']:g} x {train['lr_decay']} every {train['lr_decay_epochs']} "
            f"epoch(s); output x {model['output_scale']:.4g} (paper: 64x64 patches, 100 epochs, "
            "batch 128, 5e-5 x 0.93 every 10 epochs, no output factor).")
    elif args.epochs:
        notes.append(f"--epochs {args.epochs} instead of the paper's {train['epochs']}.")
    if dataset.name != "ntire2018":
        notes.append(
            f"Data: {dataset.name}, not the paper's NTIRE 2018 test images: compare the gain "
            "over the spline-interpolation baseline, not the values.")
    notes.append(
        "The linear-regression row is this kit's extra baseline (least-squares 3 x 31 map fitted "
        "on training pixels); it is not in Table 2.")
    return notes


def main(argv=None):
    parser = make_parser(E.PAPER, __doc__.split("\n\n")[0], profiles=tuple(PROFILES))
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    run = prepare_run(args, E.PAPER)
    dataset, why = choose_dataset(args, D.SUPPORTED, synthetic_kwargs={
        "n_scenes": profile["data"]["synthetic_scenes"], "size": profile["data"]["synthetic_size"]})
    parts, split_text = D.make_splits(dataset, seed=args.seed)
    run.stage(f"data: {dataset.describe()} ({why}); {split_text}")

    if args.command in ("train", "reproduce"):
        model, facts = E.train(run, dataset, parts, profile)
        if args.command == "train":
            run.stage(f"trained model in {run.out_dir}; evaluate with the same arguments")
            return 0
    else:
        model, facts = E.load_trained(run, profile), E.load_facts(run)

    logs = {"U-Net training": run.out_dir / f"{E.MODEL_NAME}_log.csv"}
    summaries, figures, extra = E.evaluate(run, dataset, parts, profile, model, logs=logs)
    published = load_published(E.PUBLISHED_PATH)
    dataset_text = f"{dataset.describe()}; {split_text}; {D.describe_rgb(dataset)}"
    measured = {
        "title": TITLE,
        "dataset": {"name": dataset.name, "description": dataset_text, "chosen_because": why},
        "tables": E.measured_tables(summaries, dataset.name, D.short_label(dataset, parts)),
        "per_image": {method: s["per_image"] for method, s in summaries.items()},
        "per_image_markdown": E.per_image_section(summaries),
        "train_seconds": facts.get("train_seconds"),
        "training": facts,
        "parameters": {"paper_profile": E.paper_parameter_count(),
                       "trained": facts.get("trained_parameters")},
        "figures": figures,
        "notes": profile_notes(args, profile, dataset),
        **extra,
    }
    write_results(run, published, measured)
    run.finish()
    return 0


if __name__ == "__main__":
    run_main(main)
