//! Truth metrics of a graph.
//!
//! A *true segment* is defined from the truth alone, before any window: two hits of the same
//! positron that are consecutive along its path. Its hits are ordered by layer and, inside a
//! layer, by the z of their staves in the geometry (never by the hits' z); consecutive hits make
//! a segment of kind
//! - [`EdgeKind::Next`] when they are on consecutive layers,
//! - [`EdgeKind::Overlap`] when they are on two staves of one layer,
//! - [`EdgeKind::Skip`] when the positron left no hit on the layer between them.
//!
//! A hit merged from two positrons lies on both paths. Noise hits (particle 0) are never part
//! of a segment. The edge efficiency counts next-layer
//! and overlap segments (skip segments are reported on their own); an edge is true when it is
//! a segment of any kind, so purity = true edges / edges.

use std::fmt;

use super::{EdgeKind, Graph};
use crate::geometry::Detector;
use crate::hits::Hits;

/// Marks a hit without a successor.
pub const NO_SUCCESSOR: u32 = u32::MAX;

/// The true segments of a crossing. Each hit has at most one successor along the path of each of
/// its positrons: one in general, two for a hit merged from two positrons.
#[derive(Debug, Clone, PartialEq)]
pub struct TrueSegments {
    /// The next hit along the path of the first positron processed ([`NO_SUCCESSOR`] when none).
    pub successor: Vec<u32>,
    /// The kind of the segment to the successor (meaningless without one).
    pub kind: Vec<EdgeKind>,
    /// Segments from a merged hit along its other positron's path, where that differs from
    /// `successor`: (inner hit, outer hit, kind), sorted.
    pub second: Vec<(u32, u32, EdgeKind)>,
}

impl TrueSegments {
    /// Segments of hits that carry truth; `None` without truth (or with truth columns of another
    /// length than the hits). Hits with a layer or stave unknown to the detector are left out.
    pub fn from_hits(hits: &Hits, detector: &Detector) -> Option<TrueSegments> {
        let truth = hits.truth.as_ref()?;
        let n = hits.len();
        let lengths = [
            truth.particle_id.len(),
            truth.particle_p.len(),
            hits.layer.len(),
            hits.stave.len(),
        ];
        if lengths.iter().any(|&len| len != n) {
            return None;
        }
        // Rank of each stave inside its layer, by the geometry's z.
        let rank: Vec<Vec<u8>> = detector
            .layers
            .iter()
            .map(|layer| {
                let mut order: Vec<usize> = (0..layer.staves.len()).collect();
                order.sort_by(|&a, &b| layer.staves[a].z.total_cmp(&layer.staves[b].z));
                let mut rank = vec![0u8; order.len()];
                for (r, &s) in order.iter().enumerate() {
                    rank[s] = r as u8;
                }
                rank
            })
            .collect();
        let plane = |i: usize| -> Option<(u8, u8)> {
            let r = rank
                .get(hits.layer[i] as usize)?
                .get(hits.stave[i] as usize)?;
            Some((hits.layer[i], *r))
        };
        let mut order: Vec<(u64, u8, u8, u32)> = (0..n)
            .filter_map(|i| Some((i, plane(i)?)))
            .flat_map(|(i, (l, r))| truth.particles_of(i).map(move |p| (p, l, r, i as u32)))
            .collect();
        order.sort_unstable();
        let mut successor = vec![NO_SUCCESSOR; n];
        let mut kind = vec![EdgeKind::Next; n];
        let mut second = Vec::new();
        for w in order.windows(2) {
            let (pa, la, ra, a) = w[0];
            let (pb, lb, rb, b) = w[1];
            if pa != pb || (la == lb && ra == rb) {
                continue;
            }
            let k = match lb - la {
                0 => EdgeKind::Overlap,
                1 => EdgeKind::Next,
                2 => EdgeKind::Skip,
                _ => continue,
            };
            if successor[a as usize] == NO_SUCCESSOR {
                successor[a as usize] = b;
                kind[a as usize] = k;
            } else if successor[a as usize] != b {
                second.push((a, b, k));
            }
        }
        second.sort_unstable_by_key(|&(a, b, _)| (a, b));
        second.dedup_by_key(|&mut (a, b, _)| (a, b));
        Some(TrueSegments {
            successor,
            kind,
            second,
        })
    }

    /// Whether the edge from hit `src` to hit `dst` is a true segment.
    #[inline]
    pub fn is_true(&self, src: u32, dst: u32) -> bool {
        self.successor[src as usize] == dst
            || (!self.second.is_empty()
                && self
                    .second
                    .binary_search_by_key(&(src, dst), |&(a, b, _)| (a, b))
                    .is_ok())
    }

    /// One label per edge of the graph: 1 for a true segment, 0 otherwise.
    pub fn edge_labels(&self, graph: &Graph) -> Vec<u8> {
        graph
            .pairs()
            .map(|(s, d)| u8::from(self.is_true(s, d)))
            .collect()
    }

