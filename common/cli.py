"""The command line every paper folder shares.

    python -m papers.<name> train|evaluate|reproduce [--data synthetic|<dataset>=<root>]
        [--data-root DIR] [--profile quick|paper] [--epochs N] [--out DIR] [--seed N]
        [--distribute none|mirrored] [--mixed-precision none|bf16]

``reproduce`` is train + evaluate + the comparison with the published numbers.
``--distribute mirrored`` trains on every local device, or on several machines
(``common.distribute``); it is not part of a run's identity, so a run started on one
device can be resumed on several.
``--mixed-precision bf16`` sets Keras' ``mixed_bfloat16`` policy before any model is
built: layers compute in bfloat16, variables stay float32, every network's last layer
is float32 (so are its outputs and the predictions written to the results) and Keras
losses cast their inputs to float32. It is part of a run's identity (a bfloat16 run is
not resumed as a float32 one); runs recorded before the option existed count as 'none'.

A run writes everything under one output folder (default ``results/<paper>/<timestamp>/``).
Running the same command again after an interruption finds the unfinished run with the
same arguments and continues it (training resumes from its last completed epoch, see
``common.training.fit``) instead of starting a new folder. A finished run carries a
``COMPLETE`` marker.

``run_main`` turns a ``KitError`` (bad file, bad argument, diverged training) into one
line on stderr and exit code 2, without a traceback.
"""

import argparse
import datetime
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import distribute
from common.distribute import MODES
from common.io import KitError, atomic_write_json, atomic_write_text

REPO_ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("train", "evaluate", "reproduce")
# The arguments that define a run: an unfinished run is resumed only when they all agree.
RUN_KEYS = ("paper", "data", "data_root", "profile", "epochs", "seed", "batch_size", "mixed_precision")
# The value a run key takes when a recorded run (or an argument namespace) lacks it: runs
# recorded before --mixed-precision existed were float32.
RUN_KEY_DEFAULTS = {"mixed_precision": "none"}
# --mixed-precision choice -> Keras dtype policy. float16 is not offered: it needs loss
# scaling (keras.mixed_precision.LossScaleOptimizer) to keep small gradients from
# flushing to zero, which the kit's training loops (the pix2pix_hs GAN step) do not do.
PRECISION_POLICIES = {"none": "float32", "bf16": "mixed_bfloat16"}


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def make_parser(paper, description, profiles=("quick", "paper"), commands=COMMANDS):
    """The shared parser; a paper may add its own options or commands to it."""
    parser = argparse.ArgumentParser(prog=f"python -m papers.{paper}", description=description)
    parser.add_argument("command", choices=list(commands), help="what to run")
    parser.add_argument(
        "--data",
        default=None,
        help="'synthetic' (the embedded default) or <dataset>=<root>, e.g. cave=/data/CAVE",
    )
    parser.add_argument(
        "--data-root",
        default=None,
        help="folder holding the real datasets in their documented layouts; the paper's "
        "dataset is used when found there, the synthetic set otherwise",
    )
    parser.add_argument("--profile", choices=list(profiles), default=profiles[0])
    parser.add_argument("--epochs", type=positive_int, default=None, help="override the profile's epochs")
    parser.add_argument("--out", default=None, help="output folder (default results/<paper>/<timestamp>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--distribute", choices=list(MODES), default="none",
        help="'mirrored': every local GPU (TensorFlow MirroredStrategy, or several machines via "
        "TF_CONFIG; JAX DataParallel); the batch size stays the global batch")
    parser.add_argument(
        "--mixed-precision", choices=list(PRECISION_POLICIES), default="none",
        help="'bf16': Keras mixed_bfloat16 policy, layers compute in bfloat16 while variables, "
        "losses and every network's outputs stay float32; faster only where the hardware has "
        "bfloat16 units (recent GPUs, TPUs, CPUs with AMX / AVX512-BF16), slower on other CPUs. "
        "'none' (default): float32 throughout. float16 is not offered (it would need loss scaling)")
    return parser


def set_precision(mode):
    """Set the global Keras dtype policy for ``--mixed-precision`` ``mode`` ('none' or
    'bf16'); call it before any model is built (layers read the policy when created).
    Returns the policy name."""
    if mode is None:
        mode = "none"
    if mode not in PRECISION_POLICIES:
        raise KitError(f"--mixed-precision {mode}: choose one of {', '.join(PRECISION_POLICIES)}")
    import keras

    policy = PRECISION_POLICIES[mode]
    keras.mixed_precision.set_global_policy(policy)
    return policy


JAX_CACHE_ENV = "KIT_JAX_CACHE"
JAX_CACHE_MIN_COMPILE_SECONDS = 0.5


def enable_compilation_cache():
    """On the JAX backend, keep XLA's compiled programs on disk between runs (JAX's
    persistent compilation cache) in ``cache/jax`` or ``$KIT_JAX_CACHE`` ('off' turns it
    off). A second run of the same network skips most of its compile time
    (rdab_coordconv's quick network on this CPU: 43 s to build and take a first step,
    13 s from the cache). Programs compiled in under 0.5 s are not stored. Returns the
    folder, or None when nothing was set (another backend, 'off', or an unwritable
    folder: then JAX compiles as usual)."""
    import keras

    setting = os.environ.get(JAX_CACHE_ENV, "")
    if keras.backend.backend() != "jax" or setting.lower() == "off":
        return None
    folder = Path(setting) if setting else REPO_ROOT / "cache" / "jax"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", JAX_CACHE_MIN_COMPILE_SECONDS)
    return folder


