"""rdab_coordconv as the kit runs it: the light-weight residual dense attention net of the
NTIRE 2020 clean track (arXiv:2004.06930), behind the kit's ``Paper`` interface.

The network (``model.py``), its losses and schedule (``train.py``), the data
(``data.py``), the import of the authors' released weights (``weights.py``) and the
evaluation of Tables 1-3 (``experiment.py``) are used here by the kit's command line,
``run_all``, ``predict`` and the benchmarks. Own options: ``--model`` (evaluate a saved
network as the proposed one), ``--released`` (the authors' weights file, evaluated as a
row of its own when present), ``--loss``; own command: ``import-weights``.
"""

from pathlib import Path

from common.paper import REPO_ROOT, Data, Paper, Predictor

#: Where ``--released`` looks by default for the authors' weights file (MIT licence, not
#: redistributed with the kit: download it from the authors' repository and put it here).
RELEASED_DEFAULT = REPO_ROOT / "weights" / "rdab_coordconv_authors_ntire2020.hdf5"

RGB_SCALING = ("RGB divided by the full scale of its bit depth (8-bit / 255, 16-bit / 65535), as the "
               "released test script divides the clean-track PNGs by 255; 64x64 tiles, edge tiles "
               "zero-padded (released test script); the output is on the training cubes' scale (ARAD: "
               "about [0, 1])")
LOSSES = ("l2_ssim", "sse_half")


