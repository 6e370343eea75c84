"""The pack's advisory rules over where admission reaches and what it trusts, through the policy SDK's own
argument types: each passes the tight stack and names the loosening, once, in words a reviewer can act on."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from pulumi_policy import (
    PolicyResource,
)

from policies.offline import check_resources
from policies.rules import ALL_POLICIES
from scripts.planning import Plan
from tests.policy_args import namespace, policy_resource, resource_violations, stack_findings, stack_violations

RULES = {policy.name: policy for policy in ALL_POLICIES}
NAME = "kubernetes.io/metadata.name"
IVP = "kubernetes:policies.kyverno.io/v1:ImageValidatingPolicy"
VP = "kubernetes:policies.kyverno.io/v1:ValidatingPolicy"
CIP = "kubernetes:policy.sigstore.dev/v1beta1:ClusterImagePolicy"
EXCEPTION = "kubernetes:policies.kyverno.io/v1:PolicyException"
GITHUB = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/contoso/payments-api/.github/workflows/release.yml@refs/heads/main"
KEY = "azurekms://kv-cr.vault.azure.net/image-signing/"


def _selector(operator: str, names: list[str]) -> dict[str, Any]:
    return {"namespaceSelector": {"matchExpressions": [{"key": NAME, "operator": operator, "values": names}]}}


def _signatures(
    operator: str, names: list[str], action: str = "Deny", name: str = "verify", attestors: Any = None
) -> PolicyResource:
    spec: dict[str, Any] = {
        "validationActions": [action],
        "matchImageReferences": [{"glob": "cr.azurecr.io/*"}],
        "matchConstraints": _selector(operator, names),
        "attestors": attestors or [],
    }
    return policy_resource(IVP, {"metadata": {"name": name}, "spec": spec}, name)


def _registries(*prefixes: str) -> PolicyResource:
    allowed = " || ".join(f"image.startsWith('{prefix}/')" for prefix in prefixes)
    spec = {
        "validationActions": ["Deny"],
        "validations": [{"expression": f"variables.allImages.all(image, {allowed})"}],
    }
    return policy_resource(VP, {"metadata": {"name": "restrict-image-registries"}, "spec": spec}, "registries")


def _keyless(*identities: Mapping[str, str], url: str = "https://rekor.sigstore.dev") -> list[dict[str, Any]]:
    return [{"name": "keyless", "cosign": {"keyless": {"identities": list(identities)}, "ctlog": {"url": url}}}]


def _keys(*versions: str) -> list[dict[str, Any]]:
    return [{"name": f"key_{v}", "cosign": {"key": {"kms": KEY + v}}} for v in versions]


def _stack(rule: str, *resources: PolicyResource, config: Mapping[str, Any] | None = None) -> list[str]:
    return stack_violations(RULES[rule], resources, config)


SYSTEM = ["kube-system", "kyverno", "cosign-system"]


def test_namespaces_created_later_must_be_under_a_denying_signature_policy() -> None:
    rule = "unlisted-namespaces-enforced"
    assert _stack(rule, _signatures("NotIn", ["analytics", *SYSTEM])) == []
    assert _stack(rule, _signatures("NotIn", SYSTEM, "Audit"), _signatures("In", ["payments"])) == [
        "namespaces not listed (and any created later) are only audited: unsigned images and other registries are "
        "reported, not refused"
    ]
    assert _stack(rule, _signatures("In", ["payments"])) == [
        "namespaces not listed (and any created later) admit any image from any registry: no signature policy "
        "selects them"
    ]
    # a namespace the stack happens to call by the probe's name does not hide the gap
    probe = "a-namespace-created-later"
    assert _stack(rule, _signatures("In", [probe]), namespace(probe, "enforce"))[0].startswith("namespaces not")
    assert _stack(rule, _registries("cr.azurecr.io")) == [], "no signature policy: admission is not configured"
    assert _stack(rule, policy_resource(CIP, {"spec": {"images": [{"glob": "cr.azurecr.io/**"}]}})) == [
        "namespaces not listed (and any created later) admit any image from any registry: Policy Controller checks "
        "only the namespaces the stack labels"
    ]


def test_a_namespace_outside_every_signature_policy_is_named_unless_the_pack_says_it_is_the_systems() -> None:
    rule = "namespaces-outside-admission"
    audited = _signatures("In", ["analytics"], "Audit")
    enforced = _signatures("NotIn", ["analytics", "gatekeeper-system", *SYSTEM])
    assert _stack(rule, enforced, audited) == [
        "namespace gatekeeper-system is outside every signature policy: any image runs there"
    ]
    assert _stack(rule, enforced, audited, config={"neverMatched": [*SYSTEM, "gatekeeper-system"]}) == []
    assert _stack(rule, _signatures("NotIn", SYSTEM)) == []


def test_a_registry_admitted_without_a_signature_is_named_once_per_engine() -> None:
    rule = "other-registries-signed"
    assert _stack(rule, _signatures("NotIn", SYSTEM), _registries("cr.azurecr.io")) == []
    assert _stack(rule, _signatures("NotIn", SYSTEM), _registries("cr.azurecr.io", "mcr.microsoft.com/oss")) == [
        "images from mcr.microsoft.com/oss are admitted (Kyverno) without any signature check"
    ]
    passing = {"images": [{"glob": "docker.io/library/**"}], "authorities": [{"static": {"action": "pass"}}]}
    assert _stack(rule, policy_resource(CIP, {"spec": passing})) == [
        "images from docker.io/library are admitted (Policy Controller) without any signature check"
    ]
    # a registry whose images are signature-checked is not loosened by being listed
    signed_too = policy_resource(
        IVP,
        {
            "spec": {
                "validationActions": ["Deny"],
                "matchImageReferences": [{"glob": "cr.azurecr.io/*"}, {"glob": "mirror.example/*"}],
            }
        },
    )
    assert _stack(rule, signed_too, _registries("cr.azurecr.io", "mirror.example")) == []


def test_with_neighbours_each_enforce_namespace_admits_only_its_own_signers_or_repositories() -> None:
    rule = "namespaces-bound-to-signers"
    payments, storefront = namespace("payments", "enforce"), namespace("storefront", "enforce")
    stack = _signatures("NotIn", SYSTEM)
    assert _stack(rule, payments, stack) == [], "a single namespace has no neighbour"
    assert (
        _stack(
            rule,
            payments,
            storefront,
            stack,
            _signatures("In", ["payments"], name="require-signers-payments"),
            _signatures("In", ["storefront"], name="require-signers-storefront"),
        )
        == []
    )
    repositories = policy_resource(
        VP, {"metadata": {"name": "restrict-repositories-storefront"}, "spec": {"validationActions": ["Deny"]}}
    )
    assert _stack(rule, payments, storefront, stack, repositories) == [
        "namespace payments runs images any trusted signer signed, from any repository: another team's pipeline "
        "can ship into it"
    ]
    audited = _signatures("In", ["payments"], "Audit", name="require-signers-payments")
    assert len(_stack(rule, payments, storefront, stack, repositories, audited)) == 1, "an audit binding binds nothing"


def test_a_workflow_identity_is_reported_until_an_engine_checks_who_ran_it() -> None:
    rule = "keyless-callers-checked"
    kyverno = _signatures("NotIn", SYSTEM, attestors=_keyless({"issuer": GITHUB, "subject": WORKFLOW}))
    unchecked = [
        f"{WORKFLOW} signs for whoever runs it: no engine checks the repository that ran the workflow (a reusable "
        "workflow signs for every caller)"
    ]
    assert (
        _stack(
            rule, kyverno, _signatures("In", ["payments"], name="again", attestors=kyverno.props["spec"]["attestors"])
        )
        == unchecked
    ), "one report per workflow"
    callers = {"type": "rego", "data": f"callers := {json.dumps({WORKFLOW: ['contoso/payments-api']})}\n"}
    assert _stack(rule, kyverno, policy_resource(CIP, {"spec": {"policy": callers}})) == []
    elsewhere = {"type": "rego", "data": 'callers := {"https://github.com/contoso/other": ["contoso/other"]}'}
    assert _stack(rule, kyverno, policy_resource(CIP, {"spec": {"policy": elsewhere}})) == unchecked
    other_issuer = _signatures(
        "NotIn", SYSTEM, attestors=_keyless({"issuer": "https://accounts.google.com", "subject": "ci@contoso.example"})
    )
    assert _stack(rule, other_issuer) == []


def test_attestations_by_image_path_need_kyverno_to_keep_the_namespace_to_its_paths() -> None:
    rule = "attestations-kept-to-their-namespace"
    payments = namespace("payments", "enforce")
    sbom = policy_resource(CIP, {"metadata": {"name": "attest-sbom-payments"}}, "sbom")
    restricted = policy_resource(
        VP, {"metadata": {"name": "restrict-repositories-payments"}, "spec": {"validationActions": ["Deny"]}}
    )
    assert _stack(rule, payments, sbom, restricted) == []
    assert _stack(rule, payments, sbom) == [
        "Policy Controller requires attestations of images from payments's repositories wherever they run, but "
        "nothing keeps payments to its repositories: a signed image of another path runs there without them"
    ]
    audited = policy_resource(
        VP, {"metadata": {"name": "restrict-repositories-payments"}, "spec": {"validationActions": ["Audit"]}}
    )
    assert len(_stack(rule, payments, sbom, audited)) == 1, "an audit restriction keeps nothing out"
    assert _stack(rule, payments) == [], "no attestation policy, nothing to keep"


def test_every_audit_namespace_is_listed_with_its_deadline() -> None:
    assert _stack(
        "namespaces-in-audit",
        namespace("payments", "enforce"),
        namespace("analytics", "audit", "2027-09-30"),
        namespace("sandbox", "audit"),
    ) == [
        "namespace analytics admits unsigned images (audit) until 2027-09-30",
        "namespace sandbox admits unsigned images (audit)",
    ]


def test_patterns_overlaps_private_sigstore_and_vault_reads_are_named_once_across_documents() -> None:
    pattern = r"^https://github\.com/contoso/[a-z-]+/\.github/workflows/release\.yml@refs/heads/main$"
    by_pattern = _keyless({"issuer": GITHUB, "subjectRegExp": pattern}, url="https://rekor.contoso.example")
    two = [_signatures("NotIn", SYSTEM, attestors=by_pattern + _keys("v2", "v1"), name=n) for n in ("a", "b")]
    assert _stack("identities-exact", *two) == [f"identities matching {pattern} may sign; an exact subject is narrower"]
    assert _stack("signing-key-rotation-closed", *two) == [
        "2 versions of kv-cr.vault.azure.net/image-signing are trusted at once (v1, v2): a rotation overlap, in "
        "which a retired or stolen version still signs"
    ]
    assert _stack("sigstore-public-good", *two) == [
        "signatures are checked against a private transparency log, https://rekor.contoso.example"
    ]
    assert [m.split(" from ")[0] for m in _stack("vault-keys-pinned", *two)] == [
        f"the engines read {KEY}v1",
        f"the engines read {KEY}v2",
    ]
    tight = _signatures("NotIn", SYSTEM, attestors=_keyless({"issuer": GITHUB, "subject": WORKFLOW}))
    pinned = policy_resource(CIP, {"spec": {"authorities": [{"key": {"data": "-----BEGIN PUBLIC KEY-----"}}]}})
    for rule in ("identities-exact", "signing-key-rotation-closed", "sigstore-public-good", "vault-keys-pinned"):
        assert _stack(rule, tight, pinned) == [], rule


def test_every_exception_is_listed_with_owner_expiry_and_what_it_skips() -> None:
    exception = {
        "metadata": {
            "annotations": {
                "supply-chain/namespace": "analytics",
                "supply-chain/owner": "lead@contoso",
                "supply-chain/reason": "vendor image",
            }
        },
        "spec": {"expiresAt": "2027-06-30T23:59:59Z", "policyRefs": [{"name": "verify-image-signatures-audit"}]},
    }
    found = resource_violations(
        RULES["admission-exceptions-reviewed"], "kubernetes:policies.kyverno.io/v1:PolicyException", exception
    )
    assert found == [
        "analytics: images exempt from verify-image-signatures-audit until 2027-06-30T23:59:59Z (owner "
        "lead@contoso: vendor image)"
    ]


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        (
            "prod",
            {
                "admission-exceptions-reviewed",
                "namespaces-in-audit",
                "namespaces-outside-admission",
                "vault-keys-pinned",
            },
        ),
        (
            "dev",
            {
                "identities-exact",
                "keyless-callers-checked",
                "namespaces-in-audit",
                "unlisted-namespaces-enforced",
                "vault-keys-pinned",
            },
        ),
        ("local", {"namespaces-bound-to-signers", "namespaces-in-audit", "unlisted-namespaces-enforced"}),
    ],
)
def test_the_shipped_stacks_show_their_reviewed_loosenings(
    plan_of: Callable[[str], Plan], stack: str, expected: set[str]
) -> None:
    ours = {rule for rule in RULES if rule in _SCOPE_AND_TRUST}
    assert {v.rule for v in check_resources(plan_of(stack).resources) if v.rule in ours} == expected


_SCOPE_AND_TRUST = {
    "unlisted-namespaces-enforced",
    "namespaces-outside-admission",
    "other-registries-signed",
    "namespaces-bound-to-signers",
    "keyless-callers-checked",
    "namespaces-in-audit",
    "identities-exact",
    "signing-key-rotation-closed",
    "sigstore-public-good",
    "vault-keys-pinned",
    "admission-exceptions-reviewed",
    "attestations-kept-to-their-namespace",
}


PROBE = "a-namespace-created-later"


def test_the_probe_for_namespaces_created_later_is_a_name_no_policy_names() -> None:
    rule = "unlisted-namespaces-enforced"
    # a policy that names the probe's name does not select every namespace created later
    assert _stack(rule, _signatures("In", [PROBE]), _signatures("NotIn", SYSTEM, "Audit")) == [
        "namespaces not listed (and any created later) are only audited: unsigned images and other registries are "
        "reported, not refused"
    ]
    assert _stack(rule, _signatures("In", [PROBE])) == [
        "namespaces not listed (and any created later) admit any image from any registry: no signature policy "
        "selects them"
    ]
    # nor does one that excludes it by name leave them out
    assert _stack(rule, _signatures("NotIn", [PROBE, *SYSTEM])) == []


def test_a_label_expression_names_no_namespace_and_an_excluded_one_may_be_selected_by_its_labels() -> None:
    rule = "namespaces-outside-admission"
    teams = policy_resource(
        IVP,
        {
            "spec": {
                "validationActions": ["Deny"],
                "matchImageReferences": [{"glob": "cr.azurecr.io/*"}],
                "matchConstraints": {
                    "namespaceSelector": {
                        "matchExpressions": [
                            {"key": NAME, "operator": "In", "values": ["payments"]},
                            {"key": "team", "operator": "NotIn", "values": ["blue"]},
                        ]
                    }
                },
            }
        },
    )
    assert _stack(rule, teams) == [], "blue is a team, not a namespace"
    by_mode = policy_resource(
        IVP,
        {
            "spec": {
                "validationActions": ["Deny"],
                "matchImageReferences": [{"glob": "cr.azurecr.io/*"}],
                "matchConstraints": {"namespaceSelector": {"matchLabels": {"supply-chain/admission-mode": "enforce"}}},
            }
        },
    )
    tools = namespace("tools", "enforce")
    assert _stack(rule, _signatures("NotIn", ["tools", *SYSTEM]), by_mode, tools) == []
    assert _stack(rule, _signatures("NotIn", ["tools", *SYSTEM]), by_mode) == [
        "namespace tools is outside every signature policy: any image runs there"
    ]


def test_policy_controller_admits_unsigned_only_where_it_passes_and_a_signed_registry_covers_its_paths() -> None:
    rule = "other-registries-signed"
    verified = {
        "images": [{"glob": "docker.io/library/**"}],
        "authorities": [{"keyless": {"identities": [{"issuer": GITHUB, "subject": WORKFLOW}]}}],
    }
    assert _stack(rule, policy_resource(CIP, {"spec": verified})) == []
    assert _stack(rule, _signatures("NotIn", SYSTEM), _registries("cr.azurecr.io/payments")) == [], (
        "a path inside a registry whose images are signed is signed"
    )


def test_without_a_kyverno_image_policy_namespaces_are_bound_by_image_path() -> None:
    rule = "namespaces-bound-to-signers"
    cip = policy_resource(CIP, {"spec": {"images": [{"glob": "cr.azurecr.io/payments/**"}]}})
    assert _stack(rule, namespace("payments", "enforce"), namespace("storefront", "enforce"), cip) == []


def test_a_pattern_identity_is_named_by_its_pattern_and_each_unchecked_workflow_once() -> None:
    rule = "keyless-callers-checked"
    pattern = r"^https://github\.com/contoso/[a-z-]+/\.github/workflows/release\.yml@refs/heads/main$"
    other = "https://github.com/contoso/web/.github/workflows/release.yml@refs/heads/main"
    first = _signatures("NotIn", SYSTEM, attestors=_keyless({"issuer": GITHUB, "subject": WORKFLOW}))
    second = _signatures(
        "In",
        ["payments"],
        name="more",
        attestors=_keyless(
            {"issuer": GITHUB, "subject": WORKFLOW},
            {"issuer": GITHUB, "subjectRegExp": pattern},
            {"issuer": GITHUB, "subject": other},
        ),
    )
    tail = " signs for whoever runs it: no engine checks the repository that ran the workflow (a reusable workflow "
    assert stack_findings(RULES[rule], [first, second]) == [
        (f"{WORKFLOW}{tail}signs for every caller)", "verify"),
        (f"{pattern}{tail}signs for every caller)", "more"),
        (f"{other}{tail}signs for every caller)", "more"),
    ]
    cue = {"type": "cue", "data": f"callers: {json.dumps({WORKFLOW: ['contoso/payments-api']})}"}
    assert len(_stack(rule, first, policy_resource(CIP, {"spec": {"policy": cue}}))) == 1, "only Rego checks callers"


def test_each_namespace_finding_names_its_namespace() -> None:
    payments, storefront = namespace("payments", "enforce"), namespace("storefront", "enforce")
    sbom = policy_resource(CIP, {"metadata": {"name": "attest-sbom-payments"}}, "sbom")
    assert stack_findings(
        RULES["namespaces-bound-to-signers"], [payments, storefront, _signatures("NotIn", SYSTEM)]
    ) == [
        (
            "namespace payments runs images any trusted signer signed, from any repository: another team's pipeline "
            "can ship into it",
            "payments",
        ),
        (
            "namespace storefront runs images any trusted signer signed, from any repository: another team's "
            "pipeline can ship into it",
            "storefront",
        ),
    ]
    assert [at for _, at in stack_findings(RULES["attestations-kept-to-their-namespace"], [payments, sbom])] == [
        "payments"
    ]
    assert stack_findings(RULES["namespaces-in-audit"], [namespace("analytics", "audit")]) == [
        ("namespace analytics admits unsigned images (audit)", "analytics")
    ]


def _authority(**block: Any) -> PolicyResource:
    return policy_resource(CIP, {"spec": {"authorities": [block]}}, "cip")


def test_policy_controller_documents_are_read_for_patterns_keys_and_private_sigstore() -> None:
    pattern = r"^https://github\.com/contoso/[a-z-]+/\.github/workflows/release\.yml@refs/heads/main$"
    keyless = {"identities": [{"issuer": GITHUB, "subjectRegExp": pattern}], "roots": [{"name": "private-fulcio"}]}
    assert stack_findings(RULES["identities-exact"], [_authority(keyless=keyless)]) == [
        (f"identities matching {pattern} may sign; an exact subject is narrower", "cip")
    ]
    assert stack_findings(RULES["sigstore-public-good"], [_authority(keyless=keyless)]) == [
        ("keyless certificates chain to Fulcio roots the stack names, not the public-good ones", "cip")
    ]
    private = _authority(ctlog={"url": "https://rekor.contoso.example"}, tuf={"mirror": "https://tuf.contoso.example"})
    assert _stack("sigstore-public-good", private) == [
        "signatures are checked against a private transparency log, https://rekor.contoso.example",
        "the trust root comes from a private TUF mirror, https://tuf.contoso.example",
    ]
    keys = policy_resource(CIP, {"spec": {"authorities": [{"key": {"kms": KEY + v}} for v in ("v1", "v2")]}})
    assert _stack("signing-key-rotation-closed", keys) == [
        "2 versions of kv-cr.vault.azure.net/image-signing are trusted at once (v1, v2): a rotation overlap, in "
        "which a retired or stolen version still signs"
    ]
    assert _stack("vault-keys-pinned", _authority(key={"kms": KEY + "v1"})) == [
        f"the engines read {KEY}v1 from the vault at every admission: the cluster needs a private path to the vault "
        "(or the key's public half pinned), and a vault outage denies every pod"
    ]


def test_two_patterns_are_two_findings() -> None:
    patterns = [rf"^https://github\.com/contoso/{r}/\.github/workflows/release\.yml@refs/heads/main$" for r in "ab"]
    identities = [{"issuer": GITHUB, "subjectRegExp": p} for p in patterns]
    assert _stack("identities-exact", _signatures("NotIn", SYSTEM, attestors=_keyless(*identities))) == [
        f"identities matching {p} may sign; an exact subject is narrower" for p in patterns
    ]


def test_an_exception_without_its_annotations_says_what_it_lacks() -> None:
    bare = {
        "spec": {"policyRefs": [{"name": "verify-image-signatures-enforce"}, {"name": "restrict-image-registries"}]}
    }
    assert resource_violations(RULES["admission-exceptions-reviewed"], EXCEPTION, bare) == [
        "a namespace: images exempt from verify-image-signatures-enforce, restrict-image-registries until never (owner "
        "none: no reason)"
    ]
    assert resource_violations(RULES["admission-exceptions-reviewed"], EXCEPTION, {}) == [
        "a namespace: images exempt from no policy until never (owner none: no reason)"
    ]
