//! Track building: scored edges to track candidates with a straight-line fit.
//!
//! 1. **Paths** (module `paths`): every chain of hits along edges scoring at least `path_cut` (the
//!    `max_branches` best per hit), with hits on at least `min_hits` layers and a line fit within
//!    `path_chi2_ndf`, is a candidate, and so is each such piece of it. A junction-free
//!    component gives one path and its pieces; where tracks cross, every pairing is a candidate.
//! 2. **Quality**: each path has a cost, its chi2 / ndf (errors from resolution and multiple
//!    scattering at the momentum of its line, see `scattering_momentum_gev`) plus
//!    `score_weight` times one minus the mean score of its edges.
//! 3. **Exclusive assignment** (module `assign`): best first (more layers, more hits, then lower cost) with each
//!    hit used once; then hits merged from two positrons are shared (one) or split (two) between
//!    two well-fitting tracks, and two tracks linked by an edge swap their downstream parts
//!    where that lowers their summed chi2.
//! 4. **Recovery** ([`join_pieces`]): tracks and the pieces left over take the loose hits their line
//!    passes through on the layers they lack (a missing hit, an edge the classifier cut).
//! 5. Each candidate gets a weighted least-squares fit of x(z) and y(z) (tracks are straight in
//!    the field-free tracker), optionally dropping outliers, and a momentum estimate p = k / x
//!    at the reference plane (x * p is constant behind the dipole).
//!
//! No path, assignment, tail exchange or piece reaches beyond a connected component of the
//! edges scoring at least the lower of `path_cut` and the edge cut, so steps 1 to 3 run in
//! groups of whole components side by side, one per worker thread (up to four), and give what
//! one search over all hits gives.

mod assign;
mod components;
mod fit;
mod join;
mod paths;
#[cfg(test)]
pub(crate) mod test_support;

use std::path::PathBuf;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::candidates::CandidateAction;
use crate::hits::Hits;

pub use components::{UnionFind, connected_components};
pub use fit::{LineFit, fit_line};
pub use join::join_pieces;

/// Settings of track building.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackConfig {
    /// Edges with a score (probability) at least this make the pieces that recovery starts
    /// from; `None` takes the model's recommended cut (0.5 where no model is involved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_cut: Option<f32>,
    /// Candidates with hits on fewer layers are not built; fewer hits are dropped.
    pub min_hits: usize,
    /// Path search follows edges scoring at least this.
    pub path_cut: f32,
    /// Path search follows at most this many edges from a hit, the best-scoring ones.
    pub max_branches: usize,
    /// Paths whose line fit has a chi2 / ndf above this are neither candidates nor extended.
    pub path_chi2_ndf: f64,
    /// Weight of one minus the mean edge score in a path's cost (beside its chi2 / ndf).
    pub score_weight: f64,
    /// Share a hit between two well-fitting tracks that both need it (merged hits).
    pub share_hits: bool,
    /// Largest cost of both tracks sharing a hit.
    pub share_chi2_ndf: f64,
    /// Let two tracks linked by an edge (scoring at least `path_cut`) swap their downstream
    /// parts when that lowers their summed chi2.
    pub swap_tails: bool,
    /// Let tracks and leftover pieces take loose hits along their lines (see [`join_pieces`]).
    pub join_pieces: bool,
    /// Window of piece joining: how far, per mm of extrapolation in z, a hit may lie from the
    /// line of a piece in x and in y, mm / mm (rad), for a positron of `scattering_momentum_gev`.
    pub join_tolerance_rad: f64,
    /// Momentum for which the joining window and the fit errors hold, GeV. Multiple scattering
    /// grows as 1 / p: for a piece of lower estimated momentum the window and the errors widen
    /// in proportion.
    pub scattering_momentum_gev: f64,
    /// Hit position uncertainty used in the fit, mm (resolution and scattering together).
    pub hit_sigma_mm: f64,
    /// Drop the worst hit while its chi2 contribution exceeds this (and more than `min_hits`
    /// hits remain; raised for low momenta); `None` keeps every hit.
    pub outlier_chi2: Option<f64>,
    /// k in p = k / x, mm GeV (673 at 0.95 T, 887 at 1.25 T).
    pub momentum_constant_mm_gev: f64,
    /// z of the plane where x is taken for the momentum estimate, mm (LUXE layer 0).
    pub momentum_reference_z: f64,
    /// Candidate classifier (see [`crate::candidates`]): a graph-level ONNX model scoring each
    /// candidate after track building; `None` or an empty path turns the stage off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_model: Option<PathBuf>,
    /// Candidates of a quality below this are dropped or flagged; `None` takes the candidate
    /// model's recommended cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_cut: Option<f32>,
    /// What the candidate classifier does below the cut: `drop` or `flag`.
    pub candidate_action: CandidateAction,
}

impl Default for TrackConfig {
    fn default() -> Self {
        TrackConfig {
            edge_cut: None,
            min_hits: 3,
            path_cut: 0.02,
            max_branches: 4,
            path_chi2_ndf: 5.0,
            score_weight: 2.0,
            share_hits: true,
            share_chi2_ndf: 5.0,
            swap_tails: true,
            join_pieces: true,
            join_tolerance_rad: 0.9e-3,
            scattering_momentum_gev: 3.0,
            hit_sigma_mm: 0.010,
            outlier_chi2: Some(20.0),
            momentum_constant_mm_gev: 673.0,
            momentum_reference_z: 3956.0125,
            candidate_model: None,
            candidate_cut: None,
            candidate_action: CandidateAction::Drop,
        }
    }
}

/// Edge cut used when none is configured and no model recommends one.
pub const DEFAULT_EDGE_CUT: f32 = 0.5;

impl TrackConfig {
    /// The edge cut in force.
    pub fn edge_cut(&self) -> f32 {
        self.edge_cut.unwrap_or(DEFAULT_EDGE_CUT)
    }

