//! The fast builders: the hits of every (layer, stave) are indexed in the projective
//! coordinates u = (x - x_ref) / (z - z_ref) and v = (y - y_ref) / (z - y_z), where the window of
//! an inner hit is (nearly) a rectangle.
//!
//! An inner hit with cone slopes (u1, v1) at z1 accepts an outer hit at z2 when
//! |u2 - u1| <= w_x (z2 - z1) / (z2 - z_ref) (and the same in v); the factor grows with z2, so the
//! rectangle |u - u1| <= w_x f(z_max), |v - v1| <= w_y g(z_max) over the outer group's largest z
//! holds every accepted hit. The candidates inside it are decided by
//! [`Cone::accepts`], the test the brute-force reference applies, so all builders agree.
//!
//! - **sweep**: every group is cut into slabs of v a few window heights wide, each sorted by u.
//!   The inner hits are visited in the same (slab, u) order, so consecutive windows fall on the
//!   same one or two outer slabs, where a cursor per slab only moves forward a little.
//! - **rtree**: an R*-tree (`rstar`) over (u, v) of the outer hits, one envelope query per window.
//!
//! The skip edges into the few hits without another edge in are searched the other way round:
//! from each such hit back into the slabs of the inner group, through a rectangle that holds
//! the windows of all its hits, with the same [`Cone::accepts`] test per candidate.
//!
//! The work space (groups, found edges, offsets) lives in [`Scratch`] and is reused from one
//! crossing to the next by a [`super::GraphBuilder`].
//!
//! Size: about 940 lines, one search (grouping, index, passes, assembly) whose
//! steps share private scratch types; split across files they would have to be made visible to
//! the whole graph module.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;
use rstar::primitives::GeomWithData;
use rstar::{AABB, RTree};

use super::{
    Cone, EdgeKind, Graph, GraphConfig, PairWindow, Plan, Reference, Relation, SearchMethod,
};
use crate::hits::Hits;

/// A hit with its projective coordinates.
#[derive(Debug, Clone, Copy)]
struct Point {
    u: f64,
    v: f64,
    z: f64,
    index: u32,
    slab: u32,
}

/// The hits of one (layer, stave), rebuilt for every crossing in the same allocations.
#[derive(Debug, Default)]
struct Group {
    /// Whether the group takes part in this crossing.
    active: bool,
    /// Points in (slab, u) order: the order of the sweep, and the order inner hits are visited
    /// in (so that consecutive windows fall on the same few slabs of the outer group).
    points: Vec<Point>,
    u_min: f64,
    u_max: f64,
    z_min: f64,
    z_max: f64,
    /// Range of |[`Cone::distance`]| over the points: where the windows of the group's hits are
    /// taken.
    distance_min: f64,
    distance_max: f64,
    slabs: Slabs,
    tree: Option<RTree<GeomWithData<[f64; 2], u32>>>,
    /// Work space of the slab scatter.
    spare: Vec<Point>,
    fill: Vec<u32>,
}

/// Slab k of v holds points `offsets[k]..offsets[k + 1]`, each slab sorted by u.
#[derive(Debug, Default)]
struct Slabs {
    v_min: f64,
    inv_width: f64,
    offsets: Vec<u32>,
}

impl Slabs {
    fn count(&self) -> usize {
        self.offsets.len() - 1
    }

    #[inline]
    fn of(&self, v: f64) -> usize {
        // v is finite (checked hits), so the signed cast only needs the clamp.
        let s = ((v - self.v_min) * self.inv_width) as i64;
        s.clamp(0, self.count() as i64 - 1) as usize
    }
}