    /// The segments as (inner hit, outer hit, kind).
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32, EdgeKind)> + '_ {
        self.successor
            .iter()
            .enumerate()
            .filter(|&(_, &s)| s != NO_SUCCESSOR)
            .map(|(i, &s)| (i as u32, s, self.kind[i]))
            .chain(self.second.iter().copied())
    }
}

/// Counts for one group of segments and edges (a layer pair or a momentum bin).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// True segments (next-layer and overlap; skip segments in skip rows).
    pub true_segments: usize,
    /// Of those, the ones that are edges of the graph.
    pub found_segments: usize,
    /// Edges.
    pub edges: usize,
    /// Edges that are true segments.
    pub true_edges: usize,
}

impl Counts {
    /// found / true segments (1 when there are none).
    pub fn efficiency(&self) -> f64 {
        ratio(self.found_segments, self.true_segments)
    }
    /// true edges / edges (1 when there are none).
    pub fn purity(&self) -> f64 {
        ratio(self.true_edges, self.edges)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Counts of one layer pair.
#[derive(Debug, Clone, PartialEq)]
pub struct PairCounts {
    /// Edge kind.
    pub kind: EdgeKind,
    /// Layer of the inner hit.
    pub inner_layer: u8,
    /// The counts.
    pub counts: Counts,
}

impl PairCounts {
    /// A label such as `0->1`, `1 overlap` or `0->2 skip`.
    pub fn label(&self) -> String {
        let l = self.inner_layer;
        match self.kind {
            EdgeKind::Next => format!("{l}->{}", l + 1),
            EdgeKind::Overlap => format!("{l} overlap"),
            EdgeKind::Skip => format!("{l}->{} skip", l + 2),
        }
    }
}

/// Edges of hits in a momentum range (by the inner hit's particle), and the segments of those particles.
#[derive(Debug, Clone, PartialEq)]
pub struct MomentumCounts {
    /// Low edge, GeV (`None` for the noise row).
    pub p_min: Option<f64>,
    /// High edge, GeV (`None`: open).
    pub p_max: Option<f64>,
    /// The counts.
    pub counts: Counts,
}

/// Low edges of the momentum bins, GeV.
pub const MOMENTUM_BINS: [f64; 8] = [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0];

/// Truth metrics of one graph.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphMetrics {
    /// Hits.
    pub hits: usize,
    /// All edges and segments (next-layer and overlap segments).
    pub total: Counts,
    /// True skip segments (a missing hit between two layers) and the ones found.
    pub skip: Counts,
    /// Edges between two hits of one positron that are not consecutive on its path.
    pub shortcut_edges: usize,
    /// Per edge kind and inner layer.
    pub by_pair: Vec<PairCounts>,
    /// Per momentum bin of the inner hit's particle, then one row for noise inner hits.
    pub by_momentum: Vec<MomentumCounts>,
}

impl GraphMetrics {
    /// Scores `graph` against the true segments; both must come from `hits` (this panics with a
    /// message otherwise).
    pub fn compute(hits: &Hits, graph: &Graph, segments: &TrueSegments) -> GraphMetrics {
        assert!(
            graph.n_nodes == hits.len() && segments.successor.len() == hits.len(),
            "graph ({} nodes) and segments ({} hits) must come from these {} hits",
            graph.n_nodes,
            segments.successor.len(),
            hits.len()
        );
        let truth = hits.truth.as_ref();
        let n_layers = hits
            .layer
            .iter()
            .copied()
            .max()
            .map_or(0, |l| l as usize + 1);
        let pair_slot =
            |kind: EdgeKind, layer: u8| kind.code() as usize * n_layers + layer as usize;
        let mut pairs = vec![Counts::default(); 3 * n_layers];
        let n_bins = MOMENTUM_BINS.len();
        let mut momentum = vec![Counts::default(); n_bins + 1];
        let bin_of = |i: usize| -> usize {
            match truth {
                Some(t) if t.particle_id[i] != 0 => {
                    MOMENTUM_BINS
                        .partition_point(|&lo| lo <= t.particle_p[i])
                        .max(1)
                        - 1
                }
                _ => n_bins,
            }
        };
        let mut total = Counts::default();
        let mut skip = Counts::default();
        // Outer hits of each inner hit (the graph need not be sorted).
        let offsets = graph.offsets();
        let mut fill = offsets.clone();
        let mut outer = vec![0u32; graph.len()];
        for (s, d) in graph.pairs() {
            outer[fill[s as usize]] = d;
            fill[s as usize] += 1;
        }
        for (a, b, kind) in segments.iter() {
            let (a, b) = (a as usize, b as usize);
            let found = outer[offsets[a]..offsets[a + 1]].contains(&(b as u32));
            let slot = pair_slot(kind, hits.layer[a]);
            pairs[slot].true_segments += 1;
            pairs[slot].found_segments += usize::from(found);
            if kind == EdgeKind::Skip {
                skip.true_segments += 1;
                skip.found_segments += usize::from(found);
            } else {
                total.true_segments += 1;
                total.found_segments += usize::from(found);
                let m = &mut momentum[bin_of(a)];
                m.true_segments += 1;
                m.found_segments += usize::from(found);
            }
        }
        let mut shortcut_edges = 0;
        for e in 0..graph.len() {
            let (s, d, kind) = (graph.src[e], graph.dst[e], graph.kind[e]);
            let t = segments.is_true(s, d);
            let slot = pair_slot(kind, hits.layer[s as usize]);
            pairs[slot].edges += 1;
            pairs[slot].true_edges += usize::from(t);
            total.edges += 1;
            total.true_edges += usize::from(t);
            if kind == EdgeKind::Skip {
                skip.edges += 1;
                skip.true_edges += usize::from(t);
            }
            let m = &mut momentum[bin_of(s as usize)];
            m.edges += 1;
            m.true_edges += usize::from(t);
            if !t
                && let Some(tr) = truth
                && tr.share_particle(s as usize, d as usize)
            {
                shortcut_edges += 1;
            }
        }
        let by_pair = EdgeKind::ALL
            .iter()
            .flat_map(|&kind| (0..n_layers).map(move |l| (kind, l as u8)))
            .filter_map(|(kind, l)| {
                let c = &pairs[pair_slot(kind, l)];
                (c.true_segments > 0 || c.edges > 0).then(|| PairCounts {
                    kind,
                    inner_layer: l,
                    counts: c.clone(),
                })
            })
            .collect();
        let by_momentum = momentum
            .into_iter()
            .enumerate()
            .filter(|(_, c)| c.true_segments > 0 || c.edges > 0)
            .map(|(k, counts)| MomentumCounts {
                p_min: (k < n_bins).then(|| MOMENTUM_BINS[k]),
                p_max: MOMENTUM_BINS.get(k + 1).copied(),
                counts,
            })
            .collect();
        GraphMetrics {
            hits: hits.len(),
            total,
            skip,
            shortcut_edges,
            by_pair,
            by_momentum,
        }
    }

