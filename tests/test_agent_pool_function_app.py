"""The Azure Functions adapter: the app the host indexes (an anonymous POST route, a 5-minute timer), requests
built with azure-functions' own types reaching the same handler, and the package working from the zip layout
alone, with nothing else of the project importable."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from scripts.agent_pool import function_app
from scripts.agent_pool.errors import SettingsError
from scripts.agent_pool.pool import AgentPool
from tests.agent_pool_harness import Harness, workflow_job

PACKAGE = Path(__file__).resolve().parent.parent / "scripts" / "agent_pool"


def test_the_app_has_an_anonymous_webhook_route_and_a_five_minute_reaper() -> None:
    triggers = {}
    for fn in function_app.app.get_functions():
        trigger = fn.get_trigger()
        assert trigger is not None, fn.get_function_name()
        triggers[fn.get_function_name()] = trigger.get_dict_repr()

    webhook, timer = triggers["github_webhook"], triggers["reaper"]
    assert (webhook["type"], webhook["route"], webhook["authLevel"].value) == (
        "httpTrigger",
        "github/webhook",
        "anonymous",
    )
    assert [method.value for method in webhook["methods"]] == ["POST"]
    assert (timer["type"], timer["schedule"]) == ("timerTrigger", "0 */5 * * * *")
    assert set(triggers) == {"github_webhook", "reaper"}


@pytest.fixture
def deployed(agent_pool: Harness, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """The adapter serving the harness's pool (as if built from the app settings)."""
    holder = function_app.PoolHolder(lambda: agent_pool.pool)
    monkeypatch.setattr(function_app, "POOL", holder)
    return agent_pool


def test_a_delivery_through_the_adapter_starts_a_vm(deployed: Harness) -> None:
    body = json.dumps(workflow_job("queued", 99)).encode()
    request = func.HttpRequest("POST", "/api/github/webhook", headers=deployed.headers(body), body=body)

    response = function_app.github_webhook(request)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert json.loads(response.get_body())["started"] == 1
    assert len(deployed.arm.vms) == 1


def test_a_bad_signature_through_the_adapter_is_refused(deployed: Harness) -> None:
    body = json.dumps(workflow_job("queued", 99)).encode()
    headers = {**deployed.headers(body), "X-Hub-Signature-256": "sha256=" + "0" * 64}

    response = function_app.github_webhook(func.HttpRequest("POST", "/api/github/webhook", headers=headers, body=body))

    assert (response.status_code, json.loads(response.get_body())) == (401, {"error": "bad signature"})
    assert deployed.arm.calls == []


def test_the_timer_runs_the_reaper(deployed: Harness) -> None:
    deployed.deliver(workflow_job("queued", 1))
    deployed.clock.advance(minutes=11)

    function_app.reaper(TimerRequest(past_due=True))

    assert len(deployed.arm.recorded("DELETE", r"/virtualMachines/")) == 1


def test_a_misconfigured_app_answers_500_without_details(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> AgentPool:
        raise SettingsError("AGENT_POOL_SETTINGS: github.appId: Field required")

    monkeypatch.setattr(function_app, "POOL", function_app.PoolHolder(broken))
    response = function_app.github_webhook(func.HttpRequest("POST", "/api/github/webhook", body=b"{}"))

    assert (response.status_code, response.get_body()) == (500, b'{"error": "control plane not configured"}')


_PROBE = """
import json, sys
import function_app
names = sorted(fn.get_function_name() for fn in function_app.app.get_functions())
project = sorted(m for m in sys.modules if m.split(".")[0] in ("scripts", "components", "policies", "pulumi"))
print(json.dumps({"functions": names, "project": project}))
"""


def test_the_package_runs_from_the_zip_layout_alone(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE, tmp_path / "agent_pool", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "function_app.py").write_text("from agent_pool.function_app import app  # noqa: F401\n")

    # -E -s: no PYTHONPATH, no user site; the working directory (the app root) is the only project path.
    probe = subprocess.run(
        [sys.executable, "-E", "-s", "-c", _PROBE], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )

    assert probe.returncode == 0, probe.stderr[-2000:]
    assert json.loads(probe.stdout) == {"functions": ["github_webhook", "reaper"], "project": []}
