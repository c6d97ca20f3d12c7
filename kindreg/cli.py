"""`python -m kindreg`: see what the program would build, without Docker or Pulumi.

Exit codes: 0 success, 1 a check failed or something outside kindreg is wrong (Docker
unreachable, ...), 2 invalid configuration or usage.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from . import artifact, cache as cache_view, doctor as doctor_view, document, hostfacts, preflight
from . import plandiff, push as push_artifact, status as status_view
from .engine import DockerCli, Engine, EngineError, label
from .errors import ConfigError
from .render import LABEL
from .text import table
from .plan import ProjectPlan, SharedPlan
from .sources import load_file, load_stack
from .stacks import Plan, plan_loaded, stacks_in

EXIT_OK, EXIT_FAIL, EXIT_CONFIG = 0, 1, 2

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(name: str, help_text: str, args: Callable[[argparse.ArgumentParser], None] = lambda p: None):
    def register(fn: Command) -> Command:
        COMMANDS[name] = (fn, args, help_text)
        return fn
    return register


def _target_args(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group()
    which.add_argument("--stack", help="read Pulumi.STACK.yaml")
    which.add_argument("--file", type=Path, help="read a lok8s cluster file (kind: Lo)")
    p.add_argument("--project-dir", type=Path, default=Path("."),
                   help="directory holding Pulumi.yaml and the stack files (default: .)")


def _plan_args(p: argparse.ArgumentParser) -> None:
    _target_args(p)
    p.add_argument("--all", action="store_true", help="every stack in the directory (JSON: kindreg/plans/v1)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON (kindreg/plan/v1)")


def _plan_for(args: argparse.Namespace, stack: Optional[str] = None) -> Plan:
    if args.file is not None:
        loaded = load_file(args.file)
    else:
        loaded = load_stack(args.project_dir, stack or args.stack)
    return plan_loaded(loaded, args.project_dir)


@command("validate", "check stack configuration; exit 2 listing every problem", _target_args)
def validate(args: argparse.Namespace) -> int:
    targets = [args.stack] if args.stack or args.file else stacks_in(args.project_dir)
    if not targets:
        print(f"no Pulumi.<stack>.yaml in {args.project_dir.resolve()}", file=sys.stderr)
        return EXIT_CONFIG
    failed = False
    for stack in targets:
        try:
            plan = _plan_for(args, stack)
        except ConfigError as err:
            print(err.render(), file=sys.stderr)
            failed = True
            continue
        print(summary(plan))
    return EXIT_CONFIG if failed else EXIT_OK


@command("plan", "print every network, registry, address and file the stack would have", _plan_args)
def plan(args: argparse.Namespace) -> int:
    if args.all:
        plans = {s: _plan_for(args, s) for s in stacks_in(args.project_dir)}
        if args.json:
            stacks = {s: document.plan_document(p) for s, p in plans.items()}
            print(json.dumps({"format": plandiff.ALL_FORMAT, "stacks": stacks}, indent=2))
        else:
            print("\n\n".join(describe(p) for p in plans.values()))
        return EXIT_OK
    if not (args.stack or args.file):
        print("plan needs --stack NAME, --file PATH or --all", file=sys.stderr)
        return EXIT_CONFIG
    result = _plan_for(args)
    if args.json:
        print(json.dumps(document.plan_document(result), indent=2))
    else:
        print(describe(result))
    return EXIT_OK


def _local_ca() -> Optional[str]:
    """mkcert's rootCA.pem on this machine, if its CA exists."""
    return preflight.ca_file(lambda: hostfacts.mkcert_caroot(os.environ), os.path.exists)


# The engine the day-two commands read; tests substitute a fake.
ENGINE: Callable[[], Engine] = DockerCli


def _json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


@command("status", "show kindreg's registries and nodes, read from the Docker engine", _json_arg)
def status(args: argparse.Namespace) -> int:
    try:
        found = status_view.collect(ENGINE())
    except EngineError as err:
        print(f"kindreg status: {err}", file=sys.stderr)
        return EXIT_FAIL
    print(json.dumps(found.to_json(), indent=2) if args.json else status_view.render_table(found))
    return EXIT_OK


def _doctor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", help="check Pulumi.STACK.yaml (default: every stack in the directory)")
    p.add_argument("--project-dir", type=Path, default=Path("."))


