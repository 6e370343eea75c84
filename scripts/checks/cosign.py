"""Canary images and cosign's OCI layouts, made in Python with real keys.

Layouts (facts from cosign v3, not its code):
- legacy signature: tag `sha256-<hex>.sig`, one layer per signature of media type
  `application/vnd.dev.cosign.simplesigning.v1+json` (the "simple signing" payload naming the
  digest) with the base64 signature in the `dev.cosignproject.cosign/signature` annotation;
- legacy attestation: tag `sha256-<hex>.att`, layers `application/vnd.dsse.envelope.v1+json`
  (a DSSE envelope around an in-toto statement) annotated with `predicateType`;
- bundle: a referrer manifest (subject = the image) whose one layer is a Sigstore bundle
  (`application/vnd.dev.sigstore.bundle.v0.3+json`) holding a DSSE envelope; signatures are
  statements of predicate type `https://sigstore.dev/cosign/sign/v1`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from scripts.checks.documents import field, json_object
from scripts.checks.oci import OCI_MANIFEST, Registry, RegistryError, sha256_digest, tag_for
from scripts.checks.signed import DssePayload, pae

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
INTOTO_PAYLOAD = "application/vnd.in-toto+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
REKOR_BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
BUNDLE_PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"


@dataclass(frozen=True)
class ImageRef:
    """An image by registry, repository and digest (and the tag it was pushed as, if any)."""

    registry: str
    repository: str
    digest: str
    tag: str | None = None

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"

    @property
    def tagged(self) -> str:
        """The reference by tag (what a moved tag resolves through)."""
        return f"{self.registry}/{self.repository}:{self.tag}"


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


def _sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def dsse_envelope(key: ec.EllipticCurvePrivateKey, statement_: dict[str, Any]) -> dict[str, Any]:
    """A DSSE envelope around `statement_`, signed by `key`."""
    payload = json.dumps(statement_, separators=(",", ":")).encode()
    return {
        "payloadType": INTOTO_PAYLOAD,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": "", "sig": base64.b64encode(_sign(key, pae(INTOTO_PAYLOAD, payload))).decode()}],
    }


def _key_hint(key: ec.EllipticCurvePublicKey) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def key_bundle(key: ec.EllipticCurvePrivateKey, envelope: dict[str, Any]) -> bytes:
    """A Sigstore v0.3 bundle for a key signature made offline (no transparency-log entry)."""
    return json.dumps(
        {
            "mediaType": BUNDLE_V03,
            "verificationMaterial": {"publicKey": {"hint": _key_hint(key.public_key())}, "tlogEntries": []},
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


def sign_legacy(registry: Registry, image: ImageRef, key: ec.EllipticCurvePrivateKey) -> str:
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
    registry: Registry, image: ImageRef, key: ec.EllipticCurvePrivateKey, predicate_type: str, predicate: dict[str, Any]
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


def sign_bundle(registry: Registry, image: ImageRef, key: ec.EllipticCurvePrivateKey) -> str:
    """Sign `image` as a Sigstore bundle referrer; returns the referrer's digest."""
    envelope = dsse_envelope(key, statement(image, COSIGN_SIGN_PREDICATE, {}))
    return _write_bundle(registry, image, key_bundle(key, envelope), COSIGN_SIGN_PREDICATE)


def attest_bundle(
    registry: Registry, image: ImageRef, key: ec.EllipticCurvePrivateKey, predicate_type: str, predicate: dict[str, Any]
) -> str:
    """Attest `image` as a Sigstore bundle referrer; returns the referrer's digest."""
    envelope = dsse_envelope(key, statement(image, predicate_type, predicate))
    return _write_bundle(registry, image, key_bundle(key, envelope), predicate_type)


