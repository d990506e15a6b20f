"""Command line of drcnn_sam (deep residual CNN with a spectral-angle loss, ICIG 2017):

    python -m papers.drcnn_sam train|evaluate|reproduce [--data synthetic|cave=<root>|harvard=<root>]
        [--data-root DIR] [--profile quick|paper|smoke] [--epochs N] [--out DIR] [--seed N]

``--data-root DIR`` with both CAVE and Harvard under it trains on the union of their
training images, as the paper (92 images). ``train`` leaves its run folder open, so
``evaluate`` with the same arguments continues in it (or pass the folder with ``--out``);
``reproduce`` = train + evaluate + comparison with Tables 1-2.
"""

from common.cli import make_parser, prepare_run, run_main
from common.report import load_published, write_results
from papers.drcnn_sam import data as D
from papers.drcnn_sam import experiment as E
from papers.drcnn_sam.config import PROFILES, get_config

TITLE = "Deep Residual Convolutional Neural Network for Hyperspectral Image Super-Resolution"


def profile_notes(args, config, sources):
    """What this run changed from the paper, for the comparison's notes."""
    notes = []
    arch = config["architecture"]
    base = config["baselines"]
    if args.profile != "paper":
        notes.append(
            f"{args.profile} profile (a CPU-sized run, not the paper's training): scales "
            f"{', '.join('x%d' % s for s in config['scales'])} only (paper: x2, x3, x4); cascade of "
            f"{arch['n_subnets']} sub-networks of {arch['f1']}x{arch['f1']}/{arch['n1']}, "
            f"{arch['f2']}x{arch['f2']}/{arch['n2']}, {arch['f3']}x{arch['f3']}/c with the supervised "
            f"output after sub-network {arch['supervised_after']} (paper: 6 of 9x9/96, 3x3/64, 5x5/c, "
            f"after the 3rd); {config['n_patches']} patches of {config['patch_size']}x{config['patch_size']} "
            f"(paper: 30,000 of 32x32), batch {config['batch_size']} (paper: 128), at most "
            f"{config['max_epochs']} epochs (paper: until lr < 1e-6). Baselines shrunk too: SRCNN "
            f"{base['srcnn']['n1']}/{base['srcnn']['n2']} filters (paper 64/32), ESPCN "
            f"{base['espcn']['n1']}/{base['espcn']['n2']} (64/32), VDSR {base['vdsr']['depth']} layers of "
            f"{base['vdsr']['width']} (20 of 64), {base['n_grey_patches']} grey patches, "
            f"{base['max_epochs']} epochs"
            + (", VDSR at the common lr instead of its own 0.1." if base["vdsr_optimizer"].get("learning_rate") != 0.1 else "."))
    elif args.epochs:
        notes.append(f"--epochs {args.epochs} caps the paper's schedule (stop when lr < 1e-6).")
    keys = {s.key for s in sources}
    if keys == {"synthetic"}:
        notes.append("Data: the kit's synthetic scenes, not CAVE/Harvard; the measured table is filed "
                     "under Table 1 for the layout only: compare the gain over bicubic, not the values.")
    elif keys != {"cave", "harvard"}:
        notes.append(f"Trained on the {', '.join(sorted(keys))} training images only (the paper trained "
                     "one network per scale on the union of the CAVE and Harvard training images).")
    notes.append(
        f"PSNR over the whole cube (eq. 4) with peak {config['psnr_peak']:g} on cubes divided by their "
        "n-bit full scale (CAVE: 65535; Harvard: each image's maximum); equal to the 8-bit PSNR with "
        "peak 255 on the same data scaled to 0-255. SAM in degrees (eq. 5). Reconstructions clipped "
        "to [0, 1] before scoring (all methods).")
    notes.append(
        "Choices where the paper is silent (README): l1 of eq. (1) summed over each patch "
        f"({'on' if config['l1_sum'] else 'off'}), spectral term = the angle in radians "
        f"({config['sam_term']}), linear residual conv (no ReLU), global gradient-norm clip "
        f"{config['optimizer'].get('global_clipnorm')}, no augmentation.")
    notes.append("Baselines run band by band as grey images; ESPCN takes the LR grid image (sub-pixel "
                 "output), the others the bicubic-upsampled one.")
    return notes


def main(argv=None):
    parser = make_parser(E.PAPER, __doc__.split("\n\n")[0], profiles=tuple(PROFILES))
    args = parser.parse_args(argv)
    config = get_config(args.profile, args.epochs)
    run = prepare_run(args, E.PAPER)
    sources, why = D.open_sources(args, config)
    description = D.describe(sources)
    run.stage(f"data: {description} ({why})")

    if args.command in ("train", "reproduce"):
        models, facts = E.train(run, sources, config)
        if args.command == "train":
            run.stage(f"trained networks in {run.out_dir}; evaluate with the same arguments")
            return 0
    else:
        models, facts = E.load_trained(run, config), E.load_facts(run)

    logs = {f"DRCNN x{s}": run.out_dir / f"drcnn_x{s}_log.csv" for s in config["scales"]}
    results, figures = E.evaluate(run, sources, config, models, logs=logs)
    published = load_published(E.PUBLISHED_PATH)
    measured = {
        "title": TITLE,
        "dataset": {"names": [s.key for s in sources], "description": description, "chosen_because": why},
        "tables": E.measured_tables(results, sources, config),
        "per_image": E.per_image_json(results),
        "per_image_markdown": E.per_image_markdown(results),
        "train_seconds": facts.get("train_seconds"),
        "training": facts,
        "parameters": {"paper_profile": E.paper_parameter_counts(),
                       "trained": facts.get("trained_parameters")},
        "scales": config["scales"],
        "psnr_peak": config["psnr_peak"],
        "figures": figures,
        "notes": profile_notes(args, config, sources),
    }
    write_results(run, published, measured)
    run.finish()
    return 0


if __name__ == "__main__":
    run_main(main)
