"""Token-level request shaping shared by the local backends.

These follow lm-evaluation-harness exactly (`_encode_pair`,
`get_rolling_token_windows`, `make_disjoint_window`) because the same tokens in
the same windows are what makes our log-likelihoods equal to theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from evalkit.errors import ConfigError

T = TypeVar("T")
TOKEN_BUDGET = 16384  # padded tokens per forward when scoring or reading prompts: enough to keep cores busy
# On a CPU one row of a few thousand tokens keeps the cores busy by itself, and bigger forwards only
# stream more activations through the caches: two 8k-token WikiText windows in one forward took 15 %
# longer than one after the other. Rows of a few hundred tokens still share a forward.
CPU_TOKEN_BUDGET = 4096
# Cached positions (rows x columns, every layer) a continuous batch may hold: 16 rows of a 5-shot GSM8K
# prompt and 256 new tokens take about 19k; SmolLM2-135M keeps 46 kB of float32 keys and values per
# position, so this is 1.5 GB there and 1 GB for a 1B Llama in bfloat16. A single row always runs.
GENERATION_CACHE_TOKENS = 32768
MAX_PADDING = 0.125  # a row joins a batch only if padding it to the batch's width adds at most this share


def config_window(config) -> int:
    """The positions a model was built for, read from its transformers config."""
    for attr in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def encode_pair(encode: Callable[[str], list[int]], context: str, continuation: str,
                prefix_token: int) -> tuple[list[int], list[int]]:
    """Tokens of (context, continuation), tokenised together so the boundary merges as in running text.

    Trailing spaces of the context move to the continuation (" A" is one token, "A" after " " is not).
    An empty context is replaced by the prefix token (BOS, or EOS when there is none).
    """
    if context == "":
        return [prefix_token], encode(continuation)
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = encode(context + continuation)
    context_tokens = encode(context)
    return context_tokens, whole[len(context_tokens):]


def rolling_windows(tokens: list[int], prefix_token: int, max_length: int,
                    stride: int | None = None) -> Iterator[tuple[list[int], list[int]]]:
    """(context, predicted) windows that together predict every token of a document exactly once.

    The first window predicts up to `max_length` tokens after the prefix token; each later
    window predicts `stride` new tokens (default `max_length`) and sees up to
    `max_length - stride` earlier tokens as context, plus one, as lm-eval's `context_len`.
    """
    if not tokens:
        return
    stride = max_length if stride is None else stride
    if not 1 <= stride <= max_length:
        raise ConfigError(f"[perplexity].stride = {stride} does not fit this model's window of {max_length} "
                          f"predicted tokens; set it between 1 and {max_length}")
    first = min(max_length, len(tokens))
    yield [prefix_token], tokens[:first]
    predicted = first
    while predicted < len(tokens):
        n_pred = min(len(tokens) - predicted, stride)
        end = predicted + n_pred
        window = tokens[max(0, end - max_length - 1): end - 1]
        predicted_tokens = tokens[end - n_pred: end]
        # make_disjoint_window: keep only the context part that is not itself predicted
        yield window[: len(window) - (n_pred - 1)], predicted_tokens
        predicted += n_pred


def truncate_left(context: list[int], continuation: list[int], max_length: int) -> tuple[list[int], list[int]]:
    """Fit context+continuation into the model's window by dropping the oldest context tokens."""
    overflow = len(context) + len(continuation) - 1 - max_length
    if overflow <= 0:
        return context, continuation
    if len(continuation) > max_length:
        raise ValueError(f"continuation of {len(continuation)} tokens does not fit the model's max_length {max_length}")
    return context[overflow:], continuation


def length_batches(items: Sequence[T], length: Callable[[T], int], budget: int,
                   max_rows: int) -> Iterator[list[T]]:
    """Batches of `items` (sorted longest first) of at most `max_rows` rows and `budget` padded tokens,
    in which padding adds at most MAX_PADDING to any row: on a CPU a forward is about as fast per token
    at one row of a few hundred tokens as at many, so batching pays only when it pads little."""
    batch: list = []
    for item in items:
        width = length(batch[0]) if batch else 0
        if batch and ((len(batch) + 1) * width > budget or len(batch) == max_rows
                      or length(item) < (1 - MAX_PADDING) * width):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def cut_at_stops(text: str, stops: Sequence[str]) -> str:
    """The text before the first stop string it contains, stop strings tried in the request's order."""
    for stop in stops:
        cut = text.find(stop)
        if cut != -1:
            text = text[:cut]
    return text


def render_prompt(tokenizer, spec, request) -> str:
    """A generation request's prompt text: wrapped in the model's chat template when the request is a chat
    turn, the model has a template and the config does not switch templates off."""
    if not (request.chat and spec.chat_template and tokenizer.chat_template):
        return request.prompt
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages.append({"role": "user", "content": request.prompt})
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


MIN_SHARED_PREFIX = 64  # tokens: below this, reading a prefix once saves less than the extra forward costs


def prefix_families(contexts: Sequence[tuple[int, ...]],
                    min_shared: int = MIN_SHARED_PREFIX) -> tuple[list[tuple[int, list[tuple[int, ...]]]], list]:
    """Contexts that start with the same long run of tokens (the few-shot examples of a subject, a long
    system prompt): ([(shared length, members)] for families of two or more, [contexts sharing with none]).

    Sorted token tuples put such contexts next to each other, and the common prefix of a sorted run is
    the smallest common prefix of neighbours. A context joins the open family while the prefix stays at
    least `min_shared` long and keeps at least half its length, so one stray context does not shrink a
    long shared prefix to a short one. Every member keeps at least one token of its own after the prefix.
    """
    families: list[tuple[int, list[tuple[int, ...]]]] = []
    alone: list[tuple[int, ...]] = []
    members: list[tuple[int, ...]] = []
    shared = 0
    for context in sorted(contexts):
        if members:
            common = min(shared, _common_length(members[-1], context), len(context) - 1)
            if common >= min_shared and common >= shared // 2:
                members.append(context)
                shared = common
                continue
            _close(members, shared, families, alone)
        members, shared = [context], len(context) - 1
    if members:
        _close(members, shared, families, alone)
    return families, alone


MAX_BUNDLE = 8  # contexts in one packed row: a row's attention grows with the square of its length


def context_bundles(contexts: Sequence[tuple[int, ...]]) -> list[list[tuple[int, ...]]]:
    """Contexts that differ only near their end, in bundles to be read as one prefix tree: Winogrande
    puts each option inside the context ("... so Sarah" / "... so Maria"), and the words before it
    are the same in both. Sorted token tuples put them next to each other; a context joins the open
    bundle when it shares at least half of its own tokens and half of the bundle's first context's.
    Contexts that share only a short opening (MMLU's subject line, "Question:") stay alone: reading
    them in a branching row would cost the masked attention more than the few tokens saved."""
    bundles: list[list[tuple[int, ...]]] = []
    for context in sorted(contexts):
        if bundles and len(bundles[-1]) < MAX_BUNDLE:
            first = bundles[-1][0]
            if 2 * _common_length(first, context) >= max(len(first), len(context)):
                bundles[-1].append(context)
                continue
        bundles.append([context])
    return bundles


def _close(members, shared, families, alone) -> None:
    if len(members) > 1:
        families.append((shared, members))
    else:
        alone.extend(members)


def _common_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