    /// The candidate model path, when the stage is on (a path that is not empty).
    pub fn candidate_model(&self) -> Option<&std::path::Path> {
        self.candidate_model
            .as_deref()
            .filter(|p| !p.as_os_str().is_empty())
    }

    /// Checks every value; the error names the key (as `tracks.KEY`) and the value.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |key: &str, value: &dyn std::fmt::Display, why: &str| {
            Err(format!("`tracks.{key}` = {value}: {why}"))
        };
        let unit = |v: f32| (0.0..=1.0).contains(&v);
        if let Some(cut) = self.edge_cut
            && !unit(cut)
        {
            return bad("edge_cut", &cut, "must be within 0..1");
        }
        if let Some(cut) = self.candidate_cut
            && !unit(cut)
        {
            return bad("candidate_cut", &cut, "must be within 0..1");
        }
        if !unit(self.path_cut) {
            return bad("path_cut", &self.path_cut, "must be within 0..1");
        }
        if self.min_hits < 2 {
            return bad("min_hits", &self.min_hits, "must be at least 2");
        }
        if self.max_branches == 0 {
            return bad("max_branches", &0, "must be at least 1");
        }
        for (key, v) in [
            ("hit_sigma_mm", self.hit_sigma_mm),
            ("path_chi2_ndf", self.path_chi2_ndf),
            ("share_chi2_ndf", self.share_chi2_ndf),
            ("scattering_momentum_gev", self.scattering_momentum_gev),
            ("join_tolerance_rad", self.join_tolerance_rad),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(key, &v, "must be positive");
            }
        }
        if !(self.score_weight.is_finite() && self.score_weight >= 0.0) {
            return bad(
                "score_weight",
                &self.score_weight,
                "must be finite and >= 0",
            );
        }
        if let Some(v) = self.outlier_chi2
            && !(v.is_finite() && v > 0.0)
        {
            return bad("outlier_chi2", &v, "must be positive");
        }
        for (key, v) in [
            ("momentum_constant_mm_gev", self.momentum_constant_mm_gev),
            ("momentum_reference_z", self.momentum_reference_z),
        ] {
            if !v.is_finite() {
                return bad(key, &v, "must be finite");
            }
        }
        Ok(())
    }
}

/// Bit of a hit's layer in a layer mask.
pub(crate) fn layer_bit(hits: &Hits, h: u32) -> u64 {
    1u64 << (hits.layer[h as usize] & 63)
}

/// Mask of the layers of some hits.
pub(crate) fn layer_mask(hits: &Hits, members: impl IntoIterator<Item = u32>) -> u64 {
    members
        .into_iter()
        .fold(0u64, |m, h| m | layer_bit(hits, h))
}

/// A track candidate: indices into the input hits (sorted by z) and its fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Hit indices, ordered by z.
    pub hits: Vec<u32>,
    /// Straight-line fit.
    pub fit: LineFit,
}

/// Builds candidates from directed edges (inner hit, outer hit; indices into `hits`) and their
/// scores (see the module docs).
pub fn build_candidates(
    hits: &Hits,
    edges: &[(u32, u32)],
    scores: &[f32],
    config: &TrackConfig,
) -> Vec<Candidate> {
    build_candidates_in(hits, edges, scores, config, &mut TrackBuffers::default())
}

/// The work space of track building: its largest tables, kept from one crossing to the next.
/// At xi = 7 they hold about 20 MB, and memory touched for the first time costs more than
/// filling it (the operating system clears every page on its first use); a reconstruction that
/// keeps its buffers builds the same candidates without that cost.
#[derive(Debug, Default)]
pub struct TrackBuffers {
    /// One set per group of hits searched side by side.
    groups: Vec<GroupBuffers>,
}

/// The tables of steps 1 to 3 for one group of hits.
#[derive(Debug, Default)]
struct GroupBuffers {
    search: SearchBuffers,
    /// The group's edges that take part in steps 1 to 3, and their scores.
    edges: Vec<(u32, u32)>,
    scores: Vec<f32>,
}

/// The tables of the path search and the assignment.
#[derive(Debug, Default)]
struct SearchBuffers {
    paths: paths::PathBuffers,
    assign: assign::AssignBuffers,
}

impl GroupBuffers {
    fn trim(&mut self) {
        self.search.paths.trim();
        self.search.assign.trim();
        trim(&mut self.edges);
        trim(&mut self.scores);
    }
}

/// Gives back the memory of a buffer that holds over four times what the last crossing used
/// (and more than 64 Ki elements), so that one very large crossing does not keep its memory
/// for good.
pub(crate) fn trim<T>(buffer: &mut Vec<T>) {
    if buffer.capacity() > 4 * buffer.len().max(1 << 16) {
        buffer.shrink_to(buffer.len());
    }
}

/// Below this many edges a crossing's hits are searched as one group.
const GROUPS_FROM_EDGES: usize = 4096;

/// The most groups of hits searched side by side (one per worker thread up to this): each
/// group's tables are indexed by hit (a few MB at xi = 7), and beyond a few groups the
/// sequential share left in each is small beside the parallel steps within the groups.
const MAX_GROUPS: usize = 4;

/// [`build_candidates`] in the memory of `buffers` (of an earlier crossing, or new): the same
/// candidates.
///
/// Steps 1 to 3 (paths, assignment, tail exchange) and the pieces for the recovery run in
/// groups of whole components side by side, one per worker thread up to four (see the module
/// docs): they take about half the time of track building, much of it sequential within a
/// group.
pub fn build_candidates_in(
    hits: &Hits,
    edges: &[(u32, u32)],
    scores: &[f32],
    config: &TrackConfig,
    buffers: &mut TrackBuffers,
) -> Vec<Candidate> {
    let threads = rayon::current_num_threads();
    build_candidates_in_groups(hits, edges, scores, config, buffers, threads)
}

