"""kindreg: registries for kind clusters, from the command line.

up, preview and down run the stacks through the Pulumi engine; status, doctor, cache and push
talk to the Docker engine; validate, plan and diff read files only.

Argument parsing and printing only: the work is in `kindreg.ops` (which uses the pure core
and the adapters). Exit codes: 0 success, 1 a check failed or something outside kindreg is
wrong (Docker unreachable, ...), 2 invalid configuration or usage.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from .adapters import host as host_facts
from .adapters import oras, skopeo
from .adapters.engine import DockerCli, Engine, EngineError
from .adapters.mkcert import LocalCA, ca_in_bundle
from .adapters.reach import HostRoutes
from .core import crossstack, document, plandiff
from .core.describe import describe, summary
from .core.document import PlanDocumentError
from .core.errors import ConfigError, problem
from .core.stacks import Plan
from .adapters import pulumi as pulumi_engine
from .core.vocabulary import Role
from .core.cachearchive import ArchiveError
from .core.quantity import QuantityError, duration_seconds, human_bytes, size_bytes
from .ops import archive as archive_op, cache as cache_op, doctor as doctor_op, lifecycle, project, prune as prune_op
from .ops import push as push_op
from .ops import reconcile, routes
from .ops import status as status_op
from .ops import interrupt

EXIT_OK, EXIT_FAIL, EXIT_CONFIG = 0, 1, 2
PROJECT_DIR_ENV = "KINDREG_PROJECT_DIR"

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str]] = {}

# The outside world the day-two commands use; tests substitute fakes.
ENGINE: Callable[[], Engine] = DockerCli
REMOTE_ENGINE: Callable[[str], Engine] = lambda host: DockerCli(host=host)


def engine_for(project_dir: Path, stacks: Sequence[str]) -> Engine:
    """The engine the stacks live on: their `docker:host`, else DOCKER_HOST or Docker's default."""
    hosts = sorted({h for h in (project.docker_host(project_dir, s) for s in stacks)} - {None})
    if len(hosts) > 1:
        raise ConfigError("the stacks", [problem("docker:host", f"differs between the stacks ({', '.join(hosts)}): they live "
                                              "on different engines; name one with --stack")])
    if hosts and any(project.docker_host(project_dir, s) is None for s in stacks):
        raise ConfigError("the stacks", [problem("docker:host", f"is {hosts[0]} for some stacks and the default engine for "
                                              "others; name one with --stack")])
    return REMOTE_ENGINE(hosts[0]) if hosts else ENGINE()
# How this host reaches the registries of an engine (container addresses or published ports).
ROUTES: Callable[[Engine], HostRoutes] = lambda engine: HostRoutes(engine.endpoint())
COPIER: Callable[[Optional[str]], skopeo.Copier] = skopeo.Skopeo
PUSH: Callable = oras.push


def pulumi_stacks(project_dir: Path) -> lifecycle.Stacks:
    """The Pulumi engine for the stacks of `project_dir`: the CLI, its passphrase, the backend
    Pulumi.yaml names (or PULUMI_BACKEND_URL)."""
    env = dict(os.environ)
    extra, note = pulumi_engine.passphrase(env)
    for message in (note, pulumi_engine.ensure_backend(project_dir, env)):
        if message:
            print(message)
    return pulumi_engine.Engine(project_dir, {**env, **extra}, find_cli=lambda: pulumi_engine.command(env))


STACKS: Callable[[Path], lifecycle.Stacks] = pulumi_stacks
DEFAULT_STACK = "dev"


def machine_for(project_dir: Path, stacks: Sequence[str]) -> reconcile.Machine:
    """What is around the stacks: their Docker engine and this host."""
    return reconcile.Machine(engine_for(project_dir, stacks), project_dir, dict(os.environ))


MACHINE: Callable[[Path, Sequence[str]], reconcile.Machine] = machine_for


def recorded_of(project_dir: Path) -> Callable[[str], object]:
    """What each stack's state records, read from a file backend without running anything;
    for other backends nothing is assumed (a stack counts as up when its network exists)."""
    from .core.world import Recorded
    files = pulumi_engine.StateFiles.of(project_dir, os.environ)
    return files.recorded if files else (lambda name: Recorded(read=False))


def command(name: str, help_text: str, args: Callable[[argparse.ArgumentParser], None] = lambda p: None):
    def register(fn: Command) -> Command:
        COMMANDS[name] = (fn, args, help_text)
        return fn
    return register


