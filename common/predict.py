"""``python -m papers.<name> predict``: a trained model applied to the user's own files.

    python -m papers.unet_ms predict --run results/unet_ms/<run> --rgb photo.png [more.jpg ...]
    python -m papers.rdab_coordconv predict --weights authors.hdf5 --rgb photo.png
    python -m papers.drcnn_sam predict --run <run> --cube lr.mat [--scale 2]
    python -m papers.ms_ssfnet predict --run <run> --cube lr.mat --rgb hr.png   # pairs, in order

The model comes from a run folder that trained the paper's network (``--run``: its
recorded settings rebuild the network and its weights are loaded) or from a model file
(``--weights``: a ``.keras`` saved by a run, or a paper's released file where the paper
reads one). Inputs are read by ``data_prep.userfiles`` and scaled as the network was
trained (the ``Predictor``'s ``scaling``, printed and recorded); every input is checked
before the first one is reconstructed, so a bad file stops the command before anything
is written. Each input gives, in ``--out`` (default ``results/<paper>/predict-<time>/``):
``<name>.<mat|h5|npy>`` (the cube and its band centres), ``<name>_srgb.png`` (an sRGB
preview of the reconstruction) and ``<name>_spectra.png`` (the spectra of a few pixels);
``predict.json`` records the model, the scaling, the inputs and the outputs. Images
larger than ``KIT_MAX_INFER_PIXELS`` go through in tiles (``common.inference``).
"""

import datetime
import json
from pathlib import Path

import numpy as np

from common.io import KitError, atomic_write_json
from common.paper import INPUT_KINDS

DEFAULT_WAVELENGTHS = np.arange(400.0, 701.0, 10.0)


class _RunFolder:
    """What ``Paper.load_trained`` reads of a run: its folder."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.out_dir = self.folder


def _settings_of_run(paper, folder):
    record_path = Path(folder) / "run_args.json"
    if not record_path.is_file():
        raise KitError(f"--run {folder}: not a run folder of the kit (no run_args.json)")
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError) as error:
        raise KitError(f"{record_path}: not a readable run record ({error})") from None
    if record.get("paper") != paper.name:
        raise KitError(f"--run {folder}: a run of {record.get('paper')!r}, not of {paper.name}")
    settings = record.get("settings")
    if not settings:
        raise KitError(f"{record_path}: the run record holds no settings (a run of an older kit); "
                       f"use --weights with its .keras file")
    return settings


def _load_networks(paper, args, config):
    if bool(args.run) == bool(args.weights):
        raise KitError("predict: give either --run <run folder> or --weights <model file>")
    if args.run:
        config = _settings_of_run(paper, args.run)
        return config, paper.load_trained(_RunFolder(args.run), config), f"run {args.run}"
    return config, paper.networks_from_file(args.weights, config), f"model file {args.weights}"


def _input_lists(paper, predictor, args):
    """[(name, {kind: path})] of the inputs, paired in order for several kinds."""
    given = {"rgb": args.rgb or [], "cube": args.cube or []}
    wanted = predictor.inputs
    for kind in INPUT_KINDS:
        if given[kind] and kind not in wanted:
            raise KitError(f"predict: {paper.name} reads {' + '.join(wanted)} inputs, not --{kind}")
    for kind in wanted:
        if not given[kind]:
            raise KitError(f"predict: {paper.name} needs --{kind} " + ("FILE..." if kind == "cube" else "IMAGE..."))
    counts = {len(given[k]) for k in wanted}
    if len(counts) != 1:
        raise KitError(f"predict: {' and '.join(f'{len(given[k])} --{k}' for k in wanted)} files; give them in pairs")
    items = []
    for index in range(counts.pop()):
        paths = {kind: Path(given[kind][index]) for kind in wanted}
        items.append((paths[wanted[0]].stem, paths))
    stems = [name for name, _ in items]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise KitError(f"predict: several inputs are named {', '.join(duplicates)}; their outputs would collide")
    return items


def _read_inputs(paths):
    """{kind: array}, plus the notes on each file's scaling."""
    from data_prep.userfiles import read_cube_file, read_rgb_image

    arrays, notes, wavelengths = {}, {}, None
    if "cube" in paths:
        arrays["cube"], wavelengths, notes["cube"] = read_cube_file(paths["cube"])
    if "rgb" in paths:
        arrays["rgb"], depth = read_rgb_image(paths["rgb"])
        notes["rgb"] = f"{depth}-bit, divided by {2**depth - 1}"
    return arrays, notes, wavelengths


