"""Continuous batching over the transformers decoder: one generation engine for every caller.

Up to `batch_size` rows decode together; a row leaves as soon as it ends (end-of-sequence, a
stop string, its token limit) and a waiting request is read into the freed slot before the next
step; a server's requests that arrive while a batch runs (`arrivals`) wait for a slot the same way.
Prompts that share a long prefix (a few-shot block, a system prompt, a judge template) have the
prefix's keys and values computed once and only their own tokens read on top of it; an arrival whose
prompt starts with the prefix of a family still running joins that family. Each
request samples from its own generator seeded with its own seed, so a sampled output does not
depend on what else is in the batch or in which order requests arrive. The cache (hf_cache.py)
is bounded by a token budget: a request joins only when the rows' current lengths fit, and when
growing rows no longer fit, the row that joined last goes back to the queue with its tokens and
its generator, to be read again later (vLLM's recompute preemption).

Our own loop rather than transformers' `generate_batch` / `ContinuousBatchingManager`
(transformers 5.23). That one does run on a CPU, on its paged cache, and gave the same greedy text
as this loop at the same speed on 8 GSM8K prompts here; but it samples every row with one
`torch.multinomial` over the whole batch from the process's global generator, so a sampled output
depends on its batch-mates and their order (no per-request seed), and it stops only at EOS or a
token limit (no stop strings). Models whose cache is not a plain full-attention one
(sliding windows, quantised or offloaded caches) decode one row at a time on the model's own
cache: slower, the same tokens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from evalkit.backends.hf_cache import GROW, SlotCache, plain_dynamic, repeat_cache
from evalkit.backends.tokens import GENERATION_CACHE_TOKENS, cut_at_stops, length_batches, prefix_families
from evalkit.types import Generation, GenerationRequest

OnToken = Callable[[int, int], None]  # (request index, token id): called for every generated token
# Called before every step of a running batch: requests that arrived meanwhile, as (index, prompt ids,
# request) with indices the caller chose; they join the batch like any waiting request (a server's).
Arrivals = Callable[[], list[tuple[int, list[int], GenerationRequest]]]


@dataclass
class _Row:
    index: int
    request: GenerationRequest
    prompt: list[int]
    generator: torch.Generator
    family: int | None = None  # which shared prefix the prompt starts with
    generated: list[int] = field(default_factory=list)
    joined: int = 0  # when it last joined the batch: the newest row is the one preempted

    def tokens(self) -> list[int]:
        return self.prompt + self.generated


def generate(backend, prompts: Sequence[list[int]], requests: Sequence[GenerationRequest],
             on_token: OnToken | None = None, arrivals: Arrivals | None = None) -> Iterator[tuple[int, Generation]]:
    """(index, Generation) for every request, in the order they finish; with `arrivals`, also for the
    requests it hands over while the batch runs, until it has none and the batch is empty."""
    rows = [_Row(i, r, list(p), torch.Generator().manual_seed(r.seed)) for i, (p, r) in enumerate(zip(prompts, requests))]
    while True:
        for row in rows:
            if row.request.max_new_tokens <= 0:
                yield row.index, Generation(text="", n_tokens=0, finish_reason="length")
        rows = [row for row in rows if row.request.max_new_tokens > 0]
        if rows and _plain_cache(backend):
            yield from _Batch(backend, rows, on_token, arrivals).run()
        else:
            for row in rows:
                yield row.index, _generate_alone(backend, row, on_token)
        rows = _rows(arrivals() if arrivals else [])
        if not rows:
            return


def _rows(arrived: list[tuple[int, list[int], GenerationRequest]]) -> list[_Row]:
    return [_Row(i, r, list(p), torch.Generator().manual_seed(r.seed)) for i, p, r in arrived]


class _Batch:
    def __init__(self, backend, rows: list[_Row], on_token: OnToken | None, arrivals: Arrivals | None = None):
        self.backend, self.on_token, self.eos_ids = backend, on_token, _eos_ids(backend)
        self.arrivals = arrivals
        self.prefixes = _Prefixes(backend, rows)
        # Families next to each other (their prefix is kept only while members remain), then longest first.
        self.waiting = deque(sorted(rows, key=lambda r: (r.family is None, r.family or 0, -len(r.prompt))))
        self.live: list[_Row] = []
        self.cache = SlotCache(backend.model.config.get_text_config().num_hidden_layers,
                               GENERATION_CACHE_TOKENS, backend.batch_size)
        self.hidden: torch.Tensor | None = None  # [live rows, hidden]: each row's last hidden state
        self.joins = 0

    def run(self) -> Iterator[tuple[int, Generation]]:
        while self.waiting or self.live:
            arrived = _rows(self.arrivals() if self.arrivals else [])
            for row in arrived:
                if row.request.max_new_tokens <= 0:
                    yield row.index, Generation(text="", n_tokens=0, finish_reason="length")
            arrived = [row for row in arrived if row.request.max_new_tokens > 0]
            self.prefixes.add(arrived)  # behind the waiting rows, in a live family where their prompt fits one
            self.waiting.extend(arrived)
            self._admit()
            logprobs = self.backend._logprobs(self.hidden)
            ended = []
            for r, row in enumerate(self.live):
                reason = self._advance(row, _choose(logprobs[r], row.request, row.generator))
                if reason:
                    ended.append((r, reason))
            for r, reason in sorted(ended, reverse=True):
                row = self.live[r]
                self._remove(r)
                self.prefixes.done(row)
                yield row.index, _finish(self.backend, row.generated, row.request, reason)
            if self.live:
                self._step()

    def _advance(self, row: _Row, token: int) -> str | None:
        """Takes the row's next token; the reason it ended, or None while it goes on."""
        if token in self.eos_ids:
            return "stop"
        row.generated.append(token)
        if self.on_token:
            self.on_token(row.index, token)
        if _hit_stop(self.backend, row.generated, row.request.stop):
            return "stop"
        return "length" if len(row.generated) >= row.request.max_new_tokens else None

    def _admit(self) -> None:
        """Waiting rows join while there is a free slot and the rows' lengths (plus GROW columns of
        headroom) fit the token budget; an empty batch always takes one."""
        joining: list[_Row] = []
        width = max((len(row.tokens()) + 1 for row in self.live), default=0)
        headroom = max((_headroom(row) for row in self.live), default=0)
        while self.waiting:
            row = self.waiting[0]
            wanted, room = max(width, len(row.tokens()) + 1), max(headroom, _headroom(row))
            if (self.live or joining) and not self.cache.fits(len(self.live) + len(joining) + 1, wanted + room):
                break
            joining.append(self.waiting.popleft())
            width, headroom = wanted, room
        if joining:
            self._prefill(joining, width)

    def _prefill(self, joining: list[_Row], width: int) -> None:
        """Reads the joining rows' tokens (on top of their shared prefix where they have one) in batches
        of near-equal length, and appends them to the cache and to the live rows."""
        by_family: dict[int | None, list[_Row]] = {}
        for row in joining:
            by_family.setdefault(row.family, []).append(row)
        hidden = [] if self.hidden is None else [self.hidden]
        for family, members in by_family.items():
            prefix = self.prefixes.get(family, len(members))
            shared = prefix[0] if prefix else 0
            ordered = sorted(members, key=lambda r: -len(r.tokens()))
            for batch in length_batches(ordered, lambda r, shared=shared: len(r.tokens()) - shared,
                                        self.backend.token_budget, self.backend.batch_size):
                repeated = (shared, repeat_cache(prefix[1], len(batch))) if prefix else None
                last, cache, _, lengths = self.backend._read_contexts([r.tokens() for r in batch], True, repeated)
                self.cache.reserve(len(self.live) + len(batch), width, cache)
                self.cache.append(cache, lengths.tolist())
                for row in batch:
                    self.joins += 1
                    row.joined = self.joins
                self.live.extend(batch)
                hidden.append(last)
        self.hidden = torch.cat(hidden)

    def _step(self) -> None:
        """One forward over every live row's newest token."""
        width = self.cache.width_in_use() + 1
        while not self.cache.fits(len(self.live), width):  # grown past the budget: the newest row waits
            newest = max(range(len(self.live)), key=lambda r: self.live[r].joined)
            self.waiting.appendleft(self.live[newest])
            self._remove(newest)
            width = self.cache.width_in_use() + 1
        self.cache.reserve(len(self.live), width)
        ids = torch.tensor([[row.generated[-1]] for row in self.live], device=self.backend.device)
        mask, positions = self.cache.step_inputs(self.cache.layers[0].buffers[0].dtype)
        out = self.backend.decoder(input_ids=ids, attention_mask=mask, position_ids=positions,
                                   past_key_values=self.cache, use_cache=True)
        self.cache.advance()
        self.hidden = out.last_hidden_state[:, -1]

    def _remove(self, r: int) -> None:
        last = len(self.live) - 1
        self.live[r] = self.live[last]
        self.live.pop()
        self.hidden[r] = self.hidden[last]
        self.hidden = self.hidden[:last]
        self.cache.remove(r)


