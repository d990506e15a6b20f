"""Hostile command lines and environments for every paper: one error line, exit code 2,
nothing written.

A table of rows, each (arguments, environment, what the one ``error:`` line must say, a
setup that builds the hostile situation), run through each paper's real entry point in
this process (``runpy`` executes ``papers/<name>/__main__.py`` as ``python -m`` does).
After each: exit code 2, exactly one line on stderr starting with ``error:``, and no file
or folder created or changed under the test's folder (the ``--out`` folder included). A
new option or environment variable is covered by adding a row to ``ROWS``.
"""

import json
import re
import runpy
import sys
from dataclasses import dataclass, field

import pytest

from common.paper import paper_names


@dataclass
class Row:
    argv: list
    problem: str  # regex the error line must match
    env: dict = field(default_factory=dict)
    setup: object = None  # setup(tmp_path) -> None, builds files the row needs


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


ROWS = {
    "seed_negative": Row(["train", "--seed", "-1"], r"--seed: a seed is an integer from 0 to 4294967295, got -1"),
    "seed_too_large": Row(["train", "--seed", "4294967296"], r"--seed: a seed is an integer from 0 to 4294967295"),
    "seed_not_a_number": Row(["train", "--seed", "abc"], r"--seed: expected an integer seed, got 'abc'"),
    "out_is_a_file": Row(["train", "--out", "{tmp}/a_file"], r"--out .*a_file: exists and is not a folder",
                         setup=lambda tmp: _write(tmp / "a_file", "x")),
    "out_under_a_file": Row(["train", "--out", "{tmp}/a_file/run"], r"a_file is a file, not a folder",
                            setup=lambda tmp: _write(tmp / "a_file", "x")),
    "out_with_corrupt_record": Row(["train", "--out", "{tmp}/old"], r"old/run_args.json: not a readable run record",
                                   setup=lambda tmp: _write(tmp / "old" / "run_args.json", "{half")),
    "out_holds_another_run": Row(
        ["train", "--out", "{tmp}/old"], r"holds a run with other arguments or settings",
        setup=lambda tmp: _write(tmp / "old" / "run_args.json", json.dumps({"paper": "x", "seed": 9}))),
    "max_infer_pixels_not_a_number": Row(["train", "--out", "{tmp}/out"],
                                         r"KIT_MAX_INFER_PIXELS='lots': expected a positive number of pixels",
                                         env={"KIT_MAX_INFER_PIXELS": "lots"}),
    "max_infer_pixels_negative": Row(["train", "--out", "{tmp}/out"], r"KIT_MAX_INFER_PIXELS='-5'",
                                     env={"KIT_MAX_INFER_PIXELS": "-5"}),
    "predict_without_a_model": Row(["predict", "--rgb", "{tmp}/x.png"], r"predict: give either --run"),
    "predict_run_is_not_a_run": Row(["predict", "--run", "{tmp}", "--rgb", "{tmp}/x.png"],
                                    r"not a run folder of the kit \(no run_args.json\)"),
    "predict_weights_missing": Row(["predict", "--weights", "{tmp}/missing.keras", "--rgb", "{tmp}/x.png"],
                                   r"missing.keras: no such model file"),
}


def run_entry_point(paper, argv, monkeypatch):
    """``python -m papers.<paper> *argv`` in this process -> the SystemExit code."""
    monkeypatch.setattr(sys, "argv", [f"python -m papers.{paper}", *argv])
    with pytest.raises(SystemExit) as stop:
        runpy.run_module(f"papers.{paper}", run_name="__main__")
    return stop.value.code


def _tree(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1) for p in root.rglob("*"))


@pytest.mark.parametrize("row", sorted(ROWS))
@pytest.mark.parametrize("paper", paper_names())
def test_hostile_command_fails_in_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, paper, row):
    case = ROWS[row]
    if case.setup:
        case.setup(tmp_path)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    before = _tree(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in case.argv]
    code = run_entry_point(paper, argv, monkeypatch)
    stderr = capsys.readouterr().err
    lines = stderr.splitlines()
    assert code == 2, stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert re.search(case.problem, lines[0]), lines[0]
    assert _tree(tmp_path) == before


def test_evaluate_without_train_leaves_no_run_folder(tmp_path, monkeypatch, capsys):
    """The data opens, the trained network is missing: the run folder the command made is
    removed again, so the next identical command does not 'resume' into it."""
    out = tmp_path / "run"
    code = run_entry_point("ms_ssfnet", ["evaluate", "--profile", "smoke", "--out", str(out)], monkeypatch)
    lines = capsys.readouterr().err.splitlines()
    assert code == 2 and len(lines) == 1 and "no trained" in lines[0], lines
    assert not out.exists()


def test_the_rows_cover_every_environment_variable_the_kit_reads():
    """KIT_MAX_INFER_PIXELS is checked here; KIT_CPU_DEVICES and TF_CONFIG (read only with
    --distribute mirrored) in tests/test_distribute.py; KIT_JAX_CACHE falls back to no
    cache by design (tests/test_jit_compile_jax.py)."""
    import pathlib

    read = set()
    for path in (pathlib.Path(__file__).resolve().parents[1]).glob("common/*.py"):
        text = path.read_text()
        read |= set(re.findall(r'"(KIT_[A-Z_]+)"', text))
    covered = {key for case in ROWS.values() for key in case.env}
    assert read - covered <= {"KIT_CPU_DEVICES", "KIT_JAX_CACHE"}, read - covered



def test_a_broken_test_image_stops_the_run_before_training(tmp_path, monkeypatch, capsys):
    from tests.test_unet_ms_cli import _write_fake_ntire2018

    root = tmp_path / "ntire2018"
    names = ["BGU_HS_00001", "BGU_HS_00002", "BGU_HS_00257", "BGU_HS_00259", "BGU_HS_00261",
             "BGU_HS_00263", "BGU_HS_00265"]
    _write_fake_ntire2018(root, names)
    broken = next(root.rglob("BGU_HS_00263.mat"))
    broken.write_bytes(broken.read_bytes()[:300])  # truncated
    out = tmp_path / "run"
    code = run_entry_point("unet_ms", ["reproduce", "--profile", "smoke", "--data", f"ntire2018={root}",
                                       "--out", str(out)], monkeypatch)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2 and len(lines) == 1 and "BGU_HS_00263.mat" in lines[0], captured.err
    assert "checking the 5 validation and test image(s)" in captured.out
    assert "training unet_ms" not in captured.out  # stopped before any training
    assert not out.exists()


@pytest.mark.parametrize("paper", paper_names())
def test_cave_root_with_two_scenes_names_the_missing_test_scenes(tmp_path, monkeypatch, capsys, paper, shared_dir):
    """Every paper takes --data cave=ROOT; a root holding only two scenes of the download
    (the sample) lacks the test scenes, and the command says which, before any training."""
    sample = shared_dir / "data" / "cave_sample"
    if not (sample / "balloons_ms").is_dir():
        pytest.skip(f"{sample} (two scenes of the CAVE download) is absent")
    out = tmp_path / "run"
    code = run_entry_point(paper, ["reproduce", "--profile", "smoke", "--data", f"cave={sample}",
                                   "--out", str(out)], monkeypatch)
    lines = capsys.readouterr().err.splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert re.search(r"test (images|list).*chart_and_stuffed_toy.*oil_painting", lines[0]), lines[0]
    assert not out.exists()
