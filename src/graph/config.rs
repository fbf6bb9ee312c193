//! Settings of the graph builder, read from TOML.
//!
//! ```toml
//! builder = "cone"          # or "learned": neighbours in a learned embedding space
//! search = "sweep"          # or "rtree"
//! overlap_edges = true      # upstream stave -> downstream stave inside a layer
//! skip_edges = false        # layer L -> L + 2, to bridge a missing hit
//! drop_shortcuts = true     # drop next-layer edges that jump a stave-overlap hit
//!
//! [reference]               # the cone axis of a hit is the line from here through the hit
//! x = 0.0                   # mm: x reference (magnet centre)
//! z = 2054.0                # mm
//! y = 0.0                   # mm: y reference (the interaction point: no field bends y)
//! y_z = 0.0                 # mm
//!
//! # Half-widths in slope (rad) of the window around the cone axis, per axis:
//! # w(x) = base + per_mm * |x - ref.x| + inv_mm / |x - ref.x|, x of the inner hit in mm.
//! # One table per layer pair (next: 0->1, 1->2, ...; overlap: layer 0, 1, ...; skip: 0->2, ...);
//! # pairs beyond the last table use the last table.
//! [[window.next]]
//! x = { base = 0.000639, per_mm = 1.28e-5 }
//! y = { base = 0.000242, per_mm = 4.83e-6 }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{EdgeKind, GraphError};

/// How the builder finds the outer hits inside a hit's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SearchMethod {
    /// Outer hits cut into slabs of the projective y coordinate, each slab sorted by the
    /// projective x coordinate; a window is a binary search and a short scan per slab.
    #[default]
    Sweep,
    /// An R*-tree (`rstar`) over the projective coordinates of the outer hits.
    Rtree,
}

impl fmt::Display for SearchMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SearchMethod::Sweep => "sweep",
            SearchMethod::Rtree => "rtree",
        })
    }
}

/// How the builder decides which outer hits an inner hit connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BuilderKind {
    /// Cone windows around the line from the reference points through the hit.
    #[default]
    Cone,
    /// Neighbours in the space of a learned hit embedding ([`GraphConfig::embedding_model`]):
    /// within its radius, at most its number of nearest.
    Learned,
}

impl fmt::Display for BuilderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuilderKind::Cone => "cone",
            BuilderKind::Learned => "learned",
        })
    }
}

/// Default of [`GraphConfig::filter_min_edges_per_hit`].
pub const DEFAULT_FILTER_MIN_EDGES_PER_HIT: f64 = 1.5;

fn is_cone(kind: &BuilderKind) -> bool {
    *kind == BuilderKind::Cone
}

/// The points that define the expected direction of a track through a hit.
///
/// In x the tracks behind the dipole point back to the magnet centre; in y nothing bends them,
/// so they point back to the interaction point. The two references are independent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Reference {
    /// x of the reference for the x axis, mm.
    pub x: f64,
    /// z of the reference for the x axis, mm.
    pub z: f64,
    /// y of the reference for the y axis, mm.
    pub y: f64,
    /// z of the reference for the y axis, mm.
    pub y_z: f64,
}

impl Default for Reference {
    /// Magnet centre of the LUXE dipole for x, the interaction point for y.
    fn default() -> Self {
        Reference {
            x: 0.0,
            z: 2054.0,
            y: 0.0,
            y_z: 0.0,
        }
    }
}

