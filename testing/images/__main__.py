"""``python -m testing.images list|build [KEY...]|reference KEY`` (source: TEST_IMAGE_SOURCE)."""

from __future__ import annotations

import argparse
import os
import sys

from testing.images import KEYS, ImageError, choose_source, ensure, reference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testing.images", description=__doc__)
    parser.add_argument("--provider", default=os.environ.get("TEST_CLUSTER_PROVIDER", "local"))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every image key and its reference")
    build = sub.add_parser("build", help="build (or pull nothing for pinned) the given images")
    build.add_argument("keys", nargs="*", default=list(KEYS))
    ref = sub.add_parser("reference", help="print one image's reference")
    ref.add_argument("key")
    options = parser.parse_args(argv)
    try:
        choice = choose_source(options.provider)
        print(f"images: {choice.source} ({choice.reason})", file=sys.stderr)
        if options.command == "list":
            for key in KEYS:
                print(f"{key}\t{reference(key, choice.source)}")
        elif options.command == "reference":
            print(reference(options.key, choice.source))
        else:
            for key, archive in ensure(options.keys, choice.source).items():
                print(f"{key}\t{archive or reference(key, choice.source)}")
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; the image cache is as it was", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
