"""Sphinx configuration for the sknet documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html``.
"""

import html
import os
import re
import sys
import tempfile
import zlib

# Let the build work from a source checkout that was not installed.
sys.path.insert(0, os.path.abspath(".."))

project = "sknet"
author = "The sknet developers"
copyright = "The sknet developers"  # noqa: A001 (Sphinx's name for it)

# The checkout's own version: an installed copy could be another one.
import sknet  # noqa: E402 (after the sys.path line above)

release = sknet.__version__
version = ".".join(release.split(".")[:2])

# The distribution's name on the package index (the import name is sknet), and
# where the project lives. Placeholders until the project is published.
distribution = "sknet-layers"
repository_url = "https://github.com/sknet-layers/sknet-layers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "examples/README.txt"]
default_role = "literal"

# -- autosummary / autodoc / numpydoc ----------------------------------------
autosummary_generate = True
autodoc_typehints = "none"
# The class template lists methods itself; numpydoc's own member table would
# need a stub page per method.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- intersphinx ----------------------------------------------------------------
# Links to the projects sknet builds on. Each inventory is fetched from the
# project's site; a build without network (CI here is one) then falls back to
# a copy in docs/_intersphinx/<name>.inv when there is one (drop a project's
# objects.inv there to get its links offline), and last to an empty inventory,
# so that a failed fetch is not a warning: the references stay plain text.
_INTERSPHINX_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "_intersphinx"
)
_EMPTY_INVENTORY = os.path.join(
    tempfile.gettempdir(), f"{distribution}-docs-empty-objects.inv"
)
_INTERSPHINX_SITES = {
    "python": "https://docs.python.org/3/",
    "joblib": "https://joblib.readthedocs.io/en/stable/",
    "sklearn": "https://scikit-learn.org/stable/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "torch": "https://docs.pytorch.org/docs/stable/",
}


def _inventory_locations(name):
    local = os.path.join(_INTERSPHINX_DIR, f"{name}.inv")
    return (
        None,
        *([local] if os.path.isfile(local) else []),
        _EMPTY_INVENTORY,
    )


intersphinx_mapping = {
    name: (url, _inventory_locations(name))
    for name, url in _INTERSPHINX_SITES.items()
}
intersphinx_timeout = 10

# -- figures drawn at build time (the ``plot`` directive) ------------------------
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 144)]
plot_rcparams = {"figure.autolayout": True, "font.size": 9}
plot_apply_rcparams = True

# -- sphinx-gallery -----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("sknet",),
    "backreferences_dir": os.path.join("generated", "backreferences"),
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 0,
    "matplotlib_animations": False,
}

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sknet {release}"
html_static_path = ["_static"]
html_css_files = ["sknet.css"]
html_theme_options = {
    "navbar_align": "left",
    "icon_links": [
        {
            "name": "Source code",
            "url": repository_url,
            "icon": "fa-brands fa-github",
        },
    ],
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {"install": [], "migrating": []}


# -- Completeness of the API reference ----------------------------------------
# Every public name must be on the API page, and every documented name must carry
# a docstring example. Both are reported as warnings, so ``-W`` fails the build.

_PUBLIC_MODULES = [
    "sknet",
    "sknet.activations",
    "sknet.losses",
    "sknet.optimizers",
    "sknet.schedules",
    "sknet.plotting",
    "sknet.training",
    "sknet.backends",
    "sknet.onnx",
]


def _documented_names(api_path):
    """Full names listed in the autosummary tables of ``api.rst``."""
    names, module, in_table = set(), None, False
    with open(api_path, encoding="utf-8") as f:
        for line in f:
            match = re.match(r"\.\. currentmodule:: (\S+)", line)
            if match:
                module = match.group(1)
            if line.startswith(".. autosummary::"):
                in_table = True
            elif in_table and re.match(r"   [A-Za-z_]\w*\s*$", line):
                names.add(f"{module}.{line.strip()}")
            elif in_table and line.strip() and not line.startswith("   "):
                in_table = False
    return names


def _check_api_reference(app):
    import importlib

    from sphinx.util import logging

    logger = logging.getLogger("sknet.api")
    api_path = os.path.join(app.srcdir, "api.rst")
    documented = _documented_names(api_path)
    top = importlib.import_module("sknet")
    for module_name in _PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            if (
                name.startswith("__") or name.isupper()
            ):  # __version__, registries
                continue
            full = f"{module_name}.{name}"
            also_top = getattr(top, name, None) is getattr(module, name)
            if full not in documented and not (
                also_top and f"sknet.{name}" in documented
            ):
                logger.warning(f"public name {full} is missing from api.rst")
    for full in sorted(documented):
        module_name, name = full.rsplit(".", 1)
        try:
            obj = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):
            continue  # autosummary reports names it cannot import
        if "Examples\n" not in (obj.__doc__ or ""):
            logger.warning(f"{full} has no Examples section in its docstring")


