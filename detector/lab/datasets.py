"""Loaders for labelled micro-expression datasets, laid out as their owners distribute them.

Each loader returns a list of :class:`Clip`: one folder of numbered frames (or
one video file) with the annotated expression intervals inside it.  Frame
numbers in the annotation sheets are the numbers in the image file names
(``img46.jpg`` -> 46, ``006_05562.jpg`` -> 5562); the loaders turn them into
**0-based positions in the numerically sorted frame list** (:func:`numbered_frames`),
which is how ``microexpr analyze`` numbers the frames of an image folder.  So a
truth ``onset_frame`` and a predicted ``onset_frame`` count the same frames.

Supported layouts (``ROOT`` is the folder given to ``microexpr evaluate --dataset``):

``casme2`` (CASME II, 200 fps)
    ``ROOT/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg ...`` (also ``CASME2-RAW``,
    ``CASME2_RAW``, ``Cropped``, ``CASME2_Cropped``, ``Cropped_original``, or ROOT
    itself holding ``subNN`` folders) and the sheet ``CASME2-coding-*.xlsx`` (or
    ``.csv``) with columns Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame,
    Estimated Emotion.  Every CASME II sample is labelled a micro-expression
    (``kind="micro"``) whatever its length.  Emotions happiness, disgust, surprise,
    fear, sadness map to ours; ``repression`` and ``others`` have no counterpart and
    become ``emotion=None`` (the verbatim label stays in ``Annotation.label``); such
    events count for spotting but not for emotion accuracy.
``samm`` (SAMM micro-expressions, 200 fps)
    ``ROOT/SAMM/006/006_1_2/006_05562.jpg ...`` (also ``SAMM_CROP``, or ROOT itself
    holding the ``006`` folders) and ``SAMM_Micro_FACS_Codes_v2.xlsx`` (or ``.csv``);
    the header row (Subject, Filename, Onset Frame, Apex Frame, Offset Frame, Type,
    Estimated Emotion, ...) is found by its column names below the title rows.
    ``kind`` comes from Type (``Micro - 1/2`` -> micro, ``Macro`` -> macro), micro
    when Type says neither.  ``Other`` -> ``emotion=None``.
``samm_long`` (SAMM Long Videos, MEGC spotting, 200 fps)
    ``ROOT/SAMM_longvideos/006_1/006_1_0001.jpg ...`` and
    ``SAMM_LongVideos_V1_Release.xlsx`` (header found by names: Subject, Filename,
    Onset, Apex, Offset, Type); ``Filename`` ``006_1_3`` is expression 3 of video
    ``006_1``.  Micro and macro events by Type; no emotion labels.
``casme_sq`` (CAS(ME)^2, 30 fps)
    ``ROOT/rawpic/s15/15_0101disgustingteeth/img1.jpg ...`` and
    ``CAS(ME)^2code_final*.xlsx``.  Its first sheet has no header: participant,
    expression name (``disgust1_3`` = 3rd expression while watching stimulus
    ``disgust1``), onset, apex, offset, AUs, estimated emotion, expression type
    (``micro-expression``/``macro-expression``), self-reported emotion.  Sheet
    ``naming rule1`` maps the participant to the rawpic subject number
    (columns: rawpic number, -, participant), sheet ``naming rule2`` maps the
    stimulus name to its 4-digit video code (columns: code, name); the folder is
    ``rawpic/s{number}/{number}_{code:04d}*``.  A CSV version of the code sheet
    works too, with ``naming rule1.csv`` / ``naming rule2.csv`` beside it.  An
    offset of 0 or -1 (not coded) becomes ``2 * apex - onset``, as the MEGC
    spotting code does (same for SAMM Long Videos); an apex of 0/-1 is
    ``None``.  Estimated emotions are mostly valences (positive/negative); only
    those naming one of our emotions (``surprise``) map, the rest -> ``None``.
``csv`` (generic)
    ``ROOT/annotations.csv`` with columns clip, subject, onset_frame, apex_frame,
    offset_frame, emotion, kind, fps (apex_frame, emotion, kind optional; kind
    derived from the duration when absent: < 0.5 s micro, else macro), and per
    clip ``ROOT/<clip>/`` (numbered images) or a video file ``ROOT/<clip>`` /
    ``ROOT/<clip>.<ext>``.  Here frame numbers are already 0-based frame indices
    (microexpr's own convention), not file-name numbers.

Sheets are read from CSV or XLSX (XLSX with openpyxl: ``pip install "microexpr[eval]"``).
Legacy binary ``.xls`` files are not read: save them as ``.xlsx`` or ``.csv``.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from detector.core.events import KINDS
from detector.core.facs import EMOTIONS
from detector.core.options import MEDIA, MICRO_MAX_S
from detector.stages.source import frame_number, numbered_images

log = logging.getLogger("microexpr.datasets")

#: Dataset names accepted by :func:`load_dataset` (and ``evaluate --dataset``).
DATASETS: tuple[str, ...] = ("casme2", "samm", "samm_long", "casme_sq", "csv")

#: Frame rate each dataset was recorded at (frames per second).
DATASET_FPS: dict[str, float] = {"casme2": 200.0, "samm": 200.0, "samm_long": 200.0, "casme_sq": 30.0}



class DatasetError(ValueError):
    """A dataset folder or annotation sheet is missing, unreadable or malformed."""


@dataclass(frozen=True)
class Annotation:
    """One expression interval, annotated (truth) or detected (prediction).

    Frames are 0-based indices into the clip's frames; times are seconds.  Either
    unit may be missing (``None``), not both.  ``kind`` is ``"micro"``,
    ``"macro"``, ``"blink"`` or ``None`` (unknown); ``emotion`` is one of
    ``detector.core.facs.EMOTIONS`` or ``None`` (unlabelled / no counterpart);
    ``label`` keeps the source's own emotion label verbatim.  ``fps`` (frames
    per second), when known, converts frames to seconds.
    """

    onset_frame: int | None = None
    apex_frame: int | None = None
    offset_frame: int | None = None
    onset: float | None = None
    apex: float | None = None
    offset: float | None = None
    kind: str | None = None
    emotion: str | None = None
    clip: str | None = None
    face: int | None = None
    fps: float | None = None
    label: str | None = None
    clip_duration: float | None = None  # seconds, length of the whole clip (for false alarms/min)


@dataclass
class Clip:
    """One annotated clip: a folder of numbered frames (or a video file) and its events.

    ``events`` frame fields are 0-based positions in ``frames`` (for a video:
    0-based decoded frame indices); ``fps`` is frames per second.
    """

    subject: str
    name: str
    frames_dir: Path
    fps: float
    events: list[Annotation] = field(default_factory=list)
    frames: tuple[Path, ...] = ()
    frame_numbers: tuple[int, ...] = ()
    n_frames: int = 0

    @property
    def key(self) -> str:
        """``subject/name``: unique within a dataset."""
        return f"{self.subject}/{self.name}"

    @property
    def duration(self) -> float:
        """Clip length in seconds (``n_frames / fps``)."""
        return self.n_frames / self.fps if self.fps > 0 else 0.0

    @property
    def is_video(self) -> bool:
        return self.frames_dir.is_file()


# --------------------------------------------------------------------------- frames




def numbered_frames(folder: str | Path) -> list[tuple[int, Path]]:
    """Images in ``folder`` as ``(number, path)``, sorted numerically (``img10`` after ``img9``).

    Same order as ``detector.stages.source.numbered_images`` (what ``analyze`` reads),
    so positions in this list are the analysis' frame indices: an image whose
    name holds no number gets number -1 and sorts first (with a warning).  Two
    images with the same number are an error (the annotation would be ambiguous).
    """
    folder = Path(folder)
    out: list[tuple[int, Path]] = []
    for p in numbered_images(folder):
        n = frame_number(p)
        if n is None:
            log.warning("%s: image name has no frame number; it sorts first, as the analysis reads it", p)
        out.append((-1 if n is None else n, p))
    for (a, pa), (b, pb) in zip(out, out[1:], strict=False):
        if a == b:
            raise DatasetError(f"{folder}: two images with frame number {a} ({pa.name}, {pb.name})")
    return out


def _frame_index(numbers: Sequence[int], number: int, where: str) -> int:
    """0-based position of file-name frame ``number`` among the sorted ``numbers``.

    A number between two files maps to the next file; outside the range it is
    clamped to the first/last frame with a warning.
    """
    i = bisect_left(numbers, number)
    if i >= len(numbers):
        log.warning("%s: frame %d is after the last image (%d); using the last", where, number, numbers[-1])
        return len(numbers) - 1
    if i == 0 and number < numbers[0]:
        log.warning("%s: frame %d is before the first image (%d); using the first", where, number, numbers[0])
    return i


# --------------------------------------------------------------------------- sheets


def _xlsx_cell(v: object) -> object:
    """A cell as the readers give it: str, float (numbers and booleans) or None."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (bool, int, float)):
        return float(v)
    return str(v)  # a date or time: its text


