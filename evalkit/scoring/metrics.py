"""Pure scoring functions: answer extraction, exact match, choice accuracy,
pass@k, ROUGE / BLEU / chrF, and the registry that task files name them by.

GSM8K, exact match and multiple-choice accuracy mirror lm-evaluation-harness
(tasks/gsm8k/gsm8k.yaml v3, filters/extraction.py RegexFilter,
api/metrics.py exact_match_hf_evaluate, api/task.py process_results), so the
numbers here can be put next to published lm-eval numbers. Reference metrics
call the reference implementations (rouge_score, sacrebleu) directly.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

# lm-eval gsm8k.yaml filter_list: "strict-match" (take the first "#### N") and
# "flexible-extract" (take the last number-like run in the text).
GSM8K_STRICT_PATTERN = re.compile(r"#### (\-?[0-9\.\,]+)")
GSM8K_FLEXIBLE_PATTERN = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
# lm-eval gsm8k.yaml metric_list: exact_match settings, applied in this order
# to prediction and reference alike.
GSM8K_REGEXES_TO_IGNORE = (",", "\\$", "(?s).*#### ", "\\.$")
GSM8K_MATCH_SETTINGS = {
    "regexes_to_ignore": GSM8K_REGEXES_TO_IGNORE,
    "ignore_case": True,
    "ignore_punctuation": False,
}
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@dataclass(frozen=True)
class SampleScore:
    """One sample's score.

    value: the metric (exact match 0/1, accuracy 0/1, ROUGE F-measure ...).
    extracted: the answer pulled out of the output, where the scorer extracts one.
    valid: False when the output could not be parsed. The value is then 0.0,
    as lm-eval scores its "[invalid]" fallback, and the report counts these
    samples separately so they are never silently dropped.
    """

    value: float
    extracted: str | None = None
    valid: bool = True


# ---------------------------------------------------------------- GSM8K --


def _regex_extract(pattern: re.Pattern[str], text: str, group_select: int) -> str | None:
    """lm-eval RegexFilter.apply for one response; None where lm-eval says "[invalid]"."""
    matches = pattern.findall(text)
    if not matches:
        return None
    match = matches[group_select]
    if isinstance(match, tuple):  # several groups: the first that matched
        non_empty = [group for group in match if group]
        if not non_empty:
            return None
        match = non_empty[0]
    return match.strip()


def extract_strict(text: str) -> str | None:
    """The number after the first "#### " (a few-shot continuation that writes
    further "Question: ... #### 5" blocks does not change the answer)."""
    return _regex_extract(GSM8K_STRICT_PATTERN, text, group_select=0)


def extract_flexible(text: str) -> str | None:
    """The last number-like run in the text, e.g. "$1,234." or "-7"."""
    return _regex_extract(GSM8K_FLEXIBLE_PATTERN, text, group_select=-1)


def exact_match(
    prediction: str | None,
    reference: str,
    regexes_to_ignore: Sequence[str] = (),
    ignore_case: bool = False,
    ignore_punctuation: bool = False,
    ignore_numbers: bool = False,
) -> bool:
    """lm-eval's exact_match_hf_evaluate for one pair (defaults as there).

    Strings are compared after normalisation, not numbers: "3.50" and "3.5"
    differ, as in lm-eval. A None prediction (unparseable) never matches.
    """
    if prediction is None:
        return False
    for pattern in regexes_to_ignore:
        prediction = re.sub(pattern, "", prediction)
        reference = re.sub(pattern, "", reference)
    if ignore_case:
        prediction, reference = prediction.lower(), reference.lower()
    if ignore_punctuation:
        table = str.maketrans("", "", string.punctuation)
        prediction, reference = prediction.translate(table), reference.translate(table)
    if ignore_numbers:
        table = str.maketrans("", "", string.digits)
        prediction, reference = prediction.translate(table), reference.translate(table)
    return prediction == reference


def normalize_number(text: str) -> str:
    """The string GSM8K exact match compares: commas, "$", everything up to the
    last "#### " and one trailing "." removed, lower-cased ("$1,234." -> "1234")."""
    for pattern in GSM8K_REGEXES_TO_IGNORE:
        text = re.sub(pattern, "", text)
    return text.lower()


def gsm8k_target(answer_field: str) -> str:
    """The final answer of a GSM8K solution: the text after its last "#### "."""
    if "#### " not in answer_field:
        raise ValueError(
            f"GSM8K answer has no '#### ' final-answer marker: {answer_field[-80:]!r}; "
            "pass the dataset's 'answer' field unchanged"
        )
    return re.sub(r"(?s).*#### ", "", answer_field)


def _gsm8k_score(extracted: str | None, reference: str) -> SampleScore:
    if extracted is None:
        return SampleScore(0.0, None, valid=False)
    matched = exact_match(extracted, reference, **GSM8K_MATCH_SETTINGS)
    return SampleScore(float(matched), extracted)


def gsm8k_strict(prediction: str, reference: str) -> SampleScore:
    """lm-eval gsm8k "strict-match"; reference: the answer field or its target."""
    return _gsm8k_score(extract_strict(prediction), reference)


def gsm8k_flexible(prediction: str, reference: str) -> SampleScore:
    """lm-eval gsm8k "flexible-extract"; reference: the answer field or its target."""
    return _gsm8k_score(extract_flexible(prediction), reference)


# ------------------------------------------------------- multiple choice --


def _gold_indices(gold_index: int | Sequence[int], n_choices: int) -> list[int]:
    golds = [gold_index] if isinstance(gold_index, (int, np.integer)) else list(gold_index)
    bad = [g for g in golds if not 0 <= g < n_choices]
    if bad or not golds:
        raise ValueError(f"gold index {gold_index!r} out of range for {n_choices} choices")
    return golds


def choice_accuracy(loglikelihoods: Sequence[float], gold_index: int | Sequence[int]) -> float:
    """1.0 if the most likely option is gold (a list of golds: any of them)."""
    lls = np.asarray(loglikelihoods, dtype=float)
    golds = _gold_indices(gold_index, len(lls))
    return 1.0 if int(np.argmax(lls)) in golds else 0.0


def acc_norm(
    loglikelihoods: Sequence[float], gold_index: int | Sequence[int], choices: Sequence[str]
) -> float:
    """lm-eval acc_norm: argmax of log-likelihood per character of the choice.

    choices are the option strings as the task's doc_to_choice gives them,
    without the " " delimiter put before the continuation (lm-eval divides
    by len(choice) in characters, not bytes or tokens).
    """
    lls = np.asarray(loglikelihoods, dtype=float)
    if len(choices) != len(lls):
        raise ValueError(f"{len(lls)} log-likelihoods but {len(choices)} choices")
    lengths = np.array([float(len(choice)) for choice in choices])
    if (lengths == 0).any():
        raise ValueError(f"empty answer choice at index {int(np.argmin(lengths))}: {choices!r}")
    golds = _gold_indices(gold_index, len(lls))
    return 1.0 if int(np.argmax(lls / lengths)) in golds else 0.0


def acc_norm_nospace(
    loglikelihoods: Sequence[float], gold_index: int | Sequence[int], continuations: Sequence[str]
) -> float:
    """lighteval's loglikelihood_acc_norm_nospace (SmolLM2's evaluation): argmax of log-likelihood per
    character of the scored continuation, its leading space not counted (LogProbCharNorm with
    ignore_first_space). With lm-eval's " " delimiter it picks what acc_norm picks; it differs where
    the continuation starts otherwise (no delimiter under a chat template, a newline)."""
    lls = np.asarray(loglikelihoods, dtype=float)
    if len(continuations) != len(lls):
        raise ValueError(f"{len(lls)} log-likelihoods but {len(continuations)} continuations")
    lengths = np.array([float(len(c) - 1 if c.startswith(" ") else len(c)) for c in continuations])
    if (lengths == 0).any():
        raise ValueError(f"empty continuation at index {int(np.argmin(lengths))}: {continuations!r}")
    golds = _gold_indices(gold_index, len(lls))
    return 1.0 if int(np.argmax(lls / lengths)) in golds else 0.0


# ---------------------------------------------------------------- pass@k --


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c passed (Chen et al. 2021):
    1 - C(n-c, k) / C(n, k), computed as a product so it cannot overflow."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= correct <= samples, got correct={c}, samples={n}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs at least k={k} samples per problem, got n={n}")
    if n - c < k:  # every draw of k contains a passing sample
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


# ----------------------------------------------------- reference metrics --


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer  # imports nltk's stemmer: keep it lazy

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def rouge(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1/2/L/Lsum F-measures (rouge_score, Porter stemmer).

    rougeLsum treats each line as a sentence, as the library does: text whose
    sentences are not on separate lines gets rougeLsum == rougeL.
    """
    scores = _rouge_scorer().score(reference, prediction)  # (target, prediction)
    return {name: scores[name].fmeasure for name in ROUGE_TYPES}


