"""Rules of the house for the engine: no scikit-learn, numpydoc docstrings with examples."""

import ast
import doctest
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sknet

# DESIGN.md: every module but these is the engine, which imports nothing of
# scikit-learn (the compiled kernels only where numba, an optional extra, is).
SCIKIT_LEARN_SIDE = {
    "__init__",
    "__main__",
    "_base",
    "_docstrings",
    "ensemble",
    "estimators",
    "onnx",
    "plotting",
    "preprocessing",
    "tabular",
}
HAS_NUMBA = importlib.util.find_spec("numba") is not None
ROOT = Path(sknet.__file__).parent


def _module_name(path):
    """``backends.numpy`` for sknet/backends/numpy.py, ``backends`` for its __init__."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _module_path(name):
    path = ROOT.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


# Every engine module's source is checked (the backends package's too); the
# modules built on numba (an optional extra) are imported, and their examples
# run, only where it is installed.
ENGINE = sorted(
    name
    for name in map(_module_name, ROOT.rglob("*.py"))
    # A package on the scikit-learn side (_base) is so with all its modules.
    if name.split(".")[0] not in SCIKIT_LEARN_SIDE
)
IMPORTABLE = [name for name in ENGINE if HAS_NUMBA or "numba" not in name]
ENGINE_MODULES = [importlib.import_module(f"sknet.{name}") for name in IMPORTABLE]


def test_importing_the_engine_does_not_import_sklearn():
    imports = "; ".join(f"import sknet.{name}" for name in IMPORTABLE)
    code = (
        # Import the submodules without running sknet/__init__.py, which also
        # loads the scikit-learn estimators.
        "import importlib.util, sys, types\n"
        f"spec = importlib.util.find_spec('sknet')\n"
        "package = types.ModuleType('sknet')\n"
        "package.__path__ = list(spec.submodule_search_locations)\n"
        "sys.modules['sknet'] = package\n"
        f"{imports}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn')\n"
        "assert not loaded, loaded\n"
        "assert 'sknet.estimators' not in sys.modules\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def _relative_target(name, node):
    """The sknet module a relative ``from ... import`` in module ``name`` names."""
    package = _module_path(name).parent.relative_to(ROOT).parts
    base = list(package[: len(package) - (node.level - 1)])
    return ".".join([*base, *([node.module] if node.module else [])])


@pytest.mark.parametrize("name", ENGINE)
def test_engine_sources_do_not_mention_sklearn_imports(name):
    path = _module_path(name)
    source = path.read_text()
    assert not re.search(r"^\s*(import\s+sklearn|from\s+sklearn)", source, re.MULTILINE)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        else:
            continue
        for module in modules:
            assert module.split(".")[0] != "sklearn", f"{path.name}:{node.lineno} imports {module}"
        if isinstance(node, ast.ImportFrom) and node.level:
            # Relative imports stay inside the engine.
            target = _relative_target(name, node)
            assert target in ENGINE, f"{path.name} imports {target}"


def _public_objects():
    seen = {}
    for module in [sknet, *ENGINE_MODULES]:
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                seen[f"{module.__name__}.{name}"] = obj
    return seen


PUBLIC = _public_objects()


def test_public_names_exist():
    for module in [sknet, *ENGINE_MODULES]:
        assert module.__doc__, module.__name__
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
    # The engine's main names are all covered.
    for name in ("sknet.Network", "sknet.Dense", "sknet.Adam", "sknet.training.Trainer"):
        assert name in PUBLIC


@pytest.mark.parametrize("qualname", sorted(PUBLIC))
def test_public_name_has_numpydoc_docstring_with_example(qualname):
    doc = inspect.getdoc(PUBLIC[qualname])
    assert doc, f"{qualname} has no docstring"
    assert re.search(r"^Examples\n-{8}$", doc, re.MULTILINE), f"{qualname}: no Examples section"
    examples = doc.split("Examples\n--------", 1)[1]
    assert re.search(r"^>>> ", examples, re.MULTILINE), f"{qualname}: no >>> line in Examples"


def _public_methods():
    methods = {}
    for qualname, cls in PUBLIC.items():
        if not inspect.isclass(cls):
            continue
        for klass in cls.__mro__:
            if not klass.__module__.startswith("sknet"):
                continue
            for name, member in vars(klass).items():
                if name.startswith("_"):
                    continue
                if inspect.isfunction(member) or isinstance(
                    member, (property, classmethod, staticmethod)
                ):
                    methods.setdefault(f"{qualname}.{name}", (cls, name))
    return methods


METHODS = _public_methods()


@pytest.mark.parametrize("qualname", sorted(METHODS))
def test_public_method_has_docstring(qualname):
    cls, name = METHODS[qualname]
    member = inspect.getattr_static(cls, name)
    if isinstance(member, (classmethod, staticmethod)):
        member = member.__func__
    # An override without its own docstring inherits the documented one.
    doc = member.__doc__ if isinstance(member, property) else inspect.getdoc(getattr(cls, name))
    assert doc and doc.strip(), f"{qualname} has no docstring"


@pytest.mark.parametrize("module", ENGINE_MODULES, ids=IMPORTABLE)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
    assert result.attempted > 0


def _sknet_imports(name):
    """The sknet modules that module ``name`` imports, at any depth of its source."""
    known = {_module_name(path) for path in ROOT.rglob("*.py")}
    targets = set()
    for node in ast.walk(ast.parse(_module_path(name).read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            target = _relative_target(name, node)
            for alias in node.names:  # ``from . import losses`` names a module
                child = f"{target}.{alias.name}".lstrip(".")
                targets.add(child if child in known else target)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sknet."):
            targets.add(node.module.removeprefix("sknet."))
        elif isinstance(node, ast.Import):
            targets.update(
                alias.name.removeprefix("sknet.")
                for alias in node.names
                if alias.name.startswith("sknet.")
            )
    return {target for target in targets if target in known and target != name}


def test_no_import_cycle_in_sknet():
    # Any import, even one inside a function, counts: a cycle breaks as soon
    # as someone moves that import to the top of its module.
    graph = {_module_name(path): _sknet_imports(_module_name(path)) for path in ROOT.rglob("*.py")}
    graph.pop("__init__", None)  # the package's re-exports import everything
    for edges in graph.values():
        edges.discard("__init__")
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for child in sorted(graph.get(node, ())):
            if state.get(child) == "open":
                cycle = [*trail[trail.index(child) :], child] if child in trail else [node, child]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if child not in state:
                visit(child, [*trail, child])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    # The check sees the backend package's modules and their imports.
    assert "backends.numba" in graph and "backends._core" in graph["backends.numba"]
