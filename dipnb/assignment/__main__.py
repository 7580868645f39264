"""``python -m dipnb.assignment build`` (the student edition and the release) | ``start [--dest work]`` (your
workspace) | ``check [DIR]`` (every answer's public tests) | ``grade DIR`` (grade a folder of notebooks)."""

import sys

from dipnb.assignment import build, check, grade, workspace

USAGE = "usage: python -m dipnb.assignment {build,start,check,grade} [options]   (-h after the command for help)"


def main() -> None:
    commands = {"build": build.main, "start": workspace.start_main,
                "check": lambda rest: sys.exit(check.main(rest)), "grade": grade.main}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(USAGE)
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
