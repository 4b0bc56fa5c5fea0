"""The HTML report in a real headless browser (Debian's chromium): it loads with no console
error and its charts have a non-zero size (issue 13, item 18). Skipped without chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from inspector.analyzer.waterfall import sample_waterfall
from inspector.capture.load import analyze_file
from inspector.views.report.render import render

DATA = Path(__file__).resolve().parents[1] / "data" / "naive_gateway.jsonl"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Runs first in <head>: records errors and console.error calls, and after load writes the
# size of every chart into the DOM, which --dump-dom then prints.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e)));
const __ce = console.error; console.error = (...a) => { window.__errors.push(a.join(' ')); __ce(...a); };
window.addEventListener('load', () => {
  const sizes = [...document.querySelectorAll('.chart svg')].map(s => {
    const r = s.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)];
  });
  const out = document.createElement('pre'); out.id = 'probe';
  out.textContent = JSON.stringify({errors: window.__errors, sizes: sizes});
  document.body.appendChild(out);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    analyzer = analyze_file(str(DATA))
    html = render(analyzer.snapshot(), "html", waterfall=sample_waterfall(analyzer))
    page = tmp_path / "report.html"
    page.write_text(html.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    proc = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1000,2400",
            "--virtual-time-budget=2000",
            "--enable-logging=stderr",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert m, proc.stdout[-2000:]
    probe = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["errors"] == []
    assert not re.search(r"CONSOLE.*(Uncaught|Error)", proc.stderr)
    assert len(probe["sizes"]) == 2  # the rates chart and the waterfall
    assert all(w > 0 and h > 0 for w, h in probe["sizes"]), probe["sizes"]
