"""The shared command line: argument errors, run folders, resume lookup, clean failures."""

import argparse
import json

import pytest

from common import cli
from common.io import KitError


def _args(**kw):
    base = dict(command="train", data=None, data_root=None, profile="quick", epochs=None, out=None, seed=0)
    base.update(kw)
    return argparse.Namespace(**base)


def test_epochs_must_be_positive(capsys):
    parser = cli.make_parser("toy", "toy paper")
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--epochs", "0"])
    assert "expected a positive integer, got 0" in capsys.readouterr().err


def test_kit_error_is_one_line_and_exit_code_2(capsys):
    def main(argv):
        raise KitError("/data/x.mat: missing key 'rad'")

    with pytest.raises(SystemExit) as stop:
        cli.run_main(main)
    assert stop.value.code == 2
    assert capsys.readouterr().err == "error: /data/x.mat: missing key 'rad'\n"


def test_nothing_is_written_until_the_run_writes(tmp_path):
    run = cli.prepare_run(_args(out=str(tmp_path / "run")), "toy")
    assert not (tmp_path / "run").exists()  # e.g. the dataset failed to open: no folder left
    run.path("metrics.json").write_text("{}")
    recorded = json.loads((tmp_path / "run" / "run_args.json").read_text())
    assert recorded["paper"] == "toy" and recorded["seed"] == 0


def test_same_arguments_find_the_unfinished_run(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "REPO_ROOT", tmp_path)
    first = cli.prepare_run(_args(), "toy")
    first.path("model_log.csv").write_text("epoch,loss\n0,1.0\n")
    again = cli.prepare_run(_args(command="reproduce"), "toy")
    assert again.folder == first.folder
    other_seed = cli.prepare_run(_args(seed=1), "toy")
    other_seed.path("x").write_text("")
    assert other_seed.folder != first.folder
    first.finish()
    after_finish = cli.prepare_run(_args(), "toy")
    assert first.complete and after_finish.folder not in (first.folder, other_seed.folder)


def test_out_folder_of_another_run_is_refused(tmp_path):
    run = cli.prepare_run(_args(out=str(tmp_path)), "toy")
    run.path("x").write_text("")
    with pytest.raises(KitError, match="holds a run with other arguments"):
        cli.prepare_run(_args(out=str(tmp_path), seed=5), "toy")


def test_unknown_dataset_for_the_paper_is_refused(tmp_path):
    (tmp_path / "cave").mkdir()
    with pytest.raises(KitError, match="this paper uses icvl"):
        cli.choose_dataset(_args(data=f"cave={tmp_path / 'cave'}"), ("icvl",))


def test_missing_data_root_is_refused(tmp_path):
    with pytest.raises(KitError, match="no such folder"):
        cli.choose_dataset(_args(data_root=str(tmp_path / "nope")), ("icvl",))
