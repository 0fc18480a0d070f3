"""Use cases of live calendar feeds: make, regenerate and revoke a secret link; serve the current .ics."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from schedgen.adapters.db import feeds as repo
from schedgen.adapters.db.feeds import FeedRecord
from schedgen.errors import FeedNotFoundError, FeedRevokedError, JobNotFoundError
from schedgen.services import timetable_state as state

TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 43 characters, 256 random bits
MAX_TOKEN_CHARS = 100  # anything longer is not one of our tokens


@dataclass(frozen=True, slots=True)
class FeedBody:
    """A feed's calendar with what HTTP caching needs."""

    body: bytes
    etag: str  # strong validator: a hash of the body
    last_modified: dt.datetime  # when the timetable's choices or options last changed


def hash_token(token: str) -> str:
    """What we store of a token: its SHA-256 (a token has 256 random bits, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_feed(deps: state.TimetableDeps, timetable_id: str) -> str:
    """A new secret feed token for a timetable; any older link of it stops working (regenerate)."""
    view = state.load_timetable(deps, timetable_id)
    if view is None:
        raise JobNotFoundError("There is no such timetable. It may have expired.")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = deps.clock()
    with deps.sessions.begin() as session:
        repo.revoke_feeds(session, timetable_id, now=now)
        repo.insert_feed(session, token_hash=hash_token(token), timetable_id=timetable_id, now=now)
    state.keep_for_feed(deps, view)
    return token


def revoke_feed(deps: state.TimetableDeps, timetable_id: str) -> bool:
    """Switch off a timetable's feed link; False if it had none. The timetable is then kept no longer than
    one without a feed (its retention from now)."""
    now = deps.clock()
    with deps.sessions.begin() as session:
        revoked = repo.revoke_feeds(session, timetable_id, now=now) > 0
        if revoked:
            state.release_from_feed(session, deps, timetable_id, now)
        return revoked


def feed_of(deps: state.TimetableDeps, timetable_id: str) -> FeedRecord | None:
    """The timetable's live feed (without its token, which we do not keep)."""
    with deps.sessions() as session:
        return repo.live_feed(session, timetable_id)


def render_feed(deps: state.TimetableDeps, token: str) -> FeedBody:
    """The timetable's current selection as .ics; FeedNotFoundError or FeedRevokedError otherwise."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise FeedNotFoundError()
    with deps.sessions() as session:
        feed = repo.get_feed(session, hash_token(token))
    if feed is None:
        raise FeedNotFoundError()
    if not feed.live:
        raise FeedRevokedError()
    view = state.load_timetable(deps, feed.timetable_id)
    if view is None:
        raise FeedNotFoundError(
            "This calendar's timetable has expired. Upload your timetable again and make a new link."
        )
    state.keep_for_feed(deps, view)  # kept as long as calendar apps fetch it
    body = state.build_ics(deps, view)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return FeedBody(body, etag, view.saved.updated_at.replace(microsecond=0))