def _read_xlsx(path: Path) -> dict[str, list[list[object]]]:
    """All worksheets of an .xlsx file (openpyxl, the [eval] extra): name -> rows of cells (str, float or None)."""
    try:
        import openpyxl
    except ImportError:
        raise DatasetError(f'{path}: reading .xlsx sheets needs openpyxl: pip install "microexpr[eval]" '
                           "(or save the sheet as .csv)") from None
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
    except Exception as e:  # openpyxl raises zipfile, KeyError, XML and its own errors for a bad file
        raise DatasetError(f"{path}: not a readable .xlsx workbook ({e.__class__.__name__}: {e})") from None
    try:
        sheets: dict[str, list[list[object]]] = {}
        for ws in wb.worksheets:
            rows = []
            for row in ws.iter_rows(min_row=1, min_col=1, values_only=True):
                cells = [_xlsx_cell(v) for v in row]
                while cells and cells[-1] is None:
                    cells.pop()
                rows.append(cells)
            while rows and not rows[-1]:
                rows.pop()
            sheets[ws.title] = rows
        return sheets
    finally:
        wb.close()


def read_sheets(path: str | Path) -> dict[str, list[list[object]]]:
    """Every sheet of a spreadsheet file as rows of cells: ``{sheet name: rows}``.

    ``.xlsx``/``.xlsm`` cells are ``str``, ``float`` or ``None``; a ``.csv`` file
    is one sheet named after the file stem, cells ``str`` (``None`` for empty).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"annotation sheet not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    if suffix == ".xls":
        raise DatasetError(f"{path}: legacy .xls workbooks are not supported; save it as .xlsx or .csv")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [[c if c.strip() != "" else None for c in row] for row in csv.reader(f)]
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not a UTF-8 text CSV file") from None
    except (OSError, csv.Error) as e:
        raise DatasetError(f"{path}: cannot read as CSV ({e})") from None
    return {path.stem: rows}


def read_sheet(path: str | Path, sheet: str | int = 0) -> list[list[object]]:
    """One sheet (by name or 0-based position) of a spreadsheet file; see :func:`read_sheets`."""
    sheets = read_sheets(path)
    if isinstance(sheet, int):
        if sheet >= len(sheets):
            raise DatasetError(f"{path}: has no sheet number {sheet + 1}")
        return list(sheets.values())[sheet]
    if sheet not in sheets:
        raise DatasetError(f"{path}: no sheet named {sheet!r} (sheets: {', '.join(sheets)})")
    return sheets[sheet]


def _norm(s: object) -> str:
    """Header normalisation: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", str(s).lower()) if s is not None else ""


