"""The documentation's sources, checked without building them (no Sphinx).

- Every line of code a reader sees (rst code blocks and doctests, the gallery
  scripts, the examples in sknet's docstrings) fits 79 columns: the built
  pages show that many at 1280 px and cut wider lines off.
- No install hint names a distribution that is another project.
- The API page names no private module and shows sknet's own version notes.
- The user guide's figures and the front page's figure are drawn by the build.
"""

import importlib
import importlib.util
import inspect
import re
import runpy
import sys
import textwrap
from pathlib import Path

import pytest
import tomllib

import sknet

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE = Path(sknet.__file__).resolve().parent
MAX_COLUMNS = 79
DISTRIBUTION = "sknet-layers"

# Directives whose content is code shown to the reader (``plot`` draws a
# figure; its code stays in the sources, held to the same limit).
_CODE_DIRECTIVE = re.compile(
    r"^(\s*)\.\. (code-block|code|sourcecode|plot|doctest|testcode|ipython)::"
)


def _indent(line):
    return len(line) - len(line.lstrip())


def code_lines(text):
    """``(line number, line as displayed)`` for every line of code in rst ``text``.

    Code is the content of code directives, literal blocks (after a paragraph
    ending in ``::``) and doctest blocks (``>>>`` lines and their output), each
    without the indentation of its block.
    """
    lines = text.splitlines()
    found = []
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = _CODE_DIRECTIVE.match(line)
        literal = line.rstrip().endswith("::") and not line.lstrip().startswith("..")
        if directive or literal:
            outer = len(directive.group(1)) if directive else _indent(line)
            i += 1
            # Directive options (":alt: ...") and blank lines come first.
            while i < len(lines) and (
                not lines[i].strip()
                or (directive and lines[i].strip().startswith(":") and _indent(lines[i]) > outer)
            ):
                if lines[i].strip().startswith(":"):
                    option_indent = _indent(lines[i])
                    i += 1
                    while i < len(lines) and _indent(lines[i]) > option_indent and lines[i].strip():
                        i += 1
                    continue
                i += 1
            block = []
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > outer):
                block.append((i + 1, lines[i]))
                i += 1
            content = [(n, line) for n, line in block if line.strip()]
            if content:
                inner = min(_indent(line) for _, line in content)
                found.extend((n, line[inner:].rstrip()) for n, line in content)
            continue
        if line.lstrip().startswith(">>>"):
            inner = _indent(line)
            while i < len(lines) and lines[i].strip():
                found.append((i + 1, lines[i][inner:].rstrip()))
                i += 1
            continue
        i += 1
    return found


def _rst_sources():
    skipped = {"_build", "generated", "auto_examples", "_intersphinx"}
    return sorted(
        path
        for path in DOCS.rglob("*.rst")
        if not skipped & set(path.relative_to(DOCS).parts) and path.name != "sg_execution_times.rst"
    )


def _import(module_name):
    """The module, or None where it needs an optional extra that is missing
    (``sknet.onnx`` without skl2onnx): its docstrings are checked where the
    extra is installed."""
    try:
        return importlib.import_module(module_name)
    except ImportError:
        if module_name == "sknet.onnx" and importlib.util.find_spec("skl2onnx") is None:
            return None
        raise


def _docstrings():
    """``(where, docstring)`` of every module, class, function and method that
    the API page can show: those of the public modules, of the estimators'
    shared base and of the mixins of both. Read at run time, since some are
    assembled when imported."""
    paths = [p for p in PACKAGE.glob("*.py") if not p.name.startswith("_")]
    shared = [*(PACKAGE / "_base").glob("*.py"), PACKAGE / "_summary.py"]
    mixins = PACKAGE.glob("_network_*.py")  # Network's fit, predict, get_weights, ...
    for path in sorted([*paths, *shared, *mixins]):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        module = _import(f"sknet.{name}")
        if module is None:
            continue
        yield module.__name__, module.__doc__ or ""
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isclass(obj):
                yield f"{module.__name__}.{name}", obj.__doc__ or ""
                for attribute, member in vars(obj).items():
                    doc = getattr(member, "__doc__", None)
                    if callable(member) or isinstance(member, (property, classmethod)):
                        yield f"{module.__name__}.{name}.{attribute}", doc or ""
            elif inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj.__doc__ or ""


