"""``microexpr report``: one self-contained HTML file to *look at* a run's events.

Layers, each a small module:

* :mod:`detector.app.report.data` — events JSONL + frames CSV (read with
  :mod:`detector.app.sinks`' readers) checked against the video → :class:`ReportData`.
  Core dependencies only.
* :mod:`detector.app.report.frames` — face crops of onset / apex / offset, the
  difference image and the motion-magnified apex, as inlined JPEG data URIs.
* :mod:`detector.app.report.timeline` — the timeline figure (matplotlib) and the
  clickable span geometry laid over it.
* :mod:`detector.app.report.cards` — per-event cards and the summary table (view models).
* :mod:`detector.app.report.build` — renders the jinja2 template
  (``templates/report.html.j2``) into one HTML file.

Plotting library: **matplotlib**.  The timeline must also be a PNG
(``--png``) for papers and slides, and the HTML must open offline in under 3 s
for a 1-hour video: matplotlib draws one static image whose size does not grow
with the video (curves are downsampled, spans drawn as one collection), while
plotly would need its ~3.5 MB JavaScript bundle inlined into every report (no
CDN allowed) and a separate image-export engine (kaleido) for the PNG.

matplotlib and jinja2 come with the optional extra ``pip install
"microexpr[report]"``; :func:`require_extra` says so in one line when they are
missing.  This module and :mod:`detector.app.report.data` import neither.
"""

from __future__ import annotations

import importlib.util

from detector.app.report.data import ReportError

#: What to install for the report.
EXTRA_HINT = 'pip install "microexpr[report]"'
_EXTRA_MODULES = ("matplotlib", "jinja2")

__all__ = ["EXTRA_HINT", "ReportError", "require_extra"]


def require_extra() -> None:
    """Raise :class:`ReportError` (one line) unless the ``[report]`` extra's libraries are installed."""
    missing = [m for m in _EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise ReportError(f"the report needs {' and '.join(missing)}, which are not installed: {EXTRA_HINT}")
