//! Our CART learner: scikit-learn's classification tree as its forests grow
//! it. Candidate features are drawn at every split (constant ones do not
//! count, as in scikit-learn), gini or entropy, the best threshold at the
//! midpoint of consecutive distinct values (`BestSplitter`) or one uniformly
//! random threshold per feature (`RandomSplitter`, extra-trees), and leaves
//! that keep their rows' class shares, weighted by bootstrap counts.
//!
//! Speed: a fit ranks the training rows once (each feature's distinct sorted
//! values) for all its trees. A node scans a feature through a class
//! histogram over its ranks when they span few values, else by sorting
//! packed (rank, row) keys; both see the same candidate splits and, with the
//! integer weights a bootstrap gives, the same sums. Every buffer lives in a
//! [`Scratch`] reused by every node and tree; nothing hashes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::TrainingSet;
use super::trees::{FlatNode, FlatTree};
use crate::compute::ensemble::{Criterion, argmax};
use crate::compute::parallel::{run_tasks, threads_for};

/// How a node picks its threshold on a candidate feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Splitter {
    /// The best midpoint between consecutive distinct values (random forests).
    Best,
    /// One uniformly random threshold in the node's [min, max) (extra-trees).
    Random,
}

/// What one tree is grown with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CartParams {
    pub criterion: Criterion,
    pub splitter: Splitter,
    /// Candidate features per split, 1..=features.
    pub max_features: usize,
    /// Deepest a leaf may be; 0 = unlimited.
    pub max_depth: usize,
    /// Fewest rows (bootstrap repeats counted once, as scikit-learn counts them) in a leaf.
    pub min_samples_leaf: usize,
    /// Each tree trains on a bootstrap sample (n draws with replacement) rather than every row.
    pub bootstrap: bool,
}

/// `trees` trees on `data`, tree `t` from its own stream `t` of a ChaCha8
/// generator seeded with `seed`, grown on `threads` threads and returned in
/// tree order: the same bits on any thread count.
pub(crate) fn grow_forest(
    data: &TrainingSet<'_>,
    p: &CartParams,
    trees: usize,
    seed: u64,
    threads: usize,
) -> Vec<FlatTree> {
    let ranked = Ranked::new(data);
    let tasks: Vec<u64> = (0..trees as u64).collect();
    let (grown, _) = run_tasks(&tasks, threads, Scratch::default, |scratch, &t| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(t);
        let weights = if p.bootstrap { bootstrap_counts(ranked.rows, &mut rng) } else { vec![1.0; ranked.rows] };
        grow(&ranked, p, &weights, &mut rng, scratch)
    });
    grown
}

/// Threads worth starting for a forest: trees are independent, and a
/// small one is quicker on this thread alone.
pub(crate) fn forest_threads(trees: usize, data: &TrainingSet<'_>) -> usize {
    if trees < 2 { 1 } else { threads_for(trees * data.x.len()) }
}

/// How often each of `rows` rows is drawn in `rows` draws with replacement.
fn bootstrap_counts(rows: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut counts = vec![0.0; rows];
    for _ in 0..rows {
        counts[rng.gen_range(0..rows)] += 1.0;
    }
    counts
}

/// The training rows, ranked once per fit and shared by its trees.
pub(crate) struct Ranked<'a> {
    rows: usize,
    classes: usize,
    y: &'a [usize],
    /// `ranks[f * rows + r]`: where row `r`'s value stands among feature `f`'s distinct values.
    ranks: Vec<u32>,
    /// Each feature's distinct values, ascending.
    values: Vec<Vec<f64>>,
}

