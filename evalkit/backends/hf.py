"""transformers backend: log-likelihoods, rolling log-likelihoods, generation.

Batching rules that keep results independent of batch size (a test checks 1e-4):
sequences are right-padded for scoring, so under the causal mask real tokens
never see padding and keep their natural positions; no padding mask is passed
then, which keeps attention on the fused causal kernel (a mask forces the
masked path, several times slower on a CPU). Positions and a mask are passed
explicitly whenever a cache is extended past padding. Batches take only rows of
nearly equal length, because a padded position costs as much as a real one. A context shared by
several continuations is read once, in one row with all of them, and contexts that differ only near
their end share one row too (`_score_packed`).
Only the logits that are needed are computed: the LM head runs on the selected
positions, not on the whole vocabulary at every position.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from evalkit.backends import hf_generate
from evalkit.backends.cpu_linear import pack_linear_layers
from evalkit.backends.hf_cache import plain_dynamic, repeat_cache
from evalkit.backends.hf_load import load_model_and_tokenizer
from evalkit.backends.threads import follow_free_cores
from evalkit.backends.tokens import (
    CPU_TOKEN_BUDGET,
    config_window,
    context_bundles,
    TOKEN_BUDGET,
    encode_pair,
    length_batches,
    prefix_families,
    render_prompt,
    rolling_windows,
    truncate_left,
)
from evalkit.config import ModelSpec
from evalkit.types import (
    Generation,
    GenerationRequest,
    Loglikelihood,
    LoglikelihoodRequest,
    RollingLoglikelihood,
    RollingRequest,
)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
HEAD_CHUNK = 1024  # positions per LM-head call: bounds the [positions, vocab] logits in memory
# On a CPU, 64 positions' logits (12.5 MB at a 49k vocabulary) stay in the cache between the LM head
# and the logsumexp that reads them: the logsumexp runs 3x faster than on 1024 positions' 200 MB
# (measured on the 2-core AMD EPYC of bench/RESULTS.md; the LM head's own rate is the same).
CPU_HEAD_CHUNK = 64


def packed_length(bundle) -> int:
    """Tokens of the bundle's packed row (`packed_rows`)."""
    return len(pack(bundle)[0][0])


def packed_rows(bundles):
    """Token rows for `_score_packed` as (tokens, positions, parents), and for each request
    (index, row number, positions, continuation): `pack` for several bundles."""
    return joined([pack(bundle) for bundle in bundles])


def joined(packs):
    """Rows of several `pack`s, each request's entry with the number of its row."""
    return ([row for row, _ in packs],
            [(index, r, path, cont) for r, (_, wanted) in enumerate(packs) for index, path, cont in wanted])


def pack(bundle):
    """One packed row as (tokens, positions, parents), and for each request (index, the positions whose
    next-token distributions score its continuation, continuation). A bundle is a list of
    (context, [(request index, continuation)]) read as one row: its contexts, then each context's
    continuations (each but its last token), as one prefix tree. Contexts that start alike
    (Winogrande's two options, `context_bundles`) share those tokens, and so do continuations that
    start alike (PIQA's two solutions often differ in a word or two). `parents[i]` is the token that
    token i follows (-1: none); each token sees only the tokens it follows, at the position after them."""
    tokens: list[int] = []
    positions: list[int] = []
    parents: list[int] = []
    nodes: dict[tuple[int, int], int] = {}  # (parent, token) -> index in the row

    def follow(at: int, token: int, depth: int) -> int:
        if (at, token) not in nodes:
            nodes[(at, token)] = len(tokens)
            tokens.append(token)
            positions.append(depth)
            parents.append(at)
        return nodes[(at, token)]

    wanted = []
    for context, members in bundle:
        end = -1
        for depth, token in enumerate(context):
            end = follow(end, token, depth)
        for index, cont in members:
            at, path = end, [end]
            for depth, token in enumerate(cont[:-1], start=len(context)):
                at = follow(at, token, depth)
                path.append(at)
            wanted.append((index, path, cont))
    return (tokens, positions, parents), wanted


def in_causal_order(parents: list[int]) -> bool:
    """Whether every token of a packed row follows the one before it: then it needs no mask."""
    return parents == list(range(-1, len(parents) - 1))


