"""The ``skbgmm`` command line: ``demo``, ``fit``, ``predict`` and ``score``.

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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="fit the reference recipe's 3-cluster data and print the posterior"
    )
    demo.add_argument(
        "--covariance-type", default="full", choices=["full", "tied", "diag", "spherical"]
    )
    demo.add_argument(
        "--n-samples", type=int, default=3000, help="points to generate (default 3000)"
    )
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument(
        "--plot",
        metavar="FILE.png",
        help="save the fitted density over the data (needs matplotlib)",
    )

    fit = sub.add_parser("fit", help="fit a model to a data file and save it")
    fit.add_argument("data", help="CSV (header optional), .npy or .parquet file")
    fit.add_argument("--n-components", type=int, required=True)
    fit.add_argument(
        "--covariance-type", default="full", choices=["full", "tied", "diag", "spherical"]
    )
    fit.add_argument("--batch-size", default="auto", help="minibatch rows or 'auto'")
    fit.add_argument("--max-iter", type=int, default=100)
    fit.add_argument("--random-state", type=int, default=None)
    fit.add_argument(
        "--model", required=True, metavar="OUT", help="where to write the fitted model (joblib)"
    )
    fit.add_argument("--json", metavar="FILE", help="also write the posterior parameters as JSON")

    predict = sub.add_parser(
        "predict", help="label (or give probabilities for) the rows of a data file"
    )
    predict.add_argument("model")
    predict.add_argument("data")
    predict.add_argument("--proba", action="store_true", help="write component probabilities")
    predict.add_argument("--out", required=True, metavar="FILE", help="CSV or .npy output")

    score = sub.add_parser("score", help="print the mean log predictive density of a data file")
    score.add_argument("model")
    score.add_argument("data")
    return parser


def _atomic_write(path, write):
    """Write through a temporary file in the same folder, then rename over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"cannot write {path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".skbgmm-", suffix=os.path.splitext(path)[1])
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_data(path):
    """Read a numeric 2-D array from CSV (header optional), .npy or .parquet."""
    import numpy as np

    if not os.path.isfile(path):
        raise UserError(f"{path}: no such file")
    ext = os.path.splitext(path)[1].lower()
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
        X = frame.to_numpy(dtype=float)
    else:
        X = _read_csv(path)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise UserError(f"{path}: expected a non-empty 2-D table of numbers, got shape {X.shape}")
    if X.dtype.kind not in "fiub":
        raise UserError(f"{path}: expected numbers, got dtype {X.dtype}")
    return X.astype(float)


def _read_csv(path):
    import csv

    import numpy as np

    try:
        with open(path, newline="") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: not a readable CSV file ({exc})") from None
    if not rows:
        raise UserError(f"{path}: the file holds no rows")

    def numeric(row):
        try:
            [float(c) for c in row]
            return True
        except ValueError:
            return False

    if not numeric(rows[0]):
        rows = rows[1:]  # a header
    width = len(rows[0]) if rows else 0
    values = []
    for i, row in enumerate(rows):
        if len(row) != width:
            raise UserError(f"{path}: row {i + 1} has {len(row)} columns, expected {width}")
        try:
            values.append([float(c) for c in row])
        except ValueError:
            bad = next(c for c in row if not _is_float(c))
            raise UserError(f"{path}: non-numeric cell {bad!r} in data row {i + 1}") from None
    return np.asarray(values, dtype=float)


def _is_float(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _load_model(path):
    import joblib

    from ._estimator import VariationalGMM

    if not os.path.isfile(path):
        raise UserError(f"{path}: no such model file")
    try:
        model = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad model file
        raise UserError(
            f"{path}: not a model file written by 'skbgmm fit' ({type(exc).__name__})"
        ) from None
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
    doc.update({k: plain(getattr(model, k)) for k in keys})
    return json.dumps(doc, indent=1)


def _cmd_demo(args):
    import time

    from ._data import make_recipe_data
    from ._estimator import VariationalGMM

    X, _ = make_recipe_data(args.n_samples)
    print(f"Reference recipe data: {X.shape[0]} points, 3 clusters at (2, 0), (-2, -4), (-2, 4).")
    model = VariationalGMM(
        n_components=3, covariance_type=args.covariance_type, random_state=args.random_state
    )
    t0 = time.perf_counter()
    model.fit(X)
    t1 = time.perf_counter()
    model.fit(X)
    t2 = time.perf_counter()
    print(
        f"Fitted VariationalGMM(covariance_type={args.covariance_type!r}) in {t1 - t0:.2f} s "
        f"(includes TensorFlow start-up and tracing); refit in {t2 - t1:.3f} s. "
        f"{model.n_iter_} passes, converged={model.converged_}, ELBO/point={model.lower_bound_:.4f}"
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
    import joblib

    from ._estimator import VariationalGMM

    X = read_data(args.data)
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
        model.fit(X)
    except (ValueError, TypeError) as exc:
        raise UserError(f"cannot fit {args.data}: {exc}") from None
    _atomic_write(args.model, lambda tmp: joblib.dump(model, tmp))
    if args.json:
        text = _posterior_json(model)
        _atomic_write(args.json, lambda tmp: open(tmp, "w").write(text))
    print(model.summary())
    print(f"Model written to {args.model}")
    return 0


def _int(text, name):
    try:
        return int(text)
    except ValueError:
        raise UserError(f"{name} must be an integer or 'auto', got {text!r}") from None


def _checked(model, X, data):
    if X.shape[1] != model.n_features_in_:
        raise UserError(
            f"{data}: has {X.shape[1]} columns but the model was fitted on {model.n_features_in_}"
        )
    return X


def _cmd_predict(args):
    import numpy as np

    model = _load_model(args.model)
    X = _checked(model, read_data(args.data), args.data)
    out = model.predict_proba(X) if args.proba else model.predict(X)

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


def _cmd_score(args):
    model = _load_model(args.model)
    X = _checked(model, read_data(args.data), args.data)
    print(f"{model.score(X):.6f}")
    return 0


def main(argv=None):
    """Entry point of the ``skbgmm`` console script."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = {"demo": _cmd_demo, "fit": _cmd_fit, "predict": _cmd_predict, "score": _cmd_score}
    try:
        return command[args.command](args)
    except UserError as exc:
        print(f"skbgmm {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
