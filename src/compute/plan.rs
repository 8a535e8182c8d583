//! Bits under a budget: one format per tensor that minimises the model's
//! total (optionally weighted) squared error Σ weight·count·mse within a
//! size budget.
//!
//! Each tensor's choices are reduced to their lower convex hull of (bits,
//! error); taking the hull's upgrades across all tensors in order of error
//! saved per bit is the Lagrangian sweep, and its steps are the model's
//! error-against-size curve. A last pass spends what budget is left on any
//! single change that still helps, and the plan is compared with every
//! uniform choice that fits, so it is never worse than one of them.

/// One way to store a tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The candidate's name (`q4_0`, `int8-sym-pc`, `keep`, …).
    pub label: String,
    /// The tensor's whole size with it, in bits.
    pub bits: f64,
    /// Its squared error summed over the tensor (count · mse).
    pub error: f64,
}

/// A tensor and the choices it may take; a pinned tensor has one.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorChoices {
    pub name: String,
    /// How much this tensor's error counts (1 unless weighted by role).
    pub weight: f64,
    pub choices: Vec<Choice>,
}

/// The assignment: `picks[t]` indexes `tensors[t].choices`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub picks: Vec<usize>,
    pub bits: f64,
    /// Σ error, unweighted.
    pub error: f64,
    /// Σ weight · error: what the plan minimises.
    pub objective: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("tensor {0:?} has no candidate format that applies to it")]
    NoChoice(String),
    #[error(
        "the budget of {budget:.0} bits is below the smallest plan, {smallest:.0} bits (every tensor at its smallest candidate); raise the budget or add a smaller candidate"
    )]
    BudgetTooSmall { budget: f64, smallest: f64 },
    #[error("the budget must be a positive, finite number of bits, not {0}")]
    BadBudget(f64),
    #[error(
        "tensor {tensor:?} has {choices} candidate formats and no budget chooses between them; give a budget (--budget-bpw X or --budget-mb Y), one --formats entry, or pin it"
    )]
    NoBudget { tensor: String, choices: usize },
    #[error("the assignment gives no format for tensor {0:?}; add a \"name\" = \"format\" line for it")]
    Unassigned(String),
    #[error("format {format} cannot apply to tensor {tensor:?}: {reason}")]
    CannotApply { tensor: String, format: String, reason: String },
}

/// The best plan found within `budget` bits.
pub fn plan(tensors: &[TensorChoices], budget: f64) -> Result<Plan, PlanError> {
    if !(budget.is_finite() && budget > 0.0) {
        return Err(PlanError::BadBudget(budget));
    }
    let hulls = hulls(tensors)?;
    let start: Vec<usize> = hulls.iter().map(|h| h[0]).collect();
    let smallest = total(tensors, &start).bits;
    if smallest > budget {
        return Err(PlanError::BudgetTooSmall { budget, smallest });
    }
    let mut picks = start;
    let mut bits = smallest;
    let mut blocked = vec![false; tensors.len()];
    for u in upgrades(tensors, &hulls) {
        let (from, to) = (&tensors[u.tensor].choices[picks[u.tensor]], &tensors[u.tensor].choices[u.to]);
        if blocked[u.tensor] || picks[u.tensor] != u.from {
            continue;
        }
        let grown = bits - from.bits + to.bits;
        if grown <= budget {
            picks[u.tensor] = u.to;
            bits = grown;
        } else {
            // A tensor's later hull steps build on this one.
            blocked[u.tensor] = true;
        }
    }
    let mut best = fill(tensors, picks, budget);
    for uniform in uniform_plans(tensors) {
        let p = total(tensors, &uniform);
        if p.bits <= budget && p.objective < best.objective {
            best = fill(tensors, uniform, budget);
        }
    }
    Ok(best)
}

