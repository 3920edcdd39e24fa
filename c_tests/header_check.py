#!/usr/bin/env python3
"""Holds include/stackless.h to the outline of its comments.

    python3 c_tests/header_check.py include/stackless.h

prints one line per rule, "PASSED: header-<rule>" or "FAILED: header-<rule>"
followed by what breaks it (c_tests/check.sh counts the lines):

  parsed        the parse found the functions (of both parts of the header)
  switching     the comment of every PyTasklet_*, PyChannel_*,
                PyStackless_* and PyObject_Call* function has exactly one
                of the sentences "May switch tasklets." and "Does not
                switch."
  threads       ... and a sentence that starts "Threads: "
  references    the header names no document outside the repository
  backticks     no Markdown backticks (cbindgen copies doc comments as
                they are written)
  c-parameters  no parameter name starts or ends with an underscore (Rust's
                self_, _task)

A function's comment is the run of // lines right above its declaration
(cbindgen's and the hand-written part's alike).
"""

import re
import sys

SWITCHING = ("May switch tasklets.", "Does not switch.")
THREADS = re.compile(r"(^|\. )Threads: ")
# The functions that say whether they switch and who may call them: the
# Stackless API's, and the object model's calls of a callable (the header's
# opening comment gives the rule of the rest of the object model).
STACKLESS_FUNCTION = re.compile(r"^Py(Tasklet|Channel|Stackless)_\w+$|^PyObject_Call\w*$")
OUTSIDE_DOCUMENTS = re.compile(r"\bSPEC\b|§|\w+\.md\b|seed document")
PROTOTYPE = re.compile(r"^(?!\s|typedef|static|extern|#)[\w \t*]*?\b(\w+)\(([^()]*)\);$")
# Functions the parse must find, or it found nothing to check.
EXPECTED = ("PyTasklet_New", "PyChannel_Send", "PyStackless_Schedule", "PyStackless_CallMethod_Main")


def declarations(lines):
    """(name, parameter names, comment) of every function the header declares."""
    found, comment = [], []
    for line in lines:
        if line.startswith("//"):
            comment.append(line[2:].strip())
            continue
        m = PROTOTYPE.match(line)
        if m:
            params = [p.strip() for p in m.group(2).split(",")]
            names = [re.search(r"(\w+)$", p).group(1) for p in params if p not in ("void", "...")]
            found.append((m.group(1), names, " ".join(comment)))
        comment = []
    return found


def report(rule, broken):
    """Prints the rule's line and what breaks it; True when something does."""
    if broken:
        print(f"FAILED: header-{rule}")
        for b in broken:
            print(f"    {b}")
    else:
        print(f"PASSED: header-{rule}")
    return bool(broken)


def main():
    lines = open(sys.argv[1]).read().splitlines()
    found = declarations(lines)
    names = {name for name, _, _ in found}
    stackless = [(name, comment) for name, _, comment in found if STACKLESS_FUNCTION.match(name)]
    failed = [
        report("parsed", [f"{n}: not found" for n in EXPECTED if n not in names]),
        report("switching", [
            f"{name}: {n} of {' / '.join(repr(s) for s in SWITCHING)}"
            for name, comment in stackless
            for n in [sum(comment.count(s) for s in SWITCHING)]
            if n != 1
        ]),
        report("threads", [f"{name}: no 'Threads: '" for name, comment in stackless if not THREADS.search(comment)]),
        report("references", [
            f"line {i}: {m.group(0)!r}"
            for i, line in enumerate(lines, 1)
            for m in [OUTSIDE_DOCUMENTS.search(line)]
            if m
        ]),
        report("backticks", [f"line {i}: {line.strip()}" for i, line in enumerate(lines, 1) if "`" in line]),
        report("c-parameters", [
            f"{name}: {p}"
            for name, params, _ in found
            for p in params
            if p.startswith("_") or p.endswith("_")
        ]),
    ]
    sys.exit(any(failed))


if __name__ == "__main__":
    main()
