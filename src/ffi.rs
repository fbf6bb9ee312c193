//! The C ABI: the whole tracker behind `extern "C"` functions over opaque handles.
//!
//! This module is a thin shell over [`crate::pipeline`]; `build.rs` turns it into
//! `include/gnntrack.h` with cbindgen, and `include/gnntrack.hpp` wraps that header in C++17.
//! No Rust type crosses the boundary: handles are opaque pointers, inputs and outputs are plain
//! `#[repr(C)]` structs, numbers and NUL-terminated UTF-8 strings.
//!
//! Conventions of every function:
//! - it returns a [`gnntrack_status`] (apart from the version queries, the error queries and the
//!   `*_free` functions) and records that status and a message in thread-local storage, read
//!   with [`gnntrack_last_status`] and [`gnntrack_last_error`]; a successful call clears them,
//!   the other functions leave them alone;
//! - it catches panics and reports them as [`gnntrack_status::Panic`]; nothing unwinds into the
//!   caller;
//! - NULL handles or arrays, a zero hit count and invalid values are refused with their own
//!   status and a message naming the argument, field and value;
//! - the caller's arrays are only read, during the call; results own their memory until freed
//!   by their `*_free` function (freeing twice is undefined behaviour);
//! - on failure, output handles are set to NULL;
//! - new status values may appear without an ABI change: hosts treat unknown ones as failures;
//! - a result owns everything it hands out and may outlive its tracker;
//! - onnxruntime is loaded once per process (see [`crate::inference::runtime`]).

#![allow(non_camel_case_types)]

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Once, OnceLock, PoisonError, RwLock};

use crate::graph::GraphError;
use crate::hits::{HitColumns, HitFileFormat, read_hits};
use crate::inference::{InferenceError, RuntimeError};
use crate::pipeline::{Tracker, TrackerConfig, TrackerError};
use crate::tracks::Candidate;

/// Version of the C ABI. It changes whenever a function, a struct or the meaning of a status
/// changes incompatibly; compare it with `gnntrack_abi_version()` after loading the library.
pub const GNNTRACK_ABI_VERSION: u32 = 1;

/// The library version, NUL-terminated.
const VERSION_C: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// Outcome of a call. `GNNTRACK_STATUS_OK` is 0; every other value comes with a message from
/// `gnntrack_last_error()`. Later versions may add values without changing
/// `GNNTRACK_ABI_VERSION`: treat a value this header does not list as a failure (like
/// `GNNTRACK_STATUS_PANIC`) and report `gnntrack_status_name()` and `gnntrack_last_error()`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum gnntrack_status {
    /// Success.
    Ok = 0,
    /// A required pointer (handle, array, string or output) is NULL.
    NullArgument = 1,
    /// No hits were given (`n_hits` = 0). An empty crossing has no tracks: skip the call.
    EmptyInput = 2,
    /// An argument is unusable: a string that is not UTF-8, a misaligned array, an index out of
    /// range, more hits than `max_hits`, a log level out of range.
    InvalidArgument = 3,
    /// A hit is invalid: non-finite coordinate, layer or stave unknown to the geometry, off its
    /// stave, or a duplicate hit id. The message names the hit, field and value.
    InvalidHit = 4,
    /// A configuration key is unknown, a value does not parse or is out of range, or a
    /// configuration file cannot be read or parsed.
    Config = 5,
    /// The geometry preset or file cannot be loaded.
    Geometry = 6,
    /// The model file cannot be read (missing, unreadable).
    ModelUnreadable = 7,
    /// onnxruntime rejects the model file (corrupt, not ONNX).
    ModelInvalid = 8,
    /// The model breaks the model contract (inputs, outputs, metadata, features).
    ModelContract = 9,
    /// No onnxruntime library could be loaded, or its environment could not be created.
    Onnxruntime = 10,
    /// The requested execution provider cannot start.
    Provider = 11,
    /// The window search of the crossing found more edges than `max_edges` (with
    /// `edge_cap = "error"`); it stops there, so this comes fast and with bounded memory.
    TooManyEdges = 12,
    /// The model failed while running or returned unusable scores.
    Inference = 13,
    /// The graph stage failed for a reason other than the hits.
    Graph = 14,
    /// An internal error (a panic) was caught; please report it with the message.
    Panic = 15,
    /// A hit file cannot be read: missing, empty, an unknown header or a bad row (the message
    /// names the file, line, column and value).
    HitFile = 16,
}

impl gnntrack_status {
    fn name(self) -> &'static CStr {
        match self {
            gnntrack_status::Ok => c"GNNTRACK_STATUS_OK",
            gnntrack_status::NullArgument => c"GNNTRACK_STATUS_NULL_ARGUMENT",
            gnntrack_status::EmptyInput => c"GNNTRACK_STATUS_EMPTY_INPUT",
            gnntrack_status::InvalidArgument => c"GNNTRACK_STATUS_INVALID_ARGUMENT",
            gnntrack_status::InvalidHit => c"GNNTRACK_STATUS_INVALID_HIT",
            gnntrack_status::Config => c"GNNTRACK_STATUS_CONFIG",
            gnntrack_status::Geometry => c"GNNTRACK_STATUS_GEOMETRY",
            gnntrack_status::ModelUnreadable => c"GNNTRACK_STATUS_MODEL_UNREADABLE",
            gnntrack_status::ModelInvalid => c"GNNTRACK_STATUS_MODEL_INVALID",
            gnntrack_status::ModelContract => c"GNNTRACK_STATUS_MODEL_CONTRACT",
            gnntrack_status::Onnxruntime => c"GNNTRACK_STATUS_ONNXRUNTIME",
            gnntrack_status::Provider => c"GNNTRACK_STATUS_PROVIDER",
            gnntrack_status::TooManyEdges => c"GNNTRACK_STATUS_TOO_MANY_EDGES",
            gnntrack_status::Inference => c"GNNTRACK_STATUS_INFERENCE",
            gnntrack_status::Graph => c"GNNTRACK_STATUS_GRAPH",
            gnntrack_status::Panic => c"GNNTRACK_STATUS_PANIC",
            gnntrack_status::HitFile => c"GNNTRACK_STATUS_HIT_FILE",
        }
    }

    const ALL: [gnntrack_status; 17] = [
        gnntrack_status::Ok,
        gnntrack_status::NullArgument,
        gnntrack_status::EmptyInput,
        gnntrack_status::InvalidArgument,
        gnntrack_status::InvalidHit,
        gnntrack_status::Config,
        gnntrack_status::Geometry,
        gnntrack_status::ModelUnreadable,
        gnntrack_status::ModelInvalid,
        gnntrack_status::ModelContract,
        gnntrack_status::Onnxruntime,
        gnntrack_status::Provider,
        gnntrack_status::TooManyEdges,
        gnntrack_status::Inference,
        gnntrack_status::Graph,
        gnntrack_status::Panic,
        gnntrack_status::HitFile,
    ];
}

