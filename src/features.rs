//! Named node and edge features with fixed scales.
//!
//! Every feature is `(raw - offset) / scale` with an offset and scale fixed here, never taken
//! from the statistics of an event: a model sees the same numbers for the same hits whatever
//! the occupancy. The registries [`NODE_FEATURES`] and [`EDGE_FEATURES`] list name, unit,
//! offset, scale and meaning; a model declares the names it was trained with (in that order)
//! with their scales and offsets, and the model contract ([`crate::inference::contract`])
//! checks them against these tables ([`FeatureTable::tracker`]).
//!
//! [`graph_features`] is the one feature step of a graph, shared by the tracker and the
//! training export.
//!
//! The projective coordinates and the cone-axis deviations use the graph's reference points
//! ([`crate::graph::Reference`]), which the training manifest records with the features.

use std::borrow::Cow;
use std::fmt;

use rayon::prelude::*;
use thiserror::Error;

use crate::graph::{EdgeKind, Graph, Reference};
use crate::hits::Hits;

/// Whether a feature belongs to a node (hit) or an edge (hit pair).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureKind {
    /// A per-hit feature.
    Node,
    /// A per-edge feature.
    Edge,
}

impl FeatureKind {
    /// `"node"` or `"edge"`.
    pub fn name(self) -> &'static str {
        match self {
            FeatureKind::Node => "node",
            FeatureKind::Edge => "edge",
        }
    }
}

impl fmt::Display for FeatureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One feature: its name (how to compute it is keyed by the name), unit, offset, scale and
/// meaning. The tracker's registries hold one per feature it computes; a model's declared
/// features are read into the same type.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSpec {
    /// Name a model refers to.
    pub name: Cow<'static, str>,
    /// Unit of the raw value.
    pub unit: &'static str,
    /// Subtracted from the raw value.
    pub offset: f64,
    /// The raw value minus the offset is divided by this.
    pub scale: f64,
    /// What the raw value is.
    pub description: &'static str,
}

impl FeatureSpec {
    /// A registry entry.
    pub(crate) const fn fixed(
        name: &'static str,
        unit: &'static str,
        offset: f64,
        scale: f64,
        description: &'static str,
    ) -> FeatureSpec {
        FeatureSpec {
            name: Cow::Borrowed(name),
            unit,
            offset,
            scale,
            description,
        }
    }

    /// A feature known only by name, offset and scale (no unit or description).
    pub fn new(name: impl Into<Cow<'static, str>>, offset: f64, scale: f64) -> FeatureSpec {
        FeatureSpec {
            name: name.into(),
            unit: "",
            offset,
            scale,
            description: "",
        }
    }

    /// The value a model sees for the raw value: `(raw - offset) / scale`, computed as a
    /// product with `1 / scale` (which a loop over a column takes out of the loop: 10-17 % of
    /// the feature step's time). The two differ by at most one unit in the last place of the
    /// f64 result, which rounding to f32 hides unless it lies that close to an f32 rounding
    /// boundary: not once in 15.9 M values of three crossings.
    #[inline]
    pub fn apply(&self, raw: f64) -> f32 {
        ((raw - self.offset) * (1.0 / self.scale)) as f32
    }
}

/// Node (hit) features.
pub const NODE_FEATURES: &[FeatureSpec] = &[
    FeatureSpec::fixed("x", "mm", 0.0, 500.0, "hit x"),
    FeatureSpec::fixed("y", "mm", 0.0, 10.0, "hit y"),
    FeatureSpec::fixed("z", "mm", 4100.0, 200.0, "hit z"),
    FeatureSpec::fixed(
        "layer",
        "",
        0.0,
        3.0,
        "layer index from the readout (0 nearest the interaction point)",
    ),
    FeatureSpec::fixed(
        "stave",
        "",
        0.0,
        1.0,
        "stave index from the readout (0 inner, 1 outer)",
    ),
    FeatureSpec::fixed(
        "u",
        "rad",
        0.0,
        0.3,
        "projective x: (x - x_ref) / (z - z_ref), the x slope of the cone axis",
    ),
    FeatureSpec::fixed(
        "v",
        "rad",
        0.0,
        0.002,
        "projective y: (y - y_ref) / (z - y_z), the y slope of the cone axis",
    ),
];