impl Group {
    /// The members in slabs of `slab_width` in v (one slab when the width is 0), each sorted by u.
    fn rebuild(
        &mut self,
        hits: &Hits,
        reference: &Reference,
        members: &[u32],
        slab_width: f64,
        search: SearchMethod,
    ) {
        self.active = true;
        let points = &mut self.points;
        points.clear();
        points.extend(members.iter().map(|&i| {
            let k = i as usize;
            Point {
                u: reference.u(hits.x[k], hits.z[k]),
                v: reference.v(hits.y[k], hits.z[k]),
                z: hits.z[k],
                index: i,
                slab: 0,
            }
        }));
        let (mut z_min, mut z_max) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut v_min, mut v_max) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut d_min, mut d_max) = (f64::INFINITY, 0.0f64);
        for p in points.iter() {
            let d = Cone::distance(reference, p.u, p.z).abs();
            d_min = d_min.min(d);
            d_max = d_max.max(d);
            if p.z < z_min {
                z_min = p.z;
            }
            if p.z > z_max {
                z_max = p.z;
            }
            if p.v < v_min {
                v_min = p.v;
            }
            if p.v > v_max {
                v_max = p.v;
            }
        }
        let span = v_max - v_min;
        let n_slabs = if slab_width > 0.0 && span > 0.0 {
            // At most one slab per four points.
            ((span / slab_width) as usize + 1).min((points.len() / 4).max(1))
        } else {
            1
        };
        let slabs = &mut self.slabs;
        slabs.v_min = v_min;
        slabs.inv_width = if span > 0.0 {
            n_slabs as f64 / span
        } else {
            0.0
        };
        slabs.offsets.clear();
        slabs.offsets.resize(n_slabs + 1, 0);
        // A counting scatter into the slabs, then each slab sorted by u: the same order as one
        // sort of all points followed by a stable scatter, in sorts a few hundred points long.
        // The points come in increasing hit order (and the scatter keeps it), so a stable sort
        // by u orders ties by hit.
        let by_u = |a: &Point, b: &Point| a.u.total_cmp(&b.u);
        if n_slabs == 1 {
            slabs.offsets[1] = points.len() as u32;
            points.sort_by(by_u);
        } else {
            for p in points.iter_mut() {
                p.slab = slabs.of(p.v) as u32;
                slabs.offsets[p.slab as usize + 1] += 1;
            }
            for k in 0..n_slabs {
                slabs.offsets[k + 1] += slabs.offsets[k];
            }
            self.fill.clear();
            self.fill.extend_from_slice(&slabs.offsets[..n_slabs]);
            self.spare.clear();
            self.spare.resize(points.len(), points[0]);
            for p in points.iter() {
                let at = &mut self.fill[p.slab as usize];
                self.spare[*at as usize] = *p;
                *at += 1;
            }
            std::mem::swap(points, &mut self.spare);
            for k in 0..n_slabs {
                let (a, b) = (slabs.offsets[k] as usize, slabs.offsets[k + 1] as usize);
                points[a..b].sort_by(by_u);
            }
        }
        let points = &self.points;
        let (u_min, u_max) = points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p.u), hi.max(p.u))
            });
        (self.u_min, self.u_max, self.z_min, self.z_max) = (u_min, u_max, z_min, z_max);
        (self.distance_min, self.distance_max) = (d_min, d_max);
        self.tree = (search == SearchMethod::Rtree).then(|| {
            RTree::bulk_load(
                points
                    .iter()
                    .enumerate()
                    .map(|(k, p)| GeomWithData::new([p.u, p.v], k as u32))
                    .collect(),
            )
        });
    }

    /// Visits the points inside the rectangle, slab by slab. With a cursor, `cursor[k]`
    /// remembers where the last query started in slab k; queries come in increasing u, so it
    /// moves forward a little each time. Without one, each slab is searched by bisection.
    #[inline]
    fn sweep(
        &self,
        mut cursor: Option<&mut [u32]>,
        lo: [f64; 2],
        hi: [f64; 2],
        mut f: impl FnMut(&Point),
    ) {
        let (first, last) = (self.slabs.of(lo[1]), self.slabs.of(hi[1]));
        let offsets = &self.slabs.offsets;
        for k in first..=last {
            let a = offsets[k] as usize;
            let slab = &self.points[a..offsets[k + 1] as usize];
            let c = cursor.as_deref().map_or(u32::MAX, |c| c[k]);
            let start = if c == u32::MAX {
                slab.partition_point(|p| p.u < lo[0])
            } else {
                let mut j = c as usize - a;
                while j > 0 && slab[j - 1].u >= lo[0] {
                    j -= 1;
                }
                while j < slab.len() && slab[j].u < lo[0] {
                    j += 1;
                }
                j
            };
            if let Some(cursor) = cursor.as_deref_mut() {
                cursor[k] = (a + start) as u32;
            }
            for p in &slab[start..] {
                if p.u > hi[0] {
                    break;
                }
                if p.v >= lo[1] && p.v <= hi[1] {
                    f(p);
                }
            }
        }
    }

    /// Visits the points inside the rectangle with an R-tree query.
    #[inline]
    fn query(&self, lo: [f64; 2], hi: [f64; 2], mut f: impl FnMut(&Point)) {
        let tree = self.tree.as_ref().expect("built for the R-tree search");
        for item in tree.locate_in_envelope(&AABB::from_corners(lo, hi)) {
            f(&self.points[item.data as usize]);
        }
    }
}