/// The tracks and leftover pieces of steps 1 to 3 (see the module docs) in one group of hits.
struct GroupTracks {
    /// Tracks in the order of their paths' first hits.
    tracks: Vec<Vec<u32>>,
    /// The first hit of each track's path (its place in that order).
    first_hits: Vec<u32>,
    /// With `join_pieces`: the pieces of the hits no track took, joined by edges at or above
    /// the edge cut, each sorted, ordered by their smallest hit.
    pieces: Option<Vec<Vec<u32>>>,
}

/// Steps 1 to 3 and the leftover pieces on the given edges.
fn find_tracks(
    hits: &Hits,
    edges: &[(u32, u32)],
    scores: &[f32],
    config: &TrackConfig,
    buffers: &mut SearchBuffers,
) -> GroupTracks {
    let paths = buffers.paths.find(hits, edges, scores, config);
    let mut taken = assign::take_paths(hits, paths, config, &mut buffers.assign);
    // Pieces of the hits no track took, joined by edges above the cut: the tail exchange never
    // frees or takes a hit, so they are found beside it, from the tracks before it.
    let used = config.join_pieces.then(|| {
        let mut used = vec![false; hits.len()];
        for g in &taken.tracks {
            for &h in g {
                used[h as usize] = true;
            }
        }
        used
    });
    let (_, pieces) = rayon::join(
        || assign::exchange_tails(hits, &mut taken, edges, scores, config),
        || {
            let used = used?;
            let cut = config.edge_cut();
            let loose_edges = edges
                .iter()
                .zip(scores)
                .filter(|&(&(a, b), &s)| s >= cut && !used[a as usize] && !used[b as usize])
                .map(|(&e, _)| e);
            Some(connected_components(hits.len(), loose_edges, 1))
        },
    );
    GroupTracks {
        tracks: taken.tracks,
        first_hits: taken.first_hits,
        pieces,
    }
}

/// Splits the hits into at most `max_groups` groups, each a set of whole connected components
/// of the edges scoring at least `cut`, the largest components first, each to the group with
/// the fewest edges so far. Returns each hit's group (hits without such edges are in group 0)
/// and the number of groups.
///
/// With `cut` the lower of `path_cut` and the edge cut, no path, assignment, tail exchange or
/// piece reaches across components: the groups can be searched side by side, and each finds
/// what one search over all hits finds among its hits.
fn split_into_groups(
    n_hits: usize,
    edges: &[(u32, u32)],
    scores: &[f32],
    cut: f32,
    max_groups: usize,
) -> (Vec<u8>, usize) {
    // The components of the edges at or above the cut, on both threads; beside them the edges
    // of each hit out, then of each component at its root.
    let kept = |e: usize| scores[e] >= cut;
    let (root_of, mut n_edges) = rayon::join(
        || components::lowest_in_component(n_hits, edges, kept),
        || {
            let mut n_edges = vec![0u32; n_hits];
            for (e, &(a, _)) in edges.iter().enumerate() {
                n_edges[a as usize] += u32::from(kept(e));
            }
            n_edges
        },
    );
    for (h, &root) in root_of.iter().enumerate() {
        if root as usize != h {
            n_edges[root as usize] += std::mem::take(&mut n_edges[h]);
        }
    }
    let mut sizes: Vec<(u32, u32)> = (0..n_hits as u32)
        .filter(|&h| n_edges[h as usize] > 0)
        .map(|h| (n_edges[h as usize], h))
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let n_groups = max_groups
        .clamp(1, usize::from(u8::MAX))
        .min(sizes.len().max(1));
    let mut load = vec![0u64; n_groups];
    let mut group_of_root = vec![0u8; n_hits];
    for &(size, root) in &sizes {
        let g = (0..n_groups).min_by_key(|&g| load[g]).unwrap_or(0);
        load[g] += u64::from(size);
        group_of_root[root as usize] = g as u8;
    }
    let group = root_of.iter().map(|&r| group_of_root[r as usize]).collect();
    (group, n_groups)
}

/// Moves `keys` into `out` ordered by `bucket` (below `buckets`), keeping the order of equal
/// buckets; false (and `out` untouched) when all keys share one bucket.
pub(crate) fn stable_counting_sort(
    keys: &[u64],
    out: &mut [u64],
    buckets: usize,
    bucket: impl Fn(u64) -> usize,
) -> bool {
    let mut starts = vec![0u32; buckets + 1];
    for &k in keys {
        starts[bucket(k) + 1] += 1;
    }
    if starts.iter().any(|&c| c as usize == keys.len()) {
        return false;
    }
    for b in 0..buckets {
        starts[b + 1] += starts[b];
    }
    for &k in keys {
        let at = &mut starts[bucket(k)];
        out[*at as usize] = k;
        *at += 1;
    }
    true
}

/// `keys` ordered by their bits `bits` (`spare` as wide, for the passes), keeping the order of
/// keys equal in those bits: a radix sort in digits of 11 bits from the lowest, each pass
/// skipped when all keys share its digit.
pub(crate) fn radix_sort_by_bits(keys: &mut [u64], spare: &mut [u64], bits: std::ops::Range<u32>) {
    const DIGIT: u32 = 11;
    let mut in_keys = true;
    for shift in bits.clone().step_by(DIGIT as usize) {
        let width = DIGIT.min(bits.end - shift);
        let digit = |k: u64| ((k >> shift) & ((1 << width) - 1)) as usize;
        let (from, to) = if in_keys {
            (&*keys, &mut *spare)
        } else {
            (&*spare, &mut *keys)
        };
        if stable_counting_sort(from, to, 1 << width, digit) {
            in_keys = !in_keys;
        }
    }
    if !in_keys {
        keys.copy_from_slice(spare);
    }
}

/// `keys` ordered by their high 32 bits, all below `bound`, keeping the order of keys with
/// equal high bits (two passes for up to 4 M hits), where a comparison sort of the
/// candidates' keys took 1-2 ms at xi = 7.
fn sort_by_high_word(keys: &mut [u64], bound: usize) {
    let bits = (usize::BITS - bound.leading_zeros()).min(32);
    let mut spare = vec![0u64; keys.len()];
    radix_sort_by_bits(keys, &mut spare, 32..32 + bits);
}

