"""The arithmetic of `qmc-tui scan` (default formats) in numpy, for a
whole-process timing beside it: for every float tensor of rank >= 2,
int8 symmetric per channel (min-max) and int4 asymmetric in groups of 128,
their mse and SQNR, and the tensor's max|x|, std and kurtosis.

    python3 scripts/scan_numpy.py model.safetensors
"""
import sys

import numpy as np
from safetensors.numpy import load_file


def int8_sym_pc(w):
    amax = np.abs(w).max(axis=1, keepdims=True)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.round(w / scale), -127, 127)
    return q * scale


def int4_asym_g128(w):
    g = w.reshape(-1, 128)
    lo = np.minimum(g.min(axis=1, keepdims=True), 0)
    hi = np.maximum(g.max(axis=1, keepdims=True), 0)
    scale = np.where(hi > lo, (hi - lo) / 15.0, 1.0).astype(np.float32)
    zp = np.clip(np.round(-lo / scale), 0, 15)
    q = np.clip(np.round(g / scale) + zp, 0, 15)
    return ((q - zp) * scale).reshape(w.shape)


def main(path):
    tensors = load_file(path)
    for name, t in tensors.items():
        if t.ndim < 2 or not np.issubdtype(t.dtype, np.floating):
            continue
        w = t.reshape(t.shape[0], -1).astype(np.float32)
        x = w.astype(np.float64)
        m, s = x.mean(), x.std()
        kurt = ((x - m) ** 4).mean() / s**4 - 3 if s > 0 else 0.0
        signal = (x**2).sum()
        out = [name, np.abs(w).max(), s, kurt]
        for quant in (int8_sym_pc, int4_asym_g128):
            if quant is int4_asym_g128 and w.shape[1] % 128:
                continue
            e = (x - quant(w)) ** 2
            out += [e.mean(), 10 * np.log10(signal / e.sum())]
        print(*out)


if __name__ == "__main__":
    main(sys.argv[1])
