"""The training window: start screen, flash rounds, feedback, summary.

Every frame goes through :class:`Presenter`: wait for the frame's tick
(:class:`~detector.app.eyetrain.timing.Pacer`), ``imshow`` + ``waitKey(1)``, then
take the presentation timestamp (``time.perf_counter``); with a grab folder, the
X server's copy of the window is read back too (:mod:`.xgrab`).  A round is a
sequence of named phases (:class:`Phase`): the neutral face (``fore``), the
flash, the smile that masks it (masked rounds), the neutral face again
(``after``), the question and the feedback.  ``q`` or Esc, or closing the window,
ends the session at any point, with every answer given so far saved.
"""

from __future__ import annotations

import enum
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from detector.app.eyetrain import ladder
from detector.app.eyetrain.ladder import Level
from detector.app.eyetrain.options import TrainOptions
from detector.app.eyetrain.plan import (
    MASK_AUS,
    RoundPlan,
    emotion_of_key,
    round_aus,
    session_plan,
)
from detector.app.eyetrain.render import (
    Feedback,
    PreparedFace,
    Warp,
    feedback_screen,
    question_screen,
    start_screen,
    summary_screen,
)
from detector.app.eyetrain.score import Answer, ScoreBook, summary_lines
from detector.app.eyetrain.timing import (
    FrameTiming,
    Pacer,
    display_refresh,
    frames_for,
    loop_interval_ms,
    shown_ms,
)
from detector.app.eyetrain.xgrab import XGrabber
from detector.app.live import Window

WINDOW_NAME = "microexpr train"
#: Frames presented unpaced on the start screen to measure the presentation loop.
MEASURE_FRAMES = 40
#: Frames grabbed before the flash and after it (with --grab-dir).
GRAB_MARGIN = 3
_QUIT_KEYS = {ord("q"), ord("Q"), 27}
_NEXT_KEYS = {ord(" "), 13, 10, ord("n")}


class Phase(enum.Enum):
    START = "start"
    FORE = "fore"
    FLASH = "flash"
    MASK = "mask"
    AFTER = "after"
    QUESTION = "question"
    FEEDBACK = "feedback"
    SUMMARY = "summary"


class Quit(Exception):
    """The user asked to end the session (q, Esc, or closed the window)."""


@dataclass
class Presented:
    """One presented frame: its phase and its presentation timestamp (perf_counter, s)."""

    phase: Phase
    t: float
    grab: np.ndarray | None = None


class Presenter:
    """Shows frames on the frame tick and records when each was presented."""

    def __init__(self, window: Window, grabber: XGrabber | None = None) -> None:
        self.window = window
        self.grabber = grabber
        self.pacer: Pacer | None = None
        self.recording: list[Presented] | None = None

    def show(self, frame: np.ndarray, phase: Phase, wait_ms: int = 1) -> tuple[int, float]:
        """Present a frame (on the next tick when paced); returns (key or -1, presentation time)."""
        if self.pacer is not None:
            self.pacer.wait()
        self.window.show(frame)
        key = self.window.poll(wait_ms)
        t = time.perf_counter()
        if self.window.closed or (key >= 0 and (key & 0xFF) in _QUIT_KEYS):
            raise Quit
        if self.recording is not None:
            grab = self.grabber.grab() if self.grabber is not None else None
            self.recording.append(Presented(phase, t, grab))
        return key, t

    def hold(self, frame: np.ndarray, phase: Phase, frames: int) -> list[float]:
        """Present the same frame ``frames`` times; returns the presentation times."""
        return [self.show(frame, phase)[1] for _ in range(frames)]

    def wait_key(self, frame: np.ndarray, phase: Phase, accept, on_shown=None) -> tuple[int, float]:
        """Show ``frame`` until a key ``accept`` takes (one pressed before it showed counts too); returns
        (key, seconds from the first show).  ``on_shown`` is called once the frame is on screen."""
        key, t0 = self.show(frame, phase, 1)
        if on_shown is not None:
            on_shown()
        while not (key >= 0 and accept(key)):
            key = self.window.poll(20)
            if self.window.closed or (key >= 0 and (key & 0xFF) in _QUIT_KEYS):
                raise Quit
        return key, time.perf_counter() - t0


