"""The layout ARCHITECTURE.md describes is the layout of the code: every module is on the folder map, imports point
down the layers only, and PyMC / PyTensor / ArviZ stay where they belong. Read with `ast`, nothing is imported."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nma"
DOC = ROOT / "ARCHITECTURE.md"

#: The layers, bottom first. A module may import from its own layer and the layers before it; layers sharing a
#: rank (errors and constants; inputs and evidence) are siblings and do not import each other. nma/__init__.py is
#: the public facade: it may import anything, and only the app layer may import it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "constants"),
    ("core",),
    ("inputs", "evidence"),
    ("posterior",),
    ("models",),
    ("checks",),
    ("reporting",),
    ("analysis",),
    ("app",),
)
RANK = {layer: rank for rank, names in enumerate(LAYERS) for layer in names}
FACADE = "nma (facade)"

#: Edges that break the rule today, each to be removed by whoever fixes it (the test fails when one is no longer
#: needed, so the list cannot go stale). Keys: (module path under nma/, imported module).
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def layer_of(path: Path) -> str:
    """The layer of a module file: its folder under nma/, or its own name for errors.py and constants.py."""
    parts = path.relative_to(PACKAGE).parts
    if len(parts) > 1:
        return parts[0]
    return {"__main__.py": "app", "__init__.py": FACADE}.get(parts[0], path.stem)


def target_layer(module: str) -> str | None:
    """The layer a dotted module name belongs to; None when it is not nma; FACADE for `nma` itself."""
    parts = module.split(".")
    if parts[0] != "nma":
        return None
    if len(parts) == 1:
        return FACADE
    return parts[1] if parts[1] in RANK else "app" if parts[1] == "__main__" else FACADE


def imported(path: Path, *, module_level_only: bool = False) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in `path`; `from nma import x` counts as nma.x when x is a module
    (else as the facade). Imports inside functions count unless module_level_only."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if module_level_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:   # relative: resolve against the module's package
                package = list(path.relative_to(ROOT).with_suffix("").parts)[:-node.level]
                base = ".".join(package + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                is_module = (ROOT / Path(*sub.split("."))).with_suffix(".py").exists() or (ROOT / Path(*sub.split("."))).is_dir()
                found.append((node.lineno, sub if base.startswith("nma") and is_module else base))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def upward_edges() -> dict[tuple[str, str], int]:
    """Every import that points up (or sideways to a sibling layer, or to the facade): (module, import) -> line."""
    edges = {}
    for path in modules():
        me = layer_of(path)
        if me == FACADE:
            continue
        for line, module in imported(path):
            other = target_layer(module)
            if other is None or other == me:
                continue
            if other == FACADE:
                bad = me != "app"
            else:
                bad = RANK[other] >= RANK[me]
            if bad:
                edges.setdefault((rel(path), module), line)
    return edges


def test_every_module_is_on_the_folder_map_and_every_path_there_exists():
    doc = DOC.read_text(encoding="utf-8")
    missing = [rel(p) for p in modules() if p.name != "__init__.py" and f"`{rel(p)}`" not in doc]
    assert missing == [], f"ARCHITECTURE.md does not name {missing}: add one line each to its folder map"
    named = set(re.findall(r"`((?:[\w.]+/)*[\w.]+\.py)`", doc))
    assert {"core/network.py", "errors.py", "reporting/plots.py"} <= named
    stale = sorted(n for n in named
                   if not ((ROOT / n).exists() if n.startswith(("tests/", "nma/")) else (PACKAGE / n).exists()))
    assert stale == [], f"ARCHITECTURE.md names {stale}, which do not exist: update its folder map"


def test_every_folder_is_a_layer():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= set(RANK), f"{sorted(folders - set(RANK))} are not in LAYERS (and ARCHITECTURE.md)"
    doc = DOC.read_text(encoding="utf-8")
    order = [doc.index(f"< {layer}") for names in LAYERS[1:] for layer in names[:1]]
    assert order == sorted(order), "ARCHITECTURE.md lists the layers in another order than LAYERS"


def test_imports_point_down_the_layers():
    edges = upward_edges()
    new = {f"nma/{m}:{line} imports {t}": None for (m, t), line in edges.items() if (m, t) not in KNOWN_EXCEPTIONS}
    assert list(new) == [], "imports from a higher (or sibling) layer: " + "; ".join(new)


def test_known_exceptions_are_still_needed():
    fixed = sorted(set(KNOWN_EXCEPTIONS) - set(upward_edges()))
    assert fixed == [], f"these edges are gone: remove them from KNOWN_EXCEPTIONS: {fixed}"


def test_the_rules_see_lazy_relative_and_facade_imports(tmp_path):
    """The checker itself, on a made-up module: an import inside a function counts, `from nma import x` resolves."""
    fake = tmp_path / "fake.py"
    fake.write_text("import numpy\ndef f():\n    import pymc\n    from nma import errors, __version__\n")
    assert [m for _, m in imported(fake)] == ["numpy", "pymc", "nma.errors", "nma"]
    assert [m for _, m in imported(fake, module_level_only=True)] == ["numpy"]
    assert target_layer("nma.errors") == "errors" and target_layer("nma") == FACADE


HEAVY = ("pymc", "pytensor")


@pytest.mark.parametrize("path", [p for p in modules() if layer_of(p) != "models"], ids=rel)
def test_pymc_and_pytensor_are_imported_at_module_level_only_in_models(path):
    heavy = [(line, m) for line, m in imported(path, module_level_only=True) if m.split(".")[0] in HEAVY]
    assert heavy == [], f"nma/{rel(path)} imports {heavy} at module level: import it inside the function that needs it"


@pytest.mark.parametrize("path", [p for p in modules() if layer_of(p) in ("core", "inputs", "evidence")], ids=rel)
def test_data_layers_import_no_pymc_pytensor_or_arviz(path):
    heavy = [(line, m) for line, m in imported(path) if m.split(".")[0] in HEAVY + ("arviz",)]
    assert heavy == [], f"nma/{rel(path)} imports {heavy}: the data layers must not depend on the model libraries"
