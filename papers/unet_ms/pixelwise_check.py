"""Is there more than a linear map to learn on this data? A check behind unet_ms's verdict:
``python -m papers.unet_ms.pixelwise_check [--profile quick] [--data synthetic|<dataset>=<root>]
[--scenes N] [--size S] [--test-scenes T] [--seed 0] [--epochs 12] [--out DIR]``.

The report asks whether the U-Net beats the strongest cheap baseline, the least-squares
RGB -> 31 map. Where it does not, two explanations differ in what a researcher should do:
the short run did not train the U-Net enough, or the data hold little that a learned
RGB -> spectrum map could gain over a linear one (few scenes, few materials and lights).
This check tells them apart without the U-Net: it fits the linear map and a small
per-pixel network (3-128-128-31, ReLU, Adam with a cosine decay) on the same random
training pixels of the profile's data, scores both on every test image with Table 2's
RMSE2 (0-255 scale, truth and prediction clamped to [0, 1], as the released
``utilities.py``) and gives the report's paired verdict (``common.report.paired_verdict``)
of the per-pixel network against the linear map. ``--scenes``/``--size``/``--test-scenes``
change the synthetic set (e.g. more, smaller scenes: more materials and lights for the same
pixels). Writes ``pixelwise_check.json`` in ``--out`` (default
``results/unet_ms/pixelwise-<time>``).
"""

import argparse
import platform
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from common.paper import get_paper

HIDDEN = (128, 128)
BATCH = 2048
LEARNING_RATE = 2e-3


def open_data(config, data, seed):
    """The profile's data (``papers.unet_ms.paper``), with ``config``'s synthetic settings."""
    args = argparse.Namespace(data=data, data_root=None, seed=seed, profile=config["profile"])
    data = get_paper("unet_ms").open_data(args, config)
    return data.datasets[0], data.splits, data.description


def fit_pixelwise(rgb, hs, epochs, seed):
    """A per-pixel network (Dense layers) fitted to the pixels with Adam and MSE."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((rgb.shape[1],))]
                             + [keras.layers.Dense(width, activation="relu") for width in HIDDEN]
                             + [keras.layers.Dense(hs.shape[1])])
    steps = max(1, int(np.ceil(len(rgb) / BATCH))) * int(epochs)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps)),
                  loss="mse")
    order = np.random.default_rng(seed).permutation(len(rgb))
    model.fit(rgb[order], hs[order], batch_size=BATCH, epochs=int(epochs), verbose=0)
    return model


def check(config, data="synthetic", seed=0, epochs=12):
    """{'per_image': {method: {image: RMSE2}}, 'means', 'verdict', ...} for one profile's data."""
    from common.baselines import LinearSpectralRegression
    from common.report import paired_verdict
    from papers.unet_ms import data as D
    from papers.unet_ms.experiment import table2_metrics, training_pixels

    dataset, splits, description = open_data(config, data, seed)
    rgb, hs = training_pixels(dataset, splits["train"], config["eval"]["linreg_max_pixels"], seed)
    linear = LinearSpectralRegression(intercept=False).fit(rgb, hs)
    started = time.monotonic()
    network = fit_pixelwise(rgb.astype(np.float32), hs.astype(np.float32), epochs, seed)
    seconds = time.monotonic() - started
    rmse2 = table2_metrics(config["eval"]["metric_scale"], config["eval"].get("clamp", True))["RMSE2"]
    per_image = {"linear map": {}, "per-pixel network": {}}
    for name, test_rgb, truth, _ in D.iter_pairs(dataset, splits["test"]):
        pixels = test_rgb.reshape(-1, 3)
        per_image["linear map"][name] = float(rmse2(truth, linear.predict(pixels).reshape(truth.shape)))
        predicted = network.predict(pixels, batch_size=65536, verbose=0).reshape(truth.shape)
        per_image["per-pixel network"][name] = float(rmse2(truth, predicted))
    return {
        "data": description,
        "training_pixels": int(len(rgb)),
        "train_seconds": seconds,
        "per_image": per_image,
        "means": {method: float(np.mean(list(values.values()))) for method, values in per_image.items()},
        "verdict": paired_verdict(per_image["per-pixel network"], per_image["linear map"], lower_is_better=True),
    }


def markdown(result):
    from common.report import verdict_text

    methods = list(result["per_image"])
    lines = ["| image | " + " | ".join(f"RMSE2 (0-255), {m}" for m in methods) + " |",
             "|---|" + "---|" * len(methods)]
    for image in result["per_image"][methods[0]]:
        lines.append(f"| {image} | " + " | ".join(f"{result['per_image'][m][image]:.4f}" for m in methods) + " |")
    lines.append("| **mean** | " + " | ".join(f"**{result['means'][m]:.4f}**" for m in methods) + " |")
    lines += ["", f"Per-pixel network beats the linear map: {verdict_text(result['verdict'])}"]
    return "\n".join(lines)


def main(argv=None):
    from common.cli import positive_int, seed_int
    from common.io import atomic_write_json

    parser = argparse.ArgumentParser(prog="python -m papers.unet_ms.pixelwise_check", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--profile", default="quick", choices=("quick", "paper", "smoke"))
    parser.add_argument("--data", default="synthetic", help="'synthetic' or <dataset>=<root>")
    parser.add_argument("--scenes", type=positive_int, default=None, help="synthetic scenes (default: the profile's)")
    parser.add_argument("--size", type=positive_int, default=None, help="synthetic scene side (default: the profile's)")
    parser.add_argument("--test-scenes", type=positive_int, default=None,
                        help="synthetic test scenes (default: the profile's)")
    parser.add_argument("--seed", type=seed_int, default=0)
    parser.add_argument("--epochs", type=positive_int, default=12, help="epochs of the per-pixel network")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    config = get_paper("unet_ms").config(args.profile)
    for key, value in (("synthetic_scenes", args.scenes), ("synthetic_size", args.size),
                       ("synthetic_test_scenes", args.test_scenes)):
        if value is not None:
            config["data"][key] = value
    result = check(config, data=args.data, seed=args.seed, epochs=args.epochs)
    result.update(profile=args.profile, seed=args.seed, epochs=args.epochs, machine=platform.platform(),
                  date=datetime.now().isoformat(timespec="seconds"))
    out = Path(args.out or Path("results") / "unet_ms" / f"pixelwise-{datetime.now():%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "pixelwise_check.json", result)
    print(f"{result['data']}\n{result['training_pixels']} training pixels; per-pixel network trained in "
          f"{result['train_seconds']:.0f}s\n\n{markdown(result)}\n\nwritten: {out / 'pixelwise_check.json'}")
    return 0


if __name__ == "__main__":
    from common.cli import run_main

    run_main(main)