/// Hits per group, each list in increasing hit order, and the largest z of each group.
fn members_by_group(hits: &Hits, plan: &Plan, members: &mut Vec<Vec<u32>>, z_max: &mut Vec<f64>) {
    members.resize_with(plan.n_groups, Vec::new);
    for m in members.iter_mut() {
        m.clear();
    }
    z_max.clear();
    z_max.resize(plan.n_groups, f64::NEG_INFINITY);
    for i in 0..hits.len() {
        let g = plan.group(hits.layer[i], hits.stave[i]);
        members[g].push(i as u32);
        z_max[g] = z_max[g].max(hits.z[i]);
    }
}

/// Typical half-height in v of the windows that look into group `g` (the mean over a sample of
/// the inner hits of every relation into it); for a group nothing looks into, that of the
/// windows it looks with, so that its hits are still visited slab by slab. `z_max` holds the
/// largest z of each group's members.
fn typical_v_half_range(
    hits: &Hits,
    plan: &Plan,
    members: &[Vec<u32>],
    z_max: &[f64],
    reference: &Reference,
    g: usize,
) -> f64 {
    let mut pairs: Vec<(usize, usize, &Relation)> = Vec::new();
    for (inner, relations) in plan.relations.iter().enumerate() {
        pairs.extend(
            relations
                .iter()
                .filter(|r| r.target == g)
                .map(|r| (inner, g, r)),
        );
    }
    if pairs.is_empty() {
        pairs.extend(plan.relations[g].iter().map(|r| (g, r.target, r)));
    }
    let (mut sum, mut count) = (0.0, 0usize);
    for (inner, target, r) in pairs {
        let z_max = z_max[target];
        let step = (members[inner].len() / 256).max(1);
        for &i in members[inner].iter().step_by(step) {
            let k = i as usize;
            let dz = z_max - hits.z[k];
            if dz > 0.0 {
                let w = r.window.y.at(hits.x[k] - reference.x);
                sum += w * dz / (z_max - reference.y_z);
                count += 1;
            }
        }
    }
    if count == 0 { 0.0 } else { sum / count as f64 }
}

/// Edges found for a run of inner hits: per inner hit a block of (dst, kind) sorted by dst.
#[derive(Debug, Default)]
struct Found {
    /// (inner hit, number of edges), in the order of the blocks in `edges`.
    blocks: Vec<(u32, u32)>,
    edges: Vec<(u32, EdgeKind)>,
}

/// Everything the builder allocates, kept from one crossing to the next.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    members: Vec<Vec<u32>>,
    /// The largest z of each group's members.
    z_max: Vec<f64>,
    groups: Vec<Group>,
    /// Whether each group's index holds its hits of the crossing being built (a later pass
    /// over the same crossing then uses it as it is).
    indexed: Vec<bool>,
    /// The edges of the first pass of a search in several passes, which the last pass merges
    /// with the skip edges into the output graph.
    staging: Graph,
    found: Vec<Found>,
    block_of: Vec<(u32, u32)>,
    /// Where each inner hit's edges start in the assembled graph (`n + 1` entries).
    offsets: Vec<u32>,
    /// Whether each hit has an edge out, and in, before the needed skip edges are searched.
    has_out: Vec<bool>,
    has_in: Vec<bool>,
}

/// What one search keeps.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limit {
    /// The search stops as soon as it has found more edges than this.
    pub max_edges: usize,
    /// Inner hits with a higher index are not searched (`u32::MAX`: every hit).
    pub last_inner: u32,
}

/// Which relations a search follows and which edges in their windows it keeps.
#[derive(Debug, Clone, Copy)]
enum Pass<'a> {
    /// Every relation, every edge.
    All,
    /// Next-layer and stave-overlap relations.
    NonSkip,
    /// Skip relations, edges a -> c into hits `c` without a non-skip edge in (searched from
    /// those hits back, by [`skips_into_lone_hits`]).
    SkipsIntoLoneHits { has_in: &'a [bool] },
    /// Skip relations, edges a -> c out of hits `a` without a non-skip edge out, into hits
    /// that have one in (the others are those of [`Pass::SkipsIntoLoneHits`]).
    SkipsFromLoneHits {
        has_out: &'a [bool],
        has_in: &'a [bool],
    },
}

impl Pass<'_> {
    fn follows(&self, r: &Relation) -> bool {
        match self {
            Pass::All => true,
            Pass::NonSkip => r.kind != EdgeKind::Skip,
            Pass::SkipsIntoLoneHits { .. } | Pass::SkipsFromLoneHits { .. } => {
                r.kind == EdgeKind::Skip
            }
        }
    }

    /// Whether inner hit `a` is searched from at all.
    #[inline]
    fn searches_from(&self, a: u32) -> bool {
        match self {
            Pass::SkipsFromLoneHits { has_out, .. } => !has_out[a as usize],
            _ => true,
        }
    }

    /// Whether edge a -> c, inside a window, is kept.
    #[inline]
    fn keeps(&self, c: u32) -> bool {
        match self {
            Pass::All | Pass::NonSkip => true,
            Pass::SkipsIntoLoneHits { has_in } => !has_in[c as usize],
            Pass::SkipsFromLoneHits { has_in, .. } => has_in[c as usize],
        }
    }
}

