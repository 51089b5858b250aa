"""Issue 16 item 4: a run whose output goes to a file prints one line per epoch with its key metrics."""

from types import SimpleNamespace

import pytest
import torch

from facevae.callbacks import EpochLine


def _trainer(epoch: int, **metrics) -> SimpleNamespace:
    return SimpleNamespace(current_epoch=epoch, max_epochs=40, global_rank=0, sanity_checking=False,
                           callback_metrics={k: torch.tensor(v) for k, v in metrics.items()})


def test_one_line_per_epoch_with_the_key_metrics(capsys):
    line = EpochLine(when="always")
    for epoch in range(3):
        line.on_train_epoch_start(None, None)
        line.on_train_epoch_end(_trainer(epoch, **{"train/loss": 0.5 - epoch / 10, "val/acc": 0.8}), None)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 3
    assert out[0].startswith("epoch 1/40  train/loss 0.5  val/acc 0.8  (")
    assert out[2].startswith("epoch 3/40  train/loss 0.3")


def test_auto_prints_only_when_stdout_is_not_a_terminal(capsys, monkeypatch):
    import sys

    line = EpochLine()  # auto
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    line.on_train_epoch_end(_trainer(0, **{"train/loss": 1.0}), None)
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    line.on_train_epoch_end(_trainer(0, **{"train/loss": 1.0}), None)
    assert capsys.readouterr().out.startswith("epoch 1/40  train/loss 1")
    # other ranks of a DDP run stay quiet
    quiet = _trainer(0, **{"train/loss": 1.0})
    quiet.global_rank = 1
    EpochLine(when="always").on_train_epoch_end(quiet, None)
    assert capsys.readouterr().out == ""


def test_a_wrong_setting_is_named():
    with pytest.raises(ValueError, match="callbacks.epoch_line.when='sometimes'"):
        EpochLine(when="sometimes")
