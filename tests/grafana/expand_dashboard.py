#!/usr/bin/env python3
"""Prints a dashboard's panels with their SQL as ClickHouse would receive it from Grafana, for a test in
another language (tests/browser-dashboard/equivalence.test.mjs): the dashboard JSON on standard input, the
range `[from, to)` in unix seconds (Grafana ends a range at .999 of its last second), the bucket size, and
the variables as JSON (a variable not given is empty: no filter). Output: JSON `[{"id", "title", "sql"}]`.

Run: python3 tests/grafana/expand_dashboard.py --from 1772409600 --to 1772668800 --variables '{"site": "a"}'
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plugin_macros import VARIABLE, at, expand  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="time_from", type=int, required=True)
    parser.add_argument("--to", dest="time_to", type=int, required=True)
    parser.add_argument("--interval-s", type=float, default=1.0)
    parser.add_argument("--variables", default="{}")
    args = parser.parse_args()
    dashboard = json.load(sys.stdin)
    given = json.loads(args.variables)
    panels = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            sql = target.get("rawSql")
            if sql is None:
                continue
            variables = {name: given.get(name, "") for name in VARIABLE.findall(sql)}
            expanded = expand(sql, at(args.time_from), at(args.time_to - 0.001), args.interval_s, variables)
            panels.append({"id": panel["id"], "title": panel["title"], "sql": expanded})
    json.dump(panels, sys.stdout)


if __name__ == "__main__":
    main()
