"""unet_ms as the kit runs it: Yan et al., PRCV 2018, behind the kit's ``Paper`` interface.

The network, its training and Table 2's evaluation are in ``model.py``, ``experiment.py``
and ``data.py``; this module tells the kit's command line, ``run_all``, ``predict`` and
the benchmarks how to use them.
"""

from common.paper import Data, Paper, Predictor

RGB_SCALING = ("RGB divided by the full scale of its bit depth (8-bit / 255, 16-bit / 65535), as the "
               "network was trained on 8-bit RGB / 255 (released code); the output spectra are on the "
               "training data's [0, 1] scale (NTIRE 2018: counts / 4095)")


class UnetMS(Paper):
    name = "unet_ms"
    title = "Accurate spectral super-resolution from single RGB image using multi-scale CNN"
    task = "rgb2hs"
    datasets = ("ntire2018", "icvl")

    def open_data(self, args, config):
        from common.cli import choose_dataset, synthetic_options
        from papers.unet_ms import data as D

        dataset, why = choose_dataset(args, self.datasets, synthetic_kwargs=synthetic_options(config["data"]))
        splits, split_text = D.make_splits(dataset, seed=args.seed)
        return Data(name=dataset.name, why=why, datasets=[dataset], splits=splits,
                    description=f"{dataset.describe()}; {split_text}; {D.describe_rgb(dataset)}")

    def build_networks(self, config):
        from papers.unet_ms.model import build_model

        return {self.main_network: build_model(config)}

    def notes(self, args, config, data, facts):
        notes = []
        model, dsettings, train = config["model"], config["data"], config["train"]
        if args.profile != "paper":
            notes.append(
                f"{args.profile} profile, a CPU-sized run: base width {model['base_width']} (widths "
                f"{model['base_width']}..{model['base_width'] * 16}) instead of 64..1024; patches of "
                f"{dsettings['patch_size']}x{dsettings['patch_size']} (stride {dsettings['stride']}"
                + (f", at most {dsettings['max_patches']}" if dsettings["max_patches"] else "")
                + f"); {train['epochs']} epochs of batch {train['batch_size']}, lr "
                f"{train['learning_rate']:g} x {train['lr_decay']} every {train['lr_decay_epochs']} "
                "epoch(s)"
                + (f"; output x {model['output_scale']:.4g}" if model.get("output_scale", 1.0) != 1.0 else "")
                + f"; dropout {model['dropout']:g}"
                + " (paper: 64x64 patches, 100 epochs, batch 128, 5e-5 x 0.93 every 10 epochs, dropout 0.2).")
        elif args.epochs:
            notes.append(f"--epochs {args.epochs} instead of the paper's 100.")
        evaluation = config["eval"]
        region = (f"the top-left {evaluation['crop']}x{evaluation['crop']} region of each test image (the whole "
                  f"image where it is smaller)" if evaluation.get("crop") else
                  "each whole test image (padded to a multiple of 16), not the released top-left 1280x1280 crop")
        clamp = ("truth and prediction clamped to [0, 1] before the x255 of RMSE1/RMSE2/rRMSE1/rRMSE2, SAM "
                 "unclamped" if evaluation.get("clamp", True) else "no clamping (the released code clamps)")
        notes.append(f"Test protocol of the released test.py / utilities.py: {region} in one forward pass; {clamp}.")
        if data.name != "ntire2018":
            notes.append(
                f"Data: {data.name}, not the paper's NTIRE 2018 test images: compare the gain "
                "over the baselines, not the values.")
        notes.append(
            "The linear-regression row is this kit's extra baseline (least-squares 3 x 31 map fitted "
            "on training pixels); it is not in Table 2. Whether the data hold more than a linear map "
            "to learn: `python -m papers.unet_ms.pixelwise_check` with the same --data and --profile "
            "(a per-pixel network against the linear map; on the synthetic set they are not "
            "distinguishable).")
        return notes

    def predictor(self, config, networks):
        import numpy as np

        from papers.unet_ms.model import reconstruct

        model = networks[self.main_network]
        return Predictor(inputs=("rgb",), run=lambda rgb: reconstruct(model, rgb),
                         wavelengths=np.arange(400.0, 701.0, 10.0), scaling=RGB_SCALING)

    @staticmethod
    def whole_image_network(network):
        from papers.unet_ms.model import POOL_STEPS

        return network, 2**POOL_STEPS

    def bench_cases(self):
        return {self.name: self._bench_case}

    def _bench_case(self, sizes):
        from common.bench import Case, adam, full_image, profile_name
        from papers.unet_ms import model as net

        config = self.config(profile_name(sizes))
        model = net.build_model(config)
        patch = config["data"]["patch_size"]
        train = config["train"]

        def compile_model(m, jit):
            m.compile(optimizer=adam(train["learning_rate"], weight_decay=train["weight_decay"]), loss="mse",
                      jit_compile=jit)

        full, label = full_image("rgb2hs", sizes, multiple=2**net.POOL_STEPS)
        return Case(self.name, "rgb2hs", model, compile_model, (patch, patch, 3), train["batch_size"],
                    model, (*full, 3), label, [(model, (patch, patch, 3))])


PAPER = UnetMS()
