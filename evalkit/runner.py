"""task × model → requests → cached responses → scores, all kept in the store.

Responses are committed the moment the backend yields them, so a killed run
loses nothing finished; a rerun asks the backend only for what is missing.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from evalkit import models, provenance
from evalkit.config import Config, ModelSpec, TaskOptions
from evalkit.parallel import World, world
from evalkit.store import Store
from evalkit.tasks import Sample, Task, load_task
from evalkit.types import Request, request_key

BACKEND_METHODS = {"loglikelihood": "loglikelihood", "rolling": "loglikelihood_rolling", "generate": "generate"}


@dataclass
class ModelHandle:
    """A model resolved to a folder and fingerprint; the backend loads on first cache miss."""

    spec: ModelSpec
    folder: Any
    fingerprint: str
    _backend: Any = field(default=None, repr=False)
    computed: int = 0  # responses this process asked the backend for (the rest came from the cache)

    def backend(self):
        if self._backend is None:
            from evalkit.backends import load_backend

            self._backend = load_backend(self.spec, self.folder)
        return self._backend


def prepare_model(config: Config, name: str, store: Store) -> ModelHandle:
    spec = config.model(name)
    if spec.source.startswith(("openai:", "http://", "https://")):
        from evalkit.types import stable_hash

        # The URL and the tokenizer decide what an endpoint's responses are (the key never does: it is not stored).
        return ModelHandle(spec, None, stable_hash({"endpoint": spec.source, "model": spec.name, "base_url": spec.base_url,
                                                    "tokenizer": spec.tokenizer, "max_length": spec.max_length})[:24])
    ranks = world()
    if spec.recipe:  # trained on demand from its parent (reused when already built): evalkit/train/build.py
        from evalkit.train.build import prepare_recipe_model

        # every rank trains (TRL shards the batches); the main rank then merges and saves alone
        resolved = prepare_recipe_model(config, spec, store, prepare_model)
        ranks.barrier()
    else:  # one rank converts a GGUF or downloads from the hub into the shared cache
        resolved = ranks.main_first(models.resolve, spec, config.root)
    return ModelHandle(spec, resolved.folder, models.fingerprint(spec, resolved, store))


def fetch_responses(handle: ModelHandle, requests: list[Request], store: Store, progress=None,
                    ranks: World = World()) -> list:
    """Responses for `requests`, from the cache where possible; new ones are committed as they finish.
    Under a launcher each rank computes its share (evalkit/parallel.py), then all are read back."""
    keys = [request_key(handle.fingerprint, r) for r in requests]
    distinct = list(dict.fromkeys(keys))
    own = ranks.shard(distinct)  # every key with one process
    found = store.cached_responses(set(keys))
    missing: dict[str, Request] = {}
    for key, request in zip(keys, requests):
        if key not in found and key in own:
            missing.setdefault(key, request)
    total = len(own)
    done = total - len(missing)
    if progress:
        progress(done, total)
    by_kind: dict[str, list[tuple[str, Request]]] = {}
    for key, request in missing.items():
        by_kind.setdefault(request.kind, []).append((key, request))
    for kind, items in by_kind.items():
        method = getattr(handle.backend(), BACKEND_METHODS[kind])
        for index, response in method([request for _, request in items]):
            key, request = items[index]
            store.put_responses(handle.fingerprint, [(key, request, response)])
            found[key] = response
            handle.computed += 1
            done += 1
            if progress:
                progress(done, total)
    if ranks.size > 1:  # the other ranks' shares are in the store once everyone has passed the barrier
        ranks.barrier()
        found.update(store.cached_responses(set(keys) - found.keys()))
    return [found[key] for key in keys]


def evaluate_task(handle: ModelHandle, task: Task, samples: list[Sample], options: TaskOptions, store: Store,
                  run_id: int | None, seed: int, progress=None, ranks: World = World()) -> list[dict[str, Any]]:
    handler = task.handler
    opts = {"seed": seed, "num_fewshot": options.num_fewshot, **options.extra}
    per_sample = [handler.requests(task, sample, opts) for sample in samples]
    flat = [request for requests in per_sample for request in requests]
    responses = fetch_responses(handle, flat, store, progress, ranks)
    if not ranks.is_main:  # the main rank scores and records; this rank's responses are in the store
        return []
    grouped, start = [], 0
    for requests in per_sample:
        grouped.append(responses[start : start + len(requests)])
        start += len(requests)
    records, metrics = handler.score(task, samples, grouped, opts)
    for metric in metrics:
        metric.setdefault("info", {})["task_version"] = task.version
    store.put_samples(run_id, handle.spec.name, task.name, records)
    store.put_results(run_id, handle.spec.name, task.name, metrics)
    return metrics


@dataclass(frozen=True)
class Plan:
    tasks: list[Task]
    samples: dict[str, list[Sample]]
    options: dict[str, TaskOptions]


def plan_suite(config: Config, suite_name: str) -> Plan:
    suite = config.suite(suite_name)
    search = [config.root / "tasks"]
    tasks = [load_task(name, search) for name in suite.tasks]
    options = {t.name: suite.options.get(t.name, TaskOptions()) for t in tasks}
    samples = {t.name: t.load_samples(options[t.name]) for t in tasks}
    return Plan(tasks, samples, options)


def run_provenance(config: Config, plan: Plan, handles: dict[str, ModelHandle], suite: str) -> dict[str, Any]:
    from evalkit.types import stable_hash

    info = provenance.collect(config.root)
    info["suite"] = suite
    info["seed"] = config.seed
    info["models"] = {name: {"fingerprint": h.fingerprint, "folder": str(h.folder), "spec": asdict(h.spec)}
                      for name, h in handles.items()}
    info["tasks"] = {t.name: {"version": t.version, "kind": t.kind, "file": str(t.path), "content_hash": t.content_hash,
                              "options": asdict(plan.options[t.name]), "n_samples": len(plan.samples[t.name]),
                              "data_hash": stable_hash([s.row for s in plan.samples[t.name]])[:16],
                              "data_origin": plan.samples[t.name][0].origin.rsplit(":", 1)[0] if plan.samples[t.name] else None}
                     for t in plan.tasks}
    return info


def run(config: Config, model_names: list[str], suite_name: str, store: Store, ui) -> int | None:
    """Evaluate every model on every task of the suite; returns the run id (None on a non-main rank
    of a data-parallel launch, which only computes its share of the responses)."""
    ranks = world()
    plan = plan_suite(config, suite_name)
    handles = {name: ui.step(f"preparing model {name}", prepare_model, config, name, store) for name in model_names}
    info = run_provenance(config, plan, handles, suite_name)
    info["parallel"] = ranks.describe()
    run_id = None
    if ranks.is_main:
        run_id = store.start_run({"models": model_names, "suite": suite_name, "config": config.raw}, info)
    timings: dict[str, float] = {}
    for name, handle in handles.items():
        for task in plan.tasks:
            started = time.perf_counter()
            with ui.progress(f"{name} · {task.name}") as progress:
                evaluate_task(handle, task, plan.samples[task.name], plan.options[task.name], store, run_id,
                              config.seed, progress, ranks)
            timings[f"{name}/{task.name}"] = round(time.perf_counter() - started, 3)
    computed = ranks.gather(sum(h.computed for h in handles.values()))
    if not ranks.is_main:
        return None
    info["parallel"]["responses_by_rank"] = computed
    if config.suite(suite_name).judge:  # pairwise judging of the models' answers: evalkit/judge_run.py
        from evalkit.judge_run import judge_suite

        info["judge"] = judge_suite(config, model_names, config.suite(suite_name), store, ui, handles)
    info["timings_s"] = timings
    info["environment"] = provenance.environment()  # now that the models have run: their thread count, GPU
    store.finish_run(run_id, info)
    return run_id