def find_header(rows: list[list[object]], required: Iterable[str], where: str) -> tuple[int, dict[str, int]]:
    """Locate the header row holding all ``required`` column names (case/space-insensitive).

    Returns the row index and ``{normalised name: column}`` for every named cell of that row.
    """
    need = {_norm(r) for r in required}
    for i, row in enumerate(rows[:200]):
        cols = {_norm(c): j for j, c in enumerate(row) if _norm(c)}
        if need <= cols.keys():
            return i, cols
    raise DatasetError(f"{where}: no header row with columns {', '.join(sorted(required))}")


def _cell(row: Sequence[object], j: int | None) -> object:
    if j is None or j >= len(row):
        return None
    v = row[j]
    if isinstance(v, str):
        v = v.strip()
        return v or None
    return v


def _int_cell(v: object, where: str, name: str, missing_ok: bool = True) -> int | None:
    """An integer cell; ``None``, ``/``, ``-``, ``n/a`` mean missing."""
    if v is None or (isinstance(v, str) and v.strip().lower() in ("", "/", "-", "n/a", "na", "nan")):
        if missing_ok:
            return None
        raise DatasetError(f"{where}: {name} is missing")
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: {name} {v!r} is not a number") from None
    if not math.isfinite(f) or f != int(f):
        raise DatasetError(f"{where}: {name} {v!r} is not a whole frame number")
    return int(f)


_EMOTION_ALIASES: dict[str, str] = {
    "happy": "happiness",
    "happiness": "happiness",
    "joy": "happiness",
    "sad": "sadness",
    "sadness": "sadness",
    "surprise": "surprise",
    "surprised": "surprise",
    "fear": "fear",
    "afraid": "fear",
    "scared": "fear",
    "disgust": "disgust",
    "disgusted": "disgust",
    "anger": "anger",
    "angry": "anger",
    "contempt": "contempt",
    "contemptuous": "contempt",
    "neutral": "neutral",
}


def map_emotion(label: object) -> str | None:
    """Map a dataset's emotion label to one of ``facs.EMOTIONS``, or ``None`` if it has no counterpart.

    Repression, others, positive, negative, tense, ... -> ``None``.
    """
    if label is None:
        return None
    key = str(label).strip().lower()
    out = _EMOTION_ALIASES.get(key)
    assert out is None or out in EMOTIONS
    return out