/// A group an inner group's hits search into, as one search task sees it.
struct Target<'g> {
    group: &'g Group,
    window: PairWindow,
    kind: EdgeKind,
    /// The group's range of u.
    u_range: [f64; 2],
    /// The largest (z2 - z1) / (z2 - z_ref) over both groups, for x and for y: how far in u
    /// and v a window's slope deviation reaches at the target.
    reach_x: f64,
    reach_y: f64,
    /// How far in u the widest window of any inner hit reaches (the largest half-width over
    /// the inner group's distances times `reach_x`).
    widest_u: f64,
    /// One cursor per slab of the target (unset until first used).
    cursor: Vec<u32>,
}

/// Edges found between two updates of the shared counter of a search task.
const COUNT_BATCH: usize = 4096;

/// Builds the graph of `hits` into `out` (its vectors are reused), sorted by (src, dst).
///
/// Stops as soon as more than `limit.max_edges` edges are found, before they are all stored,
/// and returns `Err(edges found so far)`; `out` is then unchanged.
///
/// With `needed_skips`, skip edges are searched for only where they survive
/// [`super::prune::keep_needed_skips`]: first the other relations, then the skip relations into
/// hits without an edge in and out of hits without an edge out. The graph is the same as a
/// search of everything followed by that pruning, and the limit counts only the edges kept.
pub(super) fn build_into(
    hits: &Hits,
    plan: &Plan,
    config: &GraphConfig,
    scratch: &mut Scratch,
    out: &mut Graph,
    limit: Limit,
    needed_skips: bool,
) -> Result<(), usize> {
    if !needed_skips {
        let found = search(hits, plan, config, scratch, limit, false, Pass::All)?;
        assemble(hits.len(), scratch, found, out);
        return Ok(());
    }
    let found = search(hits, plan, config, scratch, limit, false, Pass::NonSkip)?;
    // Built aside (`out` stays as it was if a later pass reaches the limit), in a graph the
    // scratch keeps: the merge with the skip edges writes every edge into `out` once.
    let mut built = std::mem::take(&mut scratch.staging);
    assemble(hits.len(), scratch, found, &mut built);
    let result = add_needed_skips(hits, plan, config, scratch, &built, out, limit);
    scratch.staging = built;
    result
}

/// The second and third passes of [`build_into`]: the needed skip edges, merged with the other
/// edges (`built`, as [`assemble`] left them and their offsets) into `out`.
fn add_needed_skips(
    hits: &Hits,
    plan: &Plan,
    config: &GraphConfig,
    scratch: &mut Scratch,
    built: &Graph,
    out: &mut Graph,
    limit: Limit,
) -> Result<(), usize> {
    let n = hits.len();
    let (mut has_out, mut has_in) = (
        std::mem::take(&mut scratch.has_out),
        std::mem::take(&mut scratch.has_in),
    );
    // The hits with an edge out are those with a row in the assembled graph.
    has_out.clear();
    has_out.extend(scratch.offsets.windows(2).map(|w| w[1] > w[0]));
    has_in.clear();
    has_in.resize(n, false);
    for &d in &built.dst {
        has_in[d as usize] = true;
    }
    let result = search_needed_skips(hits, plan, config, scratch, built, &has_out, &has_in, limit);
    (scratch.has_out, scratch.has_in) = (has_out, has_in);
    let skips = result?;
    merge_edges(built, &skips, EdgeKind::Skip, out);
    Ok(())
}

/// The skip edges out of hits without an edge out (`has_out`) into hits with one in, and into
/// hits without one in (`has_in`), sorted by (src, dst); `Err(edges found)` above the limit.
#[allow(clippy::too_many_arguments)]
fn search_needed_skips(
    hits: &Hits,
    plan: &Plan,
    config: &GraphConfig,
    scratch: &mut Scratch,
    built: &Graph,
    has_out: &[bool],
    has_in: &[bool],
    limit: Limit,
) -> Result<Vec<(u32, u32)>, usize> {
    let mut skips: Vec<(u32, u32)> = Vec::new();
    // Out of lone hits first: it searches the indexes of the first pass as they are.
    let pass = Pass::SkipsFromLoneHits { has_out, has_in };
    let remaining = Limit {
        max_edges: limit.max_edges.saturating_sub(built.len()),
        ..limit
    };
    let found = search(hits, plan, config, scratch, remaining, false, pass)
        .map_err(|more| built.len() + more)?;
    for f in &scratch.found[..found] {
        let mut at = 0;
        for &(hit, count) in &f.blocks {
            let block = &f.edges[at..at + count as usize];
            skips.extend(block.iter().map(|&(j, _)| (hit, j)));
            at += count as usize;
        }
    }
    let remaining = Limit {
        max_edges: limit.max_edges.saturating_sub(built.len() + skips.len()),
        ..limit
    };
    let into = skips_into_lone_hits(hits, plan, config, scratch, has_in, remaining)
        .map_err(|more| built.len() + skips.len() + more)?;
    skips.extend(into);
    skips.sort_unstable();
    Ok(skips)
}

