#!/usr/bin/env python3
"""Writes a synthetic bf16 checkpoint in two shards with an index, for the
scale target of issue 12 (about 500M values, 1 GB), then times
`qmc-tui scan` on it with /usr/bin/time (wall time and peak RSS).

    python3 scripts/big_checkpoint.py OUT_DIR [--values 500e6] [--runs 3]

The tensors are Gaussian with a few outlier channels, written one at a
time (the script itself never holds more than one tensor)."""
import argparse, json, os, struct, subprocess, sys, time
import numpy as np

ROWS, COLS = 4096, 2048


def bf16_bytes(x):
    u = x.astype(np.float32).view(np.uint32)
    # Round to nearest even, as torch does.
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16).tobytes()


def write_shard(path, names, rng):
    header, offset = {}, 0
    size = ROWS * COLS * 2
    for n in names:
        header[n] = {"dtype": "BF16", "shape": [ROWS, COLS], "data_offsets": [offset, offset + size]}
        offset += size
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for _ in names:
            x = rng.standard_normal((ROWS, COLS), dtype=np.float32) * 0.02
            x[:, rng.integers(0, COLS, 4)] *= 20.0
            f.write(bf16_bytes(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--values", type=float, default=500e6)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--binary", default="target/release/qmc-tui")
    ap.add_argument("--formats", default="int8-sym-pc")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    n = max(2, round(a.values / (ROWS * COLS)))
    names = [f"model.layers.{i // 4}.t{i % 4}.weight" for i in range(n)]
    halves = [names[: n // 2], names[n // 2 :]]
    index = os.path.join(a.out, "model.safetensors.index.json")
    if not os.path.exists(index):
        rng = np.random.default_rng(0)
        weight_map = {}
        for k, part in enumerate(halves):
            shard = f"model-{k + 1:05d}-of-00002.safetensors"
            write_shard(os.path.join(a.out, shard), part, rng)
            weight_map.update({t: shard for t in part})
        with open(index, "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f)
    size = sum(os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out))
    print(f"{n} tensors, {n * ROWS * COLS / 1e6:.0f}M values, {size / 1e9:.2f} GB")
    for _ in range(a.runs):
        cmd = ["/usr/bin/time", "-f", "%e s %M KB", a.binary, "scan", index, "--formats", a.formats, "--format", "json"]
        t = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.exit(r.stderr)
        print(f"scan --formats {a.formats}: {time.perf_counter() - t:.2f} s wall, peak RSS {r.stderr.strip().split()[-2]} KB")


if __name__ == "__main__":
    main()