def _too_wide(lines):
    return [(n, len(line), line) for n, line in lines if len(line) > MAX_COLUMNS]


# -- how the helper reads rst ---------------------------------------------------------


def test_code_lines_finds_blocks_of_every_kind():
    text = textwrap.dedent(
        """\
        Some prose that is long but is not code, so its width does not matter at all here.

        .. code-block:: python

           x = 1
               y = 2

        A literal block::

            $ run it

        .. plot::
           :alt: a figure
                 with a long description

           plot()

        >>> f(1)
        2

        Back to prose.
        """
    )
    assert [line for _, line in code_lines(text)] == [
        "x = 1",
        "    y = 2",
        "$ run it",
        "plot()",
        ">>> f(1)",
        "2",
    ]


# -- 79 columns --------------------------------------------------------------------------


@pytest.mark.parametrize("path", _rst_sources(), ids=lambda p: str(p.relative_to(DOCS)))
def test_rst_code_fits_79_columns(path):
    wide = _too_wide(code_lines(path.read_text(encoding="utf-8")))
    assert not wide, f"{path.relative_to(ROOT)}: lines over {MAX_COLUMNS} columns: {wide}"


@pytest.mark.parametrize("path", sorted((DOCS / "examples").glob("*.py")), ids=lambda p: p.name)
def test_gallery_scripts_fit_79_columns(path):
    # Code cells show as they are; comment cells become prose (narrower in
    # the page) and literal blocks inside them keep their width.
    lines = enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
    wide = _too_wide(lines)
    assert not wide, f"{path.relative_to(ROOT)}: lines over {MAX_COLUMNS} columns: {wide}"


def test_docstring_examples_fit_79_columns():
    wide = []
    for where, doc in _docstrings():
        doc = inspect.cleandoc(doc)
        wide.extend((where, *line) for line in _too_wide(code_lines(doc)))
    assert not wide, f"docstring code lines over {MAX_COLUMNS} columns: {wide}"


# -- the distribution's name ---------------------------------------------------------------


def _project():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def test_pyproject_uses_the_distribution_name_everywhere():
    project = _project()
    assert project["name"] == DISTRIBUTION
    self_references = [
        requirement
        for extra in project["optional-dependencies"].values()
        for requirement in extra
        if requirement.startswith("sknet")
    ]
    assert self_references, "the test and docs extras pull in other extras"
    assert all(r.startswith(f"{DISTRIBUTION}[") for r in self_references), self_references
    urls = project["urls"]
    assert urls["Documentation"].startswith("https://")
    assert urls["Source"].startswith("https://")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert urls["Source"] in readme
    assert urls["Documentation"].split("/en/")[0] in readme


def _hint_sources():
    yield ROOT / "README.md"
    yield from sorted(PACKAGE.rglob("*.py"))
    yield from _rst_sources()
    yield from sorted((DOCS / "examples").glob("*.py"))
    yield DOCS / "conf.py"


# "sknet[extra]" or "pip install sknet" with no "-layers": the index's sknet
# is an unrelated project.
_WRONG_HINT = re.compile(r"(?<![\w-])sknet\[|pip install\s+[\"']?sknet(?![\w-])")


