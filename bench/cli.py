"""``python -m bench``: run the selected workloads against each target in turn, print the table."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # psutil ships no type information

from bench import services
from bench.cpu import CpuAccount
from bench.errors import BenchError
from bench.machine import describe
from bench.payload import BlobSource, MiB
from bench.plan import FULL, QUICK, Plan, on_s3
from bench.report import Results, render
from bench.rows import RowSpec, Workload
from bench.session import Session
from bench.targets import (
    DISTRIBUTION_BINARY,
    DOCKYARD_COMMAND,
    DOCKYARD_TARGETS,
    PRIVATE_PROJECT,
    TARGET_TITLES,
    RegistryProcess,
    TargetCommands,
    launch,
)
from bench.workloads import WORKLOADS, paired

TARGETS = ("dockyard", "distribution", "dockyard-pg-s3", "distribution-s3")
# Names for several targets at once, in --targets.
TARGET_GROUPS = {
    "both": ("dockyard", "distribution"),
    "scale-out": ("dockyard-pg-s3", "distribution-s3"),
    "all": TARGETS,
}
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
    for option, template in (
        ("--dockyard-cmd", args.dockyard_cmd),
        ("--dockyard-pg-s3-cmd", args.dockyard_pg_s3_cmd),
    ):
        if template is None:
            continue
        if "{port}" not in template or "{data_dir}" not in template:
            print(f"bench: {option} must contain {{port}} and {{data_dir}}", file=sys.stderr)
            return 2
        if "serve" not in shlex.split(template):
            print(f"bench: {option} must run 'dockyard serve'", file=sys.stderr)
            return 2
    plan = replace(QUICK if args.quick else FULL, wrk_threads=args.wrk_threads)
    missing = _missing_tools(args, targets)
    if missing:
        print(f"bench: not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    commands = TargetCommands(args.dockyard_cmd, args.distribution_bin, args.dockyard_pg_s3_cmd)
    workdir = Path(args.work_dir or tempfile.gettempdir())
    machine = describe(args.distribution_bin, args.wrk, workdir) + services.versions(targets)
    plans = {target: on_s3(plan) if target in services.ON_S3 else plan for target in targets}
    results = Results(list(targets), _rows(workloads, plans))
    source = BlobSource()
    for target in targets:
        _run_target(target, commands, workloads, plans[target], source, workdir, args.wrk, results)
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
    """Start the services the target runs on (if any) and the registry, in a fresh directory,
    run every workload, stop them all."""

    def say(message: str) -> None:
        print(f"[{TARGET_TITLES[target]}] {message}", file=sys.stderr, flush=True)

    keys = [r.key for w in workloads if w.measures(target) for r in w.rows(plan)]
    with contextlib.ExitStack() as stack:
        try:
            tmp = Path(
                stack.enter_context(
                    tempfile.TemporaryDirectory(prefix=f"bench-{target}-", dir=workdir)
                )
            )
            backing = stack.enter_context(services.running(target, say))
            process = launch(target, commands, tmp, backing)
            say(f"starting: {' '.join(process.command)}")
            process.start()
        except BenchError as error:
            say(f"FAILED to start: {error}")
            # The whole error (with the end of the log) is on stderr; the report gets its gist.
            results.fail(target, keys, str(error).splitlines()[0] + " (more on stderr)")
            return
        stack.callback(_stopping, say, process)
        session = Session(process, plan, source, tmp, wrk, s3=backing.s3)
        account = CpuAccount(process.pid, backing.pids)
        for workload in workloads:
            if workload.measures(target):
                _run_workload(session, workload, results)
        if session.remarks:
            results.remarks[target] = session.remarks
        try:
            share = results.cpu[target] = account.share()
        except psutil.Error as error:
            say(f"no CPU account: {error}")
            return
        if share.other_percent > _BUSY_PERCENT:
            say(
                f"WARNING: other processes used {share.other_percent:.0f}% of the machine "
                "during this run; its figures are noisy"
            )


def _stopping(say: Callable[[str], None], process: RegistryProcess) -> None:
    say("stopping")
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


def _rows(workloads: Sequence[Workload], plans: dict[str, Plan]) -> list[RowSpec]:
    """The table's rows. Targets on the S3 server may run a row differently (bench.plan.on_s3):
    then its label says how each did."""
    variants: list[tuple[str, list[RowSpec]]] = []
    for title, group in (
        ("", [t for t in plans if t not in services.ON_S3]),
        ("S3 columns", [t for t in plans if t in services.ON_S3]),
    ):
        if group:
            variants.append((title, [r for w in workloads for r in w.rows(plans[group[0]])]))
    rows = variants[0][1]
    for title, other in variants[1:]:
        if [row.key for row in other] != [row.key for row in rows]:
            raise AssertionError(f"the {title} have other rows")
        rows = [
            replace(row, label=_both_labels(row.label, theirs.label, title))
            for row, theirs in zip(rows, other, strict=True)
        ]
    return rows


def _both_labels(label: str, other: str, title: str) -> str:
    """``label`` and, where ``other`` differs from it, ``other``'s tail: "..., 2 x 1 s (wrk)
    (S3 columns: 2 x 2 s (wrk))"."""
    if label == other:
        return label
    mine, theirs = label.split(", "), other.split(", ")
    same = 0
    while same < min(len(mine), len(theirs)) and mine[same] == theirs[same]:
        same += 1
    return f"{label} ({title}: {', '.join(theirs[same:])})"


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
    names: set[str] = set()
    for name in (name.strip().lower() for name in text.split(",") if name.strip()):
        names.update(TARGET_GROUPS.get(name, (name,)))
    unknown = names - set(TARGETS)
    if unknown or not names:
        raise ValueError(
            f"--targets takes {', '.join(TARGETS)}, or {', '.join(TARGET_GROUPS)}; not {text!r}"
        )
    return [name for name in TARGETS if name in names]


