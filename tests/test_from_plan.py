"""`--from-plan DIR`: the checks read an offline plan's outputs, without the Pulumi CLI, for a stack whose outputs the
plan knows exactly (no Azure resources, no generated key), and refuse the rest in one line saying what to use."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts import plan as plan_cli
from scripts.checks.errors import UsageError
from scripts.checks.outputs import load_plan_outputs, read_trust_model
from scripts.planning import Plan
from scripts.verify import main
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def own_key_plan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The local stack planned with a key of the user's own (a pinned public key) instead of a generated one;
    planned once for the module (read-only)."""
    tmp_path = tmp_path_factory.mktemp("own-key")
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    document["config"]["supply-chain:signing"]["keys"] = [{"kind": "public-key", "name": "my-key", "pem": pem}]
    stack_file = tmp_path / "Pulumi.kind.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    out = tmp_path / "plan-kind"
    assert plan_cli.main(["--config", str(stack_file), "--out", str(out), "--quiet"]) == 0
    return out, pem


def test_a_plan_of_a_stack_without_azure_or_a_generated_key_gives_the_checks_its_outputs(
    own_key_plan: tuple[Path, str],
) -> None:
    out, pem = own_key_plan
    outputs = load_plan_outputs(out)
    assert outputs.registry_login_server == "kind-registry:5000"
    model = read_trust_model(outputs)
    assert [(k.name, k.public_key_pem) for k in model.keys] == [("my-key", pem)]
    assert {ns.name: ns.mode for ns in model.namespaces} == {"demo": "enforce", "sandbox": "audit"}


def test_the_cli_runs_from_a_plan_and_names_the_stack_by_its_directory(
    own_key_plan: tuple[Path, str], tmp_path: Path, unreachable_cluster: Path
) -> None:
    out, _ = own_key_plan
    assert main(["--from-plan", str(out), "--evidence", str(tmp_path / "e"), "--deadline", "5"]) == 3
    evidence = json.loads((tmp_path / "e" / "evidence.json").read_text())
    assert evidence["context"] == {"stack": "plan-kind", "exitCode": 3}


def _plan(tmp_path: Path, resources: list[dict[str, str]]) -> Path:
    (tmp_path / "plan.json").write_text(json.dumps({"stack": "s", "resources": resources, "outputs": {}}))
    return tmp_path


@pytest.mark.parametrize(
    ("resources", "refusal"),
    [
        (
            [{"type": "azure-native:containerregistry:Registry"}],
            "an Azure stack's plan holds the mock engine's ids and addresses, not the deployed ones; "
            "pass --outputs FILE (pulumi stack output --json)",
        ),
        (
            [{"type": "tls:index/privateKey:PrivateKey"}],
            "the stack's generated signing key exists only once `pulumi up` makes it (the plan's is a stand-in); "
            "trust a key of your own (signing.keys kind public-key) or pass --outputs FILE",
        ),
    ],
    ids=["azure", "generated key"],
)
def test_a_plan_whose_outputs_are_stand_ins_is_refused_saying_what_to_use(
    tmp_path: Path, resources: list[dict[str, str]], refusal: str
) -> None:
    with pytest.raises(UsageError) as refused:
        load_plan_outputs(_plan(tmp_path, resources))
    assert str(refused.value) == f"--from-plan {tmp_path}: {refusal}"


def test_the_shipped_local_and_dev_plans_are_refused(plan_of: Callable[[str], Plan], tmp_path: Path) -> None:
    for stack, why in (("local", "generated signing key"), ("dev", "Azure stack")):
        out = tmp_path / stack
        plan_cli.write_plan(plan_of(stack), out)
        with pytest.raises(UsageError, match=rf"^--from-plan {re.escape(str(out))}: .*{why}"):
            load_plan_outputs(out)


@pytest.mark.parametrize(
    ("content", "refusal"),
    [
        (None, "cannot read --from-plan {path}: No such file or directory (write it with `make plan STACK=...`)"),
        ("{not json", "--from-plan {path} is not JSON: "),
        ('{"stack": "s"}', "--from-plan {path} is not a plan (no resources and outputs): write it with `make plan`"),
        ("[]", "--from-plan {path} is not a plan (no resources and outputs): write it with `make plan`"),
    ],
)
def test_a_missing_or_foreign_plan_is_a_one_line_usage_error(tmp_path: Path, content: str | None, refusal: str) -> None:
    if content is not None:
        (tmp_path / "plan.json").write_text(content)
    with pytest.raises(UsageError) as refused:
        load_plan_outputs(tmp_path)
    assert str(refused.value).startswith(refusal.format(path=tmp_path / "plan.json"))
    assert "\n" not in str(refused.value)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(resources=JSON, outputs=JSON)
def test_any_plan_file_is_read_or_refused_in_one_line(tmp_path: Path, resources: object, outputs: object) -> None:
    (tmp_path / "plan.json").write_text(json.dumps({"stack": "s", "resources": resources, "outputs": outputs}))
    refusal = None
    try:
        load_plan_outputs(tmp_path)
    except UsageError as refused:
        refusal = str(refused)
    assert refusal is None or ("\n" not in refusal and str(tmp_path) in refusal)