/// The skip edges a -> c into hits c without an edge in (`has_in`), searched from the side of
/// the few such hits: each looks back into the index of the inner group through a rectangle
/// that holds the window of every inner hit (the largest half-widths over the group, at the
/// group's smallest z), and each inner hit inside is tested with its own window
/// ([`Cone::accepts`], as in the forward search). Returns (a, c) pairs in no particular order,
/// or `Err(edges found)` when there are more than `limit.max_edges`.
fn skips_into_lone_hits(
    hits: &Hits,
    plan: &Plan,
    config: &GraphConfig,
    scratch: &Scratch,
    has_in: &[bool],
    limit: Limit,
) -> Result<Vec<(u32, u32)>, usize> {
    let pass = Pass::SkipsIntoLoneHits { has_in };
    let (groups, members) = (&scratch.groups, &scratch.members);
    let reference = &config.reference;
    // One query per (relation, lone hit in its target), with the relation's largest window
    // half-widths over the inner group.
    let mut queries: Vec<(&Group, &Relation, [f64; 2], u32)> = Vec::new();
    for (g, relations) in plan.relations.iter().enumerate() {
        if members[g].is_empty() {
            continue;
        }
        for r in relations.iter().filter(|r| pass.follows(r)) {
            let mut lone = members[r.target]
                .iter()
                .filter(|&&c| pass.keeps(c))
                .peekable();
            if lone.peek().is_some() {
                // The pass out of lone hits followed this relation, so it indexed the group.
                assert!(scratch.indexed[g], "inner group {g} indexed");
                let inner = &groups[g];
                let (lo, hi) = (inner.distance_min, inner.distance_max);
                let widest = [r.window.x.max_over(lo, hi), r.window.y.max_over(lo, hi)];
                queries.extend(lone.map(|&c| (inner, r, widest, c)));
            }
        }
    }
    let found: Vec<Vec<(u32, u32)>> = queries
        .par_chunks(256)
        .map(|chunk| {
            let mut edges = Vec::new();
            for &(inner, r, [wx_max, wy_max], c) in chunk {
                let k = c as usize;
                let (u, v, z) = (
                    reference.u(hits.x[k], hits.z[k]),
                    reference.v(hits.y[k], hits.z[k]),
                    hits.z[k],
                );
                if inner.points.is_empty() || z <= inner.z_min {
                    continue;
                }
                // |u - u1| (z - z_ref) <= w_x(d1) (z - z1) for every accepting inner hit 1,
                // so |u - u1| <= max w_x * (z - min z1) / (z - z_ref) (and the same in v).
                let reach = 1.0 + 1e-9;
                let du =
                    wx_max * (z - inner.z_min) / (z - reference.z) * reach + 1e-9 * (1.0 + u.abs());
                let dv = wy_max * (z - inner.z_min) / (z - reference.y_z) * reach
                    + 1e-9 * (1.0 + v.abs());
                inner.sweep(None, [u - du, v - dv], [u + du, v + dv], |p1| {
                    if p1.index > limit.last_inner {
                        return;
                    }
                    let d = Cone::distance(reference, p1.u, p1.z);
                    let (wx, wy) = (r.window.x.at(d), r.window.y.at(d));
                    let cone = Cone::with_widths(reference, p1.u, p1.v, p1.z, wx, wy);
                    if cone.accepts(u, v, z) {
                        edges.push((p1.index, c));
                    }
                });
            }
            edges
        })
        .collect();
    let total: usize = found.iter().map(Vec::len).sum();
    if total > limit.max_edges {
        return Err(total);
    }
    Ok(found.concat())
}

