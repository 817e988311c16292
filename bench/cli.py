"""``python -m bench``: run the selected workloads against each target in turn, print the table."""

from __future__ import annotations

import argparse
import datetime
import shlex
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bench.cpu import CpuAccount
from bench.errors import BenchError
from bench.machine import describe
from bench.payload import BlobSource
from bench.plan import FULL, QUICK, Plan
from bench.report import Results, render
from bench.rows import Workload
from bench.session import Session
from bench.targets import (
    DISTRIBUTION_BINARY,
    DOCKYARD_COMMAND,
    PRIVATE_PROJECT,
    TargetCommands,
    launch,
)
from bench.workloads import WORKLOADS, paired

TARGETS = ("dockyard", "distribution")
_BUSY_PERCENT = 5.0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 1 if any row failed."""
    args = _parser().parse_args(argv)
    if args.list:
        for workload in WORKLOADS:
            print(f"{workload.id:16} {workload.summary}")
        return 0
    try:
        workloads = _select(args.only)
        targets = _targets(args.targets)
    except ValueError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    if "{port}" not in args.dockyard_cmd or "{data_dir}" not in args.dockyard_cmd:
        print("bench: --dockyard-cmd must contain {port} and {data_dir}", file=sys.stderr)
        return 2
    if "serve" not in shlex.split(args.dockyard_cmd):
        print("bench: --dockyard-cmd must run 'dockyard serve'", file=sys.stderr)
        return 2
    plan = replace(QUICK if args.quick else FULL, wrk_threads=args.wrk_threads)
    missing = _missing_tools(args, targets)
    if missing:
        print(f"bench: not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    commands = TargetCommands(args.dockyard_cmd, args.distribution_bin)
    workdir = Path(args.work_dir or tempfile.gettempdir())
    machine = describe(args.distribution_bin, args.wrk, workdir)
    results = Results(list(targets), [row for w in workloads for row in w.rows(plan)])
    source = BlobSource()
    for target in targets:
        _run_target(target, commands, workloads, plan, source, workdir, args.wrk, results)
    markdown = render(results, machine, _notes(args, targets))
    print(markdown, end="")
    if args.markdown_out:
        Path(args.markdown_out).write_text(markdown)
        print(f"bench: wrote {args.markdown_out}", file=sys.stderr)
    return 1 if results.failed else 0


def _run_target(
    target: str,
    commands: TargetCommands,
    workloads: Sequence[Workload],
    plan: Plan,
    source: BlobSource,
    workdir: Path,
    wrk: str,
    results: Results,
) -> None:
    """Start one registry in a fresh directory, run every workload, stop it."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{target}-", dir=workdir) as tmp:
        process = launch(target, commands, Path(tmp))
        session = Session(process, plan, source, Path(tmp), wrk)
        session.say(f"starting: {' '.join(process.command)}")
        try:
            process.start()
        except BenchError as error:
            session.say(f"FAILED to start: {error}")
            keys = [r.key for w in workloads if w.measures(target) for r in w.rows(plan)]
            results.fail(target, keys, str(error))
            return
        try:
            account = CpuAccount(process.pid)
            for workload in workloads:
                if workload.measures(target):
                    _run_workload(session, workload, results)
            share = results.cpu[target] = account.share()
            if share.other_percent > _BUSY_PERCENT:
                session.say(
                    f"WARNING: other processes used {share.other_percent:.0f}% of the machine "
                    "during this run; its figures are noisy"
                )
        finally:
            session.say("stopping")
            process.stop()


def _run_workload(session: Session, workload: Workload, results: Results) -> None:
    target = session.target.key
    keys = [row.key for row in workload.rows(session.plan)]
    try:
        session.target.check_alive()
        figures = workload.run(session)
    except BenchError as error:
        session.say(f"FAILED {workload.id}: {error}")
        # The data directory goes away with the run: show why the server failed now.
        session.say(f"the end of {session.target.log.name}:\n{session.target.log_tail()}")
        results.fail(target, keys, str(error).splitlines()[0])
        return
    missing = set(keys) - set(figures)
    if missing:
        raise AssertionError(f"{workload.id} did not report {sorted(missing)}")
    results.record(target, figures)


