"""Checks the logistic member against scikit-learn on the digits data set
(shipped with scikit-learn: nothing is downloaded). Writes digits.csv, runs
`qmc-tui report` with one logistic member (C = 1, max_iter = 100, the
defaults), and compares its 5-fold CV accuracy with
`StandardScaler + LogisticRegression()` under shuffled stratified 5-fold CV.
Fails unless our CV is at least 94% and every fit converged. Needs
scikit-learn; run from the repository root after `cargo build --release`:
    python3 scripts/digits_check.py
"""
import json, os, subprocess, sys, tempfile, time

from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

BIN = os.environ.get("QMC_TUI", "target/release/qmc-tui")
MIN_CV = 0.94


def main():
    x, y = load_digits(return_X_y=True)
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "digits.csv")
        with open(csv, "w") as f:
            f.write(",".join([f"p{i}" for i in range(64)] + ["digit"]) + "\n")
            for row, label in zip(x, y):
                f.write(",".join(str(int(v)) for v in row) + f",{label}\n")
        cfg = os.path.join(tmp, "digits.toml")
        with open(cfg, "w") as f:
            f.write('[data]\nsource = "digits.csv"\n\n[[ensemble.members]]\nkind = "logistic"\n')
        start = time.time()
        out = subprocess.run([BIN, "report", "--config", cfg, "--format", "json"], check=True, capture_output=True)
        ours_s = time.time() - start
    e = json.loads(out.stdout)["ensemble"]
    member = e["members"][0]
    print(f"qmc-tui: cv {e['cv_accuracy_mean']:.4f} +- {e['cv_accuracy_std']:.4f}, test {e['test_accuracy']:.4f}, "
          f"c {member['c']}, max_iter {member['max_iter']}, converged {member['converged']} ({ours_s:.1f} s, whole report)")
    for seed in (0, 1, 42):
        start = time.time()
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=100))
        scores = cross_val_score(model, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed))
        print(f"scikit-learn, fold seed {seed}: cv {scores.mean():.4f} +- {scores.std():.4f} ({time.time() - start:.1f} s)")
    ok = e["cv_accuracy_mean"] >= MIN_CV and member["converged"]
    print("ok" if ok else f"FAILED: cv below {MIN_CV} or a fit did not converge")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
