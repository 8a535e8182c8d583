//! What the benches of the Quantize and Formats panes share: the binary's
//! allocator, and one key press through the app and the quant worker to
//! the frame drawn.

use qmc_tui::app::{App, AppEvent};
use qmc_tui::compute::watch::Watch;
use qmc_tui::ui;
use qmc_tui::worker::Worker;
use qmc_tui::worker::memory::HugePageAllocator;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

/// The binary's allocator (main.rs): large blocks on huge pages. The
/// benches that need main's fixed mmap threshold too call
/// `configure_allocator` first.
#[global_allocator]
static ALLOCATOR: HugePageAllocator = HugePageAllocator;

/// Presses `code`, runs the analysis jobs it starts (training is another
/// worker's), applies their results and draws the next frame.
pub fn key_to_frame(app: &mut App, worker: &mut Worker, terminal: &mut Terminal<TestBackend>, code: KeyCode) {
    let jobs = app.update(AppEvent::Input(Event::Key(KeyEvent::new(code, KeyModifiers::NONE))));
    for job in jobs.into_iter().filter(|j| !j.is_training()) {
        let out = worker.handle(job, &Watch::NONE).unwrap();
        app.update(AppEvent::Worker(out));
    }
    terminal
        .draw(|f| {
            ui::draw(f, app);
        })
        .unwrap();
}
