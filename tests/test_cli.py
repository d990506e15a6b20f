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
    (tmp_path / "harvard").mkdir()
    with pytest.raises(KitError, match="this paper uses icvl, cave"):
        cli.choose_dataset(_args(data=f"harvard={tmp_path / 'harvard'}"), ("icvl",))


def test_seed_must_fit_numpy_and_keras(capsys):
    parser = cli.make_parser("toy", "toy paper")
    assert parser.parse_args(["train", "--seed", str(2**32 - 1)]).seed == 2**32 - 1
    for bad in ("-1", str(2**32), "x"):
        with pytest.raises(SystemExit) as stop:
            parser.parse_args(["train", "--seed", bad])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: toy: argument --seed"), err


def test_quick_is_every_commands_default_profile():
    assert cli.make_parser("toy", "toy paper").parse_args(["reproduce"]).profile == "quick"


def test_out_must_be_a_writable_folder(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(KitError, match="exists and is not a folder"):
        cli.prepare_run(_args(out=str(a_file)), "toy")
    with pytest.raises(KitError, match="is a file, not a folder"):
        cli.prepare_run(_args(out=str(a_file / "run")), "toy")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "run_args.json").write_text("{not json")
    with pytest.raises(KitError, match="not a readable run record"):
        cli.prepare_run(_args(out=str(corrupt)), "toy")


def test_the_run_record_holds_settings_commit_and_versions(tmp_path):
    settings = {"model": {"width": 3}, "train": {"epochs": 2}}
    run = cli.prepare_run(_args(out=str(tmp_path / "run")), "toy", settings)
    run.path("x").write_text("")
    record = json.loads((tmp_path / "run" / "run_args.json").read_text())
    assert record["settings"] == settings
    env = record["environment"]
    assert len(env["commit"]) == 40 and isinstance(env["dirty"], bool)  # the kit is a git checkout
    assert {"python", "numpy", "keras"} <= set(env["versions"]) and env["backend"]
    run.release()
    # Other settings are another run: not resumed into this folder.
    with pytest.raises(KitError, match="settings_digest differ"):
        cli.prepare_run(_args(out=str(tmp_path / "run")), "toy", {**settings, "train": {"epochs": 3}})


def test_a_second_command_on_the_same_folder_is_refused_while_the_first_runs(tmp_path):
    first = cli.prepare_run(_args(out=str(tmp_path / "run")), "toy")
    first.path("x").write_text("")
    second = cli.prepare_run(_args(out=str(tmp_path / "run")), "toy")
    with pytest.raises(KitError, match=r"another command is writing to this run folder \(pid \d+"):
        second.path("y")
    first.release()
    second.path("y").write_text("")  # free again


def test_a_failed_command_leaves_no_run_folder(tmp_path):
    run = cli.prepare_run(_args(out=str(tmp_path / "run")), "toy")
    run.path("model_log.csv").write_text("")  # something was written, nothing worth resuming
    run.discard_if_empty()
    assert not (tmp_path / "run").exists()
    kept = cli.prepare_run(_args(out=str(tmp_path / "kept")), "toy")
    (kept.path("net_resume") / "epoch-000001").mkdir(parents=True)
    kept.discard_if_empty()
    assert (tmp_path / "kept" / "run_args.json").is_file()  # a checkpoint to resume from


def test_missing_data_root_is_refused(tmp_path):
    with pytest.raises(KitError, match="no such folder"):
        cli.choose_dataset(_args(data_root=str(tmp_path / "nope")), ("icvl",))
