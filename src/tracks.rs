//! Track building: scored edges to track candidates with a straight-line fit.
//!
//! 1. Edges scoring at least the cut are kept.
//! 2. Junctions are resolved per stave: a hit keeps at most one incoming edge from each
//!    (layer, stave) and one outgoing edge to each (layer, stave), the best-scoring one. A track
//!    has at most one hit per stave, so this removes the branches where crossing tracks would
//!    merge, while a positron crossing the stave overlap keeps its triangle of edges.
//! 3. Connected components of the remaining edges (union-find, linear time) with at least
//!    `min_hits` hits become candidates. A piece too short to be a candidate gets the hit at the
//!    other end of its best edge removed in step 2 (`share_hits`): where two positrons' hits
//!    merged into one, both candidates keep it.
//! 4. Pieces left apart by a missing hit or by an edge the classifier cut are joined where a
//!    straight line through one passes close to the other ([`join_pieces`]).
//! 5. Each candidate gets a weighted least-squares fit of x(z) and y(z) (tracks are straight in
//!    the field-free tracker), optionally dropping outliers, and a momentum estimate p = k / x
//!    at the reference plane (x * p is constant behind the dipole).

use nalgebra::{Matrix2, Vector2};
use serde::{Deserialize, Serialize};

use crate::hits::Hits;

/// Settings of track building.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackConfig {
    /// Edges with a score (probability) at least this are kept.
    pub edge_cut: f32,
    /// Candidates with fewer hits are dropped.
    pub min_hits: usize,
    /// Keep only the best edge per hit and neighbouring stave (see the module docs).
    pub resolve_junctions: bool,
    /// Give a piece shorter than `min_hits` that junction resolution cut off the hit at the other
    /// end of its best removed edge, so that hit is shared by two candidates (two positrons whose
    /// hits merged into one).
    pub share_hits: bool,
    /// Join pieces that the edge classifier or a missing hit left apart (see [`join_pieces`]).
    pub join_pieces: bool,
    /// Before joining, cut a group whose line fit has a chi2 / ndf above this into its upstream
    /// and downstream halves (by layer), so that two halves of different positrons joined by a
    /// wrong edge are rejoined with their own; `None` cuts nothing.
    pub split_chi2_ndf: Option<f64>,
    /// Window of piece joining: how far, per mm of extrapolation in z, a hit may lie from the
    /// line of a piece in x and in y, mm / mm (rad), for a positron of `scattering_momentum_gev`.
    pub join_tolerance_rad: f64,
    /// Momentum for which the joining window and the split threshold hold, GeV. Multiple
    /// scattering grows as 1 / p: for a piece of lower estimated momentum the window widens and
    /// the chi2 threshold rises in proportion (in proportion squared).
    pub scattering_momentum_gev: f64,
    /// Hit position uncertainty used in the fit, mm (resolution and scattering together).
    pub hit_sigma_mm: f64,
    /// Drop the worst hit while its chi2 contribution exceeds this (and more than `min_hits`
    /// hits remain; raised for low momenta like the split threshold); `None` keeps every hit.
    pub outlier_chi2: Option<f64>,
    /// k in p = k / x, mm GeV (673 at 0.95 T, 887 at 1.25 T).
    pub momentum_constant_mm_gev: f64,
    /// z of the plane where x is taken for the momentum estimate, mm (LUXE layer 0).
    pub momentum_reference_z: f64,
}

impl Default for TrackConfig {
    fn default() -> Self {
        TrackConfig {
            edge_cut: 0.5,
            min_hits: 3,
            resolve_junctions: true,
            share_hits: true,
            join_pieces: true,
            split_chi2_ndf: Some(5.0),
            join_tolerance_rad: 0.9e-3,
            scattering_momentum_gev: 3.0,
            hit_sigma_mm: 0.010,
            outlier_chi2: Some(20.0),
            momentum_constant_mm_gev: 673.0,
            momentum_reference_z: 3956.0125,
        }
    }
}

/// Straight-line fit of one candidate: x(z) = x0 + tx (z - z0), y(z) = y0 + ty (z - z0).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LineFit {
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
    /// Covariance of (x0, tx), mm and rad.
    pub cov_x: [[f64; 2]; 2],
    /// Covariance of (y0, ty).
    pub cov_y: [[f64; 2]; 2],
    /// Chi-square of both projections.
    pub chi2: f64,
    /// Degrees of freedom: 2 n - 4.
    pub ndf: i32,
    /// Momentum estimate k / x(momentum_reference_z), GeV (0 when x <= 0).
    pub p_estimate: f64,
}

impl LineFit {
    /// x at `z`.
    pub fn x_at(&self, z: f64) -> f64 {
        self.x0 + self.tx * (z - self.z0)
    }
    /// y at `z`.
    pub fn y_at(&self, z: f64) -> f64 {
        self.y0 + self.ty * (z - self.z0)
    }
}