/// Edge features (inner hit 1, outer hit 2).
pub const EDGE_FEATURES: &[FeatureSpec] = &[
    FeatureSpec::fixed("dx", "mm", 0.0, 20.0, "x2 - x1"),
    FeatureSpec::fixed("dy", "mm", 0.0, 0.5, "y2 - y1"),
    FeatureSpec::fixed("dz", "mm", 0.0, 100.0, "z2 - z1"),
    FeatureSpec::fixed(
        "slope_dev_x",
        "rad",
        0.0,
        1e-3,
        "(x2 - x1) / (z2 - z1) minus the x slope of the inner hit's cone axis",
    ),
    FeatureSpec::fixed(
        "slope_dev_y",
        "rad",
        0.0,
        1e-3,
        "(y2 - y1) / (z2 - z1) minus the y slope of the inner hit's cone axis",
    ),
    FeatureSpec::fixed(
        "dca_x",
        "mm",
        0.0,
        5.0,
        "distance of closest approach, in the xz plane, of the line through both hits to the x reference point (x_ref, z_ref)",
    ),
    FeatureSpec::fixed(
        "dca_y",
        "mm",
        0.0,
        5.0,
        "distance of closest approach, in the yz plane, of the line through both hits to the y reference point (y_ref, y_z)",
    ),
    FeatureSpec::fixed(
        "dca",
        "mm",
        0.0,
        5.0,
        "distance of closest approach of the edge line to the reference points: sqrt(dca_x^2 + dca_y^2)",
    ),
    FeatureSpec::fixed(
        "slope_dev_x_rel",
        "",
        0.0,
        0.01,
        "slope_dev_x divided by the x slope of the inner hit's cone axis: the deviation relative to the expected slope, free of its growth with 1/p (the LUXE doublet variable dx / (x1 dz) over its expected value, minus 1)",
    ),
    FeatureSpec::fixed(
        "is_overlap",
        "",
        0.0,
        1.0,
        "1 for a stave-overlap edge inside one layer, else 0",
    ),
    FeatureSpec::fixed(
        "is_skip",
        "",
        0.0,
        1.0,
        "1 for a skip-layer edge (L -> L + 2), else 0",
    ),
];

/// A feature name that is in neither registry.
#[derive(Debug, Clone, Error, PartialEq)]
#[error("unknown {what} feature `{name}`: known are {known}")]
pub struct UnknownFeature {
    /// `node` or `edge`.
    pub what: &'static str,
    /// The name asked for.
    pub name: String,
    /// The names that exist, comma-separated.
    pub known: String,
}

/// `$f::<W>($arg, ...)` with `W` the row width `$width` when it is 1 to 16 (rows of a width the
/// compiler knows are copied as a few moves, where a row of a run-time width is a call to
/// `memcpy`: a third of the time the parts of an xi = 7 crossing took to gather their feature
/// rows), else `$other`.
macro_rules! with_row_width {
    ($width:expr, $f:ident($($arg:expr),*), $other:expr) => {
        match $width {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            7 => $f::<7>($($arg),*),
            8 => $f::<8>($($arg),*),
            9 => $f::<9>($($arg),*),
            10 => $f::<10>($($arg),*),
            11 => $f::<11>($($arg),*),
            12 => $f::<12>($($arg),*),
            13 => $f::<13>($($arg),*),
            14 => $f::<14>($($arg),*),
            15 => $f::<15>($($arg),*),
            16 => $f::<16>($($arg),*),
            _ => $other,
        }
    };
}

/// The rows `ids` of a row-major matrix of `width` columns, in that order.
pub(crate) fn gather_rows(values: &[f32], width: usize, ids: &[u32]) -> Vec<f32> {
    fn fixed<const W: usize>(values: &[f32], ids: &[u32]) -> Vec<f32> {
        let (rows, _) = values.as_chunks::<W>();
        ids.iter()
            .map(|&i| rows[i as usize])
            .collect::<Vec<[f32; W]>>()
            .into_flattened()
    }
    with_row_width!(width, fixed(values, ids), {
        let mut out = Vec::with_capacity(ids.len() * width);
        for &i in ids {
            let i = i as usize;
            out.extend_from_slice(&values[i * width..(i + 1) * width]);
        }
        out
    })
}

/// A row-major `[rows, cols]` matrix of features.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureMatrix {
    /// Rows (nodes or edges).
    pub rows: usize,
    /// The features, one column each, in the order asked for.
    pub columns: Vec<FeatureSpec>,
    /// `rows * columns.len()` values, row by row.
    pub data: Vec<f32>,
}

impl FeatureMatrix {
    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.columns.len()
    }
    /// One row.
    pub fn row(&self, r: usize) -> &[f32] {
        let c = self.cols();
        &self.data[r * c..(r + 1) * c]
    }

    /// Keeps the rows whose flag is true, in their order; `keep` has one flag per row.
    pub fn retain_rows(&mut self, keep: &[bool]) {
        assert_eq!(keep.len(), self.rows, "one flag per row");
        let c = self.cols();
        // Rows of a width known to the compiler move as a few loads and stores.
        fn fixed<const W: usize>(data: &mut [f32], keep: &[bool]) -> usize {
            let (rows, _) = data.as_chunks_mut::<W>();
            let mut kept = 0;
            for (r, _) in keep.iter().enumerate().filter(|(_, k)| **k) {
                rows[kept] = rows[r];
                kept += 1;
            }
            kept
        }
        let kept = with_row_width!(c, fixed(&mut self.data, keep), {
            let mut kept = 0;
            for (r, _) in keep.iter().enumerate().filter(|(_, k)| **k) {
                self.data.copy_within(r * c..(r + 1) * c, kept * c);
                kept += 1;
            }
            kept
        });
        self.data.truncate(kept * c);
        self.rows = kept;
    }

    /// Whether the columns are these features, in this order.
    pub fn has_columns(&self, names: &[&str]) -> bool {
        self.columns.len() == names.len()
            && self.columns.iter().zip(names).all(|(c, n)| c.name == *n)
    }
}

