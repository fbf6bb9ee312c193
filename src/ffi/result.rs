//! Results: the candidates of one reconstruction, their hits, fits, times and graph size.

use super::args::{arg, non_dangling, null};
use super::status::{Failure, gnntrack_status};
use super::{free_handle, guard};
use crate::error::ErrorKind;
use crate::pipeline::Reconstruction;
use crate::tracks::Candidate;

/// The candidates of one reconstruction (opaque). Created by `gnntrack_reconstruct`, freed by
/// `gnntrack_result_free`; read-only, so any thread may read it. It owns all its data and does
/// not refer to the tracker: it may be read and freed after `gnntrack_tracker_free`.
pub struct gnntrack_result {
    offsets: Vec<usize>,
    indices: Vec<u32>,
    fits: Vec<gnntrack_fit>,
    quality: Vec<f32>,
    times: gnntrack_times,
    graph: gnntrack_graph_summary,
}

impl gnntrack_result {
    /// The result handed out for a reconstruction of `n_hits` hits.
    pub(crate) fn new(reco: &Reconstruction, n_hits: usize) -> gnntrack_result {
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
        gnntrack_result {
            offsets,
            indices,
            fits,
            quality: reco.candidate_quality.clone(),
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
        }
    }
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
    /// Feature computation (with, beside it, the cut of the graph into the parts the model
    /// scores).
    pub features: f64,
    /// GNN inference.
    pub inference: f64,
    /// Track building and fits.
    pub tracks: f64,
    /// Sum of the stages, the optional candidate classifier (`tracks.candidate_model`) included:
    /// its time is `total` minus the four stages above.
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
                ErrorKind::InvalidArgument,
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

/// The quality of every candidate from the candidate classifier (the probability that it is a
/// genuine track; see `tracks.candidate_model`): `*quality` points to `count` floats, owned by
/// the result, in candidate order; NULL when the stage is off or there are no candidates. With
/// `tracks.candidate_action = "flag"` every candidate is kept and the caller cuts on this.
///
/// # Safety
/// `result` is NULL or a live result; `quality` is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_result_candidate_quality(
    result: *const gnntrack_result,
    quality: *mut *const f32,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let result = unsafe { arg(result, "result")? };
        if quality.is_null() {
            return Err(null("quality"));
        }
        // SAFETY: checked non-NULL above.
        unsafe { quality.write(non_dangling(&result.quality)) };
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
