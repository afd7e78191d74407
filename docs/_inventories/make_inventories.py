"""Write the small intersphinx inventories the docs link through, so the build needs no network.

The docs are built offline (on CI and by readers without a connection), so intersphinx reads
these local files instead of downloading each project's ``objects.inv``; the links they make
point to the projects' published pages. Each inventory lists only the objects the docs
reference. Run ``python docs/_inventories/make_inventories.py`` after referencing a new one.
"""

import os
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

INVENTORIES = {
    "sklearn": (
        "scikit-learn",
        [
            ("sklearn.mixture.BayesianGaussianMixture", "class"),
            ("sklearn.mixture.GaussianMixture", "class"),
            ("sklearn.decomposition.LatentDirichletAllocation", "class"),
            ("sklearn.impute.MissingIndicator", "class"),
            ("sklearn.impute.IterativeImputer", "class"),
            ("sklearn.impute.SimpleImputer", "class"),
            ("sklearn.impute.KNNImputer", "class"),
            ("sklearn.exceptions.ConvergenceWarning", "class"),
            ("sklearn.pipeline.Pipeline", "class"),
            ("sklearn.model_selection.GridSearchCV", "class"),
            ("sklearn.impute", "module"),
        ],
        lambda name, role: (
            f"api/{name}.html#module-$" if role == "module" else f"modules/generated/{name}.html#$"
        ),
    ),
    "numpy": (
        "NumPy",
        [
            ("numpy.memmap", "class"),
            ("numpy.ndarray", "class"),
            ("numpy.random.RandomState", "class"),
        ],
        lambda name, role: (
            "reference/random/legacy.html#$"
            if name == "numpy.random.RandomState"
            else f"reference/generated/{name}.html#$"
        ),
    ),
    "pandas": (
        "pandas",
        [("pandas.DataFrame", "class")],
        lambda name, role: f"reference/api/{name}.html#$",
    ),
    "dask_ml": (
        "dask-ml",
        [("dask_ml.wrappers.Incremental", "class")],
        lambda name, role: f"modules/generated/{name}.html#$",
    ),
    "tfp": (
        "TensorFlow Probability",
        [
            (f"tfp.distributions.{d}", "class")
            for d in (
                "Beta",
                "Dirichlet",
                "Gamma",
                "MixtureSameFamily",
                "MultivariateStudentTLinearOperator",
                "StudentT",
                "WishartTriL",
            )
        ],
        lambda name, role: name.replace(".", "/"),
    ),
}


def write(key):
    project, objects, uri = INVENTORIES[key]
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        "# Version: stable\n"
        "# The remainder of this file is compressed using zlib.\n"
    ).encode()
    body = "".join(f"{name} py:{role} 1 {uri(name, role)} -\n" for name, role in objects)
    with open(os.path.join(HERE, f"{key}.inv"), "wb") as fh:
        fh.write(header + zlib.compress(body.encode()))


if __name__ == "__main__":
    for key in INVENTORIES:
        write(key)
