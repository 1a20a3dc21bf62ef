"""Checkpoints and resume: a run killed after an epoch and resumed ends exactly where the
uninterrupted run ends, for every trainable method (their state across batches included)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from coarse2fine import Discoverer, InputError
from coarse2fine.checkpoint import FILE
from coarse2fine.cli import app
from coarse2fine.methods import METHODS

TRAINABLE = sorted(name for name, cls in METHODS.items() if cls.trains)


class Killed(BaseException):
    """Stands for SIGKILL / pre-emption: not an Exception, so nothing on the way catches it."""


def die_at_main_epoch(monkeypatch, epoch: int) -> None:
    """The process dies as main-stage epoch ``epoch`` (0-based) starts."""
    classes = {base for cls in METHODS.values() for base in cls.__mro__}
    for cls in classes:
        hook = cls.__dict__.get("on_epoch_start")
        if hook is not None:
            monkeypatch.setattr(cls, "on_epoch_start", _dying(hook, epoch))


def _dying(hook, epoch: int):
    def on_epoch_start(self, e, prepared):
        if e == epoch:
            raise Killed
        return hook(self, e, prepared)

    return on_epoch_start


def small(method: str, folder=None, **kwargs) -> Discoverer:
    params = dict(encoder="tiny-random", epochs=2, batch_size=8, n_fine=6, progress=False)
    params.update(kwargs)
    return Discoverer(method, checkpoint_dir=None if folder is None else str(folder), **params)


def weights(est) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in est.method_.state_dict().items()}


@pytest.mark.parametrize("method", TRAINABLE)
def test_killed_after_epoch_one_and_resumed_equals_uninterrupted(
    method, tiny_data, tmp_path, monkeypatch
):
    whole = small(method).fit(tiny_data)
    with monkeypatch.context() as patch:
        die_at_main_epoch(patch, 1)
        with pytest.raises(Killed):
            small(method, tmp_path / "ckpt").fit(tiny_data)
    assert (tmp_path / "ckpt" / FILE).is_file()
    resumed = small(method, tmp_path / "ckpt").fit(tiny_data)
    np.testing.assert_array_equal(resumed.labels_, whole.labels_)
    a, b = weights(whole), weights(resumed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    # the history is the whole run's, not only the epochs after the resume
    assert [h["epoch"] for h in resumed.history_] == [h["epoch"] for h in whole.history_]
    assert resumed.history_[-1]["loss"] == whole.history_[-1]["loss"]


def test_killed_inside_the_warm_up_resumes_there(tiny_data, tmp_path, monkeypatch):
    params = {"warmup_epochs": 3, "warmup_patience": 3}
    whole = small("down", method_params=params).fit(tiny_data)
    assert [h.get("stage") for h in whole.history_][:3] == ["warmup"] * 3
    calls = {"n": 0}
    original = METHODS["down"].warmup_step

    def dying(self, batch):  # dies in the second warm-up epoch (tiny data: 4 steps an epoch)
        calls["n"] += 1
        if calls["n"] == 6:
            raise Killed
        return original(self, batch)

    with monkeypatch.context() as patch:
        patch.setattr(METHODS["down"], "warmup_step", dying)
        with pytest.raises(Killed):
            small("down", tmp_path, method_params=params).fit(tiny_data)
    saved = torch.load(tmp_path / FILE, weights_only=False)
    assert (saved["stage"], saved["epoch"]) == ("warmup", 1)
    resumed = small("down", tmp_path, method_params=params).fit(tiny_data)
    np.testing.assert_array_equal(resumed.labels_, whole.labels_)
    for name, value in weights(whole).items():
        assert torch.equal(value, weights(resumed)[name]), name


def test_a_finished_runs_checkpoint_skips_training(tiny_data, tmp_path, monkeypatch):
    first = small("hwscl", tmp_path).fit(tiny_data)

    def must_not_train(self, batch):
        raise AssertionError("trained again")

    monkeypatch.setattr(METHODS["hwscl"], "training_step", must_not_train)
    again = small("hwscl", tmp_path).fit(tiny_data)
    np.testing.assert_array_equal(again.labels_, first.labels_)


def test_another_runs_checkpoint_is_refused(tiny_data, tmp_path):
    small("hwscl", tmp_path).fit(tiny_data)
    with pytest.raises(InputError, match="is of another run .* delete .*checkpoint.pt"):
        small("hwscl", tmp_path, seed=1).fit(tiny_data)
    with pytest.raises(InputError, match="another run"):
        small("hwscl", tmp_path, lr=1e-4).fit(tiny_data)


def test_a_damaged_checkpoint_is_a_clear_error(tiny_data, tmp_path):
    small("hwscl", tmp_path).fit(tiny_data)
    path = tmp_path / FILE
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(InputError, match="cannot read the checkpoint .* delete it to train"):
        small("hwscl", tmp_path).fit(tiny_data)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_resume_writes_byte_identical_assignments(tiny_csv, tmp_path, monkeypatch):
    runner = CliRunner()
    args = ["discover", str(tiny_csv), "--text-col", "utterance", "--coarse-col", "domain"]
    args += ["--n-fine", "6", "--encoder", "tiny-random", "--epochs", "2", "--batch-size", "8"]
    args += ["--quiet"]
    whole = runner.invoke(app, [*args, "--out", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        die_at_main_epoch(patch, 1)
        with pytest.raises(Killed):
            runner.invoke(app, [*args, "--out", str(out)])
    assert not out.exists()  # never a half-written result
    checkpoint = out.with_name("run.checkpoint")
    assert (checkpoint / FILE).is_file()
    # a plain rerun does not silently start over or continue: it says what to choose
    again = runner.invoke(app, [*args, "--out", str(out)])
    assert again.exit_code == 2
    assert "--resume" in again.output and "run.checkpoint" in again.output
    resumed = runner.invoke(app, [*args, "--out", str(out), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert _sha(out / "assignments.csv") == _sha(tmp_path / "whole" / "assignments.csv")
    assert not checkpoint.exists()  # removed once the result is written


def test_cli_resume_without_a_checkpoint_says_so(tiny_csv, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "discover",
            str(tiny_csv),
            "--text-col",
            "utterance",
            "--coarse-col",
            "domain",
            "--out",
            str(tmp_path / "run"),
            "--resume",
        ],
    )
    assert result.exit_code == 2
    assert "nothing to resume" in result.output


def test_the_checkpoint_folder_is_not_part_of_the_saved_model(tiny_data, tmp_path):
    est = small("hwscl", tmp_path / "ckpt").fit(tiny_data)
    est.save(tmp_path / "model")
    assert "checkpoint_dir" not in (tmp_path / "model" / "coarse2fine.json").read_text()
    assert Discoverer.load(tmp_path / "model", progress=False).checkpoint_dir is None
