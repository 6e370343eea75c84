"""Who may read and write which repositories of the stack's registry, as plain data: the built-in ACR roles the
program assigns, their data actions, the repository patterns a stack lists, and the ABAC condition that keeps a role
assignment to those repositories.

In ACR's ABAC repository-permission mode (`roleAssignmentMode: AbacRepositoryPermissions`) AcrPull and AcrPush are
not honoured; the Container Registry Repository Reader / Writer roles are, with or without a condition. A condition
can name a repository exactly (`StringEqualsIgnoreCase`) or by a prefix (`StringStartsWithIgnoreCase`), so a pattern
here is one of those two and nothing else: `shop/api` (that repository), `payments/**` (every repository under
`payments/`, at any depth). A `*` within one path segment (`payments/*`, as admission reads it) has no exact
condition and is refused rather than widened.

Facts and where they come from (each cross-checked against a second, independent source):
- Role GUIDs and data actions: Microsoft's "Azure built-in roles for Containers" (MicrosoftDocs/azure-docs,
  articles/role-based-access-control/built-in-roles/containers.md, ms.date 2025-06-30) and its summary table in
  built-in-roles.md; the same GUIDs in an independent Bicep role table for ACR (stas-sultanov's Azure modules).
- Condition grammar, the attribute `@Request[Microsoft.ContainerRegistry/registries/repositories:name]`, the two
  operators and the trailing `/` a prefix needs: "Microsoft Entra ABAC for repository permissions"
  (MicrosoftDocs/azure-management-docs, articles/container-registry/container-registry-rbac-abac-repository-
  permissions.md); grouping and `!(ActionMatches{...})`: "Azure role assignment condition format and syntax"
  (conditions-format.md). `StringLike` exists in that general grammar, but ACR documents only the two operators
  above for this attribute, and its `*` would cross `/` anyway.
- Length: "A condition can be up to 8 KB long" (conditions-faq.md), read here as 8,000 characters to stay clear
  of any byte-versus-character question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

ACR_PUSH = "8311e382-0749-4cb8-b61a-304f252e45ec"
"""AcrPush: push and pull on the whole registry (legacy registry-permission mode only)."""
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
"""AcrPull: pull from the whole registry (legacy registry-permission mode only)."""
REPOSITORY_WRITER = "2a1e307c-b015-4ebd-883e-5b7698a07328"
"""Container Registry Repository Writer: read and write repositories (ABAC mode; a condition narrows it)."""
REPOSITORY_READER = "b93aa761-3e63-49ed-ac28-beffa264f7ac"
"""Container Registry Repository Reader: read repositories (ABAC mode; without a condition, every one)."""

ROLE_NAMES = {
    ACR_PUSH: "AcrPush",
    ACR_PULL: "AcrPull",
    REPOSITORY_WRITER: "Container Registry Repository Writer",
    REPOSITORY_READER: "Container Registry Repository Reader",
}
"""Azure's names of the registry roles, by GUID."""

_REPOSITORIES = "Microsoft.ContainerRegistry/registries/repositories"
REPOSITORY_READER_DATA_ACTIONS = (f"{_REPOSITORIES}/metadata/read", f"{_REPOSITORIES}/content/read")
"""Every data action of Container Registry Repository Reader (no control-plane action)."""
REPOSITORY_WRITER_DATA_ACTIONS = (
    *REPOSITORY_READER_DATA_ACTIONS,
    f"{_REPOSITORIES}/metadata/write",
    f"{_REPOSITORIES}/content/write",
)
"""Every data action of Container Registry Repository Writer (no delete, no catalog listing)."""
REPOSITORY_WRITE_DATA_ACTIONS = tuple(action for action in REPOSITORY_WRITER_DATA_ACTIONS if action.endswith("/write"))
"""The writer's writes: what its condition keeps to the pool's repositories."""

ABAC_MODE = "AbacRepositoryPermissions"
LEGACY_MODE = "LegacyRegistryPermissions"
"""The registry's `roleAssignmentMode` values (ACR API 2025-11-01)."""

CONDITION_VERSION = "2.0"
REPOSITORY_NAME_ATTRIBUTE = f"@Request[{_REPOSITORIES}:name]"
MAX_CONDITION_CHARACTERS = 8000
MAX_REPOSITORY_PATTERNS = 50
"""The most patterns one push grant lists: a pool that builds more should group them under prefixes."""
MAX_PATTERN_CHARACTERS = 256

# A repository path as the OCI distribution spec names one: lower-case components of letters and digits, joined
# inside by '.', '_', '__' or dashes, components separated by '/'. Nothing here can close a quoted condition value.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_ACTION = re.compile(r"Microsoft\.ContainerRegistry/registries/repositories/[a-z]+/[a-z]+")
SUBTREE_SUFFIX = "/**"