/// Severity of a log message, as passed to a `gnntrack_log_fn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum gnntrack_log_level {
    /// Nothing is logged (only meaningful as a maximum level).
    Off = 0,
    /// Errors.
    Error = 1,
    /// Warnings (for example a model trained with other graph parameters).
    Warn = 2,
    /// Information (onnxruntime found, tracker ready).
    Info = 3,
    /// Debugging detail.
    Debug = 4,
    /// Finest detail.
    Trace = 5,
}

/// A log sink of the host: called with the level, the message (NUL-terminated UTF-8, valid
/// only during the call) and the `user_data` given to `gnntrack_set_log_callback`. It may be
/// called from any thread, also concurrently, and must not unwind (throw) into the library.
pub type gnntrack_log_fn = Option<
    unsafe extern "C" fn(level: gnntrack_log_level, message: *const c_char, user_data: *mut c_void),
>;

/// A tracker configuration (opaque). Created by `gnntrack_config_new`, freed by
/// `gnntrack_config_free`. Not safe to change from several threads at once.
pub struct gnntrack_config {
    inner: TrackerConfig,
}

/// A tracker: geometry, graph settings and loaded model (opaque). Created by
/// `gnntrack_tracker_new`, freed by `gnntrack_tracker_free`. Many threads may call
/// `gnntrack_reconstruct` on one tracker at once.
pub struct gnntrack_tracker {
    inner: Tracker,
    provider: CString,
}

/// The candidates of one reconstruction (opaque). Created by `gnntrack_reconstruct`, freed by
/// `gnntrack_result_free`; read-only, so any thread may read it. It owns all its data and does
/// not refer to the tracker: it may be read and freed after `gnntrack_tracker_free`.
pub struct gnntrack_result {
    offsets: Vec<usize>,
    indices: Vec<u32>,
    fits: Vec<gnntrack_fit>,
    times: gnntrack_times,
    graph: gnntrack_graph_summary,
}

/// The hits of one hit file (opaque), read by `gnntrack_hit_file_read` in either CSV format the
/// command-line tool reads; freed by `gnntrack_hit_file_free`. Read-only.
pub struct gnntrack_hit_file {
    x: Vec<f64>,
    y: Vec<f64>,
    z: Vec<f64>,
    layer: Vec<i32>,
    stave: Vec<i32>,
    hit_id: Vec<u64>,
    particle_id: Option<Vec<u64>>,
    format: &'static CStr,
}

/// The hits of one bunch crossing, as columns owned by the caller; each non-NULL pointer points
/// to `n_hits` values (the count is an argument of `gnntrack_reconstruct`). The library only
/// reads them, during the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct gnntrack_hits {
    /// x, mm.
    pub x: *const f64,
    /// y, mm.
    pub y: *const f64,
    /// z, mm.
    pub z: *const f64,
    /// Layer index from the readout, 0 nearest the interaction point. `int32_t` so that any
    /// value a host decodes can be passed and checked: values the geometry does not know are
    /// refused with `GNNTRACK_STATUS_INVALID_HIT`.
    pub layer: *const i32,
    /// Stave index within the layer (0 inner, 1 outer), checked like `layer`.
    pub stave: *const i32,
    /// Optional caller hit ids, unique within the crossing; NULL uses the hit's index.
    /// Only messages use them: results refer to hits by index.
    pub hit_id: *const u64,
}

/// Straight-line fit of one candidate: x(z) = x0 + tx (z - z0), y(z) = y0 + ty (z - z0).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct gnntrack_fit {
    /// Reference z: the z of the candidate's first (most upstream) hit, mm.
    pub z0: f64,
    /// x at z0, mm.
    pub x0: f64,
    /// y at z0, mm.
    pub y0: f64,
    /// dx/dz.
    pub tx: f64,
    /// dy/dz.
    pub ty: f64,
    /// Covariance of (x0, tx), row-major.
    pub cov_x: [[f64; 2]; 2],
    /// Covariance of (y0, ty), row-major.
    pub cov_y: [[f64; 2]; 2],
    /// Chi-square of both projections.
    pub chi2: f64,
    /// Momentum estimate, GeV (0 when unavailable).
    pub p_estimate: f64,
    /// Degrees of freedom: 2 n_hits - 4.
    pub ndf: i32,
    /// Hits of the candidate.
    pub n_hits: u32,
}