impl<'a> Ranked<'a> {
    pub(crate) fn new(data: &TrainingSet<'a>) -> Ranked<'a> {
        let (rows, features) = data.x.dim();
        let mut ranks = vec![0u32; rows * features];
        let mut values = Vec::with_capacity(features);
        let mut order: Vec<usize> = (0..rows).collect();
        for f in 0..features {
            let column = data.x.column(f);
            order.sort_unstable_by(|&a, &b| column[a].total_cmp(&column[b]));
            let mut distinct: Vec<f64> = Vec::new();
            for &r in &order {
                if distinct.last() != Some(&column[r]) {
                    distinct.push(column[r]);
                }
                ranks[f * rows + r] = (distinct.len() - 1) as u32;
            }
            values.push(distinct);
        }
        Ranked { rows, classes: data.classes, y: data.y, ranks, values }
    }

    fn rank(&self, feature: usize, row: u32) -> u32 {
        self.ranks[feature * self.rows + row as usize]
    }
}

/// Buffers reused by every node and tree a thread grows.
#[derive(Default)]
pub(crate) struct Scratch {
    /// The tree's rows, each node's a contiguous range, partitioned at every split.
    rows: Vec<u32>,
    keys: Vec<u64>,
    /// Weight per (rank - lowest rank, class) of the node's rows on one feature.
    hist: Vec<f64>,
    /// Rows per rank on that feature.
    hist_rows: Vec<u32>,
    total: Vec<f64>,
    left: Vec<f64>,
    features: Vec<usize>,
    pending: Vec<Pending>,
}

/// A node waiting to be grown: its rows `start..end` of [`Scratch::rows`],
/// its depth and the link of its parent that points to it.
#[derive(Clone, Copy)]
struct Pending {
    start: usize,
    end: usize,
    depth: usize,
    parent: Option<(usize, Side)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

/// A split: rows whose rank on `feature` is below `cut` go left, as do
/// values below `threshold` at prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Split {
    feature: usize,
    cut: u32,
    threshold: f64,
}

/// One tree on the rows with weight > 0, depth first, left before right.
fn grow(data: &Ranked, p: &CartParams, weights: &[f64], rng: &mut ChaCha8Rng, s: &mut Scratch) -> FlatTree {
    let classes = data.classes;
    s.rows.clear();
    s.rows.extend((0..data.rows as u32).filter(|&r| weights[r as usize] > 0.0));
    s.total.resize(classes, 0.0);
    s.left.resize(classes, 0.0);
    let mut tree = FlatTree { nodes: Vec::new(), shares: Vec::new() };
    s.pending.clear();
    s.pending.push(Pending { start: 0, end: s.rows.len(), depth: 0, parent: None });
    while let Some(node) = s.pending.pop() {
        let at = tree.nodes.len();
        if let Some((parent, side)) = node.parent {
            tree.link(parent, side == Side::Left, at);
        }
        let wsum = class_totals(data, weights, &s.rows[node.start..node.end], &mut s.total);
        let n = node.end - node.start;
        let pure = s.total.iter().filter(|&&w| w > 0.0).count() <= 1;
        let stop = pure || n < 2 || n < 2 * p.min_samples_leaf || (p.max_depth > 0 && node.depth >= p.max_depth);
        let split = if stop { None } else { find_split(data, p, weights, node.start..node.end, wsum, rng, s) };
        tree.shares.extend(std::iter::repeat_n(0.0, classes));
        let Some(split) = split else {
            tree.shares[at * classes..].iter_mut().zip(&s.total).for_each(|(share, &w)| *share = w / wsum);
            tree.nodes.push(FlatNode::Leaf { class: argmax(s.total.clone()) });
            continue;
        };
        tree.nodes.push(FlatNode::Split { column: split.feature, threshold: split.threshold, left: 0, right: 0 });
        let mid = partition(data, &mut s.rows[node.start..node.end], &split) + node.start;
        let depth = node.depth + 1;
        s.pending.push(Pending { start: mid, end: node.end, depth, parent: Some((at, Side::Right)) });
        s.pending.push(Pending { start: node.start, end: mid, depth, parent: Some((at, Side::Left)) });
    }
    tree
}

/// Fills `total` with the rows' weight per class; returns their weight.
fn class_totals(data: &Ranked, weights: &[f64], rows: &[u32], total: &mut [f64]) -> f64 {
    total.fill(0.0);
    for &r in rows {
        total[data.y[r as usize]] += weights[r as usize];
    }
    total.iter().sum()
}

/// The best split of the node's rows over candidate features drawn in a
/// random order until `max_features` non-constant ones were seen; `None`
/// when no candidate leaves `min_samples_leaf` rows on both sides.
fn find_split(
    data: &Ranked,
    p: &CartParams,
    weights: &[f64],
    range: std::ops::Range<usize>,
    wsum: f64,
    rng: &mut ChaCha8Rng,
    s: &mut Scratch,
) -> Option<Split> {
    let features = data.values.len();
    // Out of `s` while its other buffers are borrowed; put back below.
    let all_rows = std::mem::take(&mut s.rows);
    let rows = &all_rows[range];
    s.features.clear();
    s.features.extend(0..features);
    let (mut best, mut best_proxy, mut visited) = (None, f64::NEG_INFINITY, 0);
    for i in 0..features {
        if visited >= p.max_features {
            break;
        }
        let j = rng.gen_range(i..features);
        s.features.swap(i, j);
        let f = s.features[i];
        let (lo, hi) = rows.iter().fold((u32::MAX, 0), |(lo, hi), &r| {
            let rank = data.rank(f, r);
            (lo.min(rank), hi.max(rank))
        });
        if lo == hi {
            continue;
        }
        visited += 1;
        let node = Node { data, p, weights, feature: f, wsum, lo, hi };
        let found = match p.splitter {
            Splitter::Best => node.best(rows, s),
            Splitter::Random => node.random(rows, rng, &s.total, &mut s.left),
        };
        if let Some((proxy, split)) = found
            && proxy > best_proxy
        {
            (best, best_proxy) = (Some(split), proxy);
        }
    }
    s.rows = all_rows;
    best
}

/// One candidate feature of one node: its rows' ranks span `lo..=hi`.
struct Node<'a> {
    data: &'a Ranked<'a>,
    p: &'a CartParams,
    weights: &'a [f64],
    feature: usize,
    wsum: f64,
    lo: u32,
    hi: u32,
}

