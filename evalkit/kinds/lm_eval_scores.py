"""Scoring an lm-eval task with its own code: filters, process_results, aggregations, group aggregates.

What lm-eval's evaluator does after the model has answered, with evalkit's responses: the
Instances get their responses, the task's filter pipelines run (`strict-match`, `flexible-extract`
...), process_results scores each document per filter, the task's aggregation functions give the
values and each Group's own `aggregate` the group's. evalkit adds n and a 95% interval to every
value (mean-type metrics: Wilson/normal as native tasks; other aggregations such as f1, BLEU or
perplexity: a bootstrap over items) and keeps a per-sample record, so paired comparisons work.

Metric names: lm-eval's metric, with `,filter` when the filter is not "none" (exact_match,strict-match);
a group's subtasks and subgroups add `/name` as a native task's subjects do (acc/mmlu_anatomy).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np

from evalkit.kinds import metric_rows
from evalkit.scoring import stats
from evalkit.types import Generation, Loglikelihood

BOOTSTRAP_INTERVAL = "bootstrap over items of the task's aggregation"
SLOW_CORPUS_METRICS = {"bleu", "chrf", "chrf++", "ter"}  # lm-eval too bootstraps these 100 times, not 100,000
SLOW_ROUNDS = 100


def _resp(response):
    if isinstance(response, Loglikelihood):
        return (response.logprob, response.is_greedy)
    if isinstance(response, Generation):
        return response.text
    return response.logprob  # rolling


def _key(metric: str, filter_key: str) -> str:
    return metric if filter_key == "none" else f"{metric},{filter_key}"


def _per_doc_metrics(lm_task, name: str, samples, responses) -> list[tuple[Any, dict[str, Any], list]]:
    """(sample, {metric key: value}, its Instances) per document, as lm-eval's evaluate() loop computes them."""
    from lm_eval.api.instance import Instance

    docs, instances = [], []
    for sample, answers in zip(samples, responses):
        doc = lm_task.eval_docs[sample.row["doc_id"]]
        start, own = 0, []
        for idx, request in enumerate(sample.row["requests"]):
            repeats = request["repeats"] or 1
            instance = Instance(request["type"], doc, tuple(request["args"]), idx,
                                metadata=(name, sample.row["doc_id"], repeats))
            instance.resps = [_resp(r) for r in answers[start : start + repeats]]
            start += repeats
            own.append(instance)
        docs.append((sample, doc, own))
        instances += own
    lm_task._instances = instances  # where apply_filters reads them, as build_all_requests leaves them
    lm_task.apply_filters()
    scored = []
    for sample, doc, own in docs:
        values: dict[str, Any] = {}
        for filter_key in own[0].filtered_resps:
            metrics = lm_task.process_results(doc, [i.filtered_resps[filter_key] for i in own])
            values.update({_key(m, filter_key): v for m, v in metrics.items()})
        scored.append((sample, values, own))
    return scored


def _aggregation(lm_task, metric: str):
    from lm_eval.api.metrics import mean

    return lm_task.aggregation().get(metric.split(",")[0], mean)


def _aggregation_name(function) -> str:
    from lm_eval.api.registry import AGGREGATION_REGISTRY

    names = {f: n for n, f in AGGREGATION_REGISTRY.items()}
    return names.get(function, f"{function.__module__}.{function.__qualname__}")


def _interval_row(metric: str, items: list, aggregate, seed: int, primary: bool, **info) -> dict[str, Any]:
    """A mean gets the native tasks' interval; any other aggregation a bootstrap of it over items."""
    from lm_eval.api.metrics import mean

    if aggregate is mean and all(isinstance(v, (int, float)) for v in items):
        return metric_rows.mean_row(metric, [float(v) for v in items], primary=primary, **info)
    rounds = SLOW_ROUNDS if metric.split(",")[0] in SLOW_CORPUS_METRICS else metric_rows.BOOTSTRAP_ROUNDS
    estimate = stats.bootstrap_ci(np.arange(len(items)), lambda idx: float(aggregate([items[int(i)] for i in idx])),
                                  rounds=rounds, seed=seed)
    value = float(aggregate(items))
    estimate = stats.Estimate(value, len(items), estimate.ci_low, estimate.ci_high, estimate.stderr)
    return metric_rows.row(metric, estimate, f"{BOOTSTRAP_INTERVAL} ({rounds} rounds)", primary=primary,
                           stderr=estimate.stderr, **info)


