#!/usr/bin/python3
"""Makes data/digits.h5, the data set of the `digits` and `permuted_digits` training tasks,
from the copy of the UCI optical handwritten digits that Debian's python3-sklearn ships
(sklearn/datasets/data/digits.csv.gz: 1797 images of 8 x 8 pixels, values 0..16).

    /usr/bin/python3 scripts/make_digits.py [data/digits.h5]

Needs python3-sklearn (apt-get install python3-sklearn) and python3-h5py; only whoever
refreshes the committed file runs it. Licence: see data/README.md.
"""
import os
import sys

import h5py
import numpy as np
import sklearn
from sklearn.datasets import load_digits


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "data", "digits.h5")
    d = load_digits()
    images = np.asarray(d.data, dtype=np.uint8)  # (1797, 64), row-major 8 x 8
    labels = np.asarray(d.target, dtype=np.int64)
    assert images.shape == (1797, 64) and images.min() >= 0 and images.max() <= 16
    tmp = out + ".partial"
    with h5py.File(tmp, "w") as f:
        f.create_dataset("images", data=images, compression="gzip", compression_opts=9)
        f["images"].attrs["description"] = "8 x 8 images, row-major, integer pixels 0..16"
        f.create_dataset("labels", data=labels, compression="gzip", compression_opts=9)
        f["labels"].attrs["description"] = "the digit, 0..9"
        f.attrs["source"] = ("UCI Machine Learning Repository, Optical Recognition of Handwritten Digits "
                             "(E. Alpaydin, C. Kaynak, 1998), test set, as shipped by Debian's python3-sklearn "
                             + sklearn.__version__ + " (sklearn/datasets/data/digits.csv.gz)")
        f.attrs["licence"] = "CC BY 4.0 (UCI Machine Learning Repository); see data/README.md"
        f.attrs["command_line"] = "scripts/make_digits.py"
    os.replace(tmp, out)
    print("%s: %d images, labels %s" % (out, len(labels), np.bincount(labels).tolist()))


if __name__ == "__main__":
    main()
