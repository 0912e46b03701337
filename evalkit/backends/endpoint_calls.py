"""Requests to an endpoint: `concurrency` at a time, retried with backoff, failures collected.

429, 5xx (and 408/409), timeouts, dropped connections and malformed replies are
retried with exponential backoff and jitter (0.5 s doubling to 8 s; a
Retry-After header is honoured up to 30 s); other errors fail their request at
once. When requests keep ending in connection errors or timeouts the endpoint
is taken as down and the rest of the batch is not attempted. Results are
yielded as they finish; what failed is raised at the end as an EndpointError
naming each reason and how often, after everything that finished was yielded.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from evalkit.errors import ModelError

MAX_RETRY_AFTER_S = 30.0


class EndpointError(ModelError):
    """Some requests failed after their retries. failures: {request index: reason}."""

    def __init__(self, message: str, failures: dict[int, str]):
        super().__init__(message)
        self.failures = failures


class RequestFailed(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class MalformedResponse(ValueError):
    pass


class RequestRunner:
    retry_base_s = 0.5  # first backoff; doubles per attempt up to retry_cap_s
    retry_cap_s = 8.0

    def __init__(self, name: str, base_url: str, concurrency: int, max_retries: int):
        self.name, self.base_url = name, base_url
        self.concurrency, self.max_retries = concurrency, max_retries
        self._rng = random.Random(0)  # backoff jitter only
        self._lock = threading.Lock()
        self._unreachable = threading.Event()
        self._connection_failures = 0

    def all(self, calls: list[Callable[[], Any]]) -> Iterator[tuple[int, Any]]:
        failures: dict[int, str] = {}
        yield from self.gather(calls, failures)
        self.raise_failures(failures, len(calls))

    def gather(self, calls: list[Callable[[], Any]], failures: dict[int, str]) -> Iterator[tuple[int, Any]]:
        """Run calls `concurrency` at a time; yield (index, result) as each finishes; fill `failures`."""
        self._unreachable.clear()
        self._connection_failures = 0
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(self.retrying, call): index for index, call in enumerate(calls)}
            for future in as_completed(futures):
                try:
                    yield futures[future], future.result()
                except RequestFailed as err:
                    failures[futures[future]] = err.reason
                except GeneratorExit:
                    for pending in futures:
                        pending.cancel()
                    raise

    def retrying(self, call: Callable[[], Any]) -> Any:
        reason = "not attempted"
        for attempt in range(self.max_retries + 1):
            if self._unreachable.is_set():
                raise RequestFailed("not attempted (endpoint unreachable)")
            try:
                result = call()
            except Exception as err:  # classified below; anything unknown fails this request only
                reason, retryable, wait = classify(err)
                if not retryable:
                    raise RequestFailed(reason) from None
                if attempt < self.max_retries:
                    time.sleep(self._backoff(attempt, wait))
                continue
            with self._lock:
                self._connection_failures = 0
            return result
        self._note_failure(reason)
        raise RequestFailed(reason)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER_S)
        return min(self.retry_cap_s, self.retry_base_s * 2**attempt) * (0.5 + 0.5 * self._rng.random())

    def _note_failure(self, reason: str) -> None:
        """A run of requests that all end in connection errors means the endpoint is down: stop trying."""
        if reason not in ("connection error", "timeout"):
            return
        with self._lock:
            self._connection_failures += 1
            if self._connection_failures >= max(2, self.concurrency):
                self._unreachable.set()

    def raise_failures(self, failures: dict[int, str], total: int) -> None:
        if failures:
            reasons = ", ".join(f"{r} ×{n}" for r, n in Counter(failures.values()).most_common())
            raise EndpointError(f"model {self.name!r}: {len(failures)} of {total} requests to {self.base_url} "
                                f"failed ({reasons}); finished ones are stored, a rerun asks only for the rest",
                                failures)


def classify(err: Exception) -> tuple[str, bool, float | None]:
    """(reason, retry?, Retry-After seconds) for an exception raised by one request."""
    import openai

    if isinstance(err, RequestFailed):
        return err.reason, False, None
    if isinstance(err, ModelError):
        return str(err), False, None
    if isinstance(err, openai.APIStatusError):
        code = err.status_code
        retry_after = _retry_after(err.response.headers.get("retry-after") if err.response is not None else None)
        return f"HTTP {code}", code in (408, 409, 429) or code >= 500, retry_after
    if isinstance(err, openai.APITimeoutError):
        return "timeout", True, None
    if isinstance(err, openai.APIConnectionError):
        return "connection error", True, None
    if isinstance(err, MalformedResponse):  # what the reply lacks, so the summary can say it
        return f"malformed response: {err}", True, None
    if isinstance(err, (ValueError, TypeError, AttributeError, KeyError, IndexError, openai.APIResponseValidationError)):
        return "malformed response", True, None  # JSON that does not parse or lacks the fields we need
    return type(err).__name__, False, None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