impl From<&Candidate> for gnntrack_fit {
    fn from(c: &Candidate) -> gnntrack_fit {
        let f = &c.fit;
        gnntrack_fit {
            z0: f.z0,
            x0: f.x0,
            y0: f.y0,
            tx: f.tx,
            ty: f.ty,
            cov_x: f.cov_x,
            cov_y: f.cov_y,
            chi2: f.chi2,
            p_estimate: f.p_estimate,
            ndf: f.ndf,
            n_hits: c.hits.len() as u32,
        }
    }
}

/// Wall-clock time of each stage of one reconstruction, seconds.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct gnntrack_times {
    /// Hit validation and graph construction.
    pub graph: f64,
    /// Feature computation.
    pub features: f64,
    /// GNN inference.
    pub inference: f64,
    /// Track building and fits.
    pub tracks: f64,
    /// Sum of the stages.
    pub total: f64,
}

/// Size of the scored graph of one reconstruction.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct gnntrack_graph_summary {
    /// Hits given.
    pub n_hits: usize,
    /// Edges scored.
    pub n_edges: usize,
    /// Edges at or above the cut.
    pub n_edges_kept: usize,
    /// Edge cut applied.
    pub edge_cut: f32,
}

// ---------------------------------------------------------------------------------------------
// Errors, panics and the thread-local last error

/// A failed call: status and message.
struct Failure {
    status: gnntrack_status,
    message: String,
}

impl Failure {
    fn new(status: gnntrack_status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }
}

impl From<TrackerError> for Failure {
    fn from(e: TrackerError) -> Failure {
        Failure::new(status_of(&e), e.to_string())
    }
}

/// The status of a tracker error.
fn status_of(e: &TrackerError) -> gnntrack_status {
    use gnntrack_status as S;
    match e {
        TrackerError::Config(_) => S::Config,
        TrackerError::Geometry(_) => S::Geometry,
        TrackerError::Hit(_) => S::InvalidHit,
        TrackerError::Graph(g) => match g {
            GraphError::UpstreamOfReference { .. } => S::InvalidHit,
            GraphError::Config { .. }
            | GraphError::Toml(_)
            | GraphError::Io { .. }
            | GraphError::InFile { .. } => S::Config,
            GraphError::TooManyEdges { .. } => S::TooManyEdges,
            _ => S::Graph,
        },
        TrackerError::Inference(i) => match i {
            InferenceError::Runtime(
                RuntimeError::NotFound { .. }
                | RuntimeError::Environment { .. }
                | RuntimeError::EarlierFailure { .. },
            ) => S::Onnxruntime,
            InferenceError::Provider { .. } => S::Provider,
            InferenceError::ModelIo { .. } => S::ModelUnreadable,
            InferenceError::ModelLoad { .. } => S::ModelInvalid,
            InferenceError::Contract { .. } => S::ModelContract,
            InferenceError::Input(_)
            | InferenceError::Run { .. }
            | InferenceError::Output { .. } => S::Inference,
        },
        TrackerError::TooManyEdges { .. } => S::TooManyEdges,
        TrackerError::TooManyHits { .. } => S::InvalidArgument,
    }
}

struct LastError {
    status: gnntrack_status,
    message: CString,
}

thread_local! {
    /// The status and message of the thread's last call.
    static LAST_ERROR: RefCell<LastError> = RefCell::new(LastError {
        status: gnntrack_status::Ok,
        message: CString::default(),
    });
}

fn set_last_error(status: gnntrack_status, message: &str) {
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // `try_with`: nothing to record once the thread's storage is gone (thread exit).
    let _ = LAST_ERROR.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = LastError { status, message };
        }
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".to_string());
    format!("internal error (panic): {what}; please report it")
}

/// Runs the body of an entry point: installs the logger, catches panics, records the status and
/// message as the thread's last error and returns the status.
fn guard(body: impl FnOnce() -> Result<(), Failure>) -> gnntrack_status {
    install_logger();
    let (status, message) = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => (gnntrack_status::Ok, String::new()),
        Ok(Err(f)) => (f.status, f.message),
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            // Dropping the payload may itself panic; do it where it cannot escape.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            (gnntrack_status::Panic, message)
        }
    };
    set_last_error(status, &message);
    status
}

/// Frees a handle, catching a panic in its destructor (logged as an error). The thread's last
/// error is left alone, so that a host may free handles before reading it.
fn free_handle<T>(handle: *mut T) {
    if handle.is_null() {
        return;
    }
    install_logger();
    // SAFETY: the handle was made by `Box::into_raw` in this module and, per the contract of
    // the `*_free` functions, is not used again.
    let freed = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(handle) })));
    if let Err(payload) = freed {
        let message = panic_message(payload.as_ref());
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        let _ = catch_unwind(|| log::error!("while freeing a handle: {message}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Argument checks

fn null(name: &str) -> Failure {
    Failure::new(
        gnntrack_status::NullArgument,
        format!("argument `{name}` is NULL"),
    )
}

/// A shared reference from a handle or struct pointer.
///
/// # Safety
/// `ptr` is NULL or points to a live `T`.
unsafe fn arg<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: per the caller's contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| null(name))
}

/// A mutable reference from a handle.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` that nobody else uses during the call.
unsafe fn arg_mut<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: per the caller's contract.
    unsafe { ptr.as_mut() }.ok_or_else(|| null(name))
}

/// A UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string.
unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: per the caller's contract.
    unsafe { CStr::from_ptr(ptr) }.to_str().map_err(|e| {
        Failure::new(
            gnntrack_status::InvalidArgument,
            format!("argument `{name}` is not valid UTF-8: {e}"),
        )
    })
}

