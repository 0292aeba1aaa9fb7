"""The ``radas`` command: clusters, experiments (jobs) on a cluster, stopping them, their logs,
and the report pages of a user's experiments.

    radas clusters
    radas experiments --cluster NAME [--user USER | --all-users]
    radas stop --cluster NAME JOB_ID
    radas logs --cluster NAME JOB_ID
    radas report USER [EXPERIMENT] [--run-with local|cluster:NAME]
"""

from __future__ import annotations

import argparse
import sys

from radas.errors import RadasError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="radas", description="radas sweeps on named Ray clusters, and reports")
    sub = parser.add_subparsers(dest="command", required=True)
    clusters = sub.add_parser("clusters", help="the configured clusters and whether they answer")
    clusters.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for each cluster")
    experiments = sub.add_parser("experiments", help="radas jobs on a cluster")
    experiments.add_argument("--cluster", required=True)
    who = experiments.add_mutually_exclusive_group()
    who.add_argument("--user", default=None, help="whose jobs (default: you)")
    who.add_argument("--all-users", action="store_true")
    for name, text in (("stop", "stop a job gracefully (Tune saves its state)"), ("logs", "print a job's log")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--cluster", required=True)
        command.add_argument("job_id")
    report = sub.add_parser("report", help="write the HTML report of an experiment and the index of a user's "
                            "experiments; print the page's path")
    report.add_argument("user")
    report.add_argument("experiment", nargs="?", default=None, help="default: only the index page")
    report.add_argument("--run-with", default="local", help="local (default) or cluster:NAME")
    return parser


def main(argv: list[str] | None = None) -> int:
    """The ``radas`` command: ``clusters``, ``experiments``, ``stop``, ``logs`` and ``report``;
    returns the exit status (radas errors are printed without a traceback)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "report":
            from radas.experiment import report

            report(args.user, args.experiment, run_with=args.run_with)
            return 0
        if args.command == "clusters":
            from radas.clusters import get_cluster_availability

            print(get_cluster_availability(timeout=args.timeout))
            return 0
        from radas.clusters import get_client
        from radas.utils import get_current_user_name

        run_with = f"cluster:{args.cluster}"
        if args.command == "experiments":
            user = None if args.all_users else (args.user or get_current_user_name())
            print(get_client(user, run_with).experiments_table())
        elif args.command == "stop":
            stopped = get_client(None, run_with).stop_job_by_id(args.job_id)
            print(f"job {args.job_id}: {'stop requested' if stopped else 'was not running'}")
        else:
            sys.stdout.write(get_client(None, run_with).get_job_logs(args.job_id))
        return 0
    except (RadasError, RuntimeError) as exc:
        print(f"radas: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
