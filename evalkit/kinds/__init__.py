"""Task kinds: how a task's samples become backend requests and its responses become scores.

    base.py        TaskKind: validate, check_sample, requests, score, compare, primary_metrics,
                   lower_is_better — what the task loader, the runner and the report call
    choice.py      log-likelihood over answer options (MMLU, ARC, TruthfulQA MC; Winogrande's partial scoring)
    loglikelihood.py  one continuation per item: greedy accuracy and perplexity (LAMBADA)
    generate.py    free text scored by an extractor or a reference metric (GSM8K, ROUGE/BLEU)
    code.py        generated programs run against tests in the sandbox (HumanEval, pass@k)
    perplexity.py  rolling log-likelihood of whole documents (WikiText)
    lm_eval.py     lm-evaluation-harness's own tasks (its YAML, filters, process_results) on evalkit's
                   backends; lm_eval_tasks.py loads them and its catalogue, lm_eval_scores.py scores

`responses[i]` holds the responses to `requests(task, samples[i])`, in order. The registry below
is the one place a kind is named; a task file's `kind` picks from it.
"""

from __future__ import annotations

from evalkit.kinds.base import TaskKind
from evalkit.kinds.choice import ChoiceKind
from evalkit.kinds.code import CodeKind
from evalkit.kinds.generate import GenerateKind
from evalkit.kinds.lm_eval import LmEvalKind
from evalkit.kinds.loglikelihood import LoglikelihoodKind
from evalkit.kinds.perplexity import PerplexityKind

KINDS: dict[str, TaskKind] = {kind.name: kind() for kind in (PerplexityKind, ChoiceKind, LoglikelihoodKind, GenerateKind,
                                                          CodeKind, LmEvalKind)}

__all__ = ["KINDS", "TaskKind"]