impl Reference {
    /// Projective x coordinate of a point: the slope of the line from the x reference, (x - x_ref) / (z - z_ref).
    #[inline]
    pub fn u(&self, x: f64, z: f64) -> f64 {
        (x - self.x) / (z - self.z)
    }
    /// Projective y coordinate of a point: the slope of the line from the y reference, (y - y_ref) / (z - y_z).
    #[inline]
    pub fn v(&self, y: f64, z: f64) -> f64 {
        (y - self.y) / (z - self.y_z)
    }
    /// Deviation of the segment from an inner hit (x1, y1, z1) to an outer hit (x2, y2, z2)
    /// from the cone axis through the inner hit, as slopes (dx/dz, dy/dz) in rad.
    #[inline]
    pub fn slope_deviation(&self, inner: [f64; 3], outer: [f64; 3]) -> (f64, f64) {
        let dz = outer[2] - inner[2];
        (
            (outer[0] - inner[0]) / dz - self.u(inner[0], inner[2]),
            (outer[1] - inner[1]) / dz - self.v(inner[1], inner[2]),
        )
    }
}

/// Half-width of a window along one axis, in slope (rad), as a function of the inner hit's
/// distance from the x reference, `d = max(|x - ref.x|, 1 mm)`:
/// `w = base + per_mm * d + inv_mm / d`.
///
/// Scattering and the angles at the interaction point scale as 1/p, and behind the dipole
/// p ~ 1/x, so `per_mm` grows the window like 1/p; `inv_mm` grows it towards small x.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HalfWidth {
    /// Constant part, rad.
    pub base: f64,
    /// Growth with the distance from the x reference, rad per mm.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub per_mm: f64,
    /// Part inversely proportional to that distance, rad mm.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inv_mm: f64,
}

/// `v` rounded up to `digits` significant digits (0 and non-finite values unchanged).
fn round_up(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let exponent = v.abs().log10().floor() as i32 - (digits - 1);
    // The mantissa as an integer, rounded up (ignoring the last bits of representation error).
    let mantissa = v / 10f64.powi(exponent);
    let mut digits_up = (mantissa * (1.0 - 1e-12)).ceil();
    loop {
        let rounded: f64 = format!("{digits_up}e{exponent}")
            .parse()
            .expect("a formatted float parses");
        if rounded >= v {
            return rounded;
        }
        digits_up += 1.0;
    }
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl HalfWidth {
    /// A constant half-width.
    pub const fn constant(base: f64) -> HalfWidth {
        HalfWidth {
            base,
            per_mm: 0.0,
            inv_mm: 0.0,
        }
    }

    /// The half-width for a hit at distance `d` (mm) from the x reference.
    #[inline]
    pub fn at(&self, d: f64) -> f64 {
        let d = d.abs();
        let d = if d > 1.0 { d } else { 1.0 };
        let w = self.base + self.per_mm * d;
        if self.inv_mm == 0.0 {
            w
        } else {
            w + self.inv_mm / d
        }
    }

    /// The largest half-width at any distance whose magnitude lies in `[lo, hi]`: with every
    /// term >= 0 the half-width is convex in |d|, so it is the larger of the two ends.
    #[inline]
    pub fn max_over(&self, lo: f64, hi: f64) -> f64 {
        self.at(lo).max(self.at(hi))
    }

    /// The half-width as an inline TOML table, zero terms left out.
    pub fn to_inline_toml(&self) -> String {
        let mut parts = vec![format!("base = {:?}", self.base)];
        if self.per_mm != 0.0 {
            parts.push(format!("per_mm = {:?}", self.per_mm));
        }
        if self.inv_mm != 0.0 {
            parts.push(format!("inv_mm = {:?}", self.inv_mm));
        }
        format!("{{ {} }}", parts.join(", "))
    }

    /// Every term rounded up to `digits` significant digits (the window never shrinks).
    pub fn rounded_up(&self, digits: i32) -> HalfWidth {
        HalfWidth {
            base: round_up(self.base, digits),
            per_mm: round_up(self.per_mm, digits),
            inv_mm: round_up(self.inv_mm, digits),
        }
    }

    fn check(&self, field: &str) -> Result<(), GraphError> {
        for (name, v) in [
            ("base", self.base),
            ("per_mm", self.per_mm),
            ("inv_mm", self.inv_mm),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(GraphError::config(
                    format!("{field}.{name}"),
                    v,
                    "must be finite and >= 0",
                ));
            }
        }
        Ok(())
    }
}

