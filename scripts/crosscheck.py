"""Checks qmc-tui's numbers against independent references: numpy's
percentile, PyTorch's MinMaxObserver formulas (written out in numpy), and
NVIDIA pytorch-quantization's entropy calibration (its _compute_amax_entropy,
copied below), and every error metric, the level count and both
histograms of a min-max and a clipping percentile quantization, from codes
numpy computes, and every point of the MSE-vs-clip curve. Needs
numpy and scipy; run from the repository root after
`cargo build --release`:  python3 scripts/crosscheck.py [seed]
"""
import json, os, subprocess, sys, tempfile
from collections import Counter

import numpy as np
from scipy.stats import entropy

BIN = os.environ.get("QMC_TUI", "target/release/qmc-tui")

def compute_amax_entropy(calib_hist, calib_bin_edges, num_bits, unsigned=False, stride=1, start_bin=128):
    # pytorch-quantization's _compute_amax_entropy, without the bins[0] = bins[1] tweak
    bins = calib_hist[:]
    total_data = np.sum(bins)
    divergences, arguments = [], []
    nbins = 1 << (num_bits - 1 + int(unsigned))
    starting = start_bin
    stop = len(bins)
    new_density_counts = np.zeros(nbins, dtype=np.float64)
    for i in range(starting, stop + 1, stride):
        new_density_counts.fill(0)
        space = np.linspace(0, i, num=nbins + 1)
        digitized_space = np.digitize(range(i), space) - 1
        digitized_space[bins[:i] == 0] = -1
        for idx, digitized in enumerate(digitized_space):
            if digitized != -1:
                new_density_counts[digitized] += bins[idx]
        counter = Counter(digitized_space)
        for key, val in counter.items():
            if key != -1:
                new_density_counts[key] = new_density_counts[key] / val
        new_density = np.zeros(i, dtype=np.float64)
        for idx, digitized in enumerate(digitized_space):
            if digitized != -1:
                new_density[idx] = new_density_counts[digitized]
        reference_density = np.array(bins[:len(digitized_space)], dtype=np.float64)
        reference_density[-1] += np.sum(bins[i:])
        ent = entropy(reference_density, new_density)
        divergences.append(ent)
        arguments.append(i)
    divergences = np.array(divergences)
    last_argmin = len(divergences) - 1 - np.argmin(divergences[::-1])
    return calib_bin_edges[last_argmin * stride + starting]

