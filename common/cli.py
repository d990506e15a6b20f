"""The command line every paper folder shares, and the run it drives.

    python -m papers.<name> train|evaluate|reproduce [--data synthetic|<dataset>=<root>]
        [--data-root DIR] [--profile quick|paper|smoke] [--epochs N] [--out DIR] [--seed N]
        [--distribute none|mirrored] [--mixed-precision none|bf16]
    python -m papers.<name> predict (--run DIR | --weights FILE) --rgb IMAGE... | --cube FILE...

Every paper's ``__main__`` is ``paper_main("<name>")``: the paper's ``Paper``
(``common.paper``) supplies the settings, data, networks, training and evaluation, and
this module runs them in the same order for every paper: parse (before Keras is
imported, so ``--help`` answers at once), resolve the profile's settings, choose the run
folder, open and check the data, train (or load what ``train`` left), evaluate, write
``metrics.json`` and ``comparison.md`` beside the published tables, mark the run
``COMPLETE``. ``predict`` applies a trained run (or a model file) to the user's own
files (``common.predict``).

A run writes everything under one output folder (default ``results/<paper>/<timestamp>/``).
Its ``run_args.json`` records what reproduces it: the resolved settings of every
network, the seed, the code's git commit, the library versions, the backend and the
devices (``common.provenance``). Running the same command again after an interruption
finds the unfinished run with the same arguments and settings and continues it (training
resumes from its last completed epoch, see ``common.training.fit``). Two commands cannot
write into one run folder at once (a lock says which process holds it). A command that
fails before the run holds anything worth resuming (a trained network, a checkpoint)
leaves no run folder behind.

``--distribute mirrored`` trains on every local device, or on several machines
(``common.distribute``); it is not part of a run's identity, so a run started on one
device can be resumed on several. ``--mixed-precision bf16`` sets Keras'
``mixed_bfloat16`` policy before any model is built: layers compute in bfloat16,
variables stay float32, every network's last layer is float32 (so are its outputs and the
predictions written to the results) and Keras losses cast their inputs to float32. It is
part of a run's identity.

``run_main`` turns a ``KitError`` (bad file, bad argument, diverged training) into one
line on stderr and exit code 2, without a traceback.
"""

import argparse
import datetime
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from common.io import KitError, atomic_write_json, atomic_write_text

