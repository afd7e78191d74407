"""The ``skbgmm`` command line: ``demo``, ``fit``, ``predict``, ``impute`` and ``score``.

Only the standard library is imported until a command runs, so ``skbgmm --help`` is instant.
Errors in the user's input (unreadable files, non-numeric cells, a model file that is not a
VariationalGMM) print one line and exit with status 2; outputs are written to a temporary file
and renamed, so nothing is left behind on failure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile


class UserError(Exception):
    """A problem with the user's input: reported on one line, exit status 2."""


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="skbgmm",
        description="Bayesian Gaussian mixtures by stochastic variational inference (TensorFlow).",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"skbgmm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="fit the reference recipe's 3-cluster data and print the posterior"
    )
    demo.add_argument(
        "--covariance-type",
        default="full",
        choices=["full", "tied", "diag", "spherical"],
        help="covariance form of each component (default full)",
    )
    demo.add_argument(
        "--n-samples", type=int, default=3000, help="points to generate, at least 30 (default 3000)"
    )
    demo.add_argument(
        "--n-components",
        type=int,
        default=10,
        help="upper bound on the number of components; the Dirichlet process keeps what the "
        "data need (default 10)",
    )
    demo.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    demo.add_argument(
        "--plot",
        metavar="FILE.png",
        help="save the fitted density over the data (needs matplotlib: pip install 'skbgmm[plot]')",
    )

    fit = sub.add_parser("fit", help="fit a model to a data file and save it")
    fit.add_argument(
        "data",
        help="CSV (header row optional; column names are kept), .npy or .parquet file",
    )
    fit.add_argument(
        "--n-components",
        type=int,
        required=True,
        help="upper bound on the number of components (the Dirichlet process switches off the "
        "ones the data do not need)",
    )
    fit.add_argument(
        "--covariance-type",
        default="full",
        choices=["full", "tied", "diag", "spherical"],
        help="covariance form of each component (default full)",
    )
    fit.add_argument("--batch-size", default="auto", help="minibatch rows, or 'auto' (the default)")
    fit.add_argument(
        "--max-iter", type=int, default=500, help="maximum passes over the data (default 500)"
    )
    fit.add_argument(
        "--random-state", type=int, default=None, help="seed for reproducible fits (default none)"
    )
    fit.add_argument(
        "--model",
        required=True,
        metavar="OUT",
        help="where to write the fitted model: an skbgmm model file (.npz of arrays, safe to "
        "load), whatever the name ends with",
    )
    fit.add_argument("--json", metavar="FILE", help="also write the posterior parameters as JSON")

    predict = sub.add_parser(
        "predict", help="label (or give probabilities for) the rows of a data file"
    )
    trust = (
        "also read a pickle or joblib model file; unpickling runs whatever code the file holds, "
        "so only for files you trust"
    )
    predict.add_argument("model", help="a model file written by 'skbgmm fit'")
    predict.add_argument("data", help="CSV, .npy or .parquet file with the model's columns")
    predict.add_argument("--proba", action="store_true", help="write component probabilities")
    predict.add_argument("--out", required=True, metavar="FILE", help="CSV or .npy output")
    predict.add_argument("--trust-pickle", action="store_true", help=trust)

    impute = sub.add_parser(
        "impute", help="fill the missing cells of a data file from the model's conditional law"
    )
    impute.add_argument("model", help="a model file written by 'skbgmm fit'")
    impute.add_argument(
        "data",
        help="CSV, .npy or .parquet file with the model's columns; empty, NA or NaN cells are "
        "missing",
    )
    impute.add_argument(
        "--out", required=True, metavar="FILE", help="CSV (with the data's header) or .npy output"
    )
    impute.add_argument(
        "--draw",
        action="store_true",
        help="fill with a draw from the conditional law (multiple imputation) instead of the "
        "conditional mean",
    )
    impute.add_argument(
        "--random-state", type=int, default=None, metavar="SEED", help="seed of the --draw draws"
    )
    impute.add_argument("--trust-pickle", action="store_true", help=trust)

    score = sub.add_parser("score", help="print the mean log predictive density of a data file")
    score.add_argument("model", help="a model file written by 'skbgmm fit'")
    score.add_argument("data", help="CSV, .npy or .parquet file with the model's columns")
    score.add_argument("--trust-pickle", action="store_true", help=trust)
    return parser


