#!/usr/bin/env python3
"""The translation units that dominate a clang build, from clang's -ftime-trace files.

  cmake -S . -B build-trace -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_FLAGS=-ftime-trace ...
  cmake --build build-trace
  scripts/time_trace.py build-trace [N]

Prints the N (default 15) slowest units (front end: parsing and template instantiation;
back end: code generation and optimisation), then the headers and templates that cost the
most summed over every unit (docs/testing.md, "CI stages and their cost").
"""
import collections
import json
import pathlib
import sys


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("stackdyn: error: usage: scripts/time_trace.py BUILD_DIR [N], expected a build directory")
    root = pathlib.Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) == 3 else 15
    units = []
    headers = collections.Counter()
    templates = collections.Counter()
    for path in root.rglob("*.json"):
        if "CMakeFiles" not in path.parts:
            continue
        try:
            events = json.loads(path.read_text())["traceEvents"]
        except (ValueError, KeyError):
            continue
        totals = {e["name"]: e.get("dur", 0) for e in events if e.get("name", "").startswith("Total ")}
        whole = max((e.get("dur", 0) for e in events if e.get("name") == "ExecuteCompiler"), default=0)
        units.append((whole, totals.get("Total Frontend", 0), totals.get("Total Backend", 0),
                      str(path.relative_to(root))))
        for e in events:
            detail = e.get("args", {}).get("detail", "")
            if e.get("name") == "Source" and e.get("ph") == "X":
                headers[detail] += e.get("dur", 0)
            elif e.get("name") in ("InstantiateFunction", "InstantiateClass") and e.get("ph") == "X":
                templates[detail.split("<")[0]] += e.get("dur", 0)
    units.sort(reverse=True)
    total = sum(u[0] for u in units)
    print(f"{len(units)} units, {total / 1e6:.0f} s of compiler time in all")
    print(f"{'total s':>8} {'front s':>8} {'back s':>7}  unit")
    for whole, front, back, name in units[:n]:
        print(f"{whole / 1e6:8.1f} {front / 1e6:8.1f} {back / 1e6:7.1f}  {name}")
    # nested Source events count their includes again: read these as inclusive times
    print("\nheaders (inclusive parse time, summed over units)")
    for name, dur in headers.most_common(n):
        print(f"{dur / 1e6:8.1f}  {name}")
    print("\ntemplates (instantiation time, summed over units)")
    for name, dur in templates.most_common(n):
        print(f"{dur / 1e6:8.1f}  {name}")


if __name__ == "__main__":
    main()
