//! Pairwise diversity of the members (Kuncheva & Whitaker 2003) and the
//! reference lines an ensemble is read against: the best single member and
//! the oracle.
//!
//! Every function takes each member's predicted label per row and the true
//! labels; the report feeds them the out-of-fold (CV) predictions.

/// Rows where member i is right (`a`) and member j is right (`b`), counted
/// as Kuncheva's N11, N10, N01, N00 (1 = right).
struct PairCounts {
    n11: usize,
    n10: usize,
    n01: usize,
    n00: usize,
}

fn pair_counts(a: &[usize], b: &[usize], truth: &[usize]) -> PairCounts {
    let mut c = PairCounts { n11: 0, n10: 0, n01: 0, n00: 0 };
    for ((&x, &y), &t) in a.iter().zip(b).zip(truth) {
        match (x == t, y == t) {
            (true, true) => c.n11 += 1,
            (true, false) => c.n10 += 1,
            (false, true) => c.n01 += 1,
            (false, false) => c.n00 += 1,
        }
    }
    c
}

/// members x members: share of rows that both members get wrong (the
/// diagonal is each member's error rate). 0 with no rows.
pub fn double_fault(labels: &[Vec<usize>], truth: &[usize]) -> Vec<Vec<f64>> {
    pairwise(labels, |i, j| {
        let c = pair_counts(&labels[i], &labels[j], truth);
        let rows = c.n11 + c.n10 + c.n01 + c.n00;
        if rows == 0 { 0.0 } else { c.n00 as f64 / rows as f64 }
    })
}

/// members x members: Yule's Q statistic,
/// `(N11 N00 - N01 N10) / (N11 N00 + N01 N10)`, in [-1, 1]: 1 when the two
/// members are right on the same rows, negative when one tends to be right
/// where the other is wrong. None where the denominator is 0 (for example
/// when one member is right on every row); the diagonal is 1 by definition.
pub fn q_statistic(labels: &[Vec<usize>], truth: &[usize]) -> Vec<Vec<Option<f64>>> {
    pairwise(labels, |i, j| {
        if i == j {
            return Some(1.0);
        }
        let c = pair_counts(&labels[i], &labels[j], truth);
        let (same, cross) = ((c.n11 * c.n00) as f64, (c.n01 * c.n10) as f64);
        (same + cross > 0.0).then(|| (same - cross) / (same + cross))
    })
}

fn pairwise<T>(labels: &[Vec<usize>], cell: impl Fn(usize, usize) -> T) -> Vec<Vec<T>> {
    (0..labels.len()).map(|i| (0..labels.len()).map(|j| cell(i, j)).collect()).collect()
}

/// The oracle's labels: the true label where at least one member is right,
/// else the first member's (wrong) label. No fusion of these members'
/// labels scores better; the report scores it on the CV folds.
pub fn oracle_predictions(labels: &[Vec<usize>], truth: &[usize]) -> Vec<usize> {
    (0..truth.len())
        .map(|r| {
            let right = labels.iter().any(|l| l.get(r) == Some(&truth[r]));
            if right { truth[r] } else { labels.first().and_then(|l| l.get(r).copied()).unwrap_or(usize::MAX) }
        })
        .collect()
}
