"""A fake Google on loopback that speaks the real HTTP protocol: OAuth 2.0 (consent page, token endpoint with
PKCE S256 and refresh, revocation, userinfo) and the Calendar API (calendarList, calendars.insert, events
insert/get/update/patch/delete/list, the multipart/mixed batch endpoint), with injectable 429/403/5xx."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

CLIENT_ID = "schedgen-test.apps.googleusercontent.com"
CLIENT_SECRET = "fake-secret"
EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")  # Google's rule for client-chosen event ids


@dataclass
class Grant:
    """One consent: its user, scopes, and whether it was revoked."""

    sub: str
    scope: str
    revoked: bool = False


@dataclass
class Calendar:
    """One calendar with its events (deleted ones kept as cancelled, as Google does)."""

    id: str
    summary: str
    owner: str
    primary: bool = False
    events: dict[str, dict[str, Any]] = field(default_factory=dict)

    def live_events(self) -> dict[str, dict[str, Any]]:
        """Events not deleted."""
        return {k: v for k, v in self.events.items() if v.get("status") != "cancelled"}


@dataclass
class Fault:
    """An error answer to inject."""

    status: int
    reason: str


def _error(status: int, reason: str, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "errors": [{"reason": reason, "message": message}]}}


class FakeGoogle:
    """State of the fake; start() serves it on 127.0.0.1 in a thread."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users = {"1001": "student@example.com", "2002": "other@example.com"}
        self.next_user = "1001"  # who "signs in" on the consent page
        self.codes: dict[str, dict[str, str]] = {}
        self.grants: dict[str, Grant] = {}
        self.access: dict[str, tuple[str, float]] = {}  # token -> (grant id, expires at)
        self.refresh: dict[str, str] = {}  # token -> grant id
        self.calendars: dict[str, Calendar] = {}
        self.ops: Counter[str] = Counter()
        self.faults: list[Fault] = []  # for the next Calendar calls (batch parts count one each)
        self.batch_faults: list[Fault] = []  # for the next whole batch requests
        self.access_ttl_s = 3600
        self.offset_s = 0.0  # moves the fake's clock (token expiry) without waiting
        self.server: ThreadingHTTPServer | None = None
        for sub, email in self.users.items():
            self.calendars[email] = Calendar(email, email, sub, primary=True)

    # --- control

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>."""
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def settings(self) -> dict[str, Any]:
        """schedgen settings pointing every Google endpoint here."""
        return {
            "google_client_id": CLIENT_ID,
            "google_client_secret": CLIENT_SECRET,
            "google_auth_url": f"{self.url}/o/oauth2/v2/auth",
            "google_token_url": f"{self.url}/token",
            "google_revoke_url": f"{self.url}/revoke",
            "google_userinfo_url": f"{self.url}/v1/userinfo",
            "google_calendar_api": f"{self.url}/calendar/v3",
            "google_batch_url": f"{self.url}/batch/calendar/v3",
        }

    def start(self) -> FakeGoogle:
        """Serve on a free loopback port."""
        fake = self

        class Handler(_Handler):
            google = fake

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, name="fake-google", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def now(self) -> float:
        """The fake's clock."""
        return time.time() + self.offset_s

    def advance(self, seconds: float) -> None:
        """Let time pass for token expiry."""
        self.offset_s += seconds

    def fail(self, count: int, status: int = 429, reason: str = "rateLimitExceeded") -> None:
        """Answer the next `count` Calendar calls with this error."""
        with self.lock:
            self.faults += [Fault(status, reason)] * count

    def fail_batches(self, count: int, status: int = 503, reason: str = "backendError") -> None:
        """Answer the next `count` batch requests as a whole with this error."""
        with self.lock:
            self.batch_faults += [Fault(status, reason)] * count

    def revoke_all(self, sub: str) -> None:
        """The user removes our access in their Google account."""
        with self.lock:
            for grant in self.grants.values():
                if grant.sub == sub:
                    grant.revoked = True

    def primary(self, sub: str = "1001") -> Calendar:
        """A user's primary calendar."""
        return next(c for c in self.calendars.values() if c.owner == sub and c.primary)

    def add_event(self, calendar: Calendar, event_id: str, summary: str) -> None:
        """An event the student made themselves (not ours)."""
        calendar.events[event_id] = {"id": event_id, "summary": summary, "status": "confirmed"}

    # --- OAuth

    def consent_page(self, query: dict[str, str]) -> tuple[int, str]:
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return 400, "invalid_request"
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 400, "PKCE S256 required"
        fields = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        email = self.users[self.next_user]
        page = (
            "<!doctype html><html><head><title>Sign in - Google Accounts</title></head><body>"
            f"<h1>schedgen wants to access your Google Account</h1><p>{email}</p>"
            f"<p>Scopes: {html.escape(query.get('scope', ''))}</p>"
            f'<form method="post" action="/o/oauth2/v2/approve">{fields}'
            '<button name="decision" value="allow" id="allow">Allow</button>'
            '<button name="decision" value="deny" id="deny">Cancel</button></form></body></html>'
        )
        return 200, page

    def approve(self, form: dict[str, str]) -> str:
        """The redirect back to the app with a code (or access_denied)."""
        target = form["redirect_uri"]
        state = form.get("state", "")
        if form.get("decision") != "allow":
            return f"{target}?{urlencode({'error': 'access_denied', 'state': state})}"
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = {
                "sub": self.next_user,
                "redirect_uri": target,
                "challenge": form["code_challenge"],
                "scope": form.get("scope", ""),
            }
        return f"{target}?{urlencode({'code': code, 'state': state})}"

    def issue_code(self, redirect_uri: str, challenge: str, sub: str = "1001") -> str:
        """A code as if the user had approved (for tests without a browser)."""
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = {"sub": sub, "redirect_uri": redirect_uri, "challenge": challenge, "scope": ""}
        return code

    def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:  # noqa: PLR0911
        client = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if client != (CLIENT_ID, CLIENT_SECRET):
            return 401, {"error": "invalid_client"}
        with self.lock:
            if form.get("grant_type") == "authorization_code":
                pending = self.codes.pop(form.get("code", ""), None)
                if pending is None or pending["redirect_uri"] != form.get("redirect_uri"):
                    return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
                verifier = form.get("code_verifier", "")
                digest = hashlib.sha256(verifier.encode()).digest()
                if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != pending["challenge"]:
                    return 400, {"error": "invalid_grant", "error_description": "Invalid code verifier."}
                grant_id = secrets.token_hex(8)
                self.grants[grant_id] = Grant(pending["sub"], pending["scope"])
                refresh = "1//" + secrets.token_urlsafe(24)
                self.refresh[refresh] = grant_id
                self.ops["token_exchange"] += 1
                return 200, self._access(grant_id, refresh)
            if form.get("grant_type") == "refresh_token":
                grant_id = self.refresh.get(form.get("refresh_token", ""), "")
                if not grant_id or self.grants[grant_id].revoked:
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "Token has been expired or revoked.",
                    }
                self.ops["token_refresh"] += 1
                return 200, self._access(grant_id, None)
        return 400, {"error": "unsupported_grant_type"}

    def _access(self, grant_id: str, refresh: str | None) -> dict[str, Any]:
        token = "ya29." + secrets.token_urlsafe(24)
        self.access[token] = (grant_id, self.now() + self.access_ttl_s)
        out: dict[str, Any] = {
            "access_token": token,
            "expires_in": self.access_ttl_s,
            "token_type": "Bearer",
            "scope": self.grants[grant_id].scope,
        }
        if refresh:
            out["refresh_token"] = refresh
        return out

    def revoke(self, token: str) -> int:
        with self.lock:
            grant_id = self.refresh.get(token) or self.access.get(token, ("", 0.0))[0]
            if not grant_id:
                return 400
            self.grants[grant_id].revoked = True
            self.ops["revoke"] += 1
            return 200

    def user_of(self, authorization: str) -> str | None:
        """The user of a valid, unexpired bearer token."""
        token = authorization.removeprefix("Bearer ").strip()
        with self.lock:
            grant_id, expires = self.access.get(token, ("", 0.0))
            if not grant_id or expires <= self.now() or self.grants[grant_id].revoked:
                return None
            return self.grants[grant_id].sub

    # --- Calendar API

    def calendar_call(self, sub: str, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        """One Calendar API call (path after /calendar/v3)."""
        with self.lock:
            if self.faults:
                fault = self.faults.pop(0)
                return fault.status, _error(fault.status, fault.reason, "injected")
            route = urlsplit(path).path
            if route == "/users/me/calendarList" and method == "GET":
                items = [
                    {"id": c.id, "summary": c.summary, "primary": c.primary, "accessRole": "owner"}
                    for c in self.calendars.values()
                    if c.owner == sub
                ]
                return 200, {"items": items}
            if route == "/calendars" and method == "POST":
                cal_id = secrets.token_hex(10) + "@group.calendar.google.com"
                self.calendars[cal_id] = Calendar(cal_id, str(body.get("summary", "")), sub)
                self.ops["calendars.insert"] += 1
                return 200, {
                    "id": cal_id,
                    "summary": body.get("summary", ""),
                    "timeZone": body.get("timeZone"),
                }
            match = re.fullmatch(r"/calendars/([^/]+)/events(?:/([^/]+))?", route)
            if not match:
                return 404, _error(404, "notFound", "Not Found")
            calendar = self.calendars.get(unquote(match.group(1)))
            if calendar is None or calendar.owner != sub:
                return 404, _error(404, "notFound", "Not Found")
            return self._event_call(calendar, method, unquote(match.group(2) or ""), body)

    def _event_call(  # noqa: PLR0911 - one answer per case, as the API has
        self, calendar: Calendar, method: str, event_id: str, body: Any
    ) -> tuple[int, dict[str, Any]]:
        existing = calendar.events.get(event_id) if event_id else None
        if not event_id and method == "GET":
            return 200, {"items": list(calendar.live_events().values())}
        if not event_id and method == "POST":
            new_id = str(body.get("id") or secrets.token_hex(12))
            if not EVENT_ID.match(new_id):
                return 400, _error(400, "invalid", "Invalid resource id value.")
            if new_id in calendar.events:
                return 409, _error(409, "duplicate", "The requested identifier already exists.")
            calendar.events[new_id] = {**body, "id": new_id, "status": body.get("status", "confirmed")}
            self.ops["insert"] += 1
            return 200, calendar.events[new_id]
        if existing is None:
            return 404, _error(404, "notFound", "Not Found")
        if method == "GET":
            return 200, existing
        if method == "PUT":
            calendar.events[event_id] = {**body, "id": event_id, "status": body.get("status", "confirmed")}
            self.ops["update"] += 1
            return 200, calendar.events[event_id]
        if method == "PATCH":
            existing.update(body)
            self.ops["patch"] += 1
            return 200, existing
        if method == "DELETE":
            if existing.get("status") == "cancelled":
                return 410, _error(410, "deleted", "Resource has been deleted")
            existing["status"] = "cancelled"
            self.ops["delete"] += 1
            return 204, {}
        return 405, _error(405, "methodNotAllowed", "Method not allowed")

    def batch(self, sub: str, content_type: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """The batch endpoint: run each part as its own call; answer multipart/mixed."""
        with self.lock:
            self.ops["batch"] += 1
            if self.batch_faults:
                fault = self.batch_faults.pop(0)
                data = json.dumps(_error(fault.status, fault.reason, "injected")).encode()
                return fault.status, {"Content-Type": "application/json"}, data
        boundary = content_type.split("boundary=", 1)[1].strip('"')
        parts = body.decode().split(f"--{boundary}")[1:]
        if len(parts) - 1 > 50:
            return 400, {"Content-Type": "application/json"}, b'{"error": {"code": 400}}'
        answer = "batch_" + secrets.token_hex(8)
        out = []
        for part in parts:
            if part.startswith("--"):
                break
            head, inner = _split(part.lstrip("\r\n"))
            content_id = re.search(r"Content-ID:\s*<([^>]*)>", head, re.IGNORECASE)
            request_head, request_body = _split(inner)
            method, path, _ = request_head.splitlines()[0].split(" ", 2)
            path = path.removeprefix("/calendar/v3")
            payload = json.loads(request_body) if request_body.strip() else None
            status, data = self.calendar_call(sub, method, path, payload)
            reply = json.dumps(data) if status != 204 else ""
            out.append(
                f"--{answer}\r\nContent-Type: application/http\r\n"
                f"Content-ID: <response-{content_id.group(1) if content_id else ''}>\r\n\r\n"
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{reply}\r\n"
            )
        out.append(f"--{answer}--\r\n")
        return 200, {"Content-Type": f"multipart/mixed; boundary={answer}"}, "".join(out).encode()


class _Handler(BaseHTTPRequestHandler):
    google: FakeGoogle

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self._body().decode()).items()}

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: dict[str, Any]) -> None:
        body = b"" if status == 204 else json.dumps(data).encode()
        self._send(status, body, "application/json; charset=UTF-8")

    def _basic(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return unquote(user), unquote(password)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _route(self, method: str) -> None:
        g = self.google
        parts = urlsplit(self.path)
        if parts.path == "/o/oauth2/v2/auth":
            status, page = g.consent_page({k: v[0] for k, v in parse_qs(parts.query).items()})
            self._send(status, page.encode(), "text/html; charset=utf-8")
        elif parts.path == "/o/oauth2/v2/approve":
            self._send(302, b"", "text/plain", {"Location": g.approve(self._form())})
        elif parts.path == "/token":
            status, data = g.token(self._form(), self._basic())
            self._json(status, data)
        elif parts.path == "/revoke":
            token = self._form().get("token") or parse_qs(parts.query).get("token", [""])[0]
            self._json(g.revoke(token), {})
        else:
            sub = g.user_of(self.headers.get("Authorization", ""))
            if sub is None:
                self._json(401, _error(401, "authError", "Invalid Credentials"))
            elif parts.path == "/v1/userinfo":
                self._json(200, {"sub": sub, "email": g.users[sub], "email_verified": True})
            elif parts.path == "/batch/calendar/v3":
                status, headers, body = g.batch(sub, self.headers.get("Content-Type", ""), self._body())
                self._send(status, body, headers["Content-Type"])
            elif parts.path.startswith("/calendar/v3/"):
                raw = self._body()
                payload = json.loads(raw) if raw.strip() else None
                path = parts.path.removeprefix("/calendar/v3") + (f"?{parts.query}" if parts.query else "")
                status, data = g.calendar_call(sub, method, path, payload)
                self._json(status, data)
            else:
                self._json(404, _error(404, "notFound", "Not Found"))


def _split(text: str) -> tuple[str, str]:
    """Head and body of a MIME part or HTTP message (CRLF or LF line ends)."""
    pieces = re.split(r"\r?\n\r?\n", text, maxsplit=1)
    return pieces[0], pieces[1] if len(pieces) > 1 else ""


def quote_id(calendar_id: str) -> str:
    """A calendar id as a path segment."""
    return quote(calendar_id, safe="")