/// The features a tracker computes (or, in tests, any list), by kind: what a model's declared
/// features are checked against.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureTable {
    /// Node features.
    pub node: Vec<FeatureSpec>,
    /// Edge features.
    pub edge: Vec<FeatureSpec>,
}

impl FeatureTable {
    /// The tracker's registries, [`NODE_FEATURES`] and [`EDGE_FEATURES`].
    pub fn tracker() -> FeatureTable {
        FeatureTable {
            node: NODE_FEATURES.to_vec(),
            edge: EDGE_FEATURES.to_vec(),
        }
    }

    /// A table of `(name, scale)` pairs, every offset 0.
    pub fn new(node: &[(&str, f32)], edge: &[(&str, f32)]) -> FeatureTable {
        let own = |v: &[(&str, f32)]| {
            v.iter()
                .map(|&(n, s)| FeatureSpec::new(n.to_string(), 0.0, f64::from(s)))
                .collect()
        };
        FeatureTable {
            node: own(node),
            edge: own(edge),
        }
    }

    /// The features of a kind.
    pub fn list(&self, kind: FeatureKind) -> &[FeatureSpec] {
        match kind {
            FeatureKind::Node => &self.node,
            FeatureKind::Edge => &self.edge,
        }
    }

    /// The feature `name` of a kind, if the table has it.
    pub fn get(&self, kind: FeatureKind, name: &str) -> Option<&FeatureSpec> {
        self.list(kind).iter().find(|f| f.name == name)
    }

    /// The names of a kind, in table order.
    pub fn names(&self, kind: FeatureKind) -> Vec<String> {
        self.list(kind).iter().map(|f| f.name.to_string()).collect()
    }
}

/// The specs of `names` in `registry` (`what` names the registry in the error).
pub(crate) fn lookup(
    registry: &[FeatureSpec],
    what: &'static str,
    names: &[&str],
) -> Result<Vec<FeatureSpec>, UnknownFeature> {
    names
        .iter()
        .map(|&name| {
            registry
                .iter()
                .find(|f| f.name == name)
                .cloned()
                .ok_or_else(|| UnknownFeature {
                    what,
                    name: name.to_string(),
                    known: registry
                        .iter()
                        .map(|f| f.name.as_ref())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        })
        .collect()
}

/// The specs of named node features, in the order given.
pub fn node_specs(names: &[&str]) -> Result<Vec<FeatureSpec>, UnknownFeature> {
    lookup(NODE_FEATURES, "node", names)
}

/// The specs of named edge features, in the order given.
pub fn edge_specs(names: &[&str]) -> Result<Vec<FeatureSpec>, UnknownFeature> {
    lookup(EDGE_FEATURES, "edge", names)
}

/// Names of every node feature, in registry order.
pub fn all_node_names() -> Vec<&'static str> {
    NODE_FEATURES.iter().map(static_name).collect()
}

/// Names of every edge feature, in registry order.
pub fn all_edge_names() -> Vec<&'static str> {
    EDGE_FEATURES.iter().map(static_name).collect()
}

/// The name of a registry entry (registry names are static).
pub(crate) fn static_name(f: &'static FeatureSpec) -> &'static str {
    match &f.name {
        Cow::Borrowed(name) => name,
        Cow::Owned(name) => name.as_str(),
    }
}

/// How a feature is computed, resolved once per column from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compute {
    X,
    Y,
    Z,
    Layer,
    Stave,
    U,
    V,
    Dx,
    Dy,
    Dz,
    SlopeDevX,
    SlopeDevY,
    DcaX,
    DcaY,
    Dca,
    SlopeDevXRel,
    IsOverlap,
    IsSkip,
}

impl Compute {
    fn of(name: &str) -> Compute {
        match name {
            "x" => Compute::X,
            "y" => Compute::Y,
            "z" => Compute::Z,
            "layer" => Compute::Layer,
            "stave" => Compute::Stave,
            "u" => Compute::U,
            "v" => Compute::V,
            "dx" => Compute::Dx,
            "dy" => Compute::Dy,
            "dz" => Compute::Dz,
            "slope_dev_x" => Compute::SlopeDevX,
            "slope_dev_y" => Compute::SlopeDevY,
            "dca_x" => Compute::DcaX,
            "dca_y" => Compute::DcaY,
            "dca" => Compute::Dca,
            "slope_dev_x_rel" => Compute::SlopeDevXRel,
            "is_overlap" => Compute::IsOverlap,
            "is_skip" => Compute::IsSkip,
            other => unreachable!("`{other}` is checked against the registry"),
        }
    }
}

/// Rows of one task on the rayon pool.
const ROWS_PER_TASK: usize = 8192;

/// Rows of one pass: a few arrays of this many values stay in the core's caches.
const ROWS_PER_PASS: usize = 1024;