@dataclass(frozen=True)
class RoundSetup:
    """A round ready to play: the face, the kind, the level, the precomputed warps and the frame counts."""

    face: PreparedFace
    kind: str
    level: Level
    neutral: np.ndarray
    warp: Warp
    mask: Warp | None
    fore_frames: int
    flash_frames: int
    mask_frames: int
    after_frames: int


@dataclass
class RoundResult:
    answer: Answer
    warp: Warp


@dataclass
class Session:
    """One training session in an open window."""

    opts: TrainOptions
    faces: list[PreparedFace]
    presenter: Presenter
    book: ScoreBook
    seed: int
    log: Callable[[str], None] = print
    timing: FrameTiming | None = None
    level: Level = field(init=False)
    plan: list[RoundPlan] = field(init=False)
    quit: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.level = ladder.first_level(self.opts)
        self.plan = session_plan(self.seed, self.opts.rounds, len(self.faces))

    # ---- the phases -------------------------------------------------------------------

    def measure_timing(self) -> FrameTiming:
        """Show the start screen unpaced for a moment: the presentation loop's own frame interval."""
        screen = start_screen(self.faces[0], self.opts.rounds)
        stamps = [self.presenter.show(screen, Phase.START)[1] for _ in range(MEASURE_FRAMES)]
        hz, source = display_refresh(self.opts.refresh_hz)
        return FrameTiming(hz, source, loop_interval_ms(stamps))

    def start(self) -> None:
        self.timing = self.measure_timing()
        self.log(self.timing.describe())
        self.presenter.pacer = Pacer(self.timing.frame_ms)
        self.presenter.wait_key(start_screen(self.faces[0], self.opts.rounds), Phase.START,
                                lambda k: (k & 0xFF) in _NEXT_KEYS)

    def prepare(self, rp: RoundPlan) -> RoundSetup:
        """The round at the current level: its kind, warps (precomputed here, once) and frame counts."""
        face = self.faces[rp.face_index]
        kind = ladder.round_kind(self.level, rp.kind_draw, rp.emotion, self.opts)
        frame_ms = self.timing.frame_ms
        return RoundSetup(
            face=face, kind=kind, level=self.level, neutral=face.frame(None),
            warp=face.warp(round_aus(rp, kind), self.level.intensity),
            mask=face.warp(MASK_AUS, self.opts.mask_intensity) if kind == "masked" else None,
            fore_frames=frames_for(self.opts.fore_ms + rp.fore_jitter * self.opts.fore_jitter_ms, frame_ms),
            flash_frames=frames_for(self.level.duration_ms, frame_ms),
            mask_frames=frames_for(self.opts.mask_ms, frame_ms) if kind == "masked" else 0,
            after_frames=frames_for(self.opts.after_ms, frame_ms),
        )

    def present_flash(self, r: RoundSetup) -> tuple[float, list[Presented] | None]:
        """Neutral, flash, (mask,) neutral on the frame tick; returns the flash's measured duration (ms) and,
        with a grab folder, the frames presented from just before the flash to just after it."""
        p = self.presenter
        p.hold(r.neutral, Phase.FORE, max(0, r.fore_frames - GRAB_MARGIN))
        p.recording = [] if self.opts.grab_dir is not None else None
        p.hold(r.neutral, Phase.FORE, min(GRAB_MARGIN, r.fore_frames))
        buf = np.empty_like(r.neutral)
        flash_t = [p.show(r.face.frame(r.warp, buf), Phase.FLASH)[1] for _ in range(r.flash_frames)]
        mask_t = [p.show(r.face.frame(r.mask, buf), Phase.MASK)[1] for _ in range(r.mask_frames)]
        after_t = p.hold(r.neutral, Phase.AFTER, r.after_frames)
        recording, p.recording = p.recording, None
        return ((mask_t or after_t)[0] - flash_t[0]) * 1000.0, recording

    def ask(self, rp: RoundPlan, r: RoundSetup) -> tuple[str, float]:
        """The question screen until a key 1-7: (the emotion named, response time in ms)."""
        self.log(f"round {rp.index + 1}/{self.opts.rounds}: which emotion? (keys 1-7)")
        key, waited = self.presenter.wait_key(question_screen(r.face, rp.index, self.opts.rounds), Phase.QUESTION,
                                              lambda k: emotion_of_key(k) is not None)
        return emotion_of_key(key), waited * 1000.0

    def play_round(self, rp: RoundPlan) -> RoundResult:
        self.presenter.show(self.faces[rp.face_index].frame(None), Phase.FORE)  # up while the warp is computed
        r = self.prepare(rp)
        measured_ms, recording = self.present_flash(r)
        said, response_ms = self.ask(rp, r)
        frame_ms = self.timing.frame_ms
        answer = Answer(
            session=self.book.session, seed=self.seed, round=rp.index + 1, face=r.face.name, emotion=rp.emotion,
            kind=r.kind, aus=" ".join(r.warp.aus), intensity=r.warp.intensity, requested_ms=r.level.duration_ms,
            frames=r.flash_frames, frame_ms=frame_ms, shown_ms=shown_ms(r.flash_frames, frame_ms),
            measured_ms=measured_ms, answer=said, correct=said == rp.emotion, response_ms=response_ms,
        )
        if recording is not None:
            self.write_grabs(rp, recording, r)
        return RoundResult(answer, r.warp)

    def feedback(self, rp: RoundPlan, result: RoundResult) -> None:
        a = result.answer
        fb = Feedback(a.emotion, a.answer, result.warp.aus, a.kind, a.requested_ms, a.frames, a.shown_ms,
                      a.measured_ms)
        screen = feedback_screen(self.faces[rp.face_index], result.warp, fb)
        grabber = self.presenter.grabber if self.opts.grab_dir is not None else None

        def save_grab() -> None:
            cv2.imwrite(str(self.round_dir(rp) / "feedback.png"), grabber.grab())

        self.presenter.wait_key(screen, Phase.FEEDBACK, lambda k: (k & 0xFF) in _NEXT_KEYS,
                                on_shown=save_grab if grabber is not None else None)

    def run(self) -> list[Answer]:
        """Play the session; returns the answers (also saved after each one)."""
        try:
            self.start()
            for rp in self.plan:
                result = self.play_round(rp)
                self.book.add(result.answer)
                self.log(answer_line(result.answer, self.opts.rounds))
                self.level = ladder.next_level(self.level, result.answer.correct, self.opts)
                self.feedback(rp, result)
        except Quit:
            self.quit = True
            self.log("quit")
            return self.book.answers
        self.show_summary()
        return self.book.answers

    def show_summary(self) -> None:
        """The last screen: the session's summary, until any key (q and Esc included) or the window closes."""
        try:
            self.presenter.wait_key(summary_screen(self.faces[0], summary_lines(self.book.answers)),
                                    Phase.SUMMARY, lambda k: True)
        except Quit:
            pass

    # ---- the grab folder (tests) --------------------------------------------------------

    def round_dir(self, rp: RoundPlan) -> Path:
        d = Path(self.opts.grab_dir) / f"round{rp.index + 1:02d}"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def write_grabs(self, rp: RoundPlan, rec: list[Presented], r: RoundSetup) -> None:
        """The round's screen grabs, what was passed to imshow for each, and the reference frames."""
        d = self.round_dir(rp)
        cv2.imwrite(str(d / "ref_neutral.png"), r.neutral)
        cv2.imwrite(str(d / "ref_flash.png"), r.face.frame(r.warp))
        if r.mask is not None:
            cv2.imwrite(str(d / "ref_mask.png"), r.face.frame(r.mask))
        rows = []
        for k, p in enumerate(rec):
            name = f"frame{k:03d}.png"
            if p.grab is not None:
                cv2.imwrite(str(d / name), p.grab)
            rows.append({"frame": k, "file": name if p.grab is not None else None, "phase": p.phase.value,
                         "t": round(p.t, 6)})
        (d / "frames.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def answer_line(a: Answer, rounds: int) -> str:
    verdict = "right" if a.correct else f"wrong, answered {a.answer}"
    late = a.measured_ms - a.shown_ms > a.frame_ms / 2
    return (f"round {a.round}/{rounds}: {a.emotion} ({a.kind}) {verdict}; asked {a.requested_ms:.0f} ms, "
            f"shown {a.frames} frame{'s' * (a.frames != 1)} x {a.frame_ms:.2f} ms = {a.shown_ms:.1f} ms, "
            f"measured {a.measured_ms:.1f} ms" + (" (a frame came late: the flash stayed longer)" if late else ""))


def new_session_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pick_seed(seed: int | None) -> int:
    return int(seed) if seed is not None else secrets.randbelow(2**31)
