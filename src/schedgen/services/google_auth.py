"""Use cases of Google sign-in: start and finish the OAuth flow, who is signed in, a fresh access token,
sign-out and "delete my data". Tokens are encrypted before they are stored and never logged."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from schedgen.adapters.db import google as repo
from schedgen.adapters.google_auth import GoogleOAuth
from schedgen.adapters.google_calendar import AccessTokenRejected, GoogleCalendarClient
from schedgen.adapters.google_sessions import SessionStore
from schedgen.adapters.sync_queue import SyncQueue
from schedgen.adapters.tokens import TokenCipher, TokenDecryptError
from schedgen.config import Settings
from schedgen.errors import GoogleAccessRevokedError, GoogleAuthError, GoogleSignInRequiredError
from schedgen.services.timetable_state import TimetableDeps

log = logging.getLogger(__name__)

STATE_TTL_S = 600  # a sign-in must come back from Google within 10 minutes
EXPIRY_MARGIN = dt.timedelta(seconds=60)  # refresh an access token this long before it expires
T = TypeVar("T")


@dataclass(frozen=True)
class GoogleDeps:
    """What the Google use cases touch, built by bootstrap."""

    settings: Settings
    sessions: sessionmaker[Session]
    clock: Callable[[], dt.datetime]
    cipher: TokenCipher
    store: SessionStore
    oauth: GoogleOAuth
    calendar: GoogleCalendarClient
    queue: SyncQueue

    @property
    def timetables(self) -> TimetableDeps:
        """The timetable use cases' dependencies."""
        return TimetableDeps(self.settings, self.sessions, self.clock)


@dataclass(frozen=True, slots=True)
class Account:
    """A signed-in Google account as the pages show it."""

    id: str
    email: str


def _who(owner: str) -> str:
    return f"who:{owner}"


def start_sign_in(deps: GoogleDeps, owner: str, timetable_id: str, redirect_uri: str) -> str:
    """The Google consent URL; the state and PKCE verifier wait server-side for the callback."""
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters: within PKCE's 43 to 128
    pending = {"owner": owner, "verifier": verifier, "timetable": timetable_id, "redirect": redirect_uri}
    url = deps.oauth.authorization_url(redirect_uri, state, verifier)
    deps.store.put(f"oauth:{state}", pending, STATE_TTL_S)
    return url


def finish_sign_in(deps: GoogleDeps, owner: str, state: str, code: str) -> str:
    """Check the state, trade the code for tokens, store them encrypted; the timetable id to return to."""
    pending = deps.store.pop(f"oauth:{state}") if state and len(state) <= 128 else None
    if pending is None or pending.get("owner") != owner or not code:
        raise GoogleAuthError()
    tokens = deps.oauth.exchange_code(code, str(pending["redirect"]), str(pending["verifier"]))
    user = deps.oauth.userinfo(tokens.access_token)
    with deps.sessions.begin() as session:
        repo.save_account(
            session,
            account_id=user.sub,
            email=user.email,
            access_token=deps.cipher.encrypt(tokens.access_token),
            refresh_token=deps.cipher.encrypt(tokens.refresh_token) if tokens.refresh_token else None,
            expires_at=tokens.expires_at,
            scopes=tokens.scope,
            now=deps.clock(),
        )
    deps.store.put(_who(owner), {"account": user.sub}, deps.settings.google_session_ttl_s)
    log.info("Google sign-in completed")
    return str(pending["timetable"])


def signed_in(deps: GoogleDeps, owner: str) -> Account | None:
    """The Google account signed in on this browser session, if it still has tokens."""
    who = deps.store.get(_who(owner))
    if who is None:
        return None
    with deps.sessions() as session:
        record = repo.get_account(session, str(who.get("account", "")))
    if record is None or (record.access_token is None and record.refresh_token is None):
        return None
    return Account(record.id, record.email)


def access_token(deps: GoogleDeps, account_id: str, *, force_refresh: bool = False) -> str:
    """A usable access token, refreshed when (nearly) expired; clears the tokens if Google revoked them."""
    with deps.sessions() as session:
        record = repo.get_account(session, account_id)
    if record is None or record.access_token is None:
        raise GoogleSignInRequiredError()
    now = deps.clock()
    try:
        if not force_refresh and record.expires_at is not None and record.expires_at > now + EXPIRY_MARGIN:
            return deps.cipher.decrypt(record.access_token)
        if record.refresh_token is None:
            raise GoogleSignInRequiredError()
        refresh = deps.cipher.decrypt(record.refresh_token)
    except TokenDecryptError as exc:
        raise GoogleSignInRequiredError() from exc
    try:
        tokens = deps.oauth.refresh(refresh)
    except GoogleAccessRevokedError:
        with deps.sessions.begin() as session:
            repo.clear_tokens(session, account_id, now=now)
        raise
    with deps.sessions.begin() as session:
        repo.update_access_token(
            session,
            account_id,
            access_token=deps.cipher.encrypt(tokens.access_token),
            refresh_token=deps.cipher.encrypt(tokens.refresh_token) if tokens.refresh_token else None,
            expires_at=tokens.expires_at,
            now=now,
        )
    return tokens.access_token


def with_token(deps: GoogleDeps, account_id: str, call: Callable[[str], T]) -> T:
    """Run a Calendar call with a valid token; on a 401, refresh once and run it again."""
    try:
        return call(access_token(deps, account_id))
    except AccessTokenRejected:
        pass
    try:
        return call(access_token(deps, account_id, force_refresh=True))
    except AccessTokenRejected as exc:
        with deps.sessions.begin() as session:
            repo.clear_tokens(session, account_id, now=deps.clock())
        raise GoogleAccessRevokedError() from exc


def _revoke(deps: GoogleDeps, account_id: str) -> None:
    with deps.sessions() as session:
        record = repo.get_account(session, account_id)
    token = record and (record.refresh_token or record.access_token)
    if token:
        try:
            deps.oauth.revoke(deps.cipher.decrypt(token))
        except TokenDecryptError:
            log.warning("a stored Google token could not be decrypted to revoke it")


def _end_session(deps: GoogleDeps, owner: str) -> str | None:
    """Forget the owner's sign-in and revoke its grant at Google; the account id, or None if not signed in."""
    who = deps.store.pop(_who(owner))
    if who is None:
        return None
    account_id = str(who.get("account", ""))
    _revoke(deps, account_id)
    return account_id


def sign_out(deps: GoogleDeps, owner: str) -> None:
    """Revoke the grant at Google and forget the tokens; the record of events we created stays (for undo)."""
    account_id = _end_session(deps, owner)
    if account_id is None:
        return
    with deps.sessions.begin() as session:
        repo.clear_tokens(session, account_id, now=deps.clock())


def delete_my_data(deps: GoogleDeps, owner: str) -> None:
    """Revoke the grant and delete the account, its syncs and its record of created events."""
    account_id = _end_session(deps, owner)
    if account_id is None:
        return
    with deps.sessions.begin() as session:
        repo.delete_account(session, account_id)
