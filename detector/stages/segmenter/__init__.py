"""Streaming onset / apex / offset segmenter (numba kernels behind a small API).

One frame at a time, O(channels) work per frame, and the same kernel serves
whole files (:func:`segment` loops it).  The design follows onset detectors
such as ``librosa.onset``: an *envelope* (the activation), *peak picking*
(hysteresis) and *backtracking* to where the motion started.

Algorithm, per face
-------------------
1. **Smoothing.**  Each channel is averaged over a centred window of
   ``smooth_s`` seconds (at least the frame itself), matched to the shortest
   event (40 ms).  Frame ``n`` is processed once a frame later than
   ``t_n + smooth_s / 2`` has arrived (latency ``smooth_s / 2``, or one frame
   when frames are further apart).  A centred window does not shift the apex.
   A face whose frame noise is mostly white is averaged over ``smooth_wide_s``
   instead (decided at each calibration): when the white frame-to-frame noise
   left after the ``smooth_s`` average explains at least ``white_share_min`` of
   the calibrated noise scale (median over channels).  Where the ``smooth_s``
   window already averages 3 frames or more (80 fps and up) that is all (at
   200 fps 13 frames instead of 5).  Below, where it averages one frame, the
   wider window is 3 frames (or ``smooth_wide_s`` if wider), which at 30 fps
   spans 100 ms, half a brief micro-expression: a face gets it only when its
   white frame noise is also large, at least ``white_level_min`` (channel
   units, median over channels); a quiet face keeps single frames and the
   sharp edges of brief events.  One second of 3-frame averages is only about
   10 independent values, so there each channel's calibrated scale is at least
   what the average leaves of its single-frame scale (for noise whose
   frame-to-frame correlation, measured, falls off geometrically).  Real
   200 fps lab recordings have such noise, 4x the synthetic faces' on the eye
   and brow channels (``benchmarks/real_like_check.py``), and their
   micro-expressions last 190 ms or more; slow noise (drift, a restless face)
   is not lowered by a wider average, which would only blur brief events.
2. **Neutral baseline and noise scale per channel.**  The first
   ``calibration_s`` seconds calibrate (median and 1.4826 x MAD, robust to an
   expression made meanwhile; nothing is reported), and the noise scales are
   multiplied by ``calibration_margin``: from one second of frames some of ~60
   channels' noise comes out 20 % low, and a still face then fires right
   after calibration; the running estimate relaxes the margin.  Afterwards the baseline is an exponential moving average (time
   constant ``baseline_tau_s``) whose step is clipped to ``baseline_clip_z``
   noise units (robust, Huber-like), and the noise scale is ``sqrt(pi/2)`` times
   an EMA of ``|smoothed - baseline|`` (``noise_tau_s``, clipped at
   ``noise_clip_z``), never below ``noise_floor`` so that a flat channel gives
   no infinite z.  The baseline is *frozen* during an event and while the
   activation is above ``end_z`` (a candidate), so an expression is never
   absorbed; so is the noise scale (when ``noise_adapt_s`` > 0), except that
   a state older than ``noise_adapt_s`` updates it again: real faces drift,
   talk and move their heads, with slow "hold" noise 3-6 x the white noise
   the calibration second sees, and without this a restless face stays
   "active" (and blind) most of the time.  An eye event (blink, eye closure,
   look down) reported from a still face gives that adaptation back when it
   ends (``noise_revert``): a 1-3 s closure or look down is no sign of a
   restless face, and kept, its raised noise hid the next micro-expression
   for seconds.  After a too-long state is
   dropped, re-calibration keeps the noise scale at least at its previous
   level (``recalibrate_keeps_noise``).  Because the noise is
   measured on the *smoothed* signal, z is in units of the smoothed noise
   whatever its temporal correlation (MediaPipe filters its output).
3. **Activation.**  ``z_c = (smoothed_c - baseline_c) / noise_c``.  The
   detection envelope is the mean of the ``top_k`` largest ``|z_c|``: a
   micro-expression moves a few channels (often a bilateral pair), so a sparse
   statistic keeps 60 noisy channels from raising false alarms while a pair
   moving together needs only ``start_z`` each.  Region activation is the
   largest ``|z_c|`` among the region's channels.
4. **Hysteresis.**  An event starts when the activation has stayed at ``start_z``
   for ``start_hold_s`` (its frames counted with their intervals: at 200 fps two
   frames, at 100 fps and below one): at 200 fps a noise crossing often lasts one
   frame, a real rise (90-265 ms to its apex) far longer.
   It ends once the activation has stayed below ``end_z`` for ``end_hold_s``
   and the event's own signal ``e`` (below) is back at ``return_z`` (or
   ``tail_max_s`` later); a post-roll of ``backtrack_widen`` times its length
   follows, so the offset can be sought past that point.
4b. **Motion: events that end at rest at a new level.**  Real faces often do
   not return to where they started: after a micro-expression they settle at a
   slightly different neutral (0.44 of the way up in the median), and a level
   detector against the frozen baseline runs on for seconds.  As the MEGC
   long-video spotters do (MDMD, the optical-flow ROI spotters), frames are also
   compared with the frame ``motion_lag_s`` earlier (about half a
   micro-expression).  The *departure* of each channel is how much further from
   the baseline ``y_c(n)`` is than ``y_c(n - lag)``, in its own motion noise
   (calibrated and followed like the level noise).  An active event whose top-k
   departure reached ``settle_departure_z`` (a brief rise; or ``settle_brief_departure_z``
   while its trigger is at most ``settle_brief_s`` old or once it holds a rise: a
   weak rise brief in time), and whose own signal
   ``e`` then changed less than ``settle_z`` over ``motion_lag_s`` and since the
   run began, for ``settle_s`` and ``settle_rel`` of its age, after its peak
   activation and below ``settle_level`` of ``e`` there (or for ``settle_max_s``
   at any level: a held expression), has ended where the motion stopped.  A
   slow macro expression looks still at its apex too; its noise keeps setting
   new peaks inside the run.  Its offset is where ``e`` comes within ``return_z`` of the level it
   rests at (for a held one, where ``e`` first reached it, or where its small fall
   ended), and that level (mean over the still frames) becomes the new baseline;
   after a held one, a return to the neutral from before ends it (no new event).
   An event that rests near its apex (``settle_level``) sooner than ``rest_min_s``
   after its onset had a fall too small to see (real micro-expressions last 200 ms
   or more in 90 % of cases, and fall as long as they rise): its offset is put no
   earlier than one rise after its apex.
   A rise that comes to rest *above* ``settle_level`` is kept aside (held) and the
   state goes on: ending by level within ``max_duration_s`` it was an expression
   at its apex (one event); a new departure, at ``resplit_rel`` of the state's peak
   departure and without the event signal falling back, is a new rise from the
   level the held rise kept: the held rise is reported, that level becomes the
   baseline, and the new rise is sought from there; resting on for
   ``settle_max_s`` reports a micro-short held rise (it came to rest within
   ``micro_max_s`` of its onset, or it was located as a micro-expression: a rise that
   crept on after its fall rests later) that fell a little before it
   came to rest; one that rests at its apex (an expression still held, or a rise
   to a new level that kept all of it) waits for its return, a new departure
   (which still splits it off) or ``max_duration_s``; a macro-long one waits for
   its return or ``max_duration_s``.  When a held level becomes the baseline
   (split off, rested ``settle_max_s``, or kept when the state ends by level),
   the noise its state added (``noise_adapt_s``) is given back if the head moved
   no more than ``held_head_shift_max`` in the image since the trigger: a still
   face at a new level was not restless, and its next rise is measured in the
   noise units of the face before it.  A state with a held
   rise whose activation fades while the face keeps the held level (in the noise
   units of the state's start: the running ones grow with a held state) reports
   the held rise, not one long event; so does a state whose event, located when it
   ends, is a later one (a blink while the face kept the level) when the held rise was
   micro-short: both are reported.  A state with a held rise that ends by level while
   the face still keeps that level (nearer to it than to the baseline, within ``end_z``)
   leaves the level as the new baseline, the old neutral kept aside as after a held
   expression: left at the old baseline, the kept level started a new state that ran
   on past ``max_duration_s`` and was dropped with the events in it.  A state from a still face under way when the face
   gets back to the neutral kept from before a held expression is reported (when its
   peak was ``start_z`` away from that neutral: a blink, a new rise), not dropped
   with the return.  While both
   lids are lowered (closure gauges at ``lids_lowered_min``) the face is not at
   rest: eyes shut or looking down end when they open again.
   The rule applies only to a face that was *still* before the rise: the face
   motion (top-k mean over channels of ``|y_c(n) - y_c(n - lag)|``, in channel
   units, not noise units, so that a talking face that has adapted its noise
   scale still reads as moving) averaged over ``still_window_s`` ending
   ``motion_lag_s`` before the trigger is at most ``still_motion_max``.  A
   talking face comes to rest for a moment all the time; ending its states
   there turned speech into events.  O(channels) per frame.
5. **Apex, onset, offset.**  The channels that carried the event (peak |z| at
   least ``start_z`` and ``channel_rel`` times the strongest) are combined,
   sign-aligned and weighted by their peak, into one signal ``e(n)`` (~0 at
   rest).  Apex = argmax ``e``.  The onset is where ``e`` last fell to
   ``return_z`` before the apex, the offset where it first does after.  A
   strong event (unsmoothed ``e`` at the apex >= ``refine_z``) is then located
   on the unsmoothed signal within half a smoothing window, undoing the
   smoothing's spread.  A weaker one continues to the preceding (following)
   local minimum, as in librosa's ``onset_backtrack``, on ``e`` smoothed again
   over ``backtrack_widen`` times its half-peak width when that is longer than
   ``smooth_s`` (slow events).  Durations come from timestamps.  An event that
   ended at rest (step 4b) is located in the noise units of its start (the running
   scales have grown while its state ran on), its half-peak width ends where the
   face came to rest (a held level is no slow motion), and a micro-short held
   rise that later fell a little keeps the onset it was given when it came to rest.
6. **Labels.**  ``micro`` when onset->offset < ``micro_max_s``, ``macro`` up
   to ``max_duration_s``; longer states are not expression events: an active
   state older than ``max_duration_s`` is dropped and baseline and noise are
   re-calibrated (the earlier neutral baseline is kept aside and restored as
   soon as the face returns to it, so the end of a long expression does not
   blind the detector).  Events no longer than ``blink_max_s`` whose eye-region
   activation is at least ``blink_dominance`` times the other channels' are tagged
   ``blink`` when, given closure gauges (eyeBlink scores), both eyes closed by at
   least ``blink_min_closure`` over baseline (as given, not smoothed: at 30 fps a
   blink lasts 3-4 frames and an average over 3 flattens it): a blink closes the
   eyes, a lid tightener or cheek raise does not.  (MediaPipe moves brows and lips a little
   with every real blink, hence a dominance below 1.)  Longer, the same is an
   eye ``closure`` (AU43); an eye-led event that lowers both lids by at least
   ``lids_lowered_min`` without closing them is ``gaze`` when it lasts
   ``gaze_min_s`` or more (the lids follow the eyes when looking down), a
   ``blink`` when it is over within ``blink_partial_max_s`` (an incomplete blink,
   or a turned head's far eye that MediaPipe sees half closed), and between the
   two a lid tightening: an expression (anger lowers both lids for 0.2-0.5 s).
   A look down is also an eye-led event longer than ``micro_max_s`` whose two
   downward gaze gauges (``eyeLookDown*`` scores, given to ``update`` as ``gaze``)
   rose by ``gaze_down_min`` in their median over the state (a blink inside it
   moves them as much for a moment) over their value at its onset: some faces lower
   their lids less than that when they look down, and MediaPipe reads lowered lids
   as a look down too, so a micro-short lid tightening keeps its kind.  None
   of these eye kinds is an expression.  Events during which the head
   turns faster than ``head_rot_speed_dps`` or moves faster than
   ``head_trans_speed`` are dropped (``head_motion="reject"``) or returned with
   ``head_motion=True`` (``"flag"``).

7. **Speech.**  Talking moves mouth and jaw up and down several times a
   second, far above the neutral noise.  The mouth/jaw activation (largest
   |z| of the mouth and jaw channels) is followed by a peak/trough tracker:
   one *re-rise* is a fall below ``speech_dip`` of the last peak and a rise
   back by its inverse to at least ``start_z``, and no sooner than
   ``speech_min_gap_s`` after the last re-rise (syllables come at most 7-8 a
   second; two rises closer than that are noise in an event's tail, counted
   once).  An active state dominated
   by mouth/jaw with ``speech_cycles`` re-rises is speech, not an
   expression; so is one carried by other channels (a brow raise while
   talking) when the face was moving before it (step 4b's gauge): it is
   abandoned, and mouth and jaw are left out of the
   activation (their baseline keeps following) until ``speech_hold_s``
   after the last re-rise, so a brow raise while talking is still found.
   A smile or a jaw drop rises and falls once and is unaffected.
   The first syllables of an utterance come before speech mode: an event the
   articulation channels (``speech_channels``) carried is therefore held for
   ``speech_lookahead_s`` after it ends, and dropped when ``speech_cycles``
   re-rises fall between ``speech_window_s`` before its trigger (its trigger,
   for a micro-short event of a face that was still before it: not talking)
   and the end of that look-ahead, but no later than ``speech_window_s``
   after its offset (its state may end long after the event).  Such events
   are reported up to ``speech_lookahead_s`` later (so possibly after an
   event that started after them).

Frame indices are the 0-based indices of the frames given to
:meth:`Segmenter.update` (or its explicit ``frame`` argument); times are the
caller's seconds, never ``frame / fps``.  A frame whose channels are not all
finite is skipped; a time step longer than ``gap_s`` or :meth:`Segmenter.gap`
is a gap: an event that had already ended is reported, one still active is
abandoned, and smoothing never spans the gap.  After a gap longer than
``recalibrate_gap_s`` the baseline is calibrated again.

Memory is bounded: frames live in ring buffers sized for ``max_fps`` (grown
automatically if frames come faster) that hold ``preroll_s`` of history plus
the longest event.

Modules
-------
Imports go one way: ``config``, ``state`` <- ``stats`` <- ``activation``, ``baseline``,
``locate`` <- ``speech`` <- ``kernel`` <- ``api``.

``config``      :class:`SegmenterConfig` and its conversion to the kernels' config record.
``state``       one face's state with names: scalar record, per-channel vectors, per-frame
                ring columns, held events, output-row columns; ring growth.
``stats``       top-k mean, noise scale, ring maximum, the face's smoothing half-window.
``activation``  centred smoothing, head speed, z and activations, motion (steps 1, 3, 4b).
``baseline``    calibration (and the face's white-noise share), baseline and noise EMAs, restore of the
                old baseline (steps 1, 2).
``locate``      event weights and signal, apex / onset / offset, labels, output row (5, 6).
``speech``      syllable tracker, look-ahead hold and release (step 7).
``kernel``      per-frame ``step``, per-centre state machine (steps 4, 4b), end of segment, the
                whole-file driver.
``api``         :class:`Segment`, :class:`Segmenter`, :func:`segment`, input validation.

Numba keys each function's on-disk cache on its own file only, and the kernels inline
functions of the other modules: after editing a module here, delete the package's numba
cache (``rm detector/stages/segmenter/__pycache__/*.nb[ic]``), or a stale kernel may run.
"""

from detector.stages.segmenter.api import SEGMENT_KINDS, SEGMENT_REGIONS, Segment, Segmenter, segment
from detector.stages.segmenter.config import SegmenterConfig

__all__ = ["SegmenterConfig", "Segment", "Segmenter", "segment", "SEGMENT_KINDS", "SEGMENT_REGIONS"]
