//! Soak: 50 scan-and-cancel cycles in the Checkpoint pane's worker over a
//! 503 MB checkpoint made in a temporary folder, as the pane does it (a
//! newer scan's id stops the older at its next tensor). Memory stays flat,
//! no file is left open, and every cycle's rows are a consistent prefix of
//! the table; the first and the last scans run to the end.
//!
//! "Flat" is measured against the working set of one whole scan, taken
//! first: the scan keeps buffers for the next tensor (a pool, and the
//! allocator's per-thread arenas of the threads that measure tensors side
//! by side), so memory rises to that working set the first time a scan
//! gets that far, which a cancelled cycle may reach late or never; what
//! must not happen is growth past it, cycle after cycle.
//!
//! `cargo test --release --test soak_scan -- --ignored --nocapture`

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use qmc_tui::worker::{CheckpointWorker, Job, Outcome, Output};

// The binary's allocator (main.rs), so the memory measured is the binary's.
#[global_allocator]
static ALLOCATOR: qmc_tui::worker::memory::HugePageAllocator = qmc_tui::worker::memory::HugePageAllocator;

const ROWS: usize = 1024;
const COLS: usize = 2048;
const TENSORS: usize = 120; // 120 × 4 MiB of bf16: 503 MB in two shards.
const CYCLES: u64 = 50;

/// A bf16 shard of `names`, each a ROWS×COLS tensor, written one at a time.
fn write_shard(path: &Path, names: &[String], seed: usize) {
    use std::io::Write;
    let size = ROWS * COLS * 2;
    let entries: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                r#""{n}":{{"dtype":"BF16","shape":[{ROWS},{COLS}],"data_offsets":[{},{}]}}"#,
                i * size,
                (i + 1) * size
            )
        })
        .collect();
    let mut header = format!("{{{}}}", entries.join(","));
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    for t in 0..names.len() {
        let tensor: Vec<u8> = (0..ROWS * COLS)
            .flat_map(|i| {
                let x = ((i * 7919 + (t + seed) * 104_729) % 2003) as f32 / 2003.0 - 0.5;
                half::bf16::from_f32(x * 0.04).to_le_bytes()
            })
            .collect();
        f.write_all(&tensor).unwrap();
    }
}

fn make_checkpoint(dir: &Path) -> std::path::PathBuf {
    let names: Vec<String> = (0..TENSORS).map(|i| format!("model.layers.{}.t{}.weight", i / 4, i % 4)).collect();
    let (a, b) = names.split_at(TENSORS / 2);
    write_shard(&dir.join("model-1.safetensors"), a, 0);
    write_shard(&dir.join("model-2.safetensors"), b, 1);
    let map: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), format!("model-{}.safetensors", 1 + usize::from(i >= TENSORS / 2)).into()))
        .collect();
    let index = dir.join("model.safetensors.index.json");
    std::fs::write(&index, serde_json::json!({ "weight_map": map }).to_string()).unwrap();
    index
}

/// VmRSS of this process, in kB.
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
#[ignore = "soak: about a minute in release; run it by name"]
fn fifty_scan_and_cancel_cycles_keep_memory_flat_and_close_every_file() {
    // As `main` does before anything else.
    qmc_tui::worker::memory::configure_allocator();
    let dir = tempfile::tempdir().unwrap();
    let index = make_checkpoint(dir.path());
    let newest = Arc::new(AtomicU64::new(0));
    let (jobs, inbox) = mpsc::channel::<Job>();
    let (outbox, outputs) = mpsc::channel::<Output>();
    let worker = CheckpointWorker::new(newest.clone());
    let thread = std::thread::spawn(move || worker.run(inbox, outbox, |o| o));
    let scan = |id: u64| {
        newest.store(id, Ordering::Relaxed);
        jobs.send(Job::Scan { id, path: index.clone(), formats: "int8-sym-pc".into() }).unwrap();
    };

    let fds_before = open_fds();
    let whole_scan = |id: u64| loop {
        if let Output::Scanned { id: got, result } = outputs.recv().unwrap() {
            assert_eq!(got, id);
            let Outcome::Done(full) = result else { panic!("scan {id} finished") };
            break full.tensors.iter().map(|t| t.name.clone()).collect::<Vec<String>>();
        }
    };
    scan(1);
    let order = whole_scan(1);
    assert_eq!(order.len(), TENSORS);
    let rss_after_warmup = rss_kb();
    for id in 2..=CYCLES + 1 {
        scan(id);
        // Cancel after 1 to 5 rows, as a user pressing rescan would.
        let stop_after = 1 + (id as usize % 5);
        let mut rows: Vec<String> = Vec::new();
        loop {
            match outputs.recv().unwrap() {
                Output::ScanRow { id: got, tensor, done, total } => {
                    assert_eq!((got, done, total), (id, rows.len() + 1, TENSORS), "rows of scan {id} in order");
                    rows.push(tensor.name.clone());
                    if rows.len() == stop_after {
                        newest.store(id + 1, Ordering::Relaxed);
                    }
                }
                Output::Scanned { id: got, result } => {
                    assert_eq!(got, id);
                    assert!(matches!(result, Outcome::Cancelled), "scan {id} was cancelled");
                    break;
                }
                _ => panic!("only scan outputs"),
            }
        }
        // The rows are a prefix of the one table every scan gives.
        // (A tensor already under way when the cancel came may still arrive.)
        assert!(rows.len() >= stop_after, "{id}: {} rows", rows.len());
        assert_eq!(rows[..], order[..rows.len()], "cycle {id}: a prefix of the whole table");
        if std::env::var_os("QMC_SOAK_TRACE").is_some() {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let rss: Vec<&str> = status.lines().filter(|l| l.starts_with("Rss")).collect();
            eprintln!("cycle {id}: {}", rss.join(" ").split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    let rss_end = rss_kb();
    let fds_end = open_fds();

    // A last scan runs to the end: the whole table, in the same order.
    scan(CYCLES + 2);
    assert_eq!(whole_scan(CYCLES + 2), order);
    drop(jobs);
    thread.join().unwrap();

    let growth = (rss_end as f64 - rss_after_warmup as f64) / rss_after_warmup as f64;
    eprintln!(
        "soak: {CYCLES} cycles; VmRSS after a whole scan {rss_after_warmup} kB, after {CYCLES} cancelled ones {rss_end} kB ({:+.2}%); open fds {fds_before} before, {fds_end} after, {} once the worker ended",
        growth * 100.0,
        open_fds()
    );
    assert!(growth < 0.05, "RSS grew {:.1}%", growth * 100.0);
    assert_eq!(fds_end, fds_before, "a file was left open");
}
