"""The lecture's first babysitting steps, automated: checks to run before training.

:func:`check` runs three checks on a copy of a model (the model itself is
never touched: batch norm's running statistics, dropout generators and the
weights stay as they are) and returns a :class:`SanityReport`:

1. **Initial loss.**  With regularisation off, an untrained classifier's scores
   are close to zero and every class is about equally likely, so the softmax
   loss is about ``log(C)`` (2.303 for 10 classes) and the multiclass SVM loss
   (margin 1) about ``C - 1``.  A loss more than ``tol`` (relative) away is
   flagged with the likely cause: too-large output weights, unnormalised inputs,
   labels out of range.
2. **Regularisation raises the loss.**  Setting ``model.reg`` from 0 to
   ``reg_test`` must raise the loss (the L2 term is added); if it does not,
   the regularisation is not wired into the loss.
3. **Overfit a tiny subset.**  ``num_samples`` training samples (default 20),
   no regularisation, trained with :class:`fastnn.Solver` on exactly those
   samples: a healthy model and training loop reach 100% training accuracy
   within a few hundred iterations.  The report gives the iteration where it
   first does, or fails with advice.

Example::

    from fastnn.sanity import check
    report = check(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3})
    print(report)           # one line per check, [ok] or [FAIL] with the reason
    assert report.ok

The model contract is the Solver's (``params`` dict, ``loss(X, y=None)``); a
``reg`` attribute is needed for the regularisation check (skipped without it).
"""
import copy
import math
import numbers
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SanityCheck", "SanityReport", "check", "initial_loss", "expected_initial_loss",
           "regularization_raises_loss", "overfit_small_subset"]

LOSSES = ("softmax", "svm")


@dataclass
class SanityCheck:
    """The outcome of one check.

    Attributes
    ----------
    name : str
        ``"initial_loss"``, ``"regularization"`` or ``"overfit"``.
    passed : bool or None
        None when the check could not run (``reason`` says why).
    value : float or None
        What was measured: the loss, the loss with ``reg_test``, the final
        training accuracy.
    expected : float or None
        What a healthy model gives (``log(C)``, the reg=0 loss, 1.0).
    message : str
        One line: what was measured and, when it failed, what is wrong and what to change.
    details : dict
        Extra numbers (``iterations``, ``loss_first``, ``loss_last``, ...).
    """

    name: str
    passed: bool | None
    value: float | None
    expected: float | None
    message: str
    details: dict = field(default_factory=dict)

    def __str__(self):
        tag = {True: "[ok]  ", False: "[FAIL]", None: "[skip]"}[self.passed]
        return f"{tag} {self.message}"


@dataclass
class SanityReport:
    """The three checks of :func:`check`, with the numbers a test can assert on.

    Attributes
    ----------
    loss : str
        ``"softmax"`` or ``"svm"``.
    num_classes : int
    initial_loss : float
        Mean loss over the probe samples with ``reg = 0``.
    expected_loss : float
        ``log(C)`` (softmax) or ``C - 1`` (SVM).
    loss_with_reg : float or None
        The same loss with ``reg = reg_test`` (None without a ``reg`` attribute).
    overfit_iterations : int or None
        Iterations until 100% training accuracy on the subset (None: never reached).
    overfit_accuracy : float
        Training accuracy on the subset at the end.
    checks : list of SanityCheck
        ``initial_loss``, ``regularization``, ``overfit`` in that order.
    """

    loss: str
    num_classes: int
    initial_loss: float
    expected_loss: float
    loss_with_reg: float | None
    overfit_iterations: int | None
    overfit_accuracy: float
    checks: list = field(default_factory=list)

    @property
    def ok(self):
        """True when no check failed (a skipped check does not fail the report)."""
        return all(c.passed is not False for c in self.checks)

    def __getitem__(self, name):
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"SanityReport: no check named {name!r}; "
                       f"have {[c.name for c in self.checks]}")

    def __str__(self):
        head = (f"sanity checks ({self.loss} loss, {self.num_classes} classes): "
                f"{'all passed' if self.ok else 'FAILED'}")
        return "\n".join([head] + [f"  {c}" for c in self.checks])


