"""Keyless identity patterns are parsed, not prefix-tested: each alternative is pinned on its own, e-mail
patterns never stand for CI workflows, and only what Go's RE2 reads the same way as Python is accepted."""

from __future__ import annotations

import re

import pytest

from components.model.config import identity_pattern_problems

GITHUB = "https://token.actions.githubusercontent.com"
GOOGLE = "https://accounts.google.com"

# RE2's verdict on each construct, from RE2's documented syntax (github.com/google/re2/wiki/Syntax):
# "supported" means RE2 compiles it with the meaning Python gives it; "not supported" means RE2 refuses it
# ("NOT SUPPORTED" in RE2's syntax table) or reads it differently.
RE2_VERDICTS: list[tuple[str, bool]] = [
    (r"^https://github\.com/contoso/(?:app|api)/\.github/workflows/release\.yml@refs/heads/main$", True),
    (r"^https://github\.com/contoso/(?P<repo>[a-z-]+)/\.github/workflows/r\.yml@refs/tags/v[0-9]+$", True),
    (r"^https://github\.com/contoso/app/\.github/workflows/.+@refs/heads/(main|release/[0-9]+)$", True),
    (r"^(?i:https://github\.com/contoso/)app/.+@refs/heads/main$", True),
    (r"^https://github\.com/contoso/app/.{1,200}@refs/heads/main$", True),
    (r"^https://github\.com/contoso/(?=app).+@refs/heads/main$", False),  # lookahead
    (r"^https://github\.com/contoso/(?!evil).+@refs/heads/main$", False),  # negative lookahead
    (r"^https://github\.com/contoso/.+(?<=main)$", False),  # lookbehind
    (r"^https://github\.com/contoso/(a)\1@refs/heads/main$", False),  # backreference
    (r"^https://github\.com/contoso/(a)?(?(1)b|c)$", False),  # conditional
    (r"^https://github\.com/contoso/(?>a+)@refs/heads/main$", False),  # atomic group
    (r"^https://github\.com/contoso/a++@refs/heads/main$", False),  # possessive repeat
    (r"^https://github\.com/contoso/app/.+@refs/heads/main\Z", False),  # \Z (RE2 has \z)
    (r"^https://github\.com/contoso/app/.+@refs/heads/main\Z$", False),  # \Z, even where $ anchors the end
    (r"^https://github\.com/contoso/[[:alpha:]]+/.+@refs/heads/main$", False),  # POSIX class: Python reads a set
]


@pytest.mark.filterwarnings("ignore::FutureWarning")  # Python warns about `[[:` (it reads a nested set)
@pytest.mark.parametrize(("pattern", "re2_accepts"), RE2_VERDICTS)
def test_the_validator_agrees_with_re2(pattern: str, re2_accepts: bool) -> None:
    re.compile(pattern)  # every pattern is valid Python: the difference is RE2's
    assert (identity_pattern_problems(pattern, GITHUB) == []) == re2_accepts


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"^https://github\.com/contoso/app/.+@refs/heads/main$|^https://.*$", "a second alternative trusts anyone"),
        (r"^https://github\.com/contoso/.+$|^https://github\.com/.+$", "the second alternative pins no owner"),
        (r"^(https://github\.com/contoso/.+|https://.+)$", "a grouped alternative pins no owner"),
        (r"^https://github\.com/contoso/.+$|.*", "an alternative matches everything"),
        (r"^.*@contoso\.com$", "an e-mail pattern with GitHub's issuer (a branch named x@contoso.com)"),
        (r"^https://github\.com/contoso-[a-z]+/.+$", "the literal stops inside the owner"),
        (r"^https://github\.com/[a-z]+/app/.+$", "no literal owner"),
        (r"^https://github\.com/contoso/app/.+@refs/heads/main", "no end anchor"),
        (r"https://github\.com/contoso/app/.+@refs/heads/main$", "no start anchor"),
    ],
)
def test_patterns_that_trust_another_owner_are_refused(pattern: str, why: str) -> None:
    assert identity_pattern_problems(pattern, GITHUB), why


def test_e_mail_patterns_are_for_e_mail_issuers() -> None:
    assert identity_pattern_problems(r"^[a-z.]+@contoso\.example$", GOOGLE) == []
    assert identity_pattern_problems(r"^[a-z.]+@contoso\.example$", GITHUB)


def test_alternatives_each_pinned_are_accepted() -> None:
    pattern = (
        r"^https://github\.com/contoso/app/.+@refs/heads/main$|^https://github\.com/contoso/api/.+@refs/heads/main$"
    )
    assert identity_pattern_problems(pattern, GITHUB) == []


@pytest.mark.parametrize(
    "pattern",
    [
        r"^https://github\.com/contoso/((?=app).+)@refs/heads/main$",  # in a group
        r"^https://github\.com/contoso/(?:(?=a)[a-z])+@refs/heads/main$",  # in a repeat
        r"^https://github\.com/contoso/(?:(?=a)[a-z])+?@refs/heads/main$",  # in a lazy repeat
        r"^https://github\.com/contoso/(?:app|(?=api)[a-z]+)/.+@refs/heads/main$",  # in a nested alternative
        r"^https://github\.com/contoso/app/.+$|^https://github\.com/contoso/(?=api).+$",  # in a second alternative
    ],
)
def test_a_construct_re2_lacks_is_refused_wherever_it_is_nested(pattern: str) -> None:
    (problem,) = identity_pattern_problems(pattern, GITHUB)
    assert "uses lookahead or lookbehind" in problem


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"\bhttps://github\.com/contoso/app/.+@refs/heads/main$", "a word boundary is not ^: matches after ?x="),
        (r"^https://github\.com/contoso/app/.+@refs/heads/(?:main$|)", "the empty alternative ends without $"),
    ],
)
def test_an_alternative_that_is_not_anchored_on_every_path_is_refused(pattern: str, why: str) -> None:
    (problem,) = identity_pattern_problems(pattern, GITHUB)
    assert "is not anchored" in problem, why


def test_e_mail_patterns_may_alternate_domains_and_repeat_any_local_part() -> None:
    assert identity_pattern_problems(r"^[a-z]+(?:@contoso|\.[a-z]+@fabrikam)\.example$", GOOGLE) == []
    assert identity_pattern_problems(r"^.+@contoso\.example$", GOOGLE) == []


@pytest.mark.parametrize(
    ("pattern", "issuer", "what"),
    [
        (r"https://github\.com/contoso/.+$", GITHUB, "is not anchored"),
        (r"^https://github\.com/[a-z]+/.+$", GITHUB, "does not pin an owner"),
        (r"^.*@contoso\.com$", GITHUB, "is an e-mail pattern, and https://token.actions.githubusercontent.com"),
        (r"^https://github\.com/contoso/.+\Z", GITHUB, "uses a construct RE2 reads differently"),
        (r"^https://github\.com/contoso/(a)\1$", GITHUB, "uses a backreference"),
        (r"^.*$", GITHUB, "matches every identity"),
        (r"^.+?$", GOOGLE, "matches every identity"),
        (r"^https://github\.com/contoso/a/.+$|.*", GITHUB, "matches every identity"),
    ],
)
def test_a_refusal_quotes_the_pattern_and_says_what_is_wrong(pattern: str, issuer: str, what: str) -> None:
    (problem,) = identity_pattern_problems(pattern, issuer)
    assert problem.startswith(f"{pattern!r} {what}")