def _missing_tools(args: argparse.Namespace, targets: list[str]) -> list[str]:
    tools = [args.wrk]
    if {"distribution", "distribution-s3"} & set(targets):
        tools.append(args.distribution_bin)
    return [tool for tool in tools if shutil.which(tool) is None] + services.missing(targets)


def _notes(args: argparse.Namespace, targets: Sequence[str]) -> list[str]:
    order = " then ".join(TARGET_TITLES[target] for target in targets)
    scale_out = any(target in services.NEEDS for target in targets)
    notes = [
        f"Run {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
        + (
            " with `--quick` (smaller sizes: a smoke run, not figures to quote)."
            if args.quick
            else "."
        ),
        "",
        f"Each registry ran alone ({order}) on 127.0.0.1 with a fresh data directory on the "
        "storage above"
        + (", and fresh services for the scale-out columns" if scale_out else "")
        + "; the client ran on the same machine. MB = 10^6 bytes. "
        + (
            "Each ratio column is dockyard's figure over Distribution's on the same storage"
            if scale_out
            else "The ratio is dockyard's figure over Distribution's"
        )
        + ": above 1 is better on 'higher' rows, below 1 on 'lower' rows.",
    ]
    if scale_out:
        notes += ["", "Columns:", ""]
        notes += [f"- **{TARGET_TITLES[target]}**: {_COLUMNS[target]}" for target in targets]
        if {"dockyard-pg-s3", "distribution-s3"} <= set(targets):
            notes.append(
                "- **dockyard PG+S3 / Distribution S3**: the ratio of the two scale-out columns, "
                "both on the same kind of moto server: the meaningful figure of the pair."
            )
        notes += [
            "",
            "The object store is moto's standalone server (`python -m moto.server`, started by "
            "the test suite's `tests/s3_server.py`, a fresh one per target, with a new bucket): "
            "no real object store installs here from Debian or PyPI. moto is a Python server "
            "that keeps objects in spooled temporary files, so the absolute figures of the S3 "
            "columns are bounded by its speed, far below a real S3's; compare the two S3 "
            "columns with each other. "
            + (
                "moto answers a ListObjects by scanning every key of the bucket, and "
                "Distribution's s3 driver stats paths with ListObjects, so its small requests "
                "slow down as the bucket fills, more than they would on a real S3. "
                if "distribution-s3" in targets
                else ""
            )
            + f"Both use {services.S3_PART_SIZE // MiB} MiB multipart "
            "parts (dockyard's `storage.s3.part_size` default; Distribution's `chunksize`), "
            "commit an upload with one CopyObject up to 5 GiB (dockyard always; Distribution "
            "with `multipartcopythresholdsize` raised from 32 MiB, since moto's UploadPartCopy "
            "reads the whole source object for every part) and serve blob GETs themselves "
            "(no redirect to the store).",
        ]
        if "dockyard-pg-s3" in targets:
            notes += [
                "",
                "PostgreSQL is the test suite's throw-away cluster (`tests/postgres.py`: `initdb` "
                "in a temp directory, 127.0.0.1, started fresh for the target, with an empty "
                f"database `{services.DATABASE}` that dockyard migrates). It runs with "
                "`fsync`, `synchronous_commit` and `full_page_writes` off, so its commits are "
                "not durable against a crash of the machine; dockyard's SQLite runs WAL with "
                "`synchronous=NORMAL`, which does not fsync each commit either.",
            ]
    if DOCKYARD_TARGETS & set(targets):
        scale_out_env = (
            "with `DOCKYARD_DATABASE__URL` and `DOCKYARD_STORAGE__DRIVER=s3`, "
            "`DOCKYARD_STORAGE__S3__*` set for dockyard PG+S3"
        )
        pg_s3_cmd = args.dockyard_pg_s3_cmd or args.dockyard_cmd
        if "dockyard-pg-s3" not in targets:
            command = f"`{args.dockyard_cmd}`"
        elif "dockyard" not in targets or pg_s3_cmd == args.dockyard_cmd:
            command = f"`{pg_s3_cmd}` ({scale_out_env})"
        else:
            command = (
                f"`{args.dockyard_cmd}` for dockyard, `{pg_s3_cmd}` for dockyard PG+S3 "
                f"({scale_out_env})"
            )
        notes += [
            "",
            f"dockyard command: {command}, with `DOCKYARD_ADMIN_PASSWORD` set and "
            f"the private project `{PRIVATE_PROJECT}` created before the start. Its requests "
            "carry a bearer token from `/service/token` (asked with the admin's Basic "
            "credentials, scope `repository:<name>:pull,push`), as docker's do, except the "
            "anonymous rows: manifest GET and blob HEAD read one repository of the public "
            "`library` project both anonymously and with a token, alternating runs of equal "
            f"length; the ratio rows are token / anonymous (target: at least "
            f"{paired.TARGET_RATIO:.2f}).",
        ]
    if {"distribution", "distribution-s3"} & set(targets):
        storage = " or ".join(
            kind
            for target, kind in (
                ("distribution", "filesystem storage"),
                ("distribution-s3", "its s3 driver (Distribution S3; redirects disabled)"),
            )
            if target in targets
        )
        notes += [
            "",
            f"Distribution: `{args.distribution_bin} serve config.yml` with {storage}, "
            "delete enabled, log level warn, access log off, in-memory blob descriptor cache, "
            "no authentication: its token rows send no token, so its token / anonymous ratio "
            "is the run-to-run noise of two identical loads.",
        ]
    return notes


# What each column is, for the report.
_COLUMNS = {
    "dockyard": "SQLite metadata and filesystem blobs in its data directory (the embedded "
    "default).",
    "distribution": "filesystem storage in its data directory.",
    "dockyard-pg-s3": "metadata in PostgreSQL, blobs in S3 (`storage.driver: s3`, path-style "
    "addressing, on moto).",
    "distribution-s3": "the `s3` storage driver (`regionendpoint` moto, `forcepathstyle`, "
    "`v4auth`, not `secure`, `multipartcopythresholdsize` 5 GiB).",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Side-by-side benchmark of dockyard and CNCF Distribution (bench/README.md).",
    )
    parser.add_argument(
        "--targets",
        default="both",
        help="comma separated: dockyard, distribution, dockyard-pg-s3, distribution-s3, "
        "both (the first two, the default), scale-out (the last two) or all",
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
        "--dockyard-pg-s3-cmd",
        metavar="TEMPLATE",
        help="command template starting dockyard for dockyard-pg-s3 (default: --dockyard-cmd)",
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
