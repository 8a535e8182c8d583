"""Checks every number format bit for bit against its outside reference.

Each `scripts/refs_*.py` module holds `REFERENCES`: format name -> (extra
`[quant]` TOML lines, function of a float32 `[rows, cols]` array returning
the reference's x_hat as float32). For each, qmc-tui's `quantize
--dequantized` runs on a set of hand-made and random tensors (ties, zeros,
all-equal blocks, negative-only blocks, heavy tails) and its x_hat must
equal the reference's, bit for bit. Run from the repository root after
`cargo build --release`:  python3 scripts/crosscheck_formats.py [seed]
"""
import glob, importlib.util, os, subprocess, sys, tempfile

import numpy as np

BIN = os.environ.get("QMC_TUI", "target/release/qmc-tui")


def tensors(seed):
    rng = np.random.default_rng(seed)
    cols = 512
    out = {
        "normal": rng.standard_normal((16, cols)) * 0.05,
        "student-t": rng.standard_t(3, (16, cols)) * 0.02,
        "ties": np.round(rng.standard_normal((4, cols)) * 4) / 4,
        "zeros": np.zeros((2, cols)),
        "all-equal": np.full((2, cols), 0.37),
        "negative-only": -np.abs(rng.standard_normal((4, cols))),
        "tiny": rng.standard_normal((4, cols)) * 1e-6,
        "wide": rng.standard_normal((4, cols)) * 300.0,
    }
    mixed = rng.standard_normal((4, cols))
    mixed[0, :32] = 0.0
    mixed[1, 32:64] = 5.0
    mixed[2, :] *= np.where(np.arange(cols) % 64 < 32, 1e-3, 1.0)
    out["mixed-blocks"] = mixed
    return {k: v.astype(np.float32) for k, v in out.items()}


def differs(name, label, x, ours, theirs, who):
    """Prints where `ours` and `theirs` differ in a bit, if they do; 1 if they do, else 0."""
    bad = np.flatnonzero(ours.view(np.uint32) != theirs.view(np.uint32))
    if bad.size == 0:
        return 0
    i = bad[0]
    print(f"FAIL {name} on {label}: {bad.size} of {x.size} differ; first at {i}: "
          f"x={x.flat[i]!r} ours={ours.flat[i]!r} {who}={theirs.flat[i]!r}")
    return 1


def load_references():
    refs = {}
    for path in sorted(glob.glob(os.path.join(os.path.dirname(__file__), "refs_*.py"))):
        spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        refs.update(module.REFERENCES)
    return refs


def ours(name, extra, x, tmp):
    np.save(f"{tmp}/w.npy", x)
    with open(f"{tmp}/c.toml", "w") as f:
        f.write(f'[quant]\nformat = "{name}"\n{extra}\n')
    subprocess.check_output([BIN, "--config", f"{tmp}/c.toml", "--weights", f"{tmp}/w.npy",
                             "quantize", "--out", f"{tmp}/codes.npy", "--dequantized", f"{tmp}/xhat.npy"])
    return np.load(f"{tmp}/xhat.npy")


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    refs = load_references()
    assert refs, "no scripts/refs_*.py found"
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (extra, reference) in sorted(refs.items()):
            before = failures
            for label, x in tensors(seed).items():
                got = ours(name.split()[0], extra, x, tmp)  # "fp8-e4m3 per-channel": a variant
                want = np.asarray(reference(x), dtype=np.float32).reshape(x.shape)
                failures += differs(name, label, x, got, want, "reference")
            if failures == before:
                print(f"ok   {name}: x_hat equals the reference on {len(tensors(seed))} tensors (seed {seed})")
    if failures:
        sys.exit(f"{failures} format cross-checks failed")


if __name__ == "__main__":
    main()