impl Node<'_> {
    /// The best midpoint split on this feature and its proxy (higher is better).
    fn best(&self, rows: &[u32], s: &mut Scratch) -> Option<(f64, Split)> {
        let span = (self.hi - self.lo + 1) as usize;
        let by_histogram = span * self.data.classes <= 8 * rows.len();
        self.best_by(by_histogram, rows, s)
    }

    /// [`Node::best`] through a class histogram over the ranks (few distinct
    /// values) or by sorting the rows' (rank, row) keys.
    fn best_by(&self, by_histogram: bool, rows: &[u32], s: &mut Scratch) -> Option<(f64, Split)> {
        let total = &s.total;
        let mut best: Option<(f64, u32, u32)> = None;
        // The split between ranks `a` and `b` with `left` (n_left rows, weight wl) below it.
        let mut consider = |left: &[f64], n_left: usize, wl: f64, a: u32, b: u32| {
            if n_left < self.p.min_samples_leaf || rows.len() - n_left < self.p.min_samples_leaf {
                return;
            }
            let proxy = proxy(self.p.criterion, left, total, wl, self.wsum - wl);
            if best.is_none_or(|(p, _, _)| proxy > p) {
                best = Some((proxy, a, b));
            }
        };
        let left = &mut s.left;
        left.fill(0.0);
        if by_histogram {
            let (classes, span) = (self.data.classes, (self.hi - self.lo + 1) as usize);
            s.hist.clear();
            s.hist.resize(span * classes, 0.0);
            s.hist_rows.clear();
            s.hist_rows.resize(span, 0);
            for &r in rows {
                let bin = (self.data.rank(self.feature, r) - self.lo) as usize;
                s.hist[bin * classes + self.data.y[r as usize]] += self.weights[r as usize];
                s.hist_rows[bin] += 1;
            }
            let (mut n_left, mut wl, mut previous) = (0, 0.0, None);
            for bin in (0..span).filter(|&bin| s.hist_rows[bin] > 0) {
                if let Some(a) = previous {
                    consider(left, n_left, wl, a, bin as u32 + self.lo);
                }
                for (l, &h) in left.iter_mut().zip(&s.hist[bin * classes..(bin + 1) * classes]) {
                    *l += h;
                    wl += h;
                }
                n_left += s.hist_rows[bin] as usize;
                previous = Some(bin as u32 + self.lo);
            }
        } else {
            s.keys.clear();
            s.keys.extend(rows.iter().map(|&r| ((self.data.rank(self.feature, r) as u64) << 32) | r as u64));
            s.keys.sort_unstable();
            let mut wl = 0.0;
            for (i, &key) in s.keys.iter().enumerate() {
                let (rank, r) = ((key >> 32) as u32, key as u32 as usize);
                if let Some(&before) = i.checked_sub(1).map(|j| &s.keys[j])
                    && (before >> 32) as u32 != rank
                {
                    consider(left, i, wl, (before >> 32) as u32, rank);
                }
                left[self.data.y[r]] += self.weights[r];
                wl += self.weights[r];
            }
        }
        let (proxy, a, b) = best?;
        let values = &self.data.values[self.feature];
        let (below, above) = (values[a as usize], values[b as usize]);
        // scikit-learn's midpoint; where it rounds onto `below`, `above` keeps `below` left of `x < t`.
        let mid = below / 2.0 + above / 2.0;
        let threshold = if mid > below && mid.is_finite() { mid } else { above };
        Some((proxy, Split { feature: self.feature, cut: b, threshold }))
    }

    /// One uniformly random threshold in [min, max) of the node's values, and its proxy.
    fn random(&self, rows: &[u32], rng: &mut ChaCha8Rng, total: &[f64], left: &mut [f64]) -> Option<(f64, Split)> {
        let values = &self.data.values[self.feature];
        let threshold = rng.gen_range(values[self.lo as usize]..values[self.hi as usize]);
        let cut = values.partition_point(|&v| v < threshold) as u32;
        left.fill(0.0);
        let (mut n_left, mut wl) = (0, 0.0);
        for &r in rows {
            if self.data.rank(self.feature, r) < cut {
                left[self.data.y[r as usize]] += self.weights[r as usize];
                wl += self.weights[r as usize];
                n_left += 1;
            }
        }
        if n_left < self.p.min_samples_leaf || rows.len() - n_left < self.p.min_samples_leaf {
            return None;
        }
        let proxy = proxy(self.p.criterion, left, total, wl, self.wsum - wl);
        Some((proxy, Split { feature: self.feature, cut, threshold }))
    }
}

