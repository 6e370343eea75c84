"""Shared fixtures: plan any stack (or config mapping) in-process on the mock engine."""

from __future__ import annotations

import copy
import gc
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, settings

from components.model.config.stack_file import read_stack_file
from components.model.config.text import looks_secret
from scripts.checks.oci import Registry
from scripts.planning import Plan, PlannedResource, plan_config, plan_stack
from tests.agent_pool_harness import (
    AZURITE_VERSION,
    Azurite,
    Harness,
    app_private_key,
    find_azurite,
    start_harness,
    stop_harness,
)

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "stacks"
SHIPPED_STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACKS.glob("Pulumi.*.yaml"))
SHARED = Path(os.environ.get("SUPPLY_CHAIN_SHARED") or ROOT.parent / "shared")
"""../shared; `make mutation` points SUPPLY_CHAIN_SHARED at it from its copy of the project."""


def stack_raw(stack: str) -> dict[str, Any]:
    """A shipped stack's project config (keys without the prefix), safe to mutate."""
    return copy.deepcopy(read_stack_file(STACKS / f"Pulumi.{stack}.yaml").raw)


def only(plan: Plan, type_token: str) -> PlannedResource:
    """The one registration of `type_token` in `plan` (fails the test, naming what was found, otherwise)."""
    found = plan.of_type(type_token)
    assert len(found) == 1, f"expected one {type_token}, found {[r.urn for r in found]}"
    return found[0]


# Fuzzers are judged by what they find, never by how fast inputs come: on a loaded machine (CI, a mutation run
# beside the suite) Hypothesis' speed health check and per-example deadline would fail a correct test.
settings.register_profile("supply-chain", suppress_health_check=[HealthCheck.too_slow], deadline=None)
settings.load_profile("supply-chain")

_SHIPPED_PLANS: dict[str, Plan] = {}


@pytest.fixture(autouse=True, scope="session")
def _caches_start_empty() -> None:
    """The code under test's own caches start empty in each session: mutation testing forks sessions from a
    process that already ran the unmutated code, whose cached answers would hide a mutant."""
    looks_secret.cache_clear()


def pytest_collection_finish(session: pytest.Session) -> None:
    """On an xdist worker, everything imported by now (Pulumi, the SDKs, every test module) lives to the end:
    frozen, the cyclic collector stops rescanning it in each full collection (a few seconds per worker)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        gc.freeze()


@pytest.fixture
def plan_of() -> Callable[[str], Plan]:
    """The plan of a shipped stack by name. Plans are reproducible, so each stack is planned once per
    test session (from a fresh Pulumi runtime) and the tests share it: treat it as read-only."""

    def run(stack: str) -> Plan:
        if stack not in _SHIPPED_PLANS:
            _SHIPPED_PLANS[stack] = plan_stack(read_stack_file(STACKS / f"Pulumi.{stack}.yaml"))
        return _SHIPPED_PLANS[stack]

    return run


@pytest.fixture
def plan_raw() -> Callable[[Mapping[str, Any]], Plan]:
    """Plan a config mapping (top-level keys without the `supply-chain:` prefix)."""

    def run(raw: Mapping[str, Any], stack: str = "test") -> Plan:
        return plan_config(raw, stack=stack)

    return run


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (upstream CRDs, chart values, Sigstore fixtures); CI has it, a user's clone may not."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: upstream schemas and fixtures live there (CI provides it)")
    return SHARED


@pytest.fixture(scope="session")
def loopback_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real OCI registry (Debian's `docker-registry`, distribution 2.8) on 127.0.0.1, plain HTTP,
    deletes enabled; yields its host:port and stops it afterwards."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry; .ci/run does)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = tmp_path_factory.mktemp("registry")
    config = root / "config.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 0.1,
                "log": {"level": "warn"},
                "storage": {"filesystem": {"rootdirectory": str(root / "data")}, "delete": {"enabled": True}},
                "http": {"addr": f"127.0.0.1:{port}"},
            }
        )
    )
    log = (root / "registry.log").open("w")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    host = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            if requests.get(f"http://{host}/v2/", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"docker-registry did not start: {(root / 'registry.log').read_text()[-2000:]}")
        time.sleep(0.1)
    try:
        yield host
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def unreachable_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kubeconfig (set as KUBECONFIG) whose only cluster listens nowhere: the checks' exit-3 path."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    return kubeconfig


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    """A fresh EC P-256 signing key."""
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def registry(loopback_registry: str) -> Registry:
    """A client of the session's loopback registry."""
    return Registry(loopback_registry, plain_http=True, timeout=5)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite (the Azure Storage emulator, blob + table) in memory on loopback, for the session."""
    binary = find_azurite(os.environ.get("SUPPLY_CHAIN_AZURITE"), ROOT)
    if binary is None:
        pytest.skip(
            f"Azurite is not installed (npm install --prefix build/azurite azurite@{AZURITE_VERSION}; .ci/run does)"
        )
    emulator = Azurite.start(binary, tmp_path_factory.mktemp("azurite"))
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def github_app_key() -> tuple[rsa.RSAPrivateKey, str]:
    """The GitHub App's RSA key (one per session: generating one takes a while)."""
    return app_private_key()


@pytest.fixture
def agent_pool(azurite: Azurite, github_app_key: tuple[rsa.RSAPrivateKey, str]) -> Iterator[Harness]:
    """A fresh control plane (own tables and container) served on loopback, with GitHub and ARM stand-ins."""
    harness = start_harness(azurite, github_app_key)
    try:
        yield harness
    finally:
        stop_harness(harness)


# Under `make test` (pytest-xdist, --dist loadscope) a test module is one unit of work. Modules that plan stacks
# run on one worker, as one unit: Pulumi's mock engine and the azure-native SDK are imported once (about 3 s)
# and each shipped stack is planned once (`plan_of`), not once per worker. The modules that use the Azure
# Storage emulator run together too, so one Azurite starts. Read from the modules' text, so a new module joins
# its unit by using the fixture.
_SHARED_WORK = {
    "planning": re.compile(r"\bplan_(of|raw|stack|config|cli)\b"),
    "azurite": re.compile(r"\b(agent_pool|azurite)\s*:"),
}


def _unit_of_module() -> dict[str, str]:
    units: dict[str, str] = {}
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        unit = next((unit for unit, uses in _SHARED_WORK.items() if uses.search(text)), None)
        if unit is not None:
            units[f"tests/{path.name}"] = unit
    return units


@pytest.hookimpl(optionalhook=True)  # an xdist hook: plain `pytest -p no:xdist` must still load this file
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    if config.getvalue("dist") != "loadscope":
        return None
    unit_of_module = _unit_of_module()

    class SharedWorkScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return unit_of_module.get(nodeid.split("::", 1)[0]) or super()._split_scope(nodeid)

    return SharedWorkScheduling(config, log)
