"""Checks `quantize --packed` against gguf-py's dequantizers: for every
llama.cpp format, the GGUF blocks qmc-tui writes, read back by
gguf.quants.dequantize, must give qmc-tui's own x_hat bit for bit, and be
exactly rows * cols / block * type_size bytes. On crosscheck_formats.py's
tensors (rows of 512: whole blocks of 32 and of 256). Run from the
repository root after `cargo build --release`:
    python3 scripts/crosscheck_packed.py [seed]
"""
import importlib.util, os, subprocess, sys, tempfile

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

BIN = os.environ.get("QMC_TUI", "target/release/qmc-tui")

FORMATS = {
    "q8_0": T.Q8_0, "q4_0": T.Q4_0, "q4_1": T.Q4_1, "q5_0": T.Q5_0, "q5_1": T.Q5_1,
    "q4_k": T.Q4_K, "q6_k": T.Q6_K, "tq2_0": T.TQ2_0,
}


def shared():
    """crosscheck_formats.py: its tensors and its report of a difference."""
    path = os.path.join(os.path.dirname(__file__), "crosscheck_formats.py")
    spec = importlib.util.spec_from_file_location("crosscheck_formats", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ours(name, x, tmp):
    """qmc-tui's x_hat and packed blocks of `x` in format `name`."""
    np.save(f"{tmp}/w.npy", x)
    with open(f"{tmp}/c.toml", "w") as f:
        f.write(f'[quant]\nformat = "{name}"\n')
    subprocess.check_output([BIN, "--config", f"{tmp}/c.toml", "--weights", f"{tmp}/w.npy", "quantize",
                             "--out", f"{tmp}/codes.npy", "--dequantized", f"{tmp}/xhat.npy",
                             "--packed", f"{tmp}/blocks.bin"])
    return np.load(f"{tmp}/xhat.npy"), np.fromfile(f"{tmp}/blocks.bin", dtype=np.uint8)


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    formats = shared()
    cases = formats.tensors(seed)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, qtype in FORMATS.items():
            block, type_size = GGML_QUANT_SIZES[qtype]
            before = failures
            for label, x in cases.items():
                rows, cols = x.shape
                xhat, blocks = ours(name, x, tmp)
                if blocks.size != rows * cols // block * type_size:
                    print(f"FAIL {name} on {label}: {blocks.size} bytes, expected {rows * cols // block * type_size}")
                    failures += 1
                    continue
                theirs = dequantize(blocks.reshape(rows, -1), qtype).astype(np.float32)
                failures += formats.differs(name, label, x, xhat, theirs.reshape(x.shape), "gguf")
            if failures == before:
                print(f"ok   {name}: gguf-py dequantizes the packed blocks to our x_hat on {len(cases)} tensors (seed {seed})")
    if failures:
        sys.exit(f"{failures} packed cross-checks failed")


if __name__ == "__main__":
    main()
