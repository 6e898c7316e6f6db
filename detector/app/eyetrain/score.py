"""Answers, accuracy per emotion and per duration, the before/after summary, and the CSV files.

Two files in the user's data folder (``$MICROEXPR_DATA``, else
``$XDG_DATA_HOME/microexpr``, else ``~/.local/share/microexpr``), both
rewritten atomically (a temporary file, then ``os.replace``) after every
answer so a session that ends early keeps what it scored:

* ``train_answers.csv``: one row per answer, every session (:data:`ANSWER_FIELDS`);
* ``train_summary.csv``: per session, accuracy per emotion, per duration band and per half
  (:data:`SUMMARY_FIELDS`);
* ``train_mirror.csv``: the mirror rounds, one row per emotion (:data:`MIRROR_FIELDS`).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from detector.app.eyetrain.options import EMOTIONS
from detector.core.files import replace_atomically

ANSWERS_FILE = "train_answers.csv"
SUMMARY_FILE = "train_summary.csv"
MIRROR_FILE = "train_mirror.csv"

#: Duration bands of the summary, by the duration shown (ms): (label, upper bound).
DURATION_BANDS: tuple[tuple[str, float], ...] = (
    ("<=50", 50.0), ("50-100", 100.0), ("100-200", 200.0), ("200-350", 350.0), (">350", float("inf")),
)


@dataclass(frozen=True)
class Answer:
    """One answered round.  Durations in ms: ``requested_ms`` asked by the ladder, ``shown_ms`` =
    ``frames`` x ``frame_ms`` (what the display can show), ``measured_ms`` between the presentation
    timestamps of the first flash frame and the first frame after it."""

    session: str
    seed: int
    round: int
    face: str
    emotion: str
    kind: str
    aus: str
    intensity: float
    requested_ms: float
    frames: int
    frame_ms: float
    shown_ms: float
    measured_ms: float
    answer: str
    correct: bool
    response_ms: float


ANSWER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Answer))
SUMMARY_FIELDS: tuple[str, ...] = ("session", "group", "key", "n", "correct", "accuracy")
MIRROR_FIELDS: tuple[str, ...] = ("session", "emotion", "shown", "missing", "frames", "frames_without_face")


def data_dir(override: Path | None = None) -> Path:
    """Where the score files live (see the module docstring)."""
    if override is not None:
        return Path(override)
    if os.environ.get("MICROEXPR_DATA"):
        return Path(os.environ["MICROEXPR_DATA"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "microexpr"


def duration_band(ms: float) -> str:
    for label, hi in DURATION_BANDS:
        if ms <= hi:
            return label
    return DURATION_BANDS[-1][0]


@dataclass(frozen=True)
class Tally:
    n: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")


def _tally(answers: list[Answer]) -> Tally:
    return Tally(len(answers), sum(a.correct for a in answers))


def per_emotion(answers: list[Answer]) -> dict[str, Tally]:
    """Accuracy per emotion shown, in key order (emotions not shown are left out)."""
    return {e: _tally([a for a in answers if a.emotion == e]) for e in EMOTIONS if any(a.emotion == e for a in answers)}


def per_duration(answers: list[Answer]) -> dict[str, Tally]:
    """Accuracy per band of the duration shown."""
    out: dict[str, Tally] = {}
    for label, _ in DURATION_BANDS:
        group = [a for a in answers if duration_band(a.shown_ms) == label]
        if group:
            out[label] = _tally(group)
    return out


@dataclass(frozen=True)
class Halves:
    """The session's first and second half: accuracy and mean duration shown."""

    before: Tally
    after: Tally
    before_ms: float
    after_ms: float


def halves(answers: list[Answer]) -> Halves:
    mid = len(answers) // 2
    first, second = answers[:mid], answers[mid:]

    def mean_ms(group: list[Answer]) -> float:
        return sum(a.shown_ms for a in group) / len(group) if group else float("nan")

    return Halves(_tally(first), _tally(second), mean_ms(first), mean_ms(second))


