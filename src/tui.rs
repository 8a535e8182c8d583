//! The terminal front end: one channel of events (keys, resizes, worker
//! results), an input thread, a compute worker, and a redraw only when
//! something happened, so an idle dashboard uses no CPU.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use color_eyre::Result;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::app::{AgainstSource, App, AppEvent};
use crate::settings::Settings;
use crate::worker::{CheckpointWorker, EnsembleWorker, Job, Worker};
use crate::{io, ui};

/// How often the spinner turns while the worker is busy.
const TICK: Duration = Duration::from_millis(100);

/// How the dashboard starts.
pub struct Options {
    pub export: PathBuf,
    /// A first message for the status line.
    pub note: Option<String>,
    /// Capture the mouse (off: the terminal's own text selection works).
    pub mouse: bool,
    /// The checkpoint the Checkpoint pane opens (`--checkpoint`).
    pub checkpoint: Option<PathBuf>,
    /// The quantized copy it is compared with (`--against`), checked already.
    pub against: Option<AgainstSource>,
}

pub fn run(start: Settings, options: Options) -> Result<()> {
    // Without a terminal (a pipe, a cron job) say so instead of panicking or
    // drawing into a pipe.
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return Err(color_eyre::eyre::eyre!(
            "qmc-tui needs a terminal to draw in (its output is not one); for scripts use `qmc-tui report` or `qmc-tui quantize`"
        ));
    }
    let mut terminal = ratatui::try_init().map_err(|e| {
        color_eyre::eyre::eyre!(
            "qmc-tui needs a terminal to draw in ({e}); for scripts use `qmc-tui report` or `qmc-tui quantize`"
        )
    })?;
    if options.mouse {
        capture_mouse()?;
    }
    let result = run_loop(&mut terminal, start, options);
    // Mouse reporting is not part of ratatui's restore: turn it off first.
    let _ = execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    result
}

/// Turns mouse reporting on, and off again should the program panic (after
/// ratatui's own hook has restored the rest).
fn capture_mouse() -> Result<()> {
    execute!(std::io::stdout(), EnableMouseCapture)?;
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
        previous(info);
    }));
    Ok(())
}

fn run_loop(terminal: &mut DefaultTerminal, start: Settings, options: Options) -> Result<()> {
    let Options { export, note, checkpoint, against, .. } = options;
    let (events, inbox) = mpsc::channel();
    let input = events.clone();
    thread::spawn(move || {
        // Blocks in read(); ends when the loop below has gone away.
        while let Ok(ev) = event::read() {
            if input.send(AppEvent::Input(ev)).is_err() {
                break;
            }
        }
    });
    // A signal ends the loop like q does, so the terminal is restored.
    let mut signals = Signals::new([SIGTERM, SIGHUP, SIGINT])?;
    let terminate = events.clone();
    thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = terminate.send(AppEvent::Terminate);
        }
    });
    let (quant_jobs, quant_inbox) = mpsc::channel();
    let (train_jobs, train_inbox) = mpsc::channel();
    let training_events = events.clone();
    let scan_events = events.clone();
    // The newest analysis sent: the quantize worker stops an older one at its next check.
    let newest_analysis = Arc::new(AtomicU64::new(0));
    // Every job sent to it: the Formats table it measures between jobs gives way to one.
    let quant_sent = Arc::new(AtomicU64::new(0));
    let quant_worker = Worker::new(newest_analysis.clone()).counting_sent(quant_sent.clone());
    // An export the worker prepared is written by `io` as its result leaves
    // the worker's thread: the worker's code writes nothing, and a slow disk
    // never holds up the event loop.
    thread::spawn(move || quant_worker.run(quant_inbox, events, |out| AppEvent::Worker(io::finish_export(out))));
    thread::spawn(move || EnsembleWorker::default().run(train_inbox, training_events, AppEvent::Worker));
    // Scans run on their own thread: a checkpoint never holds up the other panes.
    let (scan_jobs, scan_inbox) = mpsc::channel();
    let newest_scan = Arc::new(AtomicU64::new(0));
    let scan_worker = CheckpointWorker::new(newest_scan.clone());
    thread::spawn(move || scan_worker.run(scan_inbox, scan_events, AppEvent::Worker));
    // A closed channel means a worker died; the loop ends with an error.
    let send = |job: Job| {
        if let Job::Analyze { id, .. } = &job {
            newest_analysis.store(*id, Ordering::Relaxed);
        }
        let sent = if job.is_scan() {
            newest_scan.store(job.id(), Ordering::Relaxed);
            scan_jobs.send(job).is_ok()
        } else if job.is_training() {
            train_jobs.send(job).is_ok()
        } else {
            quant_sent.fetch_add(1, Ordering::Relaxed);
            quant_jobs.send(job).is_ok()
        };
        if sent { Ok(()) } else { Err(color_eyre::eyre::eyre!("a compute worker stopped")) }
    };

    let mut app = App::new(start, export);
    app.checkpoint.path = checkpoint;
    if let Some(source) = against {
        app.checkpoint.compare_with(source);
    }
    if let Some(note) = note {
        app.info(note);
    }
    for job in app.start() {
        send(job)?;
    }
    // For the end-to-end test that a panic restores the terminal.
    let crash_test = std::env::var_os("QMC_TUI_PANIC_AFTER_FIRST_FRAME").is_some();
    loop {
        let mut hits = None;
        terminal.draw(|frame| hits = Some(ui::draw(frame, &app)))?;
        app.hits = hits.unwrap_or_default();
        if crash_test {
            panic!("QMC_TUI_PANIC_AFTER_FIRST_FRAME asked for a panic");
        }
        let first = if app.busy() {
            match inbox.recv_timeout(TICK) {
                Ok(ev) => ev,
                Err(RecvTimeoutError::Timeout) => AppEvent::Tick,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match inbox.recv() {
                Ok(ev) => ev,
                Err(_) => break,
            }
        };
        // Handle everything that is already waiting before drawing once.
        for ev in std::iter::once(first).chain(inbox.try_iter()) {
            for job in app.update(ev) {
                send(job)?;
            }
            if app.should_quit {
                return Ok(());
            }
        }
    }
    Ok(())
}
