//! Trackers: created from a configuration, and the reconstruction of one crossing.

use std::ffi::{CString, c_char};

use super::args::{arg, null, put};
use super::config::gnntrack_config;
use super::hits::{gnntrack_hits, hit_columns};
use super::result::gnntrack_result;
use super::status::{Failure, gnntrack_status};
use super::{free_handle, guard};
use crate::error::ErrorKind;
use crate::pipeline::Tracker;

/// A tracker: geometry, graph settings and loaded model (opaque). Created by
/// `gnntrack_tracker_new`, freed by `gnntrack_tracker_free`. Many threads may call
/// `gnntrack_reconstruct` on one tracker at once.
pub struct gnntrack_tracker {
    inner: Tracker,
    provider: CString,
}

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
                ErrorKind::EmptyInput,
                "no hits (`n_hits` = 0): an empty crossing has no track candidates",
            ));
        }
        // Before any column is read: at most `max_hits` (< 2^32) hits.
        tracker.inner.check_hit_count(n_hits)?;
        // SAFETY: the columns hold `n_hits` values per the function's contract.
        let columns = unsafe { hit_columns(columns, n_hits)? };
        let reco = tracker.inner.reconstruct_columns(&columns)?;
        let result = Box::new(gnntrack_result::new(&reco, n_hits));
        // SAFETY: checked non-NULL above.
        unsafe { out.write(Box::into_raw(result)) };
        Ok(())
    })
}
