"""Preprocessing: statistics fitted on the training images, applied to every split.

Each preprocessor follows one small protocol::

    p = Standardize().fit(X_train)          # statistics of the training set only
    X_train, X_val = p.transform(X_train), p.transform(X_val)
    save_preprocessor("prep.npz", p)        # arrays + JSON meta, no pickle
    p = load_preprocessor("prep.npz")

=================  ==============================================  =================
name               what it does                                    output shape
=================  ==============================================  =================
``none``           :class:`Identity`                               same
``mean_image``     :class:`MeanImage`: subtract the mean image     same
                   (AlexNet)
``channel_mean``   :class:`ChannelMean`: subtract the per-channel  same
                   mean (VGG)
``standardize``    :class:`Standardize`: per-channel               same
                   ``(x - mean) / sqrt(var + eps)`` (ResNet)
``pca``            :class:`PCA`: project the flattened images      **(N, k)**
                   on the top ``k`` principal components
``whiten``         :class:`ZCAWhitening`: decorrelate, unit        same
                   variance, back in image space
=================  ==============================================  =================

Statistics are computed in float64; outputs have the input's dtype (float32
or float64; other numeric inputs, e.g. uint8 images, give float64).  The
channel axis is axis 1 (images are (N, C, H, W)); a 2-D input (N, D) is
treated as D channels of one value each.  Covariances (PCA, ZCA) divide by N
(the sample's own covariance, as in the CS231n notes), so the transformed
training set has covariance exactly ``diag(var / (var + eps))``.
"""
import numbers

import numpy as np

from fastnn.checkpoint import load_params, _name_mismatch, save_params

__all__ = ["Preprocessor", "Identity", "MeanImage", "ChannelMean", "Standardize", "PCA",
           "ZCAWhitening", "PREPROCESSORS", "make_preprocessor", "save_preprocessor",
           "load_preprocessor"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_CHUNK = 4096           # rows per block in the (N, D) x (D, D) products (bounds temporary memory)


def _as_input(X, fn):
    """X as an ndarray of shape (N, ...) with a real dtype; the output dtype it maps to."""
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: X must be a real numeric array, got dtype {X.dtype}")
    if X.ndim < 2:
        raise ValueError(f"{fn}: X must have shape (N, ...) with at least 2 dimensions, "
                         f"got shape {X.shape}")
    out_dtype = X.dtype if X.dtype in _FLOATS else np.dtype(np.float64)
    return X, out_dtype


def _positive(v, name, fn, allow_zero=False):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v) \
            or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{fn}: {name} must be a finite number {'>=' if allow_zero else '>'} 0, "
                         f"got {v!r}")
    return float(v)