/// A track candidate: indices into the input hits (sorted by z) and its fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Hit indices, ordered by z.
    pub hits: Vec<u32>,
    /// Straight-line fit.
    pub fit: LineFit,
}

/// Union-find with path halving and union by size.
#[derive(Debug, Clone)]
pub struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    /// `n` singletons.
    pub fn new(n: usize) -> UnionFind {
        UnionFind {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }
    /// Representative of `i`'s set.
    pub fn find(&mut self, mut i: u32) -> u32 {
        while self.parent[i as usize] != i {
            let grand = self.parent[self.parent[i as usize] as usize];
            self.parent[i as usize] = grand;
            i = grand;
        }
        i
    }
    /// Joins the sets of `a` and `b`.
    pub fn union(&mut self, a: u32, b: u32) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a as usize] < self.size[b as usize] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b as usize] = a;
        self.size[a as usize] += self.size[b as usize];
    }
}

/// Connected components of an undirected graph on `n` nodes with at least `min_size` nodes,
/// each sorted, ordered by their smallest node.
pub fn connected_components(
    n: usize,
    edges: impl Iterator<Item = (u32, u32)>,
    min_size: usize,
) -> Vec<Vec<u32>> {
    let mut uf = UnionFind::new(n);
    let mut touched = vec![false; n];
    for (a, b) in edges {
        uf.union(a, b);
        touched[a as usize] = true;
        touched[b as usize] = true;
    }
    let mut slot = vec![u32::MAX; n];
    let mut components: Vec<Vec<u32>> = Vec::new();
    for i in 0..n as u32 {
        if !touched[i as usize] {
            continue;
        }
        let root = uf.find(i) as usize;
        if slot[root] == u32::MAX {
            slot[root] = components.len() as u32;
            components.push(Vec::new());
        }
        components[slot[root] as usize].push(i);
    }
    components.retain(|c| c.len() >= min_size.max(1));
    components
}

/// Indices of the edges that survive junction resolution: edge e = (a, b) is kept when it is
/// the best-scoring edge from a to b's stave and the best-scoring edge into b from a's stave.
/// Ties go to the lower edge index.
pub fn resolve_junctions(
    hits: &Hits,
    edges: &[(u32, u32)],
    scores: &[f32],
    candidates: &[u32],
) -> Vec<u32> {
    let better = |e: u32, f: u32| {
        let (se, sf) = (scores[e as usize], scores[f as usize]);
        se > sf || (se == sf && e < f)
    };
    // Dense slots (hit, layer * staves + stave) when the detector is small (every LUXE layout),
    // a hash map otherwise.
    let n_staves = hits
        .stave
        .iter()
        .map(|&s| s as usize + 1)
        .max()
        .unwrap_or(1);
    let n_layers = hits
        .layer
        .iter()
        .map(|&l| l as usize + 1)
        .max()
        .unwrap_or(1);
    let slots = n_staves * n_layers;
    let slot =
        |h: u32| hits.layer[h as usize] as usize * n_staves + hits.stave[h as usize] as usize;
    let keep = |best_out: &dyn Fn(u32, u32) -> u32, best_in: &dyn Fn(u32, u32) -> u32| {
        candidates
            .iter()
            .copied()
            .filter(|&e| {
                let (a, b) = edges[e as usize];
                best_out(a, b) == e && best_in(b, a) == e
            })
            .collect::<Vec<u32>>()
    };
    if slots <= 64 {
        const NONE: u32 = u32::MAX;
        let mut best_out = vec![NONE; hits.len() * slots];
        let mut best_in = vec![NONE; hits.len() * slots];
        for &e in candidates {
            let (a, b) = edges[e as usize];
            for cell in [
                &mut best_out[a as usize * slots + slot(b)],
                &mut best_in[b as usize * slots + slot(a)],
            ] {
                if *cell == NONE || better(e, *cell) {
                    *cell = e;
                }
            }
        }
        keep(&|a, b| best_out[a as usize * slots + slot(b)], &|b, a| {
            best_in[b as usize * slots + slot(a)]
        })
    } else {
        use std::collections::HashMap;
        let mut best_out: HashMap<(u32, usize), u32> = HashMap::with_capacity(candidates.len());
        let mut best_in: HashMap<(u32, usize), u32> = HashMap::with_capacity(candidates.len());
        for &e in candidates {
            let (a, b) = edges[e as usize];
            for cell in [
                best_out.entry((a, slot(b))).or_insert(e),
                best_in.entry((b, slot(a))).or_insert(e),
            ] {
                if better(e, *cell) {
                    *cell = e;
                }
            }
        }
        keep(&|a, b| best_out[&(a, slot(b))], &|b, a| {
            best_in[&(b, slot(a))]
        })
    }
}