def kind_from_text(value: object) -> str | None:
    """``micro``/``macro``/``blink``/``closure`` from labels such as ``Micro - 1/2``, ``macro-expression``."""
    if value is None:
        return None
    s = str(value).strip().lower()
    for k in KINDS:
        if s.startswith(k):
            return k
    return None


def kind_from_frames(onset_frame: int, offset_frame: int, fps: float) -> str:
    """micro when ``(offset_frame - onset_frame) / fps < 0.5 s``, else macro."""
    return "micro" if (offset_frame - onset_frame) / fps < MICRO_MAX_S else "macro"


def _find_file(root: Path, patterns: Sequence[str], what: str) -> Path:
    """First file matching one of ``patterns`` in ``root`` or one folder below (xlsx before csv)."""
    hits: list[Path] = []
    for pat in patterns:
        hits += sorted(p for p in root.glob(pat) if p.is_file() and not p.name.startswith("~$"))
        hits += sorted(p for p in root.glob(f"*/{pat}") if p.is_file() and not p.name.startswith("~$"))
        if hits:
            break
    if not hits:
        raise DatasetError(f"{root}: no {what} found (looked for {', '.join(patterns)})")
    hits.sort(key=lambda p: (p.suffix.lower() not in (".xlsx", ".xlsm"), len(p.parts), p.name))
    return hits[0]


def _find_frames_root(root: Path, names: Sequence[str], child: re.Pattern[str], what: str) -> Path:
    """The folder (one of ``names`` under ``root``, or ``root``) whose subfolders match ``child``."""
    for cand in [root / n for n in names] + [root]:
        if cand.is_dir() and any(p.is_dir() and child.fullmatch(p.name) for p in cand.iterdir()):
            return cand
    raise DatasetError(f"{root}: no {what} frame folders found (looked in {', '.join(names)} and ROOT itself)")


def _check_root(root: str | Path) -> Path:
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset folder not found: {root}")
    if not root.is_dir():
        raise DatasetError(f"dataset ROOT must be a folder: {root}")
    return root


def _make_clip(subject: str, name: str, folder: Path, fps: float) -> Clip | None:
    """A clip for an image folder (frames listed, no events yet), or None if unusable."""
    if not folder.is_dir():
        log.warning("%s: clip folder missing, skipped", folder)
        return None
    try:
        frames = numbered_frames(folder)
    except DatasetError as e:
        log.warning("%s; clip skipped", e)
        return None
    if not frames:
        log.warning("%s: no numbered images, skipped", folder)
        return None
    return Clip(
        subject=subject,
        name=name,
        frames_dir=folder,
        fps=fps,
        frames=tuple(p for _, p in frames),
        frame_numbers=tuple(n for n, _ in frames),
        n_frames=len(frames),
    )


def _add_event(
    clip: Clip,
    onset: int | None,
    apex: int | None,
    offset: int | None,
    kind: str | None,
    label: object,
    where: str,
    numbered: bool = True,
) -> None:
    """Append one event given in file-name frame numbers (``numbered``) or 0-based indices."""
    if onset is None or offset is None:
        log.warning("%s: onset or offset not coded, event skipped", where)
        return
    if offset < onset:
        raise DatasetError(f"{where}: offset frame {offset} is before onset frame {onset}")
    if apex is not None and not onset <= apex <= offset:
        log.warning("%s: apex frame %d outside onset..offset (%d..%d)", where, apex, onset, offset)
    if numbered:
        nums = clip.frame_numbers
        on, off = _frame_index(nums, onset, where), _frame_index(nums, offset, where)
        ap = _frame_index(nums, apex, where) if apex is not None else None
    else:
        on, ap, off = onset, apex, offset
        if clip.n_frames and off >= clip.n_frames:
            log.warning("%s: offset frame %d beyond the clip's %d frames", where, off, clip.n_frames)
    fps = clip.fps
    clip.events.append(
        Annotation(
            onset_frame=on,
            apex_frame=ap,
            offset_frame=off,
            onset=on / fps,
            apex=None if ap is None else ap / fps,
            offset=off / fps,
            kind=kind or kind_from_frames(on, off, fps),
            emotion=map_emotion(label),
            clip=clip.key,
            fps=fps,
            label=None if label is None else str(label).strip(),
            clip_duration=clip.duration,
        )
    )


def _finish(clips: dict[str, Clip], root: Path, what: str) -> list[Clip]:
    out = [c for c in clips.values() if c.events]
    if not out:
        raise DatasetError(f"{root}: no {what} clip with both frames and annotations was found")
    out.sort(key=lambda c: (natural_key(c.subject), natural_key(c.name)))
    for c in out:
        c.events.sort(key=lambda e: (e.onset_frame, e.offset_frame))
    return out


def natural_key(s: str) -> tuple:
    """Sort key that orders digit runs numerically (``sub2`` before ``sub10``)."""
    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(s)))


