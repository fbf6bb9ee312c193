//! Edge scoring with an exported ONNX graph neural network, run by onnxruntime.
//!
//! # onnxruntime
//!
//! onnxruntime is loaded at run time (the `ort` crate with `load-dynamic`): the library builds and
//! links without it, and nothing is downloaded at build time. [`runtime`] finds
//! `libonnxruntime.so` in this order and keeps the first that loads:
//!
//! 1. the path in the configuration ([`LibrarySearch::path`]);
//! 2. the environment variable `ORT_DYLIB_PATH`;
//! 3. installed beside gnntrack: a `libonnxruntime.so*` in the folder of the gnntrack library (or
//!    of the program it is linked into) or in the `lib` folder next to it, where `cmake
//!    --install` puts the one given as `GNNTRACK_ONNXRUNTIME_LIBRARY`;
//! 4. the Python package `onnxruntime` or `onnxruntime-gpu`
//!    (`onnxruntime/capi/libonnxruntime.so.*`), looked for in the virtual environments
//!    `$VIRTUAL_ENV` and `.venv` (in the working directory, the executable's directory or one of
//!    their parents), then where `python3` imports it from, then in the usual user and system
//!    site-packages folders;
//! 5. the system names `libonnxruntime.so` and `libonnxruntime.so.1` (the dynamic loader's
//!    search path, and the executable's directory).
//!
//! Steps 3 to 5 can be switched off ([`LibrarySearch::search`]). When nothing loads, the error
//! lists every candidate with the reason it failed, and nothing is loaded: a later call searches
//! again with its own settings. onnxruntime allows one library and one environment per process,
//! even after the first is dropped: the first library that loads decides, and later calls get the
//! same runtime (or, when its environment could not be created, the same error).
//!
//! # Execution providers
//!
//! [`Provider::Cpu`], [`Provider::Cuda`] or [`Provider::Auto`], with a CUDA device id and a number
//! of intra-op threads. `cuda` that cannot start (onnxruntime built without CUDA, no driver, no
//! device, missing CUDA libraries) is an error carrying onnxruntime's reason; `auto` tries CUDA and
//! falls back to the CPU with a warning saying why. onnxruntime's own fallback is silent, so the
//! CUDA provider is registered with "error on failure" and the provider in use is reported by
//! [`EdgeClassifier::provider`] and an info log line.
//!
//! # Model contract
//!
//! `models/README.md` has the full contract; [`contract`] checks it at load time. In short: a float32
//! node-feature input `[N, Fn]`, an int64 `edge_index` `[2, E]` (row 0 sources, row 1 targets), an
//! optional float32 edge-feature input `[E, Fe]`, and one float32 output `[E]` or `[E, 1]`; the
//! input and output names are read from the model; `metadata_props` keys `gnntrack.*` name the
//! features with their scales, say whether the output is logits or probabilities and carry the
//! recommended cut, the graph parameters of training and a model name and version.
//!
//! # Generic graph models
//!
//! [`GraphModel`] runs any graph network with node-, edge- or graph-level outputs on graphs its
//! caller builds (several small graphs at once, told apart by a graph index), for hosts of the C
//! API and for stages of the tracker. Its contract (metadata `gnntrack.output_level`,
//! `gnntrack.node_width`, ...) is checked by [`contract`] beside the edge classifier's; each
//! loader refuses a model of the other kind. Both kinds share the code that opens sessions,
//! chooses the provider and keeps the pool.
//!
//! # Concurrency: the session pool
//!
//! `ort` runs a session through `&mut Session` (parts of onnxruntime are not thread-safe), yet
//! many threads may call [`EdgeClassifier::score`] on one classifier at once. The classifier holds
//! a bounded pool of sessions of the same model:
//!
//! - one session is created at load time (it checks the model and the provider);
//! - a call takes an idle session, or creates a new one when all are busy and fewer than
//!   [`InferenceConfig::pool_size`] exist (default: the number of CPUs, at most 4), or else waits
//!   for one to come back;
//! - the lock is held only to take or return a session, never while a session runs, so calls
//!   run in parallel up to the pool size;
//! - the sessions share their pre-packed weights; each has its own intra-op thread pool of
//!   [`InferenceConfig::intra_threads`] threads, so up to `pool_size x intra_threads` threads
//!   compute at once.
//!
//! # Large graphs in parts
//!
//! On the CPU, a model that declares its receptive field (`gnntrack.receptive_hops`) scores a
//! graph of more than [`InferenceConfig::part_edges`] edges in parts: whole connected
//! components, or slices of a large component with a halo of the declared depth, each run on
//! its own session with one intra-op thread, side by side on the current rayon pool. The scores
//! are those of one run over the whole graph (each hit sums its messages in the same order);
//! the parts only keep the intermediate tensors in the caches and the cores busy.

