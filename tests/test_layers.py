"""Issue 17: imports go one way, data -> models -> figures -> evaluation -> run -> the applications.

A module may import from its own layer or a lower one. The rule is read from the source (ast), so a
lazy import inside a function counts the same as one at the top of a file.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "facevae"

# Lowest first. Each facevae sub-package or module belongs to exactly one layer.
LAYERS = [
    ("base", {"config", "checkpoint", "progress", "provenance", "resume", "ddp", "loggers", "gpu_pool"}),
    ("data", {"data", "judge", "identity"}),
    ("models", {"models"}),
    ("figures", {"figures", "metrics"}),
    ("evaluation", {"evaluation"}),
    ("run", {"run", "callbacks", "hydra_callbacks", "cli"}),
    ("applications", {"edit"}),
]
RANK = {part: i for i, (_, parts) in enumerate(LAYERS) for part in parts}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def facevae_imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported facevae module) of every import in the file, relative ones resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found += [(node.lineno, target)] if target.startswith("facevae") else []
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("facevae")]
    return found


def layer_part(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_every_module_has_a_layer():
    parts = {layer_part(module_name(p)) for p in PACKAGE.rglob("*.py")} - {""}
    assert parts <= set(RANK), f"add {sorted(parts - set(RANK))} to a layer in tests/test_layers.py"


def test_imports_only_go_down_the_layers():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = layer_part(module_name(path))
        if not own:  # facevae/__init__.py
            continue
        for line, target in facevae_imports(path):
            other = layer_part(target)
            if other and RANK[other] > RANK[own]:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({LAYERS[RANK[own]][0]}) imports "
                              f"{target} ({LAYERS[RANK[other]][0]})")
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The rule can fail: a data module importing the evaluation is reported."""
    bad = PACKAGE / "data" / "_layer_probe.py"
    assert not bad.exists()
    monkeypatch.setattr(Path, "rglob", lambda self, pattern: iter([bad]) if self == PACKAGE else iter([]))
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: "from ..evaluation import suite\n")
    try:
        test_imports_only_go_down_the_layers()
    except AssertionError as exc:
        assert "facevae/data/_layer_probe.py:1 (data) imports facevae.evaluation (evaluation)" in str(exc)
    else:
        raise AssertionError("an upward import went unreported")
