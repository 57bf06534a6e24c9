"""Shared chart helpers for the reports: PNG bytes and self-contained ``<img>`` tags.

Figures are drawn on matplotlib's Agg canvas directly (``Figure`` +
``FigureCanvasAgg``), never through pyplot, so nothing touches global state and
it works in threads and servers without a display. PNGs carry no software
metadata, so the same data gives the same bytes.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["confusion_heatmap_png", "horizontal_bars_png", "img_tag"]

_MAX_LABEL = 28
_DPI = 110


def _short(label: str) -> str:
    """Truncated label with ``$`` escaped so matplotlib never reads it as mathtext."""
    label = label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1] + "…"
    return label.replace("$", r"\$")


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def confusion_heatmap_png(
    labels: Sequence[str],
    matrix: Sequence[Sequence[float]],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    col_labels: Sequence[str] | None = None,
) -> bytes:
    """A square (or rows x cols) count heatmap with the counts written in the cells.

    ``matrix[i][j]`` is drawn at row ``labels[i]``, column ``col_labels[j]``
    (default: ``labels``). Colour is on a square-root scale so small
    off-diagonal counts stay visible next to a large diagonal.
    """
    values = np.asarray(matrix, dtype=float).reshape(len(labels), -1) if len(labels) else np.zeros((0, 0))
    cols = list(col_labels) if col_labels is not None else list(labels)
    size = max(3.0, 0.5 * max(len(labels), len(cols)) + 2.0)
    fig = Figure(figsize=(size + 1.5, size))
    ax = fig.add_subplot()
    peak = values.max(initial=0.0)
    ax.imshow(np.sqrt(values), cmap="Blues", vmin=0, vmax=np.sqrt(peak) if peak > 0 else 1, aspect="auto")
    ax.set_xticks(range(len(cols)), [_short(c) for c in cols], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), [_short(c) for c in labels], fontsize=8)
    for (i, j), value in np.ndenumerate(values):
        if value:
            text = f"{value:g}" if value < 1e5 else f"{value:.2g}"
            dark = peak > 0 and np.sqrt(value) > 0.6 * np.sqrt(peak)
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    return _png(fig)


def horizontal_bars_png(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    lows: Sequence[float | None] | None = None,
    highs: Sequence[float | None] | None = None,
    title: str = "",
    xlabel: str = "",
    xlim: tuple[float, float] | None = None,
) -> bytes:
    """Horizontal bars, first label at the top, with optional interval whiskers.

    A ``None`` value draws no bar and writes "n/a"; a whisker is drawn only
    when both its ends are numbers.
    """
    n = len(labels)
    fig = Figure(figsize=(6.5, max(1.6, 0.32 * n + 1.0)))
    ax = fig.add_subplot()
    y = np.arange(n)[::-1]
    heights = [v if v is not None else 0.0 for v in values]
    ax.barh(y, heights, color="#4c78a8", height=0.6)
    for yi, value in zip(y, values, strict=True):
        if value is None:
            ax.text(0, yi, " n/a", va="center", fontsize=8, color="#666")
    if lows is not None and highs is not None:
        for yi, value, lo, hi in zip(y, values, lows, highs, strict=True):
            if value is not None and lo is not None and hi is not None:
                ax.errorbar(value, yi, xerr=[[max(0.0, value - lo)], [max(0.0, hi - value)]], fmt="none", ecolor="black", capsize=3, lw=1)
    ax.set_yticks(y, [_short(label) for label in labels], fontsize=8)
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.axvline(0, color="#999", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def img_tag(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG inlined as a base64 data URI and an escaped alt text."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}">'
