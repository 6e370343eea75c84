"""Policy Controller's trust in a private Sigstore instance, and its webhook's reach, written out in
full: every key, URL and certificate authority as the TrustRoot must carry it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.render.policy_controller_values import policy_controller_values
from tests.test_policy_controller import FULCIO_ROOT, _self_signed, docs_of
from tests.upstream import crd_errors

TSA_CHAIN = _self_signed("tsa.contoso.example")


def _pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


REKOR_KEY, CT_KEY = _pem(), _pem()


TUF_ROOT = base64.b64encode(
    json.dumps(
        {
            "signed": {"_type": "root", "spec_version": "1.0", "keys": {"k": {}}, "roles": {"root": {"keyids": ["k"]}}},
            "signatures": [{"keyid": "k", "sig": "00"}],
        }
    ).encode()
).decode()
"""The shape of a TUF root.json (the config parses it); its signatures are the mirror's business."""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _private(**sigstore: str) -> Any:
    def edit(raw: dict[str, Any]) -> None:
        raw["signing"]["sigstore"] = sigstore

    return edit


def test_every_key_of_a_private_instance_is_in_the_trust_root(shared_dir: Path) -> None:
    root = docs_of(
        "prod",
        _private(
            rekorUrl="https://rekor.contoso.example",
            rekorPublicKey=REKOR_KEY,
            ctLogUrl="https://ctfe.contoso.example",
            ctLogPublicKey=CT_KEY,
            fulcioUrl="https://fulcio.contoso.example",
            fulcioRoots=FULCIO_ROOT,
            tsaUrl="https://tsa.contoso.example",
            tsaCertChain=TSA_CHAIN,
        ),
    )["supply-chain"]
    assert crd_errors(root) == []
    assert root["spec"] == {
        "sigstoreKeys": {
            "certificateAuthorities": [
                {
                    "subject": {"organization": "contoso", "commonName": "fulcio.contoso.example"},
                    "uri": "https://fulcio.contoso.example",
                    "certChain": _b64(FULCIO_ROOT),
                }
            ],
            "tLogs": [
                {"baseURL": "https://rekor.contoso.example", "hashAlgorithm": "sha-256", "publicKey": _b64(REKOR_KEY)}
            ],
            "ctLogs": [
                {"baseURL": "https://ctfe.contoso.example", "hashAlgorithm": "sha-256", "publicKey": _b64(CT_KEY)}
            ],
            "timestampAuthorities": [
                {
                    "subject": {"organization": "contoso", "commonName": "tsa.contoso.example"},
                    "uri": "https://tsa.contoso.example",
                    "certChain": _b64(TSA_CHAIN),
                }
            ],
        }
    }
    assert root["metadata"]["annotations"]["supply-chain/title"] == "Private Sigstore trust root"


def test_a_private_rekor_without_fulcio_still_gets_its_trust_root() -> None:
    def key_signatures_logged_privately(raw: dict[str, Any]) -> None:
        raw["signing"]["sigstore"] = {"rekorUrl": "https://rekor.contoso.example", "rekorPublicKey": REKOR_KEY}
        raw["signing"]["signatureFormat"] = "legacy"

    root = docs_of("local", key_signatures_logged_privately)["supply-chain"]
    assert root["spec"]["sigstoreKeys"]["tLogs"] == [
        {"baseURL": "https://rekor.contoso.example", "hashAlgorithm": "sha-256", "publicKey": _b64(REKOR_KEY)}
    ]


def test_a_tuf_mirror_replaces_the_inline_keys() -> None:
    root = docs_of(
        "prod",
        _private(
            rekorUrl="https://rekor.contoso.example",
            rekorPublicKey=REKOR_KEY,
            fulcioUrl="https://fulcio.contoso.example",
            fulcioRoots=FULCIO_ROOT,
            tufMirror="https://tuf.contoso.example",
            tufRoot=TUF_ROOT,
        ),
    )["supply-chain"]
    assert root["spec"] == {"remote": {"mirror": "https://tuf.contoso.example", "root": TUF_ROOT}}


@pytest.mark.parametrize("client_id", [None, "00000000-0000-0000-0000-000000000001"])
def test_the_webhook_reaches_only_opted_in_namespaces_and_never_the_system_ones(client_id: str | None) -> None:
    webhook = policy_controller_values(workload_identity_client_id=client_id)["webhook"]
    assert webhook["namespaceSelector"] == {
        "matchExpressions": [
            {"key": "policy.sigstore.dev/include", "operator": "In", "values": ["true"]},
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": ["kube-system", "kyverno", "cosign-system"],
            },
        ]
    }