def score(loaded, samples, responses, seed: int = 0):
    by_task: dict[str, list] = defaultdict(list)
    for sample, answers in zip(samples, responses):
        by_task[sample.row["subtask"]].append((sample, answers))
    records, rows, leaf_metrics, items_of = [], [], {}, {}
    single = len(loaded.tasks) == 1 and not loaded.groups
    groups_of = defaultdict(list)  # leaf task → the groups it is in, so a record answers acc/<group>
    for group in loaded.groups.values():
        for leaf in group.get_all_tasks():
            groups_of[leaf.task_name].append(group.name)
    for name, pairs in by_task.items():
        lm_task = loaded.tasks[name]
        scored = _per_doc_metrics(lm_task, name, [s for s, _ in pairs], [a for _, a in pairs])
        keys = list(dict.fromkeys(k for _, values, _ in scored for k in values))
        higher = lm_task.higher_is_better()
        aggregations = {k: _aggregation(lm_task, k) for k in keys}
        non_mean = {k: _aggregation_name(f) for k, f in aggregations.items() if _aggregation_name(f) != "mean"}
        for (sample, values, own), (_, answers) in zip(scored, pairs):
            record = _record(lm_task, sample, values, own, non_mean, groups_of.get(name, []))
            if lm_task.OUTPUT_TYPE == "generate_until":  # the report's health checks count truncated outputs
                record["scores"]["finish_reasons"] = [a.finish_reason for a in answers if isinstance(a, Generation)]
            records.append(record)
        leaf_metrics[name] = {"sample_len": len(scored)}
        for k in keys:
            items = [values[k] for _, values, _ in scored if k in values]
            items_of[(name, k)] = items
            leaf_metrics[name][k if "," in k else f"{k},none"] = float(aggregations[k](items))
            metric = k if single else f"{k}/{name}"
            rows.append(_interval_row(metric, items, aggregations[k], seed, primary=single and k == keys[0],
                                      higher_is_better=bool(higher.get(k.split(",")[0], True)), lm_eval_task=name,
                                      aggregation=_aggregation_name(aggregations[k])))
    rows += _group_rows(loaded, leaf_metrics, items_of, seed)
    return records, rows


def _record(lm_task, sample, values: dict[str, Any], instances: list, non_mean: dict[str, str],
            groups: list[str]) -> dict[str, Any]:
    """The document's scores, plus what it was scored on: each option's log-likelihood and the pick
    (multiple choice), the generation (generate_until), the document's log-likelihood (rolling)."""
    doc = lm_task.eval_docs[sample.row["doc_id"]]
    target = lm_task.doc_to_target(doc)
    scores = json.loads(json.dumps(values, default=float))
    scores.update(subtask=sample.row["subtask"], groups=groups, aggregation=non_mean)
    first = [i.resps[0] for i in instances]
    response = ""
    if lm_task.OUTPUT_TYPE in ("multiple_choice", "loglikelihood"):
        scores["loglikelihoods"] = [float(r[0]) for r in first]
        scores["is_greedy"] = [bool(r[1]) for r in first]
    if lm_task.OUTPUT_TYPE == "multiple_choice":
        choices = lm_task.doc_to_choice(doc)
        picked = max(range(len(first)), key=lambda i: first[i][0])
        scores.update(chosen=picked, gold=target if isinstance(target, list) else [target])
        response = choices[picked] if picked < len(choices) else ""
        if isinstance(target, int) and target < len(choices):
            target = choices[target]  # the answer's text, not its index
    elif lm_task.OUTPUT_TYPE == "generate_until":
        response = first[0]
        scores["filtered"] = {k: str(v) for k, v in instances[0].filtered_resps.items()}
    elif lm_task.OUTPUT_TYPE == "loglikelihood_rolling":
        scores["loglikelihood"] = float(first[0])
    prompt = sample.row["requests"][0]["args"][0] if sample.row["requests"] else ""
    return {"sample_id": sample.id, "prompt": prompt, "response": response, "target": str(target), "scores": scores}