pub mod contract;
mod dense;
mod engine;
mod graph_model;
mod kernels;
mod partition;
mod pool;
mod runtime;
mod session;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::error::ErrorKind;

/// The feature types of the contract, defined with the features in [`crate::features`].
pub use crate::features::{FeatureKind, FeatureSpec, FeatureTable};
pub use contract::{ContractError, InputNames, METADATA_KEYS, ModelInfo, OutputKind};
pub use engine::ActiveProvider;
pub use graph_model::{
    GraphInput, GraphModel, GraphModelInfo, GraphOutput, GraphOutputKind, OutputLevel,
};
pub use runtime::{
    CandidateSource, LibraryCandidate, LoadAttempt, OnnxRuntime, RuntimeError, library_candidates,
    runtime,
};
pub use session::{EdgeClassifier, EdgeIndex};

pub(crate) use runtime::installed_folders;

/// Which execution provider runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// The CPU provider.
    #[default]
    Cpu,
    /// The CUDA provider; an error when it cannot start.
    Cuda,
    /// CUDA when it starts, else the CPU (with a warning saying why).
    Auto,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::Auto => "auto",
        })
    }
}

impl FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Provider::Cpu),
            "cuda" => Ok(Provider::Cuda),
            "auto" => Ok(Provider::Auto),
            other => Err(format!(
                "unknown execution provider `{other}`: expected cpu, cuda or auto"
            )),
        }
    }
}

/// What to do when the graph parameters a model was trained with differ from the tracker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphMismatch {
    /// Log a warning listing the differences and use the model.
    #[default]
    Warn,
    /// Refuse the model ([`ContractError::GraphMismatch`]).
    Error,
}

/// Where to look for the onnxruntime shared library (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LibrarySearch {
    /// Path of `libonnxruntime.so`, tried first.
    pub path: Option<PathBuf>,
    /// After the configured path and `ORT_DYLIB_PATH`, also look beside the gnntrack library, in
    /// Python packages and under the system names (default true).
    pub search: bool,
}

impl Default for LibrarySearch {
    fn default() -> Self {
        LibrarySearch {
            path: None,
            search: true,
        }
    }
}

/// Settings of the inference stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InferenceConfig {
    /// Where to find onnxruntime.
    pub library: LibrarySearch,
    /// Execution provider.
    pub provider: Provider,
    /// CUDA device id (for `cuda` and `auto`).
    pub device_id: i32,
    /// Intra-op threads per session; 0 chooses: one when graphs are scored in parts (see
    /// [`part_edges`](Self::part_edges); the parts run in parallel instead), else onnxruntime's
    /// default (one per physical core).
    pub intra_threads: usize,
    /// Let idle intra-op threads spin for more work (faster back-to-back runs, but they keep
    /// cores busy that the other stages of the pipeline could use). Default false.
    pub intra_spinning: bool,
    /// onnxruntime's memory pattern: plan the buffers of a run from the previous run of the same
    /// input shapes. Crossings differ in size, so the plans only pile up (at xi = 7 the peak
    /// memory goes from about 210 to 230 MiB with the graph scored in parts, from 450 to 740 MiB
    /// in one run, for a few per cent of inference time). Default false.
    pub memory_pattern: bool,
    /// Most sessions of one model alive at once; 0 means the default, the number of CPUs capped
    /// at 4.
    pub pool_size: usize,
    /// Reaction to graph parameters that differ from the tracker's.
    pub graph_mismatch: GraphMismatch,
    /// On the CPU, a graph of more edges than this, scored by a model that declares its
    /// receptive field (`gnntrack.receptive_hops`), is scored in parts of about this many edges,
    /// side by side on the current rayon pool, with the same scores as one run over the whole
    /// graph (see `partition`); 0 scores every graph in one run. Default 4096.
    pub part_edges: usize,
    /// Register the kernels of the `gnntrack` operator domain on CPU sessions (see `kernels`):
    /// a model rewritten into those operators then runs them instead of their function bodies
    /// in standard operators, with the same scores bit for bit (the default model's inference
    /// about 25 % faster). False runs the bodies, as any other host does. Default true.
    pub gnntrack_kernels: bool,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        InferenceConfig {
            library: LibrarySearch::default(),
            provider: Provider::Cpu,
            device_id: 0,
            intra_threads: 0,
            intra_spinning: false,
            memory_pattern: false,
            pool_size: 0,
            graph_mismatch: GraphMismatch::Warn,
            part_edges: DEFAULT_PART_EDGES,
            gnntrack_kernels: true,
        }
    }
}

