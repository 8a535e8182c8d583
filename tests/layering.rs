//! The invariants of ARCHITECTURE.md that a reading of the sources can check.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// A file's code before its test module (tests may write their own files).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.split("#[cfg(test)]").next().unwrap().to_string()
}

#[test]
fn compute_imports_nothing_outside_compute_and_writes_no_file() {
    let files = sources(Path::new("src/compute"));
    assert!(files.len() > 10, "{files:?}");
    for path in files {
        let code = code(&path);
        for (n, line) in code.lines().enumerate() {
            let outside = line.match_indices("crate::").any(|(i, _)| {
                let rest = &line[i + "crate::".len()..];
                !(rest.starts_with("compute") || rest.starts_with("named_enum"))
            });
            assert!(!outside, "{}:{}: {line}", path.display(), n + 1);
            for writer in ["fs::write", "File::create", "OpenOptions", "ratatui", "crossterm"] {
                assert!(!line.contains(writer), "{}:{}: {line}", path.display(), n + 1);
            }
        }
    }
}

#[test]
fn no_source_file_holds_more_than_700_lines_before_its_tests() {
    let mut long = Vec::new();
    // A `tests.rs` is a test module in a file of its own.
    for path in sources(Path::new("src")).into_iter().filter(|p| !p.ends_with("tests.rs")) {
        let lines = code(&path).lines().count();
        if lines > 700 {
            long.push(format!("{}: {lines}", path.display()));
        }
    }
    assert!(long.is_empty(), "lines before the tests: {long:?}");
}

#[test]
fn the_app_does_not_call_into_the_drawing() {
    for path in sources(Path::new("src/app")) {
        assert!(!code(&path).contains("crate::ui"), "{} uses ui", path.display());
    }
}
