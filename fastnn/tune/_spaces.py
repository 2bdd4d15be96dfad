"""Search spaces: the dimensions (log-uniform, uniform, randint, choice, grid), conditional
dimensions, their JSON form and the command line's ``NAME=KIND:ARGS`` parser."""
import math
import numbers

import numpy as np

FORMAT = "fastnn.tune/1"


class Space:
    """A search dimension; see :func:`loguniform`, :func:`uniform`, :func:`choice`,
    :func:`randint`, :func:`grid`."""

    kind = None
    log = False           # sampled (and narrowed, and plotted) in log space

    def sample(self, rng):
        """One value drawn with the ``numpy.random.Generator`` ``rng``."""
        raise NotImplementedError

    def to_dict(self):
        """The dimension as a JSON-ready dict (``{"type": ..., ...}``)."""
        raise NotImplementedError

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __repr__(self):
        d = self.to_dict()
        args = ", ".join(repr(v) for k, v in d.items() if k != "type")
        return f"{self.kind}({args})"


def _finite(v, what):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
        raise ValueError(f"{what} must be a finite number, got {v!r}")
    return float(v)


class _Range(Space):
    def __init__(self, low, high):
        low = _finite(low, f"{self.kind}: low")
        high = _finite(high, f"{self.kind}: high")
        if not low < high:
            raise ValueError(f"{self.kind}: low must be < high, got low={low!r}, high={high!r}")
        self.low, self.high = low, high

    # the coordinates in which the range is uniform (log10 for log-uniform)
    def to_unit(self, v):
        return float(v)

    def from_unit(self, t):
        return float(t)

    def bounds(self):
        return self.to_unit(self.low), self.to_unit(self.high)

    def with_bounds(self, lo, hi):
        return type(self)(self.from_unit(lo), self.from_unit(hi))

    def to_dict(self):
        return {"type": self.kind, "low": self.low, "high": self.high}


class _LogUniform(_Range):
    kind = "loguniform"
    log = True

    def __init__(self, low, high):
        super().__init__(low, high)
        if self.low <= 0:
            raise ValueError(f"loguniform: low must be > 0, got {self.low!r}")

    def to_unit(self, v):
        return math.log10(v)

    def from_unit(self, t):
        return 10.0 ** t

    def sample(self, rng):
        lo, hi = self.bounds()
        return float(min(max(10.0 ** rng.uniform(lo, hi), self.low), self.high))


class _Uniform(_Range):
    kind = "uniform"

    def sample(self, rng):
        return float(rng.uniform(self.low, self.high))


class _RandInt(_Range):
    kind = "randint"

    def __init__(self, low, high):
        for v, n in ((low, "low"), (high, "high")):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise ValueError(f"randint: {n} must be an integer, got {v!r}")
        super().__init__(low, high)
        self.low, self.high = int(low), int(high)

    def with_bounds(self, lo, hi):
        lo, hi = int(math.floor(lo)), int(math.ceil(hi))
        return _RandInt(lo, max(hi, lo + 1))

    def sample(self, rng):
        return int(rng.integers(self.low, self.high))


class _Choice(Space):
    kind = "choice"

    def __init__(self, values):
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise ValueError(f"{self.kind}: values must be a list, got {values!r}")
        values = [v.item() if isinstance(v, np.generic) else v for v in values]
        if not values:
            raise ValueError(f"{self.kind}: values must not be empty")
        self.values = values

    def sample(self, rng):
        return self.values[int(rng.integers(len(self.values)))]

    def to_dict(self):
        return {"type": self.kind, "values": list(self.values)}

    def __repr__(self):
        return f"{self.kind}({self.values!r})"


class _Grid(_Choice):
    kind = "grid"


def loguniform(low, high):
    """Log-uniform on [low, high] (0 < low < high): log10 of a sample is uniform.

    The scale for learning rates and regularisation strengths; narrowed in log
    space by :func:`coarse_to_fine` and plotted on log axes.
    """
    return _LogUniform(low, high)


