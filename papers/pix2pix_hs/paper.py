"""pix2pix_hs as the kit runs it: Alvarez-Gila et al., ICCVW 2017, behind the kit's
``Paper`` interface.

The cGAN (``model.py``), its data (``data.py``) and the evaluation of Table 1 and Fig. 4
(``experiment.py``) are used here by the kit's command line, ``run_all``, ``predict``
and the benchmarks. The paper's own extra command is ``ablation``: ``reproduce`` plus
every branch count of Fig. 4.
"""

from common.paper import Data, Paper, Predictor

RGB_SCALING = ("sRGB divided by the full scale of its bit depth (8-bit / 255, 16-bit / 65535) and mapped to "
               "tanh's [-1, 1], as the network was trained on the sRGB renders of Sec. 3.2; tiles of the "
               "profile's size (Sec. 2.3); the output is the spectrum of the min-max normalised cube of "
               "Sec. 3.2 on [0, 1] (relative, no absolute radiance scale)")


class Pix2PixHS(Paper):
    name = "pix2pix_hs"
    title = "Adversarial Networks for Spatial Context-Aware Spectral Image Reconstruction from RGB"
    task = "rgb2hs"
    datasets = ("icvl",)
    extra_commands = {"ablation": "reproduce, plus every branch count of Fig. 4"}
    reproduce_like = ("ablation",)

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=None,
            help="override the profile's batch size (the paper trains with 1, Sec. 2.3; with "
            "--distribute it must be a multiple of the number of devices)")

    def apply_arguments(self, config, args):
        from common.io import KitError

        if args.batch_size is not None:
            if args.batch_size < 1:
                raise KitError(f"--batch-size {args.batch_size}: expected a positive integer")
            config["train"]["batch_size"] = args.batch_size
        config["eval"]["ablation"] = args.command == "ablation"

    def open_data(self, args, config):
        from common.cli import choose_dataset, synthetic_options
        from papers.pix2pix_hs import data as D

        dataset, why = choose_dataset(args, self.datasets, synthetic_kwargs=synthetic_options(config["data"]))
        folds, split_text = D.make_folds(dataset)
        max_test = config["data"]["max_test_images"]
        if max_test:
            for fold in folds:
                fold["test"] = fold["test"][:max_test]
        first = folds[0]
        return Data(name=dataset.name, why=why, datasets=[dataset],
                    description=f"{dataset.describe()}; {split_text}; sRGB input rendered as in Sec. 3.2",
                    splits={"train": first["train"], "val": first["val"], "test": first["test"]},
                    parts={"folds": folds, "split_text": split_text})

    def build_networks(self, config):
        from papers.pix2pix_hs.config import model_settings
        from papers.pix2pix_hs.model import build_pix2pix_hs

        gan = build_pix2pix_hs(model_settings(config))
        return {"generator": gan.generator, "discriminator": gan.discriminator}

    @property
    def main_network(self):
        return "generator"

    def notes(self, args, config, data, facts):
        model, train, dsettings = config["model"], config["train"], config["data"]
        notes = []
        if args.profile != "paper":
            notes.append(
                f"{args.profile} profile: {train['crop']}x{train['crop']} crops and tiles (paper 256), so the "
                f"full U-Net has {model['n_branches']} branches (paper 9); G widths {model['g_filters']}.."
                f"{model['g_max_filters']} and D from {model['d_filters']} (paper 64..512, 64); "
                f"{train['epochs']} epochs of {train['crops_per_image']} random crop(s) per image "
                f"(paper: one per image and epoch, epochs not given); alternation D "
                f"{train['d_iterations']} / G {train['g_iterations']} steps (paper 50 / 25); Adam lr "
                f"{train['learning_rate']:g} (paper 2e-4); {dsettings['runs_per_fold']} run(s) per fold "
                "(paper 2).")
        elif args.epochs:
            notes.append(f"--epochs {args.epochs} instead of the kit's {train['epochs']} (the paper gives none).")
        if args.batch_size:
            notes.append(f"--batch-size {args.batch_size} (the paper trains with batch 1, Sec. 2.3).")
        if data.name != "icvl":
            notes.append(
                f"Data: {data.name}, not ICVL: compare the gain of the full net over the per-pixel "
                "(1-branch) cGAN with the paper's Fig. 4 gain, not the values.")
        notes.append(
            "The Fig. 4 baseline is the paper's own per-pixel model (1 branch); the linear-regression row is "
            "this kit's extra baseline (least-squares affine map fitted on training pixels), not in Table 1. "
            "Arad et al. [2] is not rerun.")
        return notes

    def per_image_values(self, measured, table_id, method, metric):
        """Table 1's weighted-average row pools every fold and run of the full net: per
        test image, the mean over its runs; the linear regression's rows as measured."""
        from papers.pix2pix_hs import experiment

        per_image = measured.get("per_image", {})
        if method == experiment.METHOD:
            full = f"cgan{measured['settings']['model']['n_branches']}_"
            groups = [rows for name, rows in per_image.items() if name.startswith(full)]
        else:
            groups = [per_image[method]] if method in per_image else []
        values = {}
        for rows in groups:
            for row in rows:
                values.setdefault(row["image"], []).append(row[metric])
        return {image: sum(v) / len(v) for image, v in values.items()} or None

    def predictor(self, config, networks):
        import numpy as np

        from common.io import KitError
        from papers.pix2pix_hs import experiment

        full = config["model"]["n_branches"]
        names = [n for n in networks if n.startswith(f"cgan{full}_")] or [self.main_network]
        if names[0] not in networks:
            raise KitError(f"no trained full-size generator (cgan{full}_...) among {', '.join(networks)}")
        generator, tile = networks[names[0]], config["eval"]["tile"]
        return Predictor(inputs=("rgb",), run=lambda rgb: experiment.reconstruct(generator, rgb, tile),
                         wavelengths=np.arange(400.0, 701.0, 10.0), scaling=RGB_SCALING)

    def networks_from_file(self, path, config):
        import common.saving

        return {self.main_network: common.saving.load_model(path)}

    def bench_cases(self):
        return {self.name: lambda sizes: self._bench_case(sizes, None, self.name),
                f"{self.name}/per_pixel_cgan": lambda sizes: self._bench_case(sizes, 1, f"{self.name}/per_pixel_cgan")}

    def _bench_case(self, sizes, n_branches, name):
        from common.bench import Case, adam, full_image, profile_name
        from papers.pix2pix_hs import model as net
        from papers.pix2pix_hs.config import model_settings

        config = self.config(profile_name(sizes))
        s = model_settings(config, n_branches)
        generator = net.build_generator(n_branches=s["n_branches"], base_filters=s["g_filters"],
                                        max_filters=s["g_max_filters"], bands=s["bands"],
                                        dropout_rate=s["dropout"])
        discriminator = net.build_discriminator(bands=s["bands"], base_filters=s["d_filters"])
        # One D step, then one G step: every pair of timed steps updates both networks (the
        # paper alternates 50 D steps with 25 G steps; each step costs about the same).
        gan = net.Pix2PixHS(generator, discriminator, l1_weight=s["l1_weight"], d_iterations=1,
                            g_iterations=1, name=name.replace("/", "_"))

        def compile_model(m, jit):
            m.compile(g_optimizer=adam(s["learning_rate"], beta_1=s["beta_1"]),
                      d_optimizer=adam(s["learning_rate"], beta_1=s["beta_1"]), jit_compile=jit)

        crop = config["train"]["crop"]
        full, label = full_image("rgb2hs", sizes, multiple=net.required_multiple(s["n_branches"]))
        pair = [(crop, crop, 3), (crop, crop, s["bands"])]
        return Case(
            name, "rgb2hs", gan, compile_model, (crop, crop, 3), config["train"]["batch_size"],
            generator, (*full, 3), label,
            [(generator, (crop, crop, 3)), (discriminator, pair), (discriminator, pair)],
            data_range=(-1.0, 1.0), steps_multiple=2,
            notes=["training step = G forward + D on the real and the fake pair; D and G steps "
                   "alternate 1:1 in the timed steps (paper: 50 D : 25 G)",
                   "the paper tiles test images in 256x256 tiles; timed here in one pass"],
        )


PAPER = Pix2PixHS()