def fail(message: str, code: int = EXIT_FAIL) -> int:
    print(message, file=sys.stderr)
    return code


def local_ca() -> LocalCA:
    return LocalCA(os.environ)


def _project_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project-dir", type=Path, default=Path(os.environ.get(PROJECT_DIR_ENV, ".")),
                   help=f"directory holding Pulumi.yaml and the stack files (default: ${PROJECT_DIR_ENV}, "
                        "which ./kindreg sets to its checkout, else .)")


def _target_args(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group()
    which.add_argument("--stack", help="read Pulumi.STACK.yaml")
    which.add_argument("--file", type=Path, help="read a lok8s cluster file (kind: Lo)")
    _project_dir(p)


def _plan_args(p: argparse.ArgumentParser) -> None:
    _target_args(p)
    p.add_argument("--all", action="store_true", help="every stack in the directory (JSON: kindreg/plans/v1)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON (kindreg/plan/v1)")


def _load_for(args: argparse.Namespace, stack: Optional[str] = None):
    if args.file is not None:
        return project.load_file(args.file)
    return project.load(args.project_dir, stack or args.stack)


def _plan_for(args: argparse.Namespace, stack: Optional[str] = None) -> Plan:
    return project.plan_of(_load_for(args, stack), args.project_dir)


def _stack_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", default=DEFAULT_STACK,
                   help=f"the stack, Pulumi.STACK.yaml (default: {DEFAULT_STACK})")
    _project_dir(p)


def _up_args(p: argparse.ArgumentParser) -> None:
    _stack_args(p)
    p.add_argument("--yes", "-y", action="store_true", help="apply without showing a preview and asking")


def _preview_args(p: argparse.ArgumentParser) -> None:
    _stack_args(p)
    p.add_argument("--diff", action="store_true", help="show every property that changes")


def _down_args(p: argparse.ArgumentParser) -> None:
    _up_args(p)
    p.add_argument("--shared", action="store_true",
                   help="also destroy the shared mirrors stack (refused while other projects use it)")


def _ask(question: str) -> bool:
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _confirm(args: argparse.Namespace) -> lifecycle.Confirm:
    if args.yes:
        return None
    if not sys.stdin.isatty():
        raise ConfigError(f"kindreg {args.command}", [problem(
            "--yes", "is needed when input is not a terminal (nobody can answer the question); pass "
            "--yes, or run it in a terminal to see the preview and answer")])
    return _ask


def _lifecycle(args: argparse.Namespace, run: Callable[[lifecycle.Stacks, lifecycle.Target, reconcile.Machine], None]) -> int:
    """Validate first (exit 2, nothing touched), then hand the stacks to the engine. Ctrl-C once
    lets the engine finish the steps under way and save the state; the message says how to go on."""
    target = lifecycle.target(args.project_dir, args.stack)
    resume = f"run `kindreg {args.command} --stack {args.stack}` to go on"
    with interrupt.graceful(print) as stop:
        try:
            run(STACKS(args.project_dir), target, MACHINE(args.project_dir, [target.stack]))
        except pulumi_engine.PulumiUnavailable as err:
            return fail(f"kindreg {args.command}: {err}")
        except pulumi_engine.RunFailed as err:
            if stop.requested:
                return fail(f"kindreg {args.command}: stopped by an interrupt; the engine finished the steps under "
                            f"way and saved the stacks' state; {resume}")
            return fail(f"kindreg {args.command}: the engine reported an error:\n{err}")
        except (lifecycle.Refused, lifecycle.Cancelled, lifecycle.NotVerified, EngineError) as err:
            return fail(f"kindreg {args.command}: {err}")
        except KeyboardInterrupt:
            return fail(f"kindreg {args.command}: stopped at once (second interrupt); the next `kindreg "
                        f"{args.command}` resolves what was under way; {resume}", 130)
    return EXIT_OK


@command("up", "create or update a project's registries and cluster, shared mirrors first", _up_args)
def up(args: argparse.Namespace) -> int:
    confirm = _confirm(args)
    return _lifecycle(args, lambda stacks, t, machine: lifecycle.up(stacks, t, confirm, print, machine))


@command("preview", "show what up would change, shared mirrors first", _preview_args)
def preview(args: argparse.Namespace) -> int:
    return _lifecycle(args, lambda stacks, t, machine: lifecycle.preview(stacks, t, args.diff, print, machine))


