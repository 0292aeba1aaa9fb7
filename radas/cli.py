"""The ``radas`` command: clusters, a user's experiments (here or on a cluster), stopping a
cluster's jobs, their logs, and the report pages of a user's experiments.

    radas --version
    radas clusters
    radas experiments [USER] [--all-users] [--run-with local|cluster:NAME]
    radas stop JOB_ID --run-with cluster:NAME
    radas logs JOB_ID --run-with cluster:NAME
    radas report USER [EXPERIMENT] [--run-with local|cluster:NAME]

A cluster is named the way ``run_experiment`` names it: ``--run-with cluster:NAME``. The earlier
``--cluster NAME`` (and ``radas experiments --user USER``) still work in this release, with a
warning; they go away in the next.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from radas.errors import RadasError

if TYPE_CHECKING:
    from radas.sweep import ExperimentFolder

RUN_WITH_HELP = "where: local (default) or cluster:NAME, as run_experiment's run_with"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("radas")
    except PackageNotFoundError:  # run from a source tree that was not installed
        from radas import __version__

        return __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="radas", description="radas sweeps on named Ray clusters, and reports")
    parser.add_argument("--version", action="version", version=f"radas {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    clusters = sub.add_parser("clusters", help="the configured clusters and whether they answer")
    clusters.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for each cluster")
    experiments = sub.add_parser(
        "experiments", help="a user's experiments: status, progress, best result (and a cluster's jobs)",
        description="A user's experiments from their results folder: status (running, finished, stopped, "
        "failed, died), trials done of all, the best result so far. With --run-with cluster:NAME: the cluster's "
        "shared results folder as mounted here, then the user's jobs on the cluster (how to stop them).")
    experiments.add_argument("user", nargs="?", default=None, help="whose experiments (default: you)")
    experiments.add_argument("--all-users", action="store_true", help="every user's experiments")
    experiments.add_argument("--run-with", default=None, help=RUN_WITH_HELP)
    experiments.add_argument("--user", dest="old_user", default=None, help=argparse.SUPPRESS)
    _old_cluster(experiments)
    for name, text in (("stop", "stop a cluster job gracefully (Tune saves its state)"),
                       ("logs", "print a cluster job's log")):
        command = sub.add_parser(name, help=text)
        command.add_argument("job_id")
        command.add_argument("--run-with", default=None, help="the job's cluster: cluster:NAME")
        _old_cluster(command)
    report = sub.add_parser("report", help="write the HTML report of an experiment and the index of a user's "
                            "experiments; print the page's path")
    report.add_argument("user")
    report.add_argument("experiment", nargs="?", default=None, help="default: only the index page")
    report.add_argument("--run-with", default="local", help=RUN_WITH_HELP)
    return parser


def _old_cluster(command: argparse.ArgumentParser) -> None:
    """``--cluster NAME``, the earlier spelling of ``--run-with cluster:NAME`` (hidden)."""
    command.add_argument("--cluster", default=None, help=argparse.SUPPRESS)


def _deprecated(old: str, new: str) -> None:
    print(f"radas: warning: {old} is deprecated and goes away in the next release; use {new}", file=sys.stderr)


def _run_with(args: argparse.Namespace) -> str | None:
    """The target the arguments name (None: none was named), saying so when it was the earlier
    ``--cluster NAME``."""
    if args.cluster is None:
        return args.run_with
    new = f"cluster:{args.cluster}"
    if args.run_with is not None and args.run_with != new:
        raise _UsageError(f"--cluster {args.cluster} and --run-with {args.run_with} name different targets; "
                          f"use --run-with alone")
    _deprecated(f"--cluster {args.cluster}", f"--run-with {new}")
    return new


class _UsageError(Exception):
    """Arguments that do not go together (exit status 2, as argparse's own)."""


def main(argv: list[str] | None = None) -> int:
    """The ``radas`` command: ``clusters``, ``experiments``, ``stop``, ``logs`` and ``report``;
    returns the exit status (radas errors are printed without a traceback)."""
    args = _parser().parse_args(argv)
    try:
        return _command(args)
    except _UsageError as exc:
        print(f"radas {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (RadasError, RuntimeError) as exc:
        print(f"radas: error: {exc}", file=sys.stderr)
        return 1


def _command(args: argparse.Namespace) -> int:
    if args.command == "report":
        from radas.experiment import report

        report(args.user, args.experiment, run_with=args.run_with)
        return 0
    if args.command == "clusters":
        from radas.clusters import get_cluster_availability

        print(get_cluster_availability(timeout=args.timeout))
        return 0
    run_with = _run_with(args)
    if args.command == "experiments":
        return _experiments(args, run_with or "local")
    from radas.clusters import get_client, parse_run_with

    if run_with is None or parse_run_with(run_with) is None:
        raise _UsageError(f"{args.command} needs the job's cluster: --run-with cluster:NAME "
                          "(`radas experiments --run-with cluster:NAME` lists the jobs)")
    if args.command == "stop":
        stopped = get_client(None, run_with).stop_job_by_id(args.job_id)
        print(f"job {args.job_id}: {'stop requested' if stopped else 'was not running'}")
    else:
        sys.stdout.write(get_client(None, run_with).get_job_logs(args.job_id))
    return 0


def _experiments(args: argparse.Namespace, run_with: str) -> int:
    """Print the experiments table (and a cluster's jobs); 1 when the cluster's jobs cannot be
    listed."""
    from radas.clusters import get_client, get_cluster, parse_run_with
    from radas.core import get_ray_results_dir
    from radas.utils import get_current_user_name

    if args.old_user is not None:
        if args.user is not None and args.user != args.old_user:
            raise _UsageError(f"USER {args.user} and --user {args.old_user} name different users")
        _deprecated(f"--user {args.old_user}", f"radas experiments {args.old_user} (the user as the first argument)")
    if args.all_users and (args.user or args.old_user):
        raise _UsageError("name a user or --all-users, not both")
    user = None if args.all_users else (args.user or args.old_user or get_current_user_name())
    if run_with == "memory":
        raise _UsageError("--run-with memory keeps results in the process that ran them; there is nothing to list")
    cluster_name = parse_run_with(run_with)
    if cluster_name is not None and not get_cluster(cluster_name).client_path("results_dir"):
        print(f"cluster {cluster_name!r} has no results_dir in the radas config: its experiments' folders "
              "are not known here")
    else:
        root = Path(get_ray_results_dir(user or get_current_user_name(), run_with)).parent
        if cluster_name is not None and not root.is_dir():
            print(f"cluster {cluster_name!r}: its results folder is not visible here ({root} does not exist; "
                  f"mount the cluster's shared storage there, or set client_results_dir in [clusters.{cluster_name}])")
        else:
            print(_folder_table(root, user))
    if cluster_name is None:
        return 0
    print(f"\njobs on cluster {cluster_name!r}:")
    sys.stdout.flush()
    print(get_client(user, run_with).experiments_table())
    return 0


def _folder_table(root: Path, user: str | None) -> str:
    """The experiments of ``user`` (None: every user's) in the results folder ``root``, as a text
    table: status (from the driver lock and the progress file), trials done of all, the best
    result so far, when it last changed."""
    from radas.sweep import ExperimentFolder, experiment_names
    from radas.utils import get_current_user_name

    me = get_current_user_name()
    # the user folders, as experiments are; only this user's own folder must be theirs alone
    users = [user] if user is not None else experiment_names(root, own=False)
    header: tuple[str, ...] = ("user", "experiment", "status", "done", "best", "updated")
    rows: list[tuple[str, ...]] = []
    skipped: list[str] = []  # every user's folders: what this user cannot read is said in a line
    for who in users:
        try:
            names = experiment_names(root / who, own=who == me)
        except RadasError as exc:
            if user is not None:
                raise
            skipped.append(f"{who}: not readable by you" if isinstance(exc.__cause__, PermissionError)
                           else f"{who}: {exc}")
            continue
        rows += [(who, *_row(ExperimentFolder(root / who, name))) for name in names]
    whose = f"{user}'s experiments in {root / user}" if user is not None else f"experiments in {root}"
    if not rows:
        return "\n".join([f"no {whose}" if user is None else f"{user} has no experiments in {root / user}",
                          *skipped])
    if user is not None:
        header, rows = header[1:], [row[1:] for row in rows]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    return "\n".join([f"{whose}:", *lines, *skipped])


def _row(folder: ExperimentFolder) -> tuple[str, str, str, str, str]:
    """(experiment, status, done, best, updated) of one experiment folder."""
    progress = folder.progress()
    try:
        holder = folder.holder()
    except PermissionError:  # another user's lock folder (their user folder readable, its lock folder not)
        return folder.name, "not readable by you", "-", "-", "-"
    if holder is not None:
        status = "running"
    elif progress is None:
        status = "unknown"  # no radas progress file (a folder radas did not write, or an old one)
    elif folder.ended_badly(progress):
        status = "failed" if progress.state == "failed" else "died"
    else:
        status = progress.state
    done, best, updated = "-", "-", "-"
    if progress is not None:
        errored = f" ({progress.errored} errored)" if progress.errored else ""
        done = f"{progress.done}/{progress.total_now()}{errored}"
        if progress.best is not None and progress.metric:
            best = f"{progress.metric}={progress.best:.4g}"
        try:
            updated = time.strftime("%Y-%m-%d %H:%M", time.localtime(folder.progress_file.stat().st_mtime))
        except OSError:  # replaced or removed meanwhile
            pass
    return folder.name, status, done, best, updated


if __name__ == "__main__":
    sys.exit(main())
