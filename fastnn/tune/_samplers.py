"""Who proposes a stage's configs: a fixed list (random and grid search) or Optuna's TPE.

``sampler="tpe"`` asks Optuna's :class:`optuna.samplers.TPESampler` (seeded
with the search seed and the stage) for the configs; fastnn still runs the
trials, stops bad ones, and keeps the table.  Reproducible rule: configs are
asked in batches of ``tpe_batch`` (default 8) trials; batch b is asked all at
once, after every trial of the earlier batches has been told its value (the
trial's value at its first milestone under a scheduler, its final value
without one; failed trials are told as failed).  What TPE sees at each ask is
thus the same on every backend; workers wait for a batch only between batches.
"""
import math
import numbers

from fastnn.tune._spaces import Space, _Choice, _Conditional, _LogUniform, _RandInt

_OPTUNA_PLAIN = (type(None), bool, int, float, str)


class ListProposer:
    """Configs known up front: trial i's is ``tasks[i]``."""

    def __init__(self, tasks):
        self.tasks = list(tasks)

    def available(self, i):
        return True

    def propose(self, i):
        return self.tasks[i]

    def tell(self, i, value):
        pass


def _suggest(trial, space):
    config = {}
    for k, dim in space.items():
        if isinstance(dim, _Conditional):
            if not dim.active(config):
                continue
            dim = dim.dim
        if not isinstance(dim, Space):
            config[k] = dim
        elif isinstance(dim, _Choice):
            vals = dim.values
            if all(isinstance(v, _OPTUNA_PLAIN) for v in vals):
                config[k] = trial.suggest_categorical(k, vals)
            else:
                config[k] = vals[trial.suggest_categorical(k, list(range(len(vals))))]
        elif isinstance(dim, _RandInt):
            config[k] = int(trial.suggest_int(k, dim.low, dim.high - 1))
        else:
            config[k] = float(trial.suggest_float(k, dim.low, dim.high,
                                                  log=isinstance(dim, _LogUniform)))
    return config


class TPEProposer:
    """Configs from Optuna's TPE sampler, asked in batches (see the module's docstring)."""

    def __init__(self, space, seeds, seed, stage, mode, batch):
        try:
            import optuna
        except ImportError:
            raise ImportError("sampler='tpe' needs Optuna: pip install 'fastnn[optuna]'") from None
        if isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1:
            raise ValueError(f"tpe_batch must be an integer >= 1, got {batch!r}")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        sampler = optuna.samplers.TPESampler(seed=int(seed) * 1000 + int(stage))
        self.study = optuna.create_study(direction="maximize" if mode == "max" else "minimize",
                                         sampler=sampler)
        self.space, self.seeds, self.batch = space, list(seeds), int(batch)
        self.trials, self.configs, self.told = {}, {}, set()

    def available(self, i):
        start = (i // self.batch) * self.batch
        return i in self.configs or all(j in self.told for j in range(start))

    def propose(self, i):
        if i not in self.configs:
            start = (i // self.batch) * self.batch
            for j in range(start, min(start + self.batch, len(self.seeds))):
                t = self.study.ask()
                self.trials[j], self.configs[j] = t, _suggest(t, self.space)
        return dict(self.configs[i]), self.seeds[i]

    def tell(self, i, value):
        if i in self.told:
            return
        self.told.add(i)
        if value is None or not math.isfinite(value):
            self.study.tell(self.trials[i], state=self.optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(self.trials[i], float(value))
