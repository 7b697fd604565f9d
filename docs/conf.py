"""Sphinx configuration for the sknet documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html``.
"""

import os
import re
import sys
from importlib import metadata

# Let the build work from a source checkout that was not installed.
sys.path.insert(0, os.path.abspath(".."))

project = "sknet"
author = "The sknet developers"
copyright = "The sknet developers"  # noqa: A001 (Sphinx's name for it)

try:
    release = metadata.version("sknet")
except metadata.PackageNotFoundError:  # pragma: no cover - source checkout
    release = "0.1.0"
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
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

# -- sphinx-gallery -----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("sknet",),
    "backreferences_dir": os.path.join("generated", "backreferences"),
    "reference_url": {"sknet": None},
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 0,
    "matplotlib_animations": False,
}

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sknet {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navbar_align": "left",
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
            if name.startswith("__") or name.isupper():  # __version__, registries
                continue
            full = f"{module_name}.{name}"
            also_top = getattr(top, name, None) is getattr(module, name)
            if full not in documented and not (also_top and f"sknet.{name}" in documented):
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
# plain text instead of leaving broken links.

_SKLEARN_ROLE = re.compile(r":(?:ref|term):`(?:([^`<]*?)\s*<[^`>]*>|([^`]*))`")


def _unlink_sklearn_references(app, what, name, obj, options, lines):
    module = getattr(obj, "__module__", None) or ""
    if not module.startswith("sklearn"):
        return
    for i, line in enumerate(lines):
        lines[i] = _SKLEARN_ROLE.sub(lambda m: m.group(1) or m.group(2), line)


def setup(app):
    app.connect("builder-inited", _check_api_reference)
    app.connect("autodoc-process-docstring", _unlink_sklearn_references)