/// Writes the edges of `graph` (sorted by (src, dst)) and `extra` edges of one kind (sorted,
/// none already in `graph`) into `out`, sorted by (src, dst): the runs of `graph` between two
/// extra edges are copied as blocks.
fn merge_edges(graph: &Graph, extra: &[(u32, u32)], kind: EdgeKind, out: &mut Graph) {
    let total = graph.len() + extra.len();
    out.n_nodes = graph.n_nodes;
    for v in [&mut out.src, &mut out.dst] {
        v.clear();
        v.reserve(total);
    }
    out.kind.clear();
    out.kind.reserve(total);
    let mut from = 0;
    for &edge in extra {
        let at = from + first_edge_after(&graph.src[from..], &graph.dst[from..], edge);
        out.src.extend_from_slice(&graph.src[from..at]);
        out.dst.extend_from_slice(&graph.dst[from..at]);
        out.kind.extend_from_slice(&graph.kind[from..at]);
        out.src.push(edge.0);
        out.dst.push(edge.1);
        out.kind.push(kind);
        from = at;
    }
    out.src.extend_from_slice(&graph.src[from..]);
    out.dst.extend_from_slice(&graph.dst[from..]);
    out.kind.extend_from_slice(&graph.kind[from..]);
}

/// The position of the first edge above `edge` in edges sorted by (src, dst).
fn first_edge_after(src: &[u32], dst: &[u32], edge: (u32, u32)) -> usize {
    let (row_start, row_end) = (
        src.partition_point(|&s| s < edge.0),
        src.partition_point(|&s| s <= edge.0),
    );
    row_start + dst[row_start..row_end].partition_point(|&d| d <= edge.1)
}

/// The number of edges of every inner hit (in hit order), without storing any edge.
pub(super) fn count_per_hit(
    hits: &Hits,
    plan: &Plan,
    config: &GraphConfig,
    scratch: &mut Scratch,
) -> Vec<u32> {
    let unlimited = Limit {
        max_edges: usize::MAX,
        last_inner: u32::MAX,
    };
    let n_found =
        search(hits, plan, config, scratch, unlimited, true, Pass::All).expect("no limit to reach");
    let mut counts = vec![0u32; hits.len()];
    for f in &scratch.found[..n_found] {
        for &(hit, count) in &f.blocks {
            counts[hit as usize] = count;
        }
    }
    counts
}

/// Runs the window searches into `scratch.found` and returns how many of its entries were
/// used; `count_only` records the blocks' sizes without their edges.
#[allow(clippy::too_many_arguments)]
fn search(
    hits: &Hits,
    plan: &Plan,
    config: &GraphConfig,
    scratch: &mut Scratch,
    limit: Limit,
    count_only: bool,
    pass: Pass<'_>,
) -> Result<usize, usize> {
    let n = hits.len();
    let is_inner = index_groups(hits, plan, config, scratch, pass);
    let groups = &scratch.groups;

    // Tasks: runs of inner hits of one group, in increasing u.
    let chunk = (n / (8 * rayon::current_num_threads().max(1))).clamp(1024, 1 << 15);
    let tasks: Vec<(usize, usize, usize)> = groups
        .iter()
        .enumerate()
        .filter(|&(g, _)| is_inner[g])
        .flat_map(|(g, group)| {
            let len = group.points.len();
            (0..len.div_ceil(chunk)).map(move |c| (g, c * chunk, ((c + 1) * chunk).min(len)))
        })
        .collect();
    scratch.found.resize_with(tasks.len(), Found::default);
    let found = &mut scratch.found[..tasks.len()];
    let shared = Shared {
        limit,
        count_only,
        edges: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    };
    found
        .par_iter_mut()
        .zip(&tasks)
        .for_each(|(f, &(g, a, b))| {
            search_run(
                groups,
                g,
                a..b,
                &plan.relations[g],
                config,
                &shared,
                f,
                pass,
            )
        });
    let edges = shared.edges.load(Ordering::Relaxed);
    if shared.stop.load(Ordering::Relaxed) {
        // Give the memory of the stored edges back now: the caller's next crossing may be small.
        for f in found.iter_mut() {
            *f = Found::default();
        }
        return Err(edges);
    }
    if !count_only {
        // Each inner hit's block sorted by outer hit.
        found.par_iter_mut().for_each(|f| {
            let mut start = 0usize;
            for &(_, count) in &f.blocks {
                let end = start + count as usize;
                if count > 1 {
                    f.edges[start..end].sort_unstable_by_key(|&(j, _)| j);
                }
                start = end;
            }
        });
    }
    Ok(tasks.len())
}

