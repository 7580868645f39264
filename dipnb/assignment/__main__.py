"""``python -m dipnb.assignment build`` (the student edition) | ``grade DIR`` (grade a folder of notebooks)."""

import sys

from dipnb.assignment import build, grade

USAGE = "usage: python -m dipnb.assignment {build,grade} [options]   (-h after the command for help)"


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("build", "grade"):
        sys.exit(USAGE)
    command, rest = sys.argv[1], sys.argv[2:]
    (build.main if command == "build" else grade.main)(rest)


if __name__ == "__main__":
    main()
