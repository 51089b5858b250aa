"""Issue 18: `hydra/launcher=gpus` — one job per device slot, queued, a crashed job frees its slot.

The pool is simulated (`hydra.launcher.simulate=true`, ids [0, 1]): the leases, the queueing and the
records are real; only CUDA is not touched, so this runs on the CPU machines CI has.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from facevae.config import ConfigError
from facevae.gpu_pool import DevicePool

from .conftest import ROOT


def test_slots_from_the_launcher_options():
    assert DevicePool.from_config([0, 1, 2, 3]).slots == ((0,), (1,), (2,), (3,))
    assert DevicePool.from_config([0, 1, 2, 3], devices_per_job=2).slots == ((0, 1), (2, 3))
    assert DevicePool.from_config([5], jobs_per_device=3).slots == ((5,), (5,), (5,))
    with pytest.raises(ConfigError, match="distinct"):
        DevicePool.from_config([0, 0])
    with pytest.raises(ConfigError, match="devices_per_job=3"):
        DevicePool.from_config([0, 1], devices_per_job=3)


def test_four_jobs_on_two_simulated_devices_never_share_one(tmp_path, data_dir):
    sweep = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "train.py", "-m", "hydra/launcher=gpus", "hydra.launcher.devices=[0,1]",
         "hydra.launcher.simulate=true", "debug=smoke", "trainer.max_epochs=1", "eval.judge=false",
         "eval.disentanglement=false", "data.progress=false", "callbacks.progress_bar=null",
         f"paths.data_dir={data_dir}", "seed=0,1", "model.lr=0.001,-1", f"hydra.sweep.dir={sweep}"],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    # model.lr=-1 makes two jobs crash inside training (Adam refuses it): Hydra reports the failure at the end.
    assert "Invalid learning rate" in proc.stderr, proc.stderr[-2000:]
    leases = [json.loads(line) for line in (sweep / ".gpu_pool" / "leases.jsonl").read_text().splitlines()]
    assert sorted(int(l["job_dir"].rsplit("/", 1)[1]) for l in leases) == [0, 1, 2, 3]
    for device in (0, 1):  # a device's leases never overlap in time
        spans = sorted((l["start"], l["end"]) for l in leases if l["devices"] == [device])
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    events = sorted([(l["start"], 1) for l in leases] + [(l["end"], -1) for l in leases], key=lambda e: (e[0], e[1]))
    running = [sum(d for _, d in events[: i + 1]) for i in range(len(events))]
    assert max(running) <= 2  # more jobs than devices: the rest waited
    # every job recorded the device it held; the crashed ones released theirs (a later job reused it)
    for lease in leases:
        info = json.loads((sweep / lease["job_dir"].rsplit("/", 1)[1] / "run_info.json").read_text())
        assert info["device_lease"]["devices"] == lease["devices"] and info["device_lease"]["simulated"] is True
    done = {l["job_dir"].rsplit("/", 1)[1] for l in leases if (sweep / l["job_dir"].rsplit("/", 1)[1] / "metrics.json").is_file()}
    failed = [l for l in leases if l["job_dir"].rsplit("/", 1)[1] not in done]
    assert len(done) == 2 and len(failed) == 2
    first_failure = min(failed, key=lambda l: l["end"])
    assert any(l["start"] >= first_failure["end"] and l["devices"] == first_failure["devices"] for l in leases)
    # Hydra skips its end-of-sweep callbacks when a job failed (any launcher); the summary works on the folder:
    from facevae.evaluation.sweep import write_sweep_report

    assert write_sweep_report(sweep).is_file()
