"""Counts test cases from a `bazel test` run: prints "<passed> <failed>".

Each test target's summary line is read from the log; for targets that ran,
the gtest XML report gives the number of cases. A target that failed without
a report (crash, build failure, timeout) counts as one failure.
"""
import os
import re
import sys
import xml.etree.ElementTree as ET

log_path, testlogs = sys.argv[1], sys.argv[2]
passed = failed = 0
line_re = re.compile(r"^(//\S+)\s+(?:\(cached\)\s+)?(PASSED|FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD|FLAKY)")
seen = set()
with open(log_path, encoding="utf-8", errors="replace") as log:
    for line in log:
        m = line_re.match(line.strip())
        if not m or m.group(1) in seen:
            continue
        target, status = m.groups()
        seen.add(target)
        xml_path = os.path.join(testlogs, target[2:].replace(":", "/"), "test.xml")
        cases = bad = 0
        if os.path.exists(xml_path) and status in ("PASSED", "FAILED", "FLAKY"):
            try:
                root = ET.parse(xml_path).getroot()
                for case in root.iter("testcase"):
                    cases += 1
                    if case.find("failure") is not None or case.find("error") is not None:
                        bad += 1
            except ET.ParseError:
                pass
        if status == "PASSED" and cases:
            passed += cases - bad
            failed += bad
        elif status == "PASSED":
            passed += 1
        else:
            failed += max(bad, 1)
            passed += max(cases - bad, 0)
print(passed, failed)
