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
    "estimators",
    "onnx",
    "plotting",
    "preprocessing",
    "tabular",
}
HAS_NUMBA = importlib.util.find_spec("numba") is not None
# Every engine module's source is checked; the modules built on numba (an
# optional extra) are imported, and their examples run, only where it is installed.
ENGINE = sorted(
    path.stem
    for path in Path(sknet.__file__).parent.glob("*.py")
    if path.stem not in SCIKIT_LEARN_SIDE
)
IMPORTABLE = [name for name in ENGINE if HAS_NUMBA or not name.startswith("_numba")]
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


@pytest.mark.parametrize("name", ENGINE)
def test_engine_sources_do_not_mention_sklearn_imports(name):
    path = Path(sknet.__file__).parent / f"{name}.py"
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
            assert (node.module or "").split(".")[0] in ENGINE, f"{path.name} imports {node.module}"


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
