"""Model files that hold only data: :func:`save` and :func:`load`.

A model file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) with a JSON header, read
with ``allow_pickle=False``: loading one never runs code, whoever wrote it. It holds the
constructor parameters, the fitted attributes, the trainer state that ``warm_start`` and
``partial_fit`` continue, the state of a ``RandomState`` passed as ``random_state``, the skbgmm
version that wrote it and a format version. :func:`load` validates everything it reads (shapes
against ``n_components``, ``n_features_in_`` and ``covariance_type``, finiteness, positive
definiteness, the consistency of derived attributes) and refuses a truncated, tampered or
future-version file with a ``ValueError``. Plain NumPy and JSON: nothing here imports TensorFlow.
"""

from __future__ import annotations

import io
import json
import numbers
import os
import zipfile

import numpy as np

FORMAT = "skbgmm-model"
FORMAT_VERSION = 1

_ARRAY_ATTRIBUTES = [
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
    "mean_precision_",
    "degrees_of_freedom_",
    "mean_prior_",
    "lower_bounds_",
]
_SCALAR_ATTRIBUTES = {
    "weight_concentration_prior_": float,
    "mean_precision_prior_": float,
    "degrees_of_freedom_prior_": float,
    "n_effective_components_": int,
    "n_steps_": int,
    "converged_": bool,
    "n_iter_": int,
    "lower_bound_": float,
    "n_samples_seen_": float,
    "n_features_in_": int,
}


def _json_param(name, value):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"parameter {name}={value!r} cannot be written to a model file")


def save(model, path):
    """Write a :class:`VariationalGMM` to a model file that holds only data.

    Parameters
    ----------
    model : VariationalGMM
        The estimator, fitted or not.
    path : str, os.PathLike or binary file object
        Where to write. The file is a NumPy ``.npz`` archive whatever its name ends with.
    """
    from ._estimator import VariationalGMM

    if not isinstance(model, VariationalGMM):
        raise TypeError(f"save() writes a VariationalGMM, got {type(model).__name__}")
    arrays = {}
    params, array_params = {}, []
    for name, value in model.get_params(deep=False).items():
        if name == "random_state" and isinstance(value, np.random.RandomState):
            kind, keys, pos, has_gauss, cached = value.get_state()
            arrays["random_state/keys"] = np.asarray(keys)
            params[name] = {
                "RandomState": [kind, int(pos), int(has_gauss), float(cached)],
            }
        elif value is not None and not np.isscalar(value) and not isinstance(value, str):
            arrays[f"param/{name}"] = np.asarray(value, dtype=np.float64)
            array_params.append(name)
        else:
            params[name] = _json_param(name, value)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skbgmm_version": _version(),
        "params": params,
        "array_params": array_params,
        "fitted": hasattr(model, "_fit_config"),
    }
    if header["fitted"]:
        header["config"] = list(model._fit_config)
        header["scalars"] = {
            k: _SCALAR_ATTRIBUTES[k](getattr(model, k)) for k in _SCALAR_ATTRIBUTES
        }
        header["n_moves"] = {k: int(v) for k, v in getattr(model, "n_moves_", {}).items()}
        header["feature_names"] = (
            [str(n) for n in model.feature_names_in_]
            if hasattr(model, "feature_names_in_")
            else None
        )
        for name in _ARRAY_ATTRIBUTES:
            arrays[f"attr/{name}"] = np.asarray(getattr(model, name), dtype=np.float64)
        arrays["attr/weight_concentration_"] = np.asarray(
            model.weight_concentration_, dtype=np.float64
        )
        arrays["attr/covariance_prior_"] = np.asarray(model.covariance_prior_, dtype=np.float64)
        state = model._state
        header["state"] = None
        if state is not None:
            header["state"] = {
                "n_steps": int(state.n_steps),
                "total_samples": float(state.total_samples),
                "memo": state.memo is not None,
                "pending": state.pending is not None,
            }
            if state.pending is not None:
                pending = state.pending
                arrays["state/pending/X"] = np.asarray(pending.X, dtype=np.float64)
                arrays["state/pending/w"] = np.asarray(pending.w, dtype=np.float64)
                for field, value in zip(("nk", "s1", "s2"), pending.stats):
                    arrays[f"state/pending/stats/{field}"] = np.asarray(value, dtype=np.float64)
                arrays["state/pending/memo/entropy"] = np.asarray(pending.memo.entropy)
                arrays["state/pending/memo/pair_entropy"] = np.asarray(pending.memo.pair_entropy)
            for field, value in zip(("nk", "s1", "s2"), state.stats):
                arrays[f"state/stats/{field}"] = np.asarray(value, dtype=np.float64)
            arrays["state/frame/shift"] = np.asarray(state.frame.shift, dtype=np.float64)
            arrays["state/frame/scale"] = np.asarray(state.frame.scale, dtype=np.float64)
            if state.memo is not None:
                arrays["state/memo/entropy"] = np.asarray(state.memo.entropy, dtype=np.float64)
                arrays["state/memo/pair_entropy"] = np.asarray(
                    state.memo.pair_entropy, dtype=np.float64
                )
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    if hasattr(path, "write"):
        np.savez(path, **arrays)
        return
    with open(os.fspath(path), "wb") as fh:  # (np.savez would append '.npz' to a name)
        np.savez(fh, **arrays)


