"""Synthetic per-frame feature signals with known onset / apex / offset.

Reusable by the segmenter tests and benchmarks.  Amplitudes are given as a
per-frame signal-to-noise ratio: the channel's displacement at the apex
divided by the standard deviation of its frame noise.  Real micro-expressions
measure SNR 1-8 per channel (DEVELOPERS.md); only a few of ~60 channels move.

The noise is AR(1) (temporally correlated, as MediaPipe's landmark filter makes
it) with a correlation time in seconds, so that it means the same thing at every
frame rate and with variable frame intervals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

N_REGIONS = 6
EYES = 1  # index of "eyes" in detector.core.facs.REGIONS


def channel_layout(per_region: int = 10, n_blink: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(channel_regions (C,), blink_channels (C,)) with ``per_region`` channels per region.

    The first ``n_blink`` channels of the eyes region are blink channels.
    """
    regions = np.repeat(np.arange(N_REGIONS, dtype=np.int64), per_region)
    blink = np.zeros(regions.shape[0], dtype=bool)
    blink[EYES * per_region:EYES * per_region + n_blink] = True
    return regions, blink


def channel_sigmas(C: int, rng: np.random.Generator) -> np.ndarray:
    """Per-channel frame-noise standard deviations: blendshape-like (0.01-0.02) and
    landmark-geometry-like (0.0015-0.004 IOD) channels alternate."""
    s = np.where(np.arange(C) % 2 == 0, rng.uniform(0.01, 0.02, C), rng.uniform(0.0015, 0.004, C))
    return s


def make_times(duration_s: float, fps: float, rng: np.random.Generator | None = None, jitter: float = 0.0,
               t0: float = 0.0) -> np.ndarray:
    """Frame timestamps, seconds.  ``jitter`` > 0 gives variable frame intervals
    ``(1 + jitter * U(-1, 1)) / fps``."""
    n = int(round(duration_s * fps))
    if jitter <= 0:
        return t0 + np.arange(n) / fps
    assert rng is not None
    dt = (1.0 + jitter * rng.uniform(-1.0, 1.0, n)) / fps
    return t0 + np.concatenate([[0.0], np.cumsum(dt[:-1])])


def ar1_noise(times: np.ndarray, sigma: np.ndarray, corr_s: float, rng: np.random.Generator) -> np.ndarray:
    """(N, C) AR(1) noise with stationary std ``sigma`` (C,) and correlation time ``corr_s`` seconds."""
    N, C = times.shape[0], sigma.shape[0]
    w = rng.standard_normal((N, C))
    out = np.empty((N, C))
    out[0] = w[0]
    for i in range(1, N):
        rho = np.exp(-(times[i] - times[i - 1]) / corr_s) if corr_s > 0 else 0.0
        out[i] = rho * out[i - 1] + np.sqrt(1.0 - rho * rho) * w[i]
    return out * sigma


def profile(times: np.ndarray, onset: float, apex: float, offset: float, shape: str = "cosine") -> np.ndarray:
    """0..1 expression profile rising onset->apex and falling apex->offset.

    ``shape``: "cosine" (raised cosine: starts and ends smoothly, so the first
    frames after the onset barely move) or "linear" (a triangle: motion starts
    at full speed, so the onset is sharply defined).
    """
    p = np.zeros_like(times)
    r = (times > onset) & (times <= apex)
    u = (times[r] - onset) / (apex - onset)
    p[r] = u if shape == "linear" else 0.5 - 0.5 * np.cos(np.pi * u)
    f = (times > apex) & (times < offset)
    u = (times[f] - apex) / (offset - apex)
    p[f] = 1.0 - u if shape == "linear" else 0.5 + 0.5 * np.cos(np.pi * u)
    return p


def plateau_profile(times: np.ndarray, onset: float, rise_s: float, hold_s: float, fall_s: float) -> np.ndarray:
    """Rise over ``rise_s``, hold at 1 for ``hold_s``, fall over ``fall_s`` (a sustained expression)."""
    a = onset + rise_s
    b = a + hold_s
    c = b + fall_s
    p = np.zeros_like(times)
    r = (times > onset) & (times <= a)
    p[r] = 0.5 - 0.5 * np.cos(np.pi * (times[r] - onset) / rise_s)
    p[(times > a) & (times <= b)] = 1.0
    f = (times > b) & (times < c)
    p[f] = 0.5 + 0.5 * np.cos(np.pi * (times[f] - b) / fall_s)
    return p


@dataclass
class SynthEvent:
    """One event: times in seconds, ``snr`` = apex amplitude / frame-noise std, per channel."""

    onset: float
    apex: float
    offset: float
    channels: tuple[int, ...]
    snr: float | tuple[float, ...]
    signs: tuple[int, ...] | None = None
    shape: str = "cosine"  # "cosine" | "linear", see profile()

    def frames(self, times: np.ndarray) -> tuple[int, int, int]:
        """Nearest frames to onset, apex, offset."""
        return tuple(int(np.argmin(np.abs(times - v))) for v in (self.onset, self.apex, self.offset))


@dataclass
class Clip:
    times: np.ndarray
    X: np.ndarray
    pose: np.ndarray
    regions: np.ndarray
    blink: np.ndarray
    sigma: np.ndarray
    events: list[SynthEvent] = field(default_factory=list)