/// Builds the index of every group that pass `pass` searches from or into, unless an earlier
/// pass over the same crossing built it; returns which groups it searches from. The first pass
/// over a crossing ([`Pass::All`], [`Pass::NonSkip`]) also sorts the hits into their groups.
fn index_groups(
    hits: &Hits,
    plan: &Plan,
    config: &GraphConfig,
    scratch: &mut Scratch,
    pass: Pass<'_>,
) -> Vec<bool> {
    let reference = &config.reference;
    if matches!(pass, Pass::All | Pass::NonSkip) {
        // The first pass over a crossing: the members and indexes are another crossing's.
        members_by_group(hits, plan, &mut scratch.members, &mut scratch.z_max);
        scratch.indexed.clear();
    }
    scratch.indexed.resize(plan.n_groups, false);
    let members = &scratch.members;

    let mut is_inner = vec![false; plan.n_groups];
    let mut is_target = vec![false; plan.n_groups];
    for (g, relations) in plan.relations.iter().enumerate() {
        for r in relations.iter().filter(|r| pass.follows(r)) {
            if !members[g].is_empty() && !members[r.target].is_empty() {
                is_target[r.target] = true;
                is_inner[g] = true;
            }
        }
    }
    scratch.groups.resize_with(plan.n_groups, Group::default);
    let indexed = &scratch.indexed;
    let z_max = &scratch.z_max;
    scratch
        .groups
        .par_iter_mut()
        .enumerate()
        .for_each(|(g, group)| {
            group.active = false;
            if is_inner[g] || is_target[g] {
                if indexed[g] {
                    // Built by an earlier pass over this crossing.
                    group.active = true;
                    return;
                }
                // Slabs a few window heights wide: most windows fall on one or two.
                let half = typical_v_half_range(hits, plan, members, z_max, reference, g);
                let width = match config.search {
                    SearchMethod::Sweep => 4.0 * half,
                    SearchMethod::Rtree => 0.0,
                };
                group.rebuild(hits, reference, &members[g], width, config.search);
            }
        });
    for g in 0..plan.n_groups {
        if is_inner[g] || is_target[g] {
            scratch.indexed[g] = true;
        }
    }
    is_inner
}

/// Moves the edges of `scratch.found[..n_found]` into `out`, sorted by (src, dst).
fn assemble(n: usize, scratch: &mut Scratch, n_found: usize, out: &mut Graph) {
    let Scratch {
        found,
        block_of,
        offsets,
        ..
    } = scratch;
    let found = &found[..n_found];
    // Where each inner hit's block is, and where it goes: a counting sort by inner hit.
    block_of.clear();
    block_of.resize(n, (u32::MAX, 0));
    offsets.clear();
    offsets.resize(n + 1, 0);
    for (t, f) in found.iter().enumerate() {
        let mut start = 0u32;
        for &(hit, count) in &f.blocks {
            block_of[hit as usize] = (t as u32, start);
            offsets[hit as usize + 1] = count;
            start += count;
        }
    }
    for i in 0..n {
        offsets[i + 1] += offsets[i];
    }
    let total = offsets[n] as usize;
    out.n_nodes = n;
    for v in [&mut out.src, &mut out.dst] {
        v.clear();
        v.resize(total, 0);
    }
    out.kind.clear();
    out.kind.resize(total, EdgeKind::Next);
    // Fill runs of hits in parallel, each into its own stretch of the output.
    let piece = n
        .div_ceil(4 * rayon::current_num_threads().max(1))
        .max(4096);
    let mut pieces = Vec::with_capacity(n.div_ceil(piece));
    let (mut s_rest, mut d_rest, mut k_rest) =
        (&mut out.src[..], &mut out.dst[..], &mut out.kind[..]);
    for first in (0..n).step_by(piece) {
        let last = (first + piece).min(n);
        let len = (offsets[last] - offsets[first]) as usize;
        let (s_here, s_tail) = std::mem::take(&mut s_rest).split_at_mut(len);
        let (d_here, d_tail) = std::mem::take(&mut d_rest).split_at_mut(len);
        let (k_here, k_tail) = std::mem::take(&mut k_rest).split_at_mut(len);
        (s_rest, d_rest, k_rest) = (s_tail, d_tail, k_tail);
        pieces.push((first..last, s_here, d_here, k_here));
    }
    let (block_of, offsets) = (&*block_of, &*offsets);
    pieces
        .into_par_iter()
        .for_each(|(hits_range, s_out, d_out, k_out)| {
            let base = offsets[hits_range.start] as usize;
            for i in hits_range {
                let (at, end) = (offsets[i] as usize - base, offsets[i + 1] as usize - base);
                if at == end {
                    continue;
                }
                let (t, start) = block_of[i];
                let block = &found[t as usize].edges[start as usize..][..end - at];
                s_out[at..end].fill(i as u32);
                for ((d, k), &(j, e)) in d_out[at..end]
                    .iter_mut()
                    .zip(&mut k_out[at..end])
                    .zip(block)
                {
                    *d = j;
                    *k = e;
                }
            }
        });
}

/// The state all search tasks of one crossing share: the edges found so far and whether to stop.
struct Shared {
    limit: Limit,
    count_only: bool,
    edges: AtomicUsize,
    stop: AtomicBool,
}