def tree_mask(parents: list[int], width: int) -> torch.Tensor:
    """[width, width] booleans: each token sees itself and every token it follows (a padding position
    sees only itself, so that no row of the attention sees nothing)."""
    mask = torch.eye(width, dtype=torch.bool)
    chain = next((i for i, parent in enumerate(parents) if parent != i - 1), len(parents))
    mask[:chain, :chain] = torch.ones(chain, chain, dtype=torch.bool).tril()  # the context: plain causal order
    for i in range(chain, len(parents)):
        if parents[i] >= 0:  # a token that follows none (a bundle's contexts always share their first) sees itself
            mask[i] = mask[parents[i]]
        mask[i, i] = True
    return mask


class HFBackend:
    def __init__(self, spec: ModelSpec, folder: Path):
        self.spec = spec
        self.model, self.tokenizer, self.device = load_model_and_tokenizer(spec, folder)
        self.packed_linear_layers = pack_linear_layers(self.model)  # CPU only: cpu_linear.py says why
        self.batch_size = spec.batch_size
        self.token_budget = CPU_TOKEN_BUDGET if str(self.device) == "cpu" else TOKEN_BUDGET  # scoring forwards
        self.head_chunk = CPU_HEAD_CHUNK if str(self.device) == "cpu" else HEAD_CHUNK
        config = self.model.config
        self.max_length = spec.max_length or config_window(config)
        self.prefix_token = (self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None
                             else self.tokenizer.eos_token_id)
        self.pad_token = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.prefix_token
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        self.decoder = base.get_decoder()
        # CPU: the thread team follows the cores other processes leave free (threads.py says why);
        # torch's own default otherwise starts it at one thread per physical core.
        self.free_cores = follow_free_cores(self.decoder) if str(self.device) == "cpu" else None
        self.lm_head = base.get_output_embeddings()
        self.softcap = getattr(config, "final_logit_softcapping", None)
        self.packs: bool | None = None  # whether branching packed rows read as the cache path (_packing_agrees)

    # -- helpers ------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.lm_head(hidden).float()
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits

    def _logprobs(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self._logits(hidden), dim=-1)

    def _target_logprobs(self, hidden: torch.Tensor, targets: Sequence[int], check_greedy: bool = True,
                         per_token: list[float] | None = None) -> tuple[float, bool]:
        """Summed log-probability of `targets` at `hidden`'s positions (each one appended to `per_token`
        when given), and whether each was the argmax
        (always True when not `check_greedy`: perplexity does not need it, and the argmax over the
        vocabulary costs a tenth of the LM head)."""
        if len(hidden) != len(targets):
            raise ValueError(f"{len(hidden)} positions for {len(targets)} targets; slice off the padding first")
        total, greedy = 0.0, True
        for start in range(0, len(targets), self.head_chunk):
            logits = self._logits(hidden[start : start + self.head_chunk])
            wanted = torch.tensor(targets[start : start + self.head_chunk], device=logits.device)
            # logit - logsumexp rather than log_softmax: a float32 log_softmax on the CPU is biased
            # by about +1e-6 nats per token against float64 (it adds up over a long document), this is not
            picked = logits.gather(1, wanted[:, None]).squeeze(1) - torch.logsumexp(logits, dim=-1)
            total += float(picked.double().sum())
            if per_token is not None:  # rounded: they are stored with every cached response
                per_token.extend(round(v, 6) for v in picked.tolist())
            if check_greedy:
                greedy = greedy and bool((logits.argmax(dim=-1) == wanted).all())
        return total, greedy

    def _pad(self, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_token, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return ids.to(self.device), mask.to(self.device)

    # -- log-likelihood of continuations, sharing each context's forward pass ----------------
    @torch.inference_mode()
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> Iterator[tuple[int, Loglikelihood]]:
        groups: dict[tuple[int, ...], list[tuple[int, list[int]]]] = {}
        for index, request in enumerate(requests):
            context, continuation = encode_pair(self.encode, request.context, request.continuation, self.prefix_token)
            context, continuation = truncate_left(context, continuation, self.max_length)
            groups.setdefault(tuple(context), []).append((index, continuation))
        families, alone = prefix_families(list(groups))
        for shared, members in families:  # e.g. the five examples of a 5-shot subject: read once, not per question
            yield from self._score_family(shared, [(context, groups[context]) for context in members])
        bundles = [[(context, groups[context]) for context in bundle] for bundle in context_bundles(alone)]
        packs = [pack(bundle) for bundle in bundles]  # each row built once, for sizing and for scoring
        if self.packs is None:  # checked on the first row that branches: rows in causal order need no mask
            probe = next((i for i, ((_, _, parents), _) in enumerate(packs) if not in_causal_order(parents)), None)
            self.packs = None if probe is None else self._packing_agrees(bundles[probe], packs[probe])
        # Longest first: the first batch is the biggest, so an out-of-memory shows at once.
        if self.packs is not False:
            packs.sort(key=lambda packed: -len(packed[0][0]))
            for batch in length_batches(packs, lambda packed: len(packed[0][0]), self.token_budget, self.batch_size):
                yield from self._score_packed(batch)
        else:
            shared = sorted((group for bundle in bundles for group in bundle), key=lambda g: -len(g[0]))
            for batch in length_batches(shared, lambda g: len(g[0]), self.token_budget, self.batch_size):
                yield from self._score_groups(batch)

    def _score_packed(self, packs) -> Iterator[tuple[int, Loglikelihood]]:
        """Each bundle of contexts with all their continuations in one row of one forward, as a prefix
        tree (`pack`), each token placed at the position that follows its branch and seeing only
        that branch (a 4D mask, `tree_mask`). It reads
        at most the tokens the cache path (`_score_groups`) reads, without that path's second, masked forward on a cache copied per
        continuation: on 150 items, ARC-Challenge took 0.64x that path's time, PIQA 0.86x; and 0.87x
        the time of reading each context again with each continuation (lm-eval's way)."""
        rows, wanted = joined(packs)
        width = max(len(tokens) for tokens, _, _ in rows)
        ids = torch.full((len(rows), width), self.pad_token, dtype=torch.long)
        positions = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (tokens, position, _) in enumerate(rows):
            ids[r, : len(tokens)] = torch.tensor(tokens)
            positions[r, : len(tokens)] = torch.tensor(position)
        if all(in_causal_order(parents) for _, _, parents in rows):
            # Every row in plain causal order (one continuation, or several that are one another's start).
            # No mask: right padding is invisible to real tokens under the causal mask (see the module doc).
            hidden = self.decoder(input_ids=ids.to(self.device), use_cache=False).last_hidden_state
        else:
            mask = torch.stack([tree_mask(parents, width) for _, _, parents in rows])
            hidden = self.decoder(input_ids=ids.to(self.device), attention_mask=mask[:, None].to(self.device),
                                  position_ids=positions.to(self.device), use_cache=False).last_hidden_state
        yield from self._score_positions(hidden, wanted)

    def _score_positions(self, hidden: torch.Tensor, wanted) -> Iterator[tuple[int, Loglikelihood]]:
        """[(request index, row, positions, targets)] scored with one LM-head pass over the distinct
        positions: the letters of a multiple-choice question all read the same last context position."""
        unique: dict[tuple[int, int], int] = {}
        pairs = [[(unique.setdefault((row, at), len(unique)), target) for at, target in zip(ats, targets)]
                 for _, row, ats, targets in wanted]
        where = torch.tensor(list(unique), device=hidden.device)
        selected = hidden[where[:, 0], where[:, 1]]
        flat_u = torch.tensor([u for request in pairs for u, _ in request], device=hidden.device)
        flat_t = torch.tensor([t for request in pairs for _, t in request], device=hidden.device)
        picked = torch.empty(len(flat_u), dtype=torch.float64, device=hidden.device)
        hits = torch.empty(len(flat_u), dtype=torch.bool, device=hidden.device)
        for start in range(0, len(unique), self.head_chunk):
            logits = self._logits(selected[start : start + self.head_chunk])
            inside = ((flat_u >= start) & (flat_u < start + len(logits))).nonzero().squeeze(1)
            rows, targets = flat_u[inside] - start, flat_t[inside]
            # logit - logsumexp: see _target_logprobs
            values = logits[rows, targets] - torch.logsumexp(logits, dim=-1)[rows]
            picked[inside] = values.double()
            hits[inside] = logits.argmax(dim=-1)[rows] == targets
        start = 0
        for (index, _, _, targets), request in zip(wanted, pairs):
            end = start + len(request)
            yield index, Loglikelihood(logprob=float(picked[start:end].sum()), is_greedy=bool(hits[start:end].all()),
                                       n_tokens=len(targets))
            start = end

    def _packing_agrees(self, bundle, packed_bundle) -> bool:
        """Whether this model reads a branching packed row as it reads each context whole: the 4D mask and
        the positions are honoured by most decoders, not by all (ALiBi biases, sliding windows shorter
        than the row, custom attention): checked once, on the first such group, against the cache path."""
        packed = dict(self._score_packed([packed_bundle]))
        plain = dict(self._score_groups(bundle))
        return all(abs(packed[i].logprob - plain[i].logprob) < 1e-3 for i in plain)

    def _score_family(self, shared: int, groups) -> Iterator[tuple[int, Loglikelihood]]:
        """Groups whose contexts start with the same `shared` tokens: the prefix's keys and values are
        computed once, and each batch reads only the rest of its contexts on top of them."""
        prefix = torch.tensor([groups[0][0][:shared]], device=self.device)
        cache = self.decoder(input_ids=prefix, use_cache=True).past_key_values
        ordered = sorted(groups, key=lambda g: -len(g[0]))
        if not plain_dynamic(cache):  # sliding-window and other caches: read every context whole
            for batch in length_batches(ordered, lambda g: len(g[0]), self.token_budget, self.batch_size):
                yield from self._score_groups(batch)
            return
        for batch in length_batches(ordered, lambda g: len(g[0]) - shared, self.token_budget, self.batch_size):
            yield from self._score_groups(batch, (shared, cache))

    def _read_contexts(self, contexts: list[list[int]], needs_cache: bool, prefix):
        """Last hidden state of each context, the cache, and the mask and lengths that describe it."""
        if prefix is None:
            ids, mask = self._pad(contexts)
            # No mask: right padding is invisible to real tokens under the causal mask (see the module doc).
            out = self.decoder(input_ids=ids, use_cache=needs_cache)
        else:
            shared, cache = prefix
            ids, own_mask = self._pad([c[shared:] for c in contexts])
            mask = torch.cat([own_mask.new_ones((len(contexts), shared)), own_mask], dim=1)
            positions = shared + torch.arange(ids.shape[1], device=self.device)[None, :]
            # A mask is needed here: without one, attention with a cache falls back to a causal mask aligned
            # to the top left, which would hide the prefix from the rows' own tokens.
            out = self.decoder(input_ids=ids, attention_mask=mask, position_ids=positions,
                               past_key_values=repeat_cache(cache, len(contexts)), use_cache=True)
        lengths = mask.sum(dim=1)  # of the whole context, shared prefix included: what the cache holds
        own_lengths = lengths - (prefix[0] if prefix else 0)  # of what this forward read
        last = out.last_hidden_state[torch.arange(len(contexts)), own_lengths - 1]
        return last, out.past_key_values, mask, lengths

    def _score_groups(self, groups, prefix=None) -> Iterator[tuple[int, Loglikelihood]]:
        contexts = [list(context) for context, _ in groups]
        needs_cache = any(len(c) > 1 for _, members in groups for _, c in members)
        last, cache, mask, lengths = self._read_contexts(contexts, needs_cache, prefix)
        first_logprobs = self._logprobs(last)  # [groups, vocab]: distribution of each first continuation token
        rows = [(g, index, cont) for g, (_, members) in enumerate(groups) for index, cont in members]
        long_rows = [row for row in rows if len(row[2]) > 1]
        rest = self._score_continuations(cache, mask, lengths, long_rows) if long_rows else {}
        for g, index, cont in rows:
            logprob = float(first_logprobs[g, cont[0]])
            greedy = bool(first_logprobs[g].argmax() == cont[0])
            if index in rest:
                more, more_greedy = rest[index]
                logprob, greedy = logprob + more, greedy and more_greedy
            yield index, Loglikelihood(logprob=logprob, is_greedy=greedy, n_tokens=len(cont))

    def _score_continuations(self, cache, context_mask, context_lengths, rows) -> dict[int, tuple[float, bool]]:
        """Tokens 2..n of each continuation, run on top of its context's cached keys and values."""
        group_index = torch.tensor([g for g, _, _ in rows], device=self.device)
        cache.reorder_cache(group_index)  # one cache row per continuation (contexts repeat)
        inputs = [cont[:-1] for _, _, cont in rows]
        ids, mask = self._pad(inputs)
        full_mask = torch.cat([context_mask[group_index], mask], dim=1)
        positions = context_lengths[group_index, None] + torch.arange(ids.shape[1], device=self.device)[None, :]
        out = self.decoder(input_ids=ids, attention_mask=full_mask, position_ids=positions,
                           past_key_values=cache, use_cache=True)
        return {index: self._target_logprobs(out.last_hidden_state[r, : len(cont) - 1], cont[1:])
                for r, (_, index, cont) in enumerate(rows)}

    # -- rolling log-likelihood of whole documents ------------------------------------------
    @torch.inference_mode()
    def loglikelihood_rolling(self, requests: Sequence[RollingRequest]) -> Iterator[tuple[int, RollingLoglikelihood]]:
        windows = []  # (doc index, context tokens, predicted tokens, window number in the document)
        remaining = {}  # doc index -> [windows left, summed log-prob, tokens, {window number: token log-probs}]
        for index, request in enumerate(requests):
            tokens = self.encode(request.text)
            doc_windows = list(rolling_windows(tokens, self.prefix_token, self.max_length, request.stride))
            remaining[index] = [len(doc_windows), 0.0, tokens, {}]
            windows.extend((index, ctx, pred, number) for number, (ctx, pred) in enumerate(doc_windows))
            if not doc_windows:
                yield index, RollingLoglikelihood(logprob=0.0, n_tokens=0, token_ids=(), token_logprobs=())
        windows.sort(key=lambda w: -(len(w[1]) + len(w[2])))
        width = lambda w: len(w[1]) + len(w[2]) - 1  # noqa: E731 (the forward's length)
        for batch in length_batches(windows, width, self.token_budget, self.batch_size):
            for index, number, logprob, per_token in self._score_windows(batch):
                state = remaining[index]
                state[0], state[1], state[3][number] = state[0] - 1, state[1] + logprob, per_token
                if state[0] == 0:  # the windows predict every token once, in order (rolling_windows)
                    per_token = tuple(v for n in sorted(state[3]) for v in state[3][n])
                    yield index, RollingLoglikelihood(logprob=state[1], n_tokens=len(state[2]),
                                                      token_ids=tuple(state[2]), token_logprobs=per_token)

    def _score_windows(self, batch) -> list[tuple[int, int, float, list[float]]]:
        ids, _ = self._pad([(ctx + pred)[:-1] for _, ctx, pred, _ in batch])
        # No mask: right padding is invisible to real tokens under the causal mask (see the module doc).
        hidden = self.decoder(input_ids=ids, use_cache=False).last_hidden_state
        results = []
        for r, (index, ctx, pred, number) in enumerate(batch):
            predicting = hidden[r, len(ctx) - 1 : len(ctx) - 1 + len(pred)]
            per_token: list[float] = []
            total = self._target_logprobs(predicting, pred, check_greedy=False, per_token=per_token)[0]
            results.append((index, number, total, per_token))
        return results

    # -- generation ------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, requests: Sequence[GenerationRequest], on_token: hf_generate.OnToken | None = None,
                 arrivals=None) -> Iterator[tuple[int, Generation]]:
        """Continuous batching (hf_generate.py); results in the order they finish. `on_token(index, token)`
        sees every generated token as it is chosen (for streaming); `arrivals()`, called between steps,
        hands over [(index, request)] that join the running batch (a server's new requests)."""
        prompts = [self.encode(self.render_prompt(r)) for r in requests]
        encoded = (lambda: [(i, self.encode(self.render_prompt(r)), r) for i, r in arrivals()]) if arrivals else None
        yield from hf_generate.generate(self, prompts, requests, on_token, encoded)

    def render_prompt(self, request: GenerationRequest) -> str:
        return render_prompt(self.tokenizer, self.spec, request)
