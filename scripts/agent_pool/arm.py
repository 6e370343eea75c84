"""Azure Resource Manager: create one agent VM, list the pool's VMs, delete one; a bearer token from the
function's managed identity."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from azure.core.credentials import TokenCredential

from .errors import ArmError
from .sessions import pooled_session
from .settings import ArmSettings

JOB_TAG = "supply-chain-job"
CREATED_TAG = "supply-chain-created"
POOL_TAG = "supply-chain-pool"
VM_NAME = re.compile(r"^agent-[0-9a-f]{24}$")
"""Every agent's name: `agent-` and 24 random lowercase hex digits (unguessable: the name is the blob's name)."""
TIMEOUT_SECONDS = 30


def bearer_from(credential: TokenCredential, endpoint: str) -> Callable[[], str]:
    """A token provider for Resource Manager at `endpoint` (scope `<endpoint>/.default`); azure-identity caches."""
    scope = f"{endpoint.rstrip('/')}/.default"
    return lambda: credential.get_token(scope).token


@dataclass(frozen=True)
class PoolVm:
    """One agent VM as Resource Manager lists it."""

    name: str
    job_id: int | None
    created: datetime | None
    provisioning_state: str


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _created(tags: dict[str, Any], properties: dict[str, Any]) -> datetime | None:
    for value in (tags.get(CREATED_TAG), properties.get("timeCreated")):
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
    return None


class ArmClient:
    """The three Resource Manager calls the control plane makes, in the pool's own resource group."""

    def __init__(
        self, settings: ArmSettings, pool: str, bearer: Callable[[], str], session: requests.Session | None = None
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._bearer = bearer
        self._session = session or pooled_session()
        self._base = (
            f"{settings.endpoint}/subscriptions/{settings.subscription_id}/resourceGroups/{settings.resource_group}"
            "/providers/Microsoft.Compute/virtualMachines"
        )

    def _call(self, method: str, url: str, ok: tuple[int, ...], body: Any = None) -> requests.Response:
        what = f"{method} {urlsplit(url).path.rsplit('/', 1)[-1]}"
        try:
            response = self._session.request(
                method, url, json=body, headers={"Authorization": f"Bearer {self._bearer()}"}, timeout=TIMEOUT_SECONDS
            )
        except requests.RequestException as error:
            raise ArmError(f"ARM {what} failed: {type(error).__name__}") from None
        except Exception as error:  # noqa: BLE001 - a token failure (azure-identity) is a dependency failure too
            raise ArmError(f"ARM {what}: no token ({type(error).__name__})") from None
        if response.status_code not in ok:
            code = ""
            with contextlib.suppress(ValueError, AttributeError):
                code = str(response.json().get("error", {}).get("code", ""))
            raise ArmError(f"ARM {what} answered {response.status_code} {code}".rstrip())
        return response

    def put_vm(self, name: str, body: dict[str, Any]) -> None:
        """Create the VM `name` (ARM accepts with 200 or 201 and provisions asynchronously)."""
        self._call("PUT", f"{self._base}/{name}?api-version={self._settings.api_version}", (200, 201), body)

    def list_vms(self) -> list[PoolVm]:
        """This pool's agent VMs (named `agent-<hex>`, tagged with the pool); any other VM is never touched."""
        return list(self._pages())

    def _pages(self) -> Iterator[PoolVm]:
        url: str | None = f"{self._base}?api-version={self._settings.api_version}"
        while url:
            try:
                answer = self._call("GET", url, (200,)).json()
            except ValueError:
                raise ArmError("ARM list of virtual machines is not JSON") from None
            if not isinstance(answer, dict) or not isinstance(answer.get("value"), list):
                raise ArmError("ARM list of virtual machines lacks value")
            for item in answer["value"]:
                if not isinstance(item, dict) or not VM_NAME.fullmatch(str(item.get("name", ""))):
                    continue
                tags = _object(item.get("tags"))
                properties = _object(item.get("properties"))
                if tags.get(POOL_TAG) != self._pool:
                    continue
                job = str(tags.get(JOB_TAG, ""))
                yield PoolVm(
                    name=item["name"],
                    job_id=int(job) if job.isdigit() else None,
                    created=_created(tags, properties),
                    provisioning_state=str(properties.get("provisioningState", "")),
                )
            next_link = answer.get("nextLink")
            url = next_link if isinstance(next_link, str) and next_link.startswith(self._settings.endpoint) else None

    def delete_vm(self, name: str) -> None:
        """Delete the VM `name` (with its OS disk and NIC, by their delete options); gone already is fine."""
        self._call(
            "DELETE",
            f"{self._base}/{name}?api-version={self._settings.api_version}&forceDeletion=true",
            (200, 202, 204, 404),
        )
