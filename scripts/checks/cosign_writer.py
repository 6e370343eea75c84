"""Canary images and their signatures and attestations in cosign's OCI layouts (see `cosign`), made in Python
with real keys, and deleted again: what the chain cases push. Not a security decision (the verifier and the
engines judge what these write), so outside the mutation scope."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization

from scripts.checks.cosign import (
    BUNDLE_PREDICATE_ANNOTATION,
    BUNDLE_V03,
    COSIGN_SIGN_PREDICATE,
    DSSE_ENVELOPE,
    EMPTY_CONFIG,
    INTOTO_PAYLOAD,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    ImageRef,
)
from scripts.checks.oci import OCI_MANIFEST, Registry, sha256_digest, tag_for
from scripts.checks.signed import pae
from scripts.checks.signers import SigningKey, as_signer
from scripts.checks.verification import PublicKey


def _layer(nonce: str) -> tuple[bytes, str]:
    """A gzip'd tar with one file; returns (compressed, diff id of the uncompressed tar)."""
    content = f"supply-chain canary {nonce}\n".encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("canary.txt")
        info.size, info.mtime, info.mode = len(content), 0, 0o444
        tar.addfile(info, io.BytesIO(content))
    uncompressed = raw.getvalue()
    return gzip.compress(uncompressed, mtime=0), sha256_digest(uncompressed)


def push_canary(registry: Registry, repository: str, tag: str, nonce: str) -> ImageRef:
    """A tiny single-layer OCI image, unique per `nonce`, pushed as `repository:tag`."""
    layer, diff_id = _layer(nonce)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"dev.supply-chain.canary": nonce}},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        },
        sort_keys=True,
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": registry.put_blob(repository, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": registry.put_blob(repository, layer),
                "size": len(layer),
            }
        ],
        "annotations": {"org.opencontainers.image.title": f"supply-chain canary {nonce}"},
    }
    pushed = registry.put_manifest(repository, tag, manifest)
    return ImageRef(registry.host, repository, pushed.digest, tag)


# -- payloads ----------------------------------------------------------------------------------


def simple_signing_payload(image: ImageRef) -> bytes:
    """cosign's simple-signing payload naming `image`'s digest (what a legacy signature signs)."""
    return json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": f"{image.registry}/{image.repository}"},
                "image": {"docker-manifest-digest": image.digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        },
        separators=(",", ":"),
    ).encode()


def statement(image: ImageRef, predicate_type: str, predicate: dict[str, Any]) -> dict[str, Any]:
    """An in-toto v1 statement about `image`."""
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": f"{image.registry}/{image.repository}", "digest": {"sha256": image.digest[7:]}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }


def _sign(key: SigningKey, data: bytes) -> bytes:
    """cosign's signature over `data`: a key in memory signs it here, a KMS signs its digest."""
    return as_signer(key).sign(data)


def dsse_envelope(key: SigningKey, statement_: dict[str, Any]) -> dict[str, Any]:
    """A DSSE envelope around `statement_`, signed by `key`."""
    payload = json.dumps(statement_, separators=(",", ":")).encode()
    return {
        "payloadType": INTOTO_PAYLOAD,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": "", "sig": base64.b64encode(_sign(key, pae(INTOTO_PAYLOAD, payload))).decode()}],
    }


def _key_hint(key: PublicKey) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def key_bundle(key: SigningKey, envelope: dict[str, Any]) -> bytes:
    """A Sigstore v0.3 bundle for a key signature made offline (no transparency-log entry)."""
    return json.dumps(
        {
            "mediaType": BUNDLE_V03,
            "verificationMaterial": {"publicKey": {"hint": _key_hint(as_signer(key).public_key())}, "tlogEntries": []},
            "dsseEnvelope": envelope,
        },
        separators=(",", ":"),
    ).encode()


# -- writing -----------------------------------------------------------------------------------


def _empty_config(registry: Registry, repository: str) -> dict[str, Any]:
    return {"mediaType": EMPTY_CONFIG, "digest": registry.put_blob(repository, b"{}"), "size": 2}


