//! End to end, as a person would: the real binary in a real terminal (tmux).
//! `.ci/run` installs tmux when it is missing; without it this test says so
//! and passes, so `cargo test` still runs on a machine that lacks it.

use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

struct Tmux {
    session: String,
}

impl Tmux {
    /// A session of its own: tests run in parallel in one process.
    fn start(name: &str, width: u16, height: u16) -> Option<Tmux> {
        let session = format!("qmc-e2e-{}-{name}", std::process::id());
        let ok = Command::new("tmux")
            .args(["new-session", "-d", "-s", &session, "-x", &width.to_string(), "-y", &height.to_string()])
            .status()
            .ok()?
            .success();
        ok.then_some(Tmux { session })
    }

    /// Starts the program in the session's shell, away from the user's config file.
    fn launch(&self, command: &str) {
        self.keys(&[&format!("XDG_CONFIG_HOME=/nonexistent/qmc-tui-tests {command}"), "Enter"]);
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let status = Command::new("tmux").args(["send-keys", "-t", &self.session, k]).status().unwrap();
            assert!(status.success(), "tmux send-keys {k}");
            sleep(Duration::from_millis(60));
        }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux").args(["capture-pane", "-p", "-t", &self.session]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits up to 10 s for `text` on the screen; returns the screen.
    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "waited for {text:?}; the screen is:\n{screen}");
            sleep(Duration::from_millis(100));
        }
    }

    fn resize(&self, width: u16, height: u16) {
        let status = Command::new("tmux")
            .args(["resize-window", "-t", &self.session, "-x", &width.to_string(), "-y", &height.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "tmux resize-window");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.session]).status();
    }
}

/// The first word after `label` on the line of the metrics panel that has it.
fn shown_after(screen: &str, label: &str) -> String {
    let line = screen.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("no {label:?} in\n{screen}"));
    let rest = &line[line.find(label).unwrap() + label.len()..];
    rest.split_whitespace().next().unwrap().to_string()
}

