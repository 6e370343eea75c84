"""GitHub as a GitHub App: an RS256 app JWT, an installation token, the runner group's id, and just-in-time
runner configurations (one per VM, usable once)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import GitHubError
from .sessions import pooled_session
from .settings import GitHubSettings

API_VERSION = "2022-11-28"
JWT_BACKDATE = timedelta(seconds=60)
"""GitHub's advice: issue the app JWT 60 s in the past, against clock drift."""
JWT_LIFETIME = timedelta(minutes=9)
"""Under GitHub's 10-minute maximum (counted from the back-dated issue time), leaving room for drift."""
TOKEN_RENEWAL_MARGIN = timedelta(minutes=5)
"""An installation token (valid one hour) is renewed this long before it expires."""
TIMEOUT_SECONDS = 10


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def app_jwt(app_id: int, private_key_pem: str, now: datetime) -> str:
    """The App's JWT (RS256): issued 60 s back, expiring 9 minutes later, issuer the App id."""
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise GitHubError("the App private key is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise GitHubError("the App private key is not an RSA key (GitHub Apps sign with RS256)")
    issued = int((now - JWT_BACKDATE).timestamp())
    header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"iat": issued, "exp": issued + int(JWT_LIFETIME.total_seconds()), "iss": str(app_id)}
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{_b64url(signature)}"


@dataclass(frozen=True)
class JitConfig:
    """A single-use runner registration: the runner GitHub created, and the config only that VM reads."""

    runner_id: int
    encoded_jit_config: str


class GitHubApp:
    """The App's calls the control plane makes; thread-safe (the token and group id are cached)."""

    def __init__(
        self,
        settings: GitHubSettings,
        private_key: Callable[[], str],
        clock: Callable[[], datetime],
        session: requests.Session | None = None,
    ) -> None:
        self._settings = settings
        self._private_key = private_key
        self._clock = clock
        self._session = session or pooled_session()
        self._lock = threading.Lock()
        self._token: tuple[str, datetime] | None = None
        self._group_id: int | None = None

    def _call(self, method: str, path: str, bearer: str, expected: int, body: Any = None) -> Any:
        try:
            response = self._session.request(
                method,
                f"{self._settings.api_url}{path}",
                json=body,
                headers={
                    "Accept": "application/vnd.github+json",
                    "Authorization": f"Bearer {bearer}",
                    "X-GitHub-Api-Version": API_VERSION,
                },
                timeout=TIMEOUT_SECONDS,
            )
        except requests.RequestException as error:
            raise GitHubError(f"GitHub {method} {path.split('?')[0]} failed: {type(error).__name__}") from None
        if response.status_code != expected:
            # GitHub's error bodies carry a message and a docs link, never a credential; keep it short.
            raise GitHubError(f"GitHub {method} {path.split('?')[0]} answered {response.status_code}")
        if expected == 204:
            return None
        try:
            return response.json()
        except ValueError:
            raise GitHubError(f"GitHub {method} {path.split('?')[0]} answered {expected} without JSON") from None

    def installation_token(self) -> str:
        """An installation access token, renewed when it has less than TOKEN_RENEWAL_MARGIN left."""
        with self._lock:
            if self._token is not None and self._token[1] - self._clock() > TOKEN_RENEWAL_MARGIN:
                return self._token[0]
        jwt = app_jwt(self._settings.app_id, self._private_key(), self._clock())
        answer = self._call(
            "POST", f"/app/installations/{self._settings.installation_id}/access_tokens", jwt, expected=201
        )
        try:
            token = str(answer["token"])
            expires = datetime.fromisoformat(str(answer["expires_at"]).replace("Z", "+00:00"))
        except (KeyError, TypeError, ValueError):
            raise GitHubError("GitHub's installation token answer lacks token or expires_at") from None
        with self._lock:
            self._token = (token, expires)
        return token

    def runner_group_id(self) -> int:
        """The id of the runner group named in the settings (looked up once, then cached)."""
        with self._lock:
            if self._group_id is not None:
                return self._group_id
        token = self.installation_token()
        wanted = self._settings.runner_group.lower()
        page = 1
        while True:
            answer = self._call(
                "GET", f"/orgs/{self._settings.organization}/actions/runner-groups?per_page=100&page={page}", token, 200
            )
            groups = answer.get("runner_groups") if isinstance(answer, dict) else None
            if not isinstance(groups, list):
                raise GitHubError("GitHub's runner-groups answer lacks runner_groups")
            for group in groups:
                if isinstance(group, dict) and str(group.get("name", "")).lower() == wanted:
                    with self._lock:
                        self._group_id = int(group["id"])
                        return self._group_id
            if len(groups) < 100:
                raise GitHubError(
                    f"runner group {self._settings.runner_group!r} does not exist in {self._settings.organization}"
                )
            page += 1

    def generate_jitconfig(self, runner_name: str) -> JitConfig:
        """A just-in-time runner config for `runner_name`, in the pool's group with the pool's labels."""
        token = self.installation_token()
        answer = self._call(
            "POST",
            f"/orgs/{self._settings.organization}/actions/runners/generate-jitconfig",
            token,
            expected=201,
            body={
                "name": runner_name,
                "runner_group_id": self.runner_group_id(),
                "labels": list(self._settings.labels),
                "work_folder": "_work",
            },
        )
        try:
            runner_id = int(answer["runner"]["id"])
            encoded = answer["encoded_jit_config"]
        except (KeyError, TypeError, ValueError):
            raise GitHubError("GitHub's generate-jitconfig answer lacks runner.id or encoded_jit_config") from None
        if not isinstance(encoded, str) or not encoded:
            raise GitHubError("GitHub's generate-jitconfig answer has an empty encoded_jit_config")
        return JitConfig(runner_id, encoded)

    def delete_runner(self, runner_id: int) -> None:
        """Remove a registered runner (one whose VM could not be started)."""
        self._call(
            "DELETE", f"/orgs/{self._settings.organization}/actions/runners/{runner_id}", self.installation_token(), 204
        )