/// The window of one layer pair: a half-width per axis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PairWindow {
    /// Half-width of the x slope deviation.
    pub x: HalfWidth,
    /// Half-width of the y slope deviation.
    pub y: HalfWidth,
}

/// Windows per edge kind, one entry per layer pair; pairs beyond the list use its last entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Windows {
    /// Consecutive layers: entry k is the pair k -> k + 1.
    pub next: Vec<PairWindow>,
    /// Stave overlaps: entry k is layer k.
    pub overlap: Vec<PairWindow>,
    /// Skip-layer pairs: entry k is the pair k -> k + 2.
    pub skip: Vec<PairWindow>,
}

impl Windows {
    /// Every half-width rounded up to `digits` significant digits.
    pub fn rounded_up(&self, digits: i32) -> Windows {
        let round = |list: &[PairWindow]| -> Vec<PairWindow> {
            list.iter()
                .map(|w| PairWindow {
                    x: w.x.rounded_up(digits),
                    y: w.y.rounded_up(digits),
                })
                .collect()
        };
        Windows {
            next: round(&self.next),
            overlap: round(&self.overlap),
            skip: round(&self.skip),
        }
    }

    /// The list for one edge kind.
    pub fn of(&self, kind: EdgeKind) -> &[PairWindow] {
        match kind {
            EdgeKind::Next => &self.next,
            EdgeKind::Overlap => &self.overlap,
            EdgeKind::Skip => &self.skip,
        }
    }

    /// Mutable list for one edge kind.
    pub fn of_mut(&mut self, kind: EdgeKind) -> &mut Vec<PairWindow> {
        match kind {
            EdgeKind::Next => &mut self.next,
            EdgeKind::Overlap => &mut self.overlap,
            EdgeKind::Skip => &mut self.skip,
        }
    }

    /// The window of `kind` whose inner layer is `layer` (the last entry beyond the list).
    /// `None` only when the list is empty.
    pub fn get(&self, kind: EdgeKind, layer: usize) -> Option<&PairWindow> {
        let list = self.of(kind);
        list.get(layer).or(list.last())
    }
}

/// A window with linear half-widths in x and y (base in rad, growth in rad per mm).
const fn window(x_base: f64, x_per_mm: f64, y_base: f64, y_per_mm: f64) -> PairWindow {
    PairWindow {
        x: HalfWidth {
            base: x_base,
            per_mm: x_per_mm,
            inv_mm: 0.0,
        },
        y: HalfWidth {
            base: y_base,
            per_mm: y_per_mm,
            inv_mm: 0.0,
        },
    }
}

// Default windows: `gnntrack calibrate-windows --xi 7 --efficiency 0.999 --bx 4 --seed 11`
// on the `luxe` geometry (linear shapes, 99.9 % of the true segments of every layer pair at
// xi = 7; wider than needed at lower intensity). See the README, section Graph.
const DEFAULT_NEXT: [PairWindow; 3] = [
    window(0.000639, 1.28e-5, 0.000242, 4.83e-6),
    window(0.000592, 1.19e-5, 0.000248, 4.95e-6),
    window(0.000568, 1.14e-5, 0.000254, 5.08e-6),
];
const DEFAULT_OVERLAP: [PairWindow; 4] = [
    window(0.0, 1.76e-5, 0.0, 9.61e-6),
    window(0.0, 1.71e-5, 0.0, 1.12e-5),
    window(0.0, 1.63e-5, 0.0, 1.14e-5),
    window(0.0, 1.58e-5, 0.0, 1.13e-5),
];
const DEFAULT_SKIP: [PairWindow; 2] = [
    window(0.000643, 1.29e-5, 0.000177, 3.54e-6),
    window(0.000602, 1.21e-5, 0.000211, 4.22e-6),
];

