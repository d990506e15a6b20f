"""Run every paper's ``reproduce`` and put all published tables next to this run's numbers.

    python -m common.run_all [--papers a,b] [--profile quick|paper] [--data-root DIR]
                             [--out DIR] [--seed N] [--epochs N] [--mixed-precision none|bf16]

(``bash run_all.sh`` sets up the environment and calls this.) The papers are those of
the registry (``common.paper``: every folder under ``papers/`` with a ``paper.py``).
Each paper runs in its own process, so one paper failing (or crashing the interpreter)
does not stop the others; its error line goes into the report and the command exits
non-zero at the end. With ``--data-root``, each paper uses its own dataset where found
there, else the complete CAVE set where found there, else the synthetic scenes; the
report labels every number with the data it came from.

Output: ``<out>/REPORT.md`` and ``<out>/report.json`` (default out:
``results/run_all/<timestamp>/``, with ``results/run_all/latest`` pointing at it), and
each paper's own folder ``<out>/<paper>/`` with its ``metrics.json``, ``comparison.md``,
figures, logs and trained models.
"""

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from common.cli import PRECISION_POLICIES, REPO_ROOT, positive_int, seed_int
from common.io import KitError, atomic_write_json, atomic_write_text
from common.paper import paper_names


def parse_args(argv):
    papers = paper_names()
    parser = argparse.ArgumentParser(prog="bash run_all.sh", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--papers", default=",".join(papers), help="comma-separated subset of " + ",".join(papers))
    parser.add_argument("--profile", choices=("quick", "paper"), default="quick")
    parser.add_argument("--data-root", default=None, help="folder holding real datasets (see README)")
    parser.add_argument("--out", default=None, help="output folder (default results/run_all/<timestamp>)")
    parser.add_argument("--seed", type=seed_int, default=0)
    parser.add_argument("--epochs", type=positive_int, default=None, help="override every paper's epochs")
    parser.add_argument("--mixed-precision", choices=list(PRECISION_POLICIES), default="none",
                        help="passed to every paper: 'bf16' computes in bfloat16 (float32 variables, "
                        "losses and outputs); slower on CPUs without bfloat16 units")
    args = parser.parse_args(argv)
    papers = [p.strip() for p in args.papers.split(",") if p.strip()]
    known = paper_names()
    unknown = [p for p in papers if p not in known]
    if unknown or not papers:
        parser.error(f"--papers: unknown paper(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}")
    if args.data_root and not os.path.isdir(args.data_root):
        parser.error(f"--data-root {args.data_root}: no such folder")
    args.papers = papers
    return args


def _log(started, message):
    print(f"[run_all {time.monotonic() - started:7.1f}s] {message}", flush=True)


def run_paper(paper, args, out_dir, started):
    """Run one paper's reproduce in a subprocess, streaming its output; return its record."""
    command = [sys.executable, "-m", f"papers.{paper}", "reproduce", "--profile", args.profile,
               "--out", str(out_dir / paper), "--seed", str(args.seed)]
    if args.data_root:
        command += ["--data-root", args.data_root]
    if args.epochs:
        command += ["--epochs", str(args.epochs)]
    if getattr(args, "mixed_precision", "none") != "none":
        command += ["--mixed-precision", args.mixed_precision]
    _log(started, f"{paper}: start ({' '.join(command[1:])})")
    begin = time.monotonic()
    tail = []
    with subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as process:
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.strip():
                tail = (tail + [line.rstrip()])[-20:]
        code = process.wait()
    seconds = time.monotonic() - begin
    record = {"paper": paper, "returncode": code, "seconds": seconds, "out": str(out_dir / paper)}
    metrics_path = out_dir / paper / "metrics.json"
    if code == 0 and metrics_path.is_file():
        record["metrics"] = json.loads(metrics_path.read_text())
        _log(started, f"{paper}: done in {seconds:.0f}s")
    else:
        errors = [line for line in tail if line.startswith("error:") or "Error" in line]
        record["error"] = (errors or tail or ["no output"])[-1]
        _log(started, f"{paper}: FAILED (exit {code}) after {seconds:.0f}s: {record['error']}")
    return record


def _fmt(value, digits=4):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 100 else f"{value:.{digits}f}"
    return str(value)


def _count(value):
    """A parameter count as one number. Papers record either a number, a
    {"trainable", "non_trainable"[, "total"]} split (summed: every stored value), or one
    entry per network, the paper's own network first (that one is shown)."""
    if value is None or isinstance(value, (int, float)):
        return value
    if "total" in value:
        return value["total"]
    if "trainable" in value:
        return value["trainable"] + value.get("non_trainable", 0)
    return _count(next(iter(value.values()), None))


def _seconds(value):
    """Training time: a number, or one entry per network (summed)."""
    if isinstance(value, dict):
        value = sum(v for v in value.values() if isinstance(v, (int, float)))
    return "–" if value is None else f"{value:.0f} s"


def _beats(head):
    """The verdicts against the strongest cheap baseline: 'yes'/'**no**'/'not
    distinguishable' with the mean gain and its 95% interval, per metric."""
    from common.report import verdict_text

    strongest = head.get("strongest_baseline")
    if not strongest:
        return "–"
    parts = []
    for metric, entry in strongest["verdicts"].items():
        text = verdict_text(entry)
        if entry.get("verdict") == "no":
            text = "**no**" + text[2:]
        parts.append(f"{metric}: {text}")
    return f"vs {strongest['method']} ({_fmt(strongest['measured'])}): " + "; ".join(parts)


def _dataset_label(metrics):
    """The dataset(s) a paper run used, from its metrics.json ("name", or "names" for a
    paper that trains on several, e.g. drcnn_sam on CAVE and Harvard)."""
    dataset = metrics.get("dataset", {})
    return dataset.get("name") or ", ".join(dataset.get("names", [])) or "?"


def summary_table(records):
    header = ("| paper | task | data (this run) | headline metric | paper | this run | "
              "gain over the paper's baseline: paper / this run | beats the strongest cheap baseline "
              "(paired over test images) | train time | parameters |")
    lines = [header, "|---" * 10 + "|"]
    for record in records:
        metrics = record.get("metrics")
        if metrics is None:
            lines.append(f"| {record['paper']} | – | – | – | – | **failed**: `{record['error']}` | – | – | – | – |")
            continue
        head = metrics["headline"]
        base = head["baseline"]
        params = metrics.get("parameters", {})
        trained, paper = _count(params.get("trained")), _count(params.get("paper_profile"))
        param_text = f"{trained:,}" if trained is not None else "–"
        if paper is not None and paper != trained:
            param_text += f" (paper: {paper:,})"
        gain = (f"{_fmt(base['published_gap_percent'], 1)} % / {_fmt(base['measured_gap_percent'], 1)} % "
                f"vs {base['method']}")
        marker = "" if head.get("comparable") else " ‡" if head.get("same_data") else " †"
        lines.append(
            f"| {record['paper']} | {metrics.get('task', '')} | {_dataset_label(metrics)} | "
            f"{head['metric']} ({head.get('scale')}) | {_fmt(head['published'])} ({head['published_dataset']}) | "
            f"{_fmt(head['measured'])}{marker} | {gain} | {_beats(head)} | "
            f"{_seconds(metrics.get('train_seconds'))} | {param_text} |"
        )
    lines.append("")
    lines.append("† not comparable: different data (the paper's dataset was not used). "
                 "Compare the gain over the baseline, not the values.")
    if any((r.get("metrics") or {}).get("headline", {}).get("same_data") for r in records):
        lines.append("‡ the paper's data, but a short training (not the paper profile): not a reproduction "
                     "of the paper's value; compare the gain over the baseline.")
    return "\n".join(lines)


def _provenance_line(records):
    """The code's commit and the library versions, as the first paper run recorded them."""
    from common.provenance import environment, short_text

    env = next((r["metrics"].get("environment") for r in records if r.get("metrics")), None) or environment()
    return f"Code and libraries: {short_text(env)}."


def _relink_figures(markdown, paper):
    """Figure links in a paper's comparison.md are relative to its folder; make them relative to REPORT.md."""
    return re.sub(r"!\[([^\]]*)\]\((?!/|https?:)([^)]+)\)", rf"![\1]({paper}/\2)", markdown)


def build_report(records, args, total_seconds):
    lines = [
        "# Reproduction report",
        "",
        f"Generated {datetime.datetime.now().isoformat(timespec='seconds')} by `bash run_all.sh` "
        f"(profile `{args.profile}`, seed {args.seed}"
        + (f", mixed precision `{args.mixed_precision}`" if getattr(args, "mixed_precision", "none") != "none" else "")
        + (f", data root `{args.data_root}`" if args.data_root else ", embedded synthetic data")
        + f"). Total time {total_seconds:.0f} s.",
        "",
        "A quick profile trains shortened, often narrowed networks on the kit's synthetic scenes: its "
        "numbers check that each pipeline works and that each method beats its simple baseline; they "
        "are not the paper's numbers. Each paper's section lists what its quick profile shrinks.",
        "",
        _provenance_line(records),
        "",
        "## Summary",
        "",
        summary_table(records),
        "",
    ]
    for record in records:
        if record.get("metrics") is None:
            lines.append(f"## {record['paper']}")
            lines.append("")
            lines.append(f"**Failed** (exit code {record['returncode']}): `{record['error']}`")
            lines.append("")
            continue
        comparison = Path(record["out"]) / "comparison.md"
        text = comparison.read_text() if comparison.is_file() else "(no comparison.md)"
        # The paper's "# title" becomes this report's "## title", its sections "###".
        text = re.sub(r"^#", "##", text, flags=re.MULTILINE)
        lines.append(_relink_figures(text, record["paper"]))
        lines.append("")
    return "\n".join(lines)


def _point_latest(out_dir):
    latest = out_dir.parent / "latest"
    if out_dir.parent != REPO_ROOT / "results" / "run_all":
        return
    tmp = out_dir.parent / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(out_dir.name)
    os.replace(tmp, latest)


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.out) if args.out else REPO_ROOT / "results" / "run_all" / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    _log(started, f"{len(args.papers)} paper(s), profile {args.profile}, output {out_dir}")
    records = [run_paper(paper, args, out_dir, started) for paper in args.papers]
    total = time.monotonic() - started
    report = build_report(records, args, total)
    atomic_write_text(out_dir / "REPORT.md", report)
    atomic_write_json(out_dir / "report.json", {"profile": args.profile, "seed": args.seed,
                                                 "mixed_precision": getattr(args, "mixed_precision", "none"),
                                                 "data_root": args.data_root, "total_seconds": total,
                                                 "papers": records})
    _point_latest(out_dir)
    failed = [r["paper"] for r in records if r.get("metrics") is None]
    _log(started, f"report: {out_dir / 'REPORT.md'}")
    _log(started, f"total {total:.0f} s ({total / 60:.1f} min); "
                  + (f"FAILED: {', '.join(failed)}" if failed else "all papers succeeded"))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KitError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