def _check_output(path, option):
    """Refuse an output path that cannot be written, before any work is done."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UserError(f"{option} {path} is a folder, not a file")
    if not os.path.isdir(folder):
        raise UserError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UserError(f"cannot write {path}: folder {folder} is not writable")


def _file_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _atomic_write(path, write):
    """Write through a temporary file in the same folder, then rename over ``path``."""
    _atomic_writes([(path, write)])


def _atomic_writes(outputs):
    """Write every ``(path, write)`` to a temporary file, then rename them all, or none.

    Files get the usual permissions (0666 less the umask), not a temporary file's 0600.
    """
    temps = []
    try:
        for path, write in outputs:
            _check_output(path, "output")
            folder = os.path.dirname(os.path.abspath(path))
            fd, tmp = tempfile.mkstemp(
                dir=folder, prefix=".skbgmm-", suffix=os.path.splitext(path)[1]
            )
            os.close(fd)
            temps.append(tmp)
            write(tmp)
            os.chmod(tmp, _file_mode())
        for (path, _), tmp in zip(outputs, temps):
            os.replace(tmp, path)
    except BaseException:
        for tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise


def read_data(path):
    """Read a numeric 2-D table from CSV (header optional), .npy or .parquet.

    Returns ``(X, names)``: ``names`` are the column names of a CSV header or a parquet file,
    None for a headerless CSV or a .npy file.
    """
    import numpy as np

    if not os.path.isfile(path):
        raise UserError(f"{path}: no such file")
    ext = os.path.splitext(path)[1].lower()
    names = None
    if ext == ".npy":
        try:
            X = np.load(path, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
            raise UserError(f"{path}: not a readable .npy file ({exc})") from None
    elif ext == ".parquet":
        try:
            import pandas as pd
        except ImportError:
            raise UserError(
                "reading .parquet needs pandas and pyarrow: pip install 'skbgmm[io]'"
            ) from None
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001
            raise UserError(f"{path}: not a readable parquet file ({exc})") from None
        bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        if bad:
            raise UserError(f"{path}: non-numeric column(s) {bad}")
        names = [str(c) for c in frame.columns]
        X = frame.to_numpy(dtype=float)
    else:
        X, names = _read_csv(path)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise UserError(f"{path}: expected a non-empty 2-D table of numbers, got shape {X.shape}")
    if X.dtype.kind not in "fiub":
        raise UserError(f"{path}: expected numbers, got dtype {X.dtype}")
    return X.astype(float), names


def _read_csv(path):
    """Rows of a CSV file; a first row of names only is a header (an Excel BOM is not a cell).

    An empty cell (or NA, NaN, null, ...) is a missing entry: NaN.

    A first column that pandas' ``DataFrame.to_csv`` writes by default (an unnamed header
    cell over the row numbers 0, 1, 2, ...) is an index, not a feature, and is dropped.
    """
    import csv

    import numpy as np

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: not a readable CSV file ({exc})") from None
    if not rows:
        raise UserError(f"{path}: the file holds no rows")
    names = None
    first = [_is_float(c) for c in rows[0]]
    if not any(first):
        names, rows = [c.strip() for c in rows[0]], rows[1:]
    elif not all(f or _is_missing(c) for f, c in zip(first, rows[0])):
        bad = next(c for c in rows[0] if not (_is_float(c) or _is_missing(c)))
        raise UserError(
            f"{path}: row 1 mixes numbers and text (cell {bad!r}): a header row must hold "
            "only names, and a data row only numbers"
        )
    if not rows:
        raise UserError(f"{path}: the file holds a header but no data rows")
    width = len(names) if names is not None else len(rows[0])
    values = []
    for i, row in enumerate(rows):
        if len(row) != width:
            raise UserError(f"{path}: row {i + 1} has {len(row)} columns, expected {width}")
        try:
            values.append([np.nan if _is_missing(c) else float(c) for c in row])
        except ValueError:
            bad = next(c for c in row if not (_is_float(c) or _is_missing(c)))
            raise UserError(f"{path}: non-numeric cell {bad!r} in data row {i + 1}") from None
    X = np.asarray(values, dtype=float)
    if names is not None and names[0] == "" and X.shape[1] > 1:
        if np.array_equal(X[:, 0], np.arange(X.shape[0])):
            X, names = X[:, 1:], names[1:]
    return X, names


#: cells that mark a missing entry (pandas' defaults, less the ambiguous ones)
_MISSING_CELLS = frozenset({"", "na", "n/a", "nan", "-nan", "null", "none", "#n/a"})


def _is_missing(text):
    return text.strip().lower() in _MISSING_CELLS


def _is_float(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


_ZIP_MAGIC = b"PK\x03\x04"


def _load_model(path, trust_pickle=False):
    """A model file written by 'skbgmm fit' (data only), or a trusted pickle when asked.

    The file's first bytes are read before anything else: a pickle is never unpickled unless
    ``trust_pickle``.
    """
    from ._estimator import VariationalGMM
    from ._io import load

    if not os.path.isfile(path):
        raise UserError(f"{path}: no such model file")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == _ZIP_MAGIC:
        try:
            return load(path)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    if not trust_pickle:
        raise UserError(
            f"{path}: not a model file written by 'skbgmm fit'. If it is a pickle or joblib "
            "file you trust, pass --trust-pickle (unpickling runs any code the file holds)"
        )
    import joblib

    try:
        model = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad model file
        raise UserError(f"{path}: not a readable pickle ({type(exc).__name__})") from None
    if not isinstance(model, VariationalGMM):
        raise UserError(f"{path}: holds a {type(model).__name__}, not a VariationalGMM")
    return model


def _posterior_json(model):
    import json

    import numpy as np

    def plain(v):
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        return np.asarray(v).tolist()

    keys = [
        "weights_",
        "means_",
        "covariances_",
        "precisions_cholesky_",
        "weight_concentration_",
        "mean_precision_",
        "degrees_of_freedom_",
        "weight_concentration_prior_",
        "mean_precision_prior_",
        "mean_prior_",
        "degrees_of_freedom_prior_",
        "covariance_prior_",
        "lower_bound_",
        "n_iter_",
        "converged_",
    ]
    doc = {"covariance_type": model.covariance_type, "n_components": model.n_components}
    if hasattr(model, "feature_names_in_"):
        doc["feature_names"] = [str(n) for n in model.feature_names_in_]
    doc.update({k: plain(getattr(model, k)) for k in keys})
    return json.dumps(doc, indent=1)


def _cmd_demo(args):
    import time

    from ._data import make_recipe_data
    from ._estimator import VariationalGMM

    if args.n_samples < 30:
        raise UserError(f"--n-samples must be at least 30, got {args.n_samples}")
    if args.n_components < 1:
        raise UserError(f"--n-components must be at least 1, got {args.n_components}")
    if args.plot:
        _check_output(args.plot, "--plot")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UserError("--plot needs matplotlib: pip install 'skbgmm[plot]'") from None
    X, _ = make_recipe_data(args.n_samples)
    print(f"Reference recipe data: {X.shape[0]} points, 3 clusters at (2, 0), (-2, -4), (-2, 4).")
    model = VariationalGMM(
        n_components=args.n_components,
        covariance_type=args.covariance_type,
        random_state=args.random_state,
    )
    t0 = time.perf_counter()
    model.fit(X)
    t1 = time.perf_counter()
    model.fit(X)
    t2 = time.perf_counter()
    print(
        f"Fitted {model!r} in {t1 - t0:.2f} s (includes TensorFlow start-up and tracing); "
        f"refit in {t2 - t1:.3f} s. {model.n_iter_} passes, converged={model.converged_}, "
        f"ELBO/point={model.lower_bound_:.4f}; {model.n_effective_components_} of "
        f"{args.n_components} components kept ({model.n_moves_['merges']} merges, "
        f"{model.n_moves_['deletes']} deletes)."
    )
    print(model.summary())
    if args.plot:
        from .plotting import plot_density

        def write(tmp):
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(6, 6))
            plot_density(model, X, ax=ax)
            fig.savefig(tmp, format="png", dpi=100)
            plt.close(fig)

        _atomic_write(args.plot, write)
        print(f"Density plot written to {args.plot}")
    return 0


def _cmd_fit(args):
    import warnings

    import numpy as np

    from ._estimator import VariationalGMM
    from ._io import save

    _check_output(args.model, "--model")
    if args.json:
        _check_output(args.json, "--json")
    X, names = read_data(args.data)
    batch = args.batch_size if args.batch_size == "auto" else _int(args.batch_size, "--batch-size")
    model = VariationalGMM(
        n_components=args.n_components,
        covariance_type=args.covariance_type,
        batch_size=batch,
        max_iter=args.max_iter,
        random_state=args.random_state,
        # a live progress bar on a terminal, nothing when the output is piped
        verbose=2 if sys.stderr.isatty() else 0,
    )
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            model.fit(X)
    except (ValueError, TypeError) as exc:
        raise UserError(f"cannot fit {args.data}: {exc}") from None
    # what the fit warns of reaches the user as one line each (a fit that did not converge,
    # a reg_covar that blurs the data), but not scikit-learn's note on feature names, which
    # are set below
    told = set()
    for caught_warning in caught:
        text = str(caught_warning.message)
        if not issubclass(caught_warning.category, UserWarning) or "feature names" in text:
            continue
        if text not in told:
            told.add(text)
            print(f"skbgmm fit: warning: {text}", file=sys.stderr)
    if names is not None:
        model.feature_names_in_ = np.asarray(names, dtype=object)
    outputs = [(args.model, lambda tmp: save(model, tmp))]
    if args.json:
        text = _posterior_json(model)

        def write_json(tmp):
            with open(tmp, "w") as fh:
                fh.write(text)

        outputs.append((args.json, write_json))
    _atomic_writes(outputs)
    print(model.summary())
    print(f"Model written to {args.model}")
    return 0


def _int(text, name):
    try:
        return int(text)
    except ValueError:
        raise UserError(f"{name} must be an integer or 'auto', got {text!r}") from None


def _checked(model, data, with_names=False):
    """The rows of ``data`` for ``model``: same width, same column names when both have them."""
    X, names = read_data(data)
    if with_names:
        return _checked_names(model, data, X, names), names
    return _checked_names(model, data, X, names)


def _checked_names(model, data, X, names):
    if X.shape[1] != model.n_features_in_:
        raise UserError(
            f"{data}: has {X.shape[1]} columns but the model was fitted on {model.n_features_in_}"
        )
    fitted = getattr(model, "feature_names_in_", None)
    if names is not None and fitted is not None and list(names) != [str(n) for n in fitted]:
        raise UserError(
            f"{data}: columns {names} do not match the model's {[str(n) for n in fitted]}"
        )
    return X


def _model_call(method, X, data):
    import warnings

    try:
        with warnings.catch_warnings():
            # the model may know its columns' names; the rows arrive as a plain array
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            return method(X)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{data}: {exc}") from None


def _cmd_predict(args):
    import numpy as np

    model = _load_model(args.model, args.trust_pickle)
    _check_output(args.out, "--out")
    X = _checked(model, args.data)
    out = _model_call(model.predict_proba if args.proba else model.predict, X, args.data)

    def write(tmp):
        if args.out.lower().endswith(".npy"):
            with open(tmp, "wb") as fh:
                np.save(fh, out)
        else:
            np.savetxt(
                tmp, np.atleast_2d(out.T).T, delimiter=",", fmt="%.10g" if args.proba else "%d"
            )

    _atomic_write(args.out, write)
    return 0


def _cmd_impute(args):
    import numpy as np

    model = _load_model(args.model, args.trust_pickle)
    _check_output(args.out, "--out")
    X, names = _checked(model, args.data, with_names=True)
    out = _model_call(
        lambda rows: model.impute(rows, sample_posterior=args.draw, random_state=args.random_state),
        X,
        args.data,
    )
    if names is None:
        fitted = getattr(model, "feature_names_in_", None)
        names = [str(n) for n in fitted] if fitted is not None else None

    def write(tmp):
        if args.out.lower().endswith(".npy"):
            with open(tmp, "wb") as fh:
                np.save(fh, out)
        else:
            header = "" if names is None else ",".join(names)
            np.savetxt(tmp, out, delimiter=",", fmt="%.10g", header=header, comments="")

    _atomic_write(args.out, write)
    return 0


def _cmd_score(args):
    model = _load_model(args.model, args.trust_pickle)
    X = _checked(model, args.data)
    print(f"{_model_call(model.score, X, args.data):.6f}")
    return 0


def main(argv=None):
    """Entry point of the ``skbgmm`` console script."""
    from skbgmm._svi._keras_deferral import defer

    defer()  # this process runs only skbgmm: TensorFlow's import skips Keras (~0.8 s)
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    command = {
        "demo": _cmd_demo,
        "fit": _cmd_fit,
        "predict": _cmd_predict,
        "impute": _cmd_impute,
        "score": _cmd_score,
    }
    try:
        return command[args.command](args)
    except UserError as exc:
        print(f"skbgmm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file that cannot be written or read after all
        print(f"skbgmm {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
