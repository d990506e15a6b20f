"""ms_ssfnet as the kit runs it: Han, Zheng and Chen, ICCVW 2019, behind the kit's
``Paper`` interface.

MS-SSFNet (``model.py``), the x16 fusion observations (``data.py``), the Table 1
baselines (``baselines.py``) and the training and evaluation (``experiment.py``) are
used here by the kit's command line, ``run_all``, ``predict`` and the benchmarks.
"""

from common.paper import Data, Paper, Predictor

FUSION_SCALING = ("the low-resolution cube divided by its full scale (integer files: the dtype's maximum; "
                  "float files taken as already on [0, 1]) and the RGB image divided by the full scale of its "
                  "bit depth (8-bit / 255, 16-bit / 65535): the network was trained on cubes on [0, 1] and their "
                  "Nikon D700 renders with response rows summing to 1 (data.py), so RGB from another camera is "
                  "outside its training. The RGB must be 16 times the cube's size; sides that are not multiples "
                  "of 16 are reflect-padded and the output cropped back")


class MsSsfnet(Paper):
    name = "ms_ssfnet"
    title = "Multi-level and Multi-scale Spatial and Spectral Fusion CNN for Hyperspectral Image Super-resolution"
    task = "fusion"
    datasets = ("harvard", "icvl", "nus")

    @property
    def main_network(self):
        from papers.ms_ssfnet.experiment import METHOD

        return METHOD

    def set_epochs(self, config, epochs):
        config["train"]["epochs"] = int(epochs)
        config["baselines"]["epochs"] = int(epochs)

    def open_data(self, args, config):
        from papers.ms_ssfnet import experiment

        dataset, why, split = experiment.dataset_and_split(args, config, self.datasets)
        return Data(name=dataset.name, why=why, datasets=[dataset], splits=split,
                    description=(f"{dataset.describe()}; split {len(split['train'])} train / {len(split['val'])} "
                                 f"val / {len(split['test'])} test images"))

    def build_networks(self, config):
        from papers.ms_ssfnet import experiment

        return {method: entry[0] for method, entry in experiment.build_networks(config, compile=False).items()}

    def published(self, data):
        from papers.ms_ssfnet import experiment

        return experiment.adjust_published(super().published(data), data.name)

    def notes(self, args, config, data, facts):
        from papers.ms_ssfnet.config import PROFILE_NOTES

        notes = [PROFILE_NOTES.get(config["profile"], "")]
        if args.epochs:
            notes.append(f"--epochs {args.epochs} instead of the profile's.")
        if data.name not in ("harvard", "icvl", "nus"):
            notes.append(f"Data: {data.name}, not Harvard / ICVL / NUS: its table is filed under Table 1 (a) for "
                         "the layout only; compare the gains over bicubic and SSF-CNN, not the values.")
        notes.append("Bicubic is not in Table 1: it is the kit's floor (LR-HS up-sampled x16).")
        notes.append(f"Eqs. 3-7 do not close; reading {config['model'].get('reading', 'C')} of the README joins the "
                     "two pathways. SSF-CNN [20] is built as SRCNN 9-1-5. Harvard is divided by each image's "
                     "maximum; standard deviations over test images use N - 1 (MATLAB's std).")
        return notes

    def predictor(self, config, networks):
        import numpy as np

        from common.inference import forward, pad_to_multiple
        from common.io import KitError
        from papers.ms_ssfnet.model import inference_model

        model = inference_model(networks[self.main_network])
        factor = 2 ** config["model"]["scales"]

        def run(lr, rgb):
            height, width = rgb.shape[:2]
            if (-(-height // factor), -(-width // factor)) != lr.shape[:2]:
                raise KitError(f"the RGB image is {height}x{width} but the cube is {lr.shape[0]}x{lr.shape[1]}: "
                               f"the RGB must be {factor} times the cube's size (its sides rounded up to "
                               f"multiples of {factor})")
            padded = pad_to_multiple(rgb, factor)
            out = forward(model, {"lr": lr[None].astype(np.float32), "rgb": padded[None].astype(np.float32)})
            return out[0, :height, :width]

        return Predictor(inputs=("cube", "rgb"), run=run, wavelengths=None, scaling=FUSION_SCALING, scale=factor)

    def bench_cases(self):
        cases = {self.name: self._bench_case}
        for label in ("SSF-CNN", "SSF-ResNet", "Spectral-ResNet"):
            name = f"{self.name}/{label.lower().replace('-', '_')}"
            cases[name] = lambda sizes, label=label, name=name: self._bench_baseline(sizes, label, name)
        return cases

    def _bench_case(self, sizes):
        from common.bench import Case, full_image, profile_name
        from papers.ms_ssfnet import experiment
        from papers.ms_ssfnet import model as net

        config = self.config(profile_name(sizes))
        model = net.build_from_config(config)
        bands, factor = config["model"]["bands"], 2 ** config["model"]["scales"]
        hr = config["data"]["lr_patch"] * factor

        def compile_model(m, jit):
            experiment.compile_ms_ssfnet(m, {**config, "train": {**config["train"], "jit_compile": jit}})

        inputs = {net.INPUT_LR: (hr // factor, hr // factor, bands), net.INPUT_RGB: (hr, hr, 3)}
        full, label = full_image("fusion", sizes, multiple=factor)
        full_inputs = {net.INPUT_LR: (full[0] // factor, full[1] // factor, bands), net.INPUT_RGB: (*full, 3)}
        return Case(self.name, "fusion", model, compile_model, inputs, config["train"]["batch_size"],
                    net.inference_model(model), full_inputs, label, [(model, inputs)])

    def _bench_baseline(self, sizes, label_name, name):
        from common.bench import Case, full_image, profile_name
        from papers.ms_ssfnet import baselines as bl
        from papers.ms_ssfnet import experiment

        config = self.config(profile_name(sizes))
        model = bl.NETWORK_BASELINES[label_name](config)
        bands = config["model"]["bands"]
        hr = config["baselines"]["hr_patch"] or config["data"]["lr_patch"] * 2 ** config["model"]["scales"]
        shapes = {bl.INPUT_UP: (bands,), bl.INPUT_RGB: (3,)}
        inputs = {key: (hr, hr, *shapes[key]) for key in bl.INPUTS[label_name]}
        full, label = full_image("fusion", sizes)
        full_inputs = {key: (*full, *shapes[key]) for key in bl.INPUTS[label_name]}

        def compile_model(m, jit):
            experiment.compile_baseline(m, {**config, "train": {**config["train"], "jit_compile": jit}})

        return Case(name, "fusion", model, compile_model, inputs, config["train"]["batch_size"], model,
                    full_inputs, label, [(model, inputs)])


PAPER = MsSsfnet()
