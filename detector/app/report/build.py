"""Assemble the report: timeline, cards and summary rendered through the jinja2 template
into one self-contained HTML file (images inlined, no network), plus the timeline PNG."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import jinja2

from detector import __version__
from detector.app.report.cards import build_cards, summary_table
from detector.app.report.data import ReportData
from detector.app.report.frames import all_thumbnails
from detector.app.report.settings import EMOTION_COLORS, GREY, ReportSettings
from detector.app.report.timeline import render_timeline
from detector.stages.landmarks import LandmarkerOptions

TEMPLATE = "report.html.j2"


@dataclass(frozen=True)
class Report:
    html: bytes
    timeline_png: bytes


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("detector.app.report", "templates"),
                              autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def bar_px(value: float | None, full: int) -> int:
    """Width in pixels of a bar for a value 0..1 (None: 0) on a bar ``full`` pixels long."""
    return round(full * min(max(value or 0.0, 0.0), 1.0))


def make_report(data: ReportData, landmarks: LandmarkerOptions, settings: ReportSettings = ReportSettings()) -> Report:
    """Render ``data`` (faces found with ``landmarks``' model) into the HTML report and timeline PNG."""
    timeline = render_timeline(data, settings)
    thumbs = all_thumbnails(data.video.path, data.events, landmarks, settings)
    html = _environment().get_template(TEMPLATE).render(
        title=f"microexpr report: {data.video.path}",
        version=__version__,
        data=data,
        timeline=timeline,
        timeline_uri="data:image/png;base64," + base64.b64encode(timeline.png).decode("ascii"),
        cards=build_cards(data.events, thumbs, settings),
        summary=summary_table(data, len(thumbs)),
        emotion_colors=EMOTION_COLORS,
        grey=GREY,
        settings=settings,
        px=bar_px,
    )
    return Report(html.encode("utf-8"), timeline.png)
