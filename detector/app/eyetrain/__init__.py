"""``microexpr train``: learn to see micro-expressions (flash, guess, feedback).

A neutral face is shown; for a few frames the same face, warped by
:mod:`detector.lab.facewarp`, shows one of seven emotions; the user names it with
keys 1-7 and sees the answer held, with its action units named.  Correct
answers shorten the flash (500 ms down to 40 ms) and lower the intensity
(:mod:`.ladder`); subtle (one-region) and masked (a micro-expression, then a
smile) rounds come at the harder levels.  Durations are whole display frames
(:mod:`.timing`); every answer is logged with the duration shown and the one
measured (:mod:`.score`).

Modules: :mod:`.options` (every default, in one place), :mod:`.ladder`
(adaptive difficulty), :mod:`.plan` (the seeded sequence of rounds),
:mod:`.timing` (refresh rate, frame rounding, paced presentation),
:mod:`.render` (warp maps per round, the screens), :mod:`.faces` (bundled faces,
a folder, a webcam snapshot), :mod:`.score` (accuracy, CSV files),
:mod:`.xgrab` (reading the window back from the X server, for tests),
:mod:`.mirror` (the webcam round: show an emotion, hear which AUs are missing),
:mod:`.session` (the window loop) and :mod:`.command` (the CLI).
"""