class _Prefixes:
    """Shared prompt prefixes: each family's keys and values are computed when its first member joins
    and dropped when its last member is done. Rows that arrive later (a server's) join a family whose
    prefix their prompt starts with, or form new families among themselves."""

    def __init__(self, backend, rows: list[_Row]):
        self.backend = backend
        self.shared: dict[int, int] = {}  # family -> shared length
        self.left: dict[int, int] = {}  # family -> members not yet done
        self.rows: dict[int, _Row] = {}  # family -> a member, whose prompt holds the prefix
        self.caches: dict[int, object] = {}
        self.add(rows)

    def add(self, rows: list[_Row]) -> None:
        """Puts each row in the family whose prefix its prompt starts with, if any, then groups the rest."""
        loose = [row for row in rows if not self._adopt(row)]
        families, _ = prefix_families(list({tuple(row.prompt) for row in loose}))
        member_of: dict[tuple[int, ...], int] = {}
        for shared, members in families:
            family = len(self.shared)
            self.shared[family], self.left[family] = shared, 0
            member_of.update((m, family) for m in members)
        for row in loose:
            row.family = member_of.get(tuple(row.prompt))
            self._count(row)

    def _adopt(self, row: _Row) -> bool:
        for family, shared in self.shared.items():
            if self.left[family] and len(row.prompt) > shared and row.prompt[:shared] == self.rows[family].prompt[:shared]:
                row.family = family
                self._count(row)
                return True
        return False

    def _count(self, row: _Row) -> None:
        if row.family is not None:
            self.left[row.family] += 1
            self.rows.setdefault(row.family, row)

    def get(self, family: int | None, joining: int):
        """(shared length, cache of the prefix) for a family, or None: a family read alone gains nothing."""
        if family is None or (family not in self.caches and joining < 2 and self.left[family] < 2):
            return None
        if family not in self.caches:
            shared = self.shared[family]
            ids = torch.tensor([self.rows[family].prompt[:shared]], device=self.backend.device)
            self.caches[family] = self.backend.decoder(input_ids=ids, use_cache=True).past_key_values
        return self.shared[family], self.caches[family]

    def done(self, row: _Row) -> None:
        if row.family is not None:
            self.left[row.family] -= 1
            if self.left[row.family] == 0:
                self.caches.pop(row.family, None)


