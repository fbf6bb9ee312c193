//! gnntrack: graph-neural-network track finding for the LUXE positron tracker.
//!
//! The pipeline has one module per stage:
//! - [`geometry`]: the detector (layers of planar staves of chips);
//! - [`hits`]: the hits of one bunch crossing, their validation and CSV input/output;
//! - [`sim`]: a fast simulation of LUXE bunch crossings, validated against a real one;
//! - [`inference`]: edge scores from an ONNX graph neural network run by onnxruntime.
//!
//! Units everywhere: mm, GeV, T, ns.

#![warn(missing_docs)]

pub mod geometry;
pub mod hits;
pub mod inference;
pub mod sim;

/// Version of the library (the crate version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
