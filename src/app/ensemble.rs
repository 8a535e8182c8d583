//! What the Ensemble pane shows where it has a choice: the lower right
//! (confusion, reliability diagram, probability quality per member) and
//! which pairwise diversity matrix.

use crate::named_enum;

named_enum! {
    /// The Ensemble pane's lower right view (`v` cycles it).
    pub enum EnsembleLower {
        Confusion => "confusion",
        Reliability => "reliability",
        Quality => "quality",
    }
}

named_enum! {
    /// The Ensemble pane's diversity matrix (`m` cycles it).
    pub enum DiversityMatrix {
        Disagreement => "disagreement",
        DoubleFault => "double fault",
        Q => "Q statistic",
    }
}
