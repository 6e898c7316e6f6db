"""The timeline: region activations against their threshold, with the events as coloured spans.

Drawn once with matplotlib (no pyplot, no global state) into a PNG that is both
the ``--png`` export and the HTML's timeline image; :class:`SpanBox` gives each
event's rectangle on that image so the HTML can lay clickable links over it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from detector.app.report.data import Curves, ReportData
from detector.app.report.settings import EMOTION_COLORS, GREY, LANES, ReportSettings
from detector.core.events import Event
from detector.core.facs import REGIONS


def span_color(e: Event) -> str:
    """Emotion colour for micro and macro events; grey for eye events and head motion."""
    return GREY if e.head_motion or e.kind not in ("micro", "macro") else EMOTION_COLORS.get(e.emotion, GREY)


def lane_of(e: Event) -> int:
    return next(k for k, (_, kinds) in enumerate(LANES) if e.kind in kinds)


def downsample_max(t: np.ndarray, y: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` samples of ``y(t)``: the largest value per equal bin of samples (NaN where a
    bin has none), so that a brief peak stays visible however long the video."""
    n = len(t)
    if n <= points:
        return t, y
    edges = np.linspace(0, n, points + 1).astype(np.int64)
    starts = edges[:-1]
    filled = np.where(np.isnan(y), -np.inf, y)
    peaks = np.maximum.reduceat(filled, starts)
    peaks[~np.isfinite(peaks)] = np.nan
    return t[starts], peaks


@dataclass(frozen=True)
class SpanBox:
    """An event's span on the timeline image, percent of the image's width and height."""

    index: int
    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class Timeline:
    png: bytes
    width_px: int
    height_px: int
    spans: list[SpanBox]


def render_timeline(data: ReportData, settings: ReportSettings) -> Timeline:
    """The timeline figure of ``data`` as a PNG, with the spans' boxes on it."""
    fig = Figure(figsize=(settings.timeline_width_px / settings.timeline_dpi,
                          settings.timeline_height_px / settings.timeline_dpi), dpi=settings.timeline_dpi)
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(1 + len(REGIONS), 1, sharex=True, gridspec_kw={"height_ratios": [1.6] + [1] * len(REGIONS)})
    fig.subplots_adjust(left=0.07, right=0.99, top=0.95, bottom=0.08, hspace=0.12)
    t0, t1 = data.video.first_timestamp, data.video.first_timestamp + data.video.duration
    _draw_spans(axes[0], data.events, (t1 - t0) / settings.timeline_width_px)
    for ax, r in zip(axes[1:], range(len(REGIONS))):
        _draw_region(ax, REGIONS[r], data.curves, r, data.threshold, settings.curve_points)
    axes[-1].set_xlim(t0, t1)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(f"{data.video.path}: region activation (noise units) and events", fontsize=10, x=0.07, ha="left")
    canvas.draw()
    boxes = _span_boxes(axes[0], data.events, fig)
    buf = io.BytesIO()
    canvas.print_png(buf)
    w, h = canvas.get_width_height()
    return Timeline(buf.getvalue(), w, h, boxes)


def _span_extent(e: Event, min_width_s: float) -> tuple[float, float]:
    return e.onset, max(e.offset - e.onset, min_width_s)


def _draw_spans(ax, events: list[Event], min_width_s: float) -> None:
    for lane in range(len(LANES)):
        evs = [e for e in events if lane_of(e) == lane]
        if evs:
            ax.broken_barh([_span_extent(e, 2 * min_width_s) for e in evs], (len(LANES) - 1 - lane + 0.1, 0.8),
                           facecolors=[span_color(e) for e in evs], edgecolor="none")
    ax.set_ylim(0, len(LANES))
    ax.set_yticks([len(LANES) - 1 - k + 0.5 for k in range(len(LANES))], [name for name, _ in LANES], fontsize=8)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", alpha=0.3)


def _draw_region(ax, name: str, curves: Curves | None, r: int, threshold: float, points: int) -> None:
    ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    if curves is None or not curves.has_activation:
        ax.text(0.5, 0.5, "no activations (no frames CSV, or one without act_ columns)", transform=ax.transAxes,
                ha="center", va="center", fontsize=7, color=GREY)
        ax.set_yticks([])
        return
    t, y = downsample_max(curves.t, curves.activation[:, r], points)
    top = max(2.0 * threshold, float(np.nanpercentile(curves.activation[:, r], 99.5)))
    ax.plot(t, np.minimum(y, top), color="#333333", linewidth=0.7)
    ax.fill_between(t, threshold, np.minimum(y, top), where=np.nan_to_num(y) > threshold, color="#d62728",
                    alpha=0.5, linewidth=0)
    ax.axhline(threshold, color="#d62728", linestyle="--", linewidth=0.7)
    ax.set_ylim(0, top * 1.05)


def _span_boxes(ax, events: list[Event], fig) -> list[SpanBox]:
    """Each event's lane rectangle in percent of the figure (y from the top), for the HTML links."""
    w, h = fig.canvas.get_width_height()
    boxes = []
    for i, e in enumerate(events):
        lane = len(LANES) - 1 - lane_of(e)
        (x0, y0), (x1, y1) = ax.transData.transform([(e.onset, lane + 0.05), (e.offset, lane + 0.95)])
        boxes.append(SpanBox(i, 100.0 * x0 / w, 100.0 * (1.0 - y1 / h), 100.0 * max(x1 - x0, 1.0) / w,
                             100.0 * (y1 - y0) / h))
    return boxes
