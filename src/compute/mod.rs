//! The pure core: everything the user sees is computed here.
//!
//! Nothing in this module knows about terminals, keys or colours, and every
//! function is deterministic for a given seed.

pub mod analysis;
pub mod calibrate;
pub mod checkpoint;
pub mod curve;
pub mod data;
pub mod deploy;
pub mod diagnose;
pub mod ensemble;
pub mod format;
pub mod formats;
pub mod gguf;
pub mod histogram;
pub mod kernel;
pub mod layout;
pub mod members;
pub mod metrics;
pub mod parallel;
pub mod plan;
pub mod quant;
pub mod softmax;
pub mod watch;
pub mod weights;

/// Whether the CPU runs AVX2. The hot loops are written in eight-lane
/// arrays and each has a twin compiled for AVX2 (`#[target_feature]`, its
/// body `#[inline(always)]`), which runs them at twice the width of the
/// baseline x86-64 (SSE2) the crate is built for. The results are bit for
/// bit the same: neither instruction set rounds differently, and Rust never
/// fuses a multiply and an add on its own.
#[inline]
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the CPU runs AVX-512F: the K-quant searches then run two
/// super-blocks at once in 16 lanes, the same operations lane by lane as
/// in AVX2 or plain code, so the same bits (see `has_avx2`).
#[inline]
pub(crate) fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Compiles a free function (a loop over values whose callees are
/// `#[inline(always)]`) a second time for AVX2, and runs that one when the
/// CPU has it: twice the width of the baseline SSE2, the same bits (see
/// `has_avx2`). Used by `formats` and `checkpoint::stats`.
macro_rules! with_avx2 {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            if crate::compute::has_avx2() {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? $body
                // SAFETY: the CPU has AVX2.
                return unsafe { avx2($($arg),*) };
            }
            $body
        }
    };
}
pub(crate) use with_avx2;

/// A name that is none of the ones a setting takes (a value, a format, a
/// member kind); the message lists the ones it takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {name:?}; expected one of {}", .expected.join(", "))]
pub struct UnknownName {
    /// What was named: "value" for a setting's choices, "format" for a format.
    pub what: &'static str,
    pub name: String,
    pub expected: Vec<&'static str>,
}

impl UnknownName {
    pub fn new(what: &'static str, name: &str, expected: impl IntoIterator<Item = &'static str>) -> Self {
        UnknownName { what, name: name.to_string(), expected: expected.into_iter().collect() }
    }
}

/// Declares a settings enum whose variants have fixed kebab-case names used
/// by the settings file, the CLI, the report and the TUI alike.
#[macro_export]
macro_rules! named_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name { $($(#[$vmeta])* #[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The next (or previous) variant, wrapping around: how a key cycles it.
            pub fn cycle(self, forward: bool) -> Self {
                let all = Self::ALL;
                let i = all.iter().position(|v| *v == self).unwrap_or(0);
                let n = all.len();
                all[if forward { (i + 1) % n } else { (i + n - 1) % n }]
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::compute::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| {
                    $crate::compute::UnknownName::new("value", s, Self::ALL.iter().map(|v| v.name()))
                })
            }
        }
    };
}