/// `rows * specs.len()` scaled values in row order, computed a pass of rows and a feature at a
/// time: `load(state, rows)` lays out a pass's inputs one array per quantity, `column(state,
/// what, raw)` computes one feature of every row of the pass as one loop (which the compiler
/// vectorises; divisions and square roots are most of the work), and the scaled values are
/// then placed in the rows. Every value depends on its own row only, so the result does not
/// depend on the number of threads or the pass size.
///
/// The values go into `buffer`, whose memory is reused: every value is written, so only the
/// part beyond its old length is zeroed first (a fresh 24 MB tensor costs more to clear than
/// to fill). A buffer over four times too large is dropped, so that one very large crossing
/// does not hold its memory for good.
fn fill_columns<S: Default>(
    rows: usize,
    specs: &[FeatureSpec],
    compute: &[Compute],
    load: impl Fn(&mut S, std::ops::Range<usize>) + Sync,
    column: impl Fn(&mut S, Compute, &mut [f64]) + Sync,
    buffer: Vec<f32>,
) -> Vec<f32> {
    let width = specs.len();
    let len = rows * width;
    let mut data = if buffer.capacity() > 4 * len.max(1 << 16) {
        Vec::new()
    } else {
        buffer
    };
    data.resize(len, 0.0);
    if width == 0 {
        return data;
    }
    data.par_chunks_mut(ROWS_PER_TASK * width)
        .enumerate()
        .for_each(|(task, block)| {
            let mut state = S::default();
            let mut raw = vec![0.0f64; ROWS_PER_PASS];
            let mut scaled = vec![0.0f32; ROWS_PER_PASS];
            for (pass, out) in block.chunks_mut(ROWS_PER_PASS * width).enumerate() {
                let first = task * ROWS_PER_TASK + pass * ROWS_PER_PASS;
                let n = out.len() / width;
                load(&mut state, first..first + n);
                for (c, (spec, &what)) in specs.iter().zip(compute).enumerate() {
                    column(&mut state, what, &mut raw[..n]);
                    for (s, &r) in scaled[..n].iter_mut().zip(&raw[..n]) {
                        *s = spec.apply(r);
                    }
                    for (row, &s) in out.chunks_exact_mut(width).zip(&scaled[..n]) {
                        row[c] = s;
                    }
                }
            }
        });
    data
}

/// Raw (unscaled) node feature `what` of the hits `range`, into `out`.
fn node_column(
    what: Compute,
    hits: &Hits,
    reference: &Reference,
    range: std::ops::Range<usize>,
    out: &mut [f64],
) {
    let (x, y, z) = (
        &hits.x[range.clone()],
        &hits.y[range.clone()],
        &hits.z[range.clone()],
    );
    match what {
        Compute::X => out.copy_from_slice(x),
        Compute::Y => out.copy_from_slice(y),
        Compute::Z => out.copy_from_slice(z),
        Compute::Layer => {
            for (o, &l) in out.iter_mut().zip(&hits.layer[range]) {
                *o = f64::from(l);
            }
        }
        Compute::Stave => {
            for (o, &s) in out.iter_mut().zip(&hits.stave[range]) {
                *o = f64::from(s);
            }
        }
        Compute::U => {
            for ((o, &x), &z) in out.iter_mut().zip(x).zip(z) {
                *o = reference.u(x, z);
            }
        }
        Compute::V => {
            for ((o, &y), &z) in out.iter_mut().zip(y).zip(z) {
                *o = reference.v(y, z);
            }
        }
        _ => unreachable!("edge feature in a node column"),
    }
}

/// The hit coordinates of a pass of edges, one array per quantity (inner hit 1, outer hit 2).
#[derive(Default)]
struct EdgeEnds {
    x1: Vec<f64>,
    y1: Vec<f64>,
    z1: Vec<f64>,
    x2: Vec<f64>,
    y2: Vec<f64>,
    z2: Vec<f64>,
}

impl EdgeEnds {
    /// [`Reference::slope_deviation`] of every edge.
    fn slope(&self, r: &Reference) -> (Vec<f64>, Vec<f64>) {
        let n = self.x1.len();
        let (mut sx, mut sy) = (vec![0.0; n], vec![0.0; n]);
        for i in 0..n {
            let (p1, p2) = (
                [self.x1[i], self.y1[i], self.z1[i]],
                [self.x2[i], self.y2[i], self.z2[i]],
            );
            (sx[i], sy[i]) = r.slope_deviation(p1, p2);
        }
        (sx, sy)
    }

    /// Distance in the (z, x) plane from the x reference to each edge's line.
    fn dca_x(&self, r: &Reference) -> Vec<f64> {
        distances_to_lines((r.z, r.x), &self.z1, &self.x1, &self.z2, &self.x2)
    }

    /// Distance in the (z, y) plane from the y reference to each edge's line.
    fn dca_y(&self, r: &Reference) -> Vec<f64> {
        distances_to_lines((r.y_z, r.y), &self.z1, &self.y1, &self.z2, &self.y2)
    }
}

/// [`distance_in_plane`] from `p` to the line of each edge, its ends at (`a1`, `b1`) and
/// (`a2`, `b2`) in the plane's two coordinates.
fn distances_to_lines(p: (f64, f64), a1: &[f64], b1: &[f64], a2: &[f64], b2: &[f64]) -> Vec<f64> {
    (0..a1.len())
        .map(|i| distance_in_plane(p, (a1[i], b1[i]), (a2[i], b2[i])))
        .collect()
}

