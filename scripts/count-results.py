"""Reads a test runner's output and prints "passed failed" from its own summary lines.

Understands cargo test ("test result: ok. N passed; M failed"), node --test ("# pass N" / "# fail N")
and the plain "N passed, M failed" line our other checks print.
"""
import re
import sys

text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
passed = failed = 0
for p, f in re.findall(r"test result: \w+\. (\d+) passed; (\d+) failed", text):
    passed, failed = passed + int(p), failed + int(f)
passed += sum(int(n) for n in re.findall(r"^# pass (\d+)$", text, re.M))
failed += sum(int(n) for n in re.findall(r"^# fail (\d+)$", text, re.M))
for p, f in re.findall(r"^(?:\w+: )?(\d+) passed, (\d+) failed", text, re.M):
    passed, failed = passed + int(p), failed + int(f)
print(passed, failed)