@command("doctor", "check this machine and the engine against the stacks; exit 0 only if all pass", _doctor_args)
def doctor(args: argparse.Namespace) -> int:
    stacks = [args.stack] if args.stack else stacks_in(args.project_dir)
    plans = []
    for stack in stacks:
        loaded = load_stack(args.project_dir, stack)
        plans.append((plan_loaded(loaded, args.project_dir), loaded.prefix))
    facts = doctor_view.HostFacts(
        which=shutil.which,
        ca_file=_local_ca,
        trusted=hostfacts.ca_trusted, port_free=hostfacts.port_free)
    passed, report = doctor_view.run(plans, ENGINE(), facts)
    print(report)
    return EXIT_OK if passed else EXIT_FAIL


def _diff_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("old", type=Path, metavar="OLD.json")
    p.add_argument("new", type=Path, metavar="NEW.json")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when the plans differ")


@command("diff", "compare two plan --json documents: registries added, removed, changed", _diff_args)
def diff(args: argparse.Namespace) -> int:
    try:
        docs = [json.loads(path.read_text()) for path in (args.old, args.new)]
        changed, report = plandiff.diff(*docs)
    except (OSError, ValueError) as err:
        print(f"diff: {err}", file=sys.stderr)
        return EXIT_CONFIG
    print(report)
    return EXIT_FAIL if changed and args.exit_code else EXIT_OK


def _cache_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", required=True, help="the project stack whose cache registry receives the images")
    p.add_argument("--parallel", type=int, default=1, metavar="N", help="copy N images at once")
    p.add_argument("--insecure-source", action="store_true",
                   help="source registries serve plain HTTP or an untrusted certificate")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="e.g. ghcr.io/org/app:1.2")


@command("cache", "copy images, with this host's credentials, into a project's cache registry", _cache_args)
def cache(args: argparse.Namespace) -> int:
    try:
        engine = ENGINE()
        engine.ping()
        registry = cache_registry(engine, args.stack)
    except EngineError as err:
        print(f"kindreg cache: {err}", file=sys.stderr)
        return EXIT_FAIL
    if registry is None:
        print(f"kindreg cache: no running cache registry for stack {args.stack} on this Docker engine; "
              f"run `pulumi up -s {args.stack}` first", file=sys.stderr)
        return EXIT_FAIL
    host, tls = registry
    ca = _local_ca() if tls else None
    print(f"caching {len(args.images)} image(s) in {host} (stack {args.stack}'s cache registry)")
    results = cache_view.cache_images(args.images, host, tls, COPIER(ca), args.parallel, args.insecure_source)
    print(cache_view.summary(results))
    return EXIT_FAIL if any(r.outcome == "failed" for r in results) else EXIT_OK


# The copy client `cache` uses; tests substitute a fake.
COPIER: Callable[[Optional[str]], "cache_view.Copier"] = cache_view.Skopeo


def cache_registry(engine: Engine, stack: str) -> Optional[tuple[str, bool]]:
    """(address, tls) of the stack's running cache registry, from the labels kindreg sets."""
    for c in engine.containers():
        if (label(c, f"{LABEL}role"), label(c, f"{LABEL}stack")) == ("cache", stack) and \
                (c.get("State") or {}).get("Running"):
            return label(c, f"{LABEL}ip") or "", label(c, f"{LABEL}scheme") == "https"
    return None


def _push_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("where", nargs="*", metavar="[DIR] [oci://REF]",
                   help="manifests directory (default: workload.path, k8s) and target reference")
    p.add_argument("--stack", help="project stack: its workload config and build registry")
    p.add_argument("--registry", help="registry/repository[:tag] when no oci:// reference is given "
                                      "(also KINDREG_REGISTRY)")
    p.add_argument("--plain-http", action="store_true", help="the target registry serves plain HTTP")
    p.add_argument("--project-dir", type=Path, default=Path("."))


