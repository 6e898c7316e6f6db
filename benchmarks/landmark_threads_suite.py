"""Real-like tune clips at 100 fps: features from one landmarker vs two on alternate frames (as
``microexpr live --landmark-threads 2`` runs them), each scored as ``run_suite.py`` scores the band.

    python benchmarks/landmark_threads_suite.py [N_CLIPS]     # default 6; 12 = the whole tune draw (~4 min)

Renders the clips (not cached) and extracts each twice; nothing is written.
"""
import sys
import threading
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import synth  # noqa: E402
from benchmarks.run_suite import Track, _clip_frames, extract, format_suite, score_suite  # noqa: E402
from detector.run.config import load_config  # noqa: E402
from detector.stages.features import N_CHANNELS, FeatureExtractor  # noqa: E402
from detector.stages.landmarks import Landmarker  # noqa: E402


def extract_alternating(frames, config, K=2):
    """Like run_suite.extract, with K landmarkers on their own threads taking frames in turn."""
    frames = list(frames)
    N = len(frames)
    faces = [None] * N
    lms = [Landmarker(config.landmarks) for _ in range(K)]

    def run(k):
        for i in range(k, N, K):
            _, t, img = frames[i]
            faces[i] = lms[k].detect(img, t)
    th = [threading.Thread(target=run, args=(k,)) for k in range(K)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    for lm in lms:
        lm.close()
    ext = FeatureExtractor()
    times, rows, poses, present = [], [], [], []
    for (_, t, _), fs in zip(frames, faces):
        times.append(t)
        f = ext(fs[0]) if fs else None
        rows.append(np.asarray(f.channels, np.float32) if f else np.full(N_CHANNELS, np.nan, np.float32))
        poses.append(np.asarray(f.pose, np.float32) if f else np.zeros(6, np.float32))
        present.append(f is not None)
    return Track(np.array(times), np.array(rows, np.float32).reshape(-1, N_CHANNELS),
                 np.array(poses, np.float32).reshape(-1, 6), np.array(present))


def main() -> None:
    fps = 100.0
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    config = load_config()
    plan_fn, build_fn = synth.BANDS_OF_SUITE['real_like']
    recipes = plan_fn('tune', 0, None)[:n]
    one, two = [], []
    for i, recipe in enumerate(recipes):
        name = f"tune_{i:02d}_{recipe['face']}"
        clip = build_fn(synth.load_face(recipe['face']), recipe, fps)
        frames = list(_clip_frames(clip))
        truth = [dict(r, clip=name) for r in clip.truth]
        meta = dict(clip.meta); meta['distractors'] = clip.meta.get('distractors', [])
        one.append((name, truth, meta, extract(iter(frames), config)))
        two.append((name, truth, meta, extract_alternating(frames, config)))
        print(name, len(frames), file=sys.stderr, flush=True)
    for label, items in (('one landmarker', one), ('two alternating', two)):
        print('==', label)
        print(format_suite(score_suite(items, config, fps), 'tune', 'real_like'))


if __name__ == "__main__":
    main()