# -- Docstrings inherited from scikit-learn ------------------------------------
# The estimators inherit get_params, score, set_*_request and friends from
# scikit-learn, whose docstrings cross-reference labels and glossary terms that
# exist only in scikit-learn's own documentation. Render those references as
# plain text instead of leaving broken links. Their "versionadded" and
# "versionchanged" notes give scikit-learn's versions, which would read as
# sknet's on sknet's pages: they are left out.

_SKLEARN_ROLE = re.compile(r":(?:ref|term):`(?:([^`<]*?)\s*<[^`>]*>|([^`]*))`")
_VERSION_NOTE = re.compile(r"^(\s*)\.\. version(?:added|changed)::")


def _unlink_sklearn_references(app, what, name, obj, options, lines):
    module = getattr(obj, "__module__", None) or ""
    if not module.startswith("sklearn"):
        return
    kept, note_indent = [], None
    for line in lines:
        if note_indent is not None:
            # A note runs on over its more-indented (or blank) lines.
            if (
                not line.strip()
                or len(line) - len(line.lstrip()) > note_indent
            ):
                continue
            note_indent = None
        match = _VERSION_NOTE.match(line)
        if match:
            note_indent = len(match.group(1))
            continue
        kept.append(
            _SKLEARN_ROLE.sub(lambda m: m.group(1) or m.group(2), line)
        )
    lines[:] = kept


# -- Offline intersphinx ----------------------------------------------------------


def _write_empty_inventory(app, config):
    """The last-resort inventory of every intersphinx project (see above)."""
    header = (
        "# Sphinx inventory version 2\n"
        "# Project: none (offline build)\n"
        "# Version: \n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    with open(_EMPTY_INVENTORY, "wb") as f:
        f.write(header.encode() + zlib.compress(b""))


def _report_missing_inventories(app):
    from sphinx.util import logging

    logger = logging.getLogger("sknet.intersphinx")
    named = getattr(app.env, "intersphinx_named_inventory", {})
    for name in _INTERSPHINX_SITES:
        if not named.get(name):
            logger.info(
                f"intersphinx: no inventory for {name!r} (offline?); "
                "references to it stay plain text"
            )


# -- What a reader sees ---------------------------------------------------------
# Checked on the built pages, so that -W fails the build:
# - every line of code and printed output fits 79 columns (the content column
#   shows that many at 1280 px; wider lines are cut off, with a scroll bar);
# - no page names a private module (sknet._something).

MAX_COLUMNS = 79
_PRE = re.compile(r"<pre[^>]*>(.*?)</pre>", re.S)
_TAG = re.compile(r"<[^>]+>")
_PRIVATE = re.compile(r"\bsknet\._[a-z]\w*")


def _check_built_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    from sphinx.util import logging

    logger = logging.getLogger("sknet.pages")
    for root, _, files in os.walk(app.outdir):
        for file in files:
            if not file.endswith(".html") or file in (
                "genindex.html",
                "search.html",
            ):
                continue
            path = os.path.join(root, file)
            page = os.path.relpath(path, app.outdir)
            if page.startswith("_"):  # _modules, _static, ...
                continue
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for block in _PRE.findall(text):
                for line in html.unescape(_TAG.sub("", block)).splitlines():
                    if len(line.rstrip()) > MAX_COLUMNS:
                        logger.warning(
                            f"{page}: a line of code or output is {len(line.rstrip())} "
                            f"columns wide (at most {MAX_COLUMNS}): {line.strip()[:60]}..."
                        )
            # The estimators' summary names sknet._summary nowhere; neither
            # may any page (the sknet.css stylesheet's name is not a module).
            for match in sorted(set(_PRIVATE.findall(_TAG.sub("", text)))):
                logger.warning(f"{page}: names the private module {match}")


def setup(app):
    app.connect("config-inited", _write_empty_inventory)
    app.connect("builder-inited", _check_api_reference)
    app.connect("builder-inited", _report_missing_inventories, priority=900)
    app.connect("autodoc-process-docstring", _unlink_sklearn_references)
    app.connect("build-finished", _check_built_pages)
