"""A small OCI distribution client: blobs, manifests, tags, referrers (with the OCI 1.1 tag-schema
fallback for registries without the referrers API). Every request has a timeout.

Credentials: anonymous, or a username/password (docker config `auths`, `az acr login
--expose-token`), exchanged for a bearer token when the registry challenges for one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from components.model.contract import acr_name
from scripts.checks.errors import CheckError, UnreachableError, UsageError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT = ", ".join(
    [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, "application/vnd.docker.distribution.manifest.list.v2+json"]
)
DEFAULT_TIMEOUT = 10.0


class RegistryError(CheckError):
    """The registry answered, but not as the distribution spec says it should."""


@dataclass(frozen=True)
class Credentials:
    """A registry user name and password (or token)."""

    username: str
    password: str

    @classmethod
    def from_docker_config(cls, registry: str, path: Path | None = None) -> Credentials | None:
        """`auths.<registry>` of ~/.docker/config.json (or $DOCKER_CONFIG), if present."""
        folder = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker"))
        config_path = path or folder / "config.json"
        try:
            auths: dict[str, Any] = json.loads(config_path.read_text()).get("auths", {})
        except (OSError, ValueError):
            return None
        entry = auths.get(registry) or auths.get(f"https://{registry}")
        if not entry:
            return None
        if entry.get("identitytoken"):  # ACR refresh token: username is a fixed placeholder GUID
            return cls(ACR_TOKEN_USER, entry["identitytoken"])
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError) as exc:
                raise UsageError(f"{config_path}: auths.{registry}.auth is not base64 of user:password") from exc
            return cls(user, password)
        return None

    @classmethod
    def from_azure_cli(cls, registry: str, run: Any = subprocess.run) -> Credentials | None:
        """An ACR access token from `az acr login --expose-token` (Azure CLI login or workload
        identity through `az login --federated-token`), for `<name>.azurecr.io` registries."""
        name = acr_name(registry)
        if name is None or shutil.which("az") is None:
            return None
        command = ["az", "acr", "login", "--name", name, "--expose-token", "--output", "json"]
        try:
            result = run(command, capture_output=True, text=True, timeout=60, check=False)
            token = json.loads(result.stdout)["accessToken"] if result.returncode == 0 else None
        except (subprocess.TimeoutExpired, ValueError, KeyError):
            token = None
        return cls(ACR_TOKEN_USER, token) if token else None

    @classmethod
    def discover(cls, registry: str) -> Credentials | None:
        """Docker config first, then the Azure CLI for ACR; None means anonymous."""
        return cls.from_docker_config(registry) or cls.from_azure_cli(registry)


ACR_TOKEN_USER = "00000000-0000-0000-0000-000000000000"  # ACR's fixed user name for token logins


def sha256_digest(data: bytes) -> str:
    """The OCI digest of some content: `sha256:<hex>`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The descriptor as a manifest or index holds it."""
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Descriptor:
        """A descriptor from its JSON form."""
        return cls(
            data["mediaType"],
            data["digest"],
            int(data["size"]),
            dict(data.get("annotations") or {}),
            data.get("artifactType"),
        )


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry holds it: raw bytes, media type and digest."""

    raw: bytes
    media_type: str
    digest: str

    def json(self) -> dict[str, Any]:
        """The manifest parsed."""
        data: dict[str, Any] = json.loads(self.raw)
        return data


def tag_for(digest: str, suffix: str = "") -> str:
    """cosign's and the OCI referrers fallback's tag for a digest: `sha256-<hex>[.<suffix>]`."""
    algorithm, _, hex_ = digest.partition(":")
    return f"{algorithm}-{hex_}" + (f".{suffix}" if suffix else "")


