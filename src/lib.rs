//! gnntrack: graph-neural-network track finding for the LUXE positron tracker.
//!
//! The pipeline has one module per stage:
//! - [`geometry`]: the detector (layers of planar staves of chips);
//! - [`hits`]: the hits of one bunch crossing, their validation and CSV input/output;
//! - [`sim`]: a fast simulation of LUXE bunch crossings, validated against a real one;
//! - [`graph`]: hit-pair graphs inside cone windows, their truth metrics and window calibration;
//! - [`features`]: named node and edge features with fixed scales;
//! - [`export`]: training export (one NumPy archive per crossing and a JSON manifest);
//! - [`inference`]: edge scores from an ONNX graph neural network run by onnxruntime;
//! - [`tracks`]: scored edges to track candidates (candidate paths, exclusive assignment, line fit);
//! - [`pipeline`]: the [`pipeline::Tracker`] that chains the stages;
//! - [`ffi`]: the C ABI (`include/gnntrack.h`) over the pipeline;
//! - [`eval`]: track efficiency, fake and duplicate rates against truth, with bootstrap intervals.
//!
//! Units everywhere: mm, GeV, T, ns.

#![warn(missing_docs)]

pub mod eval;
pub mod export;
pub mod features;
pub mod ffi;
pub mod geometry;
pub mod graph;
pub mod hits;
pub mod inference;
pub mod pipeline;
pub mod sim;
pub mod tracks;

/// Version of the library (the crate version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
