"""Checks the Ensemble pane's probability figures against scikit-learn:
`log_loss`, `brier_score_loss` (multi-class, scikit-learn >= 1.7) and the
expected calibration error (10 equal-width bins (k/10, (k+1)/10] on the
top-class confidence, written out in numpy) of the fused out-of-fold
probabilities that `qmc-tui report --format json` prints
(`ensemble.cv_probabilities`), for soft voting, optimized weights, stacking
and the mlp fusion on scikit-learn's wine data (written to a CSV, nothing
downloaded), and that the oracle is at least the best member. The seed
picks the members' seeds. Run from the repository root after
`cargo build --release`:  python3 scripts/crosscheck_probability.py [seed]
"""
import json, os, subprocess, sys, tempfile

import numpy as np
from sklearn.datasets import load_wine
from sklearn.metrics import brier_score_loss, log_loss

BIN = os.environ.get("QMC_TUI", "target/release/qmc-tui")
BIN = os.path.abspath(BIN)
seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0


def ece(p, y, bins=10):
    conf, top = p.max(axis=1), p.argmax(axis=1)
    which = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        rows = which == b
        if rows.any():
            total += rows.mean() * abs((top[rows] == y[rows]).mean() - conf[rows].mean())
    return total


x, y = load_wine(return_X_y=True)
failed = False
with tempfile.TemporaryDirectory() as tmp:
    csv = os.path.join(tmp, "wine.csv")
    with open(csv, "w") as f:
        f.write(",".join([f"f{i}" for i in range(x.shape[1])] + ["cultivar"]) + "\n")
        for row, label in zip(x, y):
            f.write(",".join(repr(float(v)) for v in row) + f",c{label}\n")
    members = (f'[[ensemble.members]]\nkind = "forest"\ntrees = 20\nseed = {seed}\n\n'
               f'[[ensemble.members]]\nkind = "logistic"\nc = 0.1\n\n'
               f'[[ensemble.members]]\nkind = "tree"\nmax_depth = 2\n')
    for fusion, weights in [("soft", "members"), ("soft", "optimized"), ("stacking", "members"), ("mlp", "members")]:
        cfg = os.path.join(tmp, f"{fusion}-{weights}.toml")
        with open(cfg, "w") as f:
            f.write(f'[data]\nsource = "{csv}"\n\n[ensemble]\nfusion = "{fusion}"\nweights = "{weights}"\n\n{members}')
        out = json.loads(subprocess.check_output([BIN, "report", "--only", "ensemble", "--config", cfg, "--format", "json"]))
        e = out["ensemble"]
        p = np.array(e["cv_probabilities"])
        labels = list(range(p.shape[1]))
        want = {"log_loss": log_loss(y, p, labels=labels), "brier": brier_score_loss(y, p, labels=labels), "ece": ece(p, y)}
        bad = [k for k, v in want.items() if abs(e[k] - v) > 1e-9 * max(1.0, abs(v))]
        bad += ["oracle"] if e["oracle_accuracy"] < e["best_member_accuracy"] else []
        failed |= bool(bad)
        print(f"{'BAD' if bad else 'ok '} {fusion:8} weights {weights:9} log loss {e['log_loss']:.6f} (sklearn {want['log_loss']:.6f})"
              f" Brier {e['brier']:.6f} ({want['brier']:.6f}) ECE {e['ece']:.6f} (numpy {want['ece']:.6f})"
              f" cv {e['cv_accuracy_mean']:.4f} best member {e['best_member_accuracy']:.4f} oracle {e['oracle_accuracy']:.4f}"
              f"{' ' + str(bad) if bad else ''}")
sys.exit(1 if failed else 0)