def _headroom(row: _Row) -> int:
    """Columns a row may still need before the buffers next grow: its remaining tokens, at most GROW."""
    return min(GROW, row.request.max_new_tokens - len(row.generated))


def _plain_cache(backend) -> bool:
    if not hasattr(backend, "_plain_generation_cache"):
        probe = backend.decoder(input_ids=torch.tensor([[backend.prefix_token]], device=backend.device), use_cache=True)
        backend._plain_generation_cache = plain_dynamic(probe.past_key_values)
    return backend._plain_generation_cache


def _generate_alone(backend, row: _Row, on_token: OnToken | None) -> Generation:
    """One row on the model's own cache, whatever its kind (sliding windows, quantised ...)."""
    eos_ids = _eos_ids(backend)
    out = backend.decoder(input_ids=torch.tensor([row.prompt], device=backend.device), use_cache=True)
    while True:
        token = _choose(backend._logprobs(out.last_hidden_state[:, -1])[0], row.request, row.generator)
        if token in eos_ids:
            return _finish(backend, row.generated, row.request, "stop")
        row.generated.append(token)
        if on_token:
            on_token(row.index, token)
        if _hit_stop(backend, row.generated, row.request.stop):
            return _finish(backend, row.generated, row.request, "stop")
        if len(row.generated) >= row.request.max_new_tokens:
            return _finish(backend, row.generated, row.request, "length")
        out = backend.decoder(input_ids=torch.tensor([[token]], device=backend.device),
                              past_key_values=out.past_key_values, use_cache=True)


def _choose(logprobs: torch.Tensor, request: GenerationRequest, generator: torch.Generator) -> int:
    if request.temperature <= 0:
        return int(logprobs.argmax())
    probs = torch.softmax(logprobs.float().cpu() / request.temperature, dim=-1)
    if request.top_p < 1.0:  # nucleus: keep the smallest set of tokens whose mass reaches top_p
        sorted_probs, order = probs.sort(descending=True)
        keep = sorted_probs.cumsum(0) - sorted_probs < request.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))


def _eos_ids(backend) -> set[int]:
    ids = {backend.tokenizer.eos_token_id}
    config_eos = getattr(getattr(backend.model, "generation_config", None), "eos_token_id", None)
    ids.update(config_eos if isinstance(config_eos, list) else [config_eos])
    return {i for i in ids if i is not None}


def _hit_stop(backend, tokens: list[int], stops: Sequence[str]) -> bool:
    if not stops:
        return False
    # Only the tail can contain a stop string that was not there one token ago.
    longest = max(len(s) for s in stops)
    tail = backend.tokenizer.decode(tokens[-(longest + 8):], skip_special_tokens=False)
    return any(stop in tail for stop in stops)


def _finish(backend, tokens: list[int], request: GenerationRequest, reason: str) -> Generation:
    text = cut_at_stops(backend.tokenizer.decode(tokens, skip_special_tokens=True), request.stop)
    return Generation(text=text, n_tokens=len(tokens), finish_reason=reason)