# --------------------------------------------------------------------------- CASME II


def load_casme2(root: str | Path, fps: float | None = None) -> list[Clip]:
    """CASME II clips (see the module docstring for the layout); ``fps`` default 200."""
    root = _check_root(root)
    fps = fps or DATASET_FPS["casme2"]
    sheet = _find_file(
        root,
        ["CASME2-coding*.xlsx", "CASME2*coding*.xlsx", "CASME2-coding*.csv", "CASME2*coding*.csv"],
        "CASME II annotation sheet (CASME2-coding-*.xlsx)",
    )
    frames_root = _find_frames_root(
        root,
        [
            "CASME2_RAW_selected",
            "CASME2-RAW",
            "CASME2_RAW",
            "CASME2-RAW-selected",
            "Cropped",
            "CASME2_Cropped",
            "Cropped_original",
            "CASME2_RAW_selected/CASME2_RAW_selected",
        ],
        re.compile(r"sub\d+", re.I),
        "CASME II (subNN)",
    )
    subject_dirs = {
        int(p.name[3:]): p for p in frames_root.iterdir() if p.is_dir() and re.fullmatch(r"sub\d+", p.name, re.I)
    }
    rows = read_sheet(sheet, 0)
    h, cols = find_header(rows, ["Subject", "Filename", "OnsetFrame", "OffsetFrame"], str(sheet))
    c_apex = cols.get("apexframe")
    c_emo = cols.get("estimatedemotion", cols.get("emotion"))
    clips: dict[str, Clip] = {}
    for i, row in enumerate(rows[h + 1 :], start=h + 2):
        where = f"{sheet.name} row {i}"
        subj, fname = _cell(row, cols["subject"]), _cell(row, cols["filename"])
        if subj is None and fname is None:
            continue
        if subj is None or fname is None:
            raise DatasetError(f"{where}: Subject or Filename is empty")
        n = _int_cell(
            re.sub(r"^sub", "", str(subj), flags=re.I) if isinstance(subj, str) else subj, where, "Subject", False
        )
        subject = f"sub{n:02d}"
        name = str(fname)
        key = f"{subject}/{name}"
        if key not in clips:
            folder = subject_dirs.get(n)
            clip = _make_clip(subject, name, folder / name if folder else frames_root / subject / name, fps)
            if clip is None:
                continue
            clips[key] = clip
        _add_event(
            clips[key],
            _int_cell(_cell(row, cols["onsetframe"]), where, "OnsetFrame"),
            _int_cell(_cell(row, c_apex), where, "ApexFrame"),
            _int_cell(_cell(row, cols["offsetframe"]), where, "OffsetFrame"),
            "micro",
            _cell(row, c_emo),
            where,
        )
    return _finish(clips, root, "CASME II")


# --------------------------------------------------------------------------- SAMM


def load_samm(root: str | Path, fps: float | None = None) -> list[Clip]:
    """SAMM micro-expression clips (see the module docstring); ``fps`` default 200."""
    root = _check_root(root)
    fps = fps or DATASET_FPS["samm"]
    sheet = _find_file(
        root,
        ["SAMM_Micro_FACS_Codes*.xlsx", "SAMM*Codes*.xlsx", "SAMM_Micro_FACS_Codes*.csv", "SAMM*Codes*.csv"],
        "SAMM annotation sheet (SAMM_Micro_FACS_Codes_v2.xlsx)",
    )
    frames_root = _find_frames_root(
        root, ["SAMM", "SAMM_CROP", "SAMM/SAMM"], re.compile(r"\d{3}"), "SAMM (006, 007, ...)"
    )
    rows = read_sheet(sheet, 0)
    h, cols = find_header(rows, ["Subject", "Filename", "Onset Frame", "Offset Frame"], str(sheet))
    clips: dict[str, Clip] = {}
    for i, row in enumerate(rows[h + 1 :], start=h + 2):
        where = f"{sheet.name} row {i}"
        subj, fname = _cell(row, cols["subject"]), _cell(row, cols["filename"])
        if subj is None and fname is None:
            continue
        if subj is None or fname is None:
            raise DatasetError(f"{where}: Subject or Filename is empty")
        subject = f"{_int_cell(subj, where, 'Subject', False):03d}"
        name = str(fname)
        key = f"{subject}/{name}"
        if key not in clips:
            clip = _make_clip(subject, name, frames_root / subject / name, fps)
            if clip is None:
                continue
            clips[key] = clip
        _add_event(
            clips[key],
            _int_cell(_cell(row, cols["onsetframe"]), where, "Onset Frame"),
            _int_cell(_cell(row, cols.get("apexframe")), where, "Apex Frame"),
            _int_cell(_cell(row, cols["offsetframe"]), where, "Offset Frame"),
            kind_from_text(_cell(row, cols.get("type"))) or "micro",
            _cell(row, cols.get("estimatedemotion", cols.get("emotion"))),
            where,
        )
    return _finish(clips, root, "SAMM")