/// The inputs of a pass of edges and the quantities several edge features share, computed on
/// first use in the pass.
#[derive(Default)]
struct EdgePass {
    ends: EdgeEnds,
    kind: Vec<EdgeKind>,
    /// Slope deviations from the cone axis (x, y).
    slope: Option<(Vec<f64>, Vec<f64>)>,
    /// Distances of closest approach in x and y.
    dca_x: Option<Vec<f64>>,
    dca_y: Option<Vec<f64>>,
}

impl EdgePass {
    fn load(&mut self, hits: &Hits, graph: &Graph, range: std::ops::Range<usize>) {
        let (src, dst) = (&graph.src[range.clone()], &graph.dst[range.clone()]);
        let gather = |to: &mut Vec<f64>, from: &[f64], at: &[u32]| {
            to.clear();
            to.extend(at.iter().map(|&i| from[i as usize]));
        };
        let ends = &mut self.ends;
        gather(&mut ends.x1, &hits.x, src);
        gather(&mut ends.y1, &hits.y, src);
        gather(&mut ends.z1, &hits.z, src);
        gather(&mut ends.x2, &hits.x, dst);
        gather(&mut ends.y2, &hits.y, dst);
        gather(&mut ends.z2, &hits.z, dst);
        self.kind.clear();
        self.kind.extend_from_slice(&graph.kind[range]);
        self.slope = None;
        self.dca_x = None;
        self.dca_y = None;
    }

    /// Raw (unscaled) edge feature `what` of every edge of the pass, into `out`.
    fn column(&mut self, what: Compute, r: &Reference, out: &mut [f64]) {
        let difference = |out: &mut [f64], a: &[f64], b: &[f64]| {
            for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
                *o = b - a;
            }
        };
        let is = |out: &mut [f64], kinds: &[EdgeKind], kind: EdgeKind| {
            for (o, &k) in out.iter_mut().zip(kinds) {
                *o = f64::from(u8::from(k == kind));
            }
        };
        let EdgePass {
            ends,
            kind,
            slope,
            dca_x,
            dca_y,
        } = self;
        match what {
            Compute::Dx => difference(out, &ends.x1, &ends.x2),
            Compute::Dy => difference(out, &ends.y1, &ends.y2),
            Compute::Dz => difference(out, &ends.z1, &ends.z2),
            Compute::SlopeDevX => {
                out.copy_from_slice(&slope.get_or_insert_with(|| ends.slope(r)).0)
            }
            Compute::SlopeDevY => {
                out.copy_from_slice(&slope.get_or_insert_with(|| ends.slope(r)).1)
            }
            Compute::DcaX => out.copy_from_slice(dca_x.get_or_insert_with(|| ends.dca_x(r))),
            Compute::DcaY => out.copy_from_slice(dca_y.get_or_insert_with(|| ends.dca_y(r))),
            Compute::Dca => {
                let dx = dca_x.get_or_insert_with(|| ends.dca_x(r));
                let dy = dca_y.get_or_insert_with(|| ends.dca_y(r));
                for ((o, &a), &b) in out.iter_mut().zip(dx.iter()).zip(dy.iter()) {
                    *o = norm(a, b);
                }
            }
            Compute::SlopeDevXRel => {
                let sx = &slope.get_or_insert_with(|| ends.slope(r)).0;
                for (((o, &s), &x1), &z1) in out.iter_mut().zip(sx).zip(&ends.x1).zip(&ends.z1) {
                    *o = s / guarded_u(r.u(x1, z1));
                }
            }
            Compute::IsOverlap => is(out, kind, EdgeKind::Overlap),
            Compute::IsSkip => is(out, kind, EdgeKind::Skip),
            _ => unreachable!("node feature in an edge column"),
        }
    }
}

/// The projective x coordinate `u` of an edge's inner hit as the divisor of
/// `slope_dev_x_rel`: hits sit well away from the x reference (x >= 50 mm in LUXE), but a
/// value within 1e-9 of 0 is replaced by +-1e-9.
#[inline]
fn guarded_u(u: f64) -> f64 {
    if u.abs() < 1e-9 {
        1e-9f64.copysign(u)
    } else {
        u
    }
}

/// Raw (unscaled) value of the edge feature `name` for an edge from hit `a` to hit `b`.
pub fn edge_value(
    name: &str,
    hits: &Hits,
    reference: &Reference,
    a: usize,
    b: usize,
    kind: EdgeKind,
) -> Result<f64, UnknownFeature> {
    let spec = &edge_specs(&[name])?[0];
    let graph = Graph {
        n_nodes: hits.len(),
        src: vec![a as u32],
        dst: vec![b as u32],
        kind: vec![kind],
    };
    let mut pass = EdgePass::default();
    pass.load(hits, &graph, 0..1);
    let mut value = [0.0];
    pass.column(Compute::of(&spec.name), reference, &mut value);
    Ok(value[0])
}

