//! gnntrack: graph-neural-network track finding for the LUXE positron tracker.
//!
//! The pipeline has one module per stage:
//! - [`geometry`]: the detector (layers of planar staves of chips);
//! - [`hits`]: the hits of one bunch crossing, their validation and CSV input/output;
//! - [`graph`]: hit-pair graphs inside cone windows, their truth metrics and window calibration;
//! - [`features`]: named node and edge features with fixed scales;
//! - [`inference`]: edge scores from an ONNX graph neural network run by onnxruntime;
//! - [`tracks`]: scored edges to track candidates (candidate paths, exclusive assignment, line fit);
//! - [`candidates`]: optional candidate classification (a graph-level model over each candidate);
//! - [`pipeline`]: the [`pipeline::Tracker`] that chains the stages;
//! - [`ffi`]: the C ABI (`include/gnntrack.h`) over the pipeline;
//! - [`error`]: the [`error::ErrorKind`] every stage's error maps to.
//!
//! The simulator, the evaluation against truth, the training export and the `gnntrack` command
//! are in the `gnntrack-tools` package (`tools/`), which depends on this one and never the
//! other way round.
//!
//! Units everywhere: mm, GeV, T, ns.

#![warn(missing_docs)]

pub mod candidates;
pub mod error;
pub mod features;
pub mod ffi;
pub mod geometry;
pub mod graph;
pub mod hits;
pub mod inference;
pub mod pipeline;
pub mod tracks;

/// Version of the library (the crate version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Each instruction-set extension beyond the x86-64 baseline that a build may use: its name,
/// whether this build uses it and whether the CPU running this process has it.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn cpu_extensions() -> Vec<(&'static str, bool, bool)> {
    macro_rules! extensions {
        ($($name:tt),*) => {
            vec![$((
                $name,
                cfg!(target_feature = $name),
                std::arch::is_x86_feature_detected!($name),
            )),*]
        };
    }
    extensions!(
        "sse3", "ssse3", "sse4.1", "sse4.2", "popcnt", "avx", "avx2", "fma", "bmi1", "bmi2",
        "f16c", "lzcnt", "movbe", "avx512f", "avx512bw", "avx512vl"
    )
}

/// No extensions are listed off x86.
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
fn cpu_extensions() -> Vec<(&'static str, bool, bool)> {
    Vec::new()
}

/// The instruction-set extensions beyond the x86-64 baseline that this build of the library
/// uses throughout: none for the portable build, those of the CPU named at build time with
/// `GNNTRACK_TARGET_CPU` (for example `x86-64-v3`: AVX2, FMA, BMI and the rest) otherwise.
pub fn build_cpu_features() -> Vec<&'static str> {
    cpu_extensions()
        .into_iter()
        .filter_map(|(name, built, _)| built.then_some(name))
        .collect()
}

/// Those of [`build_cpu_features`] that the CPU running this process lacks: a tracker refuses
/// to start on such a CPU, where the build's instructions would stop the process.
pub fn missing_cpu_features() -> Vec<&'static str> {
    cpu_extensions()
        .into_iter()
        .filter_map(|(name, built, present)| (built && !present).then_some(name))
        .collect()
}

/// `text` cut for a message: lines of at most 200 characters and at most 2000 characters in
/// all, each cut marked with how much was left out (a 1 MB key is not echoed in full).
pub(crate) fn clip(text: &str) -> String {
    const LINE: usize = 200;
    const TOTAL: usize = 2000;
    let mut out = String::new();
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if out.len() >= TOTAL {
            out.push_str(&format!("... ({} more bytes)", text.len() - out.len()));
            break;
        }
        match line.char_indices().nth(LINE) {
            Some((cut, _)) => {
                out.push_str(&line[..cut]);
                out.push_str(&format!("... ({} more bytes)", line.len() - cut));
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_build_runs_on_the_cpu_that_built_it() {
        // The tests run where they were built: every feature of the build is there (the
        // portable build names none).
        assert_eq!(super::missing_cpu_features(), Vec::<&str>::new());
        let features = super::build_cpu_features();
        assert_eq!(
            features.contains(&"avx2"),
            cfg!(target_feature = "avx2"),
            "{features:?}"
        );
    }

    #[test]
    fn clip_cuts_long_lines_and_long_texts() {
        assert_eq!(super::clip("short\ntext"), "short\ntext");
        let key = "k".repeat(1 << 20);
        let clipped = super::clip(&format!("`{key}` = 1: unknown field `{key}`"));
        assert!(clipped.len() < 300, "{}", clipped.len());
        assert!(clipped.ends_with("more bytes)"), "{clipped}");
        let many = "line\n".repeat(10_000);
        let clipped = super::clip(&many);
        assert!(clipped.len() < 2100 && clipped.ends_with("more bytes)"));
        // Cuts fall on character boundaries.
        assert!(super::clip(&"é".repeat(1000)).starts_with("éé"));
    }
}
