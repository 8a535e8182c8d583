//! Aligned columns of the text report's tables.

use std::fmt::{Display, Write as _};

/// How a column pads its cells: to the left or right edge of `width`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pad {
    Left(usize),
    Right(usize),
}

/// A text table's columns and what separates them.
pub(super) struct Table {
    pub gap: &'static str,
    pub columns: &'static [Pad],
}

impl Table {
    /// `lead`, then each cell padded by its column (the first cells when
    /// there are fewer cells than columns).
    pub(super) fn row(&self, lead: &str, cells: &[&dyn Display]) -> String {
        let mut line = lead.to_string();
        for (i, (cell, pad)) in cells.iter().zip(self.columns).enumerate() {
            if i > 0 {
                line.push_str(self.gap);
            }
            let _ = match *pad {
                Pad::Left(width) => write!(line, "{cell:<width$}"),
                Pad::Right(width) => write!(line, "{cell:>width$}"),
            };
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_padded_by_their_column_and_joined_by_the_gap() {
        let table = Table { gap: "  ", columns: &[Pad::Left(5), Pad::Right(4), Pad::Left(0)] };
        assert_eq!(table.row("> ", &[&"ab", &7, &"tail"]), "> ab        7  tail");
        assert_eq!(table.row("", &[&"abcdefg", &12345]), "abcdefg  12345");
    }
}