REPO_ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("train", "evaluate", "reproduce", "predict")
DISTRIBUTE_MODES = ("none", "mirrored")  # common.distribute.MODES, without importing it
# --mixed-precision choice -> Keras dtype policy. float16 is not offered: it needs loss
# scaling (keras.mixed_precision.LossScaleOptimizer) to keep small gradients from
# flushing to zero, which the kit's training loops (the pix2pix_hs GAN step) do not do.
PRECISION_POLICIES = {"none": "float32", "bf16": "mixed_bfloat16"}
#: The arguments that, with the resolved settings, define a run: an unfinished run is
#: resumed only when they all agree.
RUN_KEYS = ("paper", "data", "data_root", "profile", "seed", "mixed_precision", "settings_digest")
SEED_LIMIT = 2**32  # NumPy's and Keras' seeds are unsigned 32-bit integers
FACTS_FILE = "training_facts.json"
LOCK_FILE = ".lock"


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def seed_int(text):
    """A seed: an integer from 0 to 2**32 - 1 (what NumPy and Keras accept)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"a seed is an integer from 0 to {SEED_LIMIT - 1}, got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors kept to one line and exit code 2 (as ``KitError``)."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def make_parser(prog, description, profiles=("quick", "paper", "smoke"), commands=COMMANDS,
                command_help=None):
    """The shared parser; a paper adds its own options through ``Paper.add_arguments``."""
    parser = _Parser(prog=prog, description=description,
                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    helps = {"train": "train the networks (the run folder stays open for evaluate)",
             "evaluate": "evaluate what train left in the same run folder",
             "reproduce": "train + evaluate + the comparison with the paper",
             "predict": "apply a trained run (--run) or model file (--weights) to your own files",
             **(command_help or {})}
    parser.add_argument("command", choices=list(commands), metavar="command",
                        help="; ".join(f"{c}: {helps.get(c, '')}" for c in commands))
    parser.add_argument("--data", default=None,
                        help="'synthetic' (the embedded default) or <dataset>=<root>, e.g. cave=/data/CAVE")
    parser.add_argument("--data-root", default=None,
                        help="folder holding real datasets in their documented layouts; the paper's "
                        "dataset is used when found there, CAVE (where the paper can use it), else synthetic")
    parser.add_argument("--profile", choices=list(profiles), default="quick",
                        help="quick: a CPU-sized run of a few minutes; paper: the paper's settings; "
                        "smoke: tiny, for tests")
    parser.add_argument("--epochs", type=positive_int, default=None, help="override the profile's epochs")
    parser.add_argument("--out", default=None, help="output folder (default results/<paper>/<timestamp>)")
    parser.add_argument("--seed", type=seed_int, default=0, help="training seed (0 to 2**32 - 1)")
    parser.add_argument(
        "--distribute", choices=list(DISTRIBUTE_MODES), default="none",
        help="'mirrored': every local GPU (TensorFlow MirroredStrategy, or several machines via "
        "TF_CONFIG; JAX DataParallel); the batch size stays the global batch")
    parser.add_argument(
        "--mixed-precision", choices=list(PRECISION_POLICIES), default="none",
        help="'bf16': Keras mixed_bfloat16 policy (bfloat16 compute, float32 variables, losses and "
        "outputs); faster only where the hardware has bfloat16 units. float16 is not offered")
    predict = parser.add_argument_group("predict")
    predict.add_argument("--run", default=None, help="predict: a run folder that trained the paper's network")
    predict.add_argument("--weights", default=None,
                         help="predict: a model file instead of --run (a .keras file saved by a run)")
    predict.add_argument("--rgb", nargs="+", default=None, metavar="IMAGE",
                         help="predict: RGB images (PNG, JPEG or TIFF; 8 or 16 bit)")
    predict.add_argument("--cube", nargs="+", default=None, metavar="FILE",
                         help="predict: low-resolution cubes (.mat v5 or v7.3, .h5, .npy)")
    predict.add_argument("--format", choices=("mat", "h5", "npy"), default="mat",
                         help="predict: file format of the reconstructed cubes")
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
    (rdab_coordconv's quick network on a 2-core CPU: 43 s to build and take a first step,
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


# ============================================================================ run folders
@dataclass
class Run:
    """One run's output folder, arguments, settings and progress lines."""

    paper: str
    args: argparse.Namespace
    folder: Path
    record: dict = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    created_here: bool = False
    _lock: object = None

    @property
    def seed(self):
        return self.args.seed

    @property
    def profile(self):
        return self.args.profile

    @property
    def out_dir(self):
        """The run folder. It is created (with its ``run_args.json``, and locked) on first
        use, so a run that fails on its inputs before writing anything leaves nothing
        behind. A worker other than the chief of a multi-machine training writes into
        ``worker-<i>/``."""
        from common import distribute

        if self._lock is None:
            self._open_folder()
        worker = distribute.active()
        if not worker.is_chief:
            (self.folder / f"worker-{worker.worker}").mkdir(exist_ok=True)
            return self.folder / f"worker-{worker.worker}"
        return self.folder

    def _open_folder(self):
        existed = self.folder.exists()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise KitError(f"--out {self.folder}: cannot create the run folder ({error.strerror or error})") from None
        self.created_here = not existed
        self._lock = _lock_folder(self.folder)
        if not (self.folder / "run_args.json").is_file():
            try:
                atomic_write_json(self.folder / "run_args.json", self.record)
            except OSError as error:
                raise KitError(f"{self.folder}: cannot write the run record ({error.strerror or error})") from None

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

    def write_facts(self, facts):
        atomic_write_json(self.path(FACTS_FILE), facts)

    def read_facts(self):
        path = self.folder / FACTS_FILE
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise KitError(f"{path}: unreadable training facts ({error}); delete it to train again") from None

    def finish(self):
        atomic_write_text(self.path("COMPLETE"), datetime.datetime.now().isoformat() + "\n")
        self.release()
        self.stage(f"done: results in {self.out_dir}")

    def release(self):
        if self._lock is not None:
            self._lock.close()
            (self.folder / LOCK_FILE).unlink(missing_ok=True)
            self._lock = False  # released: not opened again

    def worth_keeping(self):
        """True when the folder holds something a rerun resumes from or a user reads: a
        finished network, a checkpoint, results."""
        if not self.folder.is_dir():
            return False
        for path in self.folder.rglob("*"):
            if path.name.endswith(".done") or path.name in ("COMPLETE", "metrics.json") \
                    or (path.is_dir() and path.name.startswith("epoch-") and not path.name.endswith(".partial")):
                return True
        return False

    def discard_if_empty(self):
        """After a failure: remove the run folder this command created if it holds
        nothing worth keeping, so the next command does not resume into an empty run."""
        if self._lock is None or self._lock is False:
            return
        keep = self.worth_keeping()
        self.release()
        if keep:
            return
        if self.created_here:
            shutil.rmtree(self.folder, ignore_errors=True)
        else:  # the user's own --out folder: take back only what this command wrote
            (self.folder / "run_args.json").unlink(missing_ok=True)


