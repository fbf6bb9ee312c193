//! Hits: the caller's columns of one crossing, and hit files read by the library's reader.

use std::ffi::{CStr, c_char};
use std::path::Path;

use super::args::{arg, column, non_dangling, null, put, str_arg};
use super::status::{Failure, gnntrack_status};
use super::{free_handle, guard};
use crate::hits::{HitColumns, HitFileFormat, read_hits};

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

/// The caller's columns as the library's [`HitColumns`] (no copy, no check of the values:
/// [`crate::hits::Hits::from_columns`] checks them).
///
/// # Safety
/// The non-NULL columns of `hits` hold `n` values each, `n` at most `u32::MAX`.
pub(crate) unsafe fn hit_columns(
    hits: &gnntrack_hits,
    n: usize,
) -> Result<HitColumns<'_>, Failure> {
    // SAFETY: per the caller's contract.
    unsafe {
        let (x, y, z) = (
            column(hits.x, n, "x")?,
            column(hits.y, n, "y")?,
            column(hits.z, n, "z")?,
        );
        let (layer, stave) = (
            column(hits.layer, n, "layer")?,
            column(hits.stave, n, "stave")?,
        );
        let hit_id = match hits.hit_id.is_null() {
            true => None,
            false => Some(column(hits.hit_id, n, "hit_id")?),
        };
        Ok(HitColumns {
            hit_id,
            x,
            y,
            z,
            layer,
            stave,
        })
    }
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
        crate::pipeline::check_cpu()?;
        let (hits, format) = read_hits(Path::new(path))?;
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
