"""The interface every paper folder implements once, and the registry that finds them.

A paper folder ``papers/<name>/`` holds a module ``paper.py`` that defines ``PAPER``, an
instance of a ``Paper`` subclass. Everything the kit does with a paper goes through it:

- ``profiles``: the settings, one nested shape for every paper (sections ``model``,
  ``data``, ``train``, ``eval``, and ``baselines`` where the paper trains some), each
  setting with the paper section it comes from in the paper's ``config.py``;
- ``open_data``: the run's dataset(s) and split, checked before anything trains;
- ``build_networks`` / ``train`` / ``load_trained`` / ``evaluate``: the networks, their
  training, and the measured tables in the shape of the paper's ``published.json``;
- ``predictor`` / ``networks_from_file``: the trained model applied to a user's files
  (``python -m papers.<name> predict``, ``common.predict``);
- ``bench_cases``: the networks ``common.bench`` times.

The command line (``common.cli.paper_main``), ``run_all``, the benchmarks and the report
iterate the registry (``paper_names``, ``get_paper``), which lists the folders under
``papers/`` that hold a ``paper.py``: ``common`` and ``data_prep`` import no paper, and
a new paper is added by writing its folder alone.

Importing this module, or a paper's ``paper.py`` and ``config.py``, imports no Keras:
``--help`` and the registry stay fast.
"""

import copy
import importlib
from dataclasses import dataclass, field
from pathlib import Path

from common.io import KitError

REPO_ROOT = Path(__file__).resolve().parent.parent
PAPERS_DIR = REPO_ROOT / "papers"
#: The kinds of input ``predict`` reads: an RGB image, or a (low-resolution) cube.
INPUT_KINDS = ("rgb", "cube")


@dataclass
class Data:
    """The data of one run, as ``Paper.open_data`` found it.

    ``name``: the dataset key(s) the run used ("cave", "cave+harvard", "synthetic"), which
    the report compares with each published table's ``dataset_key``. ``splits``: image
    names per part of the (first) dataset. ``parts``: what the paper needs beyond that
    (several sources, folds); the paper's own code reads it.
    """

    name: str
    description: str
    why: str
    datasets: list
    splits: dict = field(default_factory=dict)
    parts: dict = field(default_factory=dict)
    #: [(dataset, image names)] read once by ``check`` before training: by default the
    #: first dataset's validation and test images (training reads its own images first).
    to_check: list = None

    @property
    def dataset(self):
        return self.datasets[0]

    def check(self, stage=print):
        """Read every image of ``to_check`` once, so that a broken test image stops the run
        before training, not after it (one ``KitError`` naming the file)."""
        to_check = self.to_check
        if to_check is None:
            to_check = [(self.dataset, list(self.splits.get("val", [])) + list(self.splits.get("test", [])))]
        count = sum(len(names) for _, names in to_check)
        if count:
            stage(f"checking the {count} validation and test image(s) before training")
        for dataset, names in to_check:
            for name in names:
                dataset.load(name)


@dataclass
class Predictor:
    """A trained model as ``predict`` applies it to a user's files.

    ``inputs``: the kinds it reads, in order (``("rgb",)``, ``("cube",)`` or
    ``("cube", "rgb")``). ``run(arrays)`` takes one array per input, each scaled as
    ``scaling`` says, and returns the reconstructed H x W x C cube. ``wavelengths``: the
    band centres (nm) of the output; ``scale``: the factor between the input cube and the
    output (1 for RGB inputs).
    """

    inputs: tuple
    run: object
    wavelengths: object
    scaling: str
    scale: int = 1