def run_main(main, argv=None):
    """Call ``main(argv)``; a ``KitError`` becomes one line on stderr and exit code 2."""
    try:
        code = main(argv)
    except KitError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


@dataclass
class Run:
    """One run's output folder, arguments and progress lines."""

    paper: str
    args: argparse.Namespace
    folder: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def seed(self):
        return self.args.seed

    @property
    def profile(self):
        return self.args.profile

    record: dict = field(default_factory=dict)

    @property
    def out_dir(self):
        """The run folder. It is created (with its ``run_args.json``) on first use, so a run
        that fails on its inputs before writing anything leaves nothing behind. A worker
        other than the chief of a multi-machine training writes into ``worker-<i>/``."""
        if not (self.folder / "run_args.json").is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.folder / "run_args.json", self.record)
        worker = distribute.active()
        if not worker.is_chief:
            (self.folder / f"worker-{worker.worker}").mkdir(exist_ok=True)
            return self.folder / f"worker-{worker.worker}"
        return self.folder

    def path(self, *parts):
        path = self.out_dir.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def elapsed(self):
        return time.monotonic() - self.started

    def stage(self, message):
        """One progress line per stage: ``[paper  12.3s] message``."""
        print(f"[{self.paper} {self.elapsed():7.1f}s] {message}", flush=True)

    @property
    def complete(self):
        return (self.folder / "COMPLETE").exists()

    def finish(self):
        atomic_write_text(self.path("COMPLETE"), datetime.datetime.now().isoformat() + "\n")
        self.stage(f"done: results in {self.out_dir}")


def _run_identity(paper, args):
    identity = {key: (paper if key == "paper" else getattr(args, key, None)) for key in RUN_KEYS}
    return _with_defaults(identity)


def _with_defaults(values):
    return {key: (RUN_KEY_DEFAULTS.get(key) if values.get(key) is None else values.get(key))
            for key in RUN_KEYS}


def _find_unfinished(base, identity):
    """The newest folder under ``base`` whose recorded arguments match and that is not COMPLETE."""
    if not base.is_dir():
        return None
    for folder in sorted(base.iterdir(), reverse=True):
        record = folder / "run_args.json"
        if not record.is_file() or (folder / "COMPLETE").exists():
            continue
        try:
            recorded = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if _with_defaults(recorded) == identity:
            return folder
    return None


def prepare_run(args, paper):
    """Choose (or find again) the output folder and record the run's arguments in it."""
    identity = _run_identity(paper, args)
    if args.out:
        out_dir = Path(args.out)
        record = out_dir / "run_args.json"
        if record.is_file():
            recorded = json.loads(record.read_text())
            if _with_defaults(recorded) != identity:
                raise KitError(
                    f"{record}: this folder holds a run with other arguments "
                    f"({_with_defaults(recorded)}); choose another --out"
                )
    else:
        base = REPO_ROOT / "results" / paper
        out_dir = _find_unfinished(base, identity)
        if out_dir is None:
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            out_dir = base / stamp
            suffix = 1
            while out_dir.exists():  # another run started within the same second
                suffix += 1
                out_dir = base / f"{stamp}-{suffix}"
    resumed = (out_dir / "run_args.json").is_file()
    record = {**identity, "command": args.command, "argv": sys.argv[1:]}
    run = Run(paper=paper, args=args, folder=out_dir, record=record)
    run.stage(f"{'resuming' if resumed else 'starting'} {args.command} ({args.profile} profile) in {out_dir}")
    policy = set_precision(identity["mixed_precision"])
    enable_compilation_cache()
    if policy != "float32":
        run.stage(f"mixed precision: Keras policy {policy} (bfloat16 compute; float32 variables, "
                  "losses and outputs)")
    setup = distribute.configure(getattr(args, "distribute", "none"))
    if setup.replicas > 1 or not setup.is_chief:
        run.stage(f"distributed training: {setup.description}"
                  + ("" if setup.is_chief else f"; this is worker {setup.worker}"))
    return run


def choose_dataset(args, supported, synthetic_kwargs=None):
    """The dataset a run uses and a sentence saying why.

    ``supported``: the real datasets the paper was evaluated on, in order of preference
    (names as in ``data_prep.readers``). ``--data`` names one explicitly; ``--data-root``
    picks the first supported one found there; otherwise the embedded synthetic set.
    """
    from data_prep import readers

    if args.data and args.data != "synthetic":
        name, root = readers.parse_data_spec(args.data)
        if name not in supported:
            raise KitError(
                f"--data {args.data}: this paper uses {', '.join(supported)} (or synthetic), not {name}"
            )
        dataset = readers.open_dataset(name, root)
        return dataset, f"{name} from {root} (given with --data)"
    if args.data_root and args.data != "synthetic":
        if not os.path.isdir(args.data_root):
            raise KitError(f"--data-root {args.data_root}: no such folder")
        for name in supported:
            dataset = readers.find_dataset(name, args.data_root)
            if dataset is not None:
                return dataset, f"{name} found under {args.data_root}"
        note = f"none of {', '.join(supported)} found under {args.data_root}; using the synthetic set"
    else:
        note = "embedded synthetic set (no real dataset given)"
    from data_prep.synthetic import SyntheticDataset

    # The synthetic scenes depend on their own seed (default 0), not on --seed: runs with
    # different training seeds are then compared on the same data.
    return SyntheticDataset(**(synthetic_kwargs or {})), note