@command("down", "destroy a project's registries and cluster (--shared: the shared mirrors too)", _down_args)
def down(args: argparse.Namespace) -> int:
    confirm = _confirm(args)
    return _lifecycle(args, lambda stacks, t, machine: lifecycle.down(
        stacks, t, args.shared, lambda: engine_for(args.project_dir, [t.shared or t.stack]), confirm, print))


@command("validate", "check stack configuration; exit 2 listing every problem", _target_args)
def validate(args: argparse.Namespace) -> int:
    targets = [args.stack] if args.stack or args.file else project.names(args.project_dir)
    if not targets:
        return fail(f"no Pulumi.<stack>.yaml in {args.project_dir.resolve()}", EXIT_CONFIG)
    failed, plans = False, []
    for stack in targets:
        try:
            loaded = _load_for(args, stack)
            plans.append(project.plan_of(loaded, args.project_dir))
        except ConfigError as err:
            print(err.render(), file=sys.stderr)
            failed = True
            continue
        print(summary(plans[-1]))
        if getattr(loaded, "left_to_lok8s", ()):
            print(f"  left to lok8s (kindreg does not manage them): {', '.join(loaded.left_to_lok8s)}")
    if len(targets) > 1 and (clashes := crossstack.conflicts(plans)):
        print(ConfigError(f"the stacks of {args.project_dir}", clashes).render(), file=sys.stderr)
        failed = True
    return EXIT_CONFIG if failed else EXIT_OK


@command("plan", "print every network, registry, address and file the stack would have", _plan_args)
def plan(args: argparse.Namespace) -> int:
    if args.all and (args.stack or args.file):
        return fail("plan: --all plans every stack of the directory and cannot be combined with --stack or "
                    "--file; drop one of them", EXIT_CONFIG)
    if args.all:
        plans = {s: _plan_for(args, s) for s in project.names(args.project_dir)}
        if args.json:
            print(json.dumps(document.all_plans_document(plans), indent=2))
        else:
            print("\n\n".join(describe(p) for p in plans.values()))
        return EXIT_OK
    if not (args.stack or args.file):
        return fail("plan needs --stack NAME, --file PATH or --all", EXIT_CONFIG)
    result = _plan_for(args)
    print(json.dumps(document.plan_document(result), indent=2) if args.json else describe(result))
    return EXIT_OK


def _status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--stack", help="read the engine of this stack (its docker:host); default: the directory's stacks")
    _project_dir(p)


@command("status", "show kindreg's registries and nodes, read from the Docker engine; exit 1 when "
                   "something of a stack that is up is missing, stopped or unhealthy", _status_args)
def status(args: argparse.Namespace) -> int:
    stacks = [args.stack] if args.stack else project.names(args.project_dir)
    try:
        engine = engine_for(args.project_dir, stacks)
        found = status_op.collect(engine, ROUTES(engine))
        problems = _verdict(args.project_dir, stacks, engine)
    except EngineError as err:
        return fail(f"kindreg status: {err}")
    if args.json:
        print(json.dumps({**found.to_json(), "verdict": status_op.verdict_json(problems)}, indent=2))
    else:
        print(status_op.render_table(found))
        print(status_op.render_verdict(problems))
    return EXIT_FAIL if any(problems.values()) else EXIT_OK


def _verdict(project_dir: Path, stacks: Sequence[str], engine: Engine) -> dict:
    """stack -> what differs from its plan, for the stacks that are up and plan."""
    plans = []
    for stack in stacks:
        try:
            plans.append(project.plan(project_dir, stack))
        except ConfigError:
            continue  # `kindreg validate` says what is wrong with it
    machine = reconcile.Machine(engine, project_dir, dict(os.environ))
    return reconcile.verdict(machine, plans, recorded_of(project_dir))


def _doctor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", help="check Pulumi.STACK.yaml (default: every stack in the directory)")
    _project_dir(p)


