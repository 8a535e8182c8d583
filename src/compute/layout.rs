//! How the values of a tensor are cut into channels or groups that share
//! quantization parameters, and put back in row-major order.

use std::borrow::Cow;

use super::quant::QuantConfig;
use super::weights::Weights;

/// Which channel each element of the row-major `[rows, cols]` view belongs to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Layout {
    PerTensor,
    Rows {
        rows: usize,
        cols: usize,
    },
    Cols {
        rows: usize,
        cols: usize,
    },
    /// `len` values in groups of `size` consecutive ones (the last may be short).
    Groups {
        len: usize,
        size: usize,
    },
}

impl Layout {
    pub fn of(w: &Weights, cfg: &QuantConfig) -> Layout {
        let (rows, cols) = (w.rows, w.cols);
        match (cfg.per_channel(), cfg.channel_axis) {
            (false, _) => Layout::PerTensor,
            (true, 0) => Layout::Rows { rows, cols },
            (true, _) => Layout::Cols { rows, cols },
        }
    }

    /// One channel per row (axis 0) or per column.
    pub fn channels_of(w: &Weights, axis: usize) -> Layout {
        let (rows, cols) = (w.rows, w.cols);
        if axis == 0 { Layout::Rows { rows, cols } } else { Layout::Cols { rows, cols } }
    }

    pub fn channels(&self) -> usize {
        match *self {
            Layout::PerTensor => 1,
            Layout::Rows { rows, .. } => rows,
            Layout::Cols { cols, .. } => cols,
            Layout::Groups { len, size } => len.div_ceil(size).max(1),
        }
    }

    #[inline]
    pub fn channel(&self, index: usize) -> usize {
        match *self {
            Layout::PerTensor => 0,
            Layout::Rows { cols, .. } => index / cols,
            Layout::Cols { cols, .. } => index % cols,
            Layout::Groups { size, .. } => index / size,
        }
    }

    /// Every value, channel after channel, with each channel's start;
    /// borrowed when the channels are already contiguous.
    pub(crate) fn channel_major<'a>(&self, values: &'a [f32]) -> (Cow<'a, [f32]>, Vec<usize>) {
        let channels = self.channels();
        let len = match *self {
            Layout::Groups { size, .. } => size,
            _ => values.len() / channels,
        };
        let offsets = (0..=channels).map(|c| (c * len).min(values.len())).collect();
        match *self {
            Layout::PerTensor | Layout::Rows { .. } | Layout::Groups { .. } => (Cow::Borrowed(values), offsets),
            Layout::Cols { cols, .. } => {
                let mut out = Vec::with_capacity(values.len());
                (0..cols).for_each(|c| out.extend(values.iter().skip(c).step_by(cols)));
                (Cow::Owned(out), offsets)
            }
        }
    }

    /// The finite values of each channel, contiguous.
    pub(crate) fn finite_channels<'a>(&self, values: &'a [f32], non_finite: usize) -> (Cow<'a, [f32]>, Vec<usize>) {
        let (all, offsets) = self.channel_major(values);
        if non_finite == 0 {
            return (all, offsets);
        }
        let mut out = Vec::with_capacity(values.len() - non_finite);
        let mut finite_offsets = vec![0];
        for span in offsets.windows(2) {
            out.extend(all[span[0]..span[1]].iter().filter(|x| x.is_finite()));
            finite_offsets.push(out.len());
        }
        (Cow::Owned(out), finite_offsets)
    }

    /// Puts channel-major data back in row-major order.
    pub(crate) fn into_row_major<T: Copy + Default>(self, data: Vec<T>) -> Vec<T> {
        match self {
            Layout::PerTensor | Layout::Rows { .. } | Layout::Groups { .. } => data,
            Layout::Cols { rows, cols } => {
                let mut out = vec![T::default(); data.len()];
                for (c, column) in data.chunks(rows).enumerate() {
                    for (r, &v) in column.iter().enumerate() {
                        out[r * cols + c] = v;
                    }
                }
                out
            }
        }
    }
}
