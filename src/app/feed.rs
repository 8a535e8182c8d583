//! Which settings feed which computation.

use crate::settings::Settings;
use crate::worker::JobId;

/// The two computations the panes wait for, and the settings each reads:
/// job routing, rollback and export all ask here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Feed {
    Analysis,
    Training,
}

impl Feed {
    /// Whether `a` and `b` differ in what this computation reads.
    pub(super) fn differs(self, a: &Settings, b: &Settings) -> bool {
        match self {
            Feed::Analysis => (&a.weights, &a.quant) != (&b.weights, &b.quant),
            // The Deploy pane quantizes the ensemble: the quantizer feeds it too.
            Feed::Training => {
                (&a.data, &a.ensemble, &a.deploy, &a.quant) != (&b.data, &b.ensemble, &b.deploy, &b.quant)
            }
        }
    }

    /// Copies the sections this computation owns from `from` into `into`
    /// (the quantizer is the analysis's): to adopt a result's settings, or
    /// to roll back to the last good ones.
    pub(super) fn copy_owned(self, into: &mut Settings, from: &Settings) {
        match self {
            Feed::Analysis => {
                into.weights = from.weights.clone();
                into.quant = from.quant.clone();
            }
            Feed::Training => {
                into.data = from.data.clone();
                into.ensemble = from.ensemble.clone();
                into.deploy = from.deploy.clone();
            }
        }
    }
}

/// Where a job's result goes, and whether one is outstanding.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Pending {
    pub(super) latest: JobId,
    pub(super) busy: bool,
}