def _version():
    from . import __version__

    return __version__


class _Reader:
    """Typed access to the archive's arrays, with messages that name the file and the field."""

    def __init__(self, arrays, where):
        self.arrays, self.where = arrays, where

    def fail(self, message):
        raise ValueError(f"{self.where}: {message}")

    def array(self, key, shape=None, positive=False, nonnegative=False):
        if key not in self.arrays:
            self.fail(f"the model file lacks '{key}' (truncated or not written by skbgmm)")
        a = self.arrays[key]
        if a.dtype.kind not in "fiu":
            self.fail(f"'{key}' holds {a.dtype}, not numbers")
        a = a.astype(np.float64)
        if shape is not None and a.shape != tuple(shape):
            self.fail(f"'{key}' has shape {a.shape}, expected {tuple(shape)}")
        if not np.all(np.isfinite(a)):
            self.fail(f"'{key}' holds NaN or infinite values")
        if positive and not np.all(a > 0):
            self.fail(f"'{key}' must be positive")
        if nonnegative and not np.all(a >= 0):
            self.fail(f"'{key}' must be non-negative")
        return a


def load(path):
    """Read a model file written by :func:`save` (or ``skbgmm fit``), validating everything.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        The model file.

    Returns
    -------
    model : VariationalGMM
        The estimator, exactly as it was saved: its predictions, ``score_samples``, ``sample``
        and a ``partial_fit`` or ``warm_start`` continuation equal the original's.

    Raises
    ------
    ValueError
        If the file is not a model file (a pickle is refused without being unpickled), is
        truncated or tampered with, or was written by a later format version.
    """
    where = getattr(path, "name", "<file>") if hasattr(path, "read") else os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ValueError(
                f"{where}: holds pickled data, not an skbgmm model file; a pickle can run code "
                "when it is loaded, so it is not read here"
            ) from None
        raise ValueError(f"{where}: not a readable skbgmm model file ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, io.UnsupportedOperation) as exc:
        raise ValueError(f"{where}: not a readable skbgmm model file ({exc})") from None
    r = _Reader(arrays, where)
    if "header" not in arrays or arrays["header"].dtype != np.uint8:
        r.fail("no skbgmm header: not an skbgmm model file")
    try:
        header = json.loads(arrays["header"].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        r.fail(f"the header is not valid JSON ({exc})")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        r.fail("not an skbgmm model file (wrong format name)")
    version = header.get("format_version")
    if not isinstance(version, int) or version < 1:
        r.fail(f"unknown format version {version!r}")
    if version > FORMAT_VERSION:
        r.fail(
            f"written in format version {version} (by skbgmm {header.get('skbgmm_version')}); "
            f"this skbgmm ({_version()}) reads versions up to {FORMAT_VERSION}: upgrade skbgmm"
        )
    return _build(header, r)


def _build(header, r):
    from sklearn.base import clone

    from ._estimator import VariationalGMM
    from ._svi._family_shapes import COVARIANCE_SHAPES, WEIGHT_SHAPES
    from ._svi._records import Config, Frame, Memo, Pending, State, Stats

    params = dict(header.get("params") or {})
    rs = params.get("random_state")
    if isinstance(rs, dict):
        kind, pos, has_gauss, cached = rs.get("RandomState", [None] * 4)
        keys = r.array("random_state/keys").astype(np.uint32)
        state = np.random.RandomState()
        try:
            state.set_state((kind, keys, int(pos), int(has_gauss), float(cached)))
        except (TypeError, ValueError) as exc:
            r.fail(f"bad random_state ({exc})")
        params["random_state"] = state
    for name in header.get("array_params") or []:
        params[name] = r.array(f"param/{name}")
    try:
        model = VariationalGMM(**params)
        model._check_params()
        clone(model)
    except (TypeError, ValueError) as exc:
        r.fail(f"bad parameters ({exc})")
    if not header.get("fitted"):
        return model

    config = header.get("config")
    if (
        not isinstance(config, list)
        or len(config) != 2
        or config[0] not in COVARIANCE_SHAPES
        or config[1] not in WEIGHT_SHAPES
    ):
        r.fail(f"bad model configuration {config!r}")
    config = Config(*config)
    if tuple(config) != (model.covariance_type, model.weight_concentration_prior_type):
        r.fail("the fitted configuration does not match the parameters")
    shapes = COVARIANCE_SHAPES[config.covariance_type]
    wp = WEIGHT_SHAPES[config.weight_concentration_prior_type]
    scalars = header.get("scalars") or {}
    for name, kind in _SCALAR_ATTRIBUTES.items():
        value = scalars.get(name)
        if kind is bool:
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = ok and (np.isfinite(value) or name == "lower_bound_")
        if not ok:
            r.fail(f"bad or missing '{name}': {value!r}")
        setattr(model, name, kind(value))
    n_features = model.n_features_in_
    k = model.n_components
    if n_features < 1:
        r.fail(f"bad n_features_in_ {n_features}")
    cov_shape = shapes.covariance_shape(k, n_features)
    model.means_ = r.array("attr/means_", (k, n_features))
    model.mean_prior_ = r.array("attr/mean_prior_", (n_features,))
    model.covariances_ = r.array("attr/covariances_", cov_shape)
    model.precisions_cholesky_ = r.array("attr/precisions_cholesky_", cov_shape)
    model.precisions_ = r.array("attr/precisions_", cov_shape)
    model.mean_precision_ = r.array("attr/mean_precision_", (k,), positive=True)
    model.degrees_of_freedom_ = r.array("attr/degrees_of_freedom_", (k,))
    if not np.all(model.degrees_of_freedom_ > n_features - 1):
        r.fail("'degrees_of_freedom_' must exceed n_features - 1")
    wc_shape = (2, k) if wp.concentration_rank == 2 else (k,)
    wc = r.array("attr/weight_concentration_", wc_shape, positive=True)
    model.weight_concentration_ = wp.attribute(wc)
    model.weights_ = r.array("attr/weights_", (k,), nonnegative=True)
    model.lower_bounds_ = r.array("attr/lower_bounds_")
    if model.lower_bounds_.ndim != 1:
        r.fail("'lower_bounds_' must be one-dimensional")
    model.covariance_prior_ = shapes.prior_attribute(
        r.array("attr/covariance_prior_", shapes.prior_shape(n_features))
    )
    for name in ("weight_concentration_prior_", "mean_precision_prior_"):
        if not getattr(model, name) > 0:
            r.fail(f"'{name}' must be positive")
    if not model.degrees_of_freedom_prior_ > n_features - 1:
        r.fail("'degrees_of_freedom_prior_' must exceed n_features - 1")
    # derived attributes must agree with what they derive from (a tampered file does not)
    if not np.allclose(model.weights_, wp.mean_weights(wc), rtol=1e-9, atol=1e-12):
        r.fail("'weights_' do not match 'weight_concentration_'")
    u = model.precisions_cholesky_
    if shapes.cov_rank == 3 or shapes.shared:
        diag = np.diagonal(u, axis1=-2, axis2=-1)
        if not np.all(diag > 0) or not np.allclose(np.triu(u), u):
            r.fail(
                "'precisions_cholesky_' is not an upper-triangular factor with a positive diagonal"
            )
    elif not np.all(u > 0):
        r.fail("'precisions_cholesky_' must be positive")
    precisions = shapes.precisions(u)
    if not np.allclose(
        model.precisions_, precisions, rtol=1e-9, atol=1e-12 * np.abs(precisions).max()
    ):
        r.fail("'precisions_' do not match 'precisions_cholesky_'")
    full_cov = shapes.full_covariances(model.covariances_, k, n_features)
    full_prec = shapes.full_covariances(precisions, k, n_features)
    # scale-free: C P = I is checked on the correlation scale, so features on very different
    # scales do not turn rounding into a false alarm
    spread = np.sqrt(np.abs(np.diagonal(full_cov, axis1=-2, axis2=-1)))
    eye = np.broadcast_to(np.eye(n_features), full_cov.shape)
    if not np.all(spread > 0) or not np.allclose(
        (full_cov / (spread[..., :, None] * spread[..., None, :]))
        @ (full_prec * (spread[..., :, None] * spread[..., None, :])),
        eye,
        atol=1e-6,
    ):
        r.fail("'covariances_' are not the inverses of 'precisions_'")
    names = header.get("feature_names")
    if names is not None:
        if not (
            isinstance(names, list)
            and len(names) == n_features
            and all(isinstance(n, str) for n in names)
        ):
            r.fail("bad feature names")
        model.feature_names_in_ = np.asarray(names, dtype=object)
    moves = header.get("n_moves") or {}
    if not all(isinstance(v, int) and v >= 0 for v in moves.values()):
        r.fail("bad 'n_moves_'")
    model.n_moves_ = {
        key: int(moves.get(key, 0)) for key in ("merges", "deletes", "trial_passes", "births")
    }
    model._fit_config = config

    state = header.get("state")
    model._state = None
    if state is not None:
        if not isinstance(state, dict):
            r.fail("bad trainer state")
        s2_shape = shapes.statistic_shape(k, n_features)
        stats = Stats(
            r.array("state/stats/nk", (k,), nonnegative=True),
            r.array("state/stats/s1", (k, n_features)),
            r.array("state/stats/s2", s2_shape),
        )
        frame = Frame(
            r.array("state/frame/shift", (n_features,)),
            r.array("state/frame/scale", (n_features,), positive=True),
        )
        memo = None
        if state.get("memo"):
            memo = Memo(
                r.array("state/memo/entropy", (k,)),
                r.array("state/memo/pair_entropy", (k, k)),
            )
        pending = None
        if state.get("pending"):
            rows = r.array("state/pending/X")
            if rows.ndim != 2 or rows.shape[1] != n_features:
                r.fail("'state/pending/X' has the wrong shape")
            pending = Pending(
                rows,
                r.array("state/pending/w", (rows.shape[0],), nonnegative=True),
                Stats(
                    r.array("state/pending/stats/nk", (k,)),
                    r.array("state/pending/stats/s1", (k, n_features)),
                    r.array("state/pending/stats/s2", s2_shape),
                ),
                Memo(
                    r.array("state/pending/memo/entropy", (k,)),
                    r.array("state/pending/memo/pair_entropy", (k, k)),
                ),
            )
        total = state.get("total_samples")
        n_steps = state.get("n_steps")
        if not (
            isinstance(total, (int, float))
            and total > 0
            and isinstance(n_steps, int)
            and n_steps >= 0
        ):
            r.fail("bad trainer state counters")
        model._state = State(stats, frame, int(n_steps), float(total), memo, pending)
    return model
