"""The mutation report: the kill rate leaves only equivalent survivors out, every survivor must be triaged once,
and a triage entry for a mutant now caught is shown for removal."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts import mutation_report
from scripts.mutation_report import ReportError, parse_results, read_triage, summarize

RESULTS = """\
    scripts.checks.images.x_check__mutmut_1: killed
    scripts.checks.images.x_check__mutmut_2: killed
    scripts.checks.images.x_check__mutmut_3: killed
    scripts.checks.images.x_check__mutmut_4: killed
    scripts.checks.images.x_check__mutmut_5: killed
    scripts.checks.images.x_check__mutmut_6: killed
    scripts.checks.images.x_check__mutmut_7: timeout
    scripts.checks.images.xǁImageǁparse__mutmut_1: survived
    scripts.checks.images.xǁImageǁparse__mutmut_2: survived
    components.model.trust.x_model__mutmut_1: no tests
    components.model.trust.x_model__mutmut_2: not checked
"""

TRIAGE = """\
[equivalent]
"scripts.checks.images.xǁImageǁparse__mutmut_1" = "None and [] both read as no digests"
[wording]
"scripts.checks.images.xǁImageǁparse__mutmut_2" = "the refusal's text"
"scripts.checks.images.x_check__mutmut_3" = "was a survivor once"
"""


def test_equivalent_survivors_leave_the_figure_and_the_others_count_against_it(tmp_path: Path) -> None:
    triage = tmp_path / "mutation_triage.toml"
    triage.write_text(TRIAGE)
    report = summarize(parse_results(RESULTS), read_triage([triage]))
    # caught: 6 killed + 1 timeout; killable: 7 + 2 survived + 1 no tests - 1 equivalent = 9
    assert (report.caught, report.killable) == (7, 9)
    assert round(report.score, 1) == 77.8
    assert report.untriaged == ["components.model.trust.x_model__mutmut_1"], "an uncovered mutant is a survivor"
    assert report.stale == ["scripts.checks.images.x_check__mutmut_3"]
    assert sorted(report.by_module) == ["components.model.trust", "scripts.checks.images"]
    assert report.by_module["scripts.checks.images"]["survived"] == 2


def test_the_cli_writes_the_report_and_fails_while_a_survivor_is_untriaged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results, triage, out = tmp_path / "results.txt", tmp_path / "t.toml", tmp_path / "report.md"
    results.write_text(RESULTS)
    triage.write_text(TRIAGE)
    assert mutation_report.main([str(results), "--triage", str(triage), "--out", str(out), "--min-score", "70"]) == 1
    written = out.read_text()
    assert "**77.8%** of the mutants that can be killed are caught: 7 of 9" in written
    assert "## Untriaged survivors (1)\n\n- `components.model.trust.x_model__mutmut_1`" in written
    assert "## Kept: wording (1)" in written
    assert "1 untriaged survivors, 1 stale triage entries" in capsys.readouterr().out

    triage.write_text(TRIAGE + '[other]\n"components.model.trust.x_model__mutmut_1" = "reached only by the plan"\n')
    assert mutation_report.main([str(results), "--triage", str(triage), "--out", str(out), "--min-score", "70"]) == 0
    assert mutation_report.main([str(results), "--triage", str(triage), "--out", str(out)]) == 1, "under 90%"


@pytest.mark.parametrize(
    ("toml", "refusal"),
    [
        ('[fine]\n"a.x_f__mutmut_1" = "r"\n', "[fine] is not a kind of survivor"),
        ('[wording]\n"a.x_f__mutmut_1" = " "\n', "[wording] a.x_f__mutmut_1 needs a one-line reason"),
        (
            '[wording]\n"a.x_f__mutmut_1" = "r"\n[equivalent]\n"a.x_f__mutmut_1" = "r"\n',
            "a.x_f__mutmut_1 is triaged twice (wording and equivalent)",
        ),
        ("[wording\n", "t.toml: "),
    ],
)
def test_a_triage_file_that_cannot_be_trusted_is_refused_by_name(tmp_path: Path, toml: str, refusal: str) -> None:
    triage = tmp_path / "t.toml"
    triage.write_text(toml)
    with pytest.raises(ReportError, match=None) as refused:
        read_triage([triage])
    assert refusal in str(refused.value)


def test_a_results_line_that_is_not_a_status_is_refused_with_its_line_number() -> None:
    with pytest.raises(ReportError) as refused:
        parse_results("    a.x_f__mutmut_1: killed\nTraceback (most recent call last):\n", "build/r.txt")
    assert str(refused.value) == "build/r.txt:2: not a `mutant: status` line"


def test_the_shipped_triage_files_read_and_name_real_mutants() -> None:
    files = sorted((Path(__file__).parent).glob("mutation_triage*.toml"))
    assert files, "the triage of the last run is kept in tests/"
    triage = read_triage(files)
    assert all("__mutmut_" in name for name in triage)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_any_results_text_is_read_or_refused_by_line(text: str) -> None:
    refusal = None
    try:
        statuses = parse_results(text, "r.txt")
    except ReportError as refused:
        refusal = str(refused)
    if refusal is not None:
        assert refusal.startswith("r.txt:"), "a refusal names the file and its line"
    else:
        assert all("__mutmut_" in name for name in statuses)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_any_triage_text_is_read_or_refused_naming_the_file(tmp_path: Path, text: str) -> None:
    triage = tmp_path / "t.toml"
    triage.write_text(text, encoding="utf-8")
    refusal = None
    try:
        read = read_triage([triage])
    except ReportError as refused:
        refusal = str(refused)
    if refusal is not None:
        assert refusal.startswith(str(triage)), "a refusal names the file"
    else:
        assert all(t.kind in mutation_report.KINDS and t.reason for t in read.values())
