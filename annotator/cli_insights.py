"""CLI commands for the usage dashboard: prevalence report and alerts (registered on annotator.cli)."""

from __future__ import annotations

from annotator.cli import cli, pass_ctx, report  # noqa: F401
