"""labkit's layers: a lower layer never imports an upper one.

wire (1) < transport (2) < client (3) < engine (4) < learning tools (5).
Every import in every module counts, including those inside functions.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "labkit"

LAYERS = {
    "labkit.paths": 0,
    "labkit.hello": 0,
    "labkit.wire": 1,
    "labkit.transport": 2,
    "labkit.client": 3,
    "labkit.engine": 4,
    "labkit.proxy": 4,
}
TOP = 5  # labkit.lab, labkit.doctor, labkit.cli, lessons, widgets, checks ...


def layer_of(module: str) -> int:
    if module == "labkit":  # the package facade: constants only
        return 0
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return TOP


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def labkit_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("labkit")]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith("labkit")
        ):
            found.append((node.lineno, node.module))
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


def test_the_package_has_modules_to_check() -> None:
    assert len(MODULES) > 5


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_upward_imports(path: Path) -> None:
    own = layer_of(module_name(path))
    upward = [
        f"line {line}: imports {name} (layer {layer_of(name)})"
        for line, name in labkit_imports(path)
        if layer_of(name) > own
    ]
    assert not upward, f"{module_name(path)} is layer {own} but " + "; ".join(upward)


def test_layer_rule_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from labkit.engine import server\n")
    assert labkit_imports(bad) == [(2, "labkit.engine")]
    assert layer_of("labkit.engine") > layer_of("labkit.wire.http")


def test_wire_and_transport_import_nothing_heavy() -> None:
    """The engine process and the low layers must start fast: no requests, docker SDK or jupyter."""
    code = (
        "import sys, labkit.wire, labkit.transport\n"
        "heavy = sorted(m for m in ('requests', 'docker', 'jupyter_client', 'ipywidgets', 'httpx')"
        " if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