/// A column of `n` values.
///
/// # Safety
/// `ptr` is NULL or points to `n` readable values of `T`.
unsafe fn column<'a, T>(ptr: *const T, n: usize, name: &str) -> Result<&'a [T], Failure> {
    if ptr.is_null() {
        return Err(null(&format!("hits->{name}")));
    }
    if !ptr.is_aligned() {
        return Err(Failure::new(
            gnntrack_status::InvalidArgument,
            format!(
                "column `hits->{name}` at {ptr:p} is not aligned to {} bytes",
                std::mem::align_of::<T>()
            ),
        ));
    }
    // SAFETY: non-NULL, aligned and `n` values long per the caller's contract; n is at most
    // u32::MAX, so n * size_of::<T>() fits in isize on 64-bit targets.
    Ok(unsafe { std::slice::from_raw_parts(ptr, n) })
}

/// The start of a slice, or NULL when it is empty (never a dangling pointer).
fn non_dangling<T>(values: &[T]) -> *const T {
    if values.is_empty() {
        std::ptr::null()
    } else {
        values.as_ptr()
    }
}

/// Writes an output value when the pointer is not NULL.
///
/// # Safety
/// `out` is NULL or valid for a write of `T`.
unsafe fn put<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: per the caller's contract.
        unsafe { out.write(value) };
    }
}

// ---------------------------------------------------------------------------------------------
// Logging

/// Where log records go: the host's callback when one is set, else env_logger on stderr.
struct Logger {
    stderr: env_logger::Logger,
    sink: RwLock<Option<Sink>>,
}

#[derive(Clone, Copy)]
struct Sink {
    callback: unsafe extern "C" fn(gnntrack_log_level, *const c_char, *mut c_void),
    user_data: usize,
    level: log::LevelFilter,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();
static LOGGER_INIT: Once = Once::new();

thread_local! {
    /// This thread is inside the host's log callback.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is inside the host's log callback.
fn in_callback() -> bool {
    IN_CALLBACK.try_with(Cell::get).unwrap_or(false)
}

/// The stderr filter: `GNNTRACK_LOG`, else `RUST_LOG`, else warnings and errors.
fn stderr_logger() -> env_logger::Logger {
    let filter = std::env::var("GNNTRACK_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "warn".to_string());
    env_logger::Builder::new()
        .parse_filters(&filter)
        .target(env_logger::Target::Stderr)
        .build()
}

/// Installs the library's logger once per process (unless the process already has one).
fn install_logger() {
    LOGGER_INIT.call_once(|| {
        let logger = LOGGER.get_or_init(|| Logger {
            stderr: stderr_logger(),
            sink: RwLock::new(None),
        });
        if log::set_logger(logger).is_ok() {
            log::set_max_level(logger.stderr.filter());
        }
    });
}

fn level_of(level: log::Level) -> gnntrack_log_level {
    match level {
        log::Level::Error => gnntrack_log_level::Error,
        log::Level::Warn => gnntrack_log_level::Warn,
        log::Level::Info => gnntrack_log_level::Info,
        log::Level::Debug => gnntrack_log_level::Debug,
        log::Level::Trace => gnntrack_log_level::Trace,
    }
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        match *self.sink.read().unwrap_or_else(PoisonError::into_inner) {
            Some(sink) => metadata.level() <= sink.level,
            None => self.stderr.enabled(metadata),
        }
    }

    fn log(&self, record: &log::Record) {
        if !in_callback() {
            // The read lock is held during the callback, so that once
            // `gnntrack_set_log_callback` returns the old callback is no longer running.
            let sink = self.sink.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(sink) = *sink {
                if record.level() <= sink.level {
                    let text = format!("{}", record.args()).replace('\0', "\\0");
                    let message = CString::new(text).unwrap_or_default();
                    let _ = IN_CALLBACK.try_with(|c| c.set(true));
                    // SAFETY: the host gave this callback and user data for this purpose.
                    unsafe {
                        (sink.callback)(
                            level_of(record.level()),
                            message.as_ptr(),
                            sink.user_data as *mut c_void,
                        )
                    };
                    let _ = IN_CALLBACK.try_with(|c| c.set(false));
                }
                return;
            }
        }
        // No callback, or a message logged from inside the callback: stderr.
        if self.stderr.matches(record) {
            self.stderr.log(record);
        }
    }

    fn flush(&self) {
        self.stderr.flush();
    }
}

// ---------------------------------------------------------------------------------------------
// Version and errors

/// The library version, for example `"0.1.0"` (static storage, never freed).
#[unsafe(no_mangle)]
pub extern "C" fn gnntrack_version() -> *const c_char {
    VERSION_C.as_ptr().cast()
}

/// The ABI version of the loaded library. A host compiled against this header should check
/// `gnntrack_abi_version() == GNNTRACK_ABI_VERSION` before any other call.
#[unsafe(no_mangle)]
pub extern "C" fn gnntrack_abi_version() -> u32 {
    GNNTRACK_ABI_VERSION
}

/// The status of the last call on this thread that returns a status
/// (`GNNTRACK_STATUS_OK` when it succeeded).
#[unsafe(no_mangle)]
pub extern "C" fn gnntrack_last_status() -> gnntrack_status {
    LAST_ERROR
        .try_with(|last| last.try_borrow().map_or(gnntrack_status::Ok, |l| l.status))
        .unwrap_or(gnntrack_status::Ok)
}

/// The message of the last call on this thread that returns a status: empty when it succeeded,
/// else what failed, naming the argument, key, field or value. The string belongs to the
/// library and stays valid until the next call of a status-returning function on this thread;
/// never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn gnntrack_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|last| {
            last.try_borrow()
                .map_or(c"".as_ptr(), |l| l.message.as_ptr())
        })
        .unwrap_or(c"".as_ptr())
}

/// The name of a status, for example `"GNNTRACK_STATUS_INVALID_HIT"`, or `"unknown status"`
/// (static storage, never NULL).
#[unsafe(no_mangle)]
pub extern "C" fn gnntrack_status_name(status: i32) -> *const c_char {
    gnntrack_status::ALL
        .iter()
        .find(|s| **s as i32 == status)
        .map_or(c"unknown status".as_ptr(), |s| s.name().as_ptr())
}

