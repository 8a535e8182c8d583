//! `quantize --packed` for formats beyond llama.cpp's: the byte count its
//! bits per weight promise, and the codes `--out` writes inside.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use tempfile::TempDir;

use common::run;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Packs 6×40 weights with `settings`: the packed bytes, and the `--out`
/// codes when they are uint8.
fn pack(settings: &str, uint8_codes: bool) -> (Vec<u8>, Vec<u8>) {
    let dir = TempDir::new().unwrap();
    let w = dir.path().join("w.npy");
    let a = Array2::from_shape_fn((6, 40), |(r, c)| (((r * 31 + c * 17) % 101) as f32 - 50.0) / 500.0);
    a.write_npy(File::create(&w).unwrap()).unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, format!("[quant]\n{settings}\n")).unwrap();
    let (codes, bin): (PathBuf, PathBuf) = (dir.path().join("codes.npy"), dir.path().join("w.bin"));
    let args = ["--config", s(&config), "--weights", s(&w), "quantize", "--out", s(&codes), "--packed", s(&bin)];
    let o = run(&args);
    assert!(o.status.success(), "{settings}: {}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("packed"), "the summary names the packed file");
    let codes = match uint8_codes {
        true => Array2::<u8>::read_npy(File::open(&codes).unwrap()).unwrap().iter().copied().collect(),
        false => Vec::new(),
    };
    (std::fs::read(&bin).unwrap(), codes)
}

#[test]
fn fp4_packs_two_codes_a_byte_and_one_fp32_scale() {
    let (bytes, codes) = pack(r#"format = "fp4-e2m1""#, true);
    // 240 values · 4 bits + 32 bits: bpw 4 + 32/240.
    assert_eq!(bytes.len(), 120 + 4);
    let pairs: Vec<u8> = codes.chunks(2).map(|c| c[0] | c[1] << 4).collect();
    assert_eq!(bytes[..120], pairs[..]);
}

#[test]
fn int_per_channel_packs_where_it_used_to_be_refused() {
    let (bytes, _) = pack("bits = 4\ngranularity = \"per-channel\"", false);
    // 240 codes at 4 bits, then a scale and a zero point (8 bytes) per row.
    assert_eq!(bytes.len(), 120 + 6 * 8);
}

#[test]
fn nf4_double_quant_packs_its_compressed_statistics() {
    let (bytes, _) = pack("format = \"nf4\"\nblock_size = 64\ndouble_quant = true", false);
    // 240 values: 120 code bytes, 4 blocks → 4 absmax bytes, one absmax2, the mean.
    assert_eq!(bytes.len(), 120 + 4 + 4 + 4);
}
