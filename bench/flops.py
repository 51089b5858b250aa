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

from bench.common import (autocast_for, build, emit, make_optimizers, plain_loss, plain_step, prepare_data,
                          quiet_lightning, release_memory, transfer)


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


def memory_bandwidth(mb: int = 512, reps: int = 3) -> float:
    """Best GB/s of copying an mb-MiB float32 array (read + write): the machine's streaming bandwidth."""
    a = torch.ones(mb * 2**18)
    b = torch.empty_like(a)
    b.copy_(a)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        b.copy_(a)
        best = min(best, time.perf_counter() - start)
    return 2 * a.numel() * 4 / best / 1e9


def time_phases(module, opt, batch, autocast, steps: int, loss_fn) -> dict:
    """Median seconds of forward (+ loss), backward and optimizer step over `steps` training steps."""
    rows = []
    for _ in range(steps):
        t0 = time.perf_counter()
        with autocast():
            loss = loss_fn(module, batch)
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        rows.append((t1 - t0, t2 - t1, t3 - t2))
    med = lambda k: sorted(r[k] for r in rows)[len(rows) // 2]  # noqa: E731
    return {"forward_s": med(0), "backward_s": med(1), "optimizer_s": med(2),
            "step_s": sorted(sum(r) for r in rows)[len(rows) // 2]}


def adam_variants(module, lr: float, steps: int = 2) -> dict:
    """Seconds per optimizer step of torch's Adam implementations on this model's parameters (grads set)."""
    out = {}
    for name, kwargs in (("for-loop", dict(foreach=False)), ("foreach", dict(foreach=True)), ("fused", dict(fused=True))):
        try:
            opt = torch.optim.Adam(module.parameters(), lr=lr, **kwargs)
        except (RuntimeError, TypeError, ValueError) as e:
            out[name] = f"unavailable: {e}"
            continue
        opt.step()  # allocates the state
        start = time.perf_counter()
        for _ in range(steps):
            opt.step()
        out[name] = (time.perf_counter() - start) / steps
        del opt
    return out


def largest_linear_matmuls(module, batch: int, reps: int = 2) -> dict:
    """GFLOP/s of the three matmuls of the model's largest dense layer at the training batch: forward
    (x @ W.T), gradient of the input (g @ W) and of the weight (g.T @ x, inner dimension = batch)."""
    layer = max((m for m in module.modules() if isinstance(m, torch.nn.Linear)), key=lambda m: m.weight.numel())
    n, k = layer.weight.shape
    x, g, w = torch.randn(batch, k), torch.randn(batch, n), layer.weight.detach()
    out = {"shape": f"{batch}x{k} @ {k}x{n}"}
    for name, f in (("forward", lambda: x @ w.t()), ("grad_input", lambda: g @ w), ("grad_weight", lambda: g.t() @ x)):
        f()
        best = float("inf")
        for _ in range(reps):
            start = time.perf_counter()
            f()
            best = min(best, time.perf_counter() - start)
        out[f"{name}_gflops"] = 2 * batch * k * n / best / 1e9
    return out


def run(data_dir: Path, n_subjects: int, steps: int = 3, batch_size: int | None = None,
        model: str = "classifier", arch: str = "paper") -> dict:
    quiet_lightning()
    peak_before, bandwidth = matmul_peak(), memory_bandwidth()
    cfg, dm, module = build(model, arch, data_dir, n_subjects, batch_size)
    if (cfg.get("callbacks") or {}).get("channels_last"):
        module.to(memory_format=torch.channels_last)  # as training runs it (conf/callbacks/default.yaml)
    module.train()
    opts = make_optimizers(module)
    autocast = autocast_for(cfg.trainer.precision)
    batch = transfer(dm, next(iter(dm.train_dataloader())))
    step = lambda: plain_step(model, module, opts, batch, autocast)  # noqa: E731
    flops, by_op = count_flops(step)  # also the warm-up step (Adam's state is allocated here)
    phases = time_phases(module, opts[0], batch, autocast, steps, lambda m, b: plain_loss(model, m, b))
    prof = profile_step(step)
    adam = adam_variants(module, module.hparams.lr)
    dense = largest_linear_matmuls(module, len(batch[0]))
    peak = max(peak_before, matmul_peak())
    params = sum(p.numel() for p in module.parameters())
    step_s = phases["step_s"]
    # Roofline of the step: its matmul/conv FLOPs at the fp32 peak vs the bytes it must stream at least:
    # the F layers' weights read twice (forward, grad of input) and their gradient written once, then
    # a fused Adam reading parameter, gradient and two moments and writing three (10 passes of 4 bytes).
    compute_s, memory_s = flops / (peak * 1e9), 10 * 4 * params / (bandwidth * 1e9)
    release_memory()
    return {
        "model": model, "arch": arch, "params": params, "batch_size": len(batch[0]),
        "precision": str(cfg.trainer.precision), "flops_per_step": flops, "flops_by_op": by_op,
        **phases, "achieved_gflops": flops / step_s / 1e9, "peak_fp32_gflops": peak,
        "peak_bf16_gflops": matmul_peak(torch.bfloat16), "fraction": flops / step_s / 1e9 / peak,
        # forward + backward alone: how near the peak the layers themselves run, without Adam
        "fraction_forward_backward": flops / (phases["forward_s"] + phases["backward_s"]) / 1e9 / peak,
        "memory_bandwidth_gbs": bandwidth, "adam_step_s": adam, "largest_dense_layer": dense,
        "roofline": {"compute_s": compute_s, "memory_s": memory_s,
                     "bound": "memory" if memory_s > compute_s else "compute",
                     "max_fraction": compute_s / max(compute_s, memory_s)},
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
