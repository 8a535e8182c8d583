"""Checks a real GGUF file (not committed: pass its path) against gguf-py:
every tensor qmc-tui decodes (`tensors FILE --dequantized OUT`) must equal
gguf.quants.dequantize bit for bit, and the listing must name every
tensor with gguf-py's type and shape. Prints the type counts and the
whole-process times of both sides. Not run by CI (it needs a downloaded
model); run from the repository root after `cargo build --release`:
    python3 scripts/check_real_gguf.py FILE.gguf
"""
import os, subprocess, sys, tempfile, time
from collections import Counter

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize
from safetensors.numpy import load_file

BIN = os.environ.get("QMC_TUI", "target/release/qmc-tui")


def main(path):
    t0 = time.perf_counter()
    reader = GGUFReader(path)
    expected = {t.name: dequantize(t.data, t.tensor_type) for t in reader.tensors}
    t_py = time.perf_counter() - t0
    types = Counter(t.tensor_type.name for t in reader.tensors)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "decoded.safetensors")
        t0 = time.perf_counter()
        subprocess.run([BIN, "tensors", path, "--dequantized", out], check=True, stdout=subprocess.DEVNULL)
        t_ours = time.perf_counter() - t0
        ours = load_file(out)
    listing = subprocess.run([BIN, "tensors", path], check=True, capture_output=True, text=True).stdout
    bad = []
    for t in reader.tensors:
        if t.name not in listing:
            bad.append(f"{t.name}: not listed")
        if t.name not in ours:
            bad.append(f"{t.name} ({t.tensor_type.name}): not decoded")
            continue
        want = np.ascontiguousarray(expected[t.name], dtype=np.float32)
        got = ours[t.name]
        if got.shape != want.shape:
            bad.append(f"{t.name}: shape {got.shape} against gguf-py's {want.shape}")
        elif not np.array_equal(got.view(np.uint32), want.view(np.uint32)):
            bad.append(f"{t.name} ({t.tensor_type.name}): {np.sum(got != want)} values differ")
    print(f"{path}: {len(reader.tensors)} tensors, {dict(types)}")
    print(f"decode every tensor: qmc-tui {t_ours:.2f} s (whole process, writing f32 safetensors), "
          f"gguf-py {t_py:.2f} s (read + dequantize in memory)")
    if bad:
        print("\n".join(bad[:20]))
        sys.exit(1)
    print(f"all {len(reader.tensors)} tensors equal gguf-py's values bit for bit")


if __name__ == "__main__":
    main(sys.argv[1])
