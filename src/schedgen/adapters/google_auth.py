"""Google OAuth 2.0 on Authlib's requests client: authorization URL (PKCE S256), code exchange, refresh,
revocation and userinfo. Vendor errors become ours; no token is ever logged."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from schedgen.adapters.google_calendar import new_session
from schedgen.config import Settings
from schedgen.errors import (
    GoogleAccessRevokedError,
    GoogleAuthError,
    GoogleNotConfiguredError,
    GoogleUnavailableError,
)

if TYPE_CHECKING:
    import requests
    from authlib.integrations.requests_client import OAuth2Session  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

DEFAULT_EXPIRY_S = 3600  # when a token response has no expires_in


@dataclass(frozen=True, slots=True)
class TokenSet:
    """Tokens from Google's token endpoint (plain text: encrypt before storing)."""

    access_token: str
    refresh_token: str | None
    expires_at: dt.datetime
    scope: str

    def __repr__(self) -> str:  # never print a token
        return f"TokenSet(expires_at={self.expires_at.isoformat()}, scope={self.scope!r})"


@dataclass(frozen=True, slots=True)
class GoogleUser:
    """Who signed in: Google's stable subject id and the email shown on the page."""

    sub: str
    email: str


class GoogleOAuth:
    """The OAuth client of one configured Google app; endpoints from settings (tests use a fake server)."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], dt.datetime],
        http: Callable[[], requests.Session] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._http = http

    def http(self) -> requests.Session:
        """A new HTTP session (the injected factory, else requests')."""
        return (self._http or new_session)()

    def _session(self, redirect_uri: str | None = None) -> OAuth2Session:
        from authlib.integrations.requests_client import OAuth2Session

        if not self.settings.google_enabled or self.settings.google_client_secret is None:
            raise GoogleNotConfiguredError()
        session = OAuth2Session(
            client_id=self.settings.google_client_id,
            client_secret=self.settings.google_client_secret.get_secret_value(),
            scope=self.settings.google_scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
        )
        return session

    def authorization_url(self, redirect_uri: str, state: str, code_verifier: str) -> str:
        """Where to send the browser: Google's consent page with state, PKCE challenge and offline access."""
        with self._session(redirect_uri) as session:
            url, _ = session.create_authorization_url(
                self.settings.google_auth_url,
                state=state,
                code_verifier=code_verifier,
                access_type="offline",  # a refresh token, so syncs work after the access token expires
                prompt="consent",  # Google sends the refresh token again after a sign-out revoked it
                include_granted_scopes="true",
            )
        return str(url)

    def exchange_code(self, code: str, redirect_uri: str, code_verifier: str) -> TokenSet:
        """Trade an authorization code (and the PKCE verifier) for tokens; GoogleAuthError if refused."""
        import requests
        from authlib.common.errors import AuthlibBaseError  # type: ignore[import-untyped]

        try:
            with self._session(redirect_uri) as session:
                token = session.fetch_token(
                    self.settings.google_token_url,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                    timeout=self.settings.google_timeout_s,
                )
        except AuthlibBaseError as exc:
            log.warning("Google refused the authorization code: %s", getattr(exc, "error", "error"))
            raise GoogleAuthError() from exc
        except (requests.RequestException, ValueError) as exc:
            raise GoogleUnavailableError() from exc
        return self._token_set(token)

    def refresh(self, refresh_token: str) -> TokenSet:
        """A new access token; GoogleAccessRevokedError if Google no longer accepts the refresh token."""
        import requests
        from authlib.common.errors import AuthlibBaseError

        try:
            with self._session() as session:
                token = session.refresh_token(
                    self.settings.google_token_url,
                    refresh_token=refresh_token,
                    timeout=self.settings.google_timeout_s,
                )
        except AuthlibBaseError as exc:
            error = getattr(exc, "error", "")
            log.warning("Google refused the refresh token: %s", error)
            if error in ("invalid_grant", "unauthorized_client", "invalid_client"):
                raise GoogleAccessRevokedError() from exc
            raise GoogleUnavailableError() from exc
        except (requests.RequestException, ValueError) as exc:
            raise GoogleUnavailableError() from exc
        return self._token_set(token)

    def revoke(self, token: str) -> bool:
        """Revoke a token (and with it the grant); False if Google could not be told (best effort)."""
        import requests

        try:
            with self.http() as http:
                response = http.post(
                    self.settings.google_revoke_url,
                    data={"token": token},
                    timeout=self.settings.google_timeout_s,
                )
        except requests.RequestException as exc:
            log.warning("could not revoke a Google token: %s", type(exc).__name__)
            return False
        # 400 invalid_token: already revoked or expired, which is what we wanted
        return response.status_code in (200, 400)

    def userinfo(self, access_token: str) -> GoogleUser:
        """The signed-in user's subject id and email."""
        import requests

        try:
            with self.http() as http:
                response = http.get(
                    self.settings.google_userinfo_url,
                    headers={"Authorization": f"Bearer {access_token}"},
                    timeout=self.settings.google_timeout_s,
                )
                data = response.json() if response.status_code == 200 else {}
        except (requests.RequestException, ValueError) as exc:
            raise GoogleUnavailableError() from exc
        if not isinstance(data, dict) or not data.get("sub"):
            raise GoogleAuthError()
        return GoogleUser(str(data["sub"]), str(data.get("email", "")))

    def _token_set(self, token: dict[str, Any]) -> TokenSet:
        access = token.get("access_token")
        if not access:
            raise GoogleAuthError()
        expires_in = int(token.get("expires_in") or DEFAULT_EXPIRY_S)
        return TokenSet(
            access_token=str(access),
            refresh_token=token.get("refresh_token"),
            expires_at=self.clock() + dt.timedelta(seconds=expires_in),
            scope=str(token.get("scope", "")),
        )
