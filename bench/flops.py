"""Achieved FLOP rate of `arch=paper` classifier training against this machine's measured fp32 matmul
peak, and where the step's time goes (torch.profiler).

    python -m bench.flops [--steps 3] [--data-dir D --subjects 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

from bench.common import _optimizers, autocast_for, build, emit, prepare_data, quiet_lightning, transfer, plain_step


def matmul_peak(dtype=torch.float32, n: int = 4096, reps: int = 3) -> float:
    """Best GFLOP/s of an n x n x n matmul (the machine's practical peak for that dtype)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)  # warm-up: first call sets up the kernel
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


# Op families for the time breakdown: (family, substrings of aten op names).
FAMILIES = [
    ("matmul (F layers)", ("addmm", "aten::mm", "aten::bmm", "matmul", "linear")),
    ("convolution", ("conv", "mkldnn_convolution")),
    ("max-pool + padding", ("max_pool", "pad", "constant_pad")),
    ("optimizer (Adam)", ("_foreach", "adam", "lerp", "addcdiv", "addcmul", "sqrt")),
    ("elementwise / other", ("",)),
]


def family(op: str) -> str:
    for name, keys in FAMILIES:
        if any(k in op for k in keys):
            return name
    return FAMILIES[-1][0]


def profile_step(step) -> dict:
    """One step under torch.profiler: the top ops by self CPU time and the time per op family."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:10]
    families = defaultdict(float)
    for e in events:
        families[family(e.key.lower())] += e.self_cpu_time_total
    return {
        "total_ms": round(total / 1e3, 1),
        "top_ops": [{"op": e.key, "calls": e.count, "self_ms": round(e.self_cpu_time_total / 1e3, 1),
                     "share": round(e.self_cpu_time_total / total, 3)} for e in top],
        "families": {k: round(v / total, 3) for k, v in sorted(families.items(), key=lambda kv: -kv[1])},
    }


def count_flops(step) -> tuple[float, dict]:
    """FLOPs of one training step (forward + backward matmuls and convolutions) and their split by op."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    by_op = {str(k): v for k, v in counter.get_flop_counts().get("Global", {}).items()}
    return float(counter.get_total_flops()), by_op


def run(data_dir: Path, n_subjects: int, steps: int = 3, batch_size: int | None = None,
        model: str = "classifier", arch: str = "paper") -> dict:
    quiet_lightning()
    peak_before = matmul_peak()
    cfg, dm, module = build(model, arch, data_dir, n_subjects, batch_size)
    if (cfg.get("callbacks") or {}).get("channels_last"):
        module.to(memory_format=torch.channels_last)  # as training runs it (conf/callbacks/default.yaml)
    module.train()
    opts = _optimizers(module)
    autocast = autocast_for(cfg.trainer.precision)
    batch = transfer(dm, next(iter(dm.train_dataloader())))
    step = lambda: plain_step(model, module, opts, batch, autocast)  # noqa: E731
    flops, by_op = count_flops(step)  # also the warm-up step (Adam state allocated)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    step_s = sorted(times)[len(times) // 2]
    prof = profile_step(step)
    peak = max(peak_before, matmul_peak())
    achieved = flops / step_s / 1e9
    return {
        "model": model, "arch": arch, "batch_size": len(batch[0]), "precision": str(cfg.trainer.precision),
        "flops_per_step": flops, "flops_by_op": by_op, "step_s": step_s, "step_times_s": times,
        "achieved_gflops": achieved, "peak_fp32_gflops": peak, "peak_bf16_gflops": matmul_peak(torch.bfloat16),
        "fraction": achieved / peak,
        # The step without the optimizer: how close the forward + backward alone come to the peak.
        "profile": prof,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--subjects", type=int, default=40)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--batch", type=int)
    p.add_argument("--out")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = a.data_dir or Path(tmp)
        prepare_data(data_dir, a.subjects)
        emit(run(data_dir, a.subjects, a.steps, a.batch), a.out)


if __name__ == "__main__":
    main()