/// Fits x(z) and y(z) by weighted least squares with equal weights 1/sigma^2.
/// Returns `None` for fewer than two distinct z values.
pub fn fit_line(
    x: &[f64],
    y: &[f64],
    z: &[f64],
    sigma: f64,
    config: &TrackConfig,
) -> Option<LineFit> {
    let n = z.len();
    let z0 = z.iter().copied().fold(f64::INFINITY, f64::min);
    let w = 1.0 / (sigma * sigma);
    // Normal equations of [1, z - z0] (shared by both projections).
    let mut a = Matrix2::zeros();
    let (mut bx, mut by) = (Vector2::zeros(), Vector2::zeros());
    for i in 0..n {
        let d = z[i] - z0;
        let row = Vector2::new(1.0, d);
        a += w * row * row.transpose();
        bx += w * x[i] * row;
        by += w * y[i] * row;
    }
    let cov = a.try_inverse()?;
    if !cov.iter().all(|v| v.is_finite()) || a.determinant().abs() < 1e-12 * w * w {
        return None;
    }
    let px = cov * bx;
    let py = cov * by;
    let mut chi2 = 0.0;
    for i in 0..n {
        let d = z[i] - z0;
        chi2 += w * ((x[i] - px[0] - px[1] * d).powi(2) + (y[i] - py[0] - py[1] * d).powi(2));
    }
    let cov_arr = [[cov[(0, 0)], cov[(0, 1)]], [cov[(1, 0)], cov[(1, 1)]]];
    let mut fit = LineFit {
        z0,
        x0: px[0],
        y0: py[0],
        tx: px[1],
        ty: py[1],
        cov_x: cov_arr,
        cov_y: cov_arr,
        chi2,
        ndf: 2 * n as i32 - 4,
        p_estimate: 0.0,
    };
    let x_ref = fit.x_at(config.momentum_reference_z);
    fit.p_estimate = if x_ref > 0.0 {
        config.momentum_constant_mm_gev / x_ref
    } else {
        0.0
    };
    Some(fit)
}

/// How much wider than at `scattering_momentum_gev` multiple scattering makes the paths of a
/// positron with this fit: p0 / p for lower momenta, 1 otherwise (and without an estimate).
fn scattering_scale(fit: &LineFit, config: &TrackConfig) -> f64 {
    if fit.p_estimate > 0.0 {
        (config.scattering_momentum_gev / fit.p_estimate).clamp(1.0, 10.0)
    } else {
        1.0
    }
}

