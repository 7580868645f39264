"""``python -m dipnb.assignment build`` (the student edition) | ``grade DIR`` (grade a folder of notebooks)."""

import sys

USAGE = "usage: python -m dipnb.assignment {build,grade} [options]   (-h after the command for help)"


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("build", "grade"):
        sys.exit(USAGE)
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "build":
        from dipnb.assignment.build import main as run
    else:
        from dipnb.assignment.grade import main as run
    run(rest)


if __name__ == "__main__":
    main()