def load_samm_long(root: str | Path, fps: float | None = None) -> list[Clip]:
    """SAMM Long Videos (MEGC spotting; micro and macro events); ``fps`` default 200."""
    root = _check_root(root)
    fps = fps or DATASET_FPS["samm_long"]
    sheet_path = _find_file(
        root,
        ["SAMM_LongVideos*.xlsx", "SAMM*Long*.xlsx", "SAMM_LongVideos*.csv", "SAMM*Long*.csv"],
        "SAMM Long Videos sheet (SAMM_LongVideos_V1_Release.xlsx)",
    )
    frames_root = _find_frames_root(
        root,
        ["SAMM_longvideos", "SAMM_LongVideos", "SAMMLV/SAMM_longvideos"],
        re.compile(r"\d{3}_\d+"),
        "SAMM long-video (006_1, ...)",
    )
    required = ["Subject", "Filename", "Onset", "Offset"]
    found = None
    for name, rows in read_sheets(sheet_path).items():
        try:
            found = (name, rows, *find_header(rows, required, str(sheet_path)))
            break
        except DatasetError:
            continue
    if found is None:
        raise DatasetError(f"{sheet_path}: no sheet has a header row with columns {', '.join(required)}")
    _, rows, h, cols = found
    c_on = cols.get("onset", cols.get("onsetframe"))
    c_ap = cols.get("apex", cols.get("apexframe"))
    c_off = cols.get("offset", cols.get("offsetframe"))
    clips: dict[str, Clip] = {}
    for i, row in enumerate(rows[h + 1 :], start=h + 2):
        where = f"{sheet_path.name} row {i}"
        subj, fname = _cell(row, cols["subject"]), _cell(row, cols["filename"])
        if subj is None and fname is None:
            continue
        if fname is None:
            raise DatasetError(f"{where}: Filename is empty")
        m = re.fullmatch(r"(\d+_\d+)_\d+", str(fname))
        video = m.group(1) if m else str(fname)
        subject = video.split("_")[0]
        key = f"{subject}/{video}"
        if key not in clips:
            clip = _make_clip(subject, video, frames_root / video, fps)
            if clip is None:
                continue
            clips[key] = clip
        onset, apex, offset = _uncoded(
            _int_cell(_cell(row, c_on), where, "Onset"),
            _int_cell(_cell(row, c_ap), where, "Apex"),
            _int_cell(_cell(row, c_off), where, "Offset"),
        )
        _add_event(clips[key], onset, apex, offset, kind_from_text(_cell(row, cols.get("type"))), None, where)
    return _finish(clips, root, "SAMM long-video")


# --------------------------------------------------------------------------- CAS(ME)^2


def _rule_rows(rules: dict[str, list[list[object]]], root: Path, n: int) -> list[list[object]]:
    """Rows of CAS(ME)^2's ``naming rule{n}`` sheet, from the workbook or a CSV beside it."""
    for name, rows in rules.items():
        if _norm(name) == f"namingrule{n}":
            return rows
    for p in sorted(root.glob(f"*aming*ule*{n}*.csv")) + sorted(root.glob(f"*/*aming*ule*{n}*.csv")):
        return read_sheet(p, 0)
    raise DatasetError(f"{root}: CAS(ME)^2 'naming rule{n}' sheet not found (in the workbook or as a CSV)")


