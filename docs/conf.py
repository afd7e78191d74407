"""Sphinx configuration of the skbgmm documentation.

Sphinx with numpydoc and sphinx-gallery, as scikit-learn and its contrib projects use: the API
reference comes from the numpydoc docstrings, and the gallery runs ``examples/plot_*.py`` and
shows the figures they draw (no image is committed).
"""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

project = "skbgmm"
author = "the skbgmm developers"
copyright = "2026, the skbgmm developers"
release = version = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
templates_path = []
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip"]
html_theme = "pydata_sphinx_theme"
html_title = "skbgmm"
html_theme_options = {"navigation_with_keys": False}
autosummary_generate = True
autodoc_default_options = {}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
intersphinx_mapping = {}

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "min_reported_time": 1,
}
suppress_warnings = ["config.cache"]