class RdabCoordConv(Paper):
    name = "rdab_coordconv"
    title = "Light Weight Residual Dense Attention Net for Spectral Reconstruction from RGB Images"
    task = "rgb2hs"
    datasets = ("ntire2020",)
    extra_commands = {"import-weights": "convert the authors' released Keras 2 .hdf5 into a .keras file "
                                        "(python -m papers.rdab_coordconv import-weights FILE.hdf5 --out m.keras)"}

    @property
    def main_network(self):
        return "proposed"

    def add_arguments(self, parser):
        parser.add_argument("weights_file", nargs="?", help="import-weights: the released Keras 2 .hdf5 file")
        parser.add_argument("--model", default=None,
                            help="evaluate/reproduce: a saved .keras model evaluated as the proposed network "
                            "(nothing is trained)")
        parser.add_argument("--released", default=str(RELEASED_DEFAULT),
                            help="the authors' released .hdf5, evaluated as an extra row when the file exists "
                            "('none' to skip)")
        parser.add_argument("--loss", choices=LOSSES, default=None,
                            help="training loss: l2_ssim (the paper's eq. 14) or sse_half (the release's); "
                            "default: the profile's")

    def apply_arguments(self, config, args):
        from common.io import KitError

        if args.weights_file:
            raise KitError(f"{args.command}: unexpected argument {args.weights_file!r}")
        if args.model and args.command == "train":
            raise KitError("--model names a network to evaluate; use it with 'evaluate' or 'reproduce'")
        if args.model and not Path(args.model).is_file():
            raise KitError(f"--model {args.model}: no such file")
        if args.loss:
            config["train"]["loss"] = args.loss
        config["eval"]["model"] = str(Path(args.model).resolve()) if args.model else None
        released = None if args.released.lower() == "none" else args.released
        config["eval"]["released"] = released

    def run_command(self, args):
        from common.io import KitError
        from papers.rdab_coordconv.weights import import_weights

        if not args.weights_file:
            raise KitError("import-weights: give the released .hdf5 file, e.g. "
                           "python -m papers.rdab_coordconv import-weights weights.hdf5 --out model.keras")
        out = Path(args.out) if args.out else REPO_ROOT / "results" / self.name / "released_ntire2020.keras"
        if out.suffix != ".keras":
            raise KitError(f"--out {out}: import-weights writes a .keras file; give a path ending in .keras")
        _, count = import_weights(args.weights_file, out)
        print(f"imported {count:,} values from {args.weights_file} into {out}")
        return 0

    def open_data(self, args, config):
        from papers.rdab_coordconv import data as D

        dataset, why, splits = D.open_data(args, config, self.datasets)
        sizes = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
        return Data(name=dataset.name, why=why, datasets=[dataset], splits=splits,
                    description=f"{dataset.describe()} [split {sizes}]")

    def build_networks(self, config):
        from papers.rdab_coordconv import experiment

        return {variant: experiment.build_variant(config, variant)
                for variant in experiment.variants_to_train(config)}

    def notes(self, args, config, data, facts):
        from papers.rdab_coordconv.experiment import LINEAR

        notes = []
        dsettings, train = config["data"], config["train"]
        if args.profile != "paper":
            notes.append(
                f"{args.profile} profile, a CPU-sized run, not the paper's training: the full network "
                f"(widths {config['model']['widths']}, dense {config['model']['dense_width']}) trained on "
                f"{facts.get('patches', '?')} patches of {dsettings['patch_size']}x{dsettings['patch_size']} for "
                f"{train['epochs']} epochs (paper: 8000 patches of 64x64 (printed '20 x 20'), 500 epochs), "
                f"batch {train['batch_size']}, Adam {train['learning_rate']:g} -> {train['final_learning_rate']:g}"
                + ("" if train["ablations"] else "; the ablations of Tables 2-3 are not trained in this profile")
                + ".")
            if config["model"].get("zero_coord_kernels"):
                notes.append("Initialisation (this profile only): the kernel entries of the two convolutions "
                             "that read the CoordConv channels start at zero, not Glorot-uniform (coordinates "
                             "in [-1, 1] swamp RGB in [0, 1] at initialisation; same layers and values).")
        elif args.epochs:
            notes.append(f"--epochs {args.epochs} instead of the paper's 500.")
        if data.name != "ntire2020":
            notes.append(f"Data: {data.name} rendered with the NTIRE 2020 clean-track response, not ARAD: the "
                         "values are not comparable with the paper's; the gaps between rows are.")
        if train["loss"] == "l2_ssim":
            where = ("every pixel of the patch (eq. 13: 1/M over the M pixels, window truncated at the border)"
                     if train.get("ssim_positions", "all") == "all"
                     else "the valid 11x11 window positions only (tf.image.ssim), not eq. 13's every pixel")
            notes.append(f"Loss: l2_ssim (L2 + (1 - SSIM), eq. 14; SSIM averaged over {where}).")
        else:
            notes.append(f"Loss: {train['loss']} (the release: sum of squared errors / 2).")
        notes.append(
            "Inference as the released test script: 64x64 tiles, edge tiles zero-padded. MRAE = mean |gt - rec| "
            f"/ gt over H x W x C (NTIRE 2020), zero policy '{config['eval']['mrae_zero_policy']}' (truth elements "
            "equal to 0 left out); SSIM per band (11x11 Gaussian, peak 1), averaged; RMSE over the cube on the "
            "[0, 1] scale.")
        if config["eval"].get("released") and Path(config["eval"]["released"]).is_file():
            notes.append("'Released weights' = the authors' NTIRE 2020 model imported from their Keras 2 file, run "
                         "on this run's data without retraining. Its second full-resolution RDAB and its last "
                         "decoder RDAB output zeros for every input (dead ReLUs after their output BatchNorm), so "
                         "its multi-scale branch adds only a constant per band: its reconstruction is the dense "
                         "branch's. On saturated colours that no spectrum in [0, 1] produces under the clean-track "
                         "response it extrapolates badly (spectra far outside [0, 1], tens of 8-bit levels of "
                         "reprojection error on those pixels; README).")
        if config["eval"].get("model"):
            notes.append(f"The proposed row is the model given with --model {args.model}, not a network trained here.")
        notes.append(f"{LINEAR}: an affine least-squares RGB -> 31 map fitted on training pixels; not in the paper.")
        return notes

    def per_image_values(self, measured, table_id, method, metric):
        """``MRAE_test`` -> the MRAE rows of the test split (released tiling)."""
        name, _, split = metric.rpartition("_")
        rows = measured.get("per_image", {}).get(split, {}).get(method)
        return {row["image"]: row[name] for row in rows} if rows else None

    def predictor(self, config, networks):
        import numpy as np

        from papers.rdab_coordconv.experiment import reconstruct

        model, tile = networks[self.main_network], config["eval"]["tile"]
        return Predictor(inputs=("rgb",), run=lambda rgb: reconstruct(model, rgb, tile),
                         wavelengths=np.arange(400.0, 701.0, 10.0), scaling=RGB_SCALING)

    def networks_from_file(self, path, config):
        """A ``.keras`` file saved by a run, or the authors' released Keras 2 ``.hdf5``."""
        from papers.rdab_coordconv.weights import import_weights

        if Path(path).suffix in (".hdf5", ".h5"):
            return {self.main_network: import_weights(path)[0]}
        return super().networks_from_file(path, config)

    def bench_cases(self):
        return {self.name: self._bench_case}

    def _bench_case(self, sizes):
        from common.bench import Case, adam, full_image, profile_name
        from papers.rdab_coordconv import model as net
        from papers.rdab_coordconv.train import make_loss

        config = self.config(profile_name(sizes))
        model = net.build_from_config(config)
        train = config["train"]
        loss = make_loss(train["loss"], train.get("ssim_positions", "all"))

        def compile_model(m, jit):
            m.compile(optimizer=adam(train["learning_rate"]), loss=loss, jit_compile=jit)

        patch = config["data"]["patch_size"]
        full, label = full_image("rgb2hs", sizes, multiple=net.MULTIPLE)
        return Case(self.name, "rgb2hs", model, compile_model, (patch, patch, 3), train["batch_size"],
                    model, (*full, 3), label, [(model, (patch, patch, 3))],
                    notes=["the released test script tiles 64x64; timed here in one pass"])


PAPER = RdabCoordConv()
