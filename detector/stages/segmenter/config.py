"""The segmenter's configuration record for the kernels (:func:`kernel_config`).  The options
themselves, :class:`SegmenterConfig` with each default's unit and range, are in
:mod:`detector.core.options` with every other default."""

from __future__ import annotations

import numpy as np

from detector.core.facs import REGIONS, UPPER_REGIONS
from detector.core.options import HEAD_MOTION_MODES, SegmenterConfig

#: the kernels' config: one record (all float64); fields named as in SegmenterConfig where they are the same value
KERNEL_CONFIG = np.dtype([
    ("calibration_s", np.float64),
    ("baseline_tau_s", np.float64),
    ("baseline_clip_z", np.float64),
    ("noise_tau_s", np.float64),
    ("noise_revert", np.float64),  # 1.0: true
    ("noise_clip_z", np.float64),
    ("noise_floor", np.float64),
    ("half_smooth_s", np.float64),  # smooth_s / 2
    ("half_wide_s", np.float64),  # smooth_wide_s / 2
    ("white_share_min", np.float64),
    ("white_level_min", np.float64),
    ("top_k", np.float64),
    ("start_z", np.float64),
    ("start_hold_s", np.float64),
    ("end_z", np.float64),
    ("end_hold_s", np.float64),
    ("return_z", np.float64),
    ("tail_max_s", np.float64),
    ("channel_rel", np.float64),
    ("region_active_z", np.float64),
    ("preroll_s", np.float64),
    ("micro_max_s", np.float64),
    ("max_duration_s", np.float64),
    ("min_duration_s", np.float64),
    ("blink_max_s", np.float64),
    ("blink_dominance", np.float64),
    ("reject_head_motion", np.float64),  # 1.0: head_motion == "reject"
    ("head_rot_speed_dps", np.float64),
    ("head_trans_speed", np.float64),
    ("head_speed_lag_s", np.float64),
    ("gap_s", np.float64),
    ("recalibrate_gap_s", np.float64),
    ("region_upper", np.float64, (len(REGIONS),)),  # 1.0 for the regions in facs.UPPER_REGIONS
    ("refine_z", np.float64),
    ("backtrack_widen", np.float64),
    ("tangent_floor_z", np.float64),
    ("noise_adapt_s", np.float64),
    ("recalibrate_keeps_noise", np.float64),  # 1.0: true
    ("speech_cycles", np.float64),
    ("speech_dip", np.float64),
    ("speech_hold_s", np.float64),
    ("speech_min_gap_s", np.float64),
    ("blink_min_closure", np.float64),
    ("speech_window_s", np.float64),
    ("speech_lookahead_s", np.float64),
    ("calibration_margin", np.float64),
    ("lids_lowered_min", np.float64),
    ("gaze_down_min", np.float64),
    ("gaze_min_s", np.float64),
    ("blink_partial_max_s", np.float64),
    ("motion_lag_s", np.float64),
    ("settle_z", np.float64),
    ("settle_departure_z", np.float64),
    ("settle_brief_departure_z", np.float64),
    ("settle_brief_s", np.float64),
    ("settle_s", np.float64),
    ("settle_rel", np.float64),
    ("settle_level", np.float64),
    ("settle_max_s", np.float64),
    ("still_motion_max", np.float64),
    ("still_window_s", np.float64),
    ("resplit_rel", np.float64),
    ("rest_min_s", np.float64),
    ("held_head_shift_max", np.float64),
])


def kernel_config(cfg: SegmenterConfig) -> np.ndarray:
    """The (1,) :data:`KERNEL_CONFIG` record of ``cfg``; the kernels read it as ``cfg = kcfg[0]``."""
    k = np.zeros(1, dtype=KERNEL_CONFIG)
    for name in KERNEL_CONFIG.names:
        if name in ("half_smooth_s", "half_wide_s", "reject_head_motion", "region_upper", "recalibrate_keeps_noise",
                    "noise_revert"):
            continue
        k[name] = getattr(cfg, name)
    k["half_smooth_s"] = cfg.smooth_s / 2.0
    k["half_wide_s"] = cfg.smooth_wide_s / 2.0
    k["reject_head_motion"] = 1.0 if cfg.head_motion == "reject" else 0.0
    k["recalibrate_keeps_noise"] = 1.0 if cfg.recalibrate_keeps_noise else 0.0
    k["noise_revert"] = 1.0 if cfg.noise_revert else 0.0
    k["region_upper"][0] = [1.0 if name in UPPER_REGIONS else 0.0 for name in REGIONS]
    return k
