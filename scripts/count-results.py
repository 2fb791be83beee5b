"""Sums the results of JUnit XML reports, as the test runners themselves wrote them.

    python3 scripts/count-results.py REPORT.xml...    prints "passed failed skipped"

Every runner of the suite writes JUnit XML: cargo-nextest (its `ci` profile), node --test
(--test-reporter=junit), pytest (--junitxml), and scripts/test.sh for checks that have no reporter of their
own (formatting, lints, the bundle). Each <testcase> is one result: failed if it carries <failure> or
<error>, skipped if it carries <skipped>, passed otherwise. Test cases are counted rather than the
<testsuite> totals because node's reporter puts top-level tests directly under <testsuites>, without totals.

A report that is missing or not XML counts as one failure. (Node 20's reporter has one blind spot: a test
that fails after its subtests passed shows up only as its passed subtests; the runner's exit status, which
scripts/test.sh also checks, still fails the tier.)
"""
import sys
import xml.etree.ElementTree as ET


def count(path):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as error:
        print(f"count-results: {path}: {error}", file=sys.stderr)
        return 0, 1, 0
    passed = failed = skipped = 0
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main(paths):
    totals = [0, 0, 0]
    for path in paths:
        totals = [t + n for t, n in zip(totals, count(path))]
    print(*totals)


if __name__ == "__main__":
    main(sys.argv[1:])