class Preprocessor:
    """Base class: ``fit`` / ``transform`` / ``fit_transform`` / ``inverse_transform`` and a
    pickle-free state (``get_state`` / ``from_state``).

    Subclasses set ``name`` and ``_ARRAYS`` (the names of their fitted arrays) and implement
    ``_fit(X64)`` (returns a dict name -> float64 array), ``_transform(X, dtype)`` and, when
    it exists, ``_inverse(Z, dtype)``.
    """

    name = None
    _ARRAYS = ()

    def __init__(self):
        self.shape_ = None          # the fitted per-sample shape, X.shape[1:]
        self._arrays = {}
        self._cast = {}             # dtype -> arrays in that dtype (cached)

    # ---------------------------------------------------------------- protocol
    @property
    def fitted(self):
        """True once ``fit`` has run."""
        return self.shape_ is not None

    def fit(self, X):
        """Compute the statistics of ``X`` (the training images), in float64; returns self."""
        fn = f"{type(self).__name__}.fit"
        X, _ = _as_input(X, fn)
        if X.shape[0] == 0:
            raise ValueError(f"{fn}: X holds no samples (shape {X.shape})")
        if not np.isfinite(X).all():
            raise ValueError(f"{fn}: X contains NaN or inf; statistics would be meaningless")
        self._set(X.shape[1:], self._fit(X))
        return self

    def transform(self, X):
        """Apply the fitted statistics to ``X``; output in X's dtype (float64 for integers)."""
        X, dtype = self._check(X, "transform")
        return self._transform(X, dtype)

    def fit_transform(self, X):
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, Z):
        """Undo :meth:`transform` (up to the information a PCA dropped)."""
        fn = f"{type(self).__name__}.inverse_transform"
        self._require_fitted(fn)
        Z, dtype = _as_input(Z, fn)
        expected = self._output_shape()
        if Z.shape[1:] != expected:
            raise ValueError(f"{fn}: expected samples of shape {expected} (what transform "
                             f"returns), got {Z.shape[1:]} (X of shape {Z.shape})")
        return self._inverse(Z, dtype)

    def get_state(self):
        """``(arrays, meta)``: a dict of float64 arrays and a JSON-able dict, enough for
        :meth:`from_state` to rebuild this preprocessor (see :func:`save_preprocessor`)."""
        self._require_fitted(f"{type(self).__name__}.get_state")
        meta = {"preprocessor": self.name, "shape": list(self.shape_)}
        meta.update(self._params())
        return {k: self._arrays[k].copy() for k in self._ARRAYS}, meta

    @classmethod
    def from_state(cls, arrays, meta):
        """Rebuild a fitted preprocessor from :meth:`get_state`'s ``(arrays, meta)``."""
        fn = f"{cls.__name__}.from_state"
        if not isinstance(meta, dict) or not isinstance(arrays, dict):
            raise ValueError(f"{fn}: expected (arrays: dict, meta: dict)")
        if meta.get("preprocessor") != cls.name:
            raise ValueError(f"{fn}: the state is of preprocessor {meta.get('preprocessor')!r}, "
                             f"not {cls.name!r}")
        shape = meta.get("shape")
        if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ValueError(f"{fn}: meta['shape'] must be a list of sizes, got {shape!r}")
        mismatch = _name_mismatch(arrays, cls._ARRAYS)
        if mismatch:
            raise ValueError(f"{fn}: arrays {mismatch}")
        params = {k: v for k, v in meta.items() if k not in ("preprocessor", "shape")}
        try:
            p = cls(**params)
        except TypeError as exc:
            raise ValueError(f"{fn}: bad parameters {params}: {exc}") from None
        state = {}
        for k in cls._ARRAYS:
            a = np.asarray(arrays[k])
            if a.dtype.kind not in "iuf":
                raise ValueError(f"{fn}: array {k!r} has dtype {a.dtype}, expected float")
            state[k] = a.astype(np.float64)
        p._set(tuple(shape), state)
        for k, a in state.items():
            if a.shape != p._array_shape(k):
                raise ValueError(f"{fn}: array {k!r} has shape {a.shape}, expected "
                                 f"{p._array_shape(k)} for samples of shape {tuple(shape)}")
        return p

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        fitted = f", fitted on {self.shape_}" if self.fitted else ""
        return f"{type(self).__name__}({params}){fitted}"

    # ---------------------------------------------------------------- helpers
    def _params(self):
        """Constructor arguments (JSON-able)."""
        return {}

    def _set(self, shape, arrays):
        self.shape_ = tuple(int(d) for d in shape)
        self._arrays = dict(arrays)
        self._cast = {}

    def _derive(self):
        """Arrays computed from the fitted ones (on first use), kept out of the saved state."""
        return {}

    def _get(self, key, dtype):
        """A fitted array in ``dtype`` (converted once per dtype)."""
        cast = self._cast.setdefault(dtype, {})
        if key not in cast:
            if key not in self._arrays:
                self._arrays.update(self._derive())
            cast[key] = self._arrays[key].astype(dtype)
        return cast[key]

    def _require_fitted(self, fn):
        if not self.fitted:
            raise RuntimeError(f"{fn}: {type(self).__name__} is not fitted; call fit(X_train) "
                               "first")

    def _check(self, X, what):
        fn = f"{type(self).__name__}.{what}"
        self._require_fitted(fn)
        X, dtype = _as_input(X, fn)
        if X.shape[1:] != self.shape_:
            raise ValueError(f"{fn}: fitted on samples of shape {self.shape_}, got samples of "
                             f"shape {X.shape[1:]} (X of shape {X.shape})")
        return X, dtype

    def _output_shape(self):
        return self.shape_

    def _array_shape(self, key):
        return self._arrays[key].shape

    def _inverse(self, Z, dtype):
        raise NotImplementedError(f"{type(self).__name__} has no inverse_transform")