def _lock_folder(folder):
    """An exclusive lock on ``folder/.lock`` held for the process's life (``KitError`` when
    another process holds it). POSIX ``flock``: released by the kernel if the process dies."""
    import fcntl

    path = folder / LOCK_FILE
    try:
        handle = open(path, "a+")
    except OSError as error:
        raise KitError(f"{folder}: cannot write into the run folder ({error.strerror or error})") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise KitError(f"{folder}: another command is writing to this run folder ({holder}); wait for it "
                       "to finish or choose another --out") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}, started {datetime.datetime.now().isoformat(timespec='seconds')}\n")
    handle.flush()
    return handle


def settings_digest(config):
    """A short digest of the resolved settings (part of a run's identity)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_identity(paper, args, config):
    return {"paper": paper, "data": args.data, "data_root": args.data_root, "profile": args.profile,
            "seed": args.seed, "mixed_precision": getattr(args, "mixed_precision", None) or "none",
            "settings_digest": settings_digest(config)}


def _recorded_identity(record):
    return {key: record.get(key) for key in RUN_KEYS}


def _read_record(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise KitError(f"{path}: not a readable run record ({error}); delete it or choose another --out") from None


def _find_unfinished(base, identity):
    """The newest folder under ``base`` whose recorded run matches and that is not COMPLETE."""
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
        if _recorded_identity(recorded) == identity:
            return folder
    return None


def _check_out(out_dir):
    """``--out`` must be a folder (or not exist yet) somewhere this user can write."""
    if out_dir.exists() and not out_dir.is_dir():
        raise KitError(f"--out {out_dir}: exists and is not a folder")
    parent = out_dir
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise KitError(f"--out {out_dir}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise KitError(f"--out {out_dir}: {parent} is not writable")


def prepare_run(args, paper, config=None):
    """Choose (or find again) the output folder of a run and set up the backend; nothing is
    written until the run writes its first file (``Run.out_dir``)."""
    from common import distribute
    from common.inference import max_inference_pixels
    from common.provenance import environment

    max_inference_pixels()  # a bad KIT_MAX_INFER_PIXELS fails now, not after training
    config = {} if config is None else config
    identity = run_identity(paper, args, config)
    if args.out:
        out_dir = Path(args.out)
        _check_out(out_dir)
        record_path = out_dir / "run_args.json"
        if record_path.is_file():
            recorded = _recorded_identity(_read_record(record_path))
            if recorded != identity:
                differ = sorted(k for k in RUN_KEYS if recorded.get(k) != identity.get(k))
                raise KitError(f"{record_path}: this folder holds a run with other arguments or settings "
                               f"({', '.join(differ)} differ); choose another --out")
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
    policy = set_precision(identity["mixed_precision"])
    enable_compilation_cache()
    setup = distribute.configure(getattr(args, "distribute", "none"))
    record = {**identity, "command": args.command, "argv": sys.argv[1:], "settings": config,
              "environment": environment()}
    run = Run(paper=paper, args=args, folder=out_dir, record=record)
    run.stage(f"{'resuming' if resumed else 'starting'} {args.command} ({args.profile} profile) in {out_dir}")
    if policy != "float32":
        run.stage(f"mixed precision: Keras policy {policy} (bfloat16 compute; float32 variables, "
                  "losses and outputs)")
    if setup.replicas > 1 or not setup.is_chief:
        run.stage(f"distributed training: {setup.description}"
                  + ("" if setup.is_chief else f"; this is worker {setup.worker}"))
    return run


# ============================================================================ datasets
def synthetic_options(data):
    """``SyntheticDataset`` options from a profile's ``data`` section that names them
    ``synthetic_scenes``, ``synthetic_size`` and ``synthetic_test_scenes`` (None: the
    dataset's default share of test scenes)."""
    return {"n_scenes": data["synthetic_scenes"], "size": data["synthetic_size"],
            "n_test": data["synthetic_test_scenes"]}


def choose_dataset(args, supported, synthetic_kwargs=None, fallback=("cave",)):
    """The dataset a run uses and a sentence saying why.

    ``supported``: the real datasets the paper was evaluated on, in order of preference
    (names as in ``data_prep.readers``). ``--data`` names one explicitly (any of
    ``supported`` or ``fallback``); ``--data-root`` picks the first supported one found
    there, then the first ``fallback`` one (the complete CAVE set, which every paper can
    run on with the renderer it needs); otherwise the embedded synthetic set.
    """
    from data_prep import readers

    accepted = tuple(supported) + tuple(n for n in fallback if n not in supported)
    if args.data and args.data != "synthetic":
        name, root = readers.parse_data_spec(args.data)
        if name not in accepted:
            raise KitError(
                f"--data {args.data}: this paper uses {', '.join(accepted)} (or synthetic), not {name}"
            )
        dataset = readers.open_dataset(name, root)
        return dataset, f"{name} from {root} (given with --data)"
    if args.data_root and args.data != "synthetic":
        if not os.path.isdir(args.data_root):
            raise KitError(f"--data-root {args.data_root}: no such folder")
        for name in accepted:
            dataset = readers.find_dataset(name, args.data_root)
            if dataset is not None:
                own = "" if name in supported else f" (the paper's {', '.join(supported)} not found there)"
                return dataset, f"{name} found under {args.data_root}{own}"
        note = f"none of {', '.join(accepted)} found under {args.data_root}; using the synthetic set"
    else:
        note = "embedded synthetic set (no real dataset given)"
    from data_prep.synthetic import SyntheticDataset

    # The synthetic scenes depend on their own seed (default 0), not on --seed: runs with
    # different training seeds are then compared on the same data.
    return SyntheticDataset(**(synthetic_kwargs or {})), note


# ============================================================================ the paper command
def paper_main(name, argv=None):
    """``python -m papers.<name>``: parse, then run the command for the paper ``name``."""
    from common.paper import get_paper

    paper = get_paper(name)
    commands = COMMANDS + tuple(paper.extra_commands)
    parser = make_parser(f"python -m papers.{name}", f"{paper.title} ({name})",
                         profiles=tuple(paper.profiles), commands=commands,
                         command_help=paper.extra_commands)
    paper.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.command in paper.extra_commands and args.command not in paper.reproduce_like:
        return paper.run_command(args)
    config = paper.resolve(args)
    if args.command == "predict":
        from common.predict import predict_main

        return predict_main(paper, args, config)
    run = prepare_run(args, paper.name, config)
    try:
        return _run_paper(paper, args, config, run)
    except BaseException:
        run.discard_if_empty()
        raise


def _run_paper(paper, args, config, run):
    from common.report import write_results

    data = paper.open_data(args, config)
    run.stage(f"data: {data.description} ({data.why})")
    if args.command == "evaluate":
        networks, facts = paper.load_trained(run, config), run.read_facts()
    else:
        data.check(run.stage)
        networks, facts = paper.train(run, config, data)
        run.write_facts(facts)
        if args.command == "train":
            run.release()
            run.stage(f"trained networks in {run.out_dir}; evaluate with the same arguments")
            return 0
    measured = paper.evaluate(run, config, data, networks)
    measured = {
        "title": paper.title,
        "dataset": {"name": data.name, "description": data.description, "chosen_because": data.why,
                    "splits": {k: len(v) for k, v in data.splits.items()}},
        "train_seconds": facts.get("train_seconds"),
        "training": facts,
        "parameters": {"paper_profile": parameter_counts(paper.build_networks(paper.config("paper"))),
                       "trained": parameter_counts(networks)},
        "settings": config,
        "environment": run.record.get("environment"),
        **measured,
        "notes": paper.notes(args, config, data, facts) + list(measured.get("notes", [])),
    }
    write_results(run, paper.published(data), measured, per_image=paper.per_image_values)
    run.finish()
    return 0


def parameter_counts(networks):
    """{network: {'trainable', 'non_trainable'}} of Keras models (the paper's own first)."""
    from common.training import count_params

    counts = {}
    for name, model in networks.items():
        trainable, non_trainable = count_params(model)
        counts[name] = {"trainable": trainable, "non_trainable": non_trainable}
    return counts
