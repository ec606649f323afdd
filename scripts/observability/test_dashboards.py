#!/usr/bin/env python3
"""The dashboard checker catches what it promises to: run `python3 -m unittest` on this file."""
import copy
import io
import json
import sys
import tempfile
import unittest
from contextlib import redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dashboards  # noqa: E402

GOOD = {
    "uid": "u1",
    "title": "t",
    "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
    "panels": [
        {"type": "row", "id": 1, "title": "r", "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0}, "panels": []},
        {
            "type": "timeseries", "id": 2, "title": "p", "gridPos": {"h": 8, "w": 8, "x": 0, "y": 1},
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "fieldConfig": {"defaults": {"unit": "s"}},
            "targets": [{"refId": "A", "expr": "up", "datasource": {"type": "prometheus", "uid": "${datasource}"}}],
        },
    ],
}


def failures(dashboard: dict) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.json"
        path.write_text(json.dumps(dashboard))
        report = dashboards.Report()
        with redirect_stdout(io.StringIO()):
            dashboards.check_structure(path, dashboard, report, {})
        return report.failed


class StructureChecks(unittest.TestCase):
    def test_a_well_formed_dashboard_passes(self):
        self.assertEqual(failures(GOOD), 0)

    def test_a_panel_without_unit_fails(self):
        d = copy.deepcopy(GOOD)
        del d["panels"][1]["fieldConfig"]["defaults"]["unit"]
        self.assertEqual(failures(d), 1)

    def test_duplicate_panel_ids_fail_even_inside_collapsed_rows(self):
        d = copy.deepcopy(GOOD)
        d["panels"][0]["panels"] = [copy.deepcopy(d["panels"][1])]
        self.assertGreaterEqual(failures(d), 1)

    def test_a_hard_coded_datasource_fails(self):
        d = copy.deepcopy(GOOD)
        d["panels"][1]["targets"][0]["datasource"] = {"type": "prometheus", "uid": "prod-prom"}
        self.assertEqual(failures(d), 1)

    def test_a_missing_datasource_variable_fails(self):
        d = copy.deepcopy(GOOD)
        d["templating"]["list"] = []
        self.assertEqual(failures(d), 1)

    def test_grafana_interval_variables_are_expanded(self):
        self.assertEqual(dashboards.expand("rate(x[$__rate_interval]) + rate(y[${__interval}])"),
                         "rate(x[1m]) + rate(y[15s])")


if __name__ == "__main__":
    unittest.main()