@pytest.mark.parametrize("path", list(_hint_sources()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_install_hint_names_another_project(path):
    text = path.read_text(encoding="utf-8")
    wrong = [
        (n, line.strip())
        for n, line in enumerate(text.splitlines(), start=1)
        if _WRONG_HINT.search(line) and "do not" not in line
    ]
    assert not wrong, f"{path.relative_to(ROOT)}: {wrong}"


def test_wrong_hint_pattern():
    assert _WRONG_HINT.search('pip install "sknet[onnx]"')
    assert _WRONG_HINT.search("pip install sknet")
    assert not _WRONG_HINT.search('pip install "sknet-layers[onnx]"')
    assert not _WRONG_HINT.search("python -m pip install -e .")


def test_runtime_install_hints_name_the_distribution():
    from sknet import plotting

    assert plotting._INSTALL_HINT == f'pip install "{DISTRIBUTION}[plot]"'
    onnx_source = (PACKAGE / "onnx.py").read_text(encoding="utf-8")
    assert f"pip install '{DISTRIBUTION}[onnx]'" in onnx_source


# -- the API page ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def conf():
    """docs/conf.py's names (importing it needs no Sphinx)."""
    saved = list(sys.path)
    try:
        return runpy.run_path(str(DOCS / "conf.py"))
    finally:
        sys.path[:] = saved


def _documented_objects(conf):
    for full in sorted(conf["_documented_names"](str(DOCS / "api.rst"))):
        module_name, name = full.rsplit(".", 1)
        module = _import(module_name)
        if module is not None:
            yield full, getattr(module, name)


def test_api_page_names_no_private_module(conf):
    private = re.compile(r"\bsknet\._[a-z]\w*")
    found = []
    for module_name in conf["_PUBLIC_MODULES"]:
        module = _import(module_name)
        doc = "" if module is None else module.__doc__ or ""
        found.extend((module_name, m) for m in private.findall(doc))
    for full, obj in _documented_objects(conf):
        docs = [obj.__doc__ or ""]
        if inspect.isclass(obj):
            for name, member in inspect.getmembers(obj):
                owner = getattr(member, "__module__", None) or ""
                if not name.startswith("_") and owner.startswith("sknet"):
                    docs.append(getattr(member, "__doc__", None) or "")
        found.extend((full, m) for doc in docs for m in private.findall(doc))
    assert not found, found


def test_scikit_learn_version_notes_are_left_out(conf):
    from sknet import LayeredClassifier

    lines = [
        "Set output container.",
        "",
        ".. versionadded:: 1.3",
        "    Some detail.",
        "",
        "See :ref:`sphx_glr_auto_examples_x.py` and :term:`fit`.",
    ]
    method = LayeredClassifier.get_params  # scikit-learn's
    conf["_unlink_sklearn_references"](None, "method", "get_params", method, {}, lines)
    assert lines == ["Set output container.", "", "See sphx_glr_auto_examples_x.py and fit."]
    # sknet's own notes stay, with sknet's versions.
    own = ["Return a table.", "", ".. versionadded:: 0.2"]
    conf["_unlink_sklearn_references"](
        None, "method", "summary", LayeredClassifier.summary, {}, own
    )
    assert own == ["Return a table.", "", ".. versionadded:: 0.2"]
    assert ".. versionadded:: 0.2" in LayeredClassifier.summary.__doc__
    assert ".. versionadded:: 0.2" in sknet.Network.summary.__doc__


def test_intersphinx_covers_the_projects_with_an_offline_fallback(conf):
    mapping = conf["intersphinx_mapping"]
    assert set(mapping) >= {"sklearn", "numpy", "scipy", "torch"}
    for url, locations in mapping.values():
        assert url.startswith("https://")
        # The site first, then (offline) a local or empty inventory: a failed
        # fetch with a working alternative is not a warning, so -W passes.
        assert locations[0] is None and len(locations) >= 2
        assert locations[-1] == conf["_EMPTY_INVENTORY"]


# -- figures drawn by the build -----------------------------------------------------------------


@pytest.mark.parametrize(
    "page, drawn_with",
    [
        ("activations.rst", "get_activation"),
        ("losses.rst", "get_loss"),
        ("early_stopping.rst", "patterns"),
    ],
)
def test_user_guide_figures_are_drawn_at_build_time(page, drawn_with):
    text = (DOCS / "user_guide" / page).read_text(encoding="utf-8")
    assert ".. plot::" in text
    assert drawn_with in text


def test_front_figure_comes_from_the_build():
    # No hand-committed image: the front page shows the gallery's figure,
    # which the build draws, and the README links to the built docs' copy.
    assert not [p for p in (DOCS / "_static").glob("*") if p.suffix in {".png", ".jpg", ".svg"}]
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    figure = re.search(r"^\.\. figure:: (\S+)", index, re.M).group(1)
    assert figure == "auto_examples/images/sphx_glr_plot_activations_001.png"
    assert (DOCS / "examples" / "plot_activations.py").exists()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    image = re.search(r"!\[[^\]]*\]\((\S+)\)", readme).group(1)
    assert image.startswith(_project()["urls"]["Documentation"])
    assert image.endswith("/_images/sphx_glr_plot_activations_001.png")
