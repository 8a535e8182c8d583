//! The Formats pane's state: the table the quant worker streams for the
//! tensor shown, and the column it is sorted by.

use std::sync::Arc;

use super::App;
use crate::compute::formats::table::{Column, FormatRow, sorted};
use crate::settings::{Settings, WeightsConfig};

/// The rows measured so far on one tensor.
#[derive(Debug, Clone)]
pub struct FormatsTable {
    /// The weights they were measured on.
    pub weights: WeightsConfig,
    pub rows: Arc<Vec<FormatRow>>,
    /// Rows there will be once all are measured.
    pub total: usize,
}

impl FormatsTable {
    pub fn done(&self) -> bool {
        self.rows.len() == self.total
    }

    /// The rows in the order shown for `column`.
    pub fn order(&self, column: Column) -> Vec<usize> {
        sorted(&self.rows, column)
    }

    /// The row whose settings are exactly the current quantizer's.
    pub fn current(&self, s: &Settings) -> Option<usize> {
        self.rows.iter().position(|r| r.settings == s.quant)
    }
}

impl App {
    /// The table of the tensor the Quantize pane shows, if measured (in part).
    pub fn formats_table(&self) -> Option<&FormatsTable> {
        let view = self.view.as_ref()?;
        self.formats.as_ref().filter(|t| t.weights == view.settings.weights)
    }

    pub(super) fn on_format_rows(&mut self, rows: Arc<Vec<FormatRow>>, total: usize) {
        let Some(view) = &self.view else { return };
        self.formats = Some(FormatsTable { weights: view.settings.weights.clone(), rows, total });
    }

    /// Sorts the table by the next column.
    pub(super) fn next_sort_column(&mut self) {
        let i = Column::ALL.iter().position(|c| *c == self.formats_sort).unwrap_or(0);
        self.formats_sort = Column::ALL[(i + 1) % Column::ALL.len()];
        self.info(format!("formats sorted by {}", self.formats_sort.title()));
    }
}