impl Default for Windows {
    fn default() -> Self {
        Windows {
            next: DEFAULT_NEXT.to_vec(),
            overlap: DEFAULT_OVERLAP.to_vec(),
            skip: DEFAULT_SKIP.to_vec(),
        }
    }
}

/// Every setting of the graph builder; `Default` is the calibrated LUXE set-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphConfig {
    /// Cone windows (default) or a learned embedding. Left out of the TOML when `cone`, so the
    /// graph parameters a model records are those of before the learned builder.
    #[serde(skip_serializing_if = "is_cone")]
    pub builder: BuilderKind,
    /// The ONNX embedding model of the learned builder (a node-level graph model with
    /// `gnntrack.embedding.*` metadata); a relative path that does not exist is looked up among
    /// the installed models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_model: Option<PathBuf>,
    /// Radius of the neighbour search of the learned builder; default: the model's
    /// `gnntrack.embedding.radius`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_radius: Option<f64>,
    /// Most neighbours per inner hit and outer (layer, stave) of the learned builder; default:
    /// the model's `gnntrack.embedding.max_neighbours`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_max_neighbours: Option<usize>,
    /// Run the edge filter after the search and pruning (default on): a small edge-level model
    /// that drops the edges it scores below its cut before the edge classifier sees the
    /// graph, on graphs of at least [`filter_min_edges_per_hit`](Self::filter_min_edges_per_hit)
    /// edges per hit.
    pub edge_filter: bool,
    /// The edge filter runs on graphs of at least this many edges per hit of the crossing
    /// (default 1.5; 0: on every graph). In sparser graphs it drops too few edges to pay for
    /// itself (LUXE: xi = 5 has 1.2 edges per hit, xi = 6 1.75).
    pub filter_min_edges_per_hit: f64,
    /// The edge filter's ONNX model (an edge-level graph model with `gnntrack.filter.cut`
    /// metadata); default: the bundled `gnntrack_filter.onnx`. A relative path that does not
    /// exist is looked up among the installed models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_model: Option<PathBuf>,
    /// The edge filter's probability cut; default: the model's `gnntrack.filter.cut`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_cut: Option<f64>,
    /// How outer hits are looked up by the cone builder.
    pub search: SearchMethod,
    /// Build stave-overlap edges (upstream stave -> downstream stave of one layer).
    pub overlap_edges: bool,
    /// Build skip-layer edges L -> L + 2.
    pub skip_edges: bool,
    /// Drop next-layer edges that jump a stave-overlap hit: those parallel to a two-edge path
    /// through a stave-overlap edge.
    pub drop_shortcuts: bool,
    /// Keep a skip edge only where a hit is missing: its inner hit has no next-layer or overlap
    /// edge out, or its outer hit none in.
    pub skip_only_where_needed: bool,
    /// Reference points of the cone axis.
    pub reference: Reference,
    /// Window half-widths.
    pub window: Windows,
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig {
            builder: BuilderKind::Cone,
            embedding_model: None,
            embedding_radius: None,
            embedding_max_neighbours: None,
            edge_filter: true,
            filter_min_edges_per_hit: DEFAULT_FILTER_MIN_EDGES_PER_HIT,
            filter_model: None,
            filter_cut: None,
            search: SearchMethod::default(),
            overlap_edges: true,
            skip_edges: true,
            drop_shortcuts: true,
            skip_only_where_needed: true,
            reference: Reference::default(),
            window: Windows::default(),
        }
    }
}

