"""The package layout is the architecture: which parts of the gateway may import which.

``signal`` and ``classify`` are the model's world and know nothing of alerts
or the service; ``alerts`` knows the signal chain's constants only; the
sans-I/O core (everything outside ``service``, ``tools`` and ``web``) touches no
socket, no MQTT, no clock and no TensorFlow.  ``web`` (the console) is an
adapter beside ``service``: it may use the service's topics and loader, and
nothing else imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parent.parent / "gateway"

#: subpackage -> gateway subpackages/modules it must never import
FORBIDDEN = {
    "signal": {"classify", "alerts", "service", "tools", "processor", "web"},
    "classify": {"alerts", "service", "tools", "processor", "web"},
    "alerts": {"classify", "service", "tools", "processor", "web"},
    "": {"service", "tools", "web"},  # processor, device, timeline, events, errors
    "service": {"tools", "web"},
    "tools": {"web"},
    "web": {"processor", "classify", "alerts", "signal"},  # the console stays small: reports run as subprocesses
}
#: third-party or standard modules the sans-I/O core must not import
IO_MODULES = {"socket", "asyncio", "websockets", "paho", "time", "threading", "tensorflow", "selectors", "ssl"}


def _modules() -> list[Path]:
    return sorted(p for p in GATEWAY.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """Absolute dotted names this module imports (relative imports resolved)."""
    package = ["gateway", *path.relative_to(GATEWAY).parts[:-1]]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    return names


def _part(path: Path) -> str:
    parts = path.relative_to(GATEWAY).parts
    return parts[0] if len(parts) > 1 else ""


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(GATEWAY)))
def test_imports_run_one_way(path: Path) -> None:
    part = _part(path)
    for name in _imports(path):
        bits = name.split(".")
        if bits[0] != "gateway" or len(bits) < 2:
            continue
        assert bits[1] not in FORBIDDEN.get(part, set()), f"gateway/{path.relative_to(GATEWAY)} imports {name}"


@pytest.mark.parametrize("path", [p for p in _modules() if _part(p) not in ("service", "tools", "web")],
                         ids=lambda p: str(p.relative_to(GATEWAY)))
def test_the_core_does_no_io(path: Path) -> None:
    for name in _imports(path):
        assert name.split(".")[0] not in IO_MODULES, f"gateway/{path.relative_to(GATEWAY)} imports {name}"


def test_no_giant_module() -> None:
    sizes = {str(p.relative_to(GATEWAY)): len(p.read_text().splitlines()) for p in _modules()}
    assert max(sizes.values()) <= 450, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_every_subpackage_says_what_it_is_for() -> None:
    for init in GATEWAY.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and "import" in doc.lower(), f"{init.parent.name}/__init__.py needs a docstring saying what it may import"
