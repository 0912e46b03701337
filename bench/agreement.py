"""Item-by-item agreement of two tools' multiple-choice answers, and where evalkit's time goes.

Shared by bench_tasks.py and bench_mmlu.py. At full size a handful of items can have two choices
whose log-likelihoods differ by less than the two tools' float32 rounding: there the picked answer
may differ without either tool being wrong. Such items are listed with both tools' numbers and
called ties; a differing answer anywhere else is a disagreement, and the bench fails on it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Disagreement:
    item: int
    ours: list[float]  # per-choice scores (log-likelihoods, or normalised ones for acc_norm)
    theirs: list[float]
    difference: float  # largest per-choice difference between the tools
    gap: float  # between the two best choices, the smaller of the two tools' gaps

    @property
    def tie(self) -> bool:
        """The tools' own difference on this item is enough to swap its two best choices."""
        return self.gap <= 2 * self.difference

    def line(self, metric: str) -> str:
        kind = "tie" if self.tie else "DISAGREES"
        ours = ", ".join(f"{v:.6f}" for v in self.ours)
        theirs = ", ".join(f"{v:.6f}" for v in self.theirs)
        return (f"{metric} item {self.item} ({kind}): evalkit [{ours}] vs lm-eval [{theirs}]; "
                f"gap between the best two {self.gap:.2e}, tools differ by {self.difference:.2e}")


def _best(scores: Sequence[float]) -> int:
    return max(range(len(scores)), key=scores.__getitem__)  # first of equal maxima, as numpy's argmax


def _gap(scores: Sequence[float]) -> float:
    top = sorted(scores, reverse=True)
    return top[0] - top[1] if len(top) > 1 else float("inf")


def disagreements(ours: Sequence[Sequence[float]], theirs: Sequence[Sequence[float]]) -> list[Disagreement]:
    """Items whose picked choice differs, each with both tools' per-choice scores."""
    found = []
    for item, (a, b) in enumerate(zip(ours, theirs)):
        if _best(a) != _best(b):
            difference = max(abs(x - y) for x, y in zip(a, b))
            found.append(Disagreement(item, list(a), list(b), difference, min(_gap(a), _gap(b))))
    return found


def normalised(scores: Sequence[Sequence[float]], continuations: Sequence[Sequence[str]]) -> list[list[float]]:
    """lm-eval's acc_norm: each choice's log-likelihood divided by its continuation's length in bytes."""
    return [[s / len(c.encode("utf-8")) for s, c in zip(row, conts)] for row, conts in zip(scores, continuations)]


@dataclass
class ForwardProfile:
    """Tokens fed to the decoder (padding included) and seconds spent inside its forward."""

    tokens: int = 0
    seconds: float = 0.0
    calls: int = 0
    _started: list[float] = field(default_factory=list)

    def attach(self, decoder) -> list:
        def before(module, args, kwargs):
            ids = kwargs.get("input_ids", args[0] if args else None)
            self.tokens += int(ids.numel()) if ids is not None else 0
            self.calls += 1
            self._started.append(time.perf_counter())

        def after(module, args, kwargs, output):
            self.seconds += time.perf_counter() - self._started.pop()

        return [decoder.register_forward_pre_hook(before, with_kwargs=True),
                decoder.register_forward_hook(after, with_kwargs=True)]

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def plain_forward_rate(decoder, rows: int = 8, width: int = 64, repeats: int = 10) -> float:
    """Tokens/s of the bare decoder on one fixed [rows, width] batch, no cache, no LM head: the
    machine's own rate for this model, measured in the same process as the run."""
    import torch

    ids = torch.randint(100, 1000, (rows, width), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        decoder(input_ids=ids, use_cache=False)  # warm-up: first calls pick kernels
        start = time.perf_counter()
        for _ in range(repeats):
            decoder(input_ids=ids, use_cache=False)
    return rows * width * repeats / (time.perf_counter() - start)


TQDM_ELAPSED = re.compile(r"Running loglikelihood requests: 100%\|[^|]*\| (\d+)/\d+ \[(?:(\d+):)?(\d+):(\d+)<")


def lmeval_scoring_seconds(log: Path) -> float | None:
    """lm-eval's own time for its log-likelihood requests (the final tqdm line), start-up excluded."""
    found = TQDM_ELAPSED.findall(log.read_text(errors="replace"))
    if not found:
        return None
    _, hours, minutes, seconds = found[-1]
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)


def lmeval_tokens(requests, encode_pair) -> int:
    """Tokens lm-eval's hf model reads for these log-likelihood requests: one forward per distinct
    context + continuation minus its last token (requests that share all of it, such as MMLU's
    one-token letters after the same question, share one), padding not counted."""
    inputs = set()
    for request in requests:
        context, continuation = encode_pair(request.context, request.continuation)
        inputs.add(tuple(context + continuation[:-1]))
    return sum(len(i) for i in inputs)