/// Default of [`InferenceConfig::part_edges`]: parts whose intermediate tensors stay in the
/// caches and enough of them at xi = 5 (13) to keep two cores busy; at xi = 7 the halo rule
/// doubles them to 16 k edges (see `partition`).
pub const DEFAULT_PART_EDGES: usize = 4096;

impl InferenceConfig {
    /// The pool size in effect: [`pool_size`](Self::pool_size), or when 0 the number of CPUs
    /// capped at 4.
    pub fn effective_pool_size(&self) -> usize {
        if self.pool_size > 0 {
            self.pool_size
        } else {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(4)
        }
    }
}

/// An error of the inference stage.
#[derive(Debug, Clone, Error)]
pub enum InferenceError {
    /// onnxruntime could not be loaded or started.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The requested execution provider cannot run the model.
    #[error("execution provider `{requested}` cannot start: {reason}")]
    Provider {
        /// The provider asked for.
        requested: Provider,
        /// Why it failed (onnxruntime's message).
        reason: String,
    },
    /// The model file could not be read.
    #[error("cannot read model {model}: {reason}")]
    ModelIo {
        /// The model file.
        model: String,
        /// The I/O error.
        reason: String,
    },
    /// onnxruntime rejected the model.
    #[error("onnxruntime cannot load model {model}: {reason}")]
    ModelLoad {
        /// The model file or label.
        model: String,
        /// onnxruntime's message.
        reason: String,
    },
    /// The model breaks the model contract.
    #[error("model {model}: {problem}")]
    Contract {
        /// The model file or label.
        model: String,
        /// What is wrong.
        problem: ContractError,
    },
    /// The arguments of a scoring call are inconsistent.
    #[error("bad inference input: {0}")]
    Input(String),
    /// onnxruntime failed while running the model.
    #[error("model {model} failed to run: {reason}")]
    Run {
        /// The model file or label.
        model: String,
        /// onnxruntime's message.
        reason: String,
    },
    /// The model ran but its output is unusable.
    #[error("model {model} output: {reason}")]
    Output {
        /// The model file or label.
        model: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl InferenceError {
    /// The kind of the error: [`ErrorKind::Onnxruntime`], [`ErrorKind::Provider`],
    /// [`ErrorKind::ModelUnreadable`] (the file), [`ErrorKind::ModelInvalid`] (onnxruntime
    /// rejects it), [`ErrorKind::ModelContract`], [`ErrorKind::InvalidArgument`] for input that
    /// does not fit the model, or [`ErrorKind::Inference`] for a failed run.
    pub fn kind(&self) -> ErrorKind {
        match self {
            InferenceError::Runtime(e) => e.kind(),
            InferenceError::Provider { .. } => ErrorKind::Provider,
            InferenceError::ModelIo { .. } => ErrorKind::ModelUnreadable,
            InferenceError::ModelLoad { .. } => ErrorKind::ModelInvalid,
            InferenceError::Contract { .. } => ErrorKind::ModelContract,
            InferenceError::Input(_) => ErrorKind::InvalidArgument,
            InferenceError::Run { .. } | InferenceError::Output { .. } => ErrorKind::Inference,
        }
    }
}