impl GraphConfig {
    /// Parses and validates a configuration from TOML; missing settings keep their defaults.
    pub fn from_toml_str(text: &str) -> Result<GraphConfig, GraphError> {
        let config: GraphConfig =
            toml::from_str(text).map_err(|e| GraphError::Toml(crate::clip(&e.to_string())))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a TOML file (see [`GraphConfig::from_toml_str`]); a relative `embedding_model` or `filter_model` is
    /// taken relative to the file's folder.
    pub fn from_toml_file(path: &Path) -> Result<GraphConfig, GraphError> {
        let text = std::fs::read_to_string(path).map_err(|source| GraphError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Self::from_toml_str(&text).map_err(|e| GraphError::InFile {
            path: path.display().to_string(),
            error: Box::new(e),
        })?;
        let folder = path.parent().unwrap_or(Path::new(""));
        for model in [&mut config.embedding_model, &mut config.filter_model]
            .into_iter()
            .flatten()
        {
            if model.is_relative() {
                *model = folder.join(&*model);
            }
        }
        Ok(config)
    }

    /// Turns the edge filter off and forgets its settings: the graphs of the windows alone (what
    /// the models are trained on and the windows calibrated with).
    pub fn without_edge_filter(&mut self) {
        self.edge_filter = false;
        self.filter_model = None;
        self.filter_cut = None;
    }

    /// The configuration as TOML that [`GraphConfig::from_toml_str`] reads back exactly, with
    /// one inline table per half-width.
    pub fn to_toml(&self) -> String {
        let r = &self.reference;
        let mut out = String::new();
        if self.builder != BuilderKind::Cone {
            out.push_str(&format!("builder = \"{}\"\n", self.builder));
        }
        if let Some(path) = &self.embedding_model {
            let text = toml::Value::String(path.display().to_string());
            out.push_str(&format!("embedding_model = {text}\n"));
        }
        if let Some(radius) = self.embedding_radius {
            out.push_str(&format!("embedding_radius = {radius:?}\n"));
        }
        if let Some(k) = self.embedding_max_neighbours {
            out.push_str(&format!("embedding_max_neighbours = {k}\n"));
        }
        out.push_str(&format!("edge_filter = {}\n", self.edge_filter));
        if self.filter_min_edges_per_hit != DEFAULT_FILTER_MIN_EDGES_PER_HIT {
            out.push_str(&format!(
                "filter_min_edges_per_hit = {:?}\n",
                self.filter_min_edges_per_hit
            ));
        }
        if let Some(path) = &self.filter_model {
            let text = toml::Value::String(path.display().to_string());
            out.push_str(&format!("filter_model = {text}\n"));
        }
        if let Some(cut) = self.filter_cut {
            out.push_str(&format!("filter_cut = {cut:?}\n"));
        }
        out += &format!(
            "search = \"{}\"\noverlap_edges = {}\nskip_edges = {}\ndrop_shortcuts = {}\nskip_only_where_needed = {}\n\n[reference]\nx = {:?}\nz = {:?}\ny = {:?}\ny_z = {:?}\n",
            self.search,
            self.overlap_edges,
            self.skip_edges,
            self.drop_shortcuts,
            self.skip_only_where_needed,
            r.x,
            r.z,
            r.y,
            r.y_z
        );
        for kind in EdgeKind::ALL {
            let list = self.window.of(kind);
            if list.is_empty() {
                out.push_str(&format!("\nwindow.{} = []\n", kind.name()));
            }
            for (k, w) in list.iter().enumerate() {
                let pair = match kind {
                    EdgeKind::Next => format!("layers {k} -> {}", k + 1),
                    EdgeKind::Overlap => format!("layer {k}"),
                    EdgeKind::Skip => format!("layers {k} -> {}", k + 2),
                };
                out.push_str(&format!(
                    "\n[[window.{}]] # {pair}\nx = {}\ny = {}\n",
                    kind.name(),
                    w.x.to_inline_toml(),
                    w.y.to_inline_toml()
                ));
            }
        }
        out
    }

    /// Whether edges of this kind are built.
    pub fn builds(&self, kind: EdgeKind) -> bool {
        match kind {
            EdgeKind::Next => true,
            EdgeKind::Overlap => self.overlap_edges,
            EdgeKind::Skip => self.skip_edges,
        }
    }

    /// Checks every setting, naming the first bad field and its value.
    pub fn validate(&self) -> Result<(), GraphError> {
        if self.builder == BuilderKind::Learned && self.embedding_model.is_none() {
            return Err(GraphError::config(
                "embedding_model",
                "(not set)",
                "the learned builder (`builder = \"learned\"`) needs an embedding model",
            ));
        }
        if let Some(cut) = self.filter_cut
            && !(0.0..=1.0).contains(&cut)
        {
            return Err(GraphError::config(
                "filter_cut",
                cut,
                "must be a probability from 0 to 1",
            ));
        }
        let density = self.filter_min_edges_per_hit;
        if !(density.is_finite() && density >= 0.0) {
            return Err(GraphError::config(
                "filter_min_edges_per_hit",
                density,
                "must be finite and >= 0",
            ));
        }
        if !self.edge_filter {
            if let Some(cut) = self.filter_cut {
                return Err(GraphError::config(
                    "filter_cut",
                    cut,
                    "needs the edge filter on (`edge_filter = true`)",
                ));
            }
            if let Some(path) = &self.filter_model {
                return Err(GraphError::config(
                    "filter_model",
                    path.display(),
                    "needs the edge filter on (`edge_filter = true`)",
                ));
            }
        }
        if let Some(radius) = self.embedding_radius
            && !(radius.is_finite() && radius > 0.0)
        {
            return Err(GraphError::config(
                "embedding_radius",
                radius,
                "must be finite and > 0",
            ));
        }
        if self.embedding_max_neighbours == Some(0) {
            return Err(GraphError::config(
                "embedding_max_neighbours",
                0,
                "must be at least 1",
            ));
        }
        let r = &self.reference;
        for (field, v) in [
            ("reference.x", r.x),
            ("reference.z", r.z),
            ("reference.y", r.y),
            ("reference.y_z", r.y_z),
        ] {
            if !v.is_finite() {
                return Err(GraphError::config(field, v, "must be finite"));
            }
        }
        for kind in EdgeKind::ALL {
            let list = self.window.of(kind);
            if self.builds(kind) && list.is_empty() {
                return Err(GraphError::config(
                    format!("window.{}", kind.name()),
                    "[]",
                    "edges of this kind are enabled: give at least one window",
                ));
            }
            for (k, w) in list.iter().enumerate() {
                w.x.check(&format!("window.{}[{k}].x", kind.name()))?;
                w.y.check(&format!("window.{}[{k}].y", kind.name()))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_half_width_over_a_range_bounds_every_distance_in_it() {
        let shapes = [
            HalfWidth::constant(3e-4),
            HalfWidth {
                base: 2e-4,
                per_mm: 1e-5,
                inv_mm: 0.0,
            },
            HalfWidth {
                base: 1e-4,
                per_mm: 2e-6,
                inv_mm: 0.2,
            },
        ];
        for w in shapes {
            for (lo, hi) in [(0.0, 0.5), (0.2, 40.0), (3.0, 300.0), (150.0, 151.0)] {
                let max = w.max_over(lo, hi);
                let inside = (0..=1000).map(|k| lo + (hi - lo) * k as f64 / 1000.0);
                for d in inside {
                    assert!(w.at(d) <= max * (1.0 + 1e-12), "{w:?} at {d}");
                    assert!(w.at(-d) <= max * (1.0 + 1e-12), "{w:?} at -{d}");
                }
                assert!(max == w.at(lo) || max == w.at(hi));
            }
        }
    }

    #[test]
    fn toml_round_trip_and_partial_files() {
        let c = GraphConfig::default();
        let back = GraphConfig::from_toml_str(&c.to_toml()).unwrap();
        assert_eq!(c, back);

        let partial = GraphConfig::from_toml_str(
            "skip_edges = true\nsearch = \"rtree\"\n[reference]\nz = 2000.0\n[[window.next]]\nx = { base = 1e-3 }\ny = { base = 2e-3, per_mm = 1e-6 }\n",
        )
        .unwrap();
        assert!(partial.skip_edges);
        assert_eq!(partial.search, SearchMethod::Rtree);
        assert_eq!(partial.reference.z, 2000.0);
        assert_eq!(partial.reference.y_z, Reference::default().y_z);
        assert_eq!(partial.window.next.len(), 1);
        assert_eq!(partial.window.next[0].y.per_mm, 1e-6);
        assert_eq!(partial.window.overlap, Windows::default().overlap);
        // The single entry applies to every pair.
        assert_eq!(
            partial.window.get(EdgeKind::Next, 2),
            Some(&partial.window.next[0])
        );
    }

    #[test]
    fn errors_name_field_and_value() {
        let e = GraphConfig::from_toml_str(
            "[[window.next]]\nx = { base = -1e-3 }\ny = { base = 1e-3 }",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("window.next[0].x.base") && e.contains("-0.001"),
            "{e}"
        );

        let e = GraphConfig::from_toml_str("window.next = []")
            .unwrap_err()
            .to_string();
        assert!(e.contains("window.next"), "{e}");

        let e = GraphConfig::from_toml_str("[reference]\nz = nan")
            .unwrap_err()
            .to_string();
        assert!(e.contains("reference.z") && e.contains("NaN"), "{e}");

        let e = GraphConfig::from_toml_str("search = \"kdtree\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("kdtree"), "{e}");
        let e = GraphConfig::from_toml_str("colour = 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");

        // Disabled kinds may have no windows.
        GraphConfig::from_toml_str("skip_edges = false\nwindow.skip = []").unwrap();
    }

    #[test]
    fn builder_settings() {
        let text = "builder = \"learned\"\nembedding_model = \"models/e.onnx\"\nembedding_radius = 0.25\nembedding_max_neighbours = 4\n";
        let c = GraphConfig::from_toml_str(text).unwrap();
        assert_eq!(c.builder, BuilderKind::Learned);
        assert_eq!(c.embedding_model, Some(PathBuf::from("models/e.onnx")));
        assert_eq!(GraphConfig::from_toml_str(&c.to_toml()).unwrap(), c);
        // The cone builder's TOML (and the table a model's graph parameters are compared with)
        // does not mention the learned builder.
        let table = toml::Table::try_from(GraphConfig::default()).unwrap();
        assert!(!table.contains_key("builder") && !table.contains_key("embedding_model"));
        assert!(!GraphConfig::default().to_toml().contains("builder"));

        for (text, field, value) in [
            ("builder = \"learned\"", "embedding_model", "(not set)"),
            ("embedding_radius = -1.0", "embedding_radius", "-1"),
            ("embedding_radius = inf", "embedding_radius", "inf"),
            (
                "embedding_max_neighbours = 0",
                "embedding_max_neighbours",
                "0",
            ),
            ("builder = \"knn\"", "knn", "knn"),
        ] {
            let e = GraphConfig::from_toml_str(text).unwrap_err().to_string();
            assert!(e.contains(field) && e.contains(value), "{text}: {e}");
        }
    }

    #[test]
    fn half_width_shapes() {
        let w = HalfWidth {
            base: 1.0,
            per_mm: 0.5,
            inv_mm: 10.0,
        };
        assert_eq!(w.at(10.0), 1.0 + 5.0 + 1.0);
        assert_eq!(w.at(-10.0), 7.0);
        assert_eq!(w.at(0.0), 1.0 + 0.5 + 10.0);
        assert_eq!(round_up(1.234e-5, 3), 1.24e-5);
        assert_eq!(round_up(1.23e-5, 3), 1.23e-5);
        assert_eq!(round_up(9.991, 3), 10.0);
        assert_eq!(round_up(0.0, 3), 0.0);
        for v in [3.3e-7, 0.1 + 0.2, 2054.0001, 7.77777e-4] {
            assert!(round_up(v, 3) >= v, "{v}");
        }
    }
}