/// Routes the library's log messages to `callback` (with `user_data`) instead of stderr,
/// for messages up to `max_level` (a `gnntrack_log_level`, `GNNTRACK_LOG_LEVEL_OFF` to drop
/// everything). `callback` = NULL restores the default: stderr, filtered by the environment
/// variable `GNNTRACK_LOG` (else `RUST_LOG`; env_logger syntax), warnings and errors when unset.
///
/// When this function returns, the previous callback is no longer running and will not be
/// called again. It must not be called from inside the callback (`GNNTRACK_STATUS_INVALID_ARGUMENT`);
/// messages logged while the callback runs on the same thread go to stderr. Fails with
/// `GNNTRACK_STATUS_INVALID_ARGUMENT` when another logging system of the process (a Rust host)
/// was installed first.
#[unsafe(no_mangle)]
pub extern "C" fn gnntrack_set_log_callback(
    callback: gnntrack_log_fn,
    user_data: *mut c_void,
    max_level: i32,
) -> gnntrack_status {
    guard(|| {
        if in_callback() {
            return Err(Failure::new(
                gnntrack_status::InvalidArgument,
                "gnntrack_set_log_callback called from inside the log callback",
            ));
        }
        let level = match max_level {
            0 => log::LevelFilter::Off,
            1 => log::LevelFilter::Error,
            2 => log::LevelFilter::Warn,
            3 => log::LevelFilter::Info,
            4 => log::LevelFilter::Debug,
            5 => log::LevelFilter::Trace,
            other => {
                return Err(Failure::new(
                    gnntrack_status::InvalidArgument,
                    format!("argument `max_level` = {other}: expected 0 (off) to 5 (trace)"),
                ));
            }
        };
        let logger = LOGGER.get().ok_or_else(|| {
            Failure::new(gnntrack_status::InvalidArgument, "the logger is not ready")
        })?;
        let ours = std::ptr::addr_eq(
            log::logger() as *const dyn log::Log,
            logger as *const Logger,
        );
        if !ours {
            return Err(Failure::new(
                gnntrack_status::InvalidArgument,
                "another logger is installed in this process; gnntrack logs through it",
            ));
        }
        let mut sink = logger.sink.write().unwrap_or_else(PoisonError::into_inner);
        *sink = callback.map(|callback| Sink {
            callback,
            user_data: user_data as usize,
            level,
        });
        log::set_max_level(match *sink {
            Some(s) => s.level,
            None => logger.stderr.filter(),
        });
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Configuration

/// Creates a configuration with every key at its default (geometry `luxe`, the bundled model,
/// the CPU provider) and stores it in `*out`; free it with `gnntrack_config_free`.
///
/// # Safety
/// `out` is NULL (refused) or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_config_new(out: *mut *mut gnntrack_config) -> gnntrack_status {
    // SAFETY: per the function's contract.
    unsafe { put(out, std::ptr::null_mut()) };
    guard(|| {
        if out.is_null() {
            return Err(null("out"));
        }
        let config = Box::new(gnntrack_config {
            inner: TrackerConfig::default(),
        });
        // SAFETY: checked non-NULL above.
        unsafe { out.write(Box::into_raw(config)) };
        Ok(())
    })
}

/// Frees a configuration; NULL is ignored. Freeing twice is undefined behaviour.
///
/// # Safety
/// `config` is NULL or a live configuration, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_config_free(config: *mut gnntrack_config) {
    free_handle(config);
}

/// Sets one key (dotted path, for example `"tracks.min_hits"`, `"inference.provider"`,
/// `"max_edges"`) from its text, as steering parameters of a host framework arrive. The keys are
/// those of the configuration TOML: `geometry`, `model`, `max_hits`, `max_edges`, `edge_cap`,
/// `hits.*`, `graph.*`, `inference.*` (`provider`, `device_id`, `intra_threads`, `pool_size`,
/// `library.path`, `library.search`) and `tracks.*`; `gnntrack_config_to_toml` prints them all
/// with their values. The text is
/// read as a TOML value when it is one (`4`, `0.5`, `true`, `[1, 2]`), else as a string.
/// An unknown key or a value of the wrong type or range gives `GNNTRACK_STATUS_CONFIG` with the
/// key and value; the configuration is then unchanged.
///
/// # Safety
/// `config` is NULL or a live configuration; `key` and `value` are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_config_set(
    config: *mut gnntrack_config,
    key: *const c_char,
    value: *const c_char,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let (config, key, value) = unsafe {
            (
                arg_mut(config, "config")?,
                str_arg(key, "key")?,
                str_arg(value, "value")?,
            )
        };
        config.inner.set(key, value)?;
        Ok(())
    })
}

/// Replaces the whole configuration by a TOML file's (keys it does not set get their
/// defaults). An unreadable file, a TOML error, an unknown key or a bad value gives
/// `GNNTRACK_STATUS_CONFIG`; the configuration is then unchanged.
///
/// # Safety
/// `config` is NULL or a live configuration; `path` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_config_load_file(
    config: *mut gnntrack_config,
    path: *const c_char,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let (config, path) = unsafe { (arg_mut(config, "config")?, str_arg(path, "path")?) };
        config.inner = TrackerConfig::from_toml_file(Path::new(path))?;
        Ok(())
    })
}

/// Replaces the whole configuration by the one in a TOML text (keys it does not set get their
/// defaults). Errors as for `gnntrack_config_load_file`.
///
/// # Safety
/// `config` is NULL or a live configuration; `toml` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_config_load_string(
    config: *mut gnntrack_config,
    toml: *const c_char,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let (config, toml) = unsafe { (arg_mut(config, "config")?, str_arg(toml, "toml")?) };
        config.inner = TrackerConfig::from_toml_str(toml)?;
        Ok(())
    })
}

