"""Early stopping of bad trials, with the epoch as the resource: ASHA and the median rule.

A trial under a scheduler trains in segments, from one milestone epoch to
the next: at each milestone it reports its metric (the best validation
accuracy so far) and its Solver checkpoint, and the scheduler promotes it
(the next segment continues from the checkpoint) or stops it.  A worker never
waits for a decision: while one is open it trains another segment or starts
a new trial.

Reproducibility: every decision is a function of the trials' reported values
only, never of the order in which they arrive, and is taken as soon as later
reports cannot change it; the trials promoted, the trials stopped and the
final table are therefore the same for ``n_jobs=1``, ``n_jobs=N`` and Dask.

* :class:`ASHA` (successive halving, asynchronous execution): milestones at
  ``min_epochs * eta**k`` epochs below the trial's last epoch.  Of the
  ``n_k`` trials reaching milestone k (``n_0`` = the stage's trials), the best
  ``q_k = max(1, n_k // eta)`` are promoted (``n_{k+1} = q_k``; ties go to
  the lower trial index), which is the outcome of synchronous successive
  halving.  Trial i is promoted as soon as fewer than ``q_k`` trials can
  still be better than it (those reported better, plus those not yet
  reported), and stopped as soon as ``q_k`` reported trials are better.
* :class:`MedianStop` (the median stopping rule): at each milestone, trial i
  is stopped when its value is below the median of the values at that
  milestone of the trials with a lower index that reached it (decided once
  each of them has reported there or ended before it; at least
  ``min_trials`` of them, else it goes on).

A trial that diverges or fails in a segment reports the worst value at the
milestone it was heading for.
"""
import math
import numbers

import numpy as np

__all__ = ["ASHA", "MedianStop"]


def _positive_int(v, name, fn, minimum=1):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ValueError(f"{fn}: {name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


class ASHA:
    """Asynchronous successive halving: keep the best ``1/eta`` at each milestone.

    Parameters
    ----------
    eta : int >= 2, default 3
        Reduction factor: milestones at ``min_epochs * eta**k`` epochs, and
        ``1/eta`` of the trials reaching a milestone go on.
    min_epochs : int >= 1, default 1
        The first milestone.
    """

    name = "asha"

    def __init__(self, eta=3, min_epochs=1):
        self.eta = _positive_int(eta, "eta", "ASHA", 2)
        self.min_epochs = _positive_int(min_epochs, "min_epochs", "ASHA")

    def __repr__(self):
        return f"ASHA(eta={self.eta}, min_epochs={self.min_epochs})"

    def milestones(self, max_epochs):
        """Epochs at which trials are judged: ``min_epochs * eta**k`` below ``max_epochs``."""
        out, m = [], self.min_epochs
        while m < max_epochs:
            out.append(m)
            m *= self.eta
        return out

    def quotas(self, n_trials, n_milestones):
        """Trials promoted past each milestone."""
        q, n = [], n_trials
        for _ in range(n_milestones):
            n = max(1, n // self.eta)
            q.append(n)
        return q

    def decide(self, stage, i, k):
        """"promote", "stop" or None (not decided yet) for trial i at milestone k."""
        reports = stage.reports[k]
        n_k = stage.n if k == 0 else stage.quotas[k - 1]
        q = stage.quotas[k]
        key = (-reports[i], i)
        better = sum((-v, j) < key for j, v in reports.items())
        if better >= q:
            return "stop"
        if better + (n_k - len(reports)) < q:
            return "promote"
        return None


class MedianStop:
    """The median stopping rule: stop a trial below the median of the earlier trials.

    Parameters
    ----------
    min_epochs : int >= 1, default 1
        The first milestone; then every ``every`` epochs.
    every : int >= 1, default 1
    min_trials : int >= 1, default 3
        Earlier trials needed at a milestone before anything is stopped there.
    """

    name = "median"

    def __init__(self, min_epochs=1, every=1, min_trials=3):
        self.min_epochs = _positive_int(min_epochs, "min_epochs", "MedianStop")
        self.every = _positive_int(every, "every", "MedianStop")
        self.min_trials = _positive_int(min_trials, "min_trials", "MedianStop")

    def __repr__(self):
        return (f"MedianStop(min_epochs={self.min_epochs}, every={self.every}, "
                f"min_trials={self.min_trials})")

    def milestones(self, max_epochs):
        """Epochs at which trials are judged: every ``every`` epochs from ``min_epochs``, below ``max_epochs``."""
        return list(range(self.min_epochs, max_epochs, self.every))

    def quotas(self, n_trials, n_milestones):
        """No promotion quotas (the median rule judges each trial on its own): a list of None."""
        return [None] * n_milestones

    def decide(self, stage, i, k):
        """"stop" when trial i is below the median of the earlier trials at milestone k, "promote" when not, None while undecided."""
        ref = []
        for j in range(i):
            if j in stage.reports[k]:
                if stage.reports[k][j] > -math.inf:
                    ref.append(stage.reports[k][j])
            elif not stage.ended_before(j, k):
                return None
        if len(ref) < self.min_trials:
            return "promote"
        return "stop" if stage.reports[k][i] < float(np.median(ref)) else "promote"


def make_scheduler(spec, fn="search"):
    """None, "none", "asha", "median", or an :class:`ASHA` / :class:`MedianStop` object."""
    if spec is None or spec == "none":
        return None
    if spec == "asha":
        return ASHA()
    if spec == "median":
        return MedianStop()
    if isinstance(spec, (ASHA, MedianStop)):
        return spec
    raise ValueError(f"{fn}: scheduler must be 'asha', 'median', 'none', None, an ASHA or a "
                     f"MedianStop, got {spec!r}")
