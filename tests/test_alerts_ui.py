"""The Alerts area in a real browser (issue 33's UI): a rule written in the editor, its preview
and backtest (a chart of its value with the threshold line and the would-be alerts), then
created; it fires on spans the stock SDK sends meanwhile; the instance, the history and the
example trace; Enable/Disable; a file rule shown read-only."""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

from incident_support import send_error_trace
from test_ui import CHROMIUM, SHOTS, UI, needs_browser, needs_ui

from support import RunningApp, make_settings

FILE_RULE = {
    "name": "file-cpu", "severity": "warning", "target": "web-*", "interval": "1s", "window": "30s",
    "condition": {"type": "metric_exceeds", "metric": "cpu_percent", "threshold": 80},
}  # fmt: skip
DRAFT = {
    "name": "ui-search-errors", "description": "Half of ui-search's spans fail", "severity": "high",
    "target": "ui-search", "interval": "1s", "window": "1m",
    "condition": {"type": "spans", "measure": "error_rate", "threshold": 0.5},
}  # fmt: skip


@needs_ui
@needs_browser
def test_a_rule_from_the_editor_previews_backtests_fires_and_links_its_trace(
    chdb_dir: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"policies": [FILE_RULE]}))
    app = RunningApp(make_settings(chdb_dir, database="alerts_ui", rules_file=rules))
    trace_id = format(random.getrandbits(128) | 1, "032x")
    browser = subprocess.Popen(
        ["node", str(UI / "tests" / "alerts.mjs"), app.web_base, str(SHOTS), json.dumps(DRAFT), trace_id],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=UI, env={**os.environ, "CHROMIUM": CHROMIUM},
    )  # fmt: skip
    try:
        SHOTS.mkdir(parents=True, exist_ok=True)
        assert browser.stdout is not None
        first = browser.stdout.readline().strip()
        assert first == "ready", (
            f"the rules list did not show: {first} {'' if first else browser.stderr.read()}"
        )
        assert (
            send_error_trace(app, "ui-search", "query-index", "index shard unavailable", trace_id=trace_id)
            == trace_id
        )
        out, err = browser.communicate(timeout=240)
    finally:
        if browser.poll() is None:
            browser.kill()
        app.stop()
    assert browser.returncode == 0, f"{err.strip()} (screenshots in {SHOTS})"
    seen = json.loads(out.strip().splitlines()[-1])
    print("browser:", seen)
    assert "file-cpu" in seen["fileRule"] and "from file" in seen["fileRule"]
    assert "ui-search" in seen["preview"] and "yes" in seen["preview"]
    assert "alert intervals" in seen["backtest"]
    # The backtest's chart: the draft's value per group, the threshold line drawn, the would-be
    # alert shaded.
    chart = seen["chart"]
    assert chart["thresholds"] == "0.5" and "above 0.5" in chart["caption"]
    assert chart["series"] == 1 and chart["points"] > 0 and chart["marked"] >= 1
    assert chart["thresholdPixels"] > chart["width"] / 4  # a dashed line across the plot
    assert "ui-search" in seen["instance"] and "firing" in seen["instance"]
    assert "1 firing" in seen["counts"]
    assert "Disable" in seen["enabled"]
    assert any("→ firing" in line for line in seen["timeline"])
    assert seen["url"].endswith("/alerts/drift")
