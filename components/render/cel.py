"""CEL pieces the Kyverno policies share: literals, image globs, and every image of a pod."""

from __future__ import annotations

import re

POLICY_IMAGES = (
    "images.containers"
    " + ('initContainers' in images ? images.initContainers : [])"
    " + ('ephemeralContainers' in images ? images.ephemeralContainers : [])"
)
"""Every image of a pod, from the images Kyverno extracted for an ImageValidatingPolicy."""

OBJECT_IMAGES = (
    "object.spec.containers.map(c, c.image)"
    " + (has(object.spec.initContainers) ? object.spec.initContainers.map(c, c.image) : [])"
    " + (has(object.spec.ephemeralContainers) ? object.spec.ephemeralContainers.map(c, c.image) : [])"
)
"""Every image of a pod, from the object itself (ValidatingPolicy and exceptions have no `images`)."""


OLD_OBJECT_IMAGES = OBJECT_IMAGES.replace("object.", "oldObject.")
"""Every image of the pod before the update."""


def cel_string(value: str) -> str:
    """A CEL string literal for `value`."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def glob_regex(glob: str) -> str:
    """An anchored RE2 pattern for an image glob: `*` matches a run of characters within one path
    segment (never a `/`), so a glob cannot reach into other repositories."""
    return "^" + "[^/]*".join(re.escape(part) for part in glob.split("*")) + "$"
