//! Configurations: created, changed key by key or from TOML, printed.

use std::ffi::c_char;
use std::path::Path;

use super::args::{arg, arg_mut, null, put, str_arg};
use super::status::gnntrack_status;
use super::{free_handle, guard};
use crate::pipeline::TrackerConfig;

/// A tracker configuration (opaque). Created by `gnntrack_config_new`, freed by
/// `gnntrack_config_free`. Not safe to change from several threads at once.
pub struct gnntrack_config {
    pub(crate) inner: TrackerConfig,
}

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
/// `hits.*`, `graph.*`, `inference.*` (`provider`, `device_id`, `intra_threads`,
/// `intra_spinning`, `memory_pattern`, `pool_size`, `graph_mismatch`, `part_edges`,
/// `gnntrack_kernels`, `library.path`, `library.search`) and `tracks.*`;
/// `gnntrack_config_to_toml` prints them all
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
