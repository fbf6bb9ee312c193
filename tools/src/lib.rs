//! gnntrack-tools: everything around the `gnntrack` library that a host (a Marlin job, a C or
//! C++ program) never needs:
//! - [`sim`]: a fast simulation of LUXE bunch crossings, validated against a real one;
//! - [`eval`]: track efficiency, fake and duplicate rates against truth, with bootstrap intervals;
//! - [`export`]: training export (one NumPy archive per crossing and a JSON manifest);
//! - [`perf`]: the machine's limits (peak FLOP rate, memory bandwidth), the model's FLOP count
//!   and power-law fits, for `gnntrack bench`.
//!
//! The `gnntrack` command (`src/main.rs`, `src/cli/`) is built on these and the library.
//!
//! Units everywhere: mm, GeV, T, ns.

#![warn(missing_docs)]

pub mod eval;
pub mod export;
pub mod perf;
pub mod sim;