#[test]
fn a_session_as_a_person_would_have_it() {
    let Some(tmux) = Tmux::start("session", 120, 40) else {
        eprintln!("tmux is not installed: the end-to-end test is skipped (.ci/run installs it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("session.toml");
    let bin = env!("CARGO_BIN_EXE_qmc-tui");
    tmux.launch(&format!("{bin} --export {}; echo EXIT=$?", export.display()));
    let first = tmux.wait_for("Calibrations");
    assert!(first.contains("codes -128..127"), "{first}");

    // A quantization setting: scheme is selected, bits is the next control.
    tmux.keys(&["j", "Left"]);
    let seven = tmux.wait_for("codes -64..63");
    assert_ne!(shown_after(&first, "│mse"), shown_after(&seven, "│mse"), "the mse moves with the bits");

    // An ensemble setting: the fusion.
    tmux.keys(&["2"]);
    tmux.wait_for("fusion soft");
    tmux.keys(&["f"]);
    tmux.wait_for("fusion hard");

    // Help opens and closes.
    tmux.keys(&["?"]);
    tmux.wait_for("Any key closes this help");
    tmux.keys(&["x"]);
    let closed = tmux.wait_for("Members (3)");
    assert!(!closed.contains("Any key closes this help"));

    // A tiny terminal, then back.
    tmux.resize(30, 8);
    tmux.wait_for("Enlarge");
    tmux.resize(120, 40);
    tmux.wait_for("Members (3)");

    // The Formats pane: every format on the tensor, sorted by a key.
    tmux.keys(&["4"]);
    let formats = tmux.wait_for("Every format on this tensor");
    assert!(formats.contains("SQNR (dB) vs bits per weight"), "{formats}");
    tmux.keys(&["s"]);
    tmux.wait_for("formats sorted by format");

    // Export, and the report on the export shows the numbers of the screen.
    tmux.keys(&["1"]);
    let screen = tmux.wait_for("codes -64..63");
    tmux.keys(&["e"]);
    tmux.wait_for("exported to");
    let out = Command::new(bin).args(["report", "--format", "json", "--config"]).arg(&export).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mse = report["quant"]["metrics"]["mse"].as_f64().unwrap();
    assert_eq!(shown_after(&screen, "│mse"), qmc_tui::format::num(mse));
    assert_eq!(report["quant"]["bits"].as_u64(), Some(7));
    assert_eq!(report["ensemble"]["fusion"], "hard");

    // Quit (nothing unexported), and the shell works as before.
    tmux.keys(&["q"]);
    tmux.wait_for("EXIT=0");
    tmux.keys(&["echo SHELL_$((40+2))_OK", "Enter"]);
    let shell = tmux.wait_for("SHELL_42_OK");
    assert!(!shell.contains("Calibrations"), "the alternate screen was left:\n{shell}");
    assert!(Path::new(&export).exists());
}

/// Every SGR parameter list on the screen (what `tmux capture-pane -e` keeps).
fn sgr_codes(screen: &str) -> Vec<u32> {
    let mut codes = Vec::new();
    for part in screen.split("\x1b[").skip(1) {
        if let Some(end) = part.find('m') {
            codes.extend(part[..end].split(';').filter_map(|c| c.parse::<u32>().ok()));
        }
    }
    codes
}

#[test]
fn no_color_emits_no_colour_codes_and_keeps_the_words() {
    let Some(tmux) = Tmux::start("no-color", 120, 40) else {
        eprintln!("tmux is not installed: skipped");
        return;
    };
    let bin = env!("CARGO_BIN_EXE_qmc-tui");
    tmux.launch(&format!("NO_COLOR=1 {bin} --export /dev/null/none.toml"));
    tmux.wait_for("Calibrations");
    tmux.keys(&["p", "p", "p"]);
    tmux.wait_for("every weight rounds to 0");
    let out = Command::new("tmux").args(["capture-pane", "-p", "-e", "-t", &tmux.session]).output().unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    // 39 and 49 reset to the terminal's own colours: not a colour.
    let colour = |c: &u32| matches!(c, 30..=38 | 40..=48 | 90..=97 | 100..=107);
    let colours: Vec<u32> = sgr_codes(&screen).into_iter().filter(colour).collect();
    assert!(colours.is_empty(), "colour codes {colours:?} under NO_COLOR");
    // Meaning survives without colour: markers and words.
    for words in ["⚠ every weight rounds to 0", "▶", "█ clip lo", "█ clipped"] {
        assert!(screen.contains(words), "{words:?} missing");
    }
    tmux.keys(&["q", "n", "echo NC_$((1+1))", "Enter"]);
    tmux.wait_for("NC_2");
}

#[test]
fn sigterm_and_sighup_restore_the_terminal() {
    for signal in ["TERM", "HUP"] {
        let Some(tmux) = Tmux::start(&format!("signal-{signal}"), 120, 40) else {
            eprintln!("tmux is not installed: skipped");
            return;
        };
        let marker = format!("/tmp/qmc-signal-{}-{signal}.toml", std::process::id());
        let bin = env!("CARGO_BIN_EXE_qmc-tui");
        tmux.launch(&format!("{bin} --export {marker}; echo EXIT_$?_DONE"));
        tmux.wait_for("Calibrations");
        let Ok(pid) = Command::new("pgrep").args(["-f", &marker]).output() else {
            eprintln!("pgrep is not installed: skipped");
            return;
        };
        let pid = String::from_utf8_lossy(&pid.stdout).lines().next().map(str::to_string);
        let Some(pid) = pid else { panic!("no qmc-tui process for {marker}") };
        assert!(Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap().success());
        // The program ends by itself (exit 0) and the shell is usable again.
        tmux.wait_for("EXIT_0_DONE");
        tmux.keys(&["echo SIG_$((2*3))_OK", "Enter"]);
        let shell = tmux.wait_for("SIG_6_OK");
        assert!(!shell.contains("Calibrations"), "the alternate screen was left:\n{shell}");
    }
}

#[test]
fn a_keys_file_rebinds_and_the_help_shows_it() {
    let Some(tmux) = Tmux::start("keys", 120, 40) else {
        eprintln!("tmux is not installed: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    std::fs::write(&keys, "[keys]\nquit = [\"x\", \"ctrl-c\"]\nhelp = [\"f1\"]\n").unwrap();
    let bin = env!("CARGO_BIN_EXE_qmc-tui");
    tmux.launch(&format!("{bin} --keys {}; echo KEYS_$((5+5))", keys.display()));
    tmux.wait_for("Calibrations");
    tmux.keys(&["F1"]);
    let help = tmux.wait_for("Any key closes this help");
    assert!(help.contains("x / Ctrl-C") && help.contains("F1"), "{help}");
    tmux.keys(&["Escape", "q"]);
    sleep(Duration::from_millis(300));
    assert!(tmux.screen().contains("Calibrations"), "q no longer quits");
    tmux.keys(&["x"]);
    tmux.wait_for("KEYS_10");
}

#[test]
fn a_panic_restores_the_terminal_and_prints_the_report() {
    let Some(tmux) = Tmux::start("panic", 120, 40) else {
        eprintln!("tmux is not installed: skipped");
        return;
    };
    let bin = env!("CARGO_BIN_EXE_qmc-tui");
    // $? is read before the arithmetic, so "DONE_7_" only appears once the program ended.
    tmux.launch(&format!("QMC_TUI_PANIC_AFTER_FIRST_FRAME=1 {bin}; echo DONE_$((3+4))_$?"));
    let screen = tmux.wait_for("DONE_7_");
    assert!(screen.contains("Message:  QMC_TUI_PANIC_AFTER_FIRST_FRAME asked for a panic"), "the report:\n{screen}");
    assert!(!screen.contains("Calibrations"), "the alternate screen was left:\n{screen}");
    assert!(!screen.contains("DONE_7_0"), "a panic exits non-zero:\n{screen}");
    tmux.keys(&["echo AFTER_$((3*3))", "Enter"]);
    tmux.wait_for("AFTER_9");
}
