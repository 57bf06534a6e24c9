"""CLI commands for codebook refinement (registered on annotator.cli)."""

from __future__ import annotations

from annotator.cli import cli, pass_ctx  # noqa: F401
