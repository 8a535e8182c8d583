"""llama.cpp's super-block formats. TQ2_0: gguf-py quantizes and
dequantizes (its quantizer is bit-exact with quantize_row_tq2_0_ref).
Q4_K and Q6_K: gguf-py only dequantizes, so this file ports
ggml-quants.c's quantize_row_q4_K_ref and quantize_row_q6_K_ref to numpy
(float32 throughout, every sum accumulated in the C's order, no fused
multiply-add), writes GGUF blocks, and gguf-py's dequantizer gives x_hat.
Vectorized across sub-blocks, sequential along each, as the C sums are."""
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

f32 = np.float32
QK_K = 256
GROUP_MAX_EPS = f32(1e-15)


def nearest_int(x):
    """ggml's nearest_int: the 1.5 * 2^23 trick (round half to even)."""
    bits = (np.asarray(x, dtype=f32) + f32(12582912.0)).astype(f32).view(np.int32)
    return (bits & 0x007FFFFF) - 0x00400000


def fp16(x):
    return np.asarray(x, dtype=f32).astype(np.float16)


def running(values, start, step):
    """A sequential float32 fold over the columns of `values`: C's loop."""
    acc = start
    for i in range(values.shape[1]):
        acc = step(acc, i)
    return acc


def make_qkx2_quants(x, w, nmax, rmin, rdelta, nstep):
    """make_qkx2_quants(n, nmax, x, w, L, &the_min, Laux, rmin, rdelta, nstep, false)
    for every row of x at once: (scale, the_min, L)."""
    n = x.shape[1]
    lo, hi = x[:, 0].copy(), x[:, 0].copy()
    sum_w, sum_x = w[:, 0].copy(), w[:, 0] * x[:, 0]
    for i in range(1, n):
        lo = np.where(x[:, i] < lo, x[:, i], lo)
        hi = np.where(x[:, i] > hi, x[:, i], hi)
        sum_w = sum_w + w[:, i]
        sum_x = sum_x + w[:, i] * x[:, i]
    lo = np.where(lo > 0, f32(0), lo)
    flat = hi == lo
    zeros = np.zeros(x.shape[0], dtype=f32)
    iscale = f32(nmax) / (hi - lo)
    scale = f32(1) / iscale
    L = np.clip(nearest_int(iscale[:, None] * (x - lo[:, None])), 0, nmax)

    def error(scale, lo, L):
        def add(acc, i):
            diff = scale * L[:, i].astype(f32) + lo - x[:, i]
            return acc + w[:, i] * (diff * diff)
        return running(x, zeros, add)

    best = error(scale, lo, L)
    for step in range(nstep + 1):
        iscale = (f32(rmin) + f32(rdelta) * f32(step) + f32(nmax)) / (hi - lo)
        aux = np.clip(nearest_int(iscale[:, None] * (x - lo[:, None])), 0, nmax)
        sum_l = sum_l2 = sum_xl = zeros
        for i in range(n):
            l = aux[:, i].astype(f32)
            sum_l = sum_l + w[:, i] * l
            sum_l2 = sum_l2 + w[:, i] * l * l
            sum_xl = sum_xl + w[:, i] * l * x[:, i]
        det = sum_w * sum_l2 - sum_l * sum_l
        this_scale = (sum_w * sum_xl - sum_x * sum_l) / det
        this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det
        positive = this_min > 0
        this_min = np.where(positive, f32(0), this_min)
        this_scale = np.where(positive, sum_xl / sum_l2, this_scale)
        cur = error(this_scale, this_min, aux)
        better = (det > 0) & (cur < best) & ~flat
        L = np.where(better[:, None], aux, L)
        best = np.where(better, cur, best)
        scale = np.where(better, this_scale, scale)
        lo = np.where(better, this_min, lo)
    L[flat] = 0
    scale = np.where(flat, f32(0), scale)
    return scale, -lo, L


def first_max(values, key):
    """The C's `if (key(v) > best) best = ...` over the columns, from 0."""
    best_key = np.zeros(values.shape[0], dtype=f32)
    best = np.zeros(values.shape[0], dtype=f32)
    for j in range(values.shape[1]):
        k = key(values[:, j])
        up = k > best_key
        best_key, best = np.where(up, k, best_key), np.where(up, values[:, j], best)
    return best_key, best


