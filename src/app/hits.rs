//! What a frame drew where: the drawing returns it, a click is resolved against it.

use ratatui::layout::{Position, Rect};

/// What a mouse position points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Tab(usize),
    /// A row of the pane's control list (an index into `App::controls`).
    Control(usize),
    /// A row of the Ensemble pane's members table.
    Member(usize),
}

/// What the last frame drew where. `ui::draw` returns it and a click is
/// resolved against it, so the layout is worked out in one place only.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HitMap {
    areas: Vec<(Rect, Target)>,
    /// The rows of the per-channel table on screen: what PgDn and PgUp step by.
    pub channel_rows: usize,
}

impl HitMap {
    pub fn add(&mut self, area: Rect, target: Target) {
        self.areas.push((area, target));
    }

    /// The items of a bordered list or table of `count` items, scrolled so
    /// that `selected` shows (as ratatui scrolls a fresh state); the first
    /// `skip` rows inside the border (a header) are not items.
    pub fn add_rows(&mut self, block: Rect, skip: u16, selected: usize, count: usize, target: fn(usize) -> Target) {
        let top = block.y + 1 + skip;
        let bottom = block.y + block.height.saturating_sub(1);
        let visible = bottom.saturating_sub(top) as usize;
        let first = selected.saturating_sub(visible.saturating_sub(1));
        let width = block.width.saturating_sub(2);
        for (row, item) in (top..bottom).zip(first..count) {
            self.add(Rect::new(block.x + 1, row, width, 1), target(item));
        }
    }

    /// What the cell (column, row) shows, if anything a click can act on.
    pub fn at(&self, column: u16, row: u16) -> Option<Target> {
        self.areas.iter().find(|(area, _)| area.contains(Position::new(column, row))).map(|&(_, t)| t)
    }
}