@command("doctor", "check this machine and the engine against the stacks; exit 0 only if all pass", _doctor_args)
def doctor(args: argparse.Namespace) -> int:
    stacks = [args.stack] if args.stack else project.names(args.project_dir)
    plans = []
    for stack in stacks:
        loaded = project.load(args.project_dir, stack)
        plans.append((project.plan_of(loaded, args.project_dir), loaded.prefix))
    facts = doctor_op.HostFacts(which=shutil.which, ca_file=local_ca().file, trusted=ca_in_bundle,
                                port_free=host_facts.port_free,
                                pulumi=lambda: pulumi_engine.installed(os.environ))
    engine = engine_for(args.project_dir, stacks)
    try:
        problems = _verdict(args.project_dir, stacks, engine)
    except EngineError:
        problems = {}  # the report says the engine cannot be reached
    passed, report = doctor_op.run(plans, engine, facts, verdict=problems)
    print(report)
    return EXIT_OK if passed else EXIT_FAIL


def _diff_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("old", type=Path, metavar="OLD.json")
    p.add_argument("new", type=Path, metavar="NEW.json")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when the plans differ")


@command("diff", "compare two plan --json documents: registries added, removed, changed", _diff_args)
def diff(args: argparse.Namespace) -> int:
    try:
        docs = [_json_file(path) for path in (args.old, args.new)]
        changed, report = plandiff.diff(*docs, where=(str(args.old), str(args.new)))
    except (OSError, ValueError, PlanDocumentError) as err:
        return fail(f"diff: {err}", EXIT_CONFIG)
    print(report)
    return EXIT_FAIL if changed and args.exit_code else EXIT_OK


def _json_file(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a JSON plan document ({err}); make one with "
                         "`kindreg plan --all --json > FILE`") from None
    except OSError as err:
        raise ValueError(f"{path}: {err.strerror or err}") from None


CACHE_ACTIONS = ("add", "prune", "save", "restore")


def _cache_args(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="cache_action", required=True, metavar="{" + ",".join(CACHE_ACTIONS) + "}")
    add = actions.add_parser("add", help="copy images, with this host's credentials, into a project's cache "
                                         "registry (the default: `kindreg cache --stack S IMAGE...`)")
    add.add_argument("--stack", required=True, help="the project stack whose cache registry receives the images")
    add.add_argument("--parallel", type=int, default=1, metavar="N", help="copy N images at once")
    add.add_argument("--insecure-source", action="store_true",
                     help="source registries serve plain HTTP or an untrusted certificate")
    add.add_argument("images", nargs="+", metavar="IMAGE", help="e.g. ghcr.io/org/app:1.2")
    _project_dir(add)
    prune = actions.add_parser(
        "prune", help="free mirror disk now: remove whole images not read lately or past a size, keep every "
                      "layer a kept image uses; each mirror pauses briefly (nodes pull upstream meanwhile)")
    prune.add_argument("--stack", help="only the mirrors this stack owns (default: every stack's)")
    prune.add_argument("--older-than", metavar="DURATION",
                       help="remove images not read for this long, e.g. 7d or 36h (default: each mirror's ttl)")
    prune.add_argument("--max-size", metavar="SIZE",
                       help="then remove the least recently read until each mirror uses at most SIZE, e.g. 20GiB")
    prune.add_argument("--dry-run", action="store_true", help="print what would go and what stays; change nothing")
    _project_dir(prune)
    save = actions.add_parser("save", help="write every mirror's content into one archive FILE (gzip tar with a "
                                           "manifest), e.g. to warm a CI runner; the mirrors keep serving")
    save.add_argument("file", type=Path, metavar="FILE")
    save.add_argument("--stack", help="only the mirrors this stack owns (default: every stack's)")
    _project_dir(save)
    restore = actions.add_parser("restore", help="load an archive from `cache save` into the mirrors, up or not yet "
                                                 "up; checks every digest first, refuses a damaged archive")
    restore.add_argument("file", type=Path, metavar="FILE")
    restore.add_argument("--stack", help="only the mirrors this stack owns (default: every stack's)")
    _project_dir(restore)


def cache_shorthand(argv: Sequence[str]) -> list[str]:
    """`kindreg cache --stack S IMAGE...` (the form before subcommands) means `cache add`."""
    argv = list(argv)
    if argv[:1] == ["cache"] and len(argv) > 1 and argv[1] not in (*CACHE_ACTIONS, "-h", "--help"):
        argv.insert(1, "add")
    return argv


@command("cache", "the images kindreg keeps: add to a project's cache registry; prune, save and restore the "
                  "mirrors", _cache_args)
def cache(args: argparse.Namespace) -> int:
    return {"prune": cache_prune, "save": cache_save, "restore": cache_restore}.get(args.cache_action, cache_add)(args)