/// Fits a candidate's hits, dropping outliers if configured; returns the hits kept and the fit.
fn fit_candidate(hits: &Hits, mut members: Vec<u32>, config: &TrackConfig) -> Option<Candidate> {
    members.sort_by(|&a, &b| {
        hits.z[a as usize]
            .total_cmp(&hits.z[b as usize])
            .then(a.cmp(&b))
    });
    loop {
        let col = |v: &Vec<f64>| members.iter().map(|&i| v[i as usize]).collect::<Vec<f64>>();
        let (x, y, z) = (col(&hits.x), col(&hits.y), col(&hits.z));
        let fit = fit_line(&x, &y, &z, config.hit_sigma_mm, config)?;
        let Some(limit) = config.outlier_chi2 else {
            return Some(Candidate { hits: members, fit });
        };
        if members.len() <= config.min_hits.max(3) {
            return Some(Candidate { hits: members, fit });
        }
        let s2 = (config.hit_sigma_mm * scattering_scale(&fit, config)).powi(2);
        let (worst, worst_chi2) = (0..members.len())
            .map(|k| {
                let c = ((x[k] - fit.x_at(z[k])).powi(2) + (y[k] - fit.y_at(z[k])).powi(2)) / s2;
                (k, c)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("non-empty");
        if worst_chi2 <= limit {
            return Some(Candidate { hits: members, fit });
        }
        members.remove(worst);
    }
}

/// Pieces shorter than `min_hits` left by junction resolution (a hit that lost every edge is a
/// piece of one) are given the hit at the other end of their best-scoring removed edge (above the
/// cut): two positrons whose hits merged into one keep that hit in both candidates. Returns the
/// extended pieces that reach `min_hits`, and with `keep_short` also the others (for joining).
#[allow(clippy::too_many_arguments)]
fn attach_short_pieces(
    n: usize,
    edges: &[(u32, u32)],
    scores: &[f32],
    above_cut: &[u32],
    kept: &[u32],
    components: &[Vec<u32>],
    min_hits: usize,
    keep_short: bool,
) -> Vec<Vec<u32>> {
    let mut piece_of = vec![u32::MAX; n];
    let mut in_component = vec![false; n];
    let mut pieces: Vec<Vec<u32>> = Vec::new();
    for c in components {
        for &h in c {
            in_component[h as usize] = true;
        }
        if c.len() < min_hits {
            for &h in c {
                piece_of[h as usize] = pieces.len() as u32;
            }
            pieces.push(c.clone());
        }
    }
    for &e in above_cut {
        let (a, b) = edges[e as usize];
        for h in [a, b] {
            if !in_component[h as usize] && piece_of[h as usize] == u32::MAX {
                piece_of[h as usize] = pieces.len() as u32;
                pieces.push(vec![h]);
            }
        }
    }
    let mut is_kept = vec![false; edges.len()];
    for &e in kept {
        is_kept[e as usize] = true;
    }
    // Best removed edge per short piece: (score, edge index, outside hit).
    let mut best: Vec<Option<(f32, u32, u32)>> = vec![None; pieces.len()];
    for &e in above_cut {
        if is_kept[e as usize] {
            continue;
        }
        let (a, b) = edges[e as usize];
        for (inside, outside) in [(a, b), (b, a)] {
            let k = piece_of[inside as usize];
            if k == u32::MAX || piece_of[outside as usize] == k {
                continue;
            }
            let s = scores[e as usize];
            let slot = &mut best[k as usize];
            if slot.is_none_or(|(bs, be, _)| s > bs || (s == bs && e < be)) {
                *slot = Some((s, e, outside));
            }
        }
    }
    pieces
        .into_iter()
        .zip(best)
        .filter_map(|(mut members, b)| {
            let (_, _, outside) = b?;
            (keep_short || members.len() + 1 >= min_hits).then(|| {
                members.push(outside);
                members.sort_unstable();
                members
            })
        })
        .collect()
}

/// Share of the joining window inside which a short piece takes a candidate's hit: a merged hit
/// lies within a pixel of both positrons, so a narrower window keeps chance neighbours out
/// (measured: half the window keeps the gain and a third of the added fakes go away at xi = 7).
const BORROW_WINDOW: f64 = 0.5;

/// Hits of one kind (loose or taken) per layer, sorted by x, for window searches around a line.
struct LayerIndex {
    /// (x, hit) per layer, sorted by x.
    by_layer: Vec<Vec<(f64, u32)>>,
    /// Smallest and largest z of the hits of each layer.
    z_range: Vec<(f64, f64)>,
}

impl LayerIndex {
    fn new(hits: &Hits, n_layers: usize, keep: impl Fn(u32) -> bool) -> LayerIndex {
        let mut by_layer: Vec<Vec<(f64, u32)>> = vec![Vec::new(); n_layers];
        for h in 0..hits.len() as u32 {
            if keep(h) {
                by_layer[hits.layer[h as usize] as usize].push((hits.x[h as usize], h));
            }
        }
        let mut z_range = vec![(f64::INFINITY, f64::NEG_INFINITY); n_layers];
        for (l, list) in by_layer.iter_mut().enumerate() {
            list.sort_by(|a, b| a.0.total_cmp(&b.0));
            for &(_, h) in list.iter() {
                let z = hits.z[h as usize];
                z_range[l] = (z_range[l].0.min(z), z_range[l].1.max(z));
            }
        }
        LayerIndex { by_layer, z_range }
    }

    /// The hit of `layer` nearest the line `fit` of a piece whose hits lie at `zs`, if one lies
    /// within `rad` times the z distance to the piece's nearest hit in x and in y; with its
    /// cost (squared distance over squared window).
    fn nearest(
        &self,
        hits: &Hits,
        layer: usize,
        fit: &LineFit,
        zs: &[f64],
        rad: f64,
    ) -> Option<(f64, u32)> {
        let list = self.by_layer.get(layer).filter(|l| !l.is_empty())?;
        let (z_lo, z_hi) = self.z_range[layer];
        let gap = |z: f64| zs.iter().map(|&zp| (z - zp).abs()).fold(f64::MAX, f64::min);
        let reach = rad * gap(z_lo).max(gap(z_hi));
        let (xa, xb) = (fit.x_at(z_lo), fit.x_at(z_hi));
        let (x_lo, x_hi) = (xa.min(xb) - reach, xa.max(xb) + reach);
        let start = list.partition_point(|&(x, _)| x < x_lo);
        let mut best: Option<(f64, u32)> = None;
        for &(x, h) in list[start..].iter().take_while(|&&(x, _)| x <= x_hi) {
            let z = hits.z[h as usize];
            let tol = rad * gap(z);
            let (dx, dy) = (x - fit.x_at(z), hits.y[h as usize] - fit.y_at(z));
            if dx.abs() < tol && dy.abs() < tol {
                let cost = (dx * dx + dy * dy) / (tol * tol);
                if best.is_none_or(|(c, _)| cost < c) {
                    best = Some((cost, h));
                }
            }
        }
        best
    }
}

/// Line fit of a group of hits; also returns their z.
fn fit_group(hits: &Hits, members: &[u32], config: &TrackConfig) -> Option<(LineFit, Vec<f64>)> {
    let col = |v: &Vec<f64>| members.iter().map(|&i| v[i as usize]).collect::<Vec<f64>>();
    let zs = col(&hits.z);
    let fit = fit_line(
        &col(&hits.x),
        &col(&hits.y),
        &zs,
        config.hit_sigma_mm,
        config,
    )?;
    Some((fit, zs))
}

/// Joins pieces of tracks along straight lines.
///
/// `groups` are hit sets (connected components, with shared hits added); those with hits on at
/// least `min_hits` layers are *candidates*, every other hit is *loose* (in a shorter piece or
/// alone).
/// Each group spanning two layers or more is fitted with a line and extrapolated to every layer it
/// lacks; there the loose hit nearest the line is proposed when it lies within the window
/// (`join_tolerance_rad` times the z distance to the group's nearest hit, in x and in y, widened
/// for low momenta, see `scattering_momentum_gev`).
/// Proposals are applied best first: the group takes the hit's whole piece, unless both already
/// have a hit on a common layer or both are candidates. This bridges a missing hit (no edge spans
/// it at high occupancy) and an edge the classifier cut between two halves of a track. Last, a
/// piece still short of a candidate borrows candidates' hits on the layers it lacks, within half
/// the window (hits merged from two positrons).
/// Returns the groups after joining, in no particular order.
pub fn join_pieces(hits: &Hits, groups: Vec<Vec<u32>>, config: &TrackConfig) -> Vec<Vec<u32>> {
    const NONE: u32 = u32::MAX;
    let n = hits.len();
    let layer_bit = |h: u32| 1u64 << (hits.layer[h as usize] & 63);
    let layers_of = |g: &[u32]| g.iter().fold(0u64, |m, &h| m | layer_bit(h));
    // A candidate has hits on min_hits layers at least; a piece with fewer (a stave-overlap
    // pair and one more hit) is still loose.
    let complete = |g: &[u32]| layers_of(g).count_ones() as usize >= config.min_hits;
    // Node of each hit: the group of a loose hit in a short group, or a node of its own.
    let mut taken = vec![false; n];
    for g in groups.iter().filter(|g| complete(g)) {
        for &h in g {
            taken[h as usize] = true;
        }
    }
    let mut node_of = vec![NONE; n];
    let mut nodes: Vec<Vec<u32>> = groups;
    for (k, g) in nodes.iter().enumerate() {
        if !complete(g) {
            for &h in g {
                node_of[h as usize] = k as u32;
            }
        }
    }
    let n_groups = nodes.len();
    for h in 0..n as u32 {
        if !taken[h as usize] && node_of[h as usize] == NONE {
            node_of[h as usize] = nodes.len() as u32;
            nodes.push(vec![h]);
        }
    }
    // Loose hits per layer, sorted by x.
    let n_layers = hits
        .layer
        .iter()
        .map(|&l| l as usize + 1)
        .max()
        .unwrap_or(0);
    let loose = LayerIndex::new(hits, n_layers, |h| !taken[h as usize]);
    // Proposals (cost, node, hit).
    let mut proposals: Vec<(f64, u32, u32)> = Vec::new();
    for (k, members) in nodes.iter().enumerate().take(n_groups) {
        let mask = layers_of(members);
        // A short group whose hits all went to candidates (hit sharing) is theirs.
        let spent = !complete(members) && members.iter().all(|&h| taken[h as usize]);
        if mask.count_ones() < 2 || spent {
            continue;
        }
        let Some((fit, zs)) = fit_group(hits, members, config) else {
            continue;
        };
        let rad = config.join_tolerance_rad * scattering_scale(&fit, config);
        for l in 0..n_layers {
            if mask & (1u64 << l) != 0 {
                continue;
            }
            if let Some((cost, h)) = loose.nearest(hits, l, &fit, &zs, rad) {
                proposals.push((cost, k as u32, h));
            }
        }
    }
    proposals.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    // Union-find over nodes; the root of a set holds its hits, layers and whether it is a
    // candidate. Two sets may share a layer only through the same (shared) hits.
    let mut uf = UnionFind::new(nodes.len());
    let mut mask: Vec<u64> = nodes.iter().map(|m| layers_of(m)).collect();
    let mut big: Vec<bool> = nodes.iter().map(|m| complete(m)).collect();
    let mut members: Vec<Vec<u32>> = nodes;
    for (_, k, h) in proposals {
        let (a, b) = (uf.find(k) as usize, uf.find(node_of[h as usize]) as usize);
        if a == b || (big[a] && big[b]) {
            continue;
        }
        let common = mask[a] & mask[b];
        if common != 0
            && !members[b]
                .iter()
                .filter(|&&x| layer_bit(x) & common != 0)
                .all(|x| members[a].contains(x))
        {
            continue;
        }
        uf.union(a as u32, b as u32);
        let root = uf.find(a as u32) as usize;
        let other = if root == a { b } else { a };
        let mut moved = std::mem::take(&mut members[other]);
        moved.retain(|x| !members[root].contains(x));
        members[root].extend(moved);
        mask[root] = mask[a] | mask[b];
        big[root] = big[a] || big[b];
    }
    let mut joined: Vec<Vec<u32>> = members
        .into_iter()
        .enumerate()
        .filter(|&(k, ref m)| !m.is_empty() && uf.find(k as u32) as usize == k)
        .map(|(_, m)| m)
        .collect();
    // A piece still short of a candidate, with hits of its own on two layers, takes on each
    // layer it lacks the nearest hit of a candidate inside a narrower window: where two
    // positrons merged on those layers, the hits are both positrons'.
    let claimed = LayerIndex::new(hits, n_layers, |h| taken[h as usize]);
    for group in joined.iter_mut().filter(|g| !complete(g)) {
        let own: Vec<u32> = group
            .iter()
            .copied()
            .filter(|&h| !taken[h as usize])
            .collect();
        if layers_of(&own).count_ones() < 2 {
            continue;
        }
        let Some((fit, zs)) = fit_group(hits, group, config) else {
            continue;
        };
        let rad = BORROW_WINDOW * config.join_tolerance_rad * scattering_scale(&fit, config);
        let mask = layers_of(group);
        for l in 0..n_layers {
            if mask & (1u64 << l) == 0
                && let Some((_, h)) = claimed.nearest(hits, l, &fit, &zs, rad)
            {
                group.push(h);
            }
        }
    }
    joined
}

/// Cuts each group of at least `min_hits` hits on four layers or more whose line fit has a
/// chi2 / ndf above `limit` (raised for low momenta, see `scattering_momentum_gev`) into the hits
/// upstream and downstream of its middle layer.
pub fn split_kinked(
    hits: &Hits,
    groups: Vec<Vec<u32>>,
    limit: f64,
    config: &TrackConfig,
) -> Vec<Vec<u32>> {
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let mut layers: Vec<u8> = g.iter().map(|&h| hits.layer[h as usize]).collect();
        layers.sort_unstable();
        layers.dedup();
        if g.len() < config.min_hits || layers.len() < 4 {
            out.push(g);
            continue;
        }
        let kinked = fit_group(hits, &g, config).is_some_and(|(f, _)| {
            f.ndf > 0 && f.chi2 / f64::from(f.ndf) > limit * scattering_scale(&f, config).powi(2)
        });
        if !kinked {
            out.push(g);
            continue;
        }
        let first_downstream = layers[layers.len() / 2];
        let (up, down): (Vec<u32>, Vec<u32>) = g
            .into_iter()
            .partition(|&h| hits.layer[h as usize] < first_downstream);
        out.push(up);
        out.push(down);
    }
    out
}

/// Builds candidates from directed edges (indices into `hits`) and their scores.
pub fn build_candidates(
    hits: &Hits,
    edges: &[(u32, u32)],
    scores: &[f32],
    config: &TrackConfig,
) -> Vec<Candidate> {
    debug_assert_eq!(edges.len(), scores.len());
    let above_cut: Vec<u32> = (0..edges.len() as u32)
        .filter(|&e| scores[e as usize] >= config.edge_cut)
        .collect();
    let kept = if config.resolve_junctions {
        resolve_junctions(hits, edges, scores, &above_cut)
    } else {
        above_cut.clone()
    };
    let mut components =
        connected_components(hits.len(), kept.iter().map(|&e| edges[e as usize]), 1);
    if config.share_hits && config.resolve_junctions {
        let shared = attach_short_pieces(
            hits.len(),
            edges,
            scores,
            &above_cut,
            &kept,
            &components,
            config.min_hits,
            config.join_pieces,
        );
        components.extend(shared);
    }
    if config.join_pieces {
        if let Some(limit) = config.split_chi2_ndf {
            components = split_kinked(hits, components, limit, config);
        }
        components = join_pieces(hits, components, config);
    }
    components
        .into_iter()
        .filter(|c| c.len() >= config.min_hits)
        .filter_map(|c| fit_candidate(hits, c, config))
        .filter(|c| c.hits.len() >= config.min_hits)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hits::Hit;
    use approx::assert_relative_eq;
    use rand::{RngExt, SeedableRng};

    fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(seed)
    }

    /// Components by depth-first search over an adjacency matrix.
    fn brute_components(n: usize, edges: &[(u32, u32)], min_size: usize) -> Vec<Vec<u32>> {
        let mut adj = vec![vec![false; n]; n];
        let mut touched = vec![false; n];
        for &(a, b) in edges {
            adj[a as usize][b as usize] = true;
            adj[b as usize][a as usize] = true;
            touched[a as usize] = true;
            touched[b as usize] = true;
        }
        let mut seen = vec![false; n];
        let mut out = Vec::new();
        for s in 0..n {
            if seen[s] || !touched[s] {
                continue;
            }
            let mut comp = vec![];
            let mut stack = vec![s];
            seen[s] = true;
            while let Some(v) = stack.pop() {
                comp.push(v as u32);
                for w in 0..n {
                    if adj[v][w] && !seen[w] {
                        seen[w] = true;
                        stack.push(w);
                    }
                }
            }
            comp.sort();
            if comp.len() >= min_size {
                out.push(comp);
            }
        }
        out
    }

    #[test]
    fn components_match_brute_force_on_random_graphs() {
        let mut r = rng(1);
        for trial in 0..200 {
            let n = r.random_range(1..60usize);
            let m = r.random_range(0..2 * n);
            let edges: Vec<(u32, u32)> = (0..m)
                .map(|_| (r.random_range(0..n as u32), r.random_range(0..n as u32)))
                .collect();
            let min = 1 + trial % 4;
            assert_eq!(
                connected_components(n, edges.iter().copied(), min),
                brute_components(n, &edges, min),
                "trial {trial}"
            );
        }
    }

    fn random_layered_hits(r: &mut rand_chacha::ChaCha8Rng, n: usize, staves: u8) -> Hits {
        let mut h = Hits::new(false);
        for i in 0..n {
            let layer = r.random_range(0..4u8);
            let stave = r.random_range(0..staves);
            h.push(
                Hit {
                    hit_id: i as u64,
                    x: r.random_range(50.0..500.0),
                    y: 0.0,
                    z: 3950.0 + 100.0 * layer as f64 + 12.0 * stave as f64,
                    layer,
                    stave,
                },
                None,
            );
        }
        h
    }

    #[test]
    fn junction_resolution_matches_brute_force() {
        let mut r = rng(2);
        // Two staves per layer take the dense tables, 40 the hash map.
        for trial in 0..200 {
            let hits = random_layered_hits(&mut r, 30, if trial % 2 == 0 { 2 } else { 40 });
            let mut edges = Vec::new();
            for a in 0..30u32 {
                for b in 0..30u32 {
                    let (la, lb) = (hits.layer[a as usize], hits.layer[b as usize]);
                    if lb == la + 1 && r.random::<f64>() < 0.3 {
                        edges.push((a, b));
                    }
                }
            }
            // Few distinct score values so that ties happen.
            let scores: Vec<f32> = edges
                .iter()
                .map(|_| r.random_range(0..5) as f32 / 4.0)
                .collect();
            let all: Vec<u32> = (0..edges.len() as u32).collect();
            let fast = resolve_junctions(&hits, &edges, &scores, &all);
            // Reference: for each edge, compare against every other edge explicitly.
            let key = |h: u32| (hits.layer[h as usize], hits.stave[h as usize]);
            let beats =
                |f: usize, e: usize| scores[f] > scores[e] || (scores[f] == scores[e] && f < e);
            let brute: Vec<u32> = (0..edges.len())
                .filter(|&e| {
                    let (a, b) = edges[e];
                    !(0..edges.len()).any(|f| {
                        f != e && {
                            let (c, d) = edges[f];
                            ((c == a && key(d) == key(b)) || (d == b && key(c) == key(a)))
                                && beats(f, e)
                        }
                    })
                })
                .map(|e| e as u32)
                .collect();
            assert_eq!(fast, brute, "trial {trial}");
        }
    }

    fn track_hits(lines: &[(f64, f64, f64, f64)], noise_sigma: f64, seed: u64) -> Hits {
        let mut r = rng(seed);
        let mut h = Hits::new(false);
        for (t, &(x0, tx, y0, ty)) in lines.iter().enumerate() {
            for layer in 0..4u8 {
                let z = 3956.0125 + 100.0 * layer as f64;
                let gauss = |r: &mut rand_chacha::ChaCha8Rng| {
                    // Box-Muller from two uniforms.
                    let (u, v): (f64, f64) = (r.random_range(1e-12..1.0), r.random());
                    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
                };
                h.push(
                    Hit {
                        hit_id: (t * 4 + layer as usize) as u64,
                        x: x0 + tx * (z - 3956.0125) + noise_sigma * gauss(&mut r),
                        y: y0 + ty * (z - 3956.0125) + noise_sigma * gauss(&mut r),
                        z,
                        layer,
                        stave: 0,
                    },
                    None,
                );
            }
        }
        h
    }

    #[test]
    fn fit_recovers_exact_lines() {
        let cfg = TrackConfig::default();
        let h = track_hits(&[(150.0, 0.0789, 0.3, -0.0002)], 0.0, 1);
        let f = fit_line(&h.x, &h.y, &h.z, 0.01, &cfg).unwrap();
        assert_relative_eq!(f.x0, 150.0, epsilon = 1e-9);
        assert_relative_eq!(f.tx, 0.0789, epsilon = 1e-12);
        assert_relative_eq!(f.y0, 0.3, epsilon = 1e-9);
        assert_relative_eq!(f.ty, -0.0002, epsilon = 1e-12);
        assert!(f.chi2 < 1e-12);
        assert_eq!(f.ndf, 4);
        assert_relative_eq!(f.p_estimate, 673.0 / 150.0, epsilon = 1e-9);
        // Covariance of the intercept for 4 equally spaced points: sigma^2 * sum(d^2) / det.
        let d = [0.0, 100.0, 200.0, 300.0];
        let s2: f64 = d.iter().map(|v| v * v).sum();
        let s1: f64 = d.iter().sum();
        let det = 4.0 * s2 - s1 * s1;
        assert_relative_eq!(f.cov_x[0][0], 1e-4 * s2 / det, max_relative = 1e-9);
        assert_relative_eq!(f.cov_x[1][1], 1e-4 * 4.0 / det, max_relative = 1e-9);
    }

    #[test]
    fn fit_on_smeared_lines_has_sensible_pulls_and_chi2() {
        let cfg = TrackConfig::default();
        let sigma = 0.01;
        let (mut pull2, mut chi2, mut ndf) = (0.0, 0.0, 0.0);
        let n = 400;
        for t in 0..n {
            let h = track_hits(
                &[(100.0 + t as f64 * 0.5, 0.05, 0.0, 0.0001)],
                sigma,
                100 + t,
            );
            let f = fit_line(&h.x, &h.y, &h.z, sigma, &cfg).unwrap();
            let x_true = 100.0 + t as f64 * 0.5;
            pull2 += (f.x0 - x_true).powi(2) / f.cov_x[0][0];
            chi2 += f.chi2;
            ndf += f.ndf as f64;
        }
        // Both should be ~1 on average; 400 samples give a few per cent of spread.
        assert_relative_eq!(pull2 / n as f64, 1.0, max_relative = 0.2);
        assert_relative_eq!(chi2 / ndf, 1.0, max_relative = 0.1);
    }

    #[test]
    fn outliers_are_removed_when_asked() {
        let mut h = track_hits(&[(200.0, 0.1, 0.0, 0.0)], 0.0, 3);
        h.push(
            Hit {
                hit_id: 99,
                x: 200.0 + 0.1 * 150.0 + 2.0,
                y: 0.0,
                z: 3956.0125 + 150.0,
                layer: 1,
                stave: 1,
            },
            None,
        );
        let cfg = TrackConfig {
            outlier_chi2: Some(25.0),
            ..TrackConfig::default()
        };
        let c = fit_candidate(&h, (0..5).collect(), &cfg).unwrap();
        assert_eq!(c.hits, vec![0, 1, 2, 3], "the off-line hit 4 is dropped");
        assert!(c.fit.chi2 < 1e-9);
        let keep_all = TrackConfig {
            outlier_chi2: None,
            ..TrackConfig::default()
        };
        let keep = fit_candidate(&h, (0..5).collect(), &keep_all).unwrap();
        assert_eq!(keep.hits.len(), 5);
    }

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
        assert_eq!(
            candidate_sets(&h, &edges, &scores, &TrackConfig::default()),
            vec![vec![0, 1, 2, 3], vec![0, 1, 6, 7]]
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
    fn two_halves_joined_by_a_wrong_edge_are_split_and_rejoined() {
        // Tracks 0 and 1 run 0.3-0.4 mm apart; wrong edges link 0's first half to 1's second
        // half and the other way round.
        let h = track_hits(
            &[(150.0, 0.08, 0.0, 0.0), (150.3, 0.0802, 0.1, 0.0)],
            0.0,
            7,
        );
        let edges = vec![(0, 1), (1, 6), (6, 7), (4, 5), (5, 2), (2, 3)];
        let scores = vec![0.9; edges.len()];
        let hits_of = |cfg: &TrackConfig| candidate_sets(&h, &edges, &scores, cfg);
        assert_eq!(
            hits_of(&no_joining()),
            vec![vec![0, 1, 6, 7], vec![2, 3, 4, 5]]
        );
        let no_split = TrackConfig {
            split_chi2_ndf: None,
            outlier_chi2: None,
            ..TrackConfig::default()
        };
        assert_eq!(hits_of(&no_split), vec![vec![0, 1, 6, 7], vec![2, 3, 4, 5]]);
        assert_eq!(
            hits_of(&TrackConfig::default()),
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]
        );
    }

    #[test]
    fn crossing_tracks_are_split_by_junction_resolution() {
        // Two tracks share no hit, but a fake edge with a lower score links them.
        let h = track_hits(&[(150.0, 0.08, 0.0, 0.0), (160.0, 0.084, 0.5, 0.0)], 0.0, 4);
        let mut edges = vec![];
        let mut scores = vec![];
        for t in 0..2u32 {
            for l in 0..3u32 {
                edges.push((4 * t + l, 4 * t + l + 1));
                scores.push(0.95);
            }
        }
        edges.push((1, 6)); // track 0 layer 1 -> track 1 layer 2
        scores.push(0.7);
        let plain = build_candidates(
            &h,
            &edges,
            &scores,
            &TrackConfig {
                resolve_junctions: false,
                ..no_joining()
            },
        );
        assert_eq!(plain.len(), 1, "plain components merge the two tracks");
        let resolved = build_candidates(&h, &edges, &scores, &TrackConfig::default());
        assert_eq!(resolved.len(), 2);
        assert_eq!(resolved[0].hits, vec![0, 1, 2, 3]);
        assert_eq!(resolved[1].hits, vec![4, 5, 6, 7]);
        // Below the cut nothing survives; short candidates are dropped.
        let none = build_candidates(
            &h,
            &edges,
            &scores,
            &TrackConfig {
                edge_cut: 0.99,
                ..TrackConfig::default()
            },
        );
        assert!(none.is_empty());
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
    fn overlap_triangle_survives_junction_resolution() {
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
}
