"""``python -m testing.services run -- CMD...``: local PostgreSQL and MinIO around a command.

Starts both servers, runs ``CMD`` with ``POSTGRES_URL``, ``S3_ENDPOINT_URL`` and
the AWS credential variables set, then stops them whatever happened (Ctrl-C too)
and exits with the command's code. ``serve`` keeps them up until Ctrl-C and
prints the variables to export (secrets included: the terminal is yours).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading

from testing.polling import ConditionFailedError, WaitTimeoutError
from testing.services.local import LocalServiceError, local_services

RUN_TIMEOUT_S = 3 * 3600


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testing.services", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a command with the servers up")
    run.add_argument("argv", nargs=argparse.REMAINDER)
    sub.add_parser("serve", help="keep the servers up until Ctrl-C; print the variables")
    options = parser.parse_args(argv)
    try:
        with local_services() as env:
            if options.command == "serve":
                for key, value in env.items():
                    print(f"export {key}={shlex.quote(value)}", flush=True)
                stop = threading.Event()
                signal.signal(signal.SIGTERM, lambda *_: stop.set())
                with contextlib.suppress(KeyboardInterrupt):
                    stop.wait()
                return 0
            command = options.argv[1:] if options.argv[:1] == ["--"] else options.argv
            if not command:
                parser.error("run needs a command after --")
            try:
                return subprocess.run(
                    command, env={**os.environ, **env}, check=False, timeout=RUN_TIMEOUT_S
                ).returncode
            except KeyboardInterrupt:
                return 130
    except (LocalServiceError, WaitTimeoutError, ConditionFailedError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
