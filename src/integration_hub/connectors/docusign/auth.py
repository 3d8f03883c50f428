"""DocuSign's JWT grant (developers.docusign.com/platform/auth/jwt): an RS256 assertion signed
with the app's RSA key, `iss` the integration key, `sub` the impersonated user, `aud` the
OAuth host (account-d.docusign.com on demo), scope "signature impersonation", exchanged at
`POST /oauth/token` for an access token (an hour; cached until shortly before it expires).
The account's API base comes from `GET /oauth/userinfo` once (or HUB_DOCUSIGN_BASE_URI).

Until the user has granted the app consent, the token request answers `consent_required`:
that is a refusal no retry fixes, and its detail is the consent URL to open once.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import jwt

from integration_hub.connectors.docusign import ACCOUNT_ID, CLIENT_ID, PRIVATE_KEY, USER_ID
from integration_hub.connectors.docusign import PARTNER as DECLARATION
from integration_hub.connectors.docusign.settings import DocuSignSettings
from integration_hub.connectors.outbound import call_failed, refuse, timed_call
from integration_hub.secrets import SecretSource

PARTNER = "docusign"
SCOPE = "signature impersonation"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_SECONDS = 3600  # DocuSign's longest assertion lifetime
TOKEN_REFRESH_MARGIN_SECONDS = 300.0
HTTP_TIMEOUT_SECONDS = 20.0  # under CALL_TIMEOUT: the call gives up before Temporal does
MAX_ACCOUNTS = 100  # a userinfo answer lists the user's accounts: capped before looping
MAX_TOKEN_LENGTH = 16 * 1024  # DocuSign's tokens are a few KB
MAX_TOKEN_SECONDS = 8 * 3600  # the longest lifetime DocuSign gives a token


def error_code(response: httpx.Response) -> str | int:
    """DocuSign's error name: `errorCode` (eSignature API) or `error` (OAuth)."""
    try:
        body = response.json()
    except ValueError:
        return response.status_code
    code = (body.get("errorCode") or body.get("error")) if isinstance(body, dict) else None
    return code[:100] if isinstance(code, str) and code else response.status_code


def _token_of(response: httpx.Response) -> tuple[str, float] | str:
    """(access token, lifetime in seconds, at most MAX_TOKEN_SECONDS) from a token answer, or
    what makes it unusable. A lifetime that is missing or within the refresh margin is
    unusable: cached, it would be expired at once and every call would make a new JWT grant
    (DocuSign throttles its token endpoint)."""
    try:
        body = response.json()
    except ValueError:
        return "the answer holds no access token"
    token = body.get("access_token") if isinstance(body, dict) else None
    lifetime = body.get("expires_in") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return "the answer holds no access token"
    seconds = (
        float(lifetime)
        if isinstance(lifetime, int | float) and not isinstance(lifetime, bool)
        else math.nan
    )
    if not seconds > TOKEN_REFRESH_MARGIN_SECONDS:  # NaN (missing, not a number) included
        return f"the token's expires_in is missing or {TOKEN_REFRESH_MARGIN_SECONDS:.0f} s at most"
    return token, min(seconds, MAX_TOKEN_SECONDS)