def uniform(low, high):
    """Uniform on [low, high]."""
    return _Uniform(low, high)


def randint(low, high):
    """A uniform integer in ``low .. high - 1`` (high exclusive, as numpy's ``integers``)."""
    return _RandInt(low, high)


def choice(values):
    """One of ``values``, each with the same probability."""
    return _Choice(values)


def grid(values):
    """The values a grid search enumerates (random search samples them like :func:`choice`)."""
    return _Grid(values)


class _Conditional(Space):
    """A dimension sampled only when earlier parameters have given values (else absent)."""

    kind = "conditional"

    def __init__(self, dim, when):
        if not isinstance(dim, Space) or isinstance(dim, _Conditional):
            raise ValueError(f"conditional: dim must be a dimension (loguniform(...), choice(...), "
                             f"...), got {dim!r}")
        if not when:
            raise ValueError("conditional: give at least one condition, e.g. "
                             "conditional(uniform(0.5, 0.99), optimizer=['sgd_momentum'])")
        self.dim = dim
        self.when = {}
        for k, v in when.items():
            vals = list(v) if isinstance(v, (list, tuple)) else [v]
            if not vals:
                raise ValueError(f"conditional: the values of {k!r} must not be empty")
            self.when[k] = vals
        self.log = dim.log

    def active(self, config):
        """Whether the config so far asks for this dimension."""
        return all(k in config and config[k] in vals for k, vals in self.when.items())

    def sample(self, rng):
        return self.dim.sample(rng)

    def to_dict(self):
        return {"type": self.kind, "dim": self.dim.to_dict(), "when": dict(self.when)}

    def __repr__(self):
        cond = ", ".join(f"{k}={v!r}" for k, v in self.when.items())
        return f"conditional({self.dim!r}, {cond})"


def conditional(dim, **when):
    """``dim``, sampled only when every named earlier parameter has one of the given values.

    ``"momentum": conditional(uniform(0.5, 0.99), optimizer=["sgd_momentum", "nesterov"])``
    samples a momentum only for the momentum rules; the other trials' configs
    do not hold the key (the table shows it blank).  The parameters named must
    come before this one in the space.
    """
    return _Conditional(dim, when)


def _inner(dim):
    """The dimension itself, or the one a conditional wraps."""
    return dim.dim if isinstance(dim, _Conditional) else dim


_KINDS = {"loguniform": _LogUniform, "uniform": _Uniform, "randint": _RandInt,
          "choice": _Choice, "grid": _Grid}


def _space_to_json(space):
    return {k: (v.to_dict() if isinstance(v, Space) else {"type": "constant", "value": v})
            for k, v in space.items()}


def _dim_from_json(v):
    t = v["type"]
    if t == "conditional":
        return _Conditional(_dim_from_json(v["dim"]), v["when"])
    if t in ("choice", "grid"):
        return _KINDS[t](v["values"])
    if t in _KINDS:
        return _KINDS[t](v["low"], v["high"])
    raise ValueError(f"unknown dimension type {t!r}")


def _space_from_json(d):
    out = {}
    for k, v in d.items():
        out[k] = v["value"] if v["type"] == "constant" else _dim_from_json(v)
    return out


def space_from_dict(d):
    """A space from plain data (a parsed TOML or JSON file).

    Each entry is a constant, or a table with ``type`` (loguniform, uniform,
    randint: ``low``, ``high``; choice, grid: ``values``) and optionally
    ``when``, a table parameter -> allowed values that makes it
    :func:`conditional`.  Raises ValueError naming the bad entry.
    """
    if not isinstance(d, dict):
        raise ValueError(f"space_from_dict: expected a table name -> dimension, got "
                         f"{type(d).__name__}")
    out = {}
    for k, v in d.items():
        if not isinstance(v, dict):
            out[k] = v
            continue
        try:
            v = dict(v)
            when = v.pop("when", None)
            t = v.get("type")
            if t == "constant":
                out[k] = v["value"]
                continue
            if t not in _KINDS:
                raise ValueError(f"type must be one of {sorted(_KINDS)} or constant, got {t!r}")
            need = ("values",) if t in ("choice", "grid") else ("low", "high")
            extra = sorted(set(v) - set(need) - {"type"})
            if extra or any(n not in v for n in need):
                raise ValueError(f"a {t} takes {list(need)}, got {sorted(set(v) - {'type'})}")
            dim = _dim_from_json(v)
            if when is not None:
                if not isinstance(when, dict):
                    raise ValueError(f"when must be a table parameter -> values, got {when!r}")
                dim = _Conditional(dim, when)
            out[k] = dim
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"space_from_dict: bad entry {k!r}: {exc}") from None
    return out


