"""A stand-in for an external scoring program (a docking script, a simulator).

Usage: python ext_score.py INPUT [OUTPUT] [--csv]. Reads one design per line; the score is the
design's length. Design "crash" makes the program exit 3; "garbage" gets an unparseable value;
"skip" is left out of the CSV output. Without OUTPUT the results go to stdout.
"""

import sys


def main(argv: list[str]) -> int:
    use_csv = "--csv" in argv
    args = [a for a in argv if a != "--csv"]
    designs = open(args[0]).read().splitlines()
    if "crash" in designs:
        print("segmentation fault (simulated)", file=sys.stderr)
        return 3
    lines = ["design,value"] if use_csv else []
    for d in designs:
        value = "oops" if d == "garbage" else str(len(d))
        if use_csv:
            if d != "skip":
                lines.append(f"{d},{value}")
        else:
            lines.append(value)
    text = "\n".join(lines) + "\n"
    if len(args) > 1:
        open(args[1], "w").write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
