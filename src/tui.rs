//! The terminal front end: one channel of events (keys, resizes, worker
//! results), an input thread, a compute worker, and a redraw only when
//! something happened, so an idle dashboard uses no CPU.

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use color_eyre::Result;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::app::{App, AppEvent};
use crate::settings::Settings;
use crate::ui;
use crate::worker::{EnsembleWorker, Job, Worker};

/// How often the spinner turns while the worker is busy.
const TICK: Duration = Duration::from_millis(100);

/// `note`: a first message for the status line.
pub fn run(start: Settings, export: PathBuf, note: Option<String>) -> Result<()> {
    let mut terminal = ratatui::init();
    let result = run_loop(&mut terminal, start, export, note);
    ratatui::restore();
    result
}

fn run_loop(terminal: &mut DefaultTerminal, start: Settings, export: PathBuf, note: Option<String>) -> Result<()> {
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
    thread::spawn(move || Worker::default().run(quant_inbox, events, AppEvent::Worker));
    thread::spawn(move || EnsembleWorker::default().run(train_inbox, training_events, AppEvent::Worker));
    // A closed channel means a worker died; the loop ends with an error.
    let send = |job: Job| {
        let sent = if job.is_training() { train_jobs.send(job).is_ok() } else { quant_jobs.send(job).is_ok() };
        if sent { Ok(()) } else { Err(color_eyre::eyre::eyre!("a compute worker stopped")) }
    };

    let mut app = App::new(start, export);
    if let Some(note) = note {
        app.info(note);
    }
    for job in app.start() {
        send(job)?;
    }
    loop {
        terminal.draw(|frame| ui::draw(frame, &app))?;
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
