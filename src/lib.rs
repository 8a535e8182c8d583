//! qmc-tui: a terminal dashboard for model quantization and model ensembling.
//!
//! `compute` is the pure core (no terminal, deterministic for a seed); the
//! other modules are thin layers that drive it from the keyboard or the CLI.

pub mod app;
pub mod cli;
pub mod compute;
pub mod config;
pub mod controls;
pub use compute::format;
pub mod io;
pub mod keymap;
pub mod panes;
pub mod settings;
pub mod tui;
pub mod ui;
pub mod worker;
