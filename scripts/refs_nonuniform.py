"""The non-uniform formats in numpy, from their sources (no bitsandbytes
package: it needs CUDA for these kernels).

nf4: bitsandbytes' quantize_4bit(quant_type="nf4") as csrc/kernels.cu
kQuantizeBlockwise runs it: absmax per block of the flattened tensor,
x * (1 / absmax) in float32, the code from dQuantizeNF4's decision tree
(x > threshold, so a value on a midpoint takes the lower code), x_hat =
code value * absmax. The table is get_4bit_type("nf4") in
bitsandbytes/functional.py, the thresholds dQuantizeNF4's literals. An
all-zero block (NaN in the kernel) takes the code of 0.

binary (XNOR-Net) and ternary (TWN): their formulas, the means summed in
float64 in qmc-tui's order (eight lanes: lane l takes values l, l + 8, ...
in row-major order, cumsum down the columns of the values laid out eight
to a row, then the lane sums added in lane order) and alpha rounded to
float32. codebook has no outside reference.
"""
import numpy as np

NF4_VALUES = np.array([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
], dtype=np.float32)

NF4_THRESHOLDS = np.array([
    -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
    -0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
    0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
    0.5016634166240692, 0.6427869200706482, 0.8614784181118011,
], dtype=np.float32)


def nf4(x, block=64):
    flat = x.astype(np.float32).ravel()
    n = flat.size
    blocks = np.zeros(-(-n // block) * block, np.float32)
    blocks[:n] = flat  # zero padding leaves the last block's absmax as it is
    blocks = blocks.reshape(-1, block)
    absmax = np.abs(blocks).max(axis=1)
    inv = np.divide(np.float32(1), absmax, out=np.zeros_like(absmax), where=absmax > 0)
    normalized = blocks * inv[:, None]
    codes = (normalized[..., None] > NF4_THRESHOLDS).sum(axis=-1)
    return (NF4_VALUES[codes] * absmax[:, None]).ravel()[:n].reshape(x.shape)


LANES = 8


def mean64(a, keep=None):
    """The float64 mean of the kept values of a (all by default; 0 when none
    is), summed in eight lanes: lane l adds values l, l + 8, ... in order,
    a value left out adding 0, then the lane sums are added in lane order."""
    a = np.asarray(a, np.float64).ravel()
    keep = np.ones(a.size, bool) if keep is None else np.asarray(keep).ravel()
    n = int(keep.sum())
    if n == 0:
        return 0.0
    rows = np.zeros(-(-a.size // LANES) * LANES)
    rows[:a.size] = np.where(keep, a, 0.0)
    lanes = np.cumsum(rows.reshape(-1, LANES), axis=0)[-1]
    total = 0.0
    for s in lanes:
        total += float(s)
    return total / n


def binary(x):
    alpha = np.float32(mean64(np.abs(x)))
    return np.where(x >= 0, alpha, -alpha).astype(np.float32)


def ternary(x):
    a = np.abs(x).astype(np.float64)
    delta = 0.7 * mean64(a)
    keep = a > delta
    alpha = np.float32(mean64(a, keep))
    return np.where(keep, np.where(x > 0, alpha, -alpha), np.float32(0)).astype(np.float32)


REFERENCES = {
    "nf4": ("", nf4),
    "binary": ("", binary),
    "ternary": ("", ternary),
}
