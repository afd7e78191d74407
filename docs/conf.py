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
    "sphinx-mathjax-offline",  # MathJax served with the docs: maths renders without a network
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
# links to the projects' pages through inventories shipped in docs/_inventories (written by
# make_inventories.py), so that the build reads no network
_INV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_inventories")
intersphinx_mapping = {
    "sklearn": ("https://scikit-learn.org/stable/", os.path.join(_INV, "sklearn.inv")),
    "numpy": ("https://numpy.org/doc/stable/", os.path.join(_INV, "numpy.inv")),
    "pandas": ("https://pandas.pydata.org/docs/", os.path.join(_INV, "pandas.inv")),
    "dask_ml": ("https://ml.dask.org/", os.path.join(_INV, "dask_ml.inv")),
    "tfp": (
        "https://www.tensorflow.org/probability/api_docs/python/",
        os.path.join(_INV, "tfp.inv"),
    ),
}

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
