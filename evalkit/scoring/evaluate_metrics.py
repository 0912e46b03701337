"""Any Hugging Face `evaluate` metric as a per-item scorer: `scorers = ["evaluate:NAME_OR_PATH"]`.

NAME is a metric of the `evaluate` hub (for users online) or the path of a local metric module (a
`.py` file or its folder), which loads offline. Its keyword arguments, and which value of its result
is the score, come from the task's `[scorer_args."evaluate:NAME"]` table:

    [scorer_args."evaluate:bertscore"]
    key = "f1"        # the result's value to score by (default: the only numeric one)
    lang = "en"       # passed to compute()

Each item is scored alone (compute() on one prediction and its reference), so every evaluate metric
gets evalkit's per-item records, interval and paired test; for a corpus-level metric (BLEU-like) that
is the per-item mean, not the corpus value: the built-in `bleu` and `chrf` are the corpus ones.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from numbers import Real
from typing import Any

from evalkit.errors import ConfigError

PREFIX = "evaluate:"


def is_evaluate(name: str) -> bool:
    return name.startswith(PREFIX)


@functools.cache
def load(name: str):
    """The metric module, loaded once per process; a metric that cannot be had is a ConfigError."""
    import evaluate  # start-up time: evaluate imports datasets and its hub client

    target = name.removeprefix(PREFIX)
    try:
        return evaluate.load(target)
    except Exception as err:  # no hub, no such metric, a broken module: all say the same two fixes
        reason = " ".join(str(err).split())[:200]
        raise ConfigError(f"scorer {name!r}: the evaluate metric {target!r} could not be loaded ({type(err).__name__}: "
                          f"{reason}); a metric by name needs the hub (online), or give the path of a local metric "
                          f"module, e.g. \"evaluate:./metrics/my_metric.py\"") from None


def scorer(name: str, args: dict[str, Any], where: str) -> Callable[[str, str], float]:
    """prediction, reference -> the metric's value on that one item."""
    metric = load(name)
    options = {k: v for k, v in args.items() if k != "key"}
    key = args.get("key")

    def score(prediction: str, reference: str) -> float:
        result = metric.compute(predictions=[prediction], references=[reference], **options)
        return _value(result, key, name, where)

    return score


def _value(result: dict[str, Any], key: str | None, name: str, where: str) -> float:
    numeric = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in (result or {}).items()}
    numeric = {k: float(v) for k, v in numeric.items() if isinstance(v, Real) and not isinstance(v, bool)}
    if key is None:
        if len(numeric) != 1:
            raise ConfigError(f"{where}: scorer {name!r} returns {sorted(numeric) or 'no numbers'}; say which is the "
                              f"score with key = \"...\" in [scorer_args.\"{name}\"]")
        return next(iter(numeric.values()))
    if key not in numeric:
        raise ConfigError(f"{where}: [scorer_args.\"{name}\"] key = {key!r}, but the metric returns "
                          f"{sorted(numeric) or 'no numbers'}")
    return numeric[key]