@dataclass(frozen=True)
class RepositoryPattern:
    """Repositories of the registry a grant reaches: `path` itself, or with `subtree` every repository under
    `path/` at any depth (never `path` itself)."""

    path: str
    subtree: bool

    def __post_init__(self) -> None:
        # The condition quotes `path`: only a path of the grammar above may ever reach it.
        if not _PATH.fullmatch(self.path) or len(self.path) > MAX_PATTERN_CHARACTERS:
            raise ValueError("not a repository path")

    @classmethod
    def parse(cls, text: str) -> RepositoryPattern:
        """The pattern `text` writes (`shop/api`, `payments/**`); ValueError saying what is wrong and the fix."""
        problem = pattern_problem(text)
        if problem is not None:
            raise ValueError(problem)
        if text.endswith(SUBTREE_SUFFIX):
            return cls(text.removesuffix(SUBTREE_SUFFIX), subtree=True)
        return cls(text, subtree=False)

    def covers(self, other: RepositoryPattern) -> bool:
        """Whether every repository `other` reaches, this one reaches too."""
        if self.subtree:
            return other.path.startswith(f"{self.path}/") or (other.subtree and other.path == self.path)
        return not other.subtree and other.path == self.path

    def expression(self) -> str:
        """This pattern as one expression of a condition."""
        if self.subtree:  # the trailing '/' keeps `payments-infra/x` out of `payments/`
            return f"{REPOSITORY_NAME_ATTRIBUTE} StringStartsWithIgnoreCase '{self.path}/'"
        return f"{REPOSITORY_NAME_ATTRIBUTE} StringEqualsIgnoreCase '{self.path}'"

    def __str__(self) -> str:
        return f"{self.path}{SUBTREE_SUFFIX}" if self.subtree else self.path


def pattern_problem(text: object) -> str | None:
    """Why `text` is not a repository pattern an ABAC condition can express exactly, with the fix; None if it is.
    The value itself is never repeated (the caller shows it as it shows any config value)."""
    if not isinstance(text, str) or not text:
        return "is empty — write a repository path such as shop/api, or payments/** for everything under payments/"
    if len(text) > MAX_PATTERN_CHARACTERS:
        return f"is longer than {MAX_PATTERN_CHARACTERS} characters — name a shorter repository path or prefix"
    path, subtree = (text.removesuffix(SUBTREE_SUFFIX), True) if text.endswith(SUBTREE_SUFFIX) else (text, False)
    if text.strip("/*") == "":
        return "would reach every repository of the registry — list the repositories or prefixes the pool builds"
    if "*" in path:
        if path.endswith("/*") and "*" not in path[:-2]:
            return (
                "keeps `*` within one path segment, which ACR's condition cannot (it matches a name exactly or by a "
                f"prefix, and a prefix reaches every depth) — write {path[:-2]}/** for every repository under "
                f"{path[:-2]}/, or name each repository"
            )
        return (
            "has a wildcard ACR's condition cannot express (it matches a name exactly or by a prefix): only a final "
            "/** is allowed — write <path>/** or the full repository name"
        )
    if not _PATH.fullmatch(path):
        return (
            "is not a repository path: lower-case letters and digits, joined by '.', '_', '__' or '-' inside a "
            f"component, components separated by '/' (no leading or trailing '/'){' before /**' if subtree else ''}"
        )
    return None


def repository_condition(data_actions: Sequence[str], patterns: Sequence[str | RepositoryPattern]) -> str:
    """The ABAC condition (version 2.0) that allows each of `data_actions` only on the repositories `patterns`
    reach; every other action of the role is left as the role grants it. ValueError for no pattern (a grant
    without a condition would reach every repository), an action outside ACR's repository actions, a pattern
    that is not one, or a condition longer than Azure takes."""
    if not data_actions or not patterns:
        raise ValueError("a repository condition needs at least one data action and one repository pattern")
    for action in data_actions:
        if not _ACTION.fullmatch(action):
            raise ValueError("a data action of a repository condition must be one of ACR's repository actions")
    parsed = [p if isinstance(p, RepositoryPattern) else RepositoryPattern.parse(p) for p in patterns]
    actions = " AND ".join(f"!(ActionMatches{{'{action}'}})" for action in data_actions)
    names = " OR ".join(p.expression() for p in parsed)
    condition = f"(({actions}) OR ({names}))"
    if len(condition) > MAX_CONDITION_CHARACTERS:
        raise ValueError(
            f"the repository condition would be {len(condition)} characters, more than Azure's "
            f"{MAX_CONDITION_CHARACTERS} — group repositories under fewer prefixes"
        )
    return condition


def push_condition(patterns: Sequence[str | RepositoryPattern]) -> str:
    """The condition on the build agents' Container Registry Repository Writer grant: its writes only on the
    repositories the pool builds. Its reads stay registry-wide, as the pullers' are: the agents' egress reaches no
    other registry, so a job's base images come from this one, from repositories it must not write."""
    return repository_condition(REPOSITORY_WRITE_DATA_ACTIONS, patterns)