# -- reading back ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A signature or attestation found in the registry, in either layout."""

    layout: str  # "legacy" or "bundle"
    kind: str  # "signature" or "attestation"
    predicate_type: str | None
    payload: bytes  # simple-signing payload or in-toto statement
    signature: bytes  # over the payload (legacy signature) or over the DSSE PAE
    payload_type: str | None = None
    bundle: bytes | None = None
    annotations: tuple[tuple[str, str], ...] = ()  # legacy layer annotations (certificate, Rekor bundle)

    def annotation(self, key: str) -> str | None:
        """A legacy layer annotation's value, if present."""
        return dict(self.annotations).get(key)

    def content(self) -> bytes | DssePayload:
        """What the signature signs: the simple-signing payload itself, or a DSSE payload (by its PAE)."""
        return self.payload if self.payload_type is None else DssePayload(self.payload_type, self.payload)

    def signed_data(self) -> bytes:
        """The bytes the signature is over."""
        content = self.content()
        return content if isinstance(content, bytes) else content.pae()

    def names(self, image: ImageRef) -> bool:
        """Whether the signed payload is about `image`'s digest (not some other image's)."""
        document = json_object(self.payload)
        if document is None:
            return False
        if self.payload_type is None:
            return field(document, "critical", "image", "docker-manifest-digest") == image.digest
        subjects = document.get("subject")
        return isinstance(subjects, list) and any(field(s, "digest", "sha256") == image.digest[7:] for s in subjects)

    def verifies_with(self, key: ec.EllipticCurvePublicKey) -> bool:
        """Whether the signature verifies with `key` (ECDSA, SHA-256)."""
        try:
            key.verify(self.signature, self.signed_data(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


def _from_envelope(
    envelope: object, layout: str, bundle: bytes | None = None, *, kind: str | None = None
) -> list[Found]:
    """The signatures of a DSSE envelope; `kind` fixed by where it was found (a legacy `.att` holds attestations
    only), else read from the predicate (a bundle of cosign's signing predicate is a signature)."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("signatures"), list):
        raise ValueError("a DSSE envelope needs a payload, a payload type and a list of signatures")
    payload = base64.b64decode(envelope["payload"], validate=True)
    predicate = field(json_object(payload), "predicateType")
    predicate = predicate if isinstance(predicate, str) else None
    kind = kind or ("signature" if predicate == COSIGN_SIGN_PREDICATE else "attestation")
    payload_type = envelope["payloadType"]
    if not isinstance(payload_type, str):
        raise ValueError("a DSSE envelope's payload type is text")
    return [
        Found(
            layout,
            kind,
            predicate,
            payload,
            base64.b64decode(str(field(s, "sig") or ""), validate=True),
            payload_type,
            bundle,
        )
        for s in envelope["signatures"]
    ]


def find(registry: Registry, image: ImageRef) -> list[Found]:
    """Every signature and attestation attached to `image`, in both layouts. Anything attached
    that does not parse is a `RegistryError` naming it, not a crash."""
    try:
        return _find(registry, image)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise RegistryError(f"a signature or attestation attached to {image} is malformed: {exc}") from exc


def _find(registry: Registry, image: ImageRef) -> list[Found]:
    found: list[Found] = []
    # cosign reads simple-signing layers from `.sig` and DSSE envelopes from `.att`, nothing else: a layer of
    # the other kind (an attestation of the signing predicate under `.att`) is not a signature to it either
    for suffix, wanted in (("sig", SIMPLE_SIGNING), ("att", DSSE_ENVELOPE)):
        manifest = registry.get_manifest(image.repository, tag_for(image.digest, suffix))
        for layer in _layers(manifest.json()) if manifest else []:
            if layer.get("mediaType") != wanted:
                continue
            blob = registry.get_blob(image.repository, layer["digest"])
            annotations = tuple(sorted((layer.get("annotations") or {}).items()))
            if wanted == SIMPLE_SIGNING:
                signature = base64.b64decode(dict(annotations).get(SIGNATURE_ANNOTATION, ""))
                found.append(Found("legacy", "signature", None, blob, signature, annotations=annotations))
            else:
                found += [
                    Found(f.layout, f.kind, f.predicate_type, f.payload, f.signature, f.payload_type, None, annotations)
                    for f in _from_envelope(json.loads(blob), "legacy", kind="attestation")
                ]
    for descriptor in registry.referrers(image.repository, image.digest, BUNDLE_V03):
        manifest = registry.get_manifest(image.repository, descriptor.digest)
        for layer in _layers(manifest.json()) if manifest else []:
            bundle = registry.get_blob(image.repository, layer["digest"])
            envelope = field(json_object(bundle), "dsseEnvelope")
            if envelope:
                found += _from_envelope(envelope, "bundle", bundle)
    return found


def _layers(manifest: object) -> list[dict[str, Any]]:
    layers = field(manifest, "layers")
    if layers is None:
        return []
    if not isinstance(layers, list) or not all(isinstance(layer, dict) and "digest" in layer for layer in layers):
        raise ValueError("a manifest's layers are a list of descriptors with digests")
    return layers


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