class Identity(Preprocessor):
    """No preprocessing (``"none"``): ``transform`` returns X itself (not a copy).

    It has no statistics: ``transform`` works before ``fit`` and accepts any
    shape; after ``fit`` the shape is checked like every other preprocessor's.
    Its state (saved or not fitted) holds no arrays.
    """

    name = "none"

    def _fit(self, X):
        return {}

    def transform(self, X):
        if not self.fitted:
            return _as_input(X, "Identity.transform")[0]
        return super().transform(X)

    def _transform(self, X, dtype):
        return X

    def _inverse(self, Z, dtype):
        return Z

    def inverse_transform(self, Z):
        return self.transform(Z)

    def get_state(self):
        if not self.fitted:
            return {}, {"preprocessor": self.name, "shape": None}
        return super().get_state()

    @classmethod
    def from_state(cls, arrays, meta):
        if isinstance(meta, dict) and meta.get("shape", 0) is None and meta.get(
                "preprocessor") == cls.name and isinstance(arrays, dict) and not arrays:
            return cls()
        return super().from_state(arrays, meta)


def _channel_axes(ndim):
    """Every axis but the channel axis 1."""
    return (0,) + tuple(range(2, ndim))


def _channel_view(v, ndim):
    """(C,) -> (1, C, 1, 1, ...) for broadcasting against (N, C, ...)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


class MeanImage(Preprocessor):
    """Subtract the mean training image (AlexNet): ``x - mean(X_train, axis=0)``.

    Fitted array: ``mean`` of shape X.shape[1:].
    """

    name = "mean_image"
    _ARRAYS = ("mean",)

    def _fit(self, X):
        return {"mean": X.mean(axis=0, dtype=np.float64)}

    def _array_shape(self, key):
        return self.shape_

    def _transform(self, X, dtype):
        return np.subtract(X, self._get("mean", dtype), dtype=dtype)

    def _inverse(self, Z, dtype):
        return np.add(Z, self._get("mean", dtype), dtype=dtype)


class ChannelMean(Preprocessor):
    """Subtract the per-channel mean (VGG): ``x[:, c] - mean(X_train[:, c])``.

    Fitted array: ``mean`` of shape (C,).
    """

    name = "channel_mean"
    _ARRAYS = ("mean",)

    def _fit(self, X):
        return {"mean": X.mean(axis=_channel_axes(X.ndim), dtype=np.float64)}

    def _array_shape(self, key):
        return self.shape_[:1]

    def _transform(self, X, dtype):
        return np.subtract(X, _channel_view(self._get("mean", dtype), X.ndim), dtype=dtype)

    def _inverse(self, Z, dtype):
        return np.add(Z, _channel_view(self._get("mean", dtype), Z.ndim), dtype=dtype)


class Standardize(Preprocessor):
    """Per-channel standardisation (ResNet): ``(x - mean_c) / sqrt(var_c + eps)``.

    ``mean_c`` and ``var_c`` (population variance, divided by the count) over
    every sample and pixel of channel c.  Fitted arrays: ``mean`` and ``std``
    (= ``sqrt(var + eps)``), both of shape (C,).

    Parameters
    ----------
    eps : float, default 1e-8
        Keeps a constant channel finite (it maps to 0).
    """

    name = "standardize"
    _ARRAYS = ("mean", "std")

    def __init__(self, eps=1e-8):
        super().__init__()
        self.eps = _positive(eps, "eps", "Standardize", allow_zero=True)

    def _params(self):
        return {"eps": self.eps}

    def _fit(self, X):
        axes = _channel_axes(X.ndim)
        mean = X.mean(axis=axes, dtype=np.float64)
        var = np.zeros_like(mean)
        for c in range(X.shape[1]):     # one channel at a time: float64 temporaries stay small
            d = X[:, c].astype(np.float64) - mean[c]
            var[c] = np.mean(d * d)
        std = np.sqrt(var + self.eps)
        if not (std > 0).all():
            raise ValueError("Standardize.fit: a channel is constant and eps=0; use eps > 0")
        return {"mean": mean, "std": std}

    def _array_shape(self, key):
        return self.shape_[:1]

    def _transform(self, X, dtype):
        out = np.subtract(X, _channel_view(self._get("mean", dtype), X.ndim), dtype=dtype)
        out /= _channel_view(self._get("std", dtype), X.ndim)
        return out

    def _inverse(self, Z, dtype):
        out = np.multiply(Z, _channel_view(self._get("std", dtype), Z.ndim), dtype=dtype)
        out += _channel_view(self._get("mean", dtype), Z.ndim)
        return out


def _covariance(X, mean):
    """Covariance (divided by N) of the flattened samples, in float64, built in row blocks."""
    n = X.shape[0]
    flat = X.reshape(n, -1)
    d = flat.shape[1]
    cov = np.zeros((d, d))
    for i in range(0, n, _CHUNK):
        block = flat[i:i + _CHUNK].astype(np.float64) - mean
        cov += block.T @ block
    cov /= n
    return cov


def _eig_desc(cov, k=None):
    """The top ``k`` (default all) eigenpairs of a covariance: eigenvalues descending (>= 0),
    eigenvectors as columns, each signed so that its largest-magnitude entry is positive
    (deterministic).  Only the top k are computed when k < D (much faster for a small PCA)."""
    d = cov.shape[0]
    if k is None or k >= d:
        lam, U = np.linalg.eigh(cov)
    else:
        import scipy.linalg         # lazily: only a truncated PCA needs it
        lam, U = scipy.linalg.eigh(cov, subset_by_index=[d - k, d - 1], check_finite=False)
    lam, U = np.maximum(lam[::-1], 0.0), U[:, ::-1]
    big = np.argmax(np.abs(U), axis=0)
    U = U * np.sign(U[big, np.arange(U.shape[1])])
    return lam, np.ascontiguousarray(U)


def _blocked_matmul(flat, mean, M, out):
    """out = (flat - mean) @ M, block by block (temporaries of _CHUNK rows only)."""
    for i in range(0, flat.shape[0], _CHUNK):
        np.matmul(flat[i:i + _CHUNK] - mean, M, out=out[i:i + _CHUNK])
    return out


class PCA(Preprocessor):
    """Principal component analysis of the flattened images.

    ``transform`` centres each image (flattened to D = C*H*W values) and
    projects it on the top ``k`` eigenvectors of the training covariance
    (divided by N), optionally dividing by ``sqrt(eigenvalue + eps)``
    (whitening).  **The output is (N, k), no longer an image**: feed it to a
    fully connected model, not a convolutional one.

    Parameters
    ----------
    n_components : int, optional
        k; default all D components (a rotation, and a whitening when
        ``whiten``).
    whiten : bool, default False
        Scale every component to unit variance: the transformed training set
        has covariance ``diag(lam / (lam + eps))``, the identity up to eps.
    eps : float, default 1e-5
        Regularises the whitening of near-zero-variance components.

    Attributes
    ----------
    components_ : (k, D) rows orthonormal, largest variance first
    explained_variance_ : (k,) the eigenvalues (variances along the components)
    mean_ : (D,)

    Shape
    -----
    X: ``(N, *shape) -> (N, k)``; ``inverse_transform``: ``(N, k) -> (N, *shape)``
    (exact when k = D).
    """

    name = "pca"
    _ARRAYS = ("mean", "components", "explained_variance")

    def __init__(self, n_components=None, whiten=False, eps=1e-5):
        super().__init__()
        if n_components is not None and (isinstance(n_components, bool)
                                         or not isinstance(n_components, numbers.Integral)
                                         or n_components < 1):
            raise ValueError(f"PCA: n_components must be an int >= 1 or None, "
                             f"got {n_components!r}")
        self.n_components = None if n_components is None else int(n_components)
        self.whiten = bool(whiten)
        self.eps = _positive(eps, "eps", "PCA", allow_zero=not whiten)

    def _params(self):
        return {"n_components": self.n_components, "whiten": self.whiten, "eps": self.eps}

    @property
    def mean_(self):
        """Per-feature mean of the training set (fitted)."""
        return self._arrays["mean"]

    @property
    def components_(self):
        """Principal axes, one per row (fitted)."""
        return self._arrays["components"]

    @property
    def explained_variance_(self):
        """Variance along each principal axis (fitted)."""
        return self._arrays["explained_variance"]

    def _k(self, d):
        return d if self.n_components is None else self.n_components

    def _fit(self, X):
        d = int(np.prod(X.shape[1:]))
        k = self._k(d)
        if k > d:
            raise ValueError(f"PCA.fit: n_components={k} exceeds the {d} values of one sample "
                             f"(shape {X.shape[1:]})")
        mean = X.reshape(X.shape[0], -1).mean(axis=0, dtype=np.float64)
        lam, U = _eig_desc(_covariance(X, mean), k)
        return {"mean": mean, "components": np.ascontiguousarray(U.T),
                "explained_variance": lam[:k]}

    def _array_shape(self, key):
        d = int(np.prod(self.shape_))
        k = self._k(d)
        return {"mean": (d,), "components": (k, d), "explained_variance": (k,)}[key]

    def _output_shape(self):
        return (self._k(int(np.prod(self.shape_))),)

    def _projection(self, dtype):
        """(D, k): components.T, divided by sqrt(lam + eps) when whitening."""
        cast = self._cast.setdefault(dtype, {})
        if "P" not in cast:
            P = self._arrays["components"].T
            if self.whiten:
                P = P / np.sqrt(self._arrays["explained_variance"] + self.eps)
            cast["P"] = np.ascontiguousarray(P, dtype=dtype)
        return cast["P"]

    def _transform(self, X, dtype):
        flat = X.reshape(X.shape[0], -1)
        P = self._projection(dtype)
        out = np.empty((X.shape[0], P.shape[1]), dtype)
        return _blocked_matmul(flat, self._get("mean", dtype), P, out)

    def _inverse(self, Z, dtype):
        cast = self._cast.setdefault(dtype, {})
        if "Pinv" not in cast:
            B = self._arrays["components"]
            if self.whiten:
                B = B * np.sqrt(self._arrays["explained_variance"] + self.eps)[:, None]
            cast["Pinv"] = np.ascontiguousarray(B, dtype=dtype)
        out = np.matmul(Z.astype(dtype, copy=False), cast["Pinv"])
        out += self._get("mean", dtype)
        return out.reshape((Z.shape[0],) + self.shape_)


class ZCAWhitening(Preprocessor):
    """ZCA whitening: decorrelate the pixels and give them unit variance, staying in image space.

    ``x -> W (x - mean)`` on the flattened image, with the symmetric
    ``W = U diag(1 / sqrt(lam + eps)) U^T`` from the eigen-decomposition
    ``cov = U diag(lam) U^T`` of the training covariance (divided by N).
    Of all whitening transforms it is the one closest to the identity, so the
    result still looks like the image (edges enhanced).

    Parameters
    ----------
    eps : float, default 1e-2
        Added to every eigenvalue.  Components whose variance is far below
        eps are damped rather than blown up to unit variance: for pixels in
        [0, 1] (variance about 0.06 each) 1e-2 .. 1e-1 keeps the
        high-frequency noise down; a tiny eps (1e-5) whitens fully.

    Attributes
    ----------
    W_ : (D, D) symmetric; ``mean_`` : (D,)
        The saved state holds the eigen-decomposition (``eigenvectors`` (D, D),
        ``eigenvalues`` (D,), ``mean``); W and its inverse are rebuilt from it.

    Shape
    -----
    X: ``(N, *shape) -> (N, *shape)``
    """

    name = "whiten"
    _ARRAYS = ("mean", "eigenvectors", "eigenvalues")

    def __init__(self, eps=1e-2):
        super().__init__()
        self.eps = _positive(eps, "eps", "ZCAWhitening")

    def _params(self):
        return {"eps": self.eps}

    @property
    def mean_(self):
        """Per-feature mean of the training set (fitted)."""
        return self._arrays["mean"]

    @property
    def W_(self):
        """The whitening matrix (fitted)."""
        self._require_fitted("ZCAWhitening.W_")
        if "W" not in self._arrays:
            self._arrays.update(self._derive())
        return self._arrays["W"]

    def _fit(self, X):
        mean = X.reshape(X.shape[0], -1).mean(axis=0, dtype=np.float64)
        lam, U = _eig_desc(_covariance(X, mean))
        return {"mean": mean, "eigenvectors": U, "eigenvalues": lam}

    def _derive(self):
        U, lam = self._arrays["eigenvectors"], self._arrays["eigenvalues"]
        s = np.sqrt(lam + self.eps)
        W, W_inv = (U / s) @ U.T, (U * s) @ U.T
        # exactly symmetric (the products are symmetric only up to rounding)
        return {"W": (W + W.T) / 2, "W_inv": (W_inv + W_inv.T) / 2}

    def _array_shape(self, key):
        d = int(np.prod(self.shape_))
        return (d, d) if key == "eigenvectors" else (d,)

    def _transform(self, X, dtype):
        flat = X.reshape(X.shape[0], -1)
        out = np.empty(flat.shape, dtype)
        _blocked_matmul(flat, self._get("mean", dtype), self._get("W", dtype), out)
        return out.reshape(X.shape)

    def _inverse(self, Z, dtype):
        flat = Z.reshape(Z.shape[0], -1).astype(dtype, copy=False)
        out = np.matmul(flat, self._get("W_inv", dtype))
        out += self._get("mean", dtype)
        return out.reshape(Z.shape)


PREPROCESSORS = {cls.name: cls for cls in (Identity, MeanImage, ChannelMean, Standardize, PCA,
                                           ZCAWhitening)}


def make_preprocessor(name, **kwargs):
    """A new (unfitted) preprocessor by name: ``none``, ``mean_image``, ``channel_mean``,
    ``standardize``, ``pca`` or ``whiten`` (ZCA); ``kwargs`` go to its constructor.

    ``None`` means ``"none"``.  This is what ``fastnn train --preprocess NAME`` uses.
    """
    if name is None:
        name = "none"
    if name not in PREPROCESSORS:
        raise ValueError(f"make_preprocessor: unknown preprocessing {name!r}; choose one of "
                         f"{', '.join(PREPROCESSORS)}")
    return PREPROCESSORS[name](**kwargs)


def save_preprocessor(path, p):
    """Save a fitted preprocessor with :func:`fastnn.checkpoint.save_params` (an ``.npz`` of
    float64 arrays + JSON meta, no pickle); returns the path written."""
    if not isinstance(p, Preprocessor):
        raise TypeError(f"save_preprocessor: expected a fastnn preprocessor, "
                        f"got {type(p).__name__}")
    arrays, meta = p.get_state()
    return save_params(path, arrays, meta)


def load_preprocessor(path):
    """Load what :func:`save_preprocessor` wrote (never executes code from the file)."""
    arrays, meta = load_params(path)
    if not isinstance(meta, dict) or meta.get("preprocessor") not in PREPROCESSORS:
        kind = meta.get("preprocessor") if isinstance(meta, dict) else None
        raise ValueError(f"load_preprocessor: {str(path)!r} is not a saved fastnn preprocessor "
                         f"(preprocessor={kind!r})")
    return PREPROCESSORS[meta["preprocessor"]].from_state(arrays, meta)
