"""drcnn_sam as the kit runs it: Wang et al., ICIG 2017, behind the kit's ``Paper`` interface.

The cascade (``model.py``), its loss and schedule (``train.py``), the data and
degradation (``data.py``), the band-by-band baselines (``baselines.py``) and the
evaluation of Tables 1-2 (``experiment.py``) are used here by the kit's command line,
``run_all``, ``predict`` and the benchmarks.
"""

from common.paper import Data, Paper, Predictor

CUBE_SCALING = ("the low-resolution cube divided by its full scale (integer files: the dtype's maximum, "
                "e.g. 16-bit CAVE / 65535; float files are taken as already on [0, 1]), bicubic-upsampled "
                "by the scale (MATLAB imresize alignment) and passed through the cascade; the output is "
                "clipped to [0, 1] as in the evaluation")


class DrcnnSam(Paper):
    name = "drcnn_sam"
    title = "Deep Residual Convolutional Neural Network for Hyperspectral Image Super-Resolution"
    task = "sr"
    datasets = ("cave", "harvard")

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=int, default=None,
                            help="predict: the upscaling factor to apply (one the run trained; default its first)")

    def set_epochs(self, config, epochs):
        config["train"]["epochs"] = int(epochs)
        config["baselines"]["epochs"] = int(epochs)

    def open_data(self, args, config):
        from papers.drcnn_sam import data as D

        sources, why = D.open_sources(args, config)
        first = sources[0]
        return Data(name="+".join(s.key for s in sources), description=D.describe(sources), why=why,
                    datasets=[s.dataset for s in sources],
                    splits={"train": first.train, "val": first.val, "test": first.test},
                    parts={"sources": sources},
                    to_check=[(s.dataset, D.fit_and_validation_images(s)[1] + list(s.test)) for s in sources])

    def build_networks(self, config):
        from papers.drcnn_sam import experiment

        return experiment.build_networks(config)

    @property
    def main_network(self):
        return "drcnn_x2"

    def notes(self, args, config, data, facts):
        notes = []
        model, dsettings, train, base = config["model"], config["data"], config["train"], config["baselines"]
        if args.profile != "paper":
            notes.append(
                f"{args.profile} profile (a CPU-sized run, not the paper's training): scales "
                f"{', '.join('x%d' % s for s in model['scales'])} only (paper: x2, x3, x4); cascade of "
                f"{model['n_subnets']} sub-networks of {model['f1']}x{model['f1']}/{model['n1']}, "
                f"{model['f2']}x{model['f2']}/{model['n2']}, {model['f3']}x{model['f3']}/c with the supervised "
                f"output after sub-network {model['supervised_after']} (paper: 6 of 9x9/96, 3x3/64, 5x5/c, "
                f"after the 3rd); {dsettings['n_patches']} patches of {dsettings['patch_size']}x"
                f"{dsettings['patch_size']} (paper: 30,000 of 32x32), batch {train['batch_size']} (paper: 128), "
                f"at most {train['epochs']} epochs (paper: until lr < 1e-6). Baselines shrunk too: SRCNN "
                f"{base['srcnn']['n1']}/{base['srcnn']['n2']} filters (paper 64/32), ESPCN "
                f"{base['espcn']['n1']}/{base['espcn']['n2']} (64/32), VDSR {base['vdsr']['depth']} layers of "
                f"{base['vdsr']['width']} (20 of 64), {base['n_grey_patches']} grey patches, "
                f"{base['epochs']} epochs"
                + (", VDSR at the common lr instead of its own 0.1."
                   if base["vdsr_optimizer"].get("learning_rate") != 0.1 else "."))
        elif args.epochs:
            notes.append(f"--epochs {args.epochs} caps the paper's schedule (stop when lr < 1e-6).")
        keys = set(data.name.split("+"))
        if keys == {"synthetic"}:
            notes.append("Data: the kit's synthetic scenes, not CAVE/Harvard; the measured table is filed "
                         "under Table 1 for the layout only: compare the gain over bicubic, not the values.")
        elif keys != {"cave", "harvard"}:
            notes.append(f"Trained on the {', '.join(sorted(keys))} training images only (the paper trained "
                         "one network per scale on the union of the CAVE and Harvard training images).")
        notes.append(
            f"PSNR over the whole cube (eq. 4) with peak {config['eval']['psnr_peak']:g} on cubes divided by "
            "their n-bit full scale (CAVE: 65535; Harvard: each image's maximum); equal to the 8-bit PSNR "
            "with peak 255 on the same data scaled to 0-255. SAM in degrees (eq. 5). Reconstructions "
            "clipped to [0, 1] before scoring (all methods).")
        notes.append(
            "Choices where the paper is silent (README): l1 of eq. (1) reduced per "
            f"{train['l1_reduction']} (README, Loss), spectral term = the angle in radians "
            f"({train['sam_term']}), linear residual conv (no ReLU), global gradient-norm clip "
            f"{train['optimizer'].get('global_clipnorm')}, no augmentation.")
        notes.append("Baselines run band by band as grey images; ESPCN takes the LR grid image (sub-pixel "
                     "output), the others the bicubic-upsampled one.")
        return notes

    def per_image_values(self, measured, table_id, method, metric):
        """``PSNR_x2`` of ``table1`` -> the PSNR rows of the x2 evaluation of the dataset
        filed under Table 1 (CAVE, or the synthetic set)."""
        from papers.drcnn_sam.data import TABLE_OF

        name, _, scale = metric.partition("_x")
        for key, table in TABLE_OF.items():
            rows = measured.get("per_image", {}).get(f"{key}_x{scale}", {}).get(method)
            if table == table_id and rows:
                return {row["image"]: row[name] for row in rows}
        return None

    def predictor(self, config, networks, scale=None):
        import numpy as np

        from common.inference import predict_full
        from common.io import KitError
        from data_prep.degrade import bicubic_resize
        from papers.drcnn_sam.model import inference_model

        scales = [int(name.split("_x")[1]) for name in networks if name.startswith("drcnn_x")]
        scale = scales[0] if scale is None else int(scale)
        if f"drcnn_x{scale}" not in networks:
            raise KitError(f"--scale {scale}: the model given is for x{', x'.join(map(str, scales))} only")
        model = inference_model(networks[f"drcnn_x{scale}"])
        peak = config["eval"]["psnr_peak"]

        def run(lr):
            up = bicubic_resize(lr, (lr.shape[0] * scale, lr.shape[1] * scale), scale=scale)
            return np.clip(predict_full(model, up.astype(np.float32)), 0.0, peak)

        return Predictor(inputs=("cube",), run=run, wavelengths=None, scaling=CUBE_SCALING, scale=scale)

    def predict_options(self, args):
        return {"scale": getattr(args, "scale", None)}

    def networks_from_file(self, path, config):
        """A ``drcnn_x<s>.keras`` saved by a run: the cascade for the scale its name gives
        (the profile's first scale for another name)."""
        import re

        import common.saving

        match = re.search(r"_x(\d+)\.keras$", str(path))
        scale = int(match.group(1)) if match else config["model"]["scales"][0]
        return {f"drcnn_x{scale}": common.saving.load_model(path)}

    @staticmethod
    def whole_image_network(network):
        from papers.drcnn_sam.model import inference_model

        return inference_model(network), 1

    def bench_cases(self):
        cases = {self.name: self._bench_cascade}
        for kind in ("srcnn", "espcn", "vdsr"):
            cases[f"{self.name}/{kind}"] = lambda sizes, kind=kind: self._bench_baseline(sizes, kind)
        return cases

    def _bench_cascade(self, sizes):
        from common.bench import Case, full_image, profile_name
        from papers.drcnn_sam import model as net
        from papers.drcnn_sam import train
        from papers.drcnn_sam.config import architecture

        config = self.config(profile_name(sizes))
        model = net.build_drcnn(architecture(config))
        bands, patch = config["model"]["bands"], config["data"]["patch_size"]

        def compile_model(m, jit):
            train.compile_drcnn(m, {**config, "train": {**config["train"], "jit_compile": jit}})

        full, label = full_image("sr", sizes)
        return Case(self.name, "sr", model, compile_model, (patch, patch, bands), config["train"]["batch_size"],
                    net.inference_model(model), (*full, bands), label, [(model, (patch, patch, bands))])

    def _bench_baseline(self, sizes, kind):
        from common.bench import Case, full_image, profile_name
        from papers.drcnn_sam import experiment, train

        config = self.config(profile_name(sizes))
        settings = config["baselines"]
        bands, patch = config["model"]["bands"], config["data"]["patch_size"]
        scale = config["model"]["scales"][0]
        model = experiment.build_network(kind, scale, config)
        lr_scale = scale if kind == "espcn" else 1
        optimizer = settings["vdsr_optimizer"] if kind == "vdsr" else settings["optimizer"]

        def compile_model(m, jit):
            train.compile_baseline(m, optimizer, jit_compile=jit)

        full, label = full_image("sr", sizes, scale=lr_scale)
        side = patch // lr_scale
        notes = [f"band by band (Sec. 4.2): one sample = one grey {side}x{side} patch; the whole "
                 f"image = {bands} grey images"]
        if kind == "espcn":
            notes.append(f"x{scale}: the input is the {scale}x smaller low-resolution grid")
        return Case(f"{self.name}/{kind}", "sr", model, compile_model, (side, side, 1), settings["batch_size"],
                    model, (*full, 1), label, [(model, (side, side, 1))], full_images=bands, full_chunk=8,
                    notes=notes)


PAPER = DrcnnSam()