def _reached(project_dir: Path, stacks: Sequence[str]) -> Engine:
    """The stacks' engine, asked once: EngineError when it does not answer."""
    engine = engine_for(project_dir, stacks)
    engine.ping()
    return engine


def _report(results: Sequence) -> int:
    """One line per mirror (`mirror`, `done`, `detail`); exit 0 only when every one is done."""
    for r in results:
        print(f"{r.mirror}: {'ok' if r.done else 'FAILED'}: {r.detail}")
    return EXIT_OK if all(r.done for r in results) else EXIT_FAIL


def cache_add(args: argparse.Namespace) -> int:
    try:
        engine = _reached(args.project_dir, [args.stack])
        registry = cache_op.cache_registry(engine, args.stack, ROUTES(engine))
    except EngineError as err:
        return fail(f"kindreg cache: {err}")
    if registry is None:
        return fail(f"kindreg cache: no running cache registry for stack {args.stack} on this Docker engine; "
                    f"run `pulumi up -s {args.stack}` first")
    host, tls = registry
    ca = local_ca().file() if tls else None
    print(f"caching {len(args.images)} image(s) in {host} (stack {args.stack}'s cache registry)")
    results = cache_op.cache_images(args.images, host, tls, COPIER(ca), args.parallel, args.insecure_source)
    print(cache_op.summary(results))
    return EXIT_FAIL if any(r.outcome == "failed" for r in results) else EXIT_OK


def _quantity(flag: str, text: Optional[str], parse: Callable[[str], float]) -> tuple[Optional[float], list]:
    if text is None:
        return None, []
    try:
        return parse(text), []
    except QuantityError as err:
        return None, [problem(flag, str(err), text)]


def _stack_problems(args: argparse.Namespace) -> list:
    names = project.names(args.project_dir)
    if args.stack is not None and args.stack not in names:
        return [problem("--stack", f"is not a stack of {args.project_dir} (stacks: {', '.join(names)}); "
                                   "name one of them", args.stack)]
    return []


def _mirror_targets(args: argparse.Namespace) -> tuple[list[str], list]:
    """The stacks the command acts on, and the mirrors they own (ConfigError when there are none)."""
    names = project.names(args.project_dir)
    stacks = [args.stack] if args.stack else names
    found = prune_op.targets([project.plan(args.project_dir, s) for s in names], args.stack)
    on_s3 = [t for t in found if t.plan.s3]
    found = [t for t in found if not t.plan.s3]
    if on_s3 and not found:
        raise ConfigError(f"kindreg cache {args.cache_action}", [problem(
            "--stack" if args.stack else "--project-dir", f"{' and '.join(stacks)}: the mirrors store on "
            f"s3://{on_s3[0].plan.s3.bucket} (storage.s3), not in volumes of this machine; the cache commands "
            "work on volumes: bound and expire the bucket with the store's own lifecycle rules")])
    if on_s3:
        print(f"not in a volume, left alone: {', '.join(t.plan.container for t in on_s3)} (storage.s3)")
    if not found:
        raise ConfigError(f"kindreg cache {args.cache_action}", [problem(
            "--stack" if args.stack else "--project-dir", f"{' and '.join(stacks) or 'no stack'} own(s) no mirrors; "
            "name a stack that has some (the shared stack, or a project with its own)")])
    return stacks, found


def _owners_locked(args: argparse.Namespace, found: Sequence) -> contextlib.ExitStack:
    """The locks `up` and `down` take, on every stack owning one of the mirrors: a prune or a
    restore never runs while the engine changes those containers (and waits, saying so)."""
    locks = contextlib.ExitStack()
    for owner in sorted({t.plan.owner for t in found}):
        locks.enter_context(pulumi_engine.stack_lock(args.project_dir, os.environ, owner, print))
    return locks


def cache_prune(args: argparse.Namespace) -> int:
    older, bad_age = _quantity("--older-than", args.older_than, duration_seconds)
    most, bad_size = _quantity("--max-size", args.max_size, size_bytes)
    bad = bad_age + bad_size + _stack_problems(args)
    if bad:
        raise ConfigError("kindreg cache prune", bad)
    stacks, found = _mirror_targets(args)
    if older is None and most is None and not any(t.default_age for t in found):
        print("no --older-than, --max-size or mirror ttl: only broken revisions are removed")
    try:
        engine = _reached(args.project_dir, stacks)
        with _owners_locked(args, found):
            results = prune_op.prune(engine, found, lambda t: prune_op.policy(t, older, most), args.dry_run)
    except EngineError as err:
        return fail(f"kindreg cache prune: {err}")
    return _report(results)