def load_space(path):
    """Read a space from a TOML (``.toml``) or JSON file: see :func:`space_from_dict`."""
    import json
    import os

    from fastnn._files import open_regular
    path = os.fspath(path)
    try:
        if path.endswith(".toml"):
            try:
                import tomllib
            except ImportError:                       # Python 3.10
                import tomli as tomllib
            with open_regular(path, "rb") as f:
                d = tomllib.load(f)
        else:
            with open_regular(path, "r") as f:
                d = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"load_space: cannot read {path!r}: {exc}") from None
    if isinstance(d, dict) and isinstance(d.get("space"), dict):
        d = d["space"]
    return space_from_dict(d)


def _check_space(space, fn):
    if not isinstance(space, dict) or not space:
        raise ValueError(f"{fn}: space must be a non-empty dict name -> dimension, got {space!r}")
    seen = []
    for k, v in space.items():
        if not isinstance(k, str):
            raise ValueError(f"{fn}: space names must be strings, got {k!r}")
        if isinstance(v, _Conditional):
            late = [p for p in v.when if p not in seen]
            if late:
                raise ValueError(f"{fn}: {k!r} is conditional on {late}, which must come before "
                                 f"it in the space")
        seen.append(k)
    return dict(space)


def _scalar(text):
    t = text.strip()
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    if t in ("True", "true"):
        return True
    if t in ("False", "false"):
        return False
    if t in ("None", "none", "null"):
        return None
    return t


def parse_space(specs):
    """Parse command-line dimensions: ``["lr=loguniform:1e-5:1e-1", "opt=choice:adam,sgd"]``.

    Forms: ``NAME=loguniform:LOW:HIGH``, ``NAME=uniform:LOW:HIGH``,
    ``NAME=randint:LOW:HIGH``, ``NAME=choice:A,B,...``, ``NAME=grid:A,B,...``
    and ``NAME=VALUE`` (a constant).  Raises ValueError naming the bad spec.
    """
    space = {}
    for spec in specs:
        name, eq, rest = spec.partition("=")
        name = name.strip()
        if not eq or not name or not rest:
            raise ValueError(f"bad space {spec!r}: expected NAME=KIND:ARGS, "
                             f"e.g. lr=loguniform:1e-5:1e-1")
        if name in space:
            raise ValueError(f"bad space {spec!r}: {name!r} is given twice")
        kind, colon, args = rest.partition(":")
        kind = kind.strip()
        try:
            if not colon:
                space[name] = _scalar(rest)
            elif kind in ("loguniform", "uniform", "randint"):
                parts = args.split(":")
                if len(parts) != 2:
                    raise ValueError(f"{kind} takes LOW:HIGH")
                low, high = (_scalar(p) for p in parts)
                if kind == "randint":
                    space[name] = randint(low, high)
                else:
                    if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                               for v in (low, high)):
                        raise ValueError("LOW and HIGH must be numbers")
                    space[name] = _KINDS[kind](low, high)
            elif kind in ("choice", "grid"):
                values = [_scalar(v) for v in args.split(",") if v.strip()]
                space[name] = _KINDS[kind](values)
            else:
                raise ValueError(f"unknown kind {kind!r} (expected loguniform, uniform, randint, "
                                 f"choice or grid)")
        except ValueError as exc:
            raise ValueError(f"bad space {spec!r}: {exc}") from None
    return space