    /// Edge efficiency: found / true next-layer and overlap segments.
    pub fn efficiency(&self) -> f64 {
        self.total.efficiency()
    }

    /// Purity: true edges / edges.
    pub fn purity(&self) -> f64 {
        self.total.purity()
    }

    /// Edges per hit.
    pub fn edges_per_hit(&self) -> f64 {
        self.total.edges as f64 / self.hits.max(1) as f64
    }

    /// The counts of one edge kind summed over layers.
    pub fn of_kind(&self, kind: EdgeKind) -> Counts {
        let mut c = Counts::default();
        for p in self.by_pair.iter().filter(|p| p.kind == kind) {
            c.true_segments += p.counts.true_segments;
            c.found_segments += p.counts.found_segments;
            c.edges += p.counts.edges;
            c.true_edges += p.counts.true_edges;
        }
        c
    }
}

fn row(f: &mut fmt::Formatter<'_>, label: &str, c: &Counts) -> fmt::Result {
    writeln!(
        f,
        "{label:<14} {:>9} {:>9} {:>9.4}% {:>9} {:>9} {:>8.2}%",
        c.true_segments,
        c.found_segments,
        100.0 * c.efficiency(),
        c.edges,
        c.true_edges,
        100.0 * c.purity()
    )
}

impl fmt::Display for GraphMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "edge efficiency {:.4} % ({} of {} true segments), purity {:.2} %, {:.3} edges per hit",
            100.0 * self.efficiency(),
            self.total.found_segments,
            self.total.true_segments,
            100.0 * self.purity(),
            self.edges_per_hit()
        )?;
        if self.skip.true_segments > 0 || self.skip.edges > 0 {
            writeln!(
                f,
                "skip segments (missing middle hit): {} of {} found",
                self.skip.found_segments, self.skip.true_segments
            )?;
        }
        writeln!(
            f,
            "edges joining two hits of one positron that are not consecutive on its path: {}",
            self.shortcut_edges
        )?;
        writeln!(
            f,
            "\n{:<14} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9}",
            "layer pair", "true seg", "found", "eff", "edges", "true", "purity"
        )?;
        for p in &self.by_pair {
            row(f, &p.label(), &p.counts)?;
        }
        writeln!(
            f,
            "\n{:<14} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9}",
            "p [GeV]", "true seg", "found", "eff", "edges", "true", "purity"
        )?;
        for m in &self.by_momentum {
            let label = match (m.p_min, m.p_max) {
                (None, _) => "noise".to_string(),
                (Some(a), Some(b)) => format!("{a}-{b}"),
                (Some(a), None) => format!(">= {a}"),
            };
            row(f, &label, &m.counts)?;
        }
        Ok(())
    }
}
