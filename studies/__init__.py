"""Measurements behind docs/results.md and docs/export.md: scripts run from the repo root
(`python -m studies.NAME`), not part of the installed package."""