@command("push", "package a manifests directory as a Flux OCI artifact and push it", _push_args)
def push(args: argparse.Namespace) -> int:
    refs = [w for w in args.where if w.startswith("oci://")]
    dirs = [w for w in args.where if not w.startswith("oci://")]
    if len(refs) > 1 or len(dirs) > 1:
        print("push takes at most one directory and one oci:// reference", file=sys.stderr)
        return EXIT_CONFIG
    loaded = load_stack(args.project_dir, args.stack) if args.stack else None
    if loaded is not None and loaded.role != "project":
        print(f"push: stack {args.stack} is the shared mirrors stack; give a project stack", file=sys.stderr)
        return EXIT_CONFIG
    plan = plan_loaded(loaded, args.project_dir) if loaded else None
    workload = loaded.config.workload if loaded else None
    directory = Path(dirs[0]) if dirs else args.project_dir / (workload.path if workload else "k8s")
    if not directory.is_dir():
        print(f"push: {directory} is not a directory of manifests", file=sys.stderr)
        return EXIT_CONFIG
    build = artifact.build_registry_from_host(plan) if plan else None
    try:
        target = artifact.resolve(refs[0] if refs else None, args.registry or os.environ.get("KINDREG_REGISTRY"),
                                  workload.registry if workload else None, workload.tag if workload else None, build)
    except ValueError as err:
        print(f"push: {err}", file=sys.stderr)
        return EXIT_CONFIG
    own = plan is not None and target.registry == build
    tls = plan.build.tls if own else not args.plain_http
    ca = _local_ca() if own and tls else None
    try:
        manifest = push_artifact.push(directory, target, tls, ca)
    except push_artifact.PushError as err:
        print(f"push: {err}", file=sys.stderr)
        return EXIT_FAIL
    files = sum(1 for p in directory.rglob("*") if p.is_file())
    print(f"pushed {directory} ({files} files) to {target.reference} (registry from {target.from_where})")
    print(f"manifest {manifest}")
    if own:
        print(f"Flux reconciles it from oci://lok8s.local/{target.repository}:{target.tag} "
              "(apply the stack output `flux`)")
    return EXIT_OK


def summary(plan: Plan) -> str:
    tls = "tls on" if plan.tls else "tls off"
    if isinstance(plan, SharedPlan):
        ips = _span([m.ip for m in plan.mirrors])
        return (f"stack {plan.stack}: ok: shared mirrors, network {plan.network.name} "
                f"{plan.network.subnet}, {len(plan.mirrors)} mirrors {ips}, {tls}")
    via = (f"via shared stack {plan.shared.stack} {_span([m.ip for m in plan.mirrors])}"
           if plan.shared else f"of its own {_span([m.ip for m in plan.mirrors])}")
    return (f"stack {plan.stack}: ok: project {plan.project}, network {plan.network.name} "
            f"{plan.network.subnet}, build {plan.build.ip}, cache {plan.cache.ip}, "
            f"{len(plan.mirrors)} mirrors {via}, {tls}")


def _span(ips: list[str]) -> str:
    if not ips:
        return "(none)"
    return ips[0] if len(ips) == 1 else f"{ips[0]}-.{ips[-1].rsplit('.', 1)[1]}"


def describe(plan: Plan) -> str:
    lines = [summary(plan), "", "networks:"]
    nets = [plan.network]
    if isinstance(plan, ProjectPlan) and plan.shared:
        nets.append(plan.shared.network)
    for n in nets:
        lines.append(f"  {n.name:<20} {n.subnet:<18} scope {n.scope:<8} nodes {n.ip_range:<18} "
                     f"bridge {n.bridge}")
    lines += ["", "registries:"]
    rows = [("ROLE", "NAME", "CONTAINER", "IP", "URL", "HOST", "UPSTREAM")]
    regs = plan.registries if isinstance(plan, SharedPlan) else plan.endpoints
    rows += [(r.role, r.name, r.container, r.ip, r.url, r.host, r.upstream or "-") for r in regs]
    lines += table(rows)
    if isinstance(plan, ProjectPlan):
        nodes = ", ".join(plan.nodes.names) or "(no kind cluster)"
        lines += ["", f"kind nodes: {nodes}", f"containerd certs.d tree: {plan.certs_dir}"]
    if plan.tls:
        lines.append(f"certificate SANs: {', '.join(plan.san)}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kindreg", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, add_args, help_text) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command][0](args)
    except ConfigError as err:
        print(err.render(), file=sys.stderr)
        return EXIT_CONFIG
