"""Sphinx configuration for the sknet documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html``.
"""

import os
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