/// Writes the configuration as TOML into `buffer` like `snprintf`: at most `capacity - 1`
/// bytes and a NUL (nothing when `capacity` is 0, and then `buffer` may be NULL), and the full
/// length without the NUL into `*length` (when `length` is not NULL). Call with `capacity` 0
/// to learn the size.
///
/// # Safety
/// `config` is NULL or a live configuration; `buffer` is valid for `capacity` bytes;
/// `length` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_config_to_toml(
    config: *const gnntrack_config,
    buffer: *mut c_char,
    capacity: usize,
    length: *mut usize,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let config = unsafe { arg(config, "config")? };
        if buffer.is_null() && capacity > 0 {
            return Err(null("buffer"));
        }
        let text = config.inner.to_toml();
        if capacity > 0 {
            let n = text.len().min(capacity - 1);
            // SAFETY: `buffer` holds `capacity` > n bytes per the contract.
            unsafe {
                std::ptr::copy_nonoverlapping(text.as_ptr(), buffer.cast::<u8>(), n);
                buffer.add(n).write(0);
            }
        }
        // SAFETY: per the function's contract.
        unsafe { put(length, text.len()) };
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Tracker

/// Creates a tracker from a configuration (which is copied: it may be freed or changed
/// afterwards): loads the geometry, finds onnxruntime, loads the model and checks its contract,
/// starts the execution provider. Stores it in `*out`; free it with `gnntrack_tracker_free`.
///
/// onnxruntime is loaded by the first tracker that finds a library (`inference.library.path`,
/// `ORT_DYLIB_PATH`, one installed beside libgnntrack, a Python package, the dynamic loader) and
/// serves every tracker of the process
/// from then on; one that names another path gets the loaded library and a logged warning. A
/// call that finds no library loads nothing, so a later call may search again (for example
/// with another `inference.library.path`).
///
/// Errors: `GNNTRACK_STATUS_CONFIG`, `_GEOMETRY`, `_MODEL_UNREADABLE` (missing model file),
/// `_MODEL_INVALID` (corrupt), `_MODEL_CONTRACT`, `_ONNXRUNTIME` (no onnxruntime library could
/// be loaded, the message listing every candidate tried; or a library loaded by an earlier call
/// could not start its environment, which is final for the process), `_PROVIDER`.
///
/// # Safety
/// `config` is NULL or a live configuration; `out` is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_tracker_new(
    config: *const gnntrack_config,
    out: *mut *mut gnntrack_tracker,
) -> gnntrack_status {
    // SAFETY: per the function's contract.
    unsafe { put(out, std::ptr::null_mut()) };
    guard(|| {
        // SAFETY: per the function's contract.
        let config = unsafe { arg(config, "config")? };
        if out.is_null() {
            return Err(null("out"));
        }
        let tracker = Tracker::new(config.inner.clone())?;
        let provider = CString::new(
            tracker
                .classifier()
                .provider()
                .to_string()
                .replace('\0', ""),
        )
        .unwrap_or_default();
        let handle = Box::new(gnntrack_tracker {
            inner: tracker,
            provider,
        });
        // SAFETY: checked non-NULL above.
        unsafe { out.write(Box::into_raw(handle)) };
        Ok(())
    })
}

/// Frees a tracker; NULL is ignored. No `gnntrack_reconstruct` call on it may still be running.
/// Freeing twice is undefined behaviour.
///
/// # Safety
/// `tracker` is NULL or a live tracker, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_tracker_free(tracker: *mut gnntrack_tracker) {
    free_handle(tracker);
}

/// The execution provider in use, for example `"CPU"`, `"CUDA device 0"` or
/// `"CPU (CUDA unavailable: ...)"`, stored in `*provider`; the string belongs to the tracker.
///
/// # Safety
/// `tracker` is NULL or a live tracker; `provider` is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_tracker_provider(
    tracker: *const gnntrack_tracker,
    provider: *mut *const c_char,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let tracker = unsafe { arg(tracker, "tracker")? };
        if provider.is_null() {
            return Err(null("provider"));
        }
        // SAFETY: checked non-NULL above.
        unsafe { provider.write(tracker.provider.as_ptr()) };
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Reconstruction