/// `lists`, each ordered by its key, merged into one list ordered by key; equal keys keep the
/// order of the lists.
fn merge_by_key<T>(lists: Vec<Vec<(u32, T)>>) -> Vec<T> {
    let mut merged = Vec::with_capacity(lists.iter().map(Vec::len).sum());
    let mut heads: Vec<_> = lists
        .into_iter()
        .map(|l| l.into_iter().peekable())
        .collect();
    while let Some((_, i)) = heads
        .iter_mut()
        .enumerate()
        .filter_map(|(i, h)| Some((h.peek()?.0, i)))
        .min()
    {
        merged.extend(heads[i].next().map(|(_, item)| item));
    }
    merged
}

/// [`build_candidates_in`] with steps 1 to 3 in at most `max_groups` groups of hits side by
/// side (at most four; one for crossings of fewer than 4,096 edges): one group takes the least
/// CPU time, more take less time on an otherwise idle thread pool. The same candidates.
pub fn build_candidates_in_groups(
    hits: &Hits,
    edges: &[(u32, u32)],
    scores: &[f32],
    config: &TrackConfig,
    buffers: &mut TrackBuffers,
    max_groups: usize,
) -> Vec<Candidate> {
    debug_assert_eq!(edges.len(), scores.len());
    let t0 = std::time::Instant::now();
    let max_groups = if edges.len() < GROUPS_FROM_EDGES {
        1
    } else {
        max_groups.min(MAX_GROUPS)
    };
    // Edges below both cuts take no part in steps 1 to 3.
    let cut = config.path_cut.min(config.edge_cut());
    let (group_of, n_groups) = if max_groups > 1 {
        split_into_groups(hits.len(), edges, scores, cut, max_groups)
    } else {
        (Vec::new(), 1)
    };
    // Buffers of more groups than this crossing uses stay for a later one.
    if buffers.groups.len() < n_groups {
        buffers.groups.resize_with(n_groups, GroupBuffers::default);
    }
    let found: Vec<GroupTracks> = if n_groups == 1 {
        let search = &mut buffers.groups[0].search;
        vec![find_tracks(hits, edges, scores, config, search)]
    } else {
        let group_of = &group_of;
        buffers.groups[..n_groups]
            .par_iter_mut()
            .enumerate()
            .map(|(g, buffers)| {
                let GroupBuffers {
                    search,
                    edges: group_edges,
                    scores: group_scores,
                } = buffers;
                // Without branches (the tests pass at random): counted, then each edge
                // written to the next place, which advances when the edge is the group's.
                let g = g as u8;
                let of_group = |(&(a, _), &s): (&(u32, u32), &f32)| {
                    usize::from((s >= cut) & (group_of[a as usize] == g))
                };
                let n: usize = edges.iter().zip(scores).map(of_group).sum();
                group_edges.clear();
                group_edges.resize(n + 1, (0, 0));
                group_scores.clear();
                group_scores.resize(n + 1, 0.0);
                let mut at = 0;
                for edge in edges.iter().zip(scores) {
                    (group_edges[at], group_scores[at]) = (*edge.0, *edge.1);
                    at += of_group(edge);
                }
                group_edges.truncate(n);
                group_scores.truncate(n);
                find_tracks(hits, group_edges, group_scores, config, search)
            })
            .collect()
    };
    // The tracks of all groups in the order of their paths' first hits, then the pieces by
    // their smallest hits: the order of one search over all hits, which the recovery's
    // choices among equals follow.
    let mut track_lists = Vec::with_capacity(found.len());
    let mut piece_lists = Vec::with_capacity(found.len());
    for f in found {
        track_lists.push(f.first_hits.into_iter().zip(f.tracks).collect());
        piece_lists.extend(f.pieces.map(|p| p.into_iter().map(|c| (c[0], c)).collect()));
    }
    let mut groups = merge_by_key(track_lists);
    let t2 = std::time::Instant::now();
    if config.join_pieces {
        groups.extend(merge_by_key(piece_lists));
        groups = join_pieces(hits, groups, config);
    }
    let t3 = std::time::Instant::now();
    let candidates = fits_in_order(hits, groups, config);
    let ms = |a: std::time::Instant, b: std::time::Instant| (b - a).as_secs_f64() * 1e3;
    log::debug!(
        "track building: search ({} groups) {:.1} ms, recovery {:.1} ms, fits {:.1} ms",
        n_groups,
        ms(t0, t2),
        ms(t2, t3),
        ms(t3, std::time::Instant::now())
    );
    buffers.groups.iter_mut().for_each(GroupBuffers::trim);
    candidates
}

