#![allow(dead_code)] // each test crate uses some of these helpers
//! Helpers shared by the integration tests.

/// A version-1 `.npy` with any descriptor and claimed shape, then `data`:
/// for dtypes ndarray-npy cannot write and for headers that lie.
pub fn raw_npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A CSV of `classes` well-separated classes named `digit0`, `digit1`, ...,
/// `rows_per_class` rows each over two features (class k around (3k, -2k),
/// a deterministic jitter of ±0.4), the label last.
pub fn separated_classes_csv(classes: usize, rows_per_class: usize) -> String {
    let mut text = String::from("x,y,label\n");
    let mut state: u64 = 7;
    let mut jitter = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.8
    };
    for k in 0..classes {
        for _ in 0..rows_per_class {
            let (x, y) = (3.0 * k as f64 + jitter(), -2.0 * k as f64 + jitter());
            text.push_str(&format!("{x:.4},{y:.4},digit{k}\n"));
        }
    }
    text
}

/// Runs the binary with `args`, away from a developer's own config file.
pub fn run(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_qmc-tui"))
        .env("XDG_CONFIG_HOME", "/nonexistent/qmc-tui-tests")
        .args(args)
        .output()
        .expect("the binary runs")
}

/// The JSON a successful run prints.
pub fn json(args: &[&str]) -> serde_json::Value {
    let out = run(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The one-paragraph error of a failing run: no panic, nothing on stdout.
pub fn fails(args: &[&str]) -> String {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(out.stdout.is_empty(), "no partial output: {}", String::from_utf8_lossy(&out.stdout));
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one paragraph: {err}");
    err
}

pub fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// A tensor of a safetensors file the test writes: name, dtype, shape, bytes.
pub type Tensor = (&'static str, safetensors::Dtype, Vec<usize>, Vec<u8>);

pub fn safetensors_bytes(tensors: &[Tensor]) -> Vec<u8> {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, shape, bytes)| {
            (n.to_string(), safetensors::tensor::TensorView::new(*d, shape.clone(), bytes).unwrap())
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

pub fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A tensor of a GGUF file the test writes: name, shape (outermost
/// first), ggml type id, data bytes.
pub type GgufTensor = (&'static str, Vec<usize>, u32, Vec<u8>);

/// A GGUF v3 file from the writer's own header code (alignment 32), each
/// tensor's data padded after the last.
pub fn gguf_bytes(
    metadata: &[(&str, qmc_tui::compute::checkpoint::write::gguf::Value)],
    tensors: &[GgufTensor],
) -> Vec<u8> {
    use qmc_tui::compute::checkpoint::write::gguf::{TensorInfo, header, padding};
    let infos: Vec<TensorInfo> = tensors
        .iter()
        .map(|(name, shape, ggml_type, data)| TensorInfo {
            name: name.to_string(),
            shape: shape.clone(),
            ggml_type: *ggml_type,
            len: data.len(),
        })
        .collect();
    let mut out = header(metadata, &infos);
    for (_, _, _, data) in tensors {
        out.extend_from_slice(data);
        out.resize(out.len() + padding(data.len()), 0);
    }
    out
}

/// One Q8_0 block: scale `d` (fp16-exact), then the 32 int8 codes.
pub fn q8_0_block(d: f32, codes: &[i8; 32]) -> Vec<u8> {
    let mut out = half::f16::from_f32(d).to_le_bytes().to_vec();
    out.extend(codes.iter().map(|&c| c as u8));
    out
}

/// Runs `job` on `worker` and sends a newer job (`newest` set to `newer`)
/// as the first row arrives, as the pane does when the user rescans: how
/// many rows came, and the job's last output.
pub fn stopped_by_a_newer_job(
    worker: &qmc_tui::worker::CheckpointWorker,
    job: qmc_tui::worker::Job,
    newest: &std::sync::atomic::AtomicU64,
    newer: u64,
) -> (usize, qmc_tui::worker::Output) {
    let mut rows = 0;
    let last = worker.handle(job, &mut |_| {
        rows += 1;
        newest.store(newer, std::sync::atomic::Ordering::Relaxed);
        true
    });
    (rows, last)
}