/// Reconstructs one bunch crossing: `n_hits` hits in the columns of `*hits` (read only during
/// the call). On success stores the candidates in `*out`; free them with `gnntrack_result_free`.
/// Many threads may call this at once on one tracker.
///
/// Errors: `GNNTRACK_STATUS_NULL_ARGUMENT` (tracker, hits, a required column or out is NULL),
/// `_EMPTY_INPUT` (`n_hits` = 0), `_INVALID_ARGUMENT` (more than `max_hits` hits, a misaligned
/// column), `_INVALID_HIT` (the first invalid hit: NaN or infinite coordinate, layer or stave
/// the geometry does not know, hit off its stave, duplicate hit id), `_TOO_MANY_EDGES` (the
/// search found more than `max_edges` edges), `_INFERENCE`.
///
/// # Safety
/// `tracker` is NULL or a live tracker; `hits` is NULL or points to a `gnntrack_hits` whose
/// non-NULL columns hold `n_hits` values each; `out` is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_reconstruct(
    tracker: *const gnntrack_tracker,
    hits: *const gnntrack_hits,
    n_hits: usize,
    out: *mut *mut gnntrack_result,
) -> gnntrack_status {
    // SAFETY: per the function's contract.
    unsafe { put(out, std::ptr::null_mut()) };
    guard(|| {
        // SAFETY: per the function's contract.
        let (tracker, columns) = unsafe { (arg(tracker, "tracker")?, arg(hits, "hits")?) };
        if out.is_null() {
            return Err(null("out"));
        }
        if n_hits == 0 {
            return Err(Failure::new(
                gnntrack_status::EmptyInput,
                "no hits (`n_hits` = 0): an empty crossing has no track candidates",
            ));
        }
        if n_hits > u32::MAX as usize {
            return Err(Failure::new(
                gnntrack_status::InvalidArgument,
                format!("`n_hits` = {n_hits}: at most 4294967295 hits per crossing"),
            ));
        }
        let tracker_ref = &tracker.inner;
        // Before copying anything.
        tracker_ref.check_hit_count(n_hits)?;
        // SAFETY: the columns hold `n_hits` values per the function's contract.
        let (x, y, z, layer, stave) = unsafe {
            (
                column(columns.x, n_hits, "x")?,
                column(columns.y, n_hits, "y")?,
                column(columns.z, n_hits, "z")?,
                column(columns.layer, n_hits, "layer")?,
                column(columns.stave, n_hits, "stave")?,
            )
        };
        let hit_id = if columns.hit_id.is_null() {
            None
        } else {
            // SAFETY: as above.
            Some(unsafe { column(columns.hit_id, n_hits, "hit_id")? })
        };
        let reco = tracker_ref.reconstruct_columns(&HitColumns {
            hit_id,
            x,
            y,
            z,
            layer,
            stave,
        })?;

        let mut offsets = Vec::with_capacity(reco.candidates.len() + 1);
        offsets.push(0);
        let mut indices = Vec::new();
        let mut fits = Vec::with_capacity(reco.candidates.len());
        for c in &reco.candidates {
            indices.extend_from_slice(&c.hits);
            offsets.push(indices.len());
            fits.push(gnntrack_fit::from(c));
        }
        let t = reco.times;
        let result = Box::new(gnntrack_result {
            offsets,
            indices,
            fits,
            times: gnntrack_times {
                graph: t.graph,
                features: t.features,
                inference: t.inference,
                tracks: t.tracks,
                total: t.total(),
            },
            graph: gnntrack_graph_summary {
                n_hits,
                n_edges: reco.graph.len(),
                n_edges_kept: reco.kept_edges(),
                edge_cut: reco.edge_cut,
            },
        });
        // SAFETY: checked non-NULL above.
        unsafe { out.write(Box::into_raw(result)) };
        Ok(())
    })
}

/// Frees a result; NULL is ignored. Freeing a result twice is undefined behaviour (as for
/// `free`): set the pointer to NULL after freeing it.
///
/// # Safety
/// `result` is NULL or a live result, not used afterwards (nor the arrays it handed out).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_result_free(result: *mut gnntrack_result) {
    free_handle(result);
}

/// Stores the number of track candidates in `*count`.
///
/// # Safety
/// `result` is NULL or a live result; `count` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_result_candidate_count(
    result: *const gnntrack_result,
    count: *mut usize,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let result = unsafe { arg(result, "result")? };
        if count.is_null() {
            return Err(null("count"));
        }
        // SAFETY: checked non-NULL above.
        unsafe { count.write(result.fits.len()) };
        Ok(())
    })
}

/// The hits of every candidate in compressed form: `*offsets` points to `count + 1` offsets
/// (the first is 0) and `*indices` to `offsets[count]` hit indices, so that candidate `i` has
/// the hits `indices[offsets[i]] .. indices[offsets[i + 1] - 1]`, ordered by z. An index
/// refers to the position of the hit in the caller's columns. Both arrays belong to the result.
/// A result without candidates gives `*offsets` pointing to the single offset 0 and
/// `*indices` = NULL.
///
/// # Safety
/// `result` is NULL or a live result; `offsets` and `indices` are NULL or valid for writing a
/// pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_result_hit_indices(
    result: *const gnntrack_result,
    offsets: *mut *const usize,
    indices: *mut *const u32,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let result = unsafe { arg(result, "result")? };
        if offsets.is_null() {
            return Err(null("offsets"));
        }
        if indices.is_null() {
            return Err(null("indices"));
        }
        // SAFETY: checked non-NULL above.
        unsafe {
            offsets.write(result.offsets.as_ptr());
            indices.write(non_dangling(&result.indices));
        }
        Ok(())
    })
}

/// The hits of candidate `candidate`: `*indices` points to `*n_hits` hit indices (positions in
/// the caller's columns, ordered by z), owned by the result. An index at or above the count
/// gives `GNNTRACK_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `result` is NULL or a live result; `indices` and `n_hits` are NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_result_candidate_hits(
    result: *const gnntrack_result,
    candidate: usize,
    indices: *mut *const u32,
    n_hits: *mut usize,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let result = unsafe { arg(result, "result")? };
        if indices.is_null() {
            return Err(null("indices"));
        }
        if n_hits.is_null() {
            return Err(null("n_hits"));
        }
        let count = result.fits.len();
        if candidate >= count {
            return Err(Failure::new(
                gnntrack_status::InvalidArgument,
                format!("argument `candidate` = {candidate}: the result has {count} candidates"),
            ));
        }
        let (a, b) = (result.offsets[candidate], result.offsets[candidate + 1]);
        // SAFETY: checked non-NULL above; a <= b <= indices.len().
        unsafe {
            indices.write(result.indices.as_ptr().add(a));
            n_hits.write(b - a);
        }
        Ok(())
    })
}

/// The fitted parameters of every candidate: `*fits` points to `count` structs, owned by the
/// result; NULL when the result has no candidates.
///
/// # Safety
/// `result` is NULL or a live result; `fits` is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_result_fits(
    result: *const gnntrack_result,
    fits: *mut *const gnntrack_fit,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let result = unsafe { arg(result, "result")? };
        if fits.is_null() {
            return Err(null("fits"));
        }
        // SAFETY: checked non-NULL above.
        unsafe { fits.write(non_dangling(&result.fits)) };
        Ok(())
    })
}