def _rouge_scorer_for(name: str) -> Callable[[str, str], SampleScore]:
    def score(prediction: str, reference: str) -> SampleScore:
        return SampleScore(rouge(prediction, reference)[name])

    score.__name__ = name
    return score


def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu corpus BLEU (default 13a tokenizer, exp smoothing), one reference each."""
    import sacrebleu

    _check_parallel(predictions, references)
    return sacrebleu.corpus_bleu(list(predictions), [list(references)]).score


def corpus_chrf(predictions: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu corpus chrF (character 6-grams, beta 2), one reference each."""
    import sacrebleu

    _check_parallel(predictions, references)
    return sacrebleu.corpus_chrf(list(predictions), [list(references)]).score


def sentence_bleu(prediction: str, reference: str) -> SampleScore:
    """sacrebleu sentence BLEU (effective n-gram order, as sacrebleu sets it)."""
    import sacrebleu

    return SampleScore(sacrebleu.sentence_bleu(prediction, [reference]).score)


def sentence_chrf(prediction: str, reference: str) -> SampleScore:
    import sacrebleu

    return SampleScore(sacrebleu.sentence_chrf(prediction, [reference]).score)


def corpus_statistics(
    metric: str, predictions: Sequence[str], references: Sequence[str]
) -> tuple[np.ndarray, Callable[[np.ndarray], float]]:
    """Per-document sufficient statistics of a corpus metric, and the function
    that turns a stack of them back into the corpus score.

    BLEU and chrF are not means of sentence scores; they are computed from
    summed n-gram counts. Resampling rows of these statistics gives the exact
    corpus score of every bootstrap sample (sacrebleu's own significance tests
    do the same), for stats.bootstrap_ci(stats, statistic).
    """
    from sacrebleu.metrics import BLEU, CHRF

    metrics = {"bleu": BLEU, "chrf": CHRF}
    if metric not in metrics:
        raise ValueError(f"unknown corpus metric {metric!r}; known: {sorted(metrics)}")
    _check_parallel(predictions, references)
    scorer = metrics[metric]()
    stats = np.array(scorer._extract_corpus_statistics(list(predictions), [list(references)]))

    def score_of(rows: np.ndarray) -> float:
        return float(scorer._compute_score_from_stats(rows.sum(axis=0)).score)

    return stats, score_of