/// `sqrt(a^2 + b^2)`: lengths in mm, far from overflow, so without `hypot`'s slower scaling
/// (a third of the edge-feature time went to it).
#[inline]
fn norm(a: f64, b: f64) -> f64 {
    (a * a + b * b).sqrt()
}

/// Distance in a plane from point `p` to the line through `a` and `b` (to `a` when they coincide).
#[inline]
fn distance_in_plane(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (wx, wy) = (p.0 - a.0, p.1 - a.1);
    let length = norm(dx, dy);
    if length == 0.0 {
        norm(wx, wy)
    } else {
        (wx * dy - wy * dx).abs() / length
    }
}

/// Node features `[hits, names.len()]` of every hit.
pub fn node_features(
    hits: &Hits,
    names: &[&str],
    reference: &Reference,
) -> Result<FeatureMatrix, UnknownFeature> {
    node_features_in(hits, names, reference, Vec::new())
}

/// [`node_features`] in the memory of `buffer`.
fn node_features_in(
    hits: &Hits,
    names: &[&str],
    reference: &Reference,
    buffer: Vec<f32>,
) -> Result<FeatureMatrix, UnknownFeature> {
    let columns = node_specs(names)?;
    let compute: Vec<Compute> = columns.iter().map(|c| Compute::of(&c.name)).collect();
    let data = fill_columns(
        hits.len(),
        &columns,
        &compute,
        |range: &mut std::ops::Range<usize>, rows| *range = rows,
        |range, what, out| node_column(what, hits, reference, range.clone(), out),
        buffer,
    );
    Ok(FeatureMatrix {
        rows: hits.len(),
        columns,
        data,
    })
}

/// Edge features `[edges, names.len()]` of every edge of `graph` (built from `hits`).
pub fn edge_features(
    hits: &Hits,
    graph: &Graph,
    names: &[&str],
    reference: &Reference,
) -> Result<FeatureMatrix, UnknownFeature> {
    edge_features_in(hits, graph, names, reference, Vec::new())
}

/// [`edge_features`] in the memory of `buffer`.
fn edge_features_in(
    hits: &Hits,
    graph: &Graph,
    names: &[&str],
    reference: &Reference,
    buffer: Vec<f32>,
) -> Result<FeatureMatrix, UnknownFeature> {
    let columns = edge_specs(names)?;
    let compute: Vec<Compute> = columns.iter().map(|c| Compute::of(&c.name)).collect();
    let data = fill_columns(
        graph.len(),
        &columns,
        &compute,
        |pass: &mut EdgePass, rows| pass.load(hits, graph, rows),
        |pass, what, out| pass.column(what, reference, out),
        buffer,
    );
    Ok(FeatureMatrix {
        rows: graph.len(),
        columns,
        data,
    })
}

/// The features of one graph, as a model takes them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GraphFeatures {
    /// `[hits, node features]`.
    pub nodes: FeatureMatrix,
    /// `[edges, edge features]`; no columns when no edge feature was asked for.
    pub edges: FeatureMatrix,
}

impl GraphFeatures {
    /// The features of `graph` as [`graph_features`] computes them, in the memory of these
    /// features (of an earlier graph): a reconstruction that keeps them from one crossing to
    /// the next allocates no new tensors. On an error (an unknown name) they are left empty.
    pub fn compute_into(
        &mut self,
        hits: &Hits,
        graph: &Graph,
        node_names: &[&str],
        edge_names: &[&str],
        reference: &Reference,
    ) -> Result<(), UnknownFeature> {
        let GraphFeatures { nodes, edges } = std::mem::take(self);
        let nodes = node_features_in(hits, node_names, reference, nodes.data)?;
        let edges = edge_features_in(hits, graph, edge_names, reference, edges.data)?;
        *self = GraphFeatures { nodes, edges };
        Ok(())
    }
}

