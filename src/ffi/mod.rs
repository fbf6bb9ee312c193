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
//!
//! One file per job: this one holds the ABI version, the version queries and the panic
//! boundary (`guard`, `free_handle`); `status.rs` the status codes, one per
//! [`crate::error::ErrorKind`] (the table is `impl From<ErrorKind> for gnntrack_status`), and
//! the thread's last error; `args.rs` the checks of pointer arguments; `log.rs` the log sink;
//! `config.rs`, `tracker.rs`, `result.rs`, `hits.rs` and `graph_model.rs` (generic graph models
//! for hosts with their own graphs) the handles and their functions. No
//! file here looks at the variants of another module's errors: a failure's status is its
//! kind's.

#![allow(non_camel_case_types)]

use std::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

// In the order of the header: cbindgen reads the modules in the order they are declared (the
// blank lines keep rustfmt from sorting them).
mod status;

mod log;

mod config;

mod tracker;

mod result;

mod hits;

mod graph_model;

mod args;

pub use config::*;
pub use graph_model::*;
pub use hits::*;
pub use log::*;
pub use result::*;
pub use status::*;
pub use tracker::*;

use self::log::install_logger;
use status::{Failure, set_last_error};

/// Version of the C ABI. It changes whenever a function, a struct or the meaning of a status
/// changes incompatibly; compare it with `gnntrack_abi_version()` after loading the library.
pub const GNNTRACK_ABI_VERSION: u32 = 1;

/// The library version, NUL-terminated.
const VERSION_C: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

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
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Failure>) -> gnntrack_status {
    install_logger();
    let (status, message) = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => (gnntrack_status::Ok, String::new()),
        Ok(Err(f)) => (gnntrack_status::from(f.kind), f.message),
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
pub(crate) fn free_handle<T>(handle: *mut T) {
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
        let _ = catch_unwind(|| ::log::error!("while freeing a handle: {message}"));
    }
}

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

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

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
