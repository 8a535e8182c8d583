//! How a long computation learns that its result is no longer wanted (a
//! newer job superseded it), and how it says how far it has come.

/// The computation was stopped before it finished: a newer one replaced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stopped for a newer job")]
pub struct Cancelled;

/// Checked between units of work (a channel calibrated, a curve point);
/// both callbacks are cheap and may run on any compute thread.
#[derive(Clone, Copy)]
pub struct Watch<'a> {
    stop: &'a (dyn Fn() -> bool + Sync),
    progress: &'a (dyn Fn(usize, usize) + Sync),
}

fn never() -> bool {
    false
}

fn ignore(_: usize, _: usize) {}

impl<'a> Watch<'a> {
    /// Runs to the end and tells no one: the headless commands and tests.
    pub const NONE: Watch<'static> = Watch { stop: &never, progress: &ignore };

    pub fn new(stop: &'a (dyn Fn() -> bool + Sync), progress: &'a (dyn Fn(usize, usize) + Sync)) -> Self {
        Watch { stop, progress }
    }

    /// `Err(Cancelled)` once a newer job waits.
    pub fn check(&self) -> Result<(), Cancelled> {
        if (self.stop)() { Err(Cancelled) } else { Ok(()) }
    }

    /// `done` of `total` units are finished.
    pub fn progress(&self, done: usize, total: usize) {
        (self.progress)(done, total)
    }
}

impl std::fmt::Debug for Watch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watch")
    }
}