# ----------------------------------------------------------------- helpers

def _arrays(data, fn):
    """(X, y) from a Solver data dict or an (X, y) pair."""
    if isinstance(data, dict):
        if "X_train" not in data or "y_train" not in data:
            raise KeyError(f"{fn}: data must hold 'X_train' and 'y_train' (a Solver data dict) "
                           f"or be an (X, y) pair; got keys {sorted(data)}")
        X, y = data["X_train"], data["y_train"]
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = data
    else:
        raise TypeError(f"{fn}: data must be a dict with X_train/y_train or an (X, y) pair, "
                        f"got {type(data).__name__}")
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"{fn}: X has {len(X)} samples but y has {len(y)}")
    if len(X) == 0:
        raise ValueError(f"{fn}: the data is empty")
    return X, y


def _check_model(model, fn):
    if not isinstance(getattr(model, "params", None), dict) or not callable(
            getattr(model, "loss", None)):
        raise TypeError(f"{fn}: model must have a params dict and a loss(X, y=None) method "
                        f"(a fastnn.models.Model; wrap a Sequential as Model(net)), "
                        f"got {type(model).__name__}")


def _posint(v, name, fn, minimum=1):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ValueError(f"{fn}: {name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _loss_name(loss, fn):
    if loss not in LOSSES:
        raise ValueError(f"{fn}: loss must be one of {list(LOSSES)}, got {loss!r}")
    return loss


def _with_reg(model, reg):
    """A deep copy of ``model`` with ``reg`` set (when it has the attribute)."""
    m = copy.deepcopy(model)
    if hasattr(m, "reg"):
        m.reg = float(reg)
    return m


def expected_initial_loss(num_classes, loss="softmax"):
    """The loss of a classifier whose scores are all equal: ``log(C)`` (softmax) or ``C - 1`` (SVM).

    Parameters
    ----------
    num_classes : int
        C, at least 2.
    loss : {"softmax", "svm"}
    """
    C = _posint(num_classes, "num_classes", "expected_initial_loss", minimum=2)
    return math.log(C) if _loss_name(loss, "expected_initial_loss") == "softmax" else float(C - 1)


# ----------------------------------------------------------------- the checks

def initial_loss(model, X, y, loss="softmax", tol=0.2):
    """Check the loss of the model with ``reg = 0`` against :func:`expected_initial_loss`.

    Parameters
    ----------
    model : the Solver's model contract
        Not modified (a deep copy with ``reg = 0`` is used).
    X, y : arrays
        The probe samples (all of them are used, in one batch).
    loss : {"softmax", "svm"}
        Which loss ``model.loss`` computes.
    tol : float
        Allowed relative distance from the expected loss.

    Returns
    -------
    SanityCheck
        ``value`` the measured loss, ``expected`` the chance-level loss,
        ``details["num_classes"]``.

    Shape
    -----
    X : (N, ...) ; y : (N,) integer labels.
    """
    fn = "initial_loss"
    _check_model(model, fn)
    _loss_name(loss, fn)
    if not (isinstance(tol, numbers.Real) and tol > 0):
        raise ValueError(f"{fn}: tol must be a positive number, got {tol!r}")
    m = _with_reg(model, 0.0)
    scores = np.asarray(m.loss(X[:1]))
    if scores.ndim != 2:
        raise ValueError(f"{fn}: model.loss(X) must return scores of shape (N, C), "
                         f"got shape {scores.shape}")
    C = int(scores.shape[1])
    yi = np.asarray(y)
    if yi.size and (int(yi.min()) < 0 or int(yi.max()) >= C):
        return SanityCheck(fn, False, None, None,
                           f"labels run from {int(yi.min())} to {int(yi.max())} but the model "
                           f"has {C} outputs: fix the labels or num_classes",
                           {"num_classes": C})
    value, _ = m.loss(X, y)
    value = float(value)
    expected = expected_initial_loss(C, loss)
    what = f"log({C}) = {expected:.3f}" if loss == "softmax" else f"C - 1 = {expected:.0f}"
    msg = f"initial loss {value:.3f} with reg=0; expected about {what}"
    details = {"num_classes": C, "tol": float(tol)}
    if not math.isfinite(value):
        return SanityCheck(fn, False, value, expected,
                           msg + ": the loss is not finite; check the inputs for NaN/inf and "
                           "the init scale", details)
    rel = (value - expected) / expected
    details["relative_error"] = rel
    if rel > tol:
        msg += (f" ({rel:+.0%}): the scores at init are too large; use a smaller init for "
                f"the last layer (e.g. N(0, 1e-3^2) or Xavier) or normalise the inputs")
        return SanityCheck(fn, False, value, expected, msg, details)
    if rel < -tol:
        msg += (f" ({rel:+.0%}): below chance before training; the labels may leak into "
                f"the inputs, or the loss is not averaged over the batch")
        return SanityCheck(fn, False, value, expected, msg, details)
    return SanityCheck(fn, True, value, expected, msg, details)


def regularization_raises_loss(model, X, y, reg_test=1.0):
    """Check that raising ``model.reg`` from 0 to ``reg_test`` raises the loss.

    Parameters
    ----------
    model : the Solver's model contract, with a ``reg`` attribute
        Not modified (deep copies are used); without ``reg`` the check is skipped.
    X, y : arrays
        Probe samples.
    reg_test : float
        The raised regularisation strength.

    Returns
    -------
    SanityCheck
        ``value`` the loss with ``reg_test``, ``expected`` the loss with reg 0
        (the check passes when ``value`` is larger).
    """
    fn = "regularization_raises_loss"
    _check_model(model, fn)
    if not (isinstance(reg_test, numbers.Real) and reg_test > 0 and math.isfinite(reg_test)):
        raise ValueError(f"{fn}: reg_test must be a positive number, got {reg_test!r}")
    if not hasattr(model, "reg"):
        return SanityCheck("regularization", None, None, None,
                           "regularization check skipped: the model has no reg attribute")
    base, _ = _with_reg(model, 0.0).loss(X, y)
    raised, _ = _with_reg(model, reg_test).loss(X, y)
    base, raised = float(base), float(raised)
    msg = f"reg 0 -> {reg_test:g}: loss {base:.4f} -> {raised:.4f}"
    ok = raised > base + 1e-7 * max(1.0, abs(base))
    if not ok:
        msg += ("; the loss did not rise: the L2 term is not added to the loss (or every "
                "weight is zero)")
    return SanityCheck("regularization", ok, raised, base, msg, {"reg_test": float(reg_test)})


def overfit_small_subset(model, X, y, num_samples=20, max_iterations=300, update_rule="adam",
                         optim_config=None, seed=0):
    """Train a copy of the model with ``reg = 0`` on ``num_samples`` samples until 100% accuracy.

    Uses :class:`fastnn.Solver` with one batch of all the samples per
    iteration (an epoch is one iteration) and checks the training accuracy
    after every iteration.

    Parameters
    ----------
    model : the Solver's model contract
        Not modified (a deep copy is trained).
    X, y : arrays
        The first ``num_samples`` samples are used.
    num_samples : int
        Size of the subset (the lecture: 20).
    max_iterations : int
        Give up after this many iterations.
    update_rule, optim_config
        As for :class:`fastnn.Solver` (default Adam with its default learning rate).
    seed : int
        Seeds the Solver.

    Returns
    -------
    SanityCheck
        ``value`` the final training accuracy, ``expected`` 1.0,
        ``details["iterations"]`` the first iteration at 100% (None: never),
        ``details["loss_first"]``, ``details["loss_last"]``.
    """
    from fastnn.solver import Solver
    fn = "overfit_small_subset"
    _check_model(model, fn)
    n = _posint(num_samples, "num_samples", fn)
    iters = _posint(max_iterations, "max_iterations", fn)
    Xs, ys = X[:n], y[:n]
    n = len(Xs)
    m = _with_reg(model, 0.0)
    subset = {"X_train": Xs, "y_train": ys, "X_val": Xs, "y_val": ys}
    solver = Solver(m, subset, update_rule=update_rule,
                    optim_config=copy.deepcopy(optim_config) or {}, batch_size=n,
                    num_epochs=iters, num_train_samples=None, verbose=False, seed=seed)
    diverged = None
    try:
        solver.train()
    except FloatingPointError as exc:
        diverged = str(exc)
    acc = solver.train_acc_history
    # train_acc_history[k] is the accuracy after iteration k + 1 (one iteration per epoch;
    # a check after the first iteration and one after every epoch, the first two coincide)
    after = acc[1:] if len(acc) == iters + 1 else acc
    hit = next((k + 1 for k, a in enumerate(after) if a >= 1.0), None)
    losses = solver.loss_history
    details = {"iterations": hit, "num_samples": n, "max_iterations": iters,
               "loss_first": losses[0] if losses else None,
               "loss_last": losses[-1] if losses else None}
    final = float(after[-1]) if after else 0.0
    what = f"overfit {n} samples (reg=0)"
    if hit is not None:
        return SanityCheck("overfit", True, 1.0, 1.0,
                           f"{what}: 100% training accuracy after {hit} iterations", details)
    best = max(after) if after else 0.0
    if diverged is not None or (losses and not math.isfinite(losses[-1])):
        advice = "the loss diverged (NaN/inf): lower the learning rate about 10x"
    elif losses and max(losses) > 1.5 * losses[0]:
        advice = (f"the loss jumped from {losses[0]:.3g} to {max(losses):.3g}: the learning "
                  f"rate is too high, lower it about 10x")
    elif losses and losses[-1] > 0.9 * losses[0]:
        advice = ("the loss barely moved: raise the learning rate about 10x, check the "
                  "gradients (fastnn gradcheck), or look for dead units (fastnn.monitor)")
    else:
        advice = ("the loss falls but too slowly: raise the learning rate, train longer "
                  "(max_iterations), or use a larger model")
    return SanityCheck("overfit", False, final, 1.0,
                       f"{what}: training accuracy reached only {best:.0%} in {iters} "
                       f"iterations; {advice}", details)


def check(model, data, loss="softmax", num_probe=500, tol=0.2, reg_test=1.0, num_samples=20,
          max_iterations=300, update_rule="adam", optim_config=None, seed=0):
    """Run the three checks (initial loss, regularisation, overfitting a small subset).

    Parameters
    ----------
    model : the Solver's model contract (``params``, ``loss(X, y=None)``, ``reg``)
        Not modified: every check works on a deep copy.
    data : dict or (X, y)
        A Solver data dict (``X_train``, ``y_train`` are used) or an (X, y) pair.
    loss : {"softmax", "svm"}
        Which loss ``model.loss`` computes (sets the expected initial loss).
    num_probe : int
        Samples for the initial-loss and regularisation checks (the first ones).
    tol : float
        Relative tolerance of the initial-loss check.
    reg_test : float
        Regularisation strength of the regularisation check.
    num_samples, max_iterations, update_rule, optim_config, seed
        The overfitting check (see :func:`overfit_small_subset`).

    Returns
    -------
    SanityReport
    """
    fn = "check"
    _check_model(model, fn)
    _loss_name(loss, fn)
    X, y = _arrays(data, fn)
    n = _posint(num_probe, "num_probe", fn)
    Xp, yp = X[:n], y[:n]
    first = initial_loss(model, Xp, yp, loss=loss, tol=tol)
    checks = [first]
    if first.value is None:      # labels out of range: the other checks cannot run
        checks += [SanityCheck("regularization", None, None, None, "skipped: " + first.message),
                   SanityCheck("overfit", None, None, None, "skipped: " + first.message)]
        return SanityReport(loss, first.details["num_classes"], math.nan, math.nan, None,
                            None, 0.0, checks)
    checks.append(regularization_raises_loss(model, Xp, yp, reg_test=reg_test))
    checks.append(overfit_small_subset(model, X, y, num_samples=num_samples,
                                       max_iterations=max_iterations, update_rule=update_rule,
                                       optim_config=optim_config, seed=seed))
    return SanityReport(loss=loss, num_classes=first.details["num_classes"],
                        initial_loss=first.value, expected_loss=first.expected,
                        loss_with_reg=checks[1].value,
                        overfit_iterations=checks[2].details["iterations"],
                        overfit_accuracy=checks[2].value, checks=checks)
