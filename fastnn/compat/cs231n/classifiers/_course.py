"""What the course's models share: the params dict that casts, the course's weight draws."""
import numpy as np

from fastnn import layers as L
from fastnn.models import Model


class CourseParams(L.ParamDict):
    """``model.params`` of a course model: assignment copies into the model's arrays, cast.

    ``params[name] = array`` for an existing name accepts any array of real
    numbers (float, integer) of the parameter's shape and copies it into the
    parameter's array, converted to the model's dtype as ``array.astype(dtype)``
    does (float64 to float32 rounds to nearest).  Another shape raises
    ValueError naming the parameter and both shapes; complex, bool or
    non-numeric arrays raise TypeError.  A new name is stored as given (as in
    a plain dict).
    """

    def __setitem__(self, key, value):
        if key not in self:
            dict.__setitem__(self, key, value)
            return
        cur = dict.__getitem__(self, key)
        if value is cur:
            return
        a = np.asarray(value)
        if a.dtype.kind not in "fiu":
            raise TypeError(f"model.params[{key!r}]: expected an array of real numbers, got "
                            f"dtype {a.dtype}")
        if a.shape != cur.shape:
            raise ValueError(f"model.params[{key!r}]: the parameter has shape {cur.shape}; "
                             f"cannot assign an array of shape {a.shape}")
        np.copyto(cur, a, casting="unsafe")


def no_init(w, rng):
    """Leave w to the course's draws (:meth:`CourseModel._course_init`)."""
    w.fill(0)


class CourseModel(Model):
    """A fastnn :class:`~fastnn.models.Model` with the course's params dict and weight draws."""

    def _course_init(self, weight_scale):
        """W1, W2, ... = weight_scale * np.random.randn(*shape), in layer order, from NumPy's
        global generator (the course's draws); other parameters keep their values (zero
        biases, gamma 1, beta 0)."""
        self.params = CourseParams(self.params)
        for name in list(self.params):
            if name.startswith("W"):
                w = self.params[name]
                self.params[name] = weight_scale * np.random.randn(*w.shape)


class CourseDropout(L.Dropout):
    """Dropout with the KEEP probability; a fixed ``seed`` gives the same mask on every call,
    None draws each call's seed from NumPy's global generator."""

    def __init__(self, keep_prob, seed=None):
        super().__init__(p=1 - keep_prob)
        self.seed = seed

    def _next_seed(self):
        if self.seed is not None:
            return int(self.seed)
        return int(np.random.randint(0, 2**63 - 1, dtype=np.int64))

    def __repr__(self):
        return f"CourseDropout(keep_prob={1 - self.p}, seed={self.seed})"
