"""Whole-image inference in one pass against overlap-tiled inference: time, memory, and
how far the tiled output is from the one-pass output.

``common.inference.predict_full`` runs an image in one pass up to ``KIT_MAX_INFER_PIXELS``
and in overlapping tiles above it. This script runs the same image both ways on one
network, so the cost of tiling (time), its point (memory that stops growing with the
image) and its price (the change near the seams, zero for a network whose receptive
field fits inside the tile margin) are measured rather than assumed.

    python -m common.bench_tiling --model unet_ms --image 1024x1024 --tile-pixels 262144
    python -m common.bench_tiling --model unet_ms --weights results/unet_ms/<run>/unet_ms.keras

Without ``--weights`` the network is the profile's architecture with random weights:
time and memory are those of a trained network, the seam differences are not (a random
U-Net reaches far across the image; the trained quick-profile unet_ms hardly at all).
The image is a synthetic scene of the kit's dataset. Each way runs in a process of its
own (its peak resident memory is the process's). Output: one line per way and a JSON
summary (``--out`` writes it).
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from common.bench import REPO_ROOT, _image_size, _mb, _positive, child_env
from common.io import atomic_write_json

def whole_image_papers():
    """The papers whose evaluation runs whole images through one network
    (``Paper.whole_image_network`` is not None): the ones this benchmark applies to."""
    from common.paper import all_papers

    return [paper.name for paper in all_papers() if paper.whole_image_network is not None]


def build(name, profile, weights):
    """The network and the side multiple its whole-image inference pads to."""
    from common.paper import get_paper

    paper = get_paper(name)
    config = paper.config(profile)
    if weights:
        networks = paper.networks_from_file(weights, config)
    else:
        networks = paper.build_networks(config)
    return paper.whole_image_network(networks[paper.main_network])


def scene_input(name, size, seed):
    """An RGB -> spectra paper: the scene's clean-track RGB rendition; super-resolution:
    the 31-band cube (the network's input is an interpolated cube, image-like either way)."""
    from common.paper import get_paper
    from data_prep.render import render_ntire2020_clean
    from data_prep.synthetic import generate_scene

    side = max(size)
    cube = generate_scene(seed, size=side).radiance[: size[0], : size[1]]
    return render_ntire2020_clean(cube, quantize=True) if get_paper(name).task == "rgb2hs" else cube


def run_one_way(args):
    """The child process of one way: time the passes, save the output, print JSON.
    Memory is the growth of the resident set during the passes (``PeakMemory``, sampled
    every 5 ms), in a process of its own so that the other way's allocations do not
    count."""
    import keras

    from common.bench import PeakMemory
    from common.inference import predict_full

    keras.utils.set_random_seed(args.seed)  # the same random weights in both processes
    model, multiple = build(args.model, args.profile, args.weights)
    x = scene_input(args.model, args.image, args.seed)
    limit = math.inf if args.way == "one-pass" else args.tile_pixels
    times = []
    with PeakMemory() as memory:
        out = predict_full(model, x, multiple, max_pixels=limit)  # warm-up (traces)
        for _ in range(args.repeats):
            start = time.perf_counter()
            out = predict_full(model, x, multiple, max_pixels=limit)
            times.append(time.perf_counter() - start)
    np.save(args.save, out)
    print(json.dumps({"seconds": float(np.median(times)), "peak_rss_growth_mb": _mb(memory.delta),
                      "backend": keras.backend.backend()}))


def child(argv, way, save):
    done = subprocess.run([sys.executable, "-m", "common.bench_tiling", *argv, "--way", way, "--save", save],
                          env=child_env(), cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: the {way} run failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m common.bench_tiling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=whole_image_papers(), default="unet_ms")
    parser.add_argument("--profile", default="quick", help="the paper profile whose architecture is built")
    parser.add_argument("--weights", default=None, help="a trained .keras model (a run folder's)")
    parser.add_argument("--image", type=_image_size, default=(1024, 1024), help="HxW (default 1024x1024)")
    parser.add_argument("--tile-pixels", type=_positive, default=512 * 512,
                        help="the pixel limit for the tiled way (default 512x512)")
    parser.add_argument("--repeats", type=_positive, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the JSON summary here")
    parser.add_argument("--way", choices=("one-pass", "tiled"), help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.way:
        run_one_way(args)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        ways = {way: child(argv, way, os.path.join(tmp, f"{way}.npy")) for way in ("one-pass", "tiled")}
        whole, tiled = (np.load(os.path.join(tmp, f"{way}.npy")) for way in ("one-pass", "tiled"))
    diff = tiled - whole
    summary = {
        "model": args.model, "weights": args.weights or f"random ({args.profile} profile)",
        "backend": ways["one-pass"]["backend"], "image": list(args.image), "tile_pixels": args.tile_pixels,
        **ways, "max_abs_difference": float(np.abs(diff).max()),
        "rms_difference": float(np.sqrt(np.mean(diff**2))), "rms_output": float(np.sqrt(np.mean(whole**2))),
        "load_average": os.getloadavg(),
    }
    for way, result in ways.items():
        print(f"{way}: {result['seconds']:.2f} s a pass, resident memory +{result['peak_rss_growth_mb']} MB")
    print(f"tiled - one pass: max |d| {summary['max_abs_difference']:.3g}, RMS {summary['rms_difference']:.3g} "
          f"(RMS of the output {summary['rms_output']:.3g})")
    if args.out:
        atomic_write_json(args.out, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