class DocuSignAuth:
    """The access token and the account's API base, shared by every activity of a worker."""

    def __init__(
        self,
        secrets: SecretSource,
        settings: DocuSignSettings,
        http: httpx.Client,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = secrets
        self._settings = settings
        self._http = http
        self._clock = clock
        self._lock = threading.RLock()
        # (whose: _identity(), access token, refresh after)
        self._token: tuple[tuple[str, ...], str, float] | None = None
        self._base_uri = settings.base_uri.rstrip("/") if settings.base_uri else None
        self._found_base: tuple[str, str] | None = None  # (account id, its base from userinfo)

    def _secret(self, name: str) -> str:
        value = next(iter(self._secrets.versions(name)), "")
        return DECLARATION.secret(name).canonical(value) if value else ""

    @property
    def account_id(self) -> str:
        return self._secret(ACCOUNT_ID)

    def consent_url(self) -> str:
        return (
            f"{self._settings.oauth_url}/oauth/auth?response_type=code"
            f"&scope={quote(SCOPE)}&client_id={quote(self._secret(CLIENT_ID))}"
            f"&redirect_uri={quote(self._settings.consent_redirect_uri, safe='')}"
        )

    def _identity(self) -> tuple[str, ...]:
        """Whose token a grant makes: the integration key, user and account, and the private
        key's fingerprint, so a rotated credential takes effect at the next call."""
        key = hashlib.sha256(self._secret(PRIVATE_KEY).encode()).hexdigest()
        return (self._secret(CLIENT_ID), self._secret(USER_ID), self._secret(ACCOUNT_ID), key)

    def forget_token(self) -> None:
        with self._lock:
            self._token = None

    def assertion(self, operation: str) -> str:
        values = {n: self._secret(n) for n in (CLIENT_ID, USER_ID, PRIVATE_KEY, ACCOUNT_ID)}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise refuse(PARTNER, operation, f"{', '.join(missing)} not set")
        now = int(self._clock())
        claims = {
            "iss": values[CLIENT_ID],
            "sub": values[USER_ID],
            "aud": self._settings.oauth_host,
            "iat": now,
            "exp": now + ASSERTION_SECONDS,
            "scope": SCOPE,
        }
        try:
            return jwt.encode(claims, values[PRIVATE_KEY], algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError):  # never the key in the message
            raise refuse(
                PARTNER, operation, f"{PRIVATE_KEY} is not a PEM RSA private key"
            ) from None

    def send(self, operation: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            with timed_call(PARTNER, operation):
                return self._http.request(method, url, **kwargs)
        except httpx.HTTPError as error:  # no answer: connection refused, reset, timed out
            raise call_failed(
                PARTNER, operation, status=None, message=type(error).__name__
            ) from None

    def access_token(self, operation: str) -> str:
        with self._lock:
            identity = self._identity()
            if self._token and self._token[0] == identity and self._clock() < self._token[2]:
                return self._token[1]
            self._token = None
            response = self.send(
                "oauth.token",
                "POST",
                f"{self._settings.oauth_url}/oauth/token",
                data={"grant_type": JWT_GRANT, "assertion": self.assertion(operation)},
            )
            if not response.is_success:
                code = error_code(response)
                if code == "consent_required":
                    raise refuse(
                        PARTNER,
                        operation,
                        f"consent_required: grant consent once at {self.consent_url()}",
                    )
                raise call_failed(
                    PARTNER,
                    "oauth.token",
                    status=response.status_code,
                    message=response.reason_phrase,
                    code=code,
                    retry_after=response.headers.get("retry-after"),
                )
            answer = _token_of(response)
            if isinstance(answer, str):
                raise call_failed(
                    PARTNER,
                    "oauth.token",
                    status=response.status_code,
                    message=answer,
                    code="bad_answer",
                    retryable=True,
                )
            token, lifetime = answer
            refresh_after = self._clock() + lifetime - TOKEN_REFRESH_MARGIN_SECONDS
            self._token = (identity, token, refresh_after)
            return token

    def base_uri(self, operation: str) -> str:
        """The account's API base (`https://demo.docusign.net`), from userinfo once per
        account id (a rotated DOCUSIGN_ACCOUNT_ID asks again)."""
        account_id = self.account_id
        with self._lock:
            if self._base_uri is not None:
                return self._base_uri
            if self._found_base is not None and self._found_base[0] == account_id:
                return self._found_base[1]
        token = self.access_token(operation)
        response = self.send(
            "oauth.userinfo",
            "GET",
            f"{self._settings.oauth_url}/oauth/userinfo",
            headers={"Authorization": f"Bearer {token}"},
        )
        if not response.is_success:
            raise call_failed(
                PARTNER,
                "oauth.userinfo",
                status=response.status_code,
                message=response.reason_phrase,
                code=error_code(response),
            )
        accounts = response.json().get("accounts")
        for account in accounts[:MAX_ACCOUNTS] if isinstance(accounts, list) else []:
            if isinstance(account, dict) and account.get("account_id") == account_id:
                base = str(account.get("base_uri") or "").rstrip("/")
                if base.startswith(("https://", "http://")):
                    with self._lock:
                        self._found_base = (account_id, base)
                    return base
        raise refuse(PARTNER, operation, f"the impersonated user has no access to {ACCOUNT_ID}")