class Paper:
    """What a paper folder provides to the kit. Subclasses set the class attributes and
    implement the methods that raise ``NotImplementedError``."""

    #: The folder name (``papers/<name>``) and the command's name.
    name = ""
    #: The paper's title, as in its ``published.json`` citation.
    title = ""
    #: One of "rgb2hs" (spectral reconstruction), "sr" (HS super-resolution), "fusion".
    task = ""
    #: The real datasets the paper was evaluated on, in order of preference.
    datasets = ()
    #: Commands of this paper beyond train / evaluate / reproduce / predict ({name: help}).
    extra_commands = {}
    #: Extra commands that train and evaluate like ``reproduce`` (e.g. an ablation).
    reproduce_like = ()

    # ------------------------------------------------------------------ settings
    @property
    def profiles(self):
        """{profile name: nested settings}; ``quick`` is the default of every command."""
        return importlib.import_module(f"papers.{self.name}.config").PROFILES

    def config(self, profile="quick"):
        """A deep copy of a profile's settings (``KitError`` for an unknown name)."""
        if profile not in self.profiles:
            raise KitError(f"{self.name}: unknown profile {profile!r}; choose one of "
                           f"{', '.join(self.profiles)}")
        config = copy.deepcopy(self.profiles[profile])
        config["profile"] = profile
        return config

    def add_arguments(self, parser):
        """Add the paper's own command-line options (none by default)."""

    def resolve(self, args):
        """The settings of a run: the profile with the command line's overrides applied
        (``--epochs``, and whatever ``apply_arguments`` takes)."""
        config = self.config(args.profile)
        if getattr(args, "epochs", None):
            self.set_epochs(config, args.epochs)
        self.apply_arguments(config, args)
        return config

    def set_epochs(self, config, epochs):
        """``--epochs N``: every network of the run trains ``N`` epochs."""
        config["train"]["epochs"] = int(epochs)
        if "baselines" in config and "epochs" in config["baselines"]:
            config["baselines"]["epochs"] = int(epochs)

    def apply_arguments(self, config, args):
        """Apply the paper's own options (``add_arguments``) to ``config``."""

    @property
    def published_path(self):
        return PAPERS_DIR / self.name / "published.json"

    def published(self, data):
        """The published tables this run is compared with (``published.json``); a paper
        whose headline table depends on the dataset adjusts it here."""
        from common.report import load_published

        return load_published(self.published_path)

    def run_command(self, args):
        """Run one of ``extra_commands`` that is not ``reproduce_like``."""
        raise KitError(f"{self.name}: no command {args.command!r}")

    # ------------------------------------------------------------------ a run
    def open_data(self, args, config):
        """The run's ``Data`` (datasets found, split, every input checked)."""
        raise NotImplementedError

    def build_networks(self, config):
        """{name: untrained keras.Model} of the run, the paper's own network first."""
        raise NotImplementedError

    @property
    def experiment(self):
        """The paper's ``experiment`` module, where ``train``, ``load_trained`` and
        ``evaluate`` live by default (imported when first used: it imports Keras)."""
        return importlib.import_module(f"papers.{self.name}.experiment")

    def train(self, run, config, data):
        """Train every network (resuming where a run stopped); returns (networks, facts)
        with ``facts['train_seconds']``. Default: ``experiment.train(run, config, data)``."""
        return self.experiment.train(run, config, data)

    def load_trained(self, run, config):
        """The networks a ``train`` left in ``run``'s folder (``KitError`` if missing).
        Default: ``experiment.load_trained(run, config)``."""
        return self.experiment.load_trained(run, config)

    def evaluate(self, run, config, data, networks):
        """Every method on the test images: a dict with ``tables`` (the published shape),
        ``per_image``, ``per_image_markdown``, ``figures`` and anything else worth
        recording. Default: ``experiment.evaluate(run, config, data, networks)``."""
        return self.experiment.evaluate(run, config, data, networks)

    def notes(self, args, config, data, facts):
        """What this run changed from the paper, one sentence each, for the report."""
        return []

    def per_image_values(self, measured, table_id, method, metric):
        """{test image: value} of one cell of a measured table (``metric`` of ``method`` in
        ``table_id``), for the paired comparisons of the report; None where the run holds
        no per-image values for it. Default: ``measured['per_image'][method]`` rows."""
        rows = measured.get("per_image", {}).get(method)
        if not isinstance(rows, list) or not rows or metric not in rows[0]:
            return None
        return {row["image"]: row[metric] for row in rows}

    # ------------------------------------------------------------------ predict
    def predictor(self, config, networks, **options):
        """The ``Predictor`` of trained ``networks`` (as ``load_trained`` returns them);
        ``options`` are what ``predict_options`` took from the command line."""
        raise NotImplementedError

    def predict_options(self, args):
        """The paper's own ``predict`` options (e.g. drcnn_sam's ``--scale``)."""
        return {}

    def networks_from_file(self, path, config):
        """Networks for ``predict --weights FILE``: a ``.keras`` file saved by a run is the
        paper's own network; a paper may also read its authors' released files."""
        import common.saving

        path = Path(path)
        if path.suffix != ".keras":
            raise KitError(f"--weights {path}: expected a .keras model saved by a run of this paper")
        return {self.main_network: common.saving.load_model(path)}

    @property
    def main_network(self):
        """The name of the paper's own network among ``build_networks``'s."""
        return self.name

    #: ``f(network) -> (model, side multiple)`` for a paper whose evaluation runs each
    #: whole image through one network in one pass (``common.inference.predict_full``),
    #: None for the others (their protocol tiles, or takes two inputs).
    whole_image_network = None

    # ------------------------------------------------------------------ benchmarks
    def bench_cases(self):
        """{case name: builder(sizes) -> common.bench.Case}; the paper's own network is
        named after the paper, its baselines ``<paper>/<network>``."""
        return {}


def paper_names():
    """The papers of the kit: every folder under ``papers/`` holding a ``paper.py``."""
    return sorted(p.parent.name for p in PAPERS_DIR.glob("*/paper.py"))


def get_paper(name):
    """The ``Paper`` of ``papers/<name>`` (``KitError`` for an unknown name)."""
    names = paper_names()
    if name not in names:
        raise KitError(f"no paper {name!r}; the kit has {', '.join(names)}")
    paper = importlib.import_module(f"papers.{name}.paper").PAPER
    if paper.name != name:
        raise KitError(f"papers/{name}/paper.py: PAPER.name is {paper.name!r}, expected {name!r}")
    return paper


def all_papers():
    return [get_paper(name) for name in paper_names()]
