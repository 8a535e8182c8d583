#!/usr/bin/env python3
"""Member accuracy and the seed job's speed against scikit-learn.

Accuracy: on scikit-learn's wine, breast_cancer and digits, 5-fold stratified
CV accuracy of each member kind's scikit-learn twin beside the
cv_accuracy_mean of our member from `qmc-tui report --only ensemble` on the
same table written as a CSV: RandomForestClassifier(100) / `forest`,
ExtraTreesClassifier(100) / `extra-trees`, GaussianNB() / `naive-bayes`,
StandardScaler + KNeighborsClassifier() / `knn`, and
HistGradientBoostingClassifier(early_stopping=False) / `gbm` with
min_samples_leaf = 20 (scikit-learn's default; ours is 1, shared with the
forests). The folds are not the same rows: our report draws its own
stratified folds from `[data] seed`, scikit-learn's StratifiedKFold(shuffle, seed 0).

Speed: the seed's job on digits (forests of 10, 20 and 30 trees, each fitted
on the train split and on 5 folds), whole process: `qmc-tui report --only
ensemble` against a fresh python doing the same with scikit-learn (the
import included), wall and CPU time, median of --runs runs. Our report fits
each member 11 times (train split, 5 folds, 5 stacking folds), scikit-learn 6.

Usage: scripts/sklearn_trees.py [--bin target/release/qmc-tui] [--runs 3]
Not in CI (it takes about a minute).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SKLEARN_JOB = r"""
import sys
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedKFold, train_test_split
rows = [line.strip().split(",") for line in open(sys.argv[1]).readlines()[1:]]
x = np.array([[float(v) for v in r[:-1]] for r in rows])
y = np.array([int(r[-1].lstrip("c")) for r in rows])
xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=42)
for trees, seed in [(10, 0), (20, 1), (30, 2)]:
    RandomForestClassifier(trees, random_state=seed).fit(xtr, ytr).predict_proba(xte)
    for train, test in StratifiedKFold(5, shuffle=True, random_state=42).split(x, y):
        RandomForestClassifier(trees, random_state=seed).fit(x[train], y[train]).predict_proba(x[test])
"""


def write_csv(path, x, y):
    with open(path, "w") as f:
        f.write(",".join(f"f{i}" for i in range(x.shape[1])) + ",label\n")
        for row, label in zip(x, y):
            f.write(",".join(repr(float(v)) for v in row) + f",c{label}\n")


def settings(csv, members):
    """`members`: (kind, {key: value}) pairs, the values written as TOML."""
    text = f'[data]\nsource = "{csv}"\nlabel = "label"\nfolds = 5\n\n[ensemble]\nfusion = "soft"\n'
    for kind, keys in members:
        text += f'\n[[ensemble.members]]\nkind = "{kind}"\n'
        text += "".join(f"{k} = {v}\n" for k, v in keys.items())
    return text


def twins():
    """(our kind, its settings, the scikit-learn model) for every member kind compared."""
    from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return [
        ("forest", {"trees": 100, "seed": 0}, RandomForestClassifier(100, random_state=0, n_jobs=1)),
        ("extra-trees", {"trees": 100, "seed": 0}, ExtraTreesClassifier(100, random_state=0, n_jobs=1)),
        ("naive-bayes", {}, GaussianNB()),
        ("knn", {}, make_pipeline(StandardScaler(), KNeighborsClassifier())),
        ("gbm", {"min_samples_leaf": 20}, HistGradientBoostingClassifier(early_stopping=False, random_state=0)),
    ]


def report(binary, config):
    out = subprocess.run([binary, "report", "--only", "ensemble", "--format", "json", "--config", config],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["ensemble"]


def timed(cmd):
    """Wall seconds and CPU seconds (user + system) of one run of `cmd`."""
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/qmc-tui")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", help="another qmc-tui binary to time beside --bin (an older build)")
    args = ap.parse_args()
    from sklearn import datasets
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    tmp = tempfile.mkdtemp()
    print(f"{'data':14} {'model':12} {'sklearn':>8} {'qmc-tui':>8} {'diff':>6}")
    for name in ["wine", "breast_cancer", "digits"]:
        x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        csv = os.path.join(tmp, f"{name}.csv")
        write_csv(csv, x, y)
        config = os.path.join(tmp, f"{name}.toml")
        models = twins()
        with open(config, "w") as f:
            f.write(settings(csv, [(kind, keys) for kind, keys, _ in models]))
        ours = report(args.bin, config)["members"]
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        for member, (model, _, twin) in enumerate(models):
            theirs = cross_val_score(twin, x, y, cv=folds).mean()
            mine = ours[member]["cv_accuracy_mean"]
            print(f"{name:14} {model:12} {theirs:8.2%} {mine:8.2%} {100 * (mine - theirs):+6.2f}")

    digits = os.path.join(tmp, "digits_job.csv")
    x, y = datasets.load_digits(return_X_y=True)
    write_csv(digits, x, y)
    job = os.path.join(tmp, "job.toml")
    with open(job, "w") as f:
        f.write(settings(digits, [("forest", {"trees": t, "seed": s}) for t, s in [(10, 0), (20, 1), (30, 2)]]))
    script = os.path.join(tmp, "job.py")
    with open(script, "w") as f:
        f.write(SKLEARN_JOB)
    mix = os.path.join(tmp, "mix.toml")
    with open(mix, "w") as f:
        f.write(settings(digits, [("forest", {"trees": 100, "seed": 0}), ("knn", {}), ("logistic", {})]))
    e = report(args.bin, mix)
    best = max(m["cv_accuracy_mean"] for m in e["members"])
    print(f"\ndigits, soft vote of forest(100), knn, logistic: cv {e['cv_accuracy_mean']:.2%}, best member {best:.2%}"
          f" ({'no worse' if e['cv_accuracy_mean'] >= best else 'WORSE'})")

    ours, theirs, before = [], [], []
    for _ in range(args.runs):
        ours.append(timed([args.bin, "report", "--only", "ensemble", "--format", "json", "--config", job]))
        theirs.append(timed([sys.executable, script, digits]))
        if args.before:
            before.append(timed([args.before, "report", "--only", "ensemble", "--format", "json", "--config", job]))
    print(f"\ndigits seed job, whole process, median of {args.runs} runs:")
    for i, what in enumerate(["wall", "cpu"]):
        o, t = (statistics.median(r[i] for r in runs) for runs in (ours, theirs))
        print(f"  {what}: qmc-tui {o:.2f} s ({', '.join(f'{r[i]:.2f}' for r in ours)}), scikit-learn "
              f"{t:.2f} s ({', '.join(f'{r[i]:.2f}' for r in theirs)}): {t / o:.1f}x")
        if before:
            b = statistics.median(r[i] for r in before)
            print(f"        before ({args.before}) {b:.2f} s ({', '.join(f'{r[i]:.2f}' for r in before)}): "
                  f"{b / o:.2f}x")


if __name__ == "__main__":
    main()