class Registry:
    """One registry host. `scheme` is https unless the stack says the registry is plain HTTP."""

    def __init__(
        self,
        host: str,
        *,
        credentials: Credentials | None = None,
        plain_http: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.host = host
        self.base = f"{'http' if plain_http else 'https'}://{host}/v2"
        self.credentials = credentials
        self.timeout = timeout
        self.session = session or requests.Session()
        self._tokens: dict[str, str] = {}

    # -- transport ---------------------------------------------------------------------------

    def _request(self, method: str, url: str, *, scope: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if scope in self._tokens:
            headers["Authorization"] = self._tokens[scope]
        try:
            response = self.session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
            if response.status_code == 401 and scope not in self._tokens and self._authorize(response, scope):
                headers["Authorization"] = self._tokens[scope]
                response = self.session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise UnreachableError(f"registry {self.host}: {_reason(exc)}") from exc
        return response

    def _authorize(self, challenge: requests.Response, scope: str) -> bool:
        header = challenge.headers.get("WWW-Authenticate", "")
        if header.lower().startswith("basic"):
            if self.credentials is None:
                return False
            raw = f"{self.credentials.username}:{self.credentials.password}".encode()
            self._tokens[scope] = "Basic " + base64.b64encode(raw).decode()
            return True
        params = dict(re.findall(r'(\w+)="([^"]*)"', header))
        if not header.lower().startswith("bearer") or "realm" not in params:
            return False
        query = {"service": params.get("service", self.host), "scope": scope}
        auth = (self.credentials.username, self.credentials.password) if self.credentials else None
        try:
            token = self.session.get(params["realm"], params=query, auth=auth, timeout=self.timeout)
        except requests.RequestException as exc:
            raise UnreachableError(f"token service {params['realm']}: {exc}") from exc
        if token.status_code != 200:
            return False
        try:
            body = token.json()
        except ValueError as exc:
            raise RegistryError(f"token service {params['realm']} answered with something other than JSON") from exc
        self._tokens[scope] = "Bearer " + (body.get("token") or body.get("access_token") or "")
        return True

    @staticmethod
    def _scope(repository: str, push: bool = False) -> str:
        return f"repository:{repository}:{'pull,push,delete' if push else 'pull'}"

    def _check(self, response: requests.Response, what: str, *ok: int) -> requests.Response:
        if response.status_code not in ok:
            raise RegistryError(f"{what}: HTTP {response.status_code} from {self.host}: {response.text[:200]}")
        return response

    # -- reads -------------------------------------------------------------------------------

    def ping(self) -> int:
        """Status of `GET /v2/` without credentials: 200 (anonymous access) or 401 (auth required)."""
        try:
            return self.session.get(f"{self.base}/", timeout=self.timeout).status_code
        except requests.RequestException as exc:
            raise UnreachableError(f"registry {self.host}: {_reason(exc)}") from exc

    def anonymous_status(self, repository: str, reference: str) -> int:
        """Status of an unauthenticated manifest read (anything but 2xx means anonymous pull is off)."""
        url = f"{self.base}/{repository}/manifests/{reference}"
        try:
            return self.session.get(url, headers={"Accept": ACCEPT}, timeout=self.timeout).status_code
        except requests.RequestException as exc:
            raise UnreachableError(f"registry {self.host}: {_reason(exc)}") from exc

    def get_manifest(self, repository: str, reference: str) -> Manifest | None:
        """A manifest by tag or digest (checked against the digest), or None when absent."""
        url = f"{self.base}/{repository}/manifests/{reference}"
        response = self._request("GET", url, scope=self._scope(repository), headers={"Accept": ACCEPT})
        if response.status_code == 404:
            return None
        self._check(response, f"GET manifest {repository}:{reference}", 200)
        media_type = response.headers.get("Content-Type", "").split(";")[0]
        digest = sha256_digest(response.content)
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(f"manifest {repository}@{reference} from {self.host} hashes to {digest}")
        return Manifest(response.content, media_type, digest)

    def get_blob(self, repository: str, digest: str) -> bytes:
        """A blob, checked against its digest."""
        url = f"{self.base}/{repository}/blobs/{digest}"
        response = self._check(
            self._request("GET", url, scope=self._scope(repository)), f"GET blob {repository}@{digest}", 200
        )
        if sha256_digest(response.content) != digest:
            raise RegistryError(f"blob {digest} from {self.host} does not match its digest")
        return response.content

    def list_tags(self, repository: str) -> list[str]:
        """The repository's tags (none when the repository does not exist)."""
        url = f"{self.base}/{repository}/tags/list"
        response = self._request("GET", url, scope=self._scope(repository))
        if response.status_code == 404:
            return []
        tags: list[str] = self._check(response, f"list tags of {repository}", 200).json().get("tags") or []
        return tags

    def referrers(self, repository: str, digest: str, artifact_type: str | None = None) -> list[Descriptor]:
        """Manifests whose `subject` is `digest`: the referrers API, else the `sha256-<hex>` index."""
        url = f"{self.base}/{repository}/referrers/{digest}"
        params = {"artifactType": artifact_type} if artifact_type else None
        response = self._request("GET", url, scope=self._scope(repository), params=params)
        if response.status_code == 200 and response.headers.get("Content-Type", "").startswith(OCI_INDEX):
            found = [Descriptor.of(m) for m in response.json().get("manifests", [])]
        else:
            index = self.get_manifest(repository, tag_for(digest))
            found = [Descriptor.of(m) for m in index.json().get("manifests", [])] if index else []
        return [d for d in found if artifact_type is None or d.artifact_type == artifact_type]

    # -- writes ------------------------------------------------------------------------------

    def put_blob(self, repository: str, data: bytes) -> str:
        """Upload a blob unless it is there; returns its digest."""
        digest = sha256_digest(data)
        scope = self._scope(repository, push=True)
        head = self._request("HEAD", f"{self.base}/{repository}/blobs/{digest}", scope=scope)
        if head.status_code == 200:
            return digest
        start = self._check(
            self._request("POST", f"{self.base}/{repository}/blobs/uploads/", scope=scope),
            f"start upload to {repository}",
            202,
        )
        location = start.headers.get("Location", "")
        if not location.startswith("http"):
            location = f"{self.base.removesuffix('/v2')}{location}"
        separator = "&" if "?" in location else "?"
        self._check(
            self._request(
                "PUT",
                f"{location}{separator}digest={digest}",
                scope=scope,
                data=data,
                headers={"Content-Type": "application/octet-stream"},
            ),
            f"upload blob to {repository}",
            201,
        )
        return digest

    def put_manifest(self, repository: str, reference: str, manifest: Mapping[str, Any]) -> Manifest:
        """Push a manifest under a tag or digest."""
        raw = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
        media_type = str(manifest.get("mediaType", OCI_MANIFEST))
        url = f"{self.base}/{repository}/manifests/{reference}"
        self._check(
            self._request(
                "PUT", url, scope=self._scope(repository, push=True), data=raw, headers={"Content-Type": media_type}
            ),
            f"PUT manifest {repository}:{reference}",
            201,
        )
        return Manifest(raw, media_type, sha256_digest(raw))

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete a manifest by digest; whether the registry deleted it."""
        if not digest.startswith("sha256:"):
            raise UsageError(f"delete by digest only, not {digest!r}")
        url = f"{self.base}/{repository}/manifests/{digest}"
        response = self._request("DELETE", url, scope=self._scope(repository, push=True))
        return response.status_code in (200, 202)

    def put_referrer(self, repository: str, manifest: Mapping[str, Any]) -> Manifest:
        """Push a manifest with a `subject` by digest, and keep the OCI 1.1 fallback index
        (`sha256-<hex>` tag) current for registries without the referrers API."""
        pushed = self.put_manifest(repository, sha256_digest(_canonical(manifest)), manifest)
        subject = manifest["subject"]["digest"]
        probe = self._request("GET", f"{self.base}/{repository}/referrers/{subject}", scope=self._scope(repository))
        if probe.status_code == 200 and probe.headers.get("Content-Type", "").startswith(OCI_INDEX):
            return pushed
        fallback = tag_for(subject)
        index = self.get_manifest(repository, fallback)
        entries = [m for m in (index.json().get("manifests", []) if index else []) if m["digest"] != pushed.digest]
        descriptor = Descriptor(
            pushed.media_type,
            pushed.digest,
            len(pushed.raw),
            dict(manifest.get("annotations") or {}),
            manifest.get("artifactType"),
        )
        entries.append(descriptor.as_json())
        self.put_manifest(repository, fallback, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        return pushed


def _canonical(manifest: Mapping[str, Any]) -> bytes:
    return json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()


def _reason(exc: requests.RequestException) -> str:
    """The innermost reason of a transport error, in a few words (not urllib3's retry story)."""
    text = str(exc)
    for marker in ("] ", "Failed to establish a new connection: "):
        if marker in text:
            text = text.rsplit(marker, 1)[-1]
    return f"{type(exc).__name__}: {text.strip(_QUOTES)[:160]}"


_QUOTES = "\"')( "