/// Copies the per-stage times of the reconstruction into `*times`.
///
/// # Safety
/// `result` is NULL or a live result; `times` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_result_times(
    result: *const gnntrack_result,
    times: *mut gnntrack_times,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let result = unsafe { arg(result, "result")? };
        if times.is_null() {
            return Err(null("times"));
        }
        // SAFETY: checked non-NULL above.
        unsafe { times.write(result.times) };
        Ok(())
    })
}

/// Copies the size of the scored graph (hits, edges, edges kept, cut) into `*summary`.
///
/// # Safety
/// `result` is NULL or a live result; `summary` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_result_graph(
    result: *const gnntrack_result,
    summary: *mut gnntrack_graph_summary,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let result = unsafe { arg(result, "result")? };
        if summary.is_null() {
            return Err(null("summary"));
        }
        // SAFETY: checked non-NULL above.
        unsafe { summary.write(result.graph) };
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Hit files

/// Reads a hit file in the project format (`gnntrack simulate`) or the LUXE format (recognised
/// from the header; LUXE positions in metres and energies in MeV are converted, every LUXE hit
/// gets stave 0, as the command-line tool reads them) and stores it in `*out`; free it with
/// `gnntrack_hit_file_free`. A missing or empty file, an unknown header or a bad row gives
/// `GNNTRACK_STATUS_HIT_FILE` with the file, line, column and value.
///
/// # Safety
/// `path` is NULL or NUL-terminated; `out` is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_hit_file_read(
    path: *const c_char,
    out: *mut *mut gnntrack_hit_file,
) -> gnntrack_status {
    // SAFETY: per the function's contract.
    unsafe { put(out, std::ptr::null_mut()) };
    guard(|| {
        // SAFETY: per the function's contract.
        let path = unsafe { str_arg(path, "path")? };
        if out.is_null() {
            return Err(null("out"));
        }
        let (hits, format) = read_hits(Path::new(path))
            .map_err(|e| Failure::new(gnntrack_status::HitFile, crate::clip(&e.to_string())))?;
        let file = Box::new(gnntrack_hit_file {
            layer: hits.layer.iter().map(|&l| i32::from(l)).collect(),
            stave: hits.stave.iter().map(|&s| i32::from(s)).collect(),
            particle_id: hits.truth.as_ref().map(|t| t.particle_id.clone()),
            x: hits.x,
            y: hits.y,
            z: hits.z,
            hit_id: hits.hit_id,
            format: match format {
                HitFileFormat::Project => c"project",
                HitFileFormat::Luxe => c"luxe",
            },
        });
        // SAFETY: checked non-NULL above.
        unsafe { out.write(Box::into_raw(file)) };
        Ok(())
    })
}

/// Frees a hit file; NULL is ignored. Freeing twice is undefined behaviour.
///
/// # Safety
/// `file` is NULL or a live hit file, not used afterwards (nor the columns it handed out).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_hit_file_free(file: *mut gnntrack_hit_file) {
    free_handle(file);
}

/// The hits of a hit file as columns for `gnntrack_reconstruct`: stores them in `*columns`
/// (every column set, `hit_id` the file's ids) and their number in `*n_hits`. `particle_id`, when
/// not NULL, receives the true particle of each hit (0: noise), or NULL when the file has no
/// truth. `format`, when not NULL, receives `"project"` or `"luxe"` (static storage). The arrays
/// belong to the hit file.
///
/// # Safety
/// `file` is NULL or a live hit file; `columns` and `n_hits` are NULL or valid for writing;
/// `particle_id` and `format` are NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_hit_file_columns(
    file: *const gnntrack_hit_file,
    columns: *mut gnntrack_hits,
    n_hits: *mut usize,
    particle_id: *mut *const u64,
    format: *mut *const c_char,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let file = unsafe { arg(file, "file")? };
        if columns.is_null() {
            return Err(null("columns"));
        }
        if n_hits.is_null() {
            return Err(null("n_hits"));
        }
        // SAFETY: checked non-NULL above; the optional outputs are NULL or writable.
        unsafe {
            columns.write(gnntrack_hits {
                x: non_dangling(&file.x),
                y: non_dangling(&file.y),
                z: non_dangling(&file.z),
                layer: non_dangling(&file.layer),
                stave: non_dangling(&file.stave),
                hit_id: non_dangling(&file.hit_id),
            });
            n_hits.write(file.x.len());
            put(
                particle_id,
                file.particle_id
                    .as_deref()
                    .map_or(std::ptr::null(), non_dangling),
            );
            put(format, file.format.as_ptr());
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_cover_every_status() {
        for (i, s) in gnntrack_status::ALL.iter().enumerate() {
            assert_eq!(*s as i32, i as i32);
            // SAFETY: static NUL-terminated strings.
            let name = unsafe { CStr::from_ptr(gnntrack_status_name(i as i32)) };
            assert!(name.to_str().unwrap().starts_with("GNNTRACK_STATUS_"));
        }
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(gnntrack_status_name(99)) };
        assert_eq!(unknown.to_str().unwrap(), "unknown status");
    }

    #[test]
    fn a_panic_becomes_a_status() {
        let status = guard(|| panic!("boom"));
        assert_eq!(status, gnntrack_status::Panic);
        // SAFETY: the thread's last error string.
        let message = unsafe { CStr::from_ptr(gnntrack_last_error()) };
        assert!(message.to_str().unwrap().contains("boom"));
        assert_eq!(guard(|| Ok(())), gnntrack_status::Ok);
        assert_eq!(gnntrack_last_status(), gnntrack_status::Ok);
    }
}