/// The candidates of `groups` (fitted side by side, those under `min_hits` hits left out),
/// ordered by their hits (first hit, then the whole list), each set of hits once.
fn fits_in_order(hits: &Hits, groups: Vec<Vec<u32>>, config: &TrackConfig) -> Vec<Candidate> {
    use std::sync::Mutex;
    let min_hits = config.min_hits;
    // Each fit in a slot of its own, taken once below from whichever thread places it.
    let slots: Vec<Mutex<Option<Candidate>>> = groups
        .into_par_iter()
        .map(|g| {
            let fitted = (g.len() >= min_hits)
                .then(|| fit::fit_candidate(hits, g, config))
                .flatten()
                .filter(|c| c.hits.len() >= min_hits);
            Mutex::new(fitted)
        })
        .collect();
    // The candidates are ordered through keys, first hit then slot: a candidate is too large to
    // move around while sorting. The slots are only read until the candidates are taken.
    let read = |k: usize| slots[k].lock().unwrap_or_else(|e| e.into_inner());
    let mut order: Vec<u64> = (0..slots.len())
        .into_par_iter()
        .filter_map(|k| {
            let first = read(k).as_ref()?.hits.first().copied().unwrap_or(0);
            Some((u64::from(first) << 32) | k as u64)
        })
        .collect();
    // The keys come in slot order; a stable sort by first hit orders them by the whole key.
    sort_by_high_word(&mut order, hits.len());
    let slot_of = |key: u64| (key & u64::from(u32::MAX)) as usize;
    // Each run sharing a first hit (rare) by the whole hit list.
    for run in order.chunk_by_mut(|a, b| a >> 32 == b >> 32) {
        if run.len() > 1 {
            run.sort_unstable_by(|&a, &b| {
                if a == b {
                    // One slot is locked once.
                    return std::cmp::Ordering::Equal;
                }
                let (x, y) = (read(slot_of(a)), read(slot_of(b)));
                hits_of(&x).cmp(&hits_of(&y)).then(a.cmp(&b))
            });
        }
    }
    // Two candidates with the same hits are one track; only keys with the same first hit can
    // have the same hits.
    order.dedup_by(|a, b| {
        *a >> 32 == *b >> 32 && hits_of(&read(slot_of(*a))) == hits_of(&read(slot_of(*b)))
    });
    // Taken in that order, side by side, into the candidates' vector (moving them within the
    // slots instead, one cycle of the permutation after another, took 3-5 ms at xi = 7 on one
    // thread: each move reads a candidate from far away). The keys are unique and each came
    // from a filled slot, so each candidate is written once, into its place (a filtered
    // collect gathered them in lists and then copied them again: 2.2 against 0.9 ms at xi = 7).
    let mut candidates = Vec::with_capacity(order.len());
    order
        .par_iter()
        .map(|&key| {
            read(slot_of(key))
                .take()
                .expect("each key's slot holds its candidate, and keys are unique")
        })
        .collect_into_vec(&mut candidates);
    candidates
}

