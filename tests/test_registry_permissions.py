"""Which repositories the build agents may write: the patterns a stack lists (`buildAgents.pushRepositories`), the
ABAC condition they become, and the config's refusals. The condition is read back by an evaluator written here from
Microsoft's description of the grammar, so a rendering that reaches more than the patterns say fails, whatever the
input."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from components.model.config import ConfigError, parse_stack_config
from components.model.registry_permissions import (
    MAX_CONDITION_CHARACTERS,
    REPOSITORY_WRITER_DATA_ACTIONS,
    RepositoryPattern,
    pattern_problem,
    push_condition,
    repository_condition,
)
from tests.conftest import stack_raw

TODAY = date(2026, 11, 24)
P = "supply-chain:"
NAME = "@Request[Microsoft.ContainerRegistry/registries/repositories:name]"
ACTIONS = "Microsoft.ContainerRegistry/registries/repositories"


def test_a_known_list_renders_to_exactly_this_condition() -> None:
    assert push_condition(["payments/**", "shop/api"]) == (
        f"((!(ActionMatches{{'{ACTIONS}/metadata/write'}}) AND !(ActionMatches{{'{ACTIONS}/content/write'}}))"
        f" OR ({NAME} StringStartsWithIgnoreCase 'payments/' OR {NAME} StringEqualsIgnoreCase 'shop/api'))"
    )


def test_the_condition_keeps_every_write_of_the_writer_role_and_leaves_its_reads() -> None:
    # Container Registry Repository Writer's data actions, as Microsoft's built-in roles reference lists them
    listed = (
        f"{ACTIONS}/metadata/read",
        f"{ACTIONS}/content/read",
        f"{ACTIONS}/metadata/write",
        f"{ACTIONS}/content/write",
    )
    assert listed == REPOSITORY_WRITER_DATA_ACTIONS
    condition = push_condition(["a"])
    assert f"!(ActionMatches{{'{ACTIONS}/metadata/write'}})" in condition
    assert f"!(ActionMatches{{'{ACTIONS}/content/write'}})" in condition
    assert "/read'" not in condition  # base images come from other repositories of this registry


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("payments/*", "write payments/** for every repository under payments/"),
        ("pay*", "only a final /** is allowed"),
        ("*/api", "only a final /** is allowed"),
        ("payments/**/api", "only a final /** is allowed"),
        ("payments**", "only a final /** is allowed"),
        ("*", "every repository of the registry"),
        ("**", "every repository of the registry"),
        ("/**", "every repository of the registry"),
        ("a' OR '1", "is not a repository path"),
        ("a/**' OR 'b", "only a final /** is allowed"),
        ("shop/api)", "is not a repository path"),
        ("Shop/api", "is not a repository path"),
        ("/shop", "is not a repository path"),
        ("shop/", "is not a repository path"),
        ("shop//api", "is not a repository path"),
        ("shop api", "is not a repository path"),
        ("", "is empty"),
        ("a" * 257, "longer than 256"),
    ],
)
def test_a_pattern_the_condition_cannot_express_exactly_is_refused(pattern: str, says: str) -> None:
    problem = pattern_problem(pattern)
    assert problem is not None
    assert says in problem
    if "'" in pattern:
        assert pattern not in problem, "the value is shown by the caller, as config values are"
    with pytest.raises(ValueError, match=re.escape(problem)):
        push_condition([pattern])


def test_a_pattern_built_without_parsing_still_cannot_carry_a_quote_into_the_condition() -> None:
    for path in ("a' OR '1", "shop/api)", "Shop/api", "a" * 257):
        with pytest.raises(ValueError, match="not a repository path"):
            RepositoryPattern(path, subtree=False)


def test_a_repository_path_of_exactly_256_characters_is_accepted() -> None:
    longest = "a" * 256
    assert pattern_problem(longest) is None
    assert f"StringEqualsIgnoreCase '{longest}'" in push_condition([longest])
    raw = stack_raw("dev")
    raw["buildAgents"]["pushRepositories"] = [longest]
    agents = parse_stack_config(raw, today=TODAY).build_agents
    assert agents is not None
    assert agents.push_repositories == [longest]


def test_no_condition_without_a_pattern_and_none_past_azures_length() -> None:
    with pytest.raises(ValueError, match="at least one"):
        push_condition([])
    with pytest.raises(ValueError, match="ACR's repository actions"):
        repository_condition(["Microsoft.ContainerRegistry/registries/repositories/content/write'}) OR (true"], ["a"])
    long = [f"team{i:02d}/{'x' * 200}" for i in range(40)]
    with pytest.raises(ValueError, match=f"more than Azure's {MAX_CONDITION_CHARACTERS}"):
        push_condition(long)


def test_a_condition_of_exactly_8000_characters_is_written_and_one_more_is_refused() -> None:
    def condition_of(last_length: int) -> list[str]:
        return [f"team{i:02d}/{'x' * 150}" for i in range(30)] + ["z" * last_length]

    base = len(push_condition(condition_of(1))) - 1  # each character of a name adds one to the condition
    assert 1 <= 8000 - base <= 256, "the fixture reaches Azure's limit with one name of a valid length"
    assert len(push_condition(condition_of(8000 - base))) == 8000
    with pytest.raises(ValueError, match="would be 8001 characters"):
        push_condition(condition_of(8001 - base))


# An evaluator of the condition, from Microsoft's grammar: an action the condition targets is allowed only when an
# expression holds; StringEqualsIgnoreCase and StringStartsWithIgnoreCase compare without case.
_EXPRESSION = rf"{re.escape(NAME)} (StringEqualsIgnoreCase|StringStartsWithIgnoreCase) '([^']*)'"
_CONDITION = re.compile(
    r"\(\(((?:!\(ActionMatches\{'[^']+'\}\)(?: AND )?)+)\) OR \(((?:" + _EXPRESSION + r"(?: OR )?)+)\)\)"
)


def _writes_allowed(condition: str, repository: str) -> bool:
    """Whether the condition lets the writer write `repository` (ARM's reading of it)."""
    match = _CONDITION.fullmatch(condition)
    assert match is not None, f"not the grammar's shape: {condition}"
    targeted = re.findall(r"ActionMatches\{'([^']+)'\}", match.group(1))
    assert f"{ACTIONS}/content/write" in targeted, "a write the condition does not target is allowed everywhere"
    for operator, value in re.findall(_EXPRESSION, match.group(2)):
        name, value = repository.lower(), value.lower()
        if (operator == "StringEqualsIgnoreCase" and name == value) or (
            operator == "StringStartsWithIgnoreCase" and name.startswith(value)
        ):
            return True
    return False


def _glob_allows(patterns: list[str], repository: str) -> bool:
    """What the stack file says: a name is itself; `p/**` is every name below `p/`, at any depth."""
    for pattern in patterns:
        if pattern.endswith("/**"):
            if re.fullmatch(re.escape(pattern[:-3]) + r"/.+", repository.lower()):
                return True
        elif repository.lower() == pattern:
            return True
    return False


# Path components as `[a-z0-9]{1,4}([._-][a-z0-9]{1,3})?`, built from small parts (from_regex is ten times slower).
_COMPONENT = st.builds(
    str.__add__,
    st.text("abxy0189", min_size=1, max_size=4),
    st.just("") | st.builds(str.__add__, st.sampled_from("._-"), st.text("abz09", min_size=1, max_size=3)),
)
_PATH = st.lists(_COMPONENT, min_size=1, max_size=3).map("/".join)
_PATTERN = st.one_of(_PATH, _PATH.map(lambda p: f"{p}/**"))


def _candidates(patterns: list[str], others: list[str]) -> list[str]:
    """Names near each pattern's edge: itself, one and two levels below, a sibling sharing its prefix, its parent,
    the same in upper case; and some unrelated ones."""
    near = []
    for pattern in patterns:
        path = pattern.removesuffix("/**")
        near += [path, f"{path}/x", f"{path}/x/y", f"{path}x", f"{path}-x/y", path.rsplit("/", 1)[0], path.upper()]
        near += [f"{path.upper()}/X"]
    return [*near, *others]


@settings(max_examples=300, deadline=None)
@given(st.lists(_PATTERN, min_size=1, max_size=6, unique=True), st.lists(_PATH, max_size=5))
def test_the_condition_reaches_exactly_the_repositories_the_patterns_say(
    patterns: list[str], others: list[str]
) -> None:
    condition = push_condition(patterns)  # six short patterns stay far below Azure's length
    for repository in _candidates(patterns, others):
        assert _writes_allowed(condition, repository) == _glob_allows(patterns, repository), (patterns, repository)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
@example("a' OR '1")
@example("payments/**' OR @Request[x] StringLike '*")
@example("x'})) OR ((true")
@example("payments/*")
@example("payments/**")
@example("shop/api")
def test_any_text_is_refused_or_renders_to_one_quoted_repository_name(text: str) -> None:
    problem = pattern_problem(text)
    if problem is not None:
        with pytest.raises(ValueError, match=re.escape(problem)):
            push_condition([text])
        return
    condition = push_condition([text])
    match = _CONDITION.fullmatch(condition)
    assert match is not None
    (value,) = [v for _, v in re.findall(_EXPRESSION, match.group(2))]
    assert value == text.removesuffix("**"), "the quoted value is the path (with its '/' for a prefix), nothing else"
    assert condition.count("'") == 2 * (2 + 1), "two write actions and one name: no other quote"


def _refused(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, today=TODAY)
    return {p.key.removeprefix(P): p.message for p in caught.value.problems}


def test_the_config_refuses_each_unusable_push_list_at_its_key() -> None:
    raw = stack_raw("dev")
    raw["buildAgents"]["pushRepositories"] = ["payments/*", "shop/api", "shop/api", "shop/**", "a' OR '1", "**"]
    problems = _refused(raw)
    assert set(problems) == {f"buildAgents.pushRepositories[{i}]" for i in (0, 2, 3, 4, 5)}
    assert "write payments/** for every repository" in problems["buildAgents.pushRepositories[0]"]
    assert "is listed twice" in problems["buildAgents.pushRepositories[2]"]
    assert "reaches shop/api, listed before it" in problems["buildAgents.pushRepositories[3]"]
    assert problems["buildAgents.pushRepositories[4]"].startswith("\"a' OR '1\" is not a repository path")
    assert "every repository of the registry" in problems["buildAgents.pushRepositories[5]"]

    raw["buildAgents"]["pushRepositories"] = ["payments/**", "payments/api"]
    assert "is already reached by payments/**" in _refused(raw)["buildAgents.pushRepositories[1]"]

    raw["buildAgents"]["pushRepositories"] = [f"team/r{i}" for i in range(51)]
    assert "lists 51 repositories, more than 50" in _refused(raw)["buildAgents.pushRepositories"]

    raw["buildAgents"]["pushRepositories"] = [f"team{i:02d}/{'x' * 200}" for i in range(40)]
    assert "more than Azure's 8000" in _refused(raw)["buildAgents.pushRepositories"]


def test_abac_mode_needs_the_push_list_and_legacy_mode_refuses_it() -> None:
    raw = stack_raw("prod")
    del raw["buildAgents"]["pushRepositories"]
    assert "list them (shop/api, or payments/**" in _refused(raw)["buildAgents.pushRepositories"]

    raw = stack_raw("dev")
    raw["registry"]["repositoryPermissionsEnabled"] = False
    assert (
        "has no effect while registry.repositoryPermissionsEnabled is false"
        in (_refused(raw)["buildAgents.pushRepositories"])
    )
    del raw["buildAgents"]["pushRepositories"]
    parse_stack_config(raw, today=TODAY)  # the opt-out, spelled out, plans (and the review flags it)


def test_the_permission_mode_is_for_a_registry_the_stack_creates() -> None:
    raw = stack_raw("local")
    raw["registry"]["repositoryPermissionsEnabled"] = False
    assert "an ACR the stack creates" in _refused(raw)["registry.repositoryPermissionsEnabled"]
    assert parse_stack_config(stack_raw("dev"), today=TODAY).registry.repository_permissions_enabled is True
