"""`hydra/launcher=gpus`: Hydra's joblib launcher with as many parallel jobs as device slots.

Joblib runs the jobs and queues the ones beyond `n_jobs`; this class only sizes `n_jobs` from the
device pool and tells the jobs where the pool is (an environment variable its worker processes
inherit). Each job then leases a free slot for its lifetime (facevae.gpu_pool.lease): a file lock
per slot, released when the job ends, fails, or its process dies.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Sequence

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher

log = logging.getLogger(__name__)


class GpuPoolLauncher(JoblibLauncher):
    def __init__(self, devices: Any = "auto", devices_per_job: int = 1, jobs_per_device: int = 1,
                 simulate: bool = False, **joblib: Any) -> None:
        from facevae.gpu_pool import DevicePool

        self.pool = DevicePool.from_config(devices, devices_per_job, jobs_per_device, simulate)
        joblib["n_jobs"] = len(self.pool.slots)
        super().__init__(**joblib)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from facevae.gpu_pool import POOL_ENV

        folder = Path(str(self.config.hydra.sweep.dir)) / ".gpu_pool"
        folder.mkdir(parents=True, exist_ok=True)
        spec = folder / "pool.json"
        spec.write_text(json.dumps(self.pool.as_dict(), indent=2))
        os.environ[POOL_ENV] = str(spec.resolve())  # joblib's worker processes inherit it
        log.info("GPU pool: %s", self.pool.describe())
        return super().launch(job_overrides, initial_job_idx)