/// The hits of a fitted slot.
fn hits_of(slot: &Option<Candidate>) -> Option<&[u32]> {
    slot.as_ref().map(|c| c.hits.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hits::Hit;
    use crate::tracks::test_support::{random_edges, rng, track_hits};
    use rand::RngExt;

    /// Edges along each 4-hit track of `track_hits`, except the segments listed in `cut`
    /// (track, inner layer).
    fn track_edges(n_tracks: u32, cut: &[(u32, u32)]) -> (Vec<(u32, u32)>, Vec<f32>) {
        let edges: Vec<(u32, u32)> = (0..n_tracks)
            .flat_map(|t| (0..3u32).map(move |l| (t, l)))
            .filter(|tl| !cut.contains(tl))
            .map(|(t, l)| (4 * t + l, 4 * t + l + 1))
            .collect();
        let scores = vec![0.9; edges.len()];
        (edges, scores)
    }

    /// The candidates' hit sets, each sorted, in sorted order.
    fn candidate_sets(
        h: &Hits,
        edges: &[(u32, u32)],
        scores: &[f32],
        cfg: &TrackConfig,
    ) -> Vec<Vec<u32>> {
        let mut sets: Vec<Vec<u32>> = build_candidates(h, edges, scores, cfg)
            .into_iter()
            .map(|c| {
                let mut hits = c.hits;
                hits.sort_unstable();
                hits
            })
            .collect();
        sets.sort();
        sets
    }

    fn no_joining() -> TrackConfig {
        TrackConfig {
            join_pieces: false,
            share_hits: false,
            outlier_chi2: None,
            ..TrackConfig::default()
        }
    }

    #[test]
    fn halves_left_apart_by_a_cut_edge_are_joined() {
        let h = track_hits(
            &[(150.0, 0.08, 0.2, 0.0002), (150.3, 0.08, -0.1, 0.0)],
            0.003,
            5,
        );
        // Track 0 lost its middle edge, track 1 its first one.
        let (edges, scores) = track_edges(2, &[(0, 1), (1, 0)]);
        let apart = build_candidates(&h, &edges, &scores, &no_joining());
        assert_eq!(
            apart.len(),
            1,
            "only track 1's three-hit piece is long enough"
        );
        let joined = candidate_sets(&h, &edges, &scores, &TrackConfig::default());
        assert_eq!(joined, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]);
    }

    #[test]
    fn a_missing_middle_hit_is_bridged_but_a_far_hit_is_not() {
        // Track 0's layer-1 hit is missing (moved 5 mm away) and no edge spans the gap; track 1's
        // layer-0 hit is 0.5 mm off its line (10 times the window one layer away).
        let mut h = track_hits(
            &[(150.0, 0.08, 0.2, 0.0002), (170.0, 0.081, 0.0, 0.0)],
            0.0,
            6,
        );
        h.x[1] += 5.0;
        h.x[4] += 0.5;
        let edges = vec![(2, 3), (5, 6), (6, 7)];
        let scores = vec![0.9; 3];
        let hits_of = |cfg: &TrackConfig| candidate_sets(&h, &edges, &scores, cfg);
        assert_eq!(hits_of(&no_joining()), vec![vec![5, 6, 7]]);
        assert_eq!(
            hits_of(&TrackConfig::default()),
            vec![vec![0, 2, 3], vec![5, 6, 7]]
        );
    }

    #[test]
    fn a_piece_borrows_the_hits_it_merged_into() {
        // Tracks 0 and 1 run 10-55 um apart: on layers 0 and 1 their hits merged into track 0's
        // (track 1's own are moved away); track 1 keeps only its layer 2-3 piece.
        let mut h = track_hits(
            &[(150.0, 0.08, 0.0, 0.0), (150.01, 0.08015, 0.0, 0.0)],
            0.0,
            8,
        );
        h.x[4] += 5.0;
        h.x[5] += 5.0;
        let edges = vec![(0, 1), (1, 2), (2, 3), (6, 7)];
        let scores = vec![0.9; edges.len()];
        // One borrowed hit, the one nearest the line relative to the window: a track with two
        // borrowed hits would be as much track 0's as track 1's.
        assert_eq!(
            candidate_sets(&h, &edges, &scores, &TrackConfig::default()),
            vec![vec![0, 1, 2, 3], vec![0, 6, 7]]
        );
        // A piece 0.2 mm away from any candidate hit borrows nothing.
        h.y[6] += 0.2;
        h.y[7] += 0.2;
        assert_eq!(
            candidate_sets(&h, &edges, &scores, &TrackConfig::default()),
            vec![vec![0, 1, 2, 3]]
        );
    }

    #[test]
    fn a_merged_hit_is_shared_by_both_tracks() {
        // Tracks 0 (hits 0-3) and 1 (hits 4-7) meet on layer 1: hit 1 stands for both (hit 5 is
        // its merged twin and is moved away here), so track 1 runs 4 -> 1 -> 6 -> 7.
        let mut h = track_hits(
            &[(150.0, 0.08, 0.0, 0.0), (150.0, 0.08, -0.4, 0.004)],
            0.0,
            5,
        );
        h.x[5] += 5.0;
        let edges = vec![(0, 1), (1, 2), (2, 3), (4, 1), (1, 6), (6, 7)];
        let scores = vec![0.95, 0.95, 0.95, 0.9, 0.9, 0.95];
        let plain = build_candidates(
            &h,
            &edges,
            &scores,
            &TrackConfig {
                share_hits: false,
                ..no_joining()
            },
        );
        assert_eq!(
            plain.len(),
            1,
            "without sharing only one track keeps the merged hit"
        );
        let shared = build_candidates(&h, &edges, &scores, &TrackConfig::default());
        let lists: Vec<Vec<u32>> = shared.iter().map(|c| c.hits.clone()).collect();
        assert_eq!(lists, vec![vec![0, 1, 2, 3], vec![4, 1, 6, 7]]);
    }

    #[test]
    fn overlap_triangle_is_one_track() {
        // Layer 0 stave 0 (a), layer 0 stave 1 (b), layer 1 (c), layer 2 (d).
        let mut h = Hits::new(false);
        for (i, (layer, stave, z)) in [
            (0u8, 0u8, 3950.0),
            (0, 1, 3962.0),
            (1, 0, 4050.0),
            (2, 0, 4150.0),
        ]
        .into_iter()
        .enumerate()
        {
            h.push(
                Hit {
                    hit_id: i as u64,
                    x: 300.0 + 0.15 * (z - 3950.0),
                    y: 0.0,
                    z,
                    layer,
                    stave,
                },
                None,
            );
        }
        let edges = vec![(0, 1), (0, 2), (1, 2), (2, 3)];
        let scores = vec![0.9, 0.8, 0.85, 0.9];
        let c = build_candidates(&h, &edges, &scores, &TrackConfig::default());
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].hits, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_swapped_pair_is_built_the_right_way_round() {
        // Tracks 0 and 1 run 0.3 mm apart. Wrong edges pair 0's first half with 1's second half
        // and the other way round, scoring higher than the right middle edges: the straight
        // lines decide.
        let h = track_hits(
            &[(150.0, 0.08, 0.0, 0.0), (150.3, 0.0802, 0.1, 0.0)],
            0.002,
            7,
        );
        let edges = vec![
            (0, 1),
            (1, 6),
            (6, 7),
            (4, 5),
            (5, 2),
            (2, 3),
            (1, 2),
            (5, 6),
        ];
        let scores = vec![0.9, 0.95, 0.9, 0.9, 0.95, 0.9, 0.6, 0.6];
        let cfg = TrackConfig {
            join_pieces: false,
            ..TrackConfig::default()
        };
        assert_eq!(
            candidate_sets(&h, &edges, &scores, &cfg),
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]
        );
    }

    #[test]
    fn tails_of_two_tracks_are_swapped_when_no_path_gives_the_right_pairing() {
        // Tracks 0 and 1 run 50-110 um apart. The path search follows only the best edge from
        // each hit, the wrong middle ones: it pairs the halves wrongly, and the tail exchange,
        // over the right edge 1 -> 2, puts them right.
        let h = track_hits(
            &[(150.0, 0.08, 0.0, 0.0), (150.05, 0.0802, 0.02, 0.0)],
            0.002,
            7,
        );
        let edges = vec![(0, 1), (1, 6), (6, 7), (4, 5), (5, 2), (2, 3), (1, 2)];
        let scores = vec![0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.7];
        let cfg = |swap_tails| TrackConfig {
            join_pieces: false,
            swap_tails,
            max_branches: 1,
            path_chi2_ndf: 1e6,
            outlier_chi2: None,
            ..TrackConfig::default()
        };
        assert_eq!(
            candidate_sets(&h, &edges, &scores, &cfg(false)),
            vec![vec![0, 1, 6, 7], vec![2, 3, 4, 5]]
        );
        assert_eq!(
            candidate_sets(&h, &edges, &scores, &cfg(true)),
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]
        );
    }

    #[test]
    fn two_tracks_needing_the_same_two_hits_split_them() {
        // Track 1's hits on layers 2 and 3 merged into track 0's (its own are moved away): both
        // paths need hits 2 and 3. Each track gets one of them, so neither holds two hits of
        // the other positron; with three common hits there is one track.
        // Track 1 runs 40 um from track 0 on layer 0, 10 um on layer 3.
        let mut h = track_hits(
            &[(150.0, 0.08, 0.0, 0.0), (150.04, 0.0799, 0.0, 0.0)],
            0.0,
            9,
        );
        h.x[6] += 5.0;
        h.x[7] += 5.0;
        let edges = vec![(0, 1), (1, 2), (2, 3), (4, 5), (5, 2)];
        let scores = vec![0.95, 0.95, 0.95, 0.9, 0.9];
        let cfg = TrackConfig {
            join_pieces: false,
            ..TrackConfig::default()
        };
        // The split gives track 1 hit 2 (upstream); the tail exchange then gives each track the
        // hit nearer its line.
        assert_eq!(
            candidate_sets(&h, &edges, &scores, &cfg),
            vec![vec![0, 1, 2], vec![3, 4, 5]]
        );
        let no_swap = TrackConfig {
            swap_tails: false,
            ..cfg.clone()
        };
        assert_eq!(
            candidate_sets(&h, &edges, &scores, &no_swap),
            vec![vec![0, 1, 3], vec![2, 4, 5]]
        );
        // Layers 1-3 merged: track 1 runs 4 -> 1 -> 2 -> 3.
        h.x[5] += 5.0;
        let edges = vec![(0, 1), (1, 2), (2, 3), (4, 1)];
        let scores = vec![0.95, 0.95, 0.95, 0.9];
        assert_eq!(
            candidate_sets(&h, &edges, &scores, &cfg),
            vec![vec![0, 1, 2, 3]]
        );
    }

    /// A crossing of `n_lines` lines (`track_hits`) with the edges between consecutive layers
    /// within 2 mm of the line in x and of the hit in y: the true ones and accidental ones,
    /// scored at random, the true ones higher (from `true_low`).
    fn random_crossing(
        r: &mut impl rand::Rng,
        n_lines: usize,
        seed: u64,
    ) -> (Hits, Vec<(u32, u32)>, Vec<f32>) {
        random_crossing_in(r, n_lines, seed, 6.0, 0.4)
    }

    /// [`random_crossing`] with the lines within +-`y_max` mm in y and true edges scoring from
    /// `true_low` (lower values give more tangles, cut edges and pieces).
    fn random_crossing_in(
        r: &mut impl rand::Rng,
        n_lines: usize,
        seed: u64,
        y_max: f64,
        true_low: f32,
    ) -> (Hits, Vec<(u32, u32)>, Vec<f32>) {
        let lines: Vec<(f64, f64, f64, f64)> = (0..n_lines)
            .map(|_| {
                let x0 = r.random_range(60.0..500.0);
                (x0, x0 / 2000.0, r.random_range(-y_max..y_max), 0.0)
            })
            .collect();
        let h = track_hits(&lines, 0.005, seed);
        let (mut edges, mut scores) = (Vec::new(), Vec::new());
        for a in 0..h.len() as u32 {
            for b in 0..h.len() as u32 {
                let (ia, ib) = (a as usize, b as usize);
                // x grows by x0 / 20 per layer on these lines.
                let l = f64::from(h.layer[ia]);
                let expected = h.x[ia] * (1.0 + 0.05 * (l + 1.0)) / (1.0 + 0.05 * l);
                let near = (h.x[ib] - expected).abs() < 2.0 && (h.y[ia] - h.y[ib]).abs() < 2.0;
                if h.layer[ib] == h.layer[ia] + 1 && near {
                    edges.push((a, b));
                    let truth = a / 4 == b / 4;
                    scores.push(if truth {
                        r.random_range(true_low..1.0)
                    } else {
                        r.random_range(0.0..0.6)
                    });
                }
            }
        }
        (h, edges, scores)
    }

    #[test]
    fn buffers_kept_from_one_crossing_to_the_next_give_the_same_candidates() {
        // Crossings of very different sizes one after the other, in the same buffers: what an
        // earlier, larger crossing left in them must not leak into a later one.
        let mut r = rng(11);
        let mut buffers = TrackBuffers::default();
        let mut built = 0;
        for (round, n_lines) in [120usize, 3, 400, 0, 60, 400].into_iter().enumerate() {
            let (h, edges, scores) = random_crossing(&mut r, n_lines, round as u64);
            let cfg = TrackConfig::default();
            let fresh = build_candidates(&h, &edges, &scores, &cfg);
            let reused = build_candidates_in(&h, &edges, &scores, &cfg, &mut buffers);
            assert_eq!(reused, fresh, "round {round}");
            built += fresh.len();
        }
        assert!(
            built > 500,
            "crossings with candidates to compare ({built})"
        );
    }

    #[test]
    fn groups_of_hits_give_the_candidates_of_one_search() {
        // Dense crossings (tangles, shared hits, tail exchanges, pieces) searched in 2 to 4
        // groups, then as one group in the same buffers, under settings that move the cuts.
        let mut r = rng(12);
        let configs = [
            TrackConfig::default(),
            TrackConfig {
                edge_cut: Some(0.01),
                path_cut: 0.3,
                ..TrackConfig::default()
            },
            TrackConfig {
                join_pieces: false,
                swap_tails: false,
                ..TrackConfig::default()
            },
        ];
        let mut buffers = TrackBuffers::default();
        let mut built = 0;
        for (round, n_lines) in [450usize, 700].into_iter().enumerate() {
            let (h, edges, scores) =
                random_crossing_in(&mut r, n_lines, 20 + round as u64, 1.0, 0.0);
            assert!(edges.len() >= GROUPS_FROM_EDGES, "{} edges", edges.len());
            for (c, cfg) in configs.iter().enumerate() {
                let fresh = &mut TrackBuffers::default();
                let one = build_candidates_in_groups(&h, &edges, &scores, cfg, fresh, 1);
                let cut = cfg.path_cut.min(cfg.edge_cut());
                for max_groups in [2, 3, 4, 1] {
                    let (_, n_groups) =
                        split_into_groups(h.len(), &edges, &scores, cut, max_groups);
                    assert_eq!(
                        n_groups, max_groups,
                        "round {round}, config {c}: components enough"
                    );
                    let grouped = build_candidates_in_groups(
                        &h,
                        &edges,
                        &scores,
                        cfg,
                        &mut buffers,
                        max_groups,
                    );
                    assert_eq!(
                        grouped, one,
                        "round {round}, config {c}, {max_groups} groups"
                    );
                }
                built += one.len();
            }
        }
        assert!(built > 1500, "candidates to compare ({built})");
    }

    #[test]
    fn groups_hold_whole_components_and_share_the_edges_out() {
        let mut r = rng(13);
        for trial in 0..100 {
            let n = r.random_range(2..400usize);
            let edges = random_edges(&mut r, n, 3 * n);
            let scores: Vec<f32> = edges.iter().map(|_| r.random_range(0.0..1.0)).collect();
            let (cut, max_groups) = (0.3, 1 + trial % 5);
            let (group, n_groups) = split_into_groups(n, &edges, &scores, cut, max_groups);
            assert!((1..=max_groups).contains(&n_groups), "trial {trial}");
            let kept: Vec<(u32, u32)> = edges
                .iter()
                .zip(&scores)
                .filter(|&(_, &s)| s >= cut)
                .map(|(&e, _)| e)
                .collect();
            let mut load = vec![0usize; n_groups];
            for &(a, b) in &kept {
                assert_eq!(
                    group[a as usize], group[b as usize],
                    "trial {trial}: edge {a}-{b}"
                );
                load[usize::from(group[a as usize])] += 1;
            }
            // Largest first to the least loaded group: no group exceeds another by more than
            // the largest component.
            let largest = connected_components(n, kept.iter().copied(), 1)
                .iter()
                .map(|c| {
                    kept.iter()
                        .filter(|&&(a, _)| c.binary_search(&a).is_ok())
                        .count()
                })
                .max()
                .unwrap_or(0);
            let (lo, hi) = (load.iter().min().unwrap(), load.iter().max().unwrap());
            assert!(
                hi - lo <= largest,
                "trial {trial}: loads {load:?}, largest {largest}"
            );
            if kept.is_empty() {
                assert!(group.iter().all(|&g| g == 0), "trial {trial}");
            }
        }
    }

    #[test]
    fn keys_sorted_by_high_word_keep_their_order_among_equals() {
        let mut r = rng(11);
        for trial in 0..50 {
            let bound = [1usize, 7, 2048, 2049, 300_000, 5_000_000][trial % 6];
            let n = r.random_range(0..3000u64);
            // Low words ascending, as the candidates' slots are: the sort is then that of the
            // whole keys.
            let mut keys: Vec<u64> = (0..n)
                .map(|k| (r.random_range(0..bound as u64) << 32) | k)
                .collect();
            let mut expected = keys.clone();
            expected.sort_unstable();
            sort_by_high_word(&mut keys, bound);
            assert_eq!(keys, expected, "trial {trial}");
        }
    }

    #[test]
    fn lists_merge_by_key_in_list_order_among_equals() {
        let merged = merge_by_key(vec![
            vec![(1, "a1"), (4, "a4"), (4, "a4b"), (9, "a9")],
            vec![],
            vec![(0, "c0"), (4, "c4"), (10, "c10")],
        ]);
        assert_eq!(merged, ["c0", "a1", "a4", "a4b", "c4", "a9", "c10"]);
    }

    #[test]
    fn buffers_far_larger_than_the_last_crossing_needed_give_their_memory_back() {
        // Left from a crossing a hundred times larger: trimmed to what this one used.
        let mut big: Vec<u32> = Vec::with_capacity(1 << 22);
        big.extend(0..40_000);
        trim(&mut big);
        assert!(big.capacity() < 1 << 17, "{}", big.capacity());
        assert_eq!(big.len(), 40_000, "the values stay");
        assert_eq!(big[39_999], 39_999);
        // Up to four times what it used, or small buffers, are kept for the next crossing.
        let mut near: Vec<u32> = Vec::with_capacity(1 << 20);
        near.extend(0..300_000);
        trim(&mut near);
        assert!(near.capacity() >= 1 << 20);
        let mut small: Vec<u32> = Vec::with_capacity(1 << 18);
        trim(&mut small);
        assert!(small.capacity() >= 1 << 18);
    }

    #[test]
    fn identical_candidates_come_out_once() {
        // Two edge chains over the same hits (a duplicated edge list) give one track.
        let h = track_hits(&[(150.0, 0.08, 0.0, 0.0)], 0.0, 2);
        let (mut edges, mut scores) = track_edges(1, &[]);
        edges.extend(edges.clone());
        scores.extend(scores.clone());
        assert_eq!(
            candidate_sets(&h, &edges, &scores, &TrackConfig::default()),
            vec![vec![0, 1, 2, 3]]
        );
    }

    #[test]
    fn many_candidates_sharing_a_first_hit_come_out_ordered_by_their_hits_once() {
        // 30 lines from one point: each group is hit 0 (on line 0) and the last three hits of
        // its own line, so all share their first hit; some groups come twice.
        let lines: Vec<_> = (0..30)
            .map(|k| (150.0, 0.08 + 0.001 * f64::from(k), 0.0, 0.0))
            .collect();
        let h = track_hits(&lines, 0.0, 3);
        let group = |k: u32| vec![4 * k + 3, 0, 4 * k + 1, 4 * k + 2];
        let mut groups: Vec<Vec<u32>> = (0..30).rev().map(group).collect();
        groups.extend([group(5), group(29), group(5)]);
        let candidates = fits_in_order(&h, groups, &TrackConfig::default());
        let found: Vec<Vec<u32>> = candidates.into_iter().map(|c| c.hits).collect();
        let expected: Vec<Vec<u32>> = (0..30)
            .map(|k| vec![0, 4 * k + 1, 4 * k + 2, 4 * k + 3])
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn configuration_errors_name_key_and_value() {
        let bad = TrackConfig {
            path_cut: 1.5,
            ..TrackConfig::default()
        };
        let e = bad.validate().unwrap_err();
        assert!(e.contains("tracks.path_cut") && e.contains("1.5"), "{e}");
        let bad = TrackConfig {
            max_branches: 0,
            ..TrackConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("tracks.max_branches"));
        assert!(TrackConfig::default().validate().is_ok());
    }
}
