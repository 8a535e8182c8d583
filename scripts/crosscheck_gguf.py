"""Checks `scan --write OUT.gguf` against gguf-py: a small checkpoint made
with numpy and safetensors is written in each llama.cpp format, read back
by gguf.GGUFReader, and every quantized tensor's raw bytes must equal
gguf.quants.quantize of its values (the same blocks), its values
dequantized by gguf-py must equal those of gguf-py's own blocks, and the
kept tensors must be their input bytes. gguf-py has no quantizer for the
k-quants: there gguf-py dequantizes our blocks and the values must equal
`scan --dequantized` of the same run. Run from the repository root after
`cargo build --release`:
    python3 scripts/crosscheck_gguf.py [seed]
"""
import os, subprocess, sys, tempfile

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.quants import dequantize, quantize
from safetensors.numpy import load_file, save_file

BIN = os.environ.get("QMC_TUI", "target/release/qmc-tui")

# Formats gguf-py quantizes, and the k-quants it only dequantizes.
QUANTIZED = {"q8_0": T.Q8_0, "q4_0": T.Q4_0, "q4_1": T.Q4_1, "q5_0": T.Q5_0, "q5_1": T.Q5_1,
             "tq2_0": T.TQ2_0, "mxfp4": T.MXFP4}
DEQUANTIZED_ONLY = {"q4_k": T.Q4_K, "q6_k": T.Q6_K}


def checkpoint(seed):
    """Weights with outliers and ties, an f16 one, a 3-D one, a norm."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((8, 512)).astype(np.float32) * 0.05
    w[3, 17] = 1.5
    w[5, :32] = 0.25
    return {
        "model.layers.0.attn.q_proj.weight": w,
        "model.layers.0.mlp.up_proj.weight": (rng.standard_normal((4, 256)) * 0.1).astype(np.float16),
        "model.layers.0.mlp.experts.weight": rng.uniform(-1, 1, (2, 4, 256)).astype(np.float32),
        "model.layers.0.norm.weight": rng.uniform(0.5, 1.5, 512).astype(np.float32),
    }


def scan(model, fmt, tmp):
    gguf, deq = f"{tmp}/{fmt}.gguf", f"{tmp}/{fmt}.safetensors"
    subprocess.check_output([BIN, "scan", model, "--formats", fmt, "--write", gguf, "--dequantized", deq,
                             "--format", "json"], stderr=subprocess.DEVNULL)
    return GGUFReader(gguf), load_file(deq)


def check_metadata(reader, fmt):
    fields = reader.fields
    problems = []
    for key in ["general.architecture", "general.name", "general.file_type", "general.quantization_version",
                "general.alignment", "qmc.recipe"]:
        if key not in fields:
            problems.append(f"no {key}")
    if "general.alignment" in fields and int(fields["general.alignment"].contents()) != 32:
        problems.append("general.alignment is not 32")
    if "general.quantization_version" in fields and int(fields["general.quantization_version"].contents()) != 2:
        problems.append("general.quantization_version is not 2")
    return [f"FAIL {fmt}: {p}" for p in problems]


def check_tensor(fmt, qtype, t, x, ours_xhat):
    """The problems of one GGUF tensor `t` holding input `x`."""
    name = t.name
    if qtype is None or x.ndim == 1:  # kept as it is
        if t.tensor_type != T.F32 or not np.array_equal(np.asarray(t.data).reshape(x.shape), x):
            return [f"FAIL {fmt} {name}: the kept tensor changed"]
        return []
    if t.tensor_type != qtype:
        return [f"FAIL {fmt} {name}: type {t.tensor_type.name}, expected {qtype.name}"]
    if [int(d) for d in t.shape] != list(reversed(x.shape)):
        return [f"FAIL {fmt} {name}: ne {list(t.shape)}, expected {list(reversed(x.shape))}"]
    rows = x.reshape(-1, x.shape[-1]).astype(np.float32)
    blocks = np.asarray(t.data).reshape(rows.shape[0], -1)
    got = dequantize(blocks, qtype).astype(np.float32)
    if fmt in DEQUANTIZED_ONLY:
        want = ours_xhat.reshape(rows.shape).astype(np.float32)
        if not np.array_equal(got, want):
            bad = int(np.sum(got != want))
            return [f"FAIL {fmt} {name}: gguf-py reads {bad} values other than scan --dequantized"]
        return []
    theirs = quantize(rows, qtype)
    problems = []
    if blocks.tobytes() != theirs.tobytes():
        diff = np.flatnonzero(blocks.reshape(-1) != theirs.reshape(-1))
        problems.append(f"FAIL {fmt} {name}: {diff.size} bytes differ from gguf.quants.quantize, first at {diff[0]}")
    want = dequantize(theirs, qtype).astype(np.float32)
    if not np.array_equal(got, want):
        problems.append(f"FAIL {fmt} {name}: {int(np.sum(got != want))} dequantized values differ")
    return problems


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    tensors = checkpoint(seed)
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        model = f"{tmp}/model.safetensors"
        save_file(tensors, model, metadata={"format": "pt"})
        for fmt, qtype in {**QUANTIZED, **DEQUANTIZED_ONLY}.items():
            reader, deq = scan(model, fmt, tmp)
            failures += check_metadata(reader, fmt)
            found = {t.name: t for t in reader.tensors}
            if sorted(found) != sorted(tensors):
                failures.append(f"FAIL {fmt}: tensors {sorted(found)}")
                continue
            for name, x in tensors.items():
                kept = x.ndim == 1
                failures += check_tensor(fmt, None if kept else qtype, found[name], x, deq[name])
            status = "ok" if not any(f.startswith(f"FAIL {fmt}") for f in failures) else "FAILED"
            print(f"{fmt:6} {status}: {len(tensors)} tensors read back by GGUFReader")
    for f in failures:
        print(f)
    if failures:
        sys.exit(1)
    print("gguf cross-check passed")


if __name__ == "__main__":
    main()