/// scikit-learn's proxy of the impurity decrease, higher is better: minus
/// the children's weighted impurity, up to terms equal for every split.
/// Gini: Σ l²/wl + Σ r²/wr; entropy: Σ l ln(l/wl) + Σ r ln(r/wr).
fn proxy(criterion: Criterion, left: &[f64], total: &[f64], wl: f64, wr: f64) -> f64 {
    let sides = left.iter().zip(total).map(|(&l, &t)| (l, t - l));
    match criterion {
        Criterion::Gini => sides.map(|(l, r)| l * l / wl + r * r / wr).sum(),
        Criterion::Entropy => {
            let term = |w: f64, side: f64| if w > 0.0 { w * (w / side).ln() } else { 0.0 };
            sides.map(|(l, r)| term(l, wl) + term(r, wr)).sum()
        }
    }
}

/// Moves the rows going left (rank below the cut) to the front; returns how many.
fn partition(data: &Ranked, rows: &mut [u32], split: &Split) -> usize {
    let mut mid = 0;
    for i in 0..rows.len() {
        if data.rank(split.feature, rows[i]) < split.cut {
            rows.swap(i, mid);
            mid += 1;
        }
    }
    mid
}

#[cfg(test)]
#[path = "cart_tests.rs"]
mod tests;
