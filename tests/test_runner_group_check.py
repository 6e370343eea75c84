"""The post-deploy check of the agents' runner group, against a local stand-in of GitHub's REST API."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from components.model.config import parse_stack_config
from components.model.contract import StackOutputs
from components.render.agent_pool import runner_group_settings
from scripts.checks.runner_group import runner_group_posture
from tests.conftest import stack_raw

TOKEN = "stand-in-token-" + secrets.token_hex(8)


class GitHub:
    """What the stand-in holds: runner groups by id, each with its repositories."""

    def __init__(self) -> None:
        self.groups: list[dict[str, Any]] = []
        self.repositories: dict[int, list[str]] = {}
        self.status = 200
        self.seen_tokens: set[str] = set()


def _serve(github: GitHub) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            github.seen_tokens.add(self.headers.get("Authorization", ""))
            url = urlsplit(self.path)
            page = int(parse_qs(url.query).get("page", ["1"])[0])
            body: Any = None
            if github.status != 200:
                body = {"message": "no"}
            elif url.path == "/orgs/contoso/actions/runner-groups":
                body = {"total_count": len(github.groups), "runner_groups": github.groups if page == 1 else []}
            elif url.path.startswith("/orgs/contoso/actions/runner-groups/") and url.path.endswith("/repositories"):
                names = github.repositories[int(url.path.split("/")[5])]
                chunk = names[(page - 1) * 100 : page * 100]
                body = {"total_count": len(names), "repositories": [{"full_name": n} for n in chunk]}
            data = json.dumps(body).encode()
            self.send_response(github.status if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def github() -> Iterator[tuple[GitHub, str]]:
    state = GitHub()
    server = _serve(state)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()  # a quick shutdown
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _outputs() -> StackOutputs:
    config = parse_stack_config(stack_raw("prod")).build_agents
    assert config is not None
    return StackOutputs(
        environment="prod", registry_login_server="x", trust_model={}, agent_runner_group=runner_group_settings(config)
    )


def _as_stack_says(github: GitHub) -> None:
    github.groups = [
        {
            "id": 7,
            "name": "supply-chain-prod",
            "visibility": "selected",
            "allows_public_repositories": False,
            "restricted_to_workflows": True,
            "selected_workflows": ["contoso/workflows/.github/workflows/build-sign-attest.yml@refs/heads/main"],
        },
        {"id": 1, "name": "Default", "visibility": "all"},
    ]
    github.repositories[7] = ["contoso/workflows", "contoso/payments-api", "contoso/storefront-web"]


def test_a_group_as_the_stack_says_passes(github: tuple[GitHub, str]) -> None:
    state, api = github
    _as_stack_says(state)
    (result,) = runner_group_posture(_outputs(), lambda: TOKEN, api)
    assert (result.status, result.observed) == ("pass", "as the stack says")
    assert state.seen_tokens == {f"Bearer {TOKEN}"}


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        (lambda s: s.repositories[7].append("contoso/forked-tool"), "selected_repositories"),
        (lambda s: s.groups[0].update(visibility="all"), "visibility"),
        (lambda s: s.groups[0].update(allows_public_repositories=True), "allows_public_repositories"),
        (lambda s: s.groups[0].update(restricted_to_workflows=False), "restricted_to_workflows"),
        (
            lambda s: s.groups[0]["selected_workflows"].append("contoso/x/.github/workflows/y.yml@refs/heads/dev"),
            "selected_workflows",
        ),
    ],
)
def test_each_loosened_setting_fails_by_name(github: tuple[GitHub, str], change: Any, differs: str) -> None:
    state, api = github
    _as_stack_says(state)
    change(state)
    (result,) = runner_group_posture(_outputs(), lambda: TOKEN, api)
    assert result.status == "fail"
    assert result.observed == f"differs in {differs}"
    assert set(result.details["differences"]) == {differs}


def test_a_missing_group_fails(github: tuple[GitHub, str]) -> None:
    state, api = github
    _as_stack_says(state)
    state.groups = state.groups[1:]
    (result,) = runner_group_posture(_outputs(), lambda: TOKEN, api)
    assert result.status == "fail"
    assert "no runner group 'supply-chain-prod'" in result.observed


def test_many_repositories_are_read_page_by_page(github: tuple[GitHub, str]) -> None:
    state, api = github
    _as_stack_says(state)
    state.repositories[7] += [f"contoso/extra-{i:03}" for i in range(150)]
    (result,) = runner_group_posture(_outputs(), lambda: TOKEN, api)
    assert result.status == "fail"
    assert len(result.details["differences"]["selected_repositories"]["github"]) == 153


@pytest.mark.parametrize("status", [401, 403, 500])
def test_github_refusing_is_a_one_line_failure(github: tuple[GitHub, str], status: int) -> None:
    state, api = github
    state.status = status
    (result,) = runner_group_posture(_outputs(), lambda: TOKEN, api)
    assert result.status == "fail"
    assert str(status) in result.observed
    assert "\n" not in result.observed
    assert TOKEN not in json.dumps(result.as_json())


def test_without_a_token_the_check_is_skipped_saying_why() -> None:
    (result,) = runner_group_posture(_outputs(), lambda: None, "http://127.0.0.1:9")
    assert result.status == "skip"
    assert "GITHUB_TOKEN" in result.observed


def test_unreachable_github_is_a_failure_not_a_traceback() -> None:
    (result,) = runner_group_posture(_outputs(), lambda: TOKEN, "http://127.0.0.1:9")
    assert result.status == "fail"
    assert "not reachable" in result.observed


def test_stacks_without_agents_have_no_such_check() -> None:
    outputs = StackOutputs(environment="local", registry_login_server="x", trust_model={})
    assert runner_group_posture(outputs, lambda: TOKEN) == []
