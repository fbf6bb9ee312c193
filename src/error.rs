//! [`ErrorKind`]: what kind of failure an error is, the one classification shared by every
//! stage.
//!
//! Each stage's error type has a `kind()` method ([`crate::hits::HitError::kind`],
//! [`crate::graph::GraphError::kind`], [`crate::inference::InferenceError::kind`],
//! [`crate::pipeline::TrackerError::kind`], ...), so a caller that needs a coarse answer (a
//! host framework, the C ABI's status codes, an exit code) asks for the kind instead of
//! matching the variants of every stage. The C ABI has exactly one status per kind.

use std::fmt;

/// The kind of a failure. New kinds may be added; each has a status code in the C ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A required argument is missing (a NULL pointer in the C ABI).
    NullArgument,
    /// No hits were given where a crossing was expected.
    EmptyInput,
    /// An argument is unusable: not UTF-8, misaligned, out of range, more hits than allowed, or
    /// hits checked against another geometry than the one in use.
    InvalidArgument,
    /// A hit is invalid: non-finite coordinate, layer or stave unknown to the geometry, off its
    /// stave, a duplicate id, columns of different lengths, or upstream of the graph's
    /// reference point.
    InvalidHit,
    /// A configuration key, value or file is invalid.
    Config,
    /// The geometry preset or file cannot be loaded.
    Geometry,
    /// The model file cannot be read.
    ModelUnreadable,
    /// onnxruntime rejects the model file.
    ModelInvalid,
    /// The model breaks the model contract.
    ModelContract,
    /// No onnxruntime library could be loaded, or its environment could not start.
    Onnxruntime,
    /// The requested execution provider cannot start.
    Provider,
    /// The window search found more edges than allowed.
    TooManyEdges,
    /// The model failed while running or returned unusable scores.
    Inference,
    /// The graph stage failed for a reason other than the hits or its settings.
    Graph,
    /// An internal error: a bug (a caught panic).
    Internal,
    /// A hit file cannot be read: missing, empty, an unknown header or a bad row.
    HitFile,
}

impl ErrorKind {
    /// A short lower-case description, for example `"invalid hit"`.
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::NullArgument => "missing argument",
            ErrorKind::EmptyInput => "empty input",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::InvalidHit => "invalid hit",
            ErrorKind::Config => "configuration error",
            ErrorKind::Geometry => "geometry error",
            ErrorKind::ModelUnreadable => "model file unreadable",
            ErrorKind::ModelInvalid => "invalid model file",
            ErrorKind::ModelContract => "model breaks the contract",
            ErrorKind::Onnxruntime => "onnxruntime unavailable",
            ErrorKind::Provider => "execution provider unavailable",
            ErrorKind::TooManyEdges => "too many edges",
            ErrorKind::Inference => "inference failed",
            ErrorKind::Graph => "graph error",
            ErrorKind::Internal => "internal error",
            ErrorKind::HitFile => "hit file unreadable",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}