rng = np.random.default_rng(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
os.chdir(tempfile.mkdtemp())
BIN = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", BIN)) if not os.path.isabs(BIN) else BIN
failed = False
for name, x in [("normal", rng.standard_normal((200, 500))), ("t3", rng.standard_t(3, (200, 500))), ("laplace", rng.laplace(0, 1, (100, 1000)))]:
    x = x.astype(np.float32)
    np.save(f"{name}.npy", x)
    amax = np.abs(x).max()
    # our bins: bin = min(floor(|x| * (2048 / amax)), 2047), in f32
    factor = np.float32(1.0) / (amax / np.float32(2048))
    idx = np.minimum((np.abs(x) * factor).astype(np.int64), 2047)
    hist = np.bincount(idx.ravel(), minlength=2048).astype(np.float64)
    edges = np.arange(2049) * (amax / np.float32(2048))
    ref = compute_amax_entropy(hist, edges, 8)
    # numpy percentile (linear) and PyTorch MinMaxObserver asymmetric
    p = np.percentile(np.abs(x), 99.9)
    lo, hi = min(x.min(), 0), max(x.max(), 0)
    scale = np.float32(max((np.float32(hi) - np.float32(lo)) / np.float32(255), np.finfo(np.float32).eps))
    zp = int(np.clip(-128 - np.round(np.float32(lo) / scale), -128, 127))
    q = np.clip(np.round(x / scale) + zp, -128, 127)
    mse = float(np.mean(((q - zp) * scale - x).astype(np.float64) ** 2))
    open(f"{name}.toml", "w").write('[quant]\nscheme = "symmetric"\ncalibration = "entropy"\n')
    out = json.loads(subprocess.check_output([BIN, "report", "--only", "quant", "--weights", f"{name}.npy", "--config", f"{name}.toml", "--format", "json"]))
    ours = out["quant"]["range"][0][1]
    pct = json.loads(subprocess.check_output([BIN, "report", "--only", "quant", "--weights", f"{name}.npy", "--format", "json"]))
    open(f"{name}-p.toml", "w").write('[quant]\nscheme = "symmetric"\ncalibration = "percentile"\npercentile = 99.9\n')
    outp = json.loads(subprocess.check_output([BIN, "report", "--only", "quant", "--weights", f"{name}.npy", "--config", f"{name}-p.toml", "--format", "json"]))
    ok = abs(ours - ref) <= 1e-5 * ref and abs(outp['quant']['range'][0][1] - p) <= 1e-5 * p \
        and np.float32(pct['quant']['scale'][0]) == scale and pct['quant']['zero_point'][0] == zp \
        and abs(pct['quant']['metrics']['mse'] - mse) <= 1e-6 * mse
    # The metrics and level count of the min-max quantization, and of a
    # percentile range that clips, from the codes numpy computes.
    outc = json.loads(subprocess.check_output([BIN, "report", "--only", "quant", "--weights", f"{name}.npy", "--config", f"{name}-c.toml", "--format", "json"])) \
        if open(f"{name}-c.toml", "w").write('[quant]\ncalibration = "percentile"\npercentile = 99.0\nbits = 6\n') else None
    clo, chi = min(np.percentile(x, 1.0), 0), max(np.percentile(x, 99.0), 0)
    cscale = np.float32(max((np.float32(chi) - np.float32(clo)) / np.float32(63), np.finfo(np.float32).eps))
    czp = int(np.clip(-32 - np.round(np.float32(clo) / cscale), -32, 31))
    for what, (report, s, z, qmin, qmax) in {"minmax": (pct, scale, zp, -128, 127), "pct99 6-bit": (outc, cscale, czp, -32, 31)}.items():
        t = np.round(x / s) + z
        codes = np.clip(t, qmin, qmax)
        xh = ((codes - z) * s).astype(np.float32).astype(np.float64)
        x64 = x.astype(np.float64)
        e = x64 - xh
        want = {"levels_used": len(np.unique(codes)), "clip_rate": float(((t < qmin) | (t > qmax)).mean()),
                "zero_rate": float((xh == 0).mean()), "max_abs_error": np.abs(e).max(), "mae": np.abs(e).mean(),
                "mse": np.mean(e ** 2), "bias": e.mean(), "sqnr_db": 10 * np.log10((x64 ** 2).sum() / (e ** 2).sum()),
                "one_minus_cosine": 1 - (x64 * xh).sum() / np.sqrt((x64 ** 2).sum() * (xh ** 2).sum())}
        got = dict(report["quant"]["metrics"], one_minus_cosine=1 - report["quant"]["metrics"]["cosine"])
        # Both histograms, binned as we bin them (float32 arithmetic, truncation).
        def binned(values, h, n=160):
            lo, hi = np.float32(h["lo"]), np.float32(h["hi"])
            t = ((values.astype(np.float32) - lo) * (np.float32(n) / (hi - lo))).astype(np.float32)
            return np.bincount(np.clip(t, 0, n - 1).astype(np.int64).ravel(), minlength=n)
        pictures = report["quant"]["pictures"]
        clipped = ((t < qmin) | (t > qmax)).ravel()
        e32 = (x - ((codes - z) * s).astype(np.float32)).astype(np.float32).ravel()
        errors = pictures["error_histogram"]
        want["weight_histogram"] = list(binned(x, pictures["weight_histogram"]))
        want["error_rounding"] = list(binned(e32[~clipped], errors["rounding"]))
        want["error_clipped"] = list(binned(e32[clipped], errors["clipped"]))
        got["weight_histogram"] = pictures["weight_histogram"]["counts"]
        got["error_rounding"], got["error_clipped"] = errors["rounding"]["counts"], errors["clipped"]["counts"]
        exact = ("levels_used", "clip_rate", "zero_rate", "weight_histogram", "error_rounding", "error_clipped")
        tolerance = {"bias": 1e-4, "one_minus_cosine": 2e-2}
        bad = [k for k, v in want.items() if (got[k] != v if k in exact else abs(got[k] - v) > tolerance.get(k, 1e-6) * abs(v))]
        ok &= not bad and np.float32(report["quant"]["scale"][0]) == s and report["quant"]["zero_point"][0] == z
        print(f"    {what:12} levels {got['levels_used']} (numpy {want['levels_used']}) clip_rate {got['clip_rate']:.5f} ({want['clip_rate']:.5f})"
              f" sqnr {got['sqnr_db']:.4f} dB ({want['sqnr_db']:.4f}) 1-cos {got['one_minus_cosine']:.3e} ({want['one_minus_cosine']:.3e}){' BAD ' + str(bad) if bad else ''}")
    # The MSE-vs-clip curve: each point is the mse of every value with the
    # min-max range shrunk to the point's fraction (8-bit asymmetric, per tensor).
    worst = 0.0
    for t, got_mse in pct["quant"]["pictures"]["mse_curve"]["points"]:
        tl, th = min(np.float32(x.min()) * np.float32(t), 0), max(np.float32(x.max()) * np.float32(t), 0)
        ts = np.float32(max((np.float32(th) - np.float32(tl)) / np.float32(255), np.finfo(np.float32).eps))
        tz = int(np.clip(-128 - np.round(np.float32(tl) / ts), -128, 127))
        tq = np.clip(np.round(x / ts) + tz, -128, 127)
        want_mse = float(np.mean((x.astype(np.float64) - ((tq - tz) * ts).astype(np.float32)) ** 2))
        worst = max(worst, abs(got_mse - want_mse) / want_mse)
    ok &= worst <= 1e-3
    print(f"    mse curve    40 points, worst relative difference from numpy {worst:.2e}")
    failed |= not ok
    print(f"{'ok ' if ok else 'BAD'} {name:8} entropy ours {ours:.6f} ref {ref:.6f} | pct99.9 ours {outp['quant']['range'][0][1]:.6f} numpy {p:.6f} | minmax scale ours {pct['quant']['scale'][0]:.8f} torch {scale:.8f} zp ours {pct['quant']['zero_point'][0]} torch {zp} mse ours {pct['quant']['metrics']['mse']:.8e} np {mse:.8e}")

sys.exit(1 if failed else 0)
