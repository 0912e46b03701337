"""A configured model resolved to a folder and a fingerprint, and the cached fetch every feature
uses: responses come from the store where possible, and new ones are committed as they finish."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evalkit.config import ModelSpec
from evalkit.errors import ConfigError
from evalkit.models import local_pool, ray_pool
from evalkit.models.parallel import World
from evalkit.store import Store
from evalkit.types import BACKEND_METHODS, Request, request_key, stable_hash


@dataclass
class ModelHandle:
    """A model resolved to a folder and fingerprint; the backend loads on first cache miss."""

    spec: ModelSpec
    folder: Any
    fingerprint: str
    _backend: Any = field(default=None, repr=False)
    computed: int = 0  # responses this process asked the backend for (the rest came from the cache)

    def backend(self):
        """The model's backend in this process (with worker processes beside it in a run that has them:
        local_pool.py), or under `--ray` the cluster's workers running it (local weights only: an endpoint
        is called from here, where its concurrency setting already applies)."""
        if self._backend is None:
            pool = ray_pool.active()
            self._backend = (pool.backend(self) if pool is not None and self.folder is not None
                             else local_pool.load(self.spec, self.folder))
        return self._backend


class ItemCount:
    """Progress in items (a task's questions) over requests (a question's options): an item is done when every
    request of it this process computes is answered. Without items, each request is its own item."""

    def __init__(self, keys: list[str], items: list[int] | None, own: set[str], missing: set[str]):
        items = items if items is not None else list(range(len(keys)))
        self.open: dict[int, set[str]] = {}
        self.items_of: dict[str, set[int]] = {}
        for key, item in zip(keys, items):
            if key in own:
                self.open.setdefault(item, set())
                if key in missing:
                    self.open[item].add(key)
                    self.items_of.setdefault(key, set()).add(item)
        self.total = len(self.open)
        self.done = sum(not waiting for waiting in self.open.values())

    def answered(self, key: str) -> None:
        for item in self.items_of.pop(key, ()):
            self.open[item].discard(key)
            self.done += not self.open[item]


def fetch_responses(handle: ModelHandle, requests: list[Request], store: Store, progress=None,
                    ranks: World = World(), items: list[int] | None = None) -> list:
    """Responses for `requests`, from the cache where possible; new ones are committed as they finish.
    Under a launcher each rank computes its share and the main rank alone writes them all
    (evalkit/models/parallel.py); a rank other than the main one returns None for what it did not compute.
    progress(done, total) counts items, `items` giving each request's item (default: one per request)."""
    keys = [request_key(handle.fingerprint, r) for r in requests]
    distinct = list(dict.fromkeys(keys))
    own = ranks.shard(distinct)  # every key with one process
    found = store.cached_responses(set(keys)) if ranks.is_main else {}
    cached = ranks.from_main(set(found))  # what the main rank holds; the others read no store
    missing: dict[str, Request] = {}
    for key, request in zip(keys, requests):
        if key not in cached and key in own:
            missing.setdefault(key, request)
    count = ItemCount(keys, items, set(own), set(missing))
    if progress:
        progress(count.done, count.total)
    computed: list[tuple[str, Request, Any]] = []
    by_kind: dict[str, list[tuple[str, Request]]] = {}
    for key, request in missing.items():
        by_kind.setdefault(request.kind, []).append((key, request))
    for kind, items in by_kind.items():
        method = getattr(handle.backend(), BACKEND_METHODS[kind])
        for index, response in method([request for _, request in items]):
            key, request = items[index]
            if ranks.is_main:
                store.put_responses(handle.fingerprint, [(key, request, response)])
            else:
                computed.append((key, request, response))
            found[key] = response
            handle.computed += 1
            count.answered(key)
            if progress:
                progress(count.done, count.total)
    if ranks.size > 1:  # the other ranks' shares travel to the main rank, which commits them
        for share in ranks.to_main(computed) or []:
            store.put_responses(handle.fingerprint, share)
            found.update((key, response) for key, _, response in share)
    return [found.get(key) for key in keys]


def endpoint_handle(spec: ModelSpec) -> ModelHandle:
    """An OpenAI-compatible endpoint: nothing to resolve locally. The URL and the tokenizer decide what
    its responses are (the API key never does: it is not stored)."""
    return ModelHandle(spec, None, stable_hash({"endpoint": spec.source, "model": spec.name, "base_url": spec.base_url,
                                                "tokenizer": spec.tokenizer, "max_length": spec.max_length})[:24])


def chat_renderer(handle: ModelHandle):
    """messages → the model's prompt text through its own chat template, ready for the reply (prompt
    formats that run in the chat template); raises ConfigError where the model has none to apply."""
    where = handle.folder or handle.spec.tokenizer
    if where is None or not handle.spec.chat_template:
        why = "chat_template = false in its config" if where else "no local tokenizer to render it with"
        raise ConfigError(f"model {handle.spec.name!r}: a chat format needs its chat template, and it has {why}; "
                          "drop chat and fewshot-multiturn from --formats for it")
    backend = handle._backend
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(where)
    if not tokenizer.chat_template:
        raise ConfigError(f"model {handle.spec.name!r}: its tokenizer ({where}) has no chat template, which a chat "
                          "format needs; drop chat and fewshot-multiturn from --formats, or give it one")

    def render(messages: list[dict[str, str]]) -> str:
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    return render
