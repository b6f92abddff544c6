#!/usr/bin/env python3
"""Regenerates examples/image/data/*.pgm: real pictures found on a Debian 12 machine with
matplotlib, scipy and the Rust docs installed, as 8-bit grayscale binary PGM (P5), longest side
384 px (LANCZOS). Needs Pillow and numpy (Debian's python3-pil, python3-numpy):
    /usr/bin/python3 examples/image/make_data.py [OUT_DIR]
Where each picture comes from and its licence: data/SOURCES.md."""
import bz2
import gzip
import pickle
import sys
from pathlib import Path

import numpy as np
from PIL import Image

MPL = Path("/usr/share/matplotlib/mpl-data/sample_data")
SCIPY = Path("/usr/lib/python3/dist-packages/scipy/misc")
RUST = Path.home() / ".rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html"
SIDE = 384


def from_file(path):
    return Image.open(path).convert("L")


def raccoon():  # scipy.misc.face(): bz2-compressed 768 x 1024 RGB bytes
    rgb = np.frombuffer(bz2.decompress((SCIPY / "face.dat").read_bytes()), np.uint8)
    return Image.fromarray(rgb.reshape(768, 1024, 3), "RGB").convert("L")


def ascent():  # scipy.misc.ascent(): a pickled 512 x 512 array of 0..255
    with open(SCIPY / "ascent.dat", "rb") as f:
        return Image.fromarray(np.array(pickle.load(f)).astype(np.uint8), "L")


def scaled_to_8bit(array):
    array = array.astype(np.float64)
    lo, hi = np.percentile(array, 0.5), np.percentile(array, 99.5)
    return Image.fromarray(np.clip((array - lo) / (hi - lo) * 255, 0, 255).round().astype(np.uint8))


def mri_slice():  # 256 x 256 big-endian uint16 (matplotlib's s1045.ima.gz)
    raw = gzip.decompress((MPL / "s1045.ima.gz").read_bytes())
    return scaled_to_8bit(np.frombuffer(raw, ">u2").reshape(256, 256))


def elevation():  # a digital elevation model, shown as a height map
    with np.load(MPL / "jacksboro_fault_dem.npz") as f:
        return scaled_to_8bit(f["elevation"])


PICTURES = {
    "grace_hopper.pgm": lambda: from_file(MPL / "grace_hopper.jpg"),
    "raccoon_face.pgm": raccoon,
    "ascent.pgm": ascent,
    "mri_head.pgm": mri_slice,
    "jacksboro_dem.pgm": elevation,
    "stm32f3_board.pgm": lambda: from_file(RUST / "embedded-book/assets/f3.jpg"),
    "debugger_setup.pgm": lambda: from_file(RUST / "embedded-book/assets/verify.jpeg"),
}


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "data"
    out.mkdir(parents=True, exist_ok=True)
    for name, load in PICTURES.items():
        image = load()
        scale = SIDE / max(image.size)
        if scale < 1:
            size = (round(image.size[0] * scale), round(image.size[1] * scale))
            image = image.resize(size, Image.LANCZOS)
        w, h = image.size
        (out / name).write_bytes(b"P5\n%d %d\n255\n" % (w, h) + image.tobytes())
        print(f"{out / name}: {w} x {h}")


if __name__ == "__main__":
    main()