def summary_rows(answers: list[Answer]) -> list[dict]:
    """The session's rows of ``train_summary.csv``."""
    if not answers:
        return []
    session = answers[0].session
    h = halves(answers)
    groups = [("emotion", k, t) for k, t in per_emotion(answers).items()]
    groups += [("duration_ms", k, t) for k, t in per_duration(answers).items()]
    groups += [("half", "before", h.before), ("half", "after", h.after), ("all", "all", _tally(answers))]
    return [
        {"session": session, "group": g, "key": k, "n": t.n, "correct": t.correct,
         "accuracy": f"{t.accuracy:.3f}" if t.n else ""}
        for g, k, t in groups
    ]


def _fmt(t: Tally) -> str:
    return f"{t.correct}/{t.n} ({100 * t.accuracy:.0f} %)" if t.n else "-"


def summary_lines(answers: list[Answer]) -> list[str]:
    """The session's summary as text lines (stdout and the last screen)."""
    if not answers:
        return ["no rounds answered"]
    lines = [f"accuracy {_fmt(_tally(answers))}"]
    if len(answers) >= 2:
        h, mid = halves(answers), len(answers) // 2
        lines += [f"before (rounds 1-{mid}): {_fmt(h.before)}, flashes {h.before_ms:.0f} ms on average",
                  f"after  (rounds {mid + 1}-{len(answers)}): {_fmt(h.after)}, flashes {h.after_ms:.0f} ms on average"]
    lines += [f"  {e:<10} {_fmt(t)}" for e, t in per_emotion(answers).items()]
    lines += [f"  {b + ' ms':<10} {_fmt(t)}" for b, t in per_duration(answers).items()]
    return lines


def _answer_row(a: Answer) -> dict:
    row = asdict(a)
    for k in ("intensity",):
        row[k] = f"{row[k]:.3f}"
    for k in ("requested_ms", "frame_ms", "shown_ms", "measured_ms", "response_ms"):
        row[k] = f"{row[k]:.2f}"
    row["correct"] = int(a.correct)
    return row


def _read_rows(path: Path, header: tuple[str, ...], keep) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != header:
            raise OSError(f"{path} is not a microexpr train file (unexpected header); move it away")
        return [r for r in reader if keep(r)]


def write_csv_atomic(path: Path, header: tuple[str, ...], rows: list[dict]) -> None:
    """Write a CSV whole or not at all (:func:`detector.core.files.replace_atomically`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(header), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    replace_atomically(path, buf.getvalue().encode("utf-8"))


class ScoreBook:
    """The session's answers, saved with every earlier session's rows after each answer."""

    def __init__(self, folder: Path, session: str) -> None:
        self.folder = folder
        self.session = session
        self.answers: list[Answer] = []
        self._earlier_answers = _read_rows(folder / ANSWERS_FILE, ANSWER_FIELDS, lambda r: r["session"] != session)
        self._earlier_summary = _read_rows(folder / SUMMARY_FILE, SUMMARY_FIELDS, lambda r: r["session"] != session)
        self._earlier_mirror = _read_rows(folder / MIRROR_FILE, MIRROR_FIELDS, lambda r: r["session"] != session)

    @property
    def answers_path(self) -> Path:
        return self.folder / ANSWERS_FILE

    @property
    def summary_path(self) -> Path:
        return self.folder / SUMMARY_FILE

    def add(self, answer: Answer) -> None:
        self.answers.append(answer)
        self.save()

    def save(self) -> None:
        rows = self._earlier_answers + [_answer_row(a) for a in self.answers]
        write_csv_atomic(self.answers_path, ANSWER_FIELDS, rows)
        write_csv_atomic(self.summary_path, SUMMARY_FIELDS, self._earlier_summary + summary_rows(self.answers))

    def save_mirror(self, rows: list[dict]) -> None:
        """The session's mirror rounds (:data:`MIRROR_FIELDS` without ``session``) after earlier sessions' rows."""
        mine = [{"session": self.session, **r} for r in rows]
        write_csv_atomic(self.folder / MIRROR_FILE, MIRROR_FIELDS, self._earlier_mirror + mine)
