"""The tables of `make bench`: rich on the terminal, markdown for the README (`python -m bench.run --render`)."""

from __future__ import annotations

from bench.common import MODELS

OPTION_ORDER = ("channels_last", "bf16", "compile", "channels_last+bf16", "channels_last+bf16+compile")


def _f(v, fmt: str = "{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


def machine_line(r: dict) -> str:
    m = r["machine"]
    cuda = f", GPU {m['cuda']}" if m.get("cuda") else ", no GPU"
    return (f"{m.get('cpu', '?')}, {m.get('usable_cpus')} cores ({m.get('torch_threads')} torch threads), "
            f"{m.get('memory_gb', '?')} GB; bf16 {'yes' if m.get('bf16_supported') else 'no'} "
            f"({' '.join(m.get('cpu_flags', []))}){cuda}; Python {m['python']}, torch {m['torch']}, "
            f"Lightning {m['lightning']}; load average {m['load_avg_start'][0]:.1f} at start, "
            f"{m.get('load_avg_end', [0])[0]:.1f} at end; `{r['settings']['mode']}` run, "
            f"{r['seconds'].get('total', 0) / 60:.1f} min")


def tables(r: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table, from a results.json dict."""
    out = []
    d = r["details"]
    data = d.get("data", {})
    if "generate" in data:
        g, p, b = data["generate"], data["prepare"], data["balance"]
        out.append(("Data", ["step", "work", "rate"], [
            ["synthetic CK+ generation", f"{g['frames']:,} frames 640×490", f"{g['frames_per_s']:,.0f} frames/s"],
            ["CK+-sized preparation (Haar, then landmarks)", f"{p['selected_frames']:,} selected frames",
             f"{p['frames_per_s']:,.0f} frames/s"],
            ["balancing augmentation (§1.1)", f"{b['added']:,} images", f"{b['images_per_s']:,.0f} images/s"]]))
    realism = [r for r in d.get("realism", {}).values() if isinstance(r, dict) and "apex_acc" in r]
    if realism:
        from bench.synth_realism import HEADER, rows as realism_rows

        out.append(("Synthetic CK+ per style: the FER2013 judge's accuracy, Haar, generation (issue 15)",
                    HEADER, realism_rows(realism)))
    rows = []
    for key, t in d.get("throughput", {}).items():
        if "error" in t:
            rows.append([t.get("model", key), t.get("arch", ""), "", "", "", f"error: {t['error'][:60]}", "", ""])
            continue
        rows.append([t["model"], t["arch"], f"{t['params'] / 1e6:.1f} M", str(t["batch_size"]),
                     f"{t['images_per_s']['lightning']:.1f}", f"{t['images_per_s']['plain']:.1f}",
                     f"**{t['ratio']:.3f}**" if t["ratio"] < 0.95 else f"{t['ratio']:.3f}",
                     f"{t['peak_rss_mb']['lightning']:,.0f} / {t['peak_rss_mb']['plain']:,.0f}"])
    if rows:
        out.append(("Training throughput: Lightning vs plain PyTorch (median of interleaved runs)",
                    ["model", "arch", "params", "batch", "Lightning img/s", "plain img/s", "Lightning / plain",
                     "peak RSS MB (L / plain)"], rows))
    f = d.get("flops", {})
    if "fraction" in f:
        fam = ", ".join(f"{k} {v:.0%}" for k, v in f["profile"]["families"].items())
        dense = f.get("largest_dense_layer", {})
        out.append(("FLOP rate: arch=paper classifier training", ["quantity", "value"], [
            ["FLOPs per step (matmul + conv, fwd + bwd)", f"{f['flops_per_step'] / 1e9:.1f} GFLOP (batch {f['batch_size']})"],
            ["step: forward / backward / Adam", f"{f['forward_s']:.2f} / {f['backward_s']:.2f} / {f['optimizer_s']:.2f} s"],
            ["achieved", f"{f['achieved_gflops']:.1f} GFLOP/s"],
            ["fp32 matmul peak (4096², this run) / bf16", f"{f['peak_fp32_gflops']:.0f} / {f['peak_bf16_gflops']:.0f} GFLOP/s"],
            ["**flops_fraction** (forward + backward only)", f"**{f['fraction']:.3f}** ({f['fraction_forward_backward']:.3f})"],
            [f"largest dense layer {dense.get('shape', '')}: fwd / grad-in / grad-W",
             " / ".join(_f(dense.get(f"{k}_gflops"), "{:.0f}") for k in ("forward", "grad_input", "grad_weight")) + " GFLOP/s"],
            ["Adam step: for-loop (default) / foreach / fused",
             " / ".join(_f(v if isinstance(v, float) else None) for v in f["adam_step_s"].values()) + " s"],
            ["profile (self CPU time)", fam]]))
    opts = d.get("options", {})
    if opts:
        rows = []
        for model in MODELS:
            o = opts.get(model)
            if not o:
                continue
            if "error" in o:
                rows.append([model, f"error: {o['error'][:60]}"] + [""] * len(OPTION_ORDER))
                continue
            acc = o.get("accuracy", {})
            cell = lambda k: "–" if k not in o["speedup"] else (  # noqa: E731
                f"{o['speedup'][k]:.2f}×" + (f" ({acc[k]:.2f})" if k in acc else ""))
            rows.append([model, f"{o['eager_images_per_s']:.0f}" + (f" ({acc['eager']:.2f})" if "eager" in acc else "")]
                        + [cell(k) for k in OPTION_ORDER])
        out.append(("CPU speed options, arch=fast: speedup over eager fp32 (accuracy after the fixed budget)",
                    ["model", "eager img/s (acc)", *OPTION_ORDER], rows))
    g = d.get("gpu", {})
    if "results" in g:
        rows = [[k, _f(v.get("32-true", {}).get("images_per_s", {}).get("lightning"), "{:.0f}"),
                 _f(v.get("bf16-mixed", {}).get("images_per_s", {}).get("lightning"), "{:.0f}"),
                 _f(v.get("32-true", {}).get("lightning_over_plain"), "{:.3f}"),
                 _f(v.get("bf16-mixed", {}).get("lightning_over_plain"), "{:.3f}")] for k, v in g["results"].items()]
        out.append((f"GPU ({g.get('device')}), training split resident on the device",
                    ["model", "fp32 img/s", "bf16 img/s", "L / plain fp32", "L / plain bf16"], rows))
    else:
        out.append(("GPU", ["status"], [[f"skipped: {g.get('skipped', g.get('error', '?'))}"]]))
    rows = []
    for goal, v in r.get("goals", {}).items():
        value = {k: v[k] for k in v if k not in ("met", "options")}
        rows.append([goal, "–" if v["met"] is None else "yes" if v["met"] else "**no**", ", ".join(f"{k} {_short(x)}" for k, x in value.items())])
    out.append(("Goals", ["goal", "met", "numbers"], rows))
    return out


def _short(x) -> str:
    if isinstance(x, float):
        return f"{x:.3g}"
    if isinstance(x, list):
        return "[" + ", ".join(map(str, x)) + "]"
    return str(x)


def markdown(r: dict) -> str:
    parts = [f"Measured on: {machine_line(r)}."]
    for title, header, rows in tables(r):
        parts.append(f"**{title}**\n\n| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
                     + "\n".join("| " + " | ".join(row) + " |" for row in rows))
    return "\n\n".join(parts) + "\n"


def print_tables(r: dict) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(width=max(140, Console().width))
    console.print(f"[bold]machine:[/bold] {escape(machine_line(r))}")
    for title, header, rows in tables(r):
        table = Table(title=escape(title), title_justify="left")
        for i, h in enumerate(header):
            table.add_column(h, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*[escape(c.replace("**", "")) for c in row])
        console.print(table)