def make_clip(
    duration_s: float,
    fps: float,
    events: list[SynthEvent],
    seed: int = 0,
    corr_s: float = 0.01,
    jitter: float = 0.0,
    per_region: int = 10,
    pose_noise_deg: float = 0.3,
    pose_noise_iod: float = 0.005,
    head_turns: list[tuple[float, float, float]] = (),
    extra: list[tuple[np.ndarray, np.ndarray]] = (),
    times: np.ndarray | None = None,
) -> Clip:
    """A clip of ``duration_s`` seconds at ``fps`` with ``events`` on AR(1) noise.

    ``head_turns``: (start s, duration s, yaw change degrees) raised-cosine yaw ramps.
    ``extra``: (channel indices, (N,) or (N, k) additive signal in noise-std units) for custom shapes.
    ``times``: explicit frame timestamps (then ``duration_s``, ``fps`` and ``jitter`` are ignored).
    """
    rng = np.random.default_rng(seed)
    regions, blink = channel_layout(per_region)
    C = regions.shape[0]
    times = make_times(duration_s, fps, rng, jitter) if times is None else np.asarray(times, dtype=float)
    sigma = channel_sigmas(C, rng)
    baseline = rng.uniform(0.05, 0.5, C)
    X = baseline + ar1_noise(times, sigma, corr_s, rng)
    for ev in events:
        p = profile(times, ev.onset, ev.apex, ev.offset, ev.shape)
        snrs = np.broadcast_to(np.asarray(ev.snr, dtype=float), (len(ev.channels),))
        signs = ev.signs or tuple(1 if (i % 2 == 0) else -1 for i in range(len(ev.channels)))
        for ch, snr, sg in zip(ev.channels, snrs, signs):
            X[:, ch] += sg * snr * sigma[ch] * p
    for chans, sig in extra:
        sig = np.asarray(sig, dtype=float)
        if sig.ndim == 1:
            sig = sig[:, None]
        X[:, list(chans)] += sig * sigma[list(chans)]
    pose = np.zeros((times.shape[0], 6))
    pose[:, :3] = ar1_noise(times, np.full(3, pose_noise_deg), corr_s, rng)
    pose[:, 3:] = ar1_noise(times, np.full(3, pose_noise_iod), corr_s, rng)
    for start, dur, yaw in head_turns:
        pose[:, 0] += yaw * (0.5 - 0.5 * np.cos(np.pi * np.clip((times - start) / dur, 0.0, 1.0)))
    return Clip(times, X, pose, regions, blink, sigma, list(events))


def match(found, truth: list[SynthEvent], iou_min: float = 0.5):
    """Greedy MEGC-style matching: a found segment is a true positive when its IoU with a
    not-yet-matched true event is >= ``iou_min``.  Returns (pairs [(seg, ev)], false alarms, missed)."""
    pairs = []
    used: set[int] = set()
    unmatched = []
    for s in found:
        best, bi = 0.0, -1
        for i, ev in enumerate(truth):
            if i not in used:
                v = iou(s, ev)
                if v > best:
                    best, bi = v, i
        if bi >= 0 and best >= iou_min:
            used.add(bi)
            pairs.append((s, truth[bi]))
        else:
            unmatched.append(s)
    missed = [ev for i, ev in enumerate(truth) if i not in used]
    return pairs, unmatched, missed


def event_bank(
    snr: float,
    n_events: int = 20,
    fps: float = 200.0,
    seed: int = 0,
    micro: bool = True,
    corr_s: float = 0.01,
    jitter: float = 0.0,
    shape: str = "cosine",
    per_region: int = 10,
) -> Clip:
    """A clip of ``n_events`` separated events (1-2 s apart) at per-frame ``snr``.

    Micro events last 40-450 ms, macro ones 0.8-3 s; the apex falls at 30-60 % of
    the event.  Each moves 2-4 channels: a pair in one region (like a bilateral
    AU), plus up to two channels elsewhere; blink channels are left alone.
    """
    rng = np.random.default_rng(10_000 + seed)
    C = N_REGIONS * per_region
    blink_ch = set(range(EYES * per_region, EYES * per_region + 4))
    events = []
    t = 1.5
    for _ in range(n_events):
        d = rng.uniform(0.04, 0.45) if micro else rng.uniform(0.8, 3.0)
        apex_frac = rng.uniform(0.3, 0.6)
        k = int(rng.integers(2, 5))
        region = int(rng.integers(0, N_REGIONS))
        pool = [c for c in range(region * per_region, (region + 1) * per_region) if c not in blink_ch]
        chans = [int(c) for c in rng.choice(pool, size=2, replace=False)]
        while len(chans) < k:
            c = int(rng.integers(0, C))
            if c not in chans and c not in blink_ch:
                chans.append(c)
        events.append(SynthEvent(t, t + apex_frac * d, t + d, tuple(chans), snr, shape=shape))
        t += d + rng.uniform(1.0, 2.0)
    return make_clip(t + 0.5, fps, events, seed=seed, corr_s=corr_s, jitter=jitter, per_region=per_region)


def iou(seg, ev: SynthEvent) -> float:
    """Intersection over union of a found segment and a true event, in seconds."""
    inter = min(seg.offset, ev.offset) - max(seg.onset, ev.onset)
    union = max(seg.offset, ev.offset) - min(seg.onset, ev.onset)
    return max(inter, 0.0) / union if union > 0 else 0.0
