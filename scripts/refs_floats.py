"""The floating-point formats. Casts are ml_dtypes' (round to nearest even,
subnormals); ml_dtypes does not saturate (E4M3FN overflows to NaN, E5M2 to
Inf), so every reference clips to +-max first, as qmc-tui and torch's
scaled-fp8 recipes do. mxfp4 is gguf-py's MXFP4 itself (quantize and
dequantize). A key's first word is the format; the rest names a variant."""
import ml_dtypes
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

F32 = np.float32
E4M3 = (ml_dtypes.float8_e4m3fn, 448.0)
E5M2 = (ml_dtypes.float8_e5m2, 57344.0)
E2M1 = (ml_dtypes.float4_e2m1fn, 6.0)


def cast(v, element):
    dtype, top = element
    return np.clip(v, -top, top).astype(dtype).astype(F32)


def amax(x, axis=None):
    return np.abs(x).max(axis=axis, keepdims=axis is not None).astype(F32)


def scaled(element, axis=None):
    """s = amax / max per tensor (axis None) or per channel, 1 when 0."""

    def reference(x):
        s = amax(x, axis) / F32(element[1])
        s = np.where(s > 0, s, F32(1)).astype(F32)
        return cast(x / s, element) * s

    return reference


def blocks(x, size):
    return x.reshape(-1, size)


def mxfp8(x):
    """OCP MX: scale 2^(floor(log2 amax) - 8) per 32, floor(log2) as gguf-py's MXFP4 computes it."""
    b = blocks(x, 32)
    d = amax(b, 1)
    with np.errstate(divide="ignore"):
        e = np.where(d > 0, np.floor(np.log2(d)) - 8 + 127, 0).astype(np.int32)
    scale = np.ldexp(F32(1), np.clip(e, 0, 254) - 127).astype(F32)
    return (cast(b / scale, E4M3) * scale).reshape(x.shape)


def nvfp4(x):
    """ModelOpt's NVFP4QTensor: g = amax / (6 * 448); s_b = e4m3(amax_b / (6 g)), 1 before
    the cast when 0; x_hat = e2m1(x / (s_b g)) * s_b * g, rounded once (ModelOpt's
    dequantize rounds s_b * g first). g = 1 for an all-zero tensor."""
    g = amax(x) / F32(6.0 * 448.0)
    g = F32(g) if g > 0 else F32(1)
    b = blocks(x, 16)
    raw = amax(b, 1) / (F32(6) * g)
    s_b = cast(np.where(raw == 0, F32(1), raw), E4M3)
    d = (s_b * g).astype(F32)
    safe = np.where(d > 0, d, F32(1))
    return np.where(d > 0, cast(b / safe, E2M1) * s_b * g, F32(0)).reshape(x.shape)


REFERENCES = {
    "fp8-e4m3": ("", scaled(E4M3)),
    "fp8-e5m2": ("", scaled(E5M2)),
    "fp4-e2m1": ("", scaled(E2M1)),
    "fp8-e4m3 per-channel": ('granularity = "per-channel"', scaled(E4M3, 1)),
    "fp8-e5m2 per-channel": ('granularity = "per-channel"', scaled(E5M2, 1)),
    "fp4-e2m1 per-channel": ('granularity = "per-channel"', scaled(E2M1, 1)),
    "fp8-e4m3 per-column": ('granularity = "per-channel"\nchannel_axis = 1', scaled(E4M3, 0)),
    "mxfp8": ("", mxfp8),
    "mxfp4": ("", lambda x: dequantize(quantize(x, T.MXFP4), T.MXFP4)),
    "nvfp4": ("", nvfp4),
}
