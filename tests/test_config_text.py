"""What text a stack config may hold: prose (an exception's reason, tag values) any printable Unicode on
one line; names, URLs and ids printable ASCII; PEM several lines. An invisible character is refused
wherever it is, naming the key, the character and where it is."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.model.config import ConfigError, StackConfig, parse_stack_config
from tests.conftest import stack_raw

TODAY = date(2026, 11, 24)


def _problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, today=TODAY)
    return [(p.key.removeprefix("supply-chain:"), p.message) for p in caught.value.problems]


def _with_reason(reason: str) -> dict[str, Any]:
    raw = stack_raw("prod")
    raw["admission"]["exceptions"][0]["reason"] = reason
    return raw


@pytest.mark.parametrize(
    "reason",
    [
        "Unsigniertes Fremd-Image; Ersatz läuft unter SEC-1432 (Prüfung ✓).",
        "Vendor image\u00a0— SEC-1432",  # a no-break space is a space, not an invisible control
        "ベンダーのイメージ、SEC-1432 で置き換え",
    ],
)
def test_a_reason_may_hold_any_printable_unicode(reason: str) -> None:
    config = parse_stack_config(_with_reason(reason), today=TODAY)
    assert isinstance(config, StackConfig)
    assert config.admission is not None
    assert config.admission.exceptions[0].reason == reason


@pytest.mark.parametrize(
    ("char", "what"),
    [
        ("\x07", "a control character (Cc)"),
        ("\n", "a line break: a reason is one line"),
        ("\u200b", "a zero-width space (Cf)"),
        ("\u00ad", "a soft hyphen (Cf)"),
        ("\u202e", "a right-to-left override"),
        ("\ud800", "a lone surrogate (Cs)"),
        ("\ue000", "a private-use character (Co)"),
        ("\u0378", "an unassigned code point (Cn)"),
        ("\u2028", "a line separator (Zl)"),
        ("\u2029", "a paragraph separator (Zp)"),
    ],
)
def test_a_reason_refuses_each_invisible_character_naming_it(char: str, what: str) -> None:
    problems = _problems(_with_reason(f"Unsigned {char}vendor image; replacement in SEC-1432."))
    assert problems == [
        ("admission.exceptions[0].reason", f"holds the control character U+{ord(char):04X} at position 9 — remove it")
    ], what


@pytest.mark.parametrize(
    ("path", "value", "key", "letter"),
    [
        (
            ("signing", "keyless", 0, "issuer"),
            "https://t\u043eken.actions.githubusercontent.com",
            "signing.keyless[0].issuer",
            "U+043E",
        ),
        (("registry", "name"), "crc\u043entosodev", "registry.name", "U+043E"),
        (("azure", "resourceGroupName"), "rg-supplychain-d\u00e9v", "azure.resourceGroupName", "U+00E9"),
    ],
    ids=["Cyrillic o in an issuer", "Cyrillic o in a registry name", "e acute in a resource group"],
)
def test_names_urls_and_ids_refuse_a_printable_non_ascii_letter(
    path: tuple[Any, ...], value: str, key: str, letter: str
) -> None:
    raw = stack_raw("dev")
    node: Any = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    ((refused, message),) = _problems(raw)
    assert refused == key
    assert message.startswith(f"holds the non-ASCII character {letter}"), message


def _public_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _with_pem(pem: str) -> dict[str, Any]:
    raw = stack_raw("dev")
    raw["signing"]["keys"] = [{"kind": "public-key", "name": "external", "pem": pem}]
    return raw


def test_a_pem_spans_lines() -> None:
    pem = _public_key_pem()
    assert pem.count("\n") > 2
    assert isinstance(parse_stack_config(_with_pem(pem), today=TODAY), StackConfig)


@pytest.mark.parametrize("line", [0, 1, 3])
@pytest.mark.parametrize("char", ["\u202e", "\x1b", "\r"])
def test_a_pem_refuses_an_invisible_character_on_any_of_its_lines(line: int, char: str) -> None:
    lines = _public_key_pem().split("\n")
    lines[line] = lines[line][:5] + char + lines[line][5:]
    pem = "\n".join(lines)
    ((key, message),) = _problems(_with_pem(pem))
    assert key == "signing.keys[0].pem"
    assert message == f"holds the control character U+{ord(char):04X} at position {pem.index(char)} — remove it"


def test_a_value_holds_at_most_16384_characters() -> None:
    assert isinstance(parse_stack_config(_with_reason("R" * 16384), today=TODAY), StackConfig)
    assert _problems(_with_reason("R" * 16385)) == [
        ("admission.exceptions[0].reason", "is 16385 characters long — no value here needs more than 16384")
    ]


WHITESPACE = "has whitespace at its start or end — remove it (a trailing newline or space changes the value)"


@pytest.mark.parametrize("reason", ["Unsigned vendor image.\n", " Unsigned vendor image.", "Unsigned vendor image.\t"])
def test_a_value_with_whitespace_at_either_end_is_refused(reason: str) -> None:
    assert _problems(_with_reason(reason)) == [("admission.exceptions[0].reason", WHITESPACE)]


def test_a_pem_may_end_in_newlines() -> None:
    pem = _public_key_pem()
    assert pem.endswith("-----\n")
    assert isinstance(parse_stack_config(_with_pem(pem + "\n\n"), today=TODAY), StackConfig)


@pytest.mark.parametrize(("before", "after"), [("", " "), (" ", ""), ("\n", ""), ("", "\n "), ("", "\t\n")])
def test_a_pem_with_other_whitespace_at_either_end_is_refused(before: str, after: str) -> None:
    pem = before + _public_key_pem() + after
    assert _problems(_with_pem(pem)) == [("signing.keys[0].pem", WHITESPACE)]


def test_a_letter_python_has_no_name_for_is_refused_as_unnamed() -> None:
    raw = stack_raw("dev")
    raw["registry"]["name"] = "cr\U00017000dev"  # a Tangut ideograph: printable, and nameless to unicodedata
    assert _problems(raw) == [
        (
            "registry.name",
            "holds the non-ASCII character U+17000 (unnamed) at position 2 — names, URLs and ids here are ASCII; "
            "retype it",
        )
    ]


# --- keys of mappings, and tag values -------------------------------------------------------------------


def test_a_key_is_ascii_on_one_line_with_no_whitespace_at_either_end() -> None:
    raw = stack_raw("dev")
    namespaces = raw["admission"]["namespaces"]
    namespaces["pay\u0430ments"] = {"mode": "audit"}  # a Cyrillic a
    namespaces["store\nfront"] = {"mode": "audit"}
    namespaces["payments\n"] = {"mode": "audit"}
    problems = dict(_problems(raw))
    assert problems == {
        "admission.namespaces.pay\u0430ments": (
            "the key holds the non-ASCII character U+0430 (CYRILLIC SMALL LETTER A) at position 3 — names, URLs "
            "and ids here are ASCII; retype it"
        ),
        "admission.namespaces.store\\nfront": "the key holds the control character U+000A at position 5 — remove it",
        "admission.namespaces.payments\\n": f"the key {WHITESPACE}",
    }


def test_every_bad_key_and_value_of_a_mapping_is_refused() -> None:
    raw = stack_raw("dev")
    raw["azure"]["tags"] = {"cost\u200bcenter": "cc-4711", "owner": "platform\x07team"}
    assert _problems(raw) == [
        ("azure.tags.cost\\u200bcenter", "the key holds the control character U+200B at position 4 — remove it"),
        ("azure.tags.owner", "holds the control character U+0007 at position 8 — remove it"),
    ]


def test_a_bad_value_under_an_empty_top_level_key_is_named_under_it_not_as_a_top_level_key() -> None:
    raw = stack_raw("dev")
    raw[""] = {"azure": "x\x07"}
    problems = _problems(raw)
    assert (".azure", "holds the control character U+0007 at position 1 — remove it") in problems
    assert not any(key == "azure" for key, _ in problems)


def test_a_numeric_tag_name_is_named_as_typed() -> None:
    raw = stack_raw("dev")
    raw["azure"]["tags"][1] = "x\x07"
    assert ("azure.tags.1", "holds the control character U+0007 at position 1 — remove it") in _problems(raw)


def test_a_tag_value_may_hold_any_printable_unicode_a_tag_name_may_not() -> None:
    raw = stack_raw("dev")
    raw["azure"]["tags"]["costCenter"] = "Kostenstelle 4711 — Prüfung ✓"
    assert isinstance(parse_stack_config(raw, today=TODAY), StackConfig)
    raw["azure"]["tags"]["Kostenstelle—Prüfung"] = "4711"
    ((key, message),) = _problems(raw)
    assert key == "azure.tags.Kostenstelle—Prüfung"
    assert message.startswith("the key holds the non-ASCII character U+2014"), message
