"""Google Calendar API over HTTP (requests): calendar list, calendars.insert, events list, and batches of
event calls (multipart/mixed), with exponential backoff and jitter on 429, 403 rateLimitExceeded and 5xx.

No business logic: callers say which calls to make; this module makes them and reports each outcome.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from schedgen.config import Settings
from schedgen.errors import (
    GoogleCalendarNotFoundError,
    GoogleQuotaError,
    GoogleRejectedError,
    GoogleUnavailableError,
)

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
CRLF = "\r\n"


class AccessTokenRejected(Exception):  # noqa: N818 - an adapter signal: refresh the token and call again
    """Raised when Google answers 401 (the access token expired or was revoked)."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: attempt n waits between half and all of min(max, min * 2**n)."""

    attempts: int = 6
    min_s: float = 1.0
    max_s: float = 32.0

    def delay(self, attempt: int, rand: float) -> float:
        """Seconds to wait before retry number `attempt` (0-based), given a random number in [0, 1)."""
        cap = min(self.max_s, self.min_s * float(2**attempt))
        return cap / 2 + rand * cap / 2


@dataclass(frozen=True, slots=True)
class CalendarInfo:
    """One calendar of the user's calendar list."""

    id: str
    summary: str
    primary: bool = False
    writable: bool = True


@dataclass(frozen=True, slots=True)
class BatchCall:
    """One call inside a batch: method and path below /calendars/, with an optional JSON body."""

    method: str
    path: str  # e.g. "<calendar id, quoted>/events/<event id>"
    body: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CallResult:
    """The outcome of one call: HTTP status, Google's error reason and message, and the JSON body."""

    status: int
    reason: str = ""
    message: str = ""
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300


def is_retryable(status: int, reason: str) -> bool:
    """Worth retrying after a pause: 429, 5xx, or 403 with a rate-limit reason."""
    return status == 429 or status >= 500 or (status == 403 and reason in RATE_REASONS)


def _error_of(status: int, data: Any) -> CallResult:
    error = data.get("error") if isinstance(data, dict) else None
    reason, message = "", ""
    if isinstance(error, dict):
        message = str(error.get("message", ""))
        errors = error.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            reason = str(errors[0].get("reason", ""))
    return CallResult(status, reason, message, data if isinstance(data, dict) else {})


def calendar_path(calendar_id: str, *rest: str) -> str:
    """A path below /calendars/ with each segment quoted."""
    return "/".join(quote(part, safe="") for part in (calendar_id, *rest))


def new_session() -> requests.Session:
    """A requests session; requests is imported on first use (most processes never call Google)."""
    import requests

    return requests.Session()


