"""Displacement fields: calibrating AU intensities to a peak displacement, head-drift peaks, lip-gap shading."""

from __future__ import annotations


import numpy as np

from detector.lab.facewarp import (
    _LIP_INNER_LOWER,
    _LIP_INNER_UPPER,
    _LIP_OPENING,
    AU_AMPLITUDE,
    Face,
    _base,
    _Geom,
    _smoothstep,
    au_field,
    expand_aus,
    forward_displacement,
    min_jacobian,
)



def _drift_peak(face: Face, before: tuple, after: tuple) -> float:
    """Largest landmark displacement (percent IOD) between two head poses."""
    import cv2

    h, w = face.image.shape[:2]

    def apply(pose):
        tx, ty, rot, sc = pose
        m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), -rot, sc)
        m[:, 2] += (tx * face.iod, ty * face.iod)
        return face.landmarks @ m[:, :2].T + m[:, 2]

    d = apply(after) - apply(before)
    return float(np.max(np.hypot(d[:, 0], d[:, 1])) / face.iod * 100.0)


def _lip_gap_darkness(g: _Geom, field_: np.ndarray, aus: dict[str, float]) -> np.ndarray | None:
    """Darkening (0..0.85) of the lip gap an opening AU stretches open, at apex; None when nothing opens."""
    if not any(_base(a) in _LIP_OPENING for a in aus):
        return None
    dfx_dy, dfx_dx = np.gradient(field_[..., 0])
    dfy_dy, dfy_dx = np.gradient(field_[..., 1])
    det = (1 - dfx_dx) * (1 - dfy_dy) - dfx_dy * dfy_dx
    line = g.mid_curve(_LIP_INNER_UPPER, _LIP_INNER_LOWER)
    near = 1.0 - _smoothstep((np.abs(g.v - line) - 0.15) / 0.1)
    dark = np.clip((1.0 - det) * 1.2, 0.0, 0.85) * g.mouth_span(-0.02, 0.05) * near
    if float(dark.max()) < 1e-3:
        return None
    return np.ascontiguousarray(dark, dtype=np.float32)


def _sided(aus: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for a, v in aus.items():
        for sa in expand_aus([a]):
            out[sa] = out.get(sa, 0.0) + float(v)
    return out


def calibrate(
    face: Face | _Geom, rel: dict[str, float], target_pct: float, tol: float = 0.01, min_jac: float = 0.2
) -> dict[str, float]:
    """AU intensities that move the landmarks by ``target_pct`` percent of IOD at most.

    ``rel`` gives each (sided) AU's share: AU ``k`` displaces about
    ``rel[k] * c`` IOD, ``c`` being solved for (secant steps on the measured
    peak).  Intensities are capped at 1, so a target beyond what the AUs can
    do at full intensity gives less; so does a combination that would fold
    the image (Jacobian of the map below ``min_jac``): ``c`` shrinks until it
    does not.  The event's truth records the peak actually reached.
    """
    g = face if isinstance(face, _Geom) else _Geom(face)
    lm = g.lm * g.iod @ np.stack([g.ex, g.ey]) + g.origin  # landmark pixels

    def aus_for(c: float) -> dict[str, float]:
        return {a: min(1.0, r * c / AU_AMPLITUDE[_base(a)]) for a, r in rel.items()}

    def peak(c: float) -> float:
        d = forward_displacement(au_field(g, aus_for(c)), lm)
        return float(np.max(np.hypot(d[:, 0], d[:, 1])) / g.iod * 100.0)

    c_max = max(AU_AMPLITUDE[_base(a)] / r for a, r in rel.items() if r > 0)  # every AU at 1
    c = min(target_pct / 100.0, c_max)
    for _ in range(8):
        p = peak(c)
        if abs(p - target_pct) <= tol * target_pct or (c >= c_max and p < target_pct):
            break
        c = min(c * target_pct / max(p, 1e-9), c_max)
    for _ in range(20):
        if min_jacobian(au_field(g, aus_for(c))) >= min_jac:
            break
        c *= 0.85
    return {a: round(v, 6) for a, v in aus_for(c).items()}
