"""Offline plan of a stack: `python -m scripts.plan --stack dev` (or `--config FILE`).

Prints the resource tree, the stack outputs, the review (the policy pack's violations and the stack
config's findings) and the trust summary; writes DIR/plan.json, DIR/review.json, DIR/review.md, DIR/trust.json
and DIR/trust.md (who may sign what, attestations, keys, egress, roles), every Kubernetes object as YAML
under DIR/manifests/ and each Helm release's values under DIR/helm/ (DIR defaults to build/plan/<stack>).
Exit codes: 0 planned, 3 planned but the review fails (`--fail-on`), 2 invalid config or usage, 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from components.model import yaml_io
from components.model.config import ConfigError, parse_stack_config
from components.model.config.stack_file import key_lines, read_stack_file
from policies.offline import PackConfigError, Violation, check_resources, fails, read_pack_config
from policies.review import SEVERITY_ORDER
from scripts import PROJECT_ROOT
from scripts.arm_template import arm_template
from scripts.review_report import write_review
from scripts.trust_report import trust_compact, write_trust
from scripts.trust_summary import trust_summary

if TYPE_CHECKING:
    from scripts.planning import Plan, PlannedResource

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_REVIEW = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.plan", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--stack", help="stack name: reads stacks/Pulumi.<stack>.yaml (default: dev)")
    source.add_argument("--config", type=Path, help="any stack config file (Pulumi.<stack>.yaml)")
    parser.add_argument("--out", type=Path, help="output directory (default: build/plan/<stack>)")
    parser.add_argument("--quiet", action="store_true", help="print the summary line only")
    parser.add_argument(
        "--fail-on",
        choices=["mandatory", "advisory", "never"],
        default="mandatory",
        help="exit 3 on the policy pack's mandatory violations (default), on any violation, or never",
    )
    parser.add_argument(
        "--policy-config",
        type=Path,
        help="the policy pack's config (JSON, as `pulumi preview --policy-pack-config` takes it): levels, settings",
    )
    return parser


def write_plan(plan: Plan, out: Path) -> list[Path]:
    """Write plan.json, arm/template.json (Azure stacks), manifests/ and helm/ (each release's chart, version
    and values) under
    `out`, replacing a previous plan there."""
    manifests_dir, helm_dir = out / "manifests", out / "helm"
    for folder in (manifests_dir, helm_dir):
        if folder.exists():
            shutil.rmtree(folder)
    manifests_dir.mkdir(parents=True)
    (out / "plan.json").write_text(json.dumps(plan.as_json(), indent=2, sort_keys=False) + "\n")
    written = []
    template = arm_template(plan)
    if template is not None:  # for ARM scanners (checkov, PSRule) and reviewers who think in ARM
        (out / "arm").mkdir(exist_ok=True)
        path = out / "arm" / "template.json"
        path.write_text(json.dumps(template, indent=2) + "\n")
        written.append(path)
    from scripts.planning import kubernetes_manifests

    for file_name, document in kubernetes_manifests(plan):
        path = manifests_dir / file_name
        path.write_text(yaml_io.dump(document))
        written.append(path)
    for release in plan.of_type("kubernetes:helm.sh/v3:Release"):
        helm_dir.mkdir(exist_ok=True)
        inputs = release.inputs
        path = helm_dir / f"{inputs.get('name', release.name)}.yaml"
        header = (
            f"# chart {inputs.get('chart')} {inputs.get('version')} from {inputs.get('repositoryOpts', {}).get('repo')}"
        )
        body = yaml_io.dump({"namespace": inputs.get("namespace"), "values": inputs.get("values", {})})
        path.write_text(f"{header}\n{body}")
        written.append(path)
    return written


def _tree(plan: Plan) -> Tree:
    roots = [r for r in plan.resources if r.parent is None]
    tree = Tree(f"[bold]{plan.stack}[/] ({len(plan.resources)} registrations)")

    def add(node: Tree, resource: PlannedResource) -> None:
        style = "cyan" if not resource.custom else "white"
        child = node.add(f"[{style}]{resource.type}[/] {resource.name}")
        for grandchild in plan.children_of(resource.urn):
            add(child, grandchild)

    for root in roots:
        add(tree, root)
    return tree


SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}


def _print(console: Console, plan: Plan, violations: list[Violation]) -> None:
    console.print(_tree(plan))
    counts = Counter(r.type for r in plan.resources if r.custom)
    table = Table(title="Resources by type")
    table.add_column("type")
    table.add_column("count", justify="right")
    for type_token, count in sorted(counts.items()):
        table.add_row(type_token, str(count))
    console.print(table)
    outputs = Table(title="Stack outputs")
    outputs.add_column("output")
    outputs.add_column("value")
    for key, value in plan.outputs.items():
        outputs.add_row(key, escape(json.dumps(value)))  # "[secret]" is not rich markup
    console.print(outputs)
    if violations:
        pack = Table(title="Policy pack violations")
        for column in ("level", "rule", "resource", "violation"):
            pack.add_column(column)
        for v in violations:
            pack.add_row(v.level, v.rule, v.urn.rsplit("::", 1)[-1], escape(v.message))
        console.print(pack)
    if plan.findings:
        by_severity = Counter(f.severity for f in plan.findings)
        title = ", ".join(f"{by_severity[s]} {s}" for s in SEVERITY_ORDER if by_severity[s])
        findings = Table(title=f"Stack config findings ({title})")
        for column in ("severity", "key", "finding"):
            findings.add_column(column)
        for f in plan.findings:  # most severe first
            findings.add_row(f"[{SEVERITY_STYLE[f.severity]}]{f.severity}[/]", f.key, escape(f.message))
        console.print(findings)


def main(argv: list[str] | None = None) -> int:
    """The CLI: plan one stack, print it, write its files; the exit code says how it went."""
    args = _parser().parse_args(argv)
    console = Console(stderr=False, highlight=False)
    if not console.is_terminal:
        console.width = 160  # logs and CI: do not wrap the tree at 80 columns
    path = args.config or PROJECT_ROOT / "stacks" / f"Pulumi.{args.stack or 'dev'}.yaml"
    if args.config is None and not path.is_file():
        stacks = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in path.parent.glob("Pulumi.*.yaml"))
        print(f"no stack {args.stack!r} in {path.parent}: the stacks are {', '.join(stacks)}", file=sys.stderr)
        return EXIT_CONFIG
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        print(f"--out {args.out} is a file: name a directory (it is created if missing)", file=sys.stderr)
        return EXIT_CONFIG
    started = time.perf_counter()
    try:
        pack_config = read_pack_config(args.policy_config) if args.policy_config else {}
        stack_file = read_stack_file(path)
        parse_stack_config(stack_file.raw, source=str(path))  # refuse a bad file before loading Pulumi
        from scripts.planning import plan_stack

        plan = plan_stack(stack_file)
        violations = check_resources(plan.resources, pack_config)
    except (ConfigError, PackConfigError) as exc:
        print(exc, file=sys.stderr)  # one problem per line, never wrapped: reviewers grep and diff these
        return EXIT_CONFIG
    except Exception as exc:  # noqa: BLE001 - the CLI turns any failure into one line and exit 1
        print(f"plan failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    seconds = time.perf_counter() - started
    out = args.out or PROJECT_ROOT / "build" / "plan" / plan.stack
    manifests = write_plan(plan, out)
    write_review(out, plan.stack, violations, plan.findings, key_lines(path.read_text(encoding="utf-8")), path)
    trust = trust_summary(plan)
    write_trust(out, trust)
    if not args.quiet:
        _print(console, plan, violations)
        for line in trust_compact(trust):  # never wrapped or cropped here: identities stay whole
            console.print(line, markup=False, soft_wrap=True)
    custom = sum(1 for r in plan.resources if r.custom)
    console.print(
        f"planned stack {plan.stack!r}: {custom} resources ({len(plan.resources)} registrations), "
        f"{len([m for m in manifests if m.parent.name == 'manifests'])} Kubernetes manifests, "
        f"{len(plan.of_type('kubernetes:helm.sh/v3:Release'))} Helm releases, "
        f"{sum(v.level == 'mandatory' for v in violations)} mandatory and "
        f"{sum(v.level == 'advisory' for v in violations)} advisory policy violations, "
        f"{len(plan.findings)} config findings in {seconds:.1f}s → {out}",
        markup=False,
    )
    return EXIT_REVIEW if fails(violations, args.fail_on) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