/// The model's error against its size along the sweep: one point per hull
/// step taken, from the smallest plan to the most precise.
pub fn curve(tensors: &[TensorChoices]) -> Result<Vec<(f64, f64)>, PlanError> {
    let hulls = hulls(tensors)?;
    let mut picks: Vec<usize> = hulls.iter().map(|h| h[0]).collect();
    let mut p = total(tensors, &picks);
    let mut points = vec![(p.bits, p.error)];
    for u in upgrades(tensors, &hulls) {
        let (from, to) = (&tensors[u.tensor].choices[u.from], &tensors[u.tensor].choices[u.to]);
        picks[u.tensor] = u.to;
        p.bits += to.bits - from.bits;
        p.error += to.error - from.error;
        points.push((p.bits, p.error));
    }
    Ok(points)
}

/// The sizes and errors of an assignment.
pub fn total(tensors: &[TensorChoices], picks: &[usize]) -> Plan {
    let mut p = Plan { picks: picks.to_vec(), bits: 0.0, error: 0.0, objective: 0.0 };
    for (t, &i) in tensors.iter().zip(picks) {
        let c = &t.choices[i];
        p.bits += c.bits;
        p.error += c.error;
        p.objective += t.weight * c.error;
    }
    p
}

/// Every label that all tensors with a choice of their own offer, as an
/// assignment (pinned tensors keep their one choice).
pub fn uniform_plans(tensors: &[TensorChoices]) -> Vec<Vec<usize>> {
    let Some(free) = tensors.iter().find(|t| t.choices.len() > 1) else {
        return Vec::new();
    };
    free.choices
        .iter()
        .filter_map(|c| {
            tensors
                .iter()
                .map(|t| match t.choices.len() {
                    1 => Some(0),
                    _ => t.choices.iter().position(|o| o.label == c.label),
                })
                .collect()
        })
        .collect()
}

/// Each tensor's lower convex hull of (bits, weighted error): choice
/// indices by growing size and falling error, the first the smallest.
fn hulls(tensors: &[TensorChoices]) -> Result<Vec<Vec<usize>>, PlanError> {
    tensors.iter().map(hull).collect()
}

fn hull(t: &TensorChoices) -> Result<Vec<usize>, PlanError> {
    let mut order: Vec<usize> = (0..t.choices.len()).collect();
    if order.is_empty() {
        return Err(PlanError::NoChoice(t.name.clone()));
    }
    let c = &t.choices;
    order.sort_by(|&a, &b| c[a].bits.total_cmp(&c[b].bits).then(c[a].error.total_cmp(&c[b].error)).then(a.cmp(&b)));
    let mut h: Vec<usize> = Vec::new();
    for i in order {
        if h.last().is_some_and(|&l| c[i].error >= c[l].error) {
            continue; // larger and no better
        }
        // Drop the last point while it lies on or above the line from the one before to i.
        while h.len() >= 2 {
            let (a, b) = (&c[h[h.len() - 2]], &c[h[h.len() - 1]]);
            let cross = (b.bits - a.bits) * (c[i].error - a.error) - (b.error - a.error) * (c[i].bits - a.bits);
            if cross <= 0.0 {
                h.pop();
            } else {
                break;
            }
        }
        h.push(i);
    }
    Ok(h)
}

/// One hull step of one tensor.
struct Upgrade {
    tensor: usize,
    from: usize,
    to: usize,
    /// Weighted error saved per extra bit.
    gain: f64,
}

/// All hull steps, the best buys first (ties in tensor order, so the plan is deterministic).
fn upgrades(tensors: &[TensorChoices], hulls: &[Vec<usize>]) -> Vec<Upgrade> {
    let mut ups: Vec<Upgrade> = Vec::new();
    for (ti, (t, h)) in tensors.iter().zip(hulls).enumerate() {
        for w in h.windows(2) {
            let (a, b) = (&t.choices[w[0]], &t.choices[w[1]]);
            let extra = b.bits - a.bits;
            let gain = if extra > 0.0 { t.weight * (a.error - b.error) / extra } else { f64::INFINITY };
            ups.push(Upgrade { tensor: ti, from: w[0], to: w[1], gain });
        }
    }
    // Within a tensor the gains fall along its hull, so a stable sort keeps its steps in order.
    ups.sort_by(|a, b| b.gain.total_cmp(&a.gain));
    ups
}