def _append_layer(registry: Registry, image: ImageRef, suffix: str, layer: dict[str, Any]) -> str:
    """Add a layer to the `.sig` / `.att` manifest of `image` (cosign appends, never replaces)."""
    tag = tag_for(image.digest, suffix)
    existing = registry.get_manifest(image.repository, tag)
    layers = existing.json().get("layers", []) if existing else []
    config = json.dumps({"architecture": "", "os": "", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": registry.put_blob(image.repository, config),
            "size": len(config),
        },
        "layers": [*layers, layer],
    }
    return registry.put_manifest(image.repository, tag, manifest).digest


def sign_legacy(registry: Registry, image: ImageRef, key: SigningKey) -> str:
    """Sign `image` in cosign's legacy layout (a `.sig` layer); returns the `.sig` manifest digest."""
    payload = simple_signing_payload(image)
    signature = base64.b64encode(_sign(key, payload)).decode()
    layer = {
        "mediaType": SIMPLE_SIGNING,
        "digest": registry.put_blob(image.repository, payload),
        "size": len(payload),
        "annotations": {SIGNATURE_ANNOTATION: signature},
    }
    return _append_layer(registry, image, "sig", layer)


def attest_legacy(
    registry: Registry, image: ImageRef, key: SigningKey, predicate_type: str, predicate: dict[str, Any]
) -> str:
    """Attest `image` in cosign's legacy layout (an `.att` layer); returns the `.att` manifest digest."""
    envelope = json.dumps(dsse_envelope(key, statement(image, predicate_type, predicate))).encode()
    layer = {
        "mediaType": DSSE_ENVELOPE,
        "digest": registry.put_blob(image.repository, envelope),
        "size": len(envelope),
        "annotations": {"predicateType": predicate_type},
    }
    return _append_layer(registry, image, "att", layer)


def _write_bundle(registry: Registry, image: ImageRef, bundle: bytes, predicate_type: str) -> str:
    subject = registry.get_manifest(image.repository, image.digest)
    if subject is None:
        raise LookupError(f"{image} is not in the registry")
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_V03,
        "config": {**_empty_config(registry, image.repository), "artifactType": BUNDLE_V03},
        "layers": [
            {"mediaType": BUNDLE_V03, "digest": registry.put_blob(image.repository, bundle), "size": len(bundle)}
        ],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": len(subject.raw)},
        "annotations": {
            "org.opencontainers.image.created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "dev.sigstore.bundle.content": "dsse-envelope",
            BUNDLE_PREDICATE_ANNOTATION: predicate_type,
        },
    }
    return registry.put_referrer(image.repository, manifest).digest


def sign_bundle(registry: Registry, image: ImageRef, key: SigningKey) -> str:
    """Sign `image` as a Sigstore bundle referrer; returns the referrer's digest."""
    envelope = dsse_envelope(key, statement(image, COSIGN_SIGN_PREDICATE, {}))
    return _write_bundle(registry, image, key_bundle(key, envelope), COSIGN_SIGN_PREDICATE)


def attest_bundle(
    registry: Registry, image: ImageRef, key: SigningKey, predicate_type: str, predicate: dict[str, Any]
) -> str:
    """Attest `image` as a Sigstore bundle referrer; returns the referrer's digest."""
    envelope = dsse_envelope(key, statement(image, predicate_type, predicate))
    return _write_bundle(registry, image, key_bundle(key, envelope), predicate_type)


# -- reading back ------------------------------------------------------------------------------


def delete_canary(registry: Registry, image: ImageRef) -> list[str]:
    """Delete the canary and everything attached to it; returns what was deleted (digests)."""
    deleted: list[str] = []
    targets = [d.digest for d in registry.referrers(image.repository, image.digest)]
    for suffix in ("sig", "att", ""):
        manifest = registry.get_manifest(image.repository, tag_for(image.digest, suffix))
        if manifest is not None:
            targets.append(manifest.digest)
    targets.append(image.digest)
    for digest in dict.fromkeys(targets):
        if registry.delete_manifest(image.repository, digest):
            deleted.append(digest)
    return deleted
