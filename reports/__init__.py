"""Structured reports: report.json, built on the controller from cell records, written atomically."""