def q4_k_blocks(x):
    """quantize_row_q4_K_ref: float32 (nb, 256) -> block_q4_K bytes (nb, 144)."""
    nb = x.shape[0]
    subs = x.reshape(nb * 8, 32)
    sum_x2 = running(subs, np.zeros(nb * 8, dtype=f32), lambda s, l: s + subs[:, l] * subs[:, l])
    av_x = np.sqrt(sum_x2 / f32(32))
    weights = av_x[:, None] + np.abs(subs)
    scales, mins, L = make_qkx2_quants(subs, weights, 15, -1.0, 0.1, 20)
    scales, mins, L = scales.reshape(nb, 8), mins.reshape(nb, 8), L.reshape(nb, 8, 32)
    max_scale, _ = first_max(scales, lambda v: v)
    max_min, _ = first_max(mins, lambda v: v)
    inv_scale = np.where(max_scale > 0, f32(63) / max_scale, f32(0))
    inv_min = np.where(max_min > 0, f32(63) / max_min, f32(0))
    ls = np.minimum(nearest_int(inv_scale[:, None] * scales).astype(np.uint8), np.uint8(63))
    lm = np.minimum(nearest_int(inv_min[:, None] * mins).astype(np.uint8), np.uint8(63))
    d, dmin = fp16(max_scale / f32(63)), fp16(max_min / f32(63))
    step = d.astype(f32)[:, None] * ls.astype(f32)
    offset = dmin.astype(f32)[:, None] * lm.astype(f32)
    requant = np.clip(nearest_int((x.reshape(nb, 8, 32) + offset[..., None]) / step[..., None]), 0, 15)
    L = np.where(step[..., None] != 0, requant, L).astype(np.uint8).reshape(nb, QK_K)
    packed_scales = np.zeros((nb, 12), dtype=np.uint8)
    packed_scales[:, 0:4] = ls[:, 0:4]
    packed_scales[:, 4:8] = lm[:, 0:4]
    packed_scales[:, 8:12] = (ls[:, 4:8] & 0xF) | ((lm[:, 4:8] & 0xF) << 4)
    packed_scales[:, 0:4] |= (ls[:, 4:8] >> 4) << 6
    packed_scales[:, 4:8] |= (lm[:, 4:8] >> 4) << 6
    halves = L.reshape(nb, 4, 2, 32)
    qs = (halves[:, :, 0, :] | (halves[:, :, 1, :] << 4)).reshape(nb, 128)
    return np.concatenate([d.reshape(nb, 1).view(np.uint8), dmin.reshape(nb, 1).view(np.uint8), packed_scales, qs], axis=1)


def make_qx_quants(x, nmax):
    """make_qx_quants(n, nmax, x, L, 1, NULL) for every row: (scale, L)."""
    amax, max_ = first_max(x, np.abs)
    zero = amax < GROUP_MAX_EPS
    zeros = np.zeros(x.shape[0], dtype=f32)

    def codes(iscale):
        return np.clip(nearest_int(iscale[:, None] * x), -nmax, nmax - 1)

    def sums(l):
        sumlx = suml2 = zeros
        for i in range(x.shape[1]):
            w, li = x[:, i] * x[:, i], l[:, i].astype(f32)
            sumlx = sumlx + w * x[:, i] * li
            suml2 = suml2 + w * li * li
        return sumlx, suml2

    iscale = f32(-nmax) / max_
    l = codes(iscale)
    L = l + nmax
    sumlx, suml2 = sums(l)
    scale = np.where(suml2 != 0, sumlx / suml2, f32(0))
    best = scale * sumlx
    for step in [s for s in range(-9, 10) if s != 0]:
        iscale = -(f32(nmax) + f32(0.1) * f32(step)) / max_
        l = codes(iscale)
        sumlx, suml2 = sums(l)
        better = (suml2 > 0) & (sumlx * sumlx > best * suml2)
        L = np.where(better[:, None], l + nmax, L)
        scale = np.where(better, sumlx / suml2, scale)
        best = np.where(better, scale * sumlx, best)
    L[zero] = 0
    return np.where(zero, f32(0), scale), L


def q6_k_blocks(x):
    """quantize_row_q6_K_ref: float32 (nb, 256) -> block_q6_K bytes (nb, 210)."""
    nb = x.shape[0]
    scales, L = make_qx_quants(x.reshape(nb * 16, 16), 32)
    scales, L = scales.reshape(nb, 16), L.reshape(nb, 16, 16)
    max_abs_scale, max_scale = first_max(scales, np.abs)
    empty = max_abs_scale < GROUP_MAX_EPS
    iscale = f32(-128) / max_scale
    d = fp16(f32(1) / iscale)
    sc = np.minimum(127, nearest_int(iscale[:, None] * scales)).astype(np.int8)
    step = d.astype(f32)[:, None] * sc.astype(f32)
    requant = np.clip(nearest_int(x.reshape(nb, 16, 16) / step[..., None]), -32, 31) + 32
    L = np.where(step[..., None] != 0, requant, L).reshape(nb, QK_K)
    L[empty], sc[empty], d[empty] = 0, 0, 0
    L = L.astype(np.uint8).reshape(nb, 2, 4, 32)
    ql = np.concatenate([L[:, :, 0] & 0xF | (L[:, :, 2] & 0xF) << 4, L[:, :, 1] & 0xF | (L[:, :, 3] & 0xF) << 4], axis=2)
    qh = (L[:, :, 0] >> 4) | (L[:, :, 1] >> 4) << 2 | (L[:, :, 2] >> 4) << 4 | (L[:, :, 3] >> 4) << 6
    return np.concatenate([ql.reshape(nb, 128), qh.reshape(nb, 64), sc.view(np.uint8), d.reshape(nb, 1).view(np.uint8)], axis=1)


def ported(blocks_of, qtype):
    def reference(x):
        with np.errstate(all="ignore"):
            blocks = blocks_of(np.asarray(x, dtype=f32).reshape(-1, QK_K))
        return dequantize(blocks, qtype).reshape(x.shape)
    return reference


REFERENCES = {
    "q4_k": ("", ported(q4_k_blocks, T.Q4_K)),
    "q6_k": ("", ported(q6_k_blocks, T.Q6_K)),
    "tq2_0": ("", lambda x: dequantize(quantize(x, T.TQ2_0), T.TQ2_0)),
}
