#!/usr/bin/env python3
"""Opens an mmsr HTML report in headless Chromium and checks that it rendered.

The page records what it drew in #mmsr-render-status (script errors, points drawn per chart, rows per table);
this reads the DOM after the scripts ran and fails when there was a script error, a chart without data points,
or a table with fewer rows than expected. Optionally saves a screenshot.

  scripts/check_report_html.py report.html [--screenshot report.png] [--expect-table b0-leaderboard=5 ...]
                               [--min-charts N]
Exit codes: 0 rendered as expected, 1 a check failed, 77 no Chromium on this machine (tests skip).
"""
import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--virtual-time-budget=15000"]


def browser():
    for name in (os.environ.get("MMSR_CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def run(cmd, timeout=120):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=timeout, check=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report")
    ap.add_argument("--screenshot")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--expect-table", action="append", default=[], metavar="ID=ROWS")
    ap.add_argument("--min-charts", type=int, default=1)
    args = ap.parse_args()
    exe = browser()
    if not exe:
        print("no Chromium found (scripts/setup.sh installs it): skipped")
        return 77
    url = "file://" + os.path.abspath(args.report)
    with tempfile.TemporaryDirectory() as profile:
        dom = run([exe, *FLAGS, "--user-data-dir=" + profile, "--dump-dom", url]).stdout.decode("utf-8", "replace")
    m = re.search(r'<pre id="mmsr-render-status">(.*?)</pre>', dom, re.S)
    if not m:
        print("the page did not render (no #mmsr-render-status in the DOM)")
        return 1
    text = html.unescape(m.group(1))
    if text.strip() == "pending":
        print("the page's script did not finish (status still 'pending'): a script error before it ran?")
        return 1
    status = json.loads(text)
    failures = []
    for e in status.get("errors", []):
        failures.append("script error: " + e)
    charts = status.get("charts", [])
    if len(charts) < args.min_charts:
        failures.append(f"{len(charts)} charts drawn, expected at least {args.min_charts}")
    for c in charts:
        if c["points"] <= 0:
            failures.append(f"chart {c['id']} ({c['kind']}) drew no data points")
    tables = status.get("tables", {})
    for spec in args.expect_table:
        tid, rows = spec.split("=")
        if tables.get(tid) != int(rows):
            failures.append(f"table {tid}: {tables.get(tid)} rows, expected {rows}")
    if args.screenshot:
        with tempfile.TemporaryDirectory() as profile:
            run([exe, *FLAGS, "--user-data-dir=" + profile, f"--window-size={args.width},{args.height}",
                 "--screenshot=" + os.path.abspath(args.screenshot), url])
        if not os.path.exists(args.screenshot):
            failures.append("no screenshot was written")
    kinds = {}
    for c in charts:
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    print(f"{len(charts)} charts ({', '.join(f'{k}: {n}' for k, n in sorted(kinds.items()))}), "
          f"{sum(c['points'] for c in charts)} points; tables: {json.dumps(tables)}")
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
