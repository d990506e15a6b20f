"""How much each term of eq. (3) moves the weights at the bicubic start, for each reading
of eq. (1)'s reduction: ``python -m papers.drcnn_sam.loss_balance [--profile quick]
[--seeds 0 1 2] [--patches 64] [--architecture quick|paper]``.

The untrained cascade returns about its bicubic input (the residual convolutions start
near zero, ``model.py``), so its gradients are those of the first SGD steps. For one
probe batch of training patches (the profile's data: the synthetic scenes by default,
``--data cave=ROOT`` for CAVE) it measures the global norm of the gradient of
``alpha * l1`` with l1 the per-element mean (weight 1) and of ``(1 - alpha) * l2``
(the angle), over both outputs as the training loss sums them. The gradient of the
squared-error term scales linearly with the weight a reduction puts on the per-element
mean, so one measurement gives every reading:

- ``patch``: summed over a whole 32x32x31 patch (eq. 1 with the patch as the image), 31,744;
- ``0-255, mean``: the per-element mean on data scaled to 0-255 (255^2 = 65,025);
- ``spectrum``: ``1/2 ||y_j - y_hat_j||^2`` per spectral vector, averaged over the spectra
  like eq. (2) (the paper profile), 31;
- ``element``: the per-element mean on [0, 1] data, 1.

Printed: each reading's spectral share ``|g_l2| / (|g_l1| + |g_l2|)`` and the loss
values, as the README's "Loss" table.
"""

import argparse

import numpy as np

from common.paper import get_paper


def candidate_weights(patch_size, bands):
    return {
        "patch": patch_size * patch_size * bands,
        "0-255, mean": 255 ** 2,
        "spectrum": bands,
        "element": 1,
    }


def measure(config, patches, seed):
    """term_gradients of the untrained cascade (seed) with the per-element reduction."""
    import keras

    from papers.drcnn_sam.config import architecture
    from papers.drcnn_sam.model import build_drcnn
    from papers.drcnn_sam.train import term_gradients

    keras.utils.set_random_seed(seed)
    model = build_drcnn(architecture(config))
    element = {**config, "train": {**config["train"], "l1_reduction": "element"}}
    return term_gradients(model, patches["up"], patches["hr"], element)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--architecture", default=None, help="the cascade of another profile (e.g. paper)")
    parser.add_argument("--data", default=None)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--patches", type=int, default=64)
    args = parser.parse_args(argv)
    paper = get_paper("drcnn_sam")
    config = paper.config(args.profile)
    if args.architecture:
        config["model"] = paper.config(args.architecture)["model"]
    args.seed, args.epochs = 0, None

    from papers.drcnn_sam import data as D
    from papers.drcnn_sam.experiment import make_patches

    sources, why = D.open_sources(args, config)
    scale = config["model"]["scales"][0]
    train, _ = make_patches(sources, scale, config, seed=0)
    probe = {k: v[: args.patches] for k, v in train.items()}
    bands = config["model"]["bands"]
    weights = candidate_weights(config["data"]["patch_size"], bands)
    alpha = config["train"]["alpha"]
    print(f"data: {why}; x{scale}; {len(probe['hr'])} patches of {config['data']['patch_size']}^2 x {bands}; "
          f"cascade of the {args.architecture or args.profile} profile; alpha {alpha}; seeds {args.seeds}")
    runs = [measure(config, probe, seed) for seed in args.seeds]
    g1 = np.array([r["l1_grad_norm"] for r in runs])
    g2 = np.array([r["sam_grad_norm"] for r in runs])
    v1 = np.array([r["l1_term"] for r in runs])
    v2 = np.array([r["sam_term"] for r in runs])
    cos = np.array([r["grad_cosine"] for r in runs])
    print(f"per-element alpha*l1 {v1.mean():.4g}, (1-alpha)*l2 {v2.mean():.4g} "
          f"(angle {np.degrees(v2.mean() / (1 - alpha) / 2):.2f} deg per output); "
          f"gradient norms {g1.mean():.4g} / {g2.mean():.4g}; cosine between them {cos.mean():.3f}")
    print("| reduction of eq. (1) | weight on the mean | alpha*l1 / (1-alpha)*l2 | "
          "gradient norm ratio l2 : l1 | spectral share of the gradient (min-max over seeds) |")
    print("|---|---|---|---|---|")
    for name, weight in weights.items():
        share = g2 / (weight * g1 + g2)
        ratio = g2 / (weight * g1)
        print(f"| {name} | {weight:,} | {np.mean(weight * v1 / v2):.3g} | 1 : {np.mean(1 / ratio):.3g} | "
              f"{100 * share.mean():.2f} % ({100 * share.min():.2f}-{100 * share.max():.2f}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