class GoogleCalendarClient:
    """Talks to the Calendar API base and batch URL from settings; sleeps and randomness are injectable."""

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        http: Callable[[], requests.Session] | None = None,
    ) -> None:
        self.api = settings.google_calendar_api.rstrip("/")
        self.batch_url = settings.google_batch_url
        self.batch_size = max(1, min(50, settings.google_batch_size))
        self.timeout_s = settings.google_timeout_s
        self.backoff = Backoff(
            settings.google_max_attempts, settings.google_min_backoff_s, settings.google_max_backoff_s
        )
        self.sleep = sleep
        self.rand = rand
        self._http = http

    # --- single calls

    def http(self) -> requests.Session:
        """A new HTTP session (the injected factory, else requests')."""
        return (self._http or new_session)()

    def _call(self, token: str, method: str, url: str, body: dict[str, Any] | None = None) -> CallResult:
        """One call with retries; raises on 401, 404 and exhausted retries, returns other outcomes."""
        import requests

        result = CallResult(0)
        for attempt in range(self.backoff.attempts):
            try:
                with self.http() as http:
                    response = http.request(
                        method,
                        url,
                        json=body,
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=self.timeout_s,
                    )
                data = response.json() if response.content else {}
                ok = 200 <= response.status_code < 300
                result = (
                    CallResult(response.status_code, body=data)
                    if ok
                    else _error_of(response.status_code, data)
                )
            except (requests.RequestException, ValueError) as exc:
                log.warning("Google Calendar call failed: %s", type(exc).__name__)
                result = CallResult(503, "backendError", type(exc).__name__)
            if result.status == 401:
                raise AccessTokenRejected()
            if not is_retryable(result.status, result.reason):
                break
            if attempt + 1 < self.backoff.attempts:
                self._pause(attempt, result)
        return self._checked(result)

    def _checked(self, result: CallResult) -> CallResult:
        if result.ok:
            return result
        if result.status == 404:
            raise GoogleCalendarNotFoundError()
        if is_retryable(result.status, result.reason):
            raise GoogleQuotaError() if result.status in (403, 429) else GoogleUnavailableError()
        raise GoogleRejectedError(f"Google Calendar refused the request: {result.message or result.status}")

    def _pause(self, attempt: int, result: CallResult) -> None:
        delay = self.backoff.delay(attempt, self.rand())
        log.info("Google answered %d %s; retrying in %.1f s", result.status, result.reason, delay)
        self.sleep(delay)

    def list_calendars(self, token: str) -> list[CalendarInfo]:
        """The user's calendars they can add events to (owner or writer), primary first."""
        out: list[CalendarInfo] = []
        page: str | None = None
        while True:
            query = "?minAccessRole=writer&maxResults=250" + (f"&pageToken={quote(page)}" if page else "")
            data = self._call(token, "GET", f"{self.api}/users/me/calendarList{query}").body
            for item in data.get("items", []):
                out.append(
                    CalendarInfo(
                        id=str(item["id"]),
                        summary=str(item.get("summaryOverride") or item.get("summary") or item["id"]),
                        primary=bool(item.get("primary", False)),
                    )
                )
            page = data.get("nextPageToken")
            if not page:
                break
        return sorted(out, key=lambda c: (not c.primary, c.summary.casefold()))

    def create_calendar(self, token: str, summary: str, time_zone: str) -> CalendarInfo:
        """A new secondary calendar owned by the user."""
        data = self._call(
            token, "POST", f"{self.api}/calendars", {"summary": summary, "timeZone": time_zone}
        ).body
        return CalendarInfo(str(data["id"]), str(data.get("summary", summary)))

    def list_events(self, token: str, calendar_id: str) -> list[dict[str, Any]]:
        """Every (not deleted) event of a calendar, recurring events as one item."""
        out: list[dict[str, Any]] = []
        page: str | None = None
        while True:
            query = "?maxResults=2500" + (f"&pageToken={quote(page)}" if page else "")
            url = f"{self.api}/calendars/{calendar_path(calendar_id)}/events{query}"
            data = self._call(token, "GET", url).body
            out.extend(data.get("items", []))
            page = data.get("nextPageToken")
            if not page:
                return out

    # --- batches

    def batch(self, token: str, calls: Sequence[BatchCall]) -> list[CallResult]:
        """Make the calls in batches; retry the ones Google rate-limits; one outcome per call, in order."""
        results: list[CallResult] = []
        for start in range(0, len(calls), self.batch_size):
            results.extend(self._batch_chunk(token, calls[start : start + self.batch_size]))
        return results

    def _batch_chunk(self, token: str, calls: Sequence[BatchCall]) -> list[CallResult]:
        results: dict[int, CallResult] = {}
        pending = list(range(len(calls)))
        for attempt in range(self.backoff.attempts):
            outcome = self._send_batch(token, [(i, calls[i]) for i in pending])
            if isinstance(outcome, CallResult):  # the whole batch request failed
                if outcome.status == 401:
                    raise AccessTokenRejected()
                if not is_retryable(outcome.status, outcome.reason):
                    return [outcome for _ in calls]
                last = outcome
                retry = pending
            else:
                missing = CallResult(502, "backendError", "no answer for this call in the batch")
                outcome = {i: outcome.get(i, missing) for i in pending}
                if any(r.status == 401 for r in outcome.values()):
                    raise AccessTokenRejected()
                retry = [i for i in pending if is_retryable(outcome[i].status, outcome[i].reason)]
                results.update({i: outcome[i] for i in pending if i not in retry})
                last = next((outcome[i] for i in retry), CallResult(0))
            pending = retry
            if not pending:
                break
            if attempt + 1 < self.backoff.attempts:
                self._pause(attempt, last)
        else:
            if len(pending) == len(calls) and not results:
                raise GoogleQuotaError() if last.status in (403, 429) else GoogleUnavailableError()
        for i in pending:  # still rate-limited after every retry: reported per event
            results[i] = CallResult(429, "rateLimitExceeded", "retries exhausted")
        return [results[i] for i in range(len(calls))]

    def _send_batch(
        self, token: str, calls: Sequence[tuple[int, BatchCall]]
    ) -> CallResult | dict[int, CallResult]:
        import requests

        boundary = "batch_" + secrets.token_hex(12)
        base_path = urlsplit(self.api).path.rstrip("/")
        parts = []
        for index, call in calls:
            lines = [
                f"--{boundary}",
                "Content-Type: application/http",
                f"Content-ID: <item-{index}>",
                "",
                f"{call.method} {base_path}/calendars/{call.path} HTTP/1.1",
            ]
            if call.body is not None:
                lines += ["Content-Type: application/json; charset=UTF-8", "", json.dumps(call.body)]
            else:
                lines += [""]
            parts.append(CRLF.join(lines))
        payload = CRLF.join([*parts, f"--{boundary}--", ""]).encode()
        try:
            with self.http() as http:
                response = http.post(
                    self.batch_url,
                    data=payload,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": f"multipart/mixed; boundary={boundary}",
                    },
                    timeout=self.timeout_s,
                )
        except requests.RequestException as exc:
            log.warning("Google batch request failed: %s", type(exc).__name__)
            return CallResult(503, "backendError", type(exc).__name__)
        if response.status_code != 200:
            try:
                data = response.json()
            except ValueError:
                data = {}
            return _error_of(response.status_code, data)
        return parse_batch_response(response.headers.get("Content-Type", ""), response.content)


def parse_batch_response(content_type: str, content: bytes) -> dict[int, CallResult]:
    """Each part's outcome by its Content-ID index (a multipart/mixed body of HTTP responses)."""
    boundary = ""
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        raise GoogleUnavailableError()
    text = content.decode("utf-8", "replace")
    out: dict[int, CallResult] = {}
    for chunk in text.split(f"--{boundary}")[1:]:
        if chunk.startswith("--"):
            break
        head, _, inner = _split_head(chunk.lstrip("\r\n"))
        content_id = next(
            (
                v
                for k, v in (h.split(":", 1) for h in head.splitlines() if ":" in h)
                if k.lower() == "content-id"
            ),
            "",
        )
        digits = content_id.strip().strip("<>").rsplit("-", 1)[-1]
        status_head, _, body = _split_head(inner)
        status_line = status_head.splitlines()[0] if status_head else ""
        status = int(status_line.split()[1]) if len(status_line.split()) > 1 else 500
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            data = {}
        result = CallResult(status, body=data) if 200 <= status < 300 else _error_of(status, data)
        if digits.isdigit():
            out[int(digits)] = result
    return out


def _split_head(text: str) -> tuple[str, str, str]:
    """Headers and body of an HTTP message part (CRLF or LF line ends)."""
    for separator in ("\r\n\r\n", "\n\n"):
        if separator in text:
            head, _, body = text.partition(separator)
            return head, separator, body
    return text, "", ""
