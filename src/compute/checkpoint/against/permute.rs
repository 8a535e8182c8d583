//! The row order of q_proj and k_proj in a GGUF made by llama.cpp's
//! converter (`LlamaModel.permute`): within each head, rotary embeddings
//! pair row i of the first half with row i of the second in Hugging Face's
//! layout, and adjacent rows in llama.cpp's, so the converter stores
//! `w.reshape(heads, 2, half, cols).swapaxes(1, 2).reshape(rows, cols)`.

/// Rows `values` (row-major, `rows` rows) in the converter's order.
pub fn to_gguf_order(values: &[f32], rows: usize, heads: usize) -> Vec<f32> {
    reorder(values, rows, heads, |h, j, i, half| (h * 2 * half + i * 2 + j, h * 2 * half + j * half + i))
}

/// The inverse: rows stored by the converter back in Hugging Face's order.
pub fn from_gguf_order(values: &[f32], rows: usize, heads: usize) -> Vec<f32> {
    reorder(values, rows, heads, |h, j, i, half| (h * 2 * half + j * half + i, h * 2 * half + i * 2 + j))
}

/// Whether `rows` split into `heads` heads of two equal, non-empty halves
/// (a head count from a file may be anything: no overflow, no empty heads).
pub fn divides(rows: usize, heads: usize) -> bool {
    heads > 0 && heads <= rows / 2 && rows.is_multiple_of(2 * heads)
}

/// Copies row `from` to row `to` for `(to, from) = index(h, j, i, half)`,
/// head h, half j ∈ {0, 1}, row i of the half. The caller checked `divides`.
fn reorder(
    values: &[f32],
    rows: usize,
    heads: usize,
    index: impl Fn(usize, usize, usize, usize) -> (usize, usize),
) -> Vec<f32> {
    debug_assert!(divides(rows, heads));
    let cols = values.len() / rows.max(1);
    let half = rows / heads / 2;
    let mut out = vec![0f32; values.len()];
    for h in 0..heads {
        for j in 0..2 {
            for i in 0..half {
                let (to, from) = index(h, j, i, half);
                out[to * cols..(to + 1) * cols].copy_from_slice(&values[from * cols..(from + 1) * cols]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn absurd_head_counts_do_not_divide() {
        assert!(divides(8, 2) && divides(8, 4));
        assert!(!divides(8, 0) && !divides(8, 8) && !divides(0, 1));
        // 2 · (2^63 + 1) wraps to 2 in u64: refused before any product.
        assert!(!divides(8, (1usize << 63) + 1) && !divides(8, usize::MAX));
    }

    #[test]
    fn the_converter_interleaves_the_two_halves_of_each_head() {
        // numpy: np.arange(8).reshape(2, 2, 2, 1).swapaxes(1, 2).reshape(8) = [0 2 1 3 4 6 5 7]
        let rows: Vec<f32> = (0..8).map(|r| r as f32).collect();
        assert_eq!(to_gguf_order(&rows, 8, 2), [0., 2., 1., 3., 4., 6., 5., 7.]);
        // One head of 8 rows: [0 4 1 5 2 6 3 7]; two columns move with their row.
        let two: Vec<f32> = (0..8).flat_map(|r| [r as f32, -(r as f32)]).collect();
        let got = to_gguf_order(&two, 8, 1);
        let firsts: Vec<f32> = got.iter().step_by(2).copied().collect();
        assert_eq!(firsts, [0., 4., 1., 5., 2., 6., 3., 7.]);
        assert!(got.chunks(2).all(|r| r[1] == -r[0]));
        assert!(!divides(12, 4) && divides(16, 4) && !divides(8, 0));
    }

    proptest! {
        #[test]
        fn from_gguf_order_undoes_to_gguf_order(heads in 1usize..6, half in 1usize..6, cols in 1usize..5) {
            let rows = heads * 2 * half;
            let v: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            prop_assert_eq!(from_gguf_order(&to_gguf_order(&v, rows, heads), rows, heads), v);
        }
    }
}
