"""Cosign's OCI layouts, read: what is attached to an image (signatures, attestations, bundles), parsed into
`Found` entries for the verifier. `cosign_writer` makes the same layouts for canaries.

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
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from scripts.checks.documents import field, json_object
from scripts.checks.oci import Registry, RegistryError, tag_for
from scripts.checks.signed import DssePayload

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
