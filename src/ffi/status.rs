//! Status codes: one per [`ErrorKind`], the table between them, and the thread's last status
//! and message.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};

use crate::error::ErrorKind;
use crate::hits::ReadError;
use crate::inference::InferenceError;
use crate::pipeline::TrackerError;

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
    /// range, more hits than `max_hits`, a log level out of range, graph-model input that does
    /// not fit the model (widths, edge or graph index, non-finite features).
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

impl From<ErrorKind> for gnntrack_status {
    /// The status of an error kind: one status per kind, [`gnntrack_status::Panic`] for
    /// [`ErrorKind::Internal`].
    fn from(kind: ErrorKind) -> gnntrack_status {
        match kind {
            ErrorKind::NullArgument => gnntrack_status::NullArgument,
            ErrorKind::EmptyInput => gnntrack_status::EmptyInput,
            ErrorKind::InvalidArgument => gnntrack_status::InvalidArgument,
            ErrorKind::InvalidHit => gnntrack_status::InvalidHit,
            ErrorKind::Config => gnntrack_status::Config,
            ErrorKind::Geometry => gnntrack_status::Geometry,
            ErrorKind::ModelUnreadable => gnntrack_status::ModelUnreadable,
            ErrorKind::ModelInvalid => gnntrack_status::ModelInvalid,
            ErrorKind::ModelContract => gnntrack_status::ModelContract,
            ErrorKind::Onnxruntime => gnntrack_status::Onnxruntime,
            ErrorKind::Provider => gnntrack_status::Provider,
            ErrorKind::TooManyEdges => gnntrack_status::TooManyEdges,
            ErrorKind::Inference => gnntrack_status::Inference,
            ErrorKind::Graph => gnntrack_status::Graph,
            ErrorKind::Internal => gnntrack_status::Panic,
            ErrorKind::HitFile => gnntrack_status::HitFile,
        }
    }
}

/// A failed call: the kind of the failure (its status) and the message.
pub(crate) struct Failure {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

impl From<TrackerError> for Failure {
    fn from(e: TrackerError) -> Failure {
        Failure::new(e.kind(), e.to_string())
    }
}

impl From<InferenceError> for Failure {
    fn from(e: InferenceError) -> Failure {
        Failure::new(e.kind(), e.to_string())
    }
}

impl From<ReadError> for Failure {
    fn from(e: ReadError) -> Failure {
        Failure::new(e.kind(), crate::clip(&e.to_string()))
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

pub(crate) fn set_last_error(status: gnntrack_status, message: &str) {
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // `try_with`: nothing to record once the thread's storage is gone (thread exit).
    let _ = LAST_ERROR.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = LastError { status, message };
        }
    });
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
    fn every_status_but_ok_is_the_status_of_one_kind() {
        use ErrorKind as K;
        let kinds = [
            K::NullArgument,
            K::EmptyInput,
            K::InvalidArgument,
            K::InvalidHit,
            K::Config,
            K::Geometry,
            K::ModelUnreadable,
            K::ModelInvalid,
            K::ModelContract,
            K::Onnxruntime,
            K::Provider,
            K::TooManyEdges,
            K::Inference,
            K::Graph,
            K::Internal,
            K::HitFile,
        ];
        let statuses: Vec<gnntrack_status> =
            kinds.iter().map(|&k| gnntrack_status::from(k)).collect();
        // The kinds in the order of the status codes 1, 2, ...: one to one, OK left out.
        assert_eq!(statuses, gnntrack_status::ALL[1..]);
    }
}