def _output_folder(paper, args):
    if args.out:
        return Path(args.out)
    from common.cli import REPO_ROOT

    return REPO_ROOT / "results" / paper.name / f"predict-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _previews(out, name, cube, wavelengths):
    """The sRGB preview and the spectra of a few pixels of one reconstruction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.figures import pick_pixels
    from common.io import atomic_path
    from data_prep.render import display_srgb

    srgb = display_srgb(cube, wavelengths)
    png = out / f"{name}_srgb.png"
    with atomic_path(png) as tmp:
        plt.imsave(tmp, np.clip(srgb, 0.0, 1.0), format="png")
    fig, axis = plt.subplots(figsize=(5, 3.5))
    for row, col in pick_pixels(cube, count=4):
        axis.plot(wavelengths, cube[row, col], label=f"pixel ({row}, {col})")
    axis.set_xlabel("wavelength (nm)")
    axis.set_ylabel("reconstructed value")
    axis.set_title(f"{name}: reconstructed spectra")
    axis.legend(fontsize=7)
    spectra = out / f"{name}_spectra.png"
    with atomic_path(spectra) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)
    return png, spectra


def predict_main(paper, args, config):
    """Run ``predict`` for ``paper``; returns the exit code."""
    from common.cli import enable_compilation_cache, set_precision
    from common.inference import max_inference_pixels
    from common.provenance import environment
    from data_prep.userfiles import write_cube

    max_inference_pixels()  # a bad KIT_MAX_INFER_PIXELS fails before any work
    out = _output_folder(paper, args)
    if out.exists() and not out.is_dir():
        raise KitError(f"--out {out}: exists and is not a folder")
    set_precision(getattr(args, "mixed_precision", "none"))
    enable_compilation_cache()
    config, networks, source = _load_networks(paper, args, config)
    predictor = paper.predictor(config, networks, **paper.predict_options(args))
    items = _input_lists(paper, predictor, args)
    for _, paths in items:  # every file checked before the first output is written
        _read_inputs(paths)
    print(f"[{paper.name}] {source}; inputs scaled as: {predictor.scaling}", flush=True)
    records = []
    for name, paths in items:
        arrays, notes, wavelengths = _read_inputs(paths)
        cube = predictor.run(*(arrays[kind] for kind in predictor.inputs))
        if wavelengths is None:
            wavelengths = predictor.wavelengths if predictor.wavelengths is not None else DEFAULT_WAVELENGTHS
        if len(wavelengths) != cube.shape[-1]:
            wavelengths = DEFAULT_WAVELENGTHS[: cube.shape[-1]]
        out.mkdir(parents=True, exist_ok=True)
        target = write_cube(out / f"{name}.{args.format}", cube, wavelengths, args.format)
        srgb, spectra = _previews(out, name, cube, np.asarray(wavelengths))
        records.append({"name": name, "inputs": {k: str(v) for k, v in paths.items()}, "input_scaling": notes,
                        "output": target.name, "shape": list(cube.shape), "srgb_preview": srgb.name,
                        "spectra": spectra.name, "value_range": [float(cube.min()), float(cube.max())]})
        print(f"[{paper.name}] {name}: {cube.shape[0]}x{cube.shape[1]}x{cube.shape[2]} -> {target}", flush=True)
    atomic_write_json(out / "predict.json", {"paper": paper.name, "model": source, "scaling": predictor.scaling,
                                             "settings": config, "environment": environment(),
                                             "outputs": records})
    return 0
