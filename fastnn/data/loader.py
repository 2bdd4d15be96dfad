"""BatchLoader: shuffled, optionally augmented mini-batches, reproducible from one seed."""
import numpy as np

from fastnn.data import augment as _augment

__all__ = ["BatchLoader"]


class BatchLoader:
    """Iterate over ``(X_batch, y_batch)`` mini-batches; each ``iter()`` is one epoch.

    Parameters
    ----------
    X : ndarray, shape (N, ...)
        Samples (for augmentation: (N, C, H, W) float32/float64).
    y : array, shape (N, ...)
        Labels, one per sample.
    batch_size : int >= 1, default 64
    shuffle : bool, default True
        Visit the samples in a new random order every epoch.
    augment : None, a step, a list of steps, or a spec string
        Applied to every batch with :func:`fastnn.data.augment.apply` (a string
        goes through :func:`fastnn.data.augment.from_spec`, e.g.
        ``"crop,flip"``).  After ``mixup`` the labels are a
        :class:`~fastnn.data.augment.MixedLabels`.
    seed : int or None
        Seeds every epoch's order and augmentation: epoch k of two loaders
        built with the same seed gives identical batches.  None: fresh OS
        entropy.
    drop_last : bool, default False
        Drop the last batch when it is smaller than `batch_size`.

    Notes
    -----
    Epoch k draws from its own Generator, spawned from ``SeedSequence(seed)``
    (its k-th child).  Without shuffle and augment, batches are views of X and
    y (slices); otherwise they are new arrays.

    Shape
    -----
    Batches: X (B, ...), y (B, ...), B = batch_size (smaller for the last
    batch unless drop_last).

    Examples
    --------
    >>> loader = BatchLoader(X, y, batch_size=128, augment="crop,flip", seed=0)
    >>> for epoch in range(10):
    ...     for Xb, yb in loader:
    ...         ...
    """

    def __init__(self, X, y, batch_size=64, shuffle=True, augment=None, seed=None,
                 drop_last=False):
        fn = "BatchLoader"
        if not isinstance(X, np.ndarray):
            X = np.asarray(X)
        if X.ndim < 1:
            raise ValueError(f"{fn}: X must have a sample axis, got a scalar")
        if y is None:
            raise ValueError(f"{fn}: y is required (one label per sample)")
        y = np.asarray(y)
        if y.ndim < 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"{fn}: X has {X.shape[0]} samples but y has shape {y.shape}; "
                             "expected one label per sample")
        if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"{fn}: batch_size must be a positive int, got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"{fn}: batch_size must be a positive int, got {batch_size}")
        for name, v in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(v, (bool, np.bool_)):
                raise TypeError(f"{fn}: {name} must be True or False, got {v!r}")
        if seed is not None:
            if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
                raise TypeError(f"{fn}: seed must be a non-negative int or None, got {seed!r}")
            if seed < 0:
                raise ValueError(f"{fn}: seed must be a non-negative int or None, got {seed}")
        if isinstance(augment, str):
            augment = _augment.from_spec(augment)
        elif augment is not None and not callable(augment):
            augment = list(augment)
            for step in augment:
                if not callable(step):
                    raise TypeError(f"{fn}: augment steps must be callables (X, y, seed) -> (X, y), "
                                    f"got {step!r}")
        if augment is not None and X.ndim != 4:
            raise ValueError(f"{fn}: augmentation needs X of shape (N, C, H, W), got {X.shape}")
        self.X, self.y = X, y
        self.batch_size = int(batch_size)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.augment = augment or None
        self.seed = seed
        self._seeds = np.random.SeedSequence(seed)
        self.epoch = 0          # epochs started so far

    def __len__(self):
        """Batches per epoch."""
        n, b = self.X.shape[0], self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        rng = np.random.default_rng(self._seeds.spawn(1)[0])
        self.epoch += 1
        n, b = self.X.shape[0], self.batch_size
        order = rng.permutation(n) if self.shuffle else None
        for k in range(len(self)):
            lo, hi = k * b, min(n, (k + 1) * b)
            if order is None:
                Xb, yb = self.X[lo:hi], self.y[lo:hi]
            else:
                idx = order[lo:hi]
                Xb, yb = self.X.take(idx, axis=0), self.y.take(idx, axis=0)
            if self.augment is not None:
                Xb, yb = _augment.apply(self.augment, Xb, yb, rng)
            yield Xb, yb

    def __repr__(self):
        return (f"BatchLoader(n={self.X.shape[0]}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, augment={self.augment!r}, seed={self.seed!r}, "
                f"drop_last={self.drop_last})")