impl Shared {
    /// Adds a task's new edges to the total; false once the total is above the limit (or
    /// another task found it so).
    fn add(&self, edges: usize) -> bool {
        let total = self.edges.fetch_add(edges, Ordering::Relaxed) + edges;
        if total > self.limit.max_edges {
            self.stop.store(true, Ordering::Relaxed);
        }
        !self.stop.load(Ordering::Relaxed)
    }
}

/// Searches every relation of the inner hits at positions `run` of group `g`.
#[allow(clippy::too_many_arguments)]
fn search_run(
    groups: &[Group],
    g: usize,
    run: std::ops::Range<usize>,
    relations: &[Relation],
    config: &GraphConfig,
    shared: &Shared,
    out: &mut Found,
    pass: Pass<'_>,
) {
    let reference = &config.reference;
    let inner = &groups[g];
    out.blocks.clear();
    out.edges.clear();
    if shared.stop.load(Ordering::Relaxed) {
        return;
    }
    let mut pending = 0usize;
    let mut targets: Vec<Target> = relations
        .iter()
        .filter(|r| pass.follows(r))
        .filter_map(|r| {
            let t = &groups[r.target];
            if !t.active || t.points.is_empty() || t.z_max <= inner.z_min {
                return None;
            }
            let reach_x = (t.z_max - inner.z_min) / (t.z_max - reference.z) * (1.0 + 1e-9);
            let reach_y = (t.z_max - inner.z_min) / (t.z_max - reference.y_z) * (1.0 + 1e-9);
            let widest_u = r.window.x.max_over(inner.distance_min, inner.distance_max)
                * reach_x
                * (1.0 + 1e-9);
            Some(Target {
                group: t,
                window: r.window,
                kind: r.kind,
                u_range: [t.u_min, t.u_max],
                reach_x,
                reach_y,
                widest_u,
                cursor: match config.search {
                    SearchMethod::Sweep => vec![u32::MAX; t.slabs.count()],
                    SearchMethod::Rtree => Vec::new(),
                },
            })
        })
        .collect();
    let mut next_slab_at = run.start;
    for pos in run {
        if pos >= next_slab_at {
            // A new slab of inner hits starts again from low u: forget the cursors.
            let slab = inner.slabs.offsets.partition_point(|&o| o as usize <= pos) - 1;
            next_slab_at = inner.slabs.offsets[slab + 1] as usize;
            for t in targets.iter_mut() {
                t.cursor.fill(u32::MAX);
            }
        }
        let p1 = &inner.points[pos];
        if p1.index > shared.limit.last_inner || !pass.searches_from(p1.index) {
            continue;
        }
        let d = Cone::distance(reference, p1.u, p1.z);
        let (margin_u, margin_v) = (1e-12 * (1.0 + p1.u.abs()), 1e-12 * (1.0 + p1.v.abs()));
        let start = out.edges.len();
        for t in targets.iter_mut() {
            // The x window first: most hits see only one stave of the next layer, and the
            // widest window of the group tells most of the others apart without this hit's.
            let [u_min, u_max] = t.u_range;
            let widest = t.widest_u + margin_u;
            if p1.u + widest < u_min || p1.u - widest > u_max {
                continue;
            }
            let wx = t.window.x.at(d);
            let du = wx * t.reach_x + margin_u;
            let (lo_u, hi_u) = (p1.u - du, p1.u + du);
            if hi_u < u_min || lo_u > u_max {
                continue;
            }
            let wy = t.window.y.at(d);
            let cone = Cone::with_widths(reference, p1.u, p1.v, p1.z, wx, wy);
            let dv = wy * t.reach_y + margin_v;
            let lo = [lo_u, p1.v - dv];
            let hi = [hi_u, p1.v + dv];
            let kind = t.kind;
            let edges = &mut out.edges;
            let visit = |p: &Point| {
                if pass.keeps(p.index) && cone.accepts(p.u, p.v, p.z) {
                    edges.push((p.index, kind));
                }
            };
            match config.search {
                SearchMethod::Sweep => t.group.sweep(Some(&mut t.cursor), lo, hi, visit),
                SearchMethod::Rtree => t.group.query(lo, hi, visit),
            }
        }
        let count = out.edges.len() - start;
        if count > 0 {
            // Blocks are sorted once the search is known to complete (a search stopped by
            // the cap does not pay for it).
            if shared.count_only {
                out.edges.truncate(start);
            }
            out.blocks.push((p1.index, count as u32));
            pending += count;
            if pending >= COUNT_BATCH {
                if !shared.add(pending) {
                    return;
                }
                pending = 0;
            }
        }
    }
    shared.add(pending);
}