/// The feature step of a graph, shared by the tracker and the training export: the named node
/// features of every hit and the named edge features of every edge of `graph` (built from
/// `hits`), scaled, in the order of the names.
pub fn graph_features(
    hits: &Hits,
    graph: &Graph,
    node_names: &[&str],
    edge_names: &[&str],
    reference: &Reference,
) -> Result<GraphFeatures, UnknownFeature> {
    let mut features = GraphFeatures::default();
    features.compute_into(hits, graph, node_names, edge_names, reference)?;
    Ok(features)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_every_width_are_gathered_and_retained_in_order() {
        // Fixed widths (1 to 16) and the general path on either side.
        for width in 0..=18usize {
            let rows = 9;
            let data: Vec<f32> = (0..rows * width).map(|v| v as f32 * 0.5 - 3.0).collect();
            let row = |r: usize| &data[r * width..(r + 1) * width];
            let ids = [4u32, 0, 8, 4, 2];
            let expected: Vec<f32> = ids.iter().flat_map(|&i| row(i as usize).to_vec()).collect();
            assert_eq!(gather_rows(&data, width, &ids), expected, "width {width}");

            let keep: Vec<bool> = (0..rows).map(|r| r % 3 != 1).collect();
            let mut matrix = FeatureMatrix {
                rows,
                columns: (0..width)
                    .map(|c| FeatureSpec {
                        name: format!("c{c}").into(),
                        ..EDGE_FEATURES[0].clone()
                    })
                    .collect(),
                data: data.clone(),
            };
            matrix.retain_rows(&keep);
            let kept: Vec<f32> = (0..rows)
                .filter(|&r| keep[r])
                .flat_map(|r| row(r).to_vec())
                .collect();
            assert_eq!(matrix.rows, 6, "width {width}");
            assert_eq!(matrix.data, kept, "width {width}");
        }
    }

    #[test]
    fn registry_names_are_unique_and_scales_positive() {
        for registry in [NODE_FEATURES, EDGE_FEATURES] {
            for (k, f) in registry.iter().enumerate() {
                assert!(f.scale > 0.0 && f.scale.is_finite(), "{}", f.name);
                assert!(registry[..k].iter().all(|g| g.name != f.name), "{}", f.name);
                assert!(!f.description.is_empty());
            }
        }
    }

    #[test]
    fn unknown_names_are_rejected_with_the_known_list() {
        let e = node_specs(&["x", "energy"]).unwrap_err();
        assert_eq!(e.name, "energy");
        assert!(e.to_string().contains("unknown node feature `energy`"));
        assert!(e.to_string().contains("layer"));
        let e = edge_specs(&["dx", "x"]).unwrap_err();
        assert_eq!(e.what, "edge");
        assert!(edge_specs(&all_edge_names()).is_ok());
    }

    #[test]
    fn the_tracker_table_is_the_registry() {
        let t = FeatureTable::tracker();
        assert_eq!(t.list(FeatureKind::Node), NODE_FEATURES);
        assert_eq!(t.list(FeatureKind::Edge), EDGE_FEATURES);
        let z = t.get(FeatureKind::Node, "z").unwrap();
        assert_eq!((z.offset, z.scale, z.unit), (4100.0, 200.0, "mm"));
        assert_eq!(z.apply(4300.0), 1.0);
        assert!(t.get(FeatureKind::Edge, "z").is_none());
        assert_eq!(t.names(FeatureKind::Node), all_node_names());
    }

    #[test]
    fn graph_features_are_the_node_and_edge_features() {
        let r = Reference::default();
        let mut hits = Hits::new(false);
        for (k, (x, z)) in [(150.0, 3950.0), (160.0, 4050.0), (170.0, 4150.0)]
            .into_iter()
            .enumerate()
        {
            hits.push(
                crate::hits::Hit {
                    hit_id: k as u64,
                    x,
                    y: 0.1 * k as f64,
                    z,
                    layer: k as u8,
                    stave: 0,
                },
                None,
            );
        }
        let graph = Graph {
            n_nodes: 3,
            src: vec![0, 1],
            dst: vec![1, 2],
            kind: vec![EdgeKind::Next, EdgeKind::Next],
        };
        let nodes = all_node_names();
        let edges = all_edge_names();
        let f = graph_features(&hits, &graph, &nodes, &edges, &r).unwrap();
        assert_eq!(f.nodes, node_features(&hits, &nodes, &r).unwrap());
        assert_eq!(f.edges, edge_features(&hits, &graph, &edges, &r).unwrap());
        assert_eq!((f.nodes.rows, f.edges.rows), (3, 2));
        // No edge features asked for: rows without columns.
        let f = graph_features(&hits, &graph, &["z"], &[], &r).unwrap();
        assert_eq!(
            (f.edges.rows, f.edges.cols(), f.edges.data.len()),
            (2, 0, 0)
        );
        assert_eq!(f.nodes.data, vec![-0.75, -0.25, 0.25]);
        assert!(graph_features(&hits, &graph, &["z"], &["energy"], &r).is_err());
    }

    /// 2000 random hits on four layers (hit 0 on the x reference) and `n_edges` random edges
    /// among them.
    fn random_graph(seed: u64, n_edges: usize) -> (Hits, Graph) {
        use rand::RngExt;
        let mut r = crate::tracks::test_support::rng(seed);
        let reference = Reference::default();
        let mut hits = Hits::new(false);
        for k in 0..2000u64 {
            let layer = r.random_range(0..4u8);
            hits.push(
                crate::hits::Hit {
                    hit_id: k,
                    x: if k == 0 {
                        0.0
                    } else {
                        r.random_range(50.0..600.0)
                    },
                    y: r.random_range(-10.0..10.0),
                    z: if k == 0 {
                        reference.z + 1000.0
                    } else {
                        3900.0 + 100.0 * f64::from(layer) + r.random_range(0.0..10.0)
                    },
                    layer,
                    stave: r.random_range(0..2u8),
                },
                None,
            );
        }
        let kinds = [EdgeKind::Next, EdgeKind::Overlap, EdgeKind::Skip];
        let graph = Graph {
            n_nodes: hits.len(),
            src: (0..n_edges).map(|_| r.random_range(0..2000u32)).collect(),
            dst: (0..n_edges).map(|_| r.random_range(0..2000u32)).collect(),
            kind: (0..n_edges)
                .map(|_| kinds[r.random_range(0..3usize)])
                .collect(),
        };
        (hits, graph)
    }

    #[test]
    fn features_in_the_memory_of_earlier_ones_equal_fresh_ones() {
        // A larger graph, a smaller one, a larger one again, an empty one: each time the same
        // values as features computed afresh, whatever the buffers held.
        let reference = Reference::default();
        let (nodes, edges) = (all_node_names(), all_edge_names());
        let mut reused = GraphFeatures::default();
        for (seed, n_edges) in [(1, 5000), (2, 700), (3, 9000), (4, 0)] {
            let (hits, graph) = random_graph(seed, n_edges);
            reused
                .compute_into(&hits, &graph, &nodes, &edges, &reference)
                .unwrap();
            let fresh = graph_features(&hits, &graph, &nodes, &edges, &reference).unwrap();
            // Bit for bit (a random edge may join a hit to itself: NaN, unequal to itself).
            let bits = |m: &FeatureMatrix| m.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            for (a, b) in [(&reused.nodes, &fresh.nodes), (&reused.edges, &fresh.edges)] {
                assert_eq!((a.rows, &a.columns), (b.rows, &b.columns), "graph {seed}");
                assert!(bits(a) == bits(b), "graph {seed}: values differ");
            }
        }
        let (hits, graph) = random_graph(5, 10);
        let err = reused.compute_into(&hits, &graph, &["x", "energy"], &edges, &reference);
        assert_eq!(err.unwrap_err().name, "energy");
        assert!(reused.nodes.data.is_empty() && reused.edges.data.is_empty());
    }

    #[test]
    fn every_value_is_its_own_row_computed_alone() {
        // Random hits and edges over several tasks and passes, and one edge exactly on the x
        // reference (the guarded divisor): each matrix value equals the feature computed for
        // its row alone, scaled, bit for bit.
        let reference = Reference::default();
        let n_edges = 2 * ROWS_PER_TASK + 3 * ROWS_PER_PASS + 17;
        let (hits, graph) = random_graph(5, n_edges);
        let names = all_edge_names();
        let f = edge_features(&hits, &graph, &names, &reference).unwrap();
        assert_eq!(f.data.len(), n_edges * names.len());
        for e in 0..n_edges {
            let (a, b) = (graph.src[e] as usize, graph.dst[e] as usize);
            for (c, spec) in f.columns.iter().enumerate() {
                let raw = edge_value(&spec.name, &hits, &reference, a, b, graph.kind[e]).unwrap();
                assert_eq!(
                    f.row(e)[c].to_bits(),
                    spec.apply(raw).to_bits(),
                    "edge {e}, {}",
                    spec.name
                );
            }
        }
        let nodes = node_features(&hits, &all_node_names(), &reference).unwrap();
        for i in 0..hits.len() {
            let direct = [
                hits.x[i],
                hits.y[i],
                hits.z[i],
                f64::from(hits.layer[i]),
                f64::from(hits.stave[i]),
                reference.u(hits.x[i], hits.z[i]),
                reference.v(hits.y[i], hits.z[i]),
            ];
            for (c, spec) in nodes.columns.iter().enumerate() {
                let k = all_node_names()
                    .iter()
                    .position(|&n| n == spec.name)
                    .unwrap();
                assert_eq!(
                    nodes.row(i)[c],
                    spec.apply(direct[k]),
                    "hit {i}, {}",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn closest_approach() {
        // The line z = x through (0, 0): distance sqrt(2) from (2, 0).
        let d = distance_in_plane((2.0, 0.0), (0.0, 0.0), (1.0, 1.0));
        assert!((d - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(distance_in_plane((3.0, 4.0), (0.0, 0.0), (0.0, 0.0)), 5.0);

        // A track from the magnet centre in x and from the interaction point in y.
        let r = Reference::default();
        let track = |z: f64| [0.1 * (z - 2054.0), 0.001 * z, z];
        let mut hits = Hits::new(false);
        for (k, z) in [3950.0, 4050.0].into_iter().enumerate() {
            let [x, y, z] = track(z);
            hits.push(
                crate::hits::Hit {
                    hit_id: k as u64,
                    x,
                    y,
                    z,
                    layer: k as u8,
                    stave: 0,
                },
                None,
            );
        }
        let graph = Graph {
            n_nodes: 2,
            src: vec![0],
            dst: vec![1],
            kind: vec![EdgeKind::Next],
        };
        let f =
            edge_features(&hits, &graph, &["dca_x", "dca_y", "dca", "slope_dev_x"], &r).unwrap();
        assert!(f.data.iter().all(|v| v.abs() < 1e-6), "{:?}", f.data);
        // Moving the outer hit by 0.1 mm in x tilts the line: 0.1 mm over 100 mm is 1 mrad.
        hits.x[1] += 0.1;
        let v = edge_value("slope_dev_x", &hits, &r, 0, 1, EdgeKind::Next).unwrap();
        assert!((v - 1e-3).abs() < 1e-9, "{v}");
        let dca = edge_value("dca_x", &hits, &r, 0, 1, EdgeKind::Next).unwrap();
        // The line now misses the magnet centre by about 1 mrad * (3950 - 2054) mm.
        assert!((dca - 1.896).abs() < 0.01, "{dca}");
    }
}
