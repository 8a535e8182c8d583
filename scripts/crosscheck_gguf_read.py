"""Checks our GGUF reader and decoders against gguf-py: for every type we
decode, tensors are made with gguf-py (gguf.quants.quantize of random
floats where gguf-py quantizes the type; random blocks with finite fp16
scales for the k-quants, which it only dequantizes, and random blocks of
the other types too), written with gguf.GGUFWriter into two files (mixed
types, 2-D and 3-D shapes, one file with general.alignment 64), listed and
decoded by `qmc-tui tensors FILE.gguf --dequantized OUT.safetensors`, and
every value must equal gguf.quants.dequantize's bit for bit, in the
original (un-reversed) shape. Run from the repository root after
`cargo build --release`:
    python3 scripts/crosscheck_gguf_read.py [seed]
"""
import os, subprocess, sys, tempfile

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGML_QUANT_SIZES, GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize
from safetensors.numpy import load_file

BIN = os.environ.get("QMC_TUI", "target/release/qmc-tui")

# Types gguf-py quantizes (and that we decode).
QUANTIZABLE = [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.TQ1_0, T.TQ2_0, T.MXFP4]
# Types given random blocks, with the byte offsets of their fp16 scales.
RANDOM_BLOCKS = {T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
                 T.Q8_0: [0], T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2],
                 T.TQ1_0: [52], T.TQ2_0: [64], T.MXFP4: []}


def random_blocks(rng, qtype, rows, cols):
    """Blocks of random bytes whose fp16 scales are finite (as a quantizer makes them)."""
    block, size = GGML_QUANT_SIZES[qtype]
    n = rows * cols // block
    data = rng.integers(0, 256, (n, size), dtype=np.uint8)
    for at in RANDOM_BLOCKS[qtype]:
        scales = (rng.standard_normal(n) * 0.02).astype(np.float16)
        data[:, at:at + 2] = scales.view(np.uint8).reshape(n, 2)
    return data.reshape(rows, cols // block * size)


def tensors(rng):
    """(name, qtype, stored array, shape) for every tensor of both files."""
    out = []
    shapes = [(4, 256), (2, 3, 512)]
    for i, qtype in enumerate(QUANTIZABLE):
        shape = shapes[i % 2]
        x = (rng.standard_normal(shape) * 0.1).astype(np.float32)
        x.reshape(-1)[5] = 1.5  # an outlier
        out.append((f"blk.{i}.q.{qtype.name.lower()}", qtype, quantize(x, qtype), shape))
    for i, qtype in enumerate(RANDOM_BLOCKS):
        shape = shapes[(i + 1) % 2]
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        data = random_blocks(rng, qtype, rows, cols).reshape(*shape[:-1], -1)
        out.append((f"blk.{i}.r.{qtype.name.lower()}", qtype, data, shape))
    return out


def write(path, items, alignment):
    w = GGUFWriter(path, "llama")
    w.add_name("crosscheck")
    w.add_head_count(4)
    if alignment != 32:
        w.add_custom_alignment(alignment)
    for name, qtype, data, _ in items:
        raw = None if qtype in (T.F32, T.F16) else qtype
        w.add_tensor(name, data, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def check_file(path, items, tmp):
    out = f"{tmp}/decoded.safetensors"
    listing = subprocess.check_output([BIN, "tensors", path, "--dequantized", out], text=True)
    ours = load_file(out)
    failures = []
    by_name = {t.name: t for t in GGUFReader(path).tensors}
    for name, qtype, _, shape in items:
        t = by_name[name]
        with np.errstate(over="ignore"):  # random MXFP4 scales of 2^127 overflow, in both
            want = dequantize(np.asarray(t.data), qtype).astype(np.float32).reshape(shape)
        got = ours.get(name)
        if got is None:
            failures.append(f"FAIL {path} {name}: not decoded")
        elif got.shape != tuple(shape):
            failures.append(f"FAIL {path} {name}: shape {got.shape}, expected {shape}")
        elif not np.array_equal(got.view(np.uint32), want.view(np.uint32)):
            bad = int(np.sum(got.view(np.uint32) != want.view(np.uint32)))
            failures.append(f"FAIL {path} {name}: {bad} of {want.size} values differ from gguf.quants.dequantize")
        line = next((l for l in listing.splitlines() if l.startswith(name + " ")), "")
        if qtype.name.lower() not in line.split():
            failures.append(f"FAIL {path} {name}: listed as {line!r}")
    return failures


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    rng = np.random.default_rng(seed)
    items = tensors(rng)
    half = len(items) // 2
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for path, part, alignment in [(f"{tmp}/a.gguf", items[:half], 32), (f"{tmp}/b.gguf", items[half:], 64)]:
            write(path, part, alignment)
            failures += check_file(path, part, tmp)
    for f in failures:
        print(f)
    types = sorted({q.name for _, q, _, _ in items})
    print(f"{len(items)} tensors of {len(types)} types ({', '.join(types)}) decoded")
    if failures:
        sys.exit(1)
    print("gguf read cross-check passed")


if __name__ == "__main__":
    main()
