"""`tokentax check` results as JUnit XML: what Jenkins, GitLab and GitHub test reporters read.

Two test suites: one test case per budget limit (`tokentax.budget`) and one per finding
(`tokentax.finding`). A broken or unknown budget, and a finding at or above --fail-on,
is a <failure> whose message is the one-line result and whose text is the evidence; an
unknown figure accepted by allow_unknown is <skipped>. Only formats the results.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from inspector.analyzer.budget import ALLOWED, FAILING


def _case(suite: ET.Element, classname: str, r: dict[str, Any]) -> tuple[int, int]:
    case = ET.SubElement(suite, "testcase", classname=classname, name=r["name"], time="0")
    if r["status"] in FAILING:
        kind = "unknown" if r["status"] == "unknown" else ("finding" if r["type"] == "finding" else "broken")
        fail = ET.SubElement(case, "failure", message=r["message"], type=kind)
        fail.text = "\n".join([r["message"], *r.get("evidence", [])])
        return 1, 0
    if r["status"] == ALLOWED:
        ET.SubElement(case, "skipped", message=r["message"])
        return 0, 1
    out = ET.SubElement(case, "system-out")
    out.text = "\n".join([r["message"], *r.get("evidence", [])])
    return 0, 0


def to_junit(results: list[dict[str, Any]], source: str = "") -> str:
    root = ET.Element("testsuites", name="tokentax check")
    totals = [0, 0, 0]
    for typ, classname, title in (
        ("budget", "tokentax.budget", "tokentax budgets"),
        ("finding", "tokentax.finding", "tokentax findings"),
    ):
        rows = [r for r in results if r["type"] == typ]
        suite = ET.SubElement(root, "testsuite", name=title)
        if source:
            ET.SubElement(ET.SubElement(suite, "properties"), "property", name="capture", value=source)
        failures = skipped = 0
        for r in rows:
            f, s = _case(suite, classname, r)
            failures += f
            skipped += s
        suite.set("tests", str(len(rows)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", str(skipped))
        suite.set("time", "0")
        totals[0] += len(rows)
        totals[1] += failures
        totals[2] += skipped
    root.set("tests", str(totals[0]))
    root.set("failures", str(totals[1]))
    root.set("errors", "0")
    root.set("skipped", str(totals[2]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