def _group_rows(loaded, leaf_metrics, items_of, seed: int) -> list[dict[str, Any]]:
    """Each group's aggregate by its own Group.aggregate; the top-level groups' under the plain names."""
    from lm_eval.api.metrics import mean

    children = {c for g in loaded.groups.values() for c in g.child_names}
    rows = []
    for group in loaded.groups.values():
        if not group.has_aggregation:
            continue
        aggregated = group.aggregate(leaf_metrics)
        leaves = [t.task_name for t in group.get_all_tasks() if t.task_name in leaf_metrics]
        weights = {c.metric: c.weight_by_size for c in group.aggregate_metric_list}
        top = group.name not in children
        for key, value in aggregated.items():
            if "," not in key or "_stderr," in key or not isinstance(value, (int, float)):
                continue
            metric, filter_key = key.split(",", 1)
            evalkit_key = _key(metric, filter_key)
            parts = [items_of[(t, evalkit_key)] for t in leaves if (t, evalkit_key) in items_of]
            name = evalkit_key if top else f"{evalkit_key}/{group.name}"
            pooled = [v for part in parts for v in part]
            aggs = {_aggregation(loaded.tasks[t], evalkit_key) for t in leaves}
            info = {"lm_eval_group": group.name, "weight_by_size": weights.get(metric, True)}
            if weights.get(metric, True) and aggs == {mean}:
                row = metric_rows.mean_row(name, [float(v) for v in pooled], primary=top, **info)
            else:
                row = _group_bootstrap(name, parts, sorted(aggs, key=id), weights.get(metric, True), seed, top, info)
            row["value"] = float(value)  # lm-eval's own figure, not a re-computation
            rows.append(row)
    return rows


def _group_bootstrap(name, parts, aggs, weight_by_size, seed, primary, info):
    from lm_eval.api.metrics import aggregate_subtask_metrics

    aggregate = aggs[0] if len(aggs) == 1 else None
    owners = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    flat = [v for p in parts for v in p]

    def statistic(idx):
        chosen = [[flat[int(i)] for i in idx if owners[int(i)] == k] for k in range(len(parts))]
        kept = [c for c in chosen if c]
        values = [float((aggregate or (lambda x: sum(x) / len(x)))(c)) for c in kept]
        return aggregate_subtask_metrics(values, [len(c) for c in kept], weight_by_size)

    estimate = stats.bootstrap_ci(np.arange(len(flat)), statistic, rounds=SLOW_ROUNDS, seed=seed)
    return metric_rows.row(name, estimate, f"{BOOTSTRAP_INTERVAL} ({SLOW_ROUNDS} rounds)", primary=primary, **info)


def lower_is_better(metric: str) -> bool:
    try:
        from lm_eval.api.registry import is_higher_better
    except ImportError:
        return False
    base = metric.split("/")[0].split(",")[0]
    try:
        return is_higher_better(base) is False
    except Exception:  # a task's own metric, not in lm-eval's registry: its rows say higher_is_better
        return False


def compare(metric: str, records_a: list[dict], records_b: list[dict], seed: int = 0) -> stats.Comparison:
    """McNemar / paired bootstrap of the mean on the same items; a non-mean aggregation (f1, BLEU,
    perplexity) is bootstrapped as itself. Within a subtask for metric/subtask."""
    key, _, subtask = metric.partition("/")
    if subtask:
        pairs = [(a, b) for a, b in zip(records_a, records_b)
                 if subtask == a["scores"].get("subtask") or subtask in a["scores"].get("groups", ())]
    else:
        pairs = list(zip(records_a, records_b))
    pairs = [(a, b) for a, b in pairs if key in a["scores"] and key in b["scores"]]
    if not pairs:
        raise ValueError(f"this lm-eval task has no per-item scores for {metric!r}")
    name = pairs[0][0]["scores"].get("aggregation", {}).get(key, "mean")
    a_items, b_items = [a["scores"][key] for a, _ in pairs], [b["scores"][key] for _, b in pairs]
    if name == "mean":
        return stats.compare(a_items, b_items, seed=seed)
    from lm_eval.api.registry import get_aggregation

    aggregate = get_aggregation(name) if "." not in name else None
    if aggregate is None:
        raise ValueError(f"metric {metric!r} uses the task's own aggregation {name}, which a paired comparison "
                         "cannot load from lm-eval's registry")
    pool = a_items + b_items
    n = len(a_items)
    return stats.paired_bootstrap(np.arange(n), np.arange(n) + n, seed=seed,
                                  rounds=SLOW_ROUNDS if key.split(",")[0] in SLOW_CORPUS_METRICS else metric_rows.BOOTSTRAP_ROUNDS,
                                  statistic=lambda idx: float(aggregate([pool[int(i)] for i in idx])))