def _numeric(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _number_in(v: object) -> int | None:
    """A whole number from a cell: ``15``, ``15.0``, ``"0101"`` or ``"s15"`` (digits in a label)."""
    f = _numeric(v)
    if f is not None:
        return int(f)
    m = re.fullmatch(r"[A-Za-z_]*(\d+)", str(v).strip()) if v is not None else None
    return int(m.group(1)) if m else None


def _uncoded(onset: int | None, apex: int | None, offset: int | None) -> tuple[int | None, int | None, int | None]:
    """Long-video sheets code a missing apex/offset as 0 or -1: apex -> None, offset -> ``2 * apex - onset``."""
    if apex is not None and apex <= 0:
        apex = None
    if offset is not None and offset <= 0:
        offset = 2 * apex - onset if apex is not None and onset is not None else None
    return onset, apex, offset


def load_casme_sq(root: str | Path, fps: float | None = None) -> list[Clip]:
    """CAS(ME)^2 long videos (see the module docstring); ``fps`` default 30."""
    root = _check_root(root)
    fps = fps or DATASET_FPS["casme_sq"]
    sheet_path = _find_file(
        root,
        ["CAS(ME)^2code_final*.xlsx", "CAS(ME)*code*.xlsx", "CAS(ME)^2code_final*.csv", "CAS(ME)*code*.csv"],
        "CAS(ME)^2 annotation sheet (CAS(ME)^2code_final.xlsx)",
    )
    frames_root = _find_frames_root(
        root,
        ["rawpic", "CAS(ME)^2/rawpic", "rawpic_crop", "cropped"],
        re.compile(r"s\d+", re.I),
        "CAS(ME)^2 rawpic (s15, s16, ...)",
    )
    sheets = read_sheets(sheet_path)
    code_name = next((k for k in sheets if "code" in k.lower()), next(iter(sheets)))
    rows = sheets[code_name]
    rule1 = _rule_rows(sheets, sheet_path.parent, 1)
    rule2 = _rule_rows(sheets, sheet_path.parent, 2)
    # naming rule1: rawpic subject number, (initials), participant number in the code sheet.
    participant_to_subject: dict[int, int] = {}
    for r in rule1:
        a, c = _number_in(_cell(r, 0)), _number_in(_cell(r, 2))
        if a is not None and c is not None:
            participant_to_subject[c] = a
    # naming rule2: video code (0101 or 101), stimulus name (disgust1).
    stimulus_code: dict[str, int] = {}
    for r in rule2:
        code, name = _number_in(_cell(r, 0)), _cell(r, 1)
        if code is not None and name is not None:
            stimulus_code[str(name).strip().lower()] = code
    if not participant_to_subject or not stimulus_code:
        raise DatasetError(f"{sheet_path}: the naming rule sheets hold no usable rows")
    subject_dirs = {
        int(p.name[1:]): p for p in frames_root.iterdir() if p.is_dir() and re.fullmatch(r"s\d+", p.name, re.I)
    }
    clips: dict[str, Clip] = {}
    for i, row in enumerate(rows, start=1):
        where = f"{sheet_path.name}[{code_name}] row {i}"
        part, expr = _number_in(_cell(row, 0)), _cell(row, 1)
        if part is None or expr is None or _numeric(_cell(row, 2)) is None:
            continue  # title/header row or blank
        stimulus = re.sub(r"_\d+$", "", str(expr).strip()).lower()
        if part not in participant_to_subject:
            raise DatasetError(f"{where}: participant {part} is not in 'naming rule1'")
        if stimulus not in stimulus_code:
            raise DatasetError(f"{where}: expression {expr!r} (stimulus {stimulus!r}) is not in 'naming rule2'")
        subj = participant_to_subject[part]
        code = stimulus_code[stimulus]
        sdir = subject_dirs.get(subj)
        matches = sorted(sdir.glob(f"{subj:02d}_{code:04d}*")) if sdir else []
        matches = [m for m in matches if m.is_dir()]
        if not matches:
            log.warning("%s: no folder rawpic/s%d/%d_%04d*; skipped", where, subj, subj, code)
            continue
        folder = matches[0]
        subject = f"s{subj}"
        key = f"{subject}/{folder.name}"
        if key not in clips:
            clip = _make_clip(subject, folder.name, folder, fps)
            if clip is None:
                continue
            clips[key] = clip
        onset, apex, offset = _uncoded(
            _int_cell(_cell(row, 2), where, "onset"),
            _int_cell(_cell(row, 3), where, "apex"),
            _int_cell(_cell(row, 4), where, "offset"),
        )
        _add_event(clips[key], onset, apex, offset, kind_from_text(_cell(row, 7)), _cell(row, 6), where)
    return _finish(clips, root, "CAS(ME)^2")


# --------------------------------------------------------------------------- generic CSV


def _video_info(path: Path) -> tuple[int, float]:
    """(frame count, fps) of a video file from its container header (0 when unknown)."""
    import cv2  # local: datasets must import without OpenCV for sheet-only use

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise DatasetError(f"{path}: cannot open video")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        return max(n, 0), fps if math.isfinite(fps) else 0.0
    finally:
        cap.release()


def _clip_source(root: Path, name: str) -> Path | None:
    p = root / name
    if p.is_dir() or (p.is_file() and p.suffix.lower() in MEDIA.video_suffixes):
        return p
    for ext in sorted(MEDIA.video_suffixes):
        q = root / f"{name}{ext}"
        if q.is_file():
            return q
    return None


def load_csv_dataset(root: str | Path, fps: float | None = None) -> list[Clip]:
    """Generic layout: ``ROOT/annotations.csv`` (or ``.xlsx``) + one folder or video per clip.

    ``fps`` overrides the sheet's fps column (needed for image folders when the
    sheet has none).  Frame fields are 0-based frame indices.
    """
    root = _check_root(root)
    sheet_path = _find_file(root, ["annotations.csv", "annotations.xlsx"], "annotation sheet (annotations.csv)")
    rows = read_sheet(sheet_path, 0)
    h, cols = find_header(rows, ["clip", "onset_frame", "offset_frame"], str(sheet_path))
    known = {
        "clip",
        "video",
        "subject",
        "onsetframe",
        "apexframe",
        "offsetframe",
        "emotion",
        "kind",
        "fps",
        "face",
        "notes",
        "label",
    }
    unknown = [str(rows[h][j]) for k, j in cols.items() if k not in known]
    if unknown:
        raise DatasetError(
            f"{sheet_path}: unknown column(s) {', '.join(unknown)}; known: clip, subject, onset_frame, "
            "apex_frame, offset_frame, emotion, kind, fps"
        )
    clips: dict[str, Clip] = {}
    for i, row in enumerate(rows[h + 1 :], start=h + 2):
        where = f"{sheet_path.name} row {i}"
        name = _cell(row, cols["clip"])
        if name is None and all(_cell(row, j) is None for j in cols.values()):
            continue
        if name is None:
            raise DatasetError(f"{where}: clip is empty")
        name = str(name)
        parts = Path(name).parts
        subject = str(_cell(row, cols.get("subject")) or (parts[0] if len(parts) > 1 else Path(name).stem))
        key = f"{subject}/{name}"
        if key not in clips:
            src = _clip_source(root, name)
            row_fps = _numeric(_cell(row, cols.get("fps")))
            clip_fps = fps or row_fps
            if src is None:
                log.warning("%s: no folder or video named %r under %s, skipped", where, name, root)
                clips[key] = None  # type: ignore[assignment]
                continue
            if src.is_file():
                n, vfps = _video_info(src)
                clip_fps = clip_fps or vfps
                if not clip_fps:
                    raise DatasetError(f"{where}: fps unknown for {src.name}; add an fps column or pass --fps")
                clip = Clip(subject=subject, name=name, frames_dir=src, fps=clip_fps, n_frames=n)
            else:
                if not clip_fps or clip_fps <= 0:
                    raise DatasetError(
                        f"{where}: fps unknown for image folder {name!r}; add an fps column or pass --fps"
                    )
                clip = _make_clip(subject, name, src, clip_fps)
                if clip is None:
                    clips[key] = None  # type: ignore[assignment]
                    continue
            clips[key] = clip
        clip = clips[key]
        if clip is None:
            continue
        kind_text = _cell(row, cols.get("kind"))
        kind = kind_from_text(kind_text)
        if kind_text is not None and kind is None:
            raise DatasetError(f"{where}: kind {kind_text!r} is not micro, macro or blink")
        _add_event(
            clip,
            _int_cell(_cell(row, cols["onsetframe"]), where, "onset_frame", False),
            _int_cell(_cell(row, cols.get("apexframe")), where, "apex_frame"),
            _int_cell(_cell(row, cols["offsetframe"]), where, "offset_frame", False),
            kind,
            _cell(row, cols.get("emotion")),
            where,
            numbered=False,
        )
    return _finish({k: v for k, v in clips.items() if v is not None}, root, "annotated")


# --------------------------------------------------------------------------- registry, LOSO


_LOADERS: dict[str, Callable[..., list[Clip]]] = {
    "casme2": load_casme2,
    "samm": load_samm,
    "samm_long": load_samm_long,
    "casme_sq": load_casme_sq,
    "csv": load_csv_dataset,
}


def load_dataset(name: str, root: str | Path, fps: float | None = None) -> list[Clip]:
    """Load dataset ``name`` (one of :data:`DATASETS`) from folder ``root``."""
    if name not in _LOADERS:
        raise DatasetError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return _LOADERS[name](root, fps=fps)


def _subject_of(sample: object) -> str:
    if isinstance(sample, str):
        return sample
    if isinstance(sample, dict):
        return str(sample["subject"])
    return str(sample.subject)


def loso_splits(samples: Sequence[object]) -> Iterator[tuple[str, list[int], list[int]]]:
    """Leave-one-subject-out splits: ``(subject, train_indices, test_indices)`` per subject.

    ``samples`` are clips, events or dicts with a ``subject`` (or plain subject
    strings).  Subjects come in natural order; every sample is in exactly one
    test set and never in its own train set.
    """
    subjects = [_subject_of(s) for s in samples]
    unique = sorted(set(subjects), key=natural_key)
    if len(unique) < 2:
        raise DatasetError(f"leave-one-subject-out needs at least 2 subjects, got {len(unique)}")
    for subj in unique:
        test = [i for i, s in enumerate(subjects) if s == subj]
        train = [i for i, s in enumerate(subjects) if s != subj]
        yield subj, train, test