def _select(only: str | None) -> list[Workload]:
    """Workloads named by ``--only``: an id, or a prefix such as ``upload`` or ``download``."""
    if not only:
        return list(WORKLOADS)
    tokens = [token.strip() for token in only.split(",") if token.strip()]
    chosen = [
        workload
        for workload in WORKLOADS
        if any(workload.id == token or workload.id.startswith(token + "-") for token in tokens)
    ]
    unknown = [
        token
        for token in tokens
        if not any(w.id == token or w.id.startswith(token + "-") for w in WORKLOADS)
    ]
    if unknown:
        known = ", ".join(w.id for w in WORKLOADS)
        raise ValueError(f"unknown rows {', '.join(unknown)}; known: {known}")
    return chosen


def _targets(text: str) -> list[str]:
    names = {name.strip().lower() for name in text.split(",") if name.strip()}
    if "both" in names:
        names = set(TARGETS) | (names - {"both"})
    unknown = names - set(TARGETS)
    if unknown or not names:
        raise ValueError(f"--targets takes dockyard, distribution or both, not {text!r}")
    return [name for name in TARGETS if name in names]


def _missing_tools(args: argparse.Namespace, targets: Sequence[str]) -> list[str]:
    tools = [args.wrk]
    if "distribution" in targets:
        tools.append(args.distribution_bin)
    return [tool for tool in tools if shutil.which(tool) is None]


def _notes(args: argparse.Namespace, targets: Sequence[str]) -> list[str]:
    order = " then ".join(targets)
    notes = [
        f"Run {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
        + (
            " with `--quick` (smaller sizes: a smoke run, not figures to quote)."
            if args.quick
            else "."
        ),
        "",
        f"Each registry ran alone ({order}) on 127.0.0.1 with a fresh data directory on the "
        "storage above; the client ran on the same machine. MB = 10^6 bytes. The ratio is "
        "dockyard's figure over Distribution's: above 1 is better on 'higher' rows, below 1 "
        "on 'lower' rows.",
    ]
    if "dockyard" in targets:
        notes += [
            "",
            f"dockyard command: `{args.dockyard_cmd}`, with `DOCKYARD_ADMIN_PASSWORD` set and "
            f"the private project `{PRIVATE_PROJECT}` created before the start. Its requests "
            "carry a bearer token from `/service/token` (asked with the admin's Basic "
            "credentials, scope `repository:<name>:pull,push`), as docker's do, except the "
            "anonymous rows: manifest GET and blob HEAD read one repository of the public "
            "`library` project both anonymously and with a token, alternating runs of equal "
            f"length; the ratio rows are token / anonymous (target: at least "
            f"{paired.TARGET_RATIO:.2f}).",
        ]
    if "distribution" in targets:
        notes += [
            "",
            f"Distribution: `{args.distribution_bin} serve config.yml` with filesystem storage, "
            "delete enabled, log level warn, access log off, in-memory blob descriptor cache, "
            "no authentication: its token rows send no token, so its token / anonymous ratio "
            "is the run-to-run noise of two identical loads.",
        ]
    return notes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Side-by-side benchmark of dockyard and CNCF Distribution (bench/README.md).",
    )
    parser.add_argument(
        "--targets",
        default="both",
        help="dockyard, distribution or both (default), comma separated",
    )
    parser.add_argument(
        "--only",
        metavar="ROWS",
        help="comma separated workload ids or prefixes (see --list), e.g. upload,manifest-get",
    )
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--markdown-out", metavar="FILE", help="also write the report to FILE")
    parser.add_argument(
        "--dockyard-cmd",
        default=DOCKYARD_COMMAND,
        help="command template starting dockyard; {python}, {port} and {data_dir} are "
        "filled in (default: %(default)s)",
    )
    parser.add_argument(
        "--distribution-bin",
        default=DISTRIBUTION_BINARY,
        help="the Distribution registry binary (default: %(default)s)",
    )
    parser.add_argument("--wrk", default="wrk", help="the wrk binary (default: %(default)s)")
    parser.add_argument(
        "--wrk-threads",
        type=int,
        default=FULL.wrk_threads,
        help="wrk threads (default: %(default)s)",
    )
    parser.add_argument(
        "--work-dir",
        metavar="DIR",
        help="where the registries' temporary data directories go (default: the system temp dir)",
    )
    return parser
