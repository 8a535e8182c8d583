//! `tensors`: a file's tensors with their shapes and dtypes; for a GGUF
//! file also each tensor's ggml type, bits per weight and bytes, with
//! totals per type and for the file.

use std::collections::BTreeMap;
use std::path::Path;

use super::{CliError, shape_text, write_stdout};
use crate::compute::checkpoint::write::safetensors_out::{self, Item};
use crate::compute::checkpoint::{self, Checkpoint, Entry};
use crate::compute::{format, gguf, weights};
use crate::io::{self, PieceError};

pub(super) fn tensors_command(file: &Path, dequantized: Option<&Path>) -> Result<(), CliError> {
    let is_gguf = file.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    if is_gguf {
        let ck = checkpoint::open(file, true)?;
        if let Some(out) = dequantized {
            write_decoded(&ck, out)?;
        }
        return write_stdout(&gguf_listing(&ck.tensors));
    }
    if dequantized.is_some() {
        let reason = "--dequantized decodes a .gguf file's tensors; this file's are read as they are".into();
        return Err(CliError::Output { path: file.to_path_buf(), reason });
    }
    let infos = weights::list_tensors(file)?;
    let rows: Vec<[String; 3]> = infos.into_iter().map(|t| [t.name, shape_text(&t.shape), t.dtype]).collect();
    write_stdout(&aligned(&[["name".into(), "shape".into(), "dtype".into()]], &rows))
}

/// Every tensor we decode, as F32 in one safetensors file, streamed one
/// tensor at a time (what `scripts/crosscheck_gguf_read.py` compares with
/// gguf-py).
fn write_decoded(ck: &Checkpoint, out: &Path) -> Result<(), CliError> {
    let decoded: Vec<&Entry> = ck
        .tensors
        .iter()
        .filter(|e| e.gguf.as_ref().is_some_and(|g| gguf::not_decoded_reason(g.type_id).is_none()))
        .collect();
    let items: Vec<Item> = decoded
        .iter()
        .map(|e| Item { name: e.name.clone(), dtype: "F32".into(), shape: e.shape.clone(), len: e.count * 4 })
        .collect();
    let header = safetensors_out::header(&BTreeMap::new(), &items);
    io::write_streaming(out, |w| {
        w.write_all(&header)?;
        for e in decoded {
            let values = ck.load(e).map_err(|err| PieceError::Refused(err.to_string()))?.values;
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            w.write_all(&bytes)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Bits per weight and bytes of a GGUF tensor (unknown types: "?").
fn size_cells(type_id: u32, len: Option<u64>) -> [String; 2] {
    match (gguf::ggml_type(type_id), len) {
        (Some(t), Some(len)) => [format!("{:.4}", t.bits_per_weight()), len.to_string()],
        _ => ["?".into(), "?".into()],
    }
}

/// Every tensor in file order, then the totals per type (in the table's
/// order) and for the file. A type not decoded says so in its row.
fn gguf_listing(entries: &[Entry]) -> String {
    let mut rows = vec![["name", "shape", "type", "bpw", "bytes", ""].map(String::from).to_vec()];
    let mut per_type: Vec<(u32, usize, usize, u64)> = Vec::new();
    for e in entries {
        let Some(info) = &e.gguf else { continue };
        let [bpw, bytes] = size_cells(info.type_id, info.len);
        let note = gguf::not_decoded_reason(info.type_id).map_or(String::new(), |_| "not decoded".into());
        rows.push(vec![e.name.clone(), shape_text(&e.shape), e.dtype.clone(), bpw, bytes, note]);
        match per_type.iter_mut().find(|t| t.0 == info.type_id) {
            Some(t) => (t.1, t.2, t.3) = (t.1 + 1, t.2 + e.count, t.3 + info.len.unwrap_or(0)),
            None => per_type.push((info.type_id, 1, e.count, info.len.unwrap_or(0))),
        }
    }
    per_type.sort_by_key(|t| t.0);
    let mut totals = vec![["type", "tensors", "params", "bpw", "bytes", ""].map(String::from).to_vec()];
    let bpw = |bytes: u64, params: usize| {
        if params == 0 { "-".into() } else { format!("{:.4}", bytes as f64 * 8.0 / params as f64) }
    };
    for &(id, n, params, bytes) in &per_type {
        let known = gguf::ggml_type(id).is_some();
        let (b, size) = if known { (bpw(bytes, params), bytes.to_string()) } else { ("?".into(), "?".into()) };
        totals.push(vec![gguf::type_label(id), n.to_string(), params.to_string(), b, size, String::new()]);
    }
    let (params, bytes): (usize, u64) = per_type.iter().fold((0, 0), |(p, b), t| (p + t.2, b + t.3));
    let total = vec![
        "total".into(),
        entries.len().to_string(),
        params.to_string(),
        bpw(bytes, params),
        bytes.to_string(),
        format::bytes(bytes),
    ];
    totals.push(total);
    format!("{}\n\n{}", super::scan::aligned(&rows), super::scan::aligned(&totals))
}

/// Left-aligned columns, two spaces apart, widths in characters (`×` is one).
fn aligned(header: &[[String; 3]], rows: &[[String; 3]]) -> String {
    let all: Vec<&[String; 3]> = header.iter().chain(rows).collect();
    let width = |c: usize| all.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let (w0, w1) = (width(0), width(1));
    all.iter()
        .map(|r| format!("{:<w0$}  {:<w1$}  {}", r[0], r[1], r[2]).trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
