"""The simulated v2 API: every request is counted, may be faulted, and is retried like godo.

godo (>= 1.10x, as doctl builds it) retries 429 and 5xx answers except 501 through
go-retryablehttp, ``--http-retry-max`` times (doctl default 5); each attempt is a separate
request that the API sees and this module counts.

The burst limit (DigitalOcean API reference, "Rate Limit"; openapi description.yml): 250
requests per minute per token, each request counted for its own minute; past it the API answers
429 ``too_many_requests`` with a ``retry-after`` header in seconds (since August 2023, release
note "api-rate-limit"). go-retryablehttp v0.7.8 (doctl's) DefaultBackoff sleeps exactly that
long on a 429 before its next attempt, uncapped by --http-retry-wait-max. A refused request is
not counted (it was not served).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

from . import model
from . import state as st

BASE_URL = "https://api.digitalocean.com/"
NOT_FOUND = "The resource you were accessing could not be found."

Handler = Callable[[dict[str, Any], float], tuple[int, Any]]


class HttpError(Exception):
    """Raised by handlers: the API answers ``status`` with an error body."""

    def __init__(self, status: int, message: str, ident: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.ident = ident or {404: "not_found", 422: "unprocessable_entity"}.get(status, "error")


class ApiError(Exception):
    """A failed request as godo's ``ErrorResponse`` reports it (the text doctl prints). (The
    stand-ins' records are plain classes: dataclasses imports inspect, ~8 ms a start.)"""

    def __init__(self, method: str, url: str, status: int, request_id: str, message: str,
                 attempts: int = 0) -> None:
        super().__init__(method, url, status, request_id, message, attempts)
        self.method = method
        self.url = url
        self.status = status
        self.request_id = request_id
        self.message = message
        self.attempts = attempts

    def __str__(self) -> str:
        suffix = f"; giving up after {self.attempts} attempt(s)" if self.attempts else ""
        return (f'{self.method} {self.url}: {self.status} (request "{self.request_id}") '
                f"{self.message}{suffix}")


def _retryable(status: int) -> bool:
    return status == 429 or (status >= 500 and status != 501)


class Client:
    """One doctl process's API client."""

    def __init__(self, retry_max: int = 5, retry_wait: float = 0.01) -> None:
        self.retry_max = retry_max
        self.retry_wait = retry_wait  # scaled stand-in for retryablehttp's 1 s .. 30 s backoff
        self.calls_made: list[str] = []

    @classmethod
    def from_env(cls, retry_max: int) -> Client:
        wait = float(os.environ.get("DOSIM_RETRY_WAIT_SECONDS", "0.01") or 0.01)
        return cls(retry_max=retry_max, retry_wait=wait)

    def request(self, method: str, path: str, kind: str, handler: Handler) -> Any:
        """Send one logical request; ``kind`` is the counter key, e.g. ``GET /v2/droplets/{id}``."""
        attempt = 0
        while True:
            attempt += 1
            status, body, request_id, retry_after = _one_attempt(method, path, kind, handler,
                                                                 attempt)
            self.calls_made.append(kind)
            if status < 300:
                return body
            if not (self.retry_max > 0 and _retryable(status)):
                raise ApiError(method, BASE_URL + path, status, request_id, body["message"])
            if attempt > self.retry_max:
                raise ApiError(method, BASE_URL + path, status, request_id, body["message"],
                               attempts=attempt)
            if retry_after is not None:
                time.sleep(retry_after)
            else:
                time.sleep(min(self.retry_wait * 2 ** (attempt - 1), self.retry_wait * 30))


def _burst_wait(data: dict[str, Any], now: float) -> int | None:
    """None when the burst limit admits a request now (and counts it), else the whole seconds
    until the oldest counted request leaves the window (the retry-after header, at least 1)."""
    limit = st.knob(data, "rate_limit_per_minute", 250, int)
    window = st.knob(data, "rate_window_seconds", 60.0, float)
    if limit <= 0:
        return None
    served = [t for t in data.get("rate_window", []) if t > now - window]
    if len(served) >= limit:
        data["rate_window"] = served
        return max(1, math.ceil(served[-limit] + window - now))
    data["rate_window"] = [*served, round(now, 3)]
    return None


def _one_attempt(
    method: str, path: str, kind: str, handler: Handler, attempt: int
) -> tuple[int, Any, str, int | None]:
    """One request: (status, body, request id, retry-after seconds or None)."""
    request_id = model.new_uuid()
    retry_after = None
    with st.locked() as data:
        if attempt > 1:
            data["api_retries"] = data.get("api_retries", 0) + 1
        calls = data["api_calls"]
        calls["total"] = calls.get("total", 0) + 1
        calls[kind] = calls.get(kind, 0) + 1
        number = calls["total"]
        now = time.time()
        fail = st.knob(data, "fail_on_call", frozenset(), st.parse_call_set)
        limit = st.knob(data, "rate_limit_on_call", frozenset(), st.parse_call_set)
        limit_kind, limit_of_kind = st.knob(data, "rate_limit_on_kind", ("", frozenset()),
                                            st.parse_kind_call_set)
        if kind == limit_kind and calls[kind] in limit_of_kind:
            limit = limit | {number}
        if number in fail:
            status, body = 500, {"id": "server_error", "message": "Unexpected server-side error"}
        elif number in limit or (retry_after := _burst_wait(data, now)) is not None:
            status, body = 429, {"id": "too_many_requests", "message": "API Rate limit exceeded."}
        else:
            try:
                status, body = handler(data, now)
            except HttpError as err:
                status, body = err.status, {"id": err.ident, "message": err.message}
        if status >= 300:
            errors = data.setdefault("api_errors", {})
            errors[str(status)] = errors.get(str(status), 0) + 1
        log = data["api_log"]
        entry = {"n": number, "t": round(now, 3), "call": kind, "path": path,
                 "status": status, "pid": os.getpid()}
        if retry_after is not None:
            entry["retry_after"] = retry_after
        log.append(entry)
        keep = st.knob(data, "api_log_max", 1000, int)
        if len(log) > keep:  # the whole file is rewritten per call: keep it small
            del log[: len(log) - keep]
    return status, body, request_id, retry_after