/// Spends what is left of the budget: the single change of one tensor that
/// lowers the objective most and still fits, until none does.
fn fill(tensors: &[TensorChoices], picks: Vec<usize>, budget: f64) -> Plan {
    let mut p = total(tensors, &picks);
    loop {
        let mut best: Option<(usize, usize, f64)> = None;
        for (ti, t) in tensors.iter().enumerate() {
            let now = &t.choices[p.picks[ti]];
            for (ci, c) in t.choices.iter().enumerate() {
                let saved = t.weight * (now.error - c.error);
                if saved > 0.0 && p.bits - now.bits + c.bits <= budget && best.is_none_or(|(_, _, s)| saved > s) {
                    best = Some((ti, ci, saved));
                }
            }
        }
        let Some((ti, ci, _)) = best else { return p };
        p.picks[ti] = ci;
        p = total(tensors, &p.picks);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn choice(label: &str, bits: f64, error: f64) -> Choice {
        Choice { label: label.into(), bits, error }
    }

    fn tensor(name: &str, choices: Vec<Choice>) -> TensorChoices {
        TensorChoices { name: name.into(), weight: 1.0, choices }
    }

    /// Two tensors, candidates a (4 bits/value) and b (8): the hard tensor
    /// gains far more from b, so a budget for one upgrade gives it to that one.
    fn two() -> Vec<TensorChoices> {
        vec![
            tensor("easy", vec![choice("a", 400.0, 1.0), choice("b", 800.0, 0.5)]),
            tensor("hard", vec![choice("a", 400.0, 100.0), choice("b", 800.0, 1.0)]),
        ]
    }

    #[test]
    fn the_budget_goes_where_it_saves_most() {
        let p = plan(&two(), 1200.0).unwrap();
        assert_eq!((p.picks.clone(), p.bits, p.error), (vec![0, 1], 1200.0, 2.0));
        assert_eq!(plan(&two(), 1600.0).unwrap().picks, vec![1, 1]);
        assert_eq!(plan(&two(), 1199.0).unwrap().picks, vec![0, 0]);
    }

    #[test]
    fn a_budget_below_the_smallest_plan_is_refused_with_both_sizes() {
        let e = plan(&two(), 799.0).unwrap_err();
        assert_eq!(e, PlanError::BudgetTooSmall { budget: 799.0, smallest: 800.0 });
        assert!(e.to_string().contains("799 bits") && e.to_string().contains("800 bits"), "{e}");
        assert!(matches!(plan(&two(), f64::NAN), Err(PlanError::BadBudget(_))));
        let empty = vec![tensor("w", vec![])];
        assert_eq!(plan(&empty, 10.0).unwrap_err(), PlanError::NoChoice("w".into()));
    }

    #[test]
    fn the_hull_drops_choices_that_cost_more_and_give_less() {
        let t = tensor(
            "w",
            vec![
                choice("big", 900.0, 5.0),
                choice("a", 400.0, 10.0),
                choice("mid", 600.0, 9.9),
                choice("b", 800.0, 1.0),
            ],
        );
        // mid lies above the line from a to b; big is larger than b and worse.
        assert_eq!(hull(&t).unwrap(), vec![1, 3]);
    }

    #[test]
    fn weights_move_the_budget_to_the_tensor_that_counts() {
        let mut t = two();
        t[0].weight = 1000.0;
        assert_eq!(plan(&t, 1200.0).unwrap().picks, vec![1, 0]);
    }

    #[test]
    fn the_curve_runs_from_the_smallest_plan_to_the_largest() {
        let c = curve(&two()).unwrap();
        assert_eq!(c, vec![(800.0, 101.0), (1200.0, 2.0), (1600.0, 1.5)]);
    }

    #[test]
    fn a_pinned_tensor_keeps_its_one_choice_in_uniform_plans() {
        let mut t = two();
        t.push(tensor("norm", vec![choice("keep", 32.0, 0.0)]));
        assert_eq!(uniform_plans(&t), vec![vec![0, 0, 0], vec![1, 1, 0]]);
    }

    fn tensors() -> impl Strategy<Value = Vec<TensorChoices>> {
        let labels = ["q4_0", "q5_0", "q6_k", "q8_0"];
        prop::collection::vec((1u32..2000, prop::collection::vec(0.0f64..100.0, 4)), 1..12).prop_map(move |ts| {
            ts.into_iter()
                .enumerate()
                .map(|(i, (count, errs))| {
                    let bpw = [4.5, 5.5, 6.5625, 8.5];
                    let choices = (0..4).map(|k| choice(labels[k], bpw[k] * count as f64, errs[k] * count as f64));
                    tensor(&format!("t{i}"), choices.collect())
                })
                .collect()
        })
    }

    proptest! {
        /// Within budget, and never worse than any uniform choice that fits.
        #[test]
        fn the_plan_fits_and_beats_every_uniform_choice(ts in tensors(), at in 0.0f64..1.0) {
            let (lo, hi) = (total(&ts, &vec![0; ts.len()]).bits, total(&ts, &vec![3; ts.len()]).bits);
            let budget = lo + at * (hi - lo);
            let p = plan(&ts, budget).unwrap();
            prop_assert!(p.bits <= budget);
            for u in uniform_plans(&ts) {
                let u = total(&ts, &u);
                prop_assert!(u.bits > budget || p.objective <= u.objective, "{} > {}", p.objective, u.objective);
            }
        }

        /// Pinned tensors (one choice each) change nothing: the plan still
        /// fits and beats every uniform choice of the others under the pins.
        #[test]
        fn pinned_plans_fit_and_beat_every_uniform_choice(ts in tensors(), pins in prop::collection::vec(0usize..5, 12), at in 0.0f64..1.0) {
            let mut ts = ts;
            for (t, &k) in ts.iter_mut().zip(&pins) {
                if k < 4 {
                    t.choices = vec![t.choices[k].clone()];
                }
            }
            let smallest = vec![0; ts.len()];
            let largest: Vec<usize> = ts.iter().map(|t| t.choices.len() - 1).collect();
            let (lo, hi) = (total(&ts, &smallest).bits, total(&ts, &largest).bits);
            let budget = lo + at * (hi - lo);
            let p = plan(&ts, budget).unwrap();
            prop_assert!(p.bits <= budget);
            for (t, &i) in ts.iter().zip(&p.picks) {
                prop_assert!(i < t.choices.len());
            }
            for u in uniform_plans(&ts) {
                let u = total(&ts, &u);
                prop_assert!(u.bits > budget || p.objective <= u.objective, "{} > {}", p.objective, u.objective);
            }
        }

        /// On small cases the plan is within the best hull step of the exact optimum.
        #[test]
        fn the_plan_is_no_worse_than_the_lagrangian_bound(ts in tensors(), at in 0.0f64..1.0) {
            let (lo, hi) = (total(&ts, &vec![0; ts.len()]).bits, total(&ts, &vec![3; ts.len()]).bits);
            let budget = lo + at * (hi - lo);
            let p = plan(&ts, budget).unwrap();
            // The curve's points are optimal for their own sizes: the plan is
            // at least as good as the last one that fits.
            let best_on_curve = curve(&ts).unwrap().into_iter().filter(|(b, _)| *b <= budget).map(|(_, e)| e).fold(f64::INFINITY, f64::min);
            prop_assert!(p.error <= best_on_curve + 1e-9 * best_on_curve.abs().max(1.0));
        }
    }
}
