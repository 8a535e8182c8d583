use std::process::ExitCode;

use clap::Parser;
use qmc_tui::cli::{self, Cli};
use qmc_tui::ui::theme::{ThemeName, set_theme};

#[global_allocator]
static ALLOCATOR: qmc_tui::worker::memory::HugePageAllocator = qmc_tui::worker::memory::HugePageAllocator;

fn main() -> ExitCode {
    qmc_tui::worker::memory::configure_allocator();
    let cli = Cli::parse();
    if cli.command.is_some() {
        // Headless: a one-paragraph error and a non-zero exit, never a backtrace.
        return match cli::run_command(&cli) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        };
    }
    // color-eyre first, so a panic or error always restores the terminal.
    if let Err(e) = color_eyre::install() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let mut start = match cli::initial_settings(&cli) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let user = match qmc_tui::config::load(qmc_tui::config::default_path().as_deref(), cli.keys.as_deref())
        .map_err(|e| e.to_string())
        .and_then(|user| qmc_tui::keymap::configure(&user.keys).map(|()| user).map_err(|e| e.to_string()))
    {
        Ok(user) => user,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    set_theme(ThemeName::choose(cli.theme, no_color, user.theme));
    // A missing or unreadable file is reported here, before the screen changes.
    let note = match start.weights.check() {
        Ok(note) => note.map(|n| format!("{n}; t picks another")),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // --against is checked here too: both files open and pair up, or one paragraph.
    let against = match cli::against_source(&cli) {
        Ok(against) => against,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = qmc_tui::tui::Options {
        export: cli.export_path(),
        note,
        mouse: !cli.no_mouse,
        checkpoint: cli.checkpoint.clone(),
        against,
    };
    match qmc_tui::tui::run(start, options) {
        Ok(()) => ExitCode::SUCCESS,
        // The loop's errors are one paragraph too; a panic prints its own report.
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