def _check_parallel(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")


# -------------------------------------------------------------- registry --

# Generation scorers take (prediction: str, reference: str); choice scorers
# take (loglikelihoods, gold_index, choices). Both return a SampleScore.
SCORERS: dict[str, Callable[..., SampleScore]] = {
    "gsm8k_strict": gsm8k_strict,
    "gsm8k_flexible": gsm8k_flexible,
    "exact_match": lambda prediction, reference: SampleScore(
        float(exact_match(prediction, reference))
    ),
    **{name: _rouge_scorer_for(name) for name in ROUGE_TYPES},
    "sentence_bleu": sentence_bleu,
    "sentence_chrf": sentence_chrf,
    "acc": lambda lls, gold, choices: SampleScore(choice_accuracy(lls, gold)),
    "acc_norm": lambda lls, gold, choices: SampleScore(acc_norm(lls, gold, choices)),
}
SCORER_KINDS: dict[str, str] = {
    name: ("choice" if name in ("acc", "acc_norm") else "generate") for name in SCORERS
}
CORPUS_METRICS: dict[str, Callable[[Sequence[str], Sequence[str]], float]] = {
    "bleu": corpus_bleu,
    "chrf": corpus_chrf,
}


def get_scorer(name: str) -> Callable[..., SampleScore]:
    if name not in SCORERS:
        raise ValueError(f"unknown scorer {name!r}; known: {', '.join(sorted(SCORERS))}")
    return SCORERS[name]