def cache_save(args: argparse.Namespace) -> int:
    bad = _stack_problems(args)
    if not args.file.parent.is_dir():
        bad.append(problem("FILE", f"is in {args.file.parent}, which is not a directory; create it or name another "
                                   "place", str(args.file)))
    if bad:
        raise ConfigError("kindreg cache save", bad)
    stacks, found = _mirror_targets(args)
    try:
        saved = archive_op.save(_reached(args.project_dir, stacks), found, args.file)
    except EngineError as err:
        return fail(f"kindreg cache save: {err}; {args.file} is unchanged")
    images = sum(len(e.images) for e in saved.manifest.mirrors.values())
    print(f"saved {images} image(s) of {len(saved.manifest.mirrors)} mirror(s) in {saved.path} "
          f"({human_bytes(saved.size)}); restore with `kindreg cache restore {saved.path}`")
    return EXIT_OK


def cache_restore(args: argparse.Namespace) -> int:
    bad = _stack_problems(args)
    if bad:
        raise ConfigError("kindreg cache restore", bad)
    stacks, found = _mirror_targets(args)
    try:
        manifest = archive_op.verify(args.file)
        engine = _reached(args.project_dir, stacks)
    except ArchiveError as err:
        return fail(f"kindreg cache restore: {args.file} {err}; nothing was changed", EXIT_CONFIG)
    except EngineError as err:
        return fail(f"kindreg cache restore: {err}; nothing was changed")
    try:
        with _owners_locked(args, found):
            results = archive_op.restore(engine, found, args.file, manifest)
    except ArchiveError as err:  # the file changed since it was checked
        return fail(f"kindreg cache restore: {args.file} {err}; nothing was placed", EXIT_CONFIG)
    except EngineError as err:
        return fail(f"kindreg cache restore: {err}; run it again to finish (what is placed is whole)")
    return _report(results)


def _push_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("where", nargs="*", metavar="[DIR] [oci://REF]",
                   help="manifests directory (default: workload.path, k8s) and target reference")
    p.add_argument("--stack", help="project stack: its workload config and build registry")
    p.add_argument("--registry", help="registry/repository[:tag] when no oci:// reference is given "
                                      "(also KINDREG_REGISTRY)")
    p.add_argument("--plain-http", action="store_true", help="the target registry serves plain HTTP")
    _project_dir(p)


@command("push", "package a manifests directory as a Flux OCI artifact and push it", _push_args)
def push(args: argparse.Namespace) -> int:
    try:
        job = push_op.prepare(args.where, args.stack, args.registry or os.environ.get("KINDREG_REGISTRY"),
                              args.plain_http, args.project_dir, local_ca(), _locate_build(args.project_dir))
        manifest = push_op.run(job, PUSH, secret_config=lambda stack, key: STACKS(args.project_dir).config_object(
            stack, key))
    except push_op.PushUsage as err:
        return fail(f"push: {err}", EXIT_CONFIG)
    except (oras.PushError, pulumi_engine.PulumiUnavailable, pulumi_engine.RunFailed, EngineError) as err:
        return fail(f"push: {err}")
    files = len(push_op.files.manifest_files(job.directory))
    print(f"pushed {job.directory} ({files} files) to {job.target.reference} (registry from {job.target.from_where})")
    print(f"manifest {manifest}")
    if job.own:
        print(f"Flux reconciles it from {job.flux_source} (apply the stack output `flux`)")
    return EXIT_OK


def _locate_build(project_dir: Path) -> push_op.Locate:
    """Where this host reaches a stack's running build registry; None when the engine cannot be
    asked or none runs (the push then goes to the planned address and says what failed)."""
    def locate(plan) -> Optional[str]:
        engine = engine_for(project_dir, [plan.stack])
        try:
            engine.ping()
        except EngineError:
            return None
        found = routes.route_to(engine, ROUTES(engine), plan.stack, Role.BUILD)
        return found[0].address if found else None
    return locate


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="kindreg", description="\n".join(__doc__.split("\n")[:4]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, add_args, help_text) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(cache_shorthand(sys.argv[1:] if argv is None else argv))
    try:
        return COMMANDS[args.command][0](args)
    except ConfigError as err:
        return fail(err.render(), EXIT_CONFIG)
