//! Graph construction: directed hit-pair edges between consecutive layers, across stave
//! overlaps and (optionally) across one layer, inside narrow cone windows.
//!
//! Behind the LUXE dipole a positron flies on a straight line that points back to the magnet
//! centre in x and to the interaction point in y. The *cone axis* of a hit is the line from
//! those reference points ([`Reference`]) through the hit; an outer hit is connected when the
//! slope of the segment deviates from that axis by less than the window half-width of the
//! layer pair, in x and in y ([`PairWindow`]). Layer and stave come from each hit, never from
//! its z; which stave of a layer is upstream comes from the geometry.
//!
//! Edges are directed from the inner hit to the outer hit and come sorted by (inner, outer):
//! - [`EdgeKind::Next`]: layer L to layer L + 1, every stave combination;
//! - [`EdgeKind::Overlap`]: inside one layer, from a stave to a downstream stave whose x range
//!   overlaps it (a positron crossing the overlap leaves a hit on both);
//! - [`EdgeKind::Skip`]: layer L to layer L + 2, bridging a missing hit (off by default).
//!
//! By default next-layer edges that jump a stave-overlap hit are then dropped
//! ([`GraphConfig::drop_shortcuts`]): a positron through the stave overlap keeps the chain
//! upstream stave -> downstream stave -> next layer, without the edges that jump its overlap hit.
//! With [`GraphConfig::edge_filter`] a small edge-level model ([`filter`]) then drops the edges it
//! scores below its cut.
//!
//! Graph building takes [`ValidatedHits`]: hits checked once, by [`crate::hits`], against the
//! builder's geometry.
//!
//! [`metrics`] scores a graph against the truth, [`calibrate`] derives windows from simulated
//! truth.
//!
//! Size: about 900 lines, a good part of it the documentation of the window model and of the
//! errors; the search itself lives in `search`, the windows in `config`, the pruning in `prune`,
//! the edge filter in `filter`.

pub mod calibrate;
mod config;
pub mod filter;
pub mod learned;
pub mod metrics;
mod prune;
mod search;

use std::fmt;
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use config::{
    BuilderKind, DEFAULT_FILTER_MIN_EDGES_PER_HIT, GraphConfig, HalfWidth, PairWindow, Reference,
    SearchMethod, Windows,
};
pub use filter::EdgeFilter;
pub use learned::{Embedder, EmbeddingSearch};

use crate::error::ErrorKind;
use crate::features::GraphFeatures;
use crate::geometry::Detector;
use crate::hits::{Hits, ValidatedHits};
use crate::inference::{InferenceConfig, InferenceError};

/// The kind of an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum EdgeKind {
    /// Layer L to layer L + 1.
    Next = 0,
    /// Upstream stave to downstream stave inside one layer.
    Overlap = 1,
    /// Layer L to layer L + 2.
    Skip = 2,
}

impl EdgeKind {
    /// Every kind, in code order.
    pub const ALL: [EdgeKind; 3] = [EdgeKind::Next, EdgeKind::Overlap, EdgeKind::Skip];

    /// Lower-case name, as in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            EdgeKind::Next => "next",
            EdgeKind::Overlap => "overlap",
            EdgeKind::Skip => "skip",
        }
    }

    /// The numeric code (0 next, 1 overlap, 2 skip), as exported.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Layers between the inner and the outer hit (1, 0 or 2).
    pub fn layer_step(self) -> usize {
        match self {
            EdgeKind::Next => 1,
            EdgeKind::Overlap => 0,
            EdgeKind::Skip => 2,
        }
    }
}

impl fmt::Display for EdgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A directed hit graph. Edge `e` goes from hit `src[e]` to hit `dst[e]` (indices into the
/// [`Hits`] it was built from, inner to outer); edges are sorted by (src, dst).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    /// Number of hits (nodes).
    pub n_nodes: usize,
    /// Inner hit of each edge.
    pub src: Vec<u32>,
    /// Outer hit of each edge.
    pub dst: Vec<u32>,
    /// Kind of each edge.
    pub kind: Vec<EdgeKind>,
}

impl Graph {
    /// Number of edges.
    pub fn len(&self) -> usize {
        self.src.len()
    }

    /// Whether the graph has no edges.
    pub fn is_empty(&self) -> bool {
        self.src.is_empty()
    }

    /// The edges as (src, dst) pairs.
    pub fn pairs(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.src.iter().copied().zip(self.dst.iter().copied())
    }

    /// Row offsets of the outgoing edges: the edges of hit `i` are `offsets[i]..offsets[i + 1]`.
    pub fn offsets(&self) -> Vec<usize> {
        let mut offsets = vec![0usize; self.n_nodes + 1];
        for &s in &self.src {
            offsets[s as usize + 1] += 1;
        }
        for i in 0..self.n_nodes {
            offsets[i + 1] += offsets[i];
        }
        offsets
    }

    /// Number of edges of each kind, indexed by [`EdgeKind::code`].
    pub fn count_by_kind(&self) -> [usize; 3] {
        let mut counts = [0; 3];
        for k in &self.kind {
            counts[k.code() as usize] += 1;
        }
        counts
    }

    /// Keeps the first `n` edges (all of them when there are fewer) and drops the rest.
    pub fn truncate(&mut self, n: usize) {
        self.src.truncate(n);
        self.dst.truncate(n);
        self.kind.truncate(n);
    }

    /// Keeps the edges whose flag is true, in their order; `keep` has one flag per edge.
    pub fn retain_flagged(&mut self, keep: &[bool]) {
        assert_eq!(keep.len(), self.len(), "one flag per edge");
        let mut kept = 0;
        for (e, _) in keep.iter().enumerate().filter(|(_, k)| **k) {
            self.src[kept] = self.src[e];
            self.dst[kept] = self.dst[e];
            self.kind[kept] = self.kind[e];
            kept += 1;
        }
        self.truncate(kept);
    }
}

/// An error of the graph stage, naming the offending field or hit and its value.
#[derive(Debug, Error)]
pub enum GraphError {
    /// A configuration setting is invalid.
    #[error("graph setting `{field}` = {value}: {reason}")]
    Config {
        /// Path of the setting, for example `window.next[0].x.base`.
        field: String,
        /// The value found.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The TOML text could not be parsed or has fields of the wrong type.
    #[error("graph configuration TOML: {0}")]
    Toml(String),
    /// A graph configuration file is invalid (its TOML or a value).
    #[error("graph configuration file {path}: {error}")]
    InFile {
        /// The file.
        path: String,
        /// What is wrong.
        error: Box<GraphError>,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The hits were validated against another geometry than the builder's.
    #[error("hits validated against geometry {validated} cannot enter a graph of geometry {graph}")]
    OtherGeometry {
        /// The geometry of the validation.
        validated: String,
        /// The builder's geometry.
        graph: String,
    },
    /// A hit lies at or upstream of a reference point, so its cone axis is undefined.
    #[error(
        "hit {index} (id {hit_id}): `z` = {z} mm is not downstream of the graph setting `{field}` = {z_ref} mm"
    )]
    UpstreamOfReference {
        /// Position of the hit.
        index: usize,
        /// Caller's id.
        hit_id: u64,
        /// Its z.
        z: f64,
        /// `reference.z` or `reference.y_z`.
        field: &'static str,
        /// The reference z.
        z_ref: f64,
    },
    /// More hits than edge indices can address.
    #[error("{0} hits: the graph addresses at most 4294967295 hits")]
    TooManyHits(usize),
    /// The embedding model of the learned builder is unusable (its contract or output).
    #[error("embedding model {model}: {reason}")]
    Embedding {
        /// The model file or label.
        model: String,
        /// What is wrong.
        reason: String,
    },
    /// The edge filter's model is unusable (its contract or features).
    #[error("edge filter {model}: {reason}")]
    Filter {
        /// The model file or label.
        model: String,
        /// What is wrong.
        reason: String,
    },
    /// A model of the graph stage (embedding or edge filter) could not be loaded or run.
    #[error("graph stage model: {0}")]
    Model(Box<InferenceError>),
    /// The search found more edges than the limit ([`EdgeLimit::Refuse`]) and stopped.
    #[error("the window search found more than {cap} edges (stopped at {found})")]
    TooManyEdges {
        /// Edges found when the search stopped (a lower bound of the graph's size).
        found: usize,
        /// The limit.
        cap: usize,
    },
}

/// How many edges a [`GraphBuilder`] may find in one crossing. The limit is checked while the
/// search runs, so a crossing far above it fails (or is cut) after finding about `cap` edges,
/// in time and memory that do not grow with the crossing's full graph. It bounds the edges the
/// window search finds, before shortcut and skip-edge removal; the returned graph has at most
/// as many. The learned builder finds at most `max_neighbours` edges per hit and (layer, stave)
/// pair and applies the limit after its search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeLimit {
    /// No limit beyond the 4294967295 edges a graph addresses.
    Unlimited,
    /// More edges than this stop the search with [`GraphError::TooManyEdges`].
    Refuse(usize),
    /// Keep the first edges in (inner hit, outer hit) order, this many at most, and drop the rest.
    /// Costs a second search (counting only) when the crossing is over the limit.
    Truncate(usize),
}

/// What [`GraphBuilder::build_limited`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildOutcome {
    /// Every edge found is in the graph.
    Complete,
    /// The search found `found` edges; only the first `kept` (before pruning) were kept.
    Truncated {
        /// Edges the search found.
        found: usize,
        /// Edges kept, before shortcut and skip-edge removal.
        kept: usize,
    },
}

impl GraphError {
    /// The kind of the error: [`ErrorKind::Config`] for settings and files,
    /// [`ErrorKind::InvalidHit`] for a hit upstream of a reference point,
    /// [`ErrorKind::TooManyEdges`], [`ErrorKind::InvalidArgument`] for hits of another geometry
    /// [`ErrorKind::Graph`] for more hits than a graph addresses, [`ErrorKind::ModelContract`]
    /// for an unusable embedding model and the inference kinds for one that fails to load or run.
    pub fn kind(&self) -> ErrorKind {
        match self {
            GraphError::Config { .. }
            | GraphError::Toml(_)
            | GraphError::InFile { .. }
            | GraphError::Io { .. } => ErrorKind::Config,
            GraphError::OtherGeometry { .. } => ErrorKind::InvalidArgument,
            GraphError::UpstreamOfReference { .. } => ErrorKind::InvalidHit,
            GraphError::TooManyHits(_) => ErrorKind::Graph,
            GraphError::TooManyEdges { .. } => ErrorKind::TooManyEdges,
            GraphError::Embedding { .. } | GraphError::Filter { .. } => ErrorKind::ModelContract,
            GraphError::Model(e) => e.kind(),
        }
    }

    pub(crate) fn config(
        field: impl Into<String>,
        value: impl fmt::Display,
        reason: &str,
    ) -> GraphError {
        GraphError::Config {
            field: field.into(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// One search to run for the hits of a (layer, stave): its outer (layer, stave), the kind of the
/// edges and their window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Relation {
    pub target: usize,
    pub kind: EdgeKind,
    pub window: PairWindow,
}

/// The hits' (layer, stave) groups and which groups connect to which.
#[derive(Debug)]
pub(crate) struct Plan {
    /// First group index of each layer.
    pub layer_offset: Vec<usize>,
    /// Relations per inner group.
    pub relations: Vec<Vec<Relation>>,
    /// Number of groups.
    pub n_groups: usize,
}

impl Plan {
    pub fn new(detector: &Detector, config: &GraphConfig) -> Plan {
        let mut layer_offset = Vec::with_capacity(detector.layers.len() + 1);
        let mut n_groups = 0;
        for layer in &detector.layers {
            layer_offset.push(n_groups);
            n_groups += layer.staves.len();
        }
        layer_offset.push(n_groups);
        let mut relations = vec![Vec::new(); n_groups];
        let window = |kind: EdgeKind, layer: usize| {
            *config
                .window
                .get(kind, layer)
                .expect("validated: enabled kinds have windows")
        };
        let n_layers = detector.layers.len();
        for (l, layer) in detector.layers.iter().enumerate() {
            for s in 0..layer.staves.len() {
                let inner = layer_offset[l] + s;
                for kind in [EdgeKind::Next, EdgeKind::Skip] {
                    let outer_layer = l + kind.layer_step();
                    if !config.builds(kind) || outer_layer >= n_layers {
                        continue;
                    }
                    for t in 0..detector.layers[outer_layer].staves.len() {
                        relations[inner].push(Relation {
                            target: layer_offset[outer_layer] + t,
                            kind,
                            window: window(kind, l),
                        });
                    }
                }
                if config.overlap_edges {
                    let a = &layer.staves[s];
                    for (t, b) in layer.staves.iter().enumerate() {
                        let overlap = a.x_min().max(b.x_min()) <= a.x_max().min(b.x_max());
                        if t != s && b.z > a.z && overlap {
                            relations[inner].push(Relation {
                                target: layer_offset[l] + t,
                                kind: EdgeKind::Overlap,
                                window: window(EdgeKind::Overlap, l),
                            });
                        }
                    }
                }
            }
        }
        Plan {
            layer_offset,
            relations,
            n_groups,
        }
    }

    pub fn group(&self, layer: u8, stave: u8) -> usize {
        self.layer_offset[layer as usize] + stave as usize
    }
}

/// What graph building checks beyond the validation of the hits: that they were validated
/// against this geometry, that the graph can address them, and that every hit lies downstream
/// of both reference points (its cone axis is undefined otherwise).
fn check_hits(
    hits: &ValidatedHits<'_>,
    detector: &Detector,
    reference: &Reference,
) -> Result<(), GraphError> {
    if !hits.matches_geometry(detector) {
        return Err(GraphError::OtherGeometry {
            validated: hits.geometry().to_string(),
            graph: detector.name.clone(),
        });
    }
    let n = hits.len();
    if n > u32::MAX as usize {
        return Err(GraphError::TooManyHits(n));
    }
    let z_floor = reference.z.max(reference.y_z);
    // Fast pass; the detailed pass runs only to name the first problem.
    if hits.z.iter().all(|&z| z > z_floor) {
        return Ok(());
    }
    for (i, &z) in hits.z.iter().enumerate() {
        for (field, z_ref) in [
            ("reference.z", reference.z),
            ("reference.y_z", reference.y_z),
        ] {
            if z <= z_ref {
                return Err(GraphError::UpstreamOfReference {
                    index: i,
                    hit_id: hits.hit_id[i],
                    z,
                    field,
                    z_ref,
                });
            }
        }
    }
    Ok(())
}

/// The window of one inner hit for one layer pair: everything the accept test needs.
///
/// With the projective coordinates u = (x - x_ref) / (z - z_ref) and v = (y - y_ref) / (z - y_z)
/// of both hits, the slope deviation of the segment from the inner hit's cone axis is exactly
/// d_x = (u2 - u1) (z2 - z_ref) / (z2 - z1) (and the same in y). The segment is accepted when
/// the outer hit is downstream (z2 > z1) and |u2 - u1| (z2 - z_ref) <= w_x (z2 - z1), and the
/// same in y. Every builder computes u and v with [`Reference::u`] and [`Reference::v`] and
/// decides with this one test, so the fast builders and the brute-force reference agree exactly.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cone {
    pub u1: f64,
    pub v1: f64,
    pub z1: f64,
    /// Half-widths.
    pub wx: f64,
    pub wy: f64,
    /// Reference z of each axis.
    pub zr: f64,
    pub zry: f64,
}

impl Cone {
    /// The distance x - x_ref of an inner hit at z with projective x coordinate u1, as the
    /// half-widths take it: u1 (z - z_ref).
    #[inline]
    pub fn distance(reference: &Reference, u1: f64, z: f64) -> f64 {
        u1 * (z - reference.z)
    }

    /// The cone of an inner hit at z with projective coordinates (u1, v1) and half-widths
    /// (wx, wy).
    #[inline]
    pub fn with_widths(reference: &Reference, u1: f64, v1: f64, z: f64, wx: f64, wy: f64) -> Cone {
        Cone {
            u1,
            v1,
            z1: z,
            wx,
            wy,
            zr: reference.z,
            zry: reference.y_z,
        }
    }

    /// The cone of an inner hit at z with projective coordinates (u1, v1); the half-widths are
    /// taken at [`Cone::distance`].
    #[inline]
    pub fn new(reference: &Reference, window: &PairWindow, u1: f64, v1: f64, z: f64) -> Cone {
        let d = Self::distance(reference, u1, z);
        Self::with_widths(reference, u1, v1, z, window.x.at(d), window.y.at(d))
    }

    #[inline]
    pub fn accepts(&self, u2: f64, v2: f64, z2: f64) -> bool {
        let dz = z2 - self.z1;
        dz > 0.0
            && (u2 - self.u1).abs() * (z2 - self.zr) <= self.wx * dz
            && (v2 - self.v1).abs() * (z2 - self.zry) <= self.wy * dz
    }
}

/// The models of the graph stage, loaded once ([`GraphModels::load`]) and shared by every
/// builder of a configuration.
#[derive(Debug, Clone, Default)]
pub struct GraphModels {
    /// The embedding model of the learned builder.
    pub embedder: Option<Arc<Embedder>>,
    /// The edge filter ([`GraphConfig::edge_filter`]).
    pub filter: Option<Arc<EdgeFilter>>,
}

impl GraphModels {
    /// The models a configuration names (paths resolved by
    /// [`crate::pipeline::resolve_model`]): the embedding model for the learned builder, the
    /// edge filter (its file or the bundled one) when it is on.
    pub fn load(
        config: &GraphConfig,
        inference: &InferenceConfig,
    ) -> Result<GraphModels, GraphError> {
        config.validate()?;
        let embedder = match (config.builder, &config.embedding_model) {
            (BuilderKind::Learned, Some(path)) => Some(Arc::new(Embedder::load(
                crate::pipeline::resolve_model(path),
                inference,
            )?)),
            _ => None,
        };
        let filter = load_filter(config, inference)?;
        Ok(GraphModels { embedder, filter })
    }
}

/// The edge filter a configuration names (its file or the bundled one), when it is on.
fn load_filter(
    config: &GraphConfig,
    inference: &InferenceConfig,
) -> Result<Option<Arc<EdgeFilter>>, GraphError> {
    Ok(match (config.edge_filter, &config.filter_model) {
        (false, _) => None,
        (true, Some(path)) => Some(Arc::new(EdgeFilter::load(
            crate::pipeline::resolve_model(path),
            inference,
        )?)),
        (true, None) => Some(Arc::new(EdgeFilter::from_bytes(
            filter::BUNDLED_FILTER,
            filter::BUNDLED_FILTER_LABEL,
            inference,
        )?)),
    })
}

/// Builds the graphs of bunch crossings with one geometry and configuration, keeping its work
/// space from one crossing to the next (what a reconstruction framework does per event: after the
/// first crossing it allocates only the edges it returns, or nothing with
/// [`GraphBuilder::build_into`]).
#[derive(Debug)]
pub struct GraphBuilder {
    detector: Detector,
    config: GraphConfig,
    plan: Plan,
    search: search::Scratch,
    prune: prune::Scratch,
    /// The embedding model and its search, with the learned builder.
    learned: Option<(Arc<Embedder>, EmbeddingSearch)>,
    embedded: learned::Scratch,
    /// The edge filter and its cut in effect.
    filter: Option<(Arc<EdgeFilter>, f32)>,
    filtered: filter::Scratch,
    /// What the filter did to the graph last built; `None` without a filter.
    filter_outcome: Option<FilterOutcome>,
}

/// What the edge filter did to a graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FilterOutcome {
    /// It ran and dropped this many edges.
    Dropped(usize),
    /// It did not run: the graph had `edges_per_hit`, below `bound`
    /// ([`GraphConfig::filter_min_edges_per_hit`]).
    Skipped {
        /// Edges per hit of the graph.
        edges_per_hit: f64,
        /// The configured bound.
        bound: f64,
    },
}

impl std::fmt::Display for FilterOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FilterOutcome::Dropped(n) => write!(f, "dropped {n} edges"),
            FilterOutcome::Skipped {
                edges_per_hit,
                bound,
            } => write!(
                f,
                "not run: {edges_per_hit:.2} edges per hit, below filter_min_edges_per_hit = {bound}"
            ),
        }
    }
}

impl GraphBuilder {
    /// A builder for this geometry and configuration (checked here, once). It loads the models
    /// of the configuration here, with the default inference settings
    /// ([`GraphBuilder::with_models`] shares them between builders).
    pub fn new(detector: &Detector, config: &GraphConfig) -> Result<GraphBuilder, GraphError> {
        let models = GraphModels::load(config, &InferenceConfig::default())?;
        Self::with_models(detector, config, models)
    }

    /// A builder with the models of its configuration already loaded ([`GraphModels::load`]):
    /// the learned builder needs its embedding model, a configuration with `edge_filter` on its
    /// edge filter; a model the configuration does not use is ignored.
    pub fn with_models(
        detector: &Detector,
        config: &GraphConfig,
        models: GraphModels,
    ) -> Result<GraphBuilder, GraphError> {
        config.validate()?;
        let learned = match (config.builder, models.embedder) {
            (BuilderKind::Cone, _) => None,
            (BuilderKind::Learned, None) => {
                return Err(GraphError::config(
                    "embedding_model",
                    "(not loaded)",
                    "the learned builder needs its embedding model",
                ));
            }
            (BuilderKind::Learned, Some(e)) => {
                let model = e.search();
                let search = EmbeddingSearch {
                    radius: config.embedding_radius.unwrap_or(model.radius),
                    max_neighbours: config
                        .embedding_max_neighbours
                        .unwrap_or(model.max_neighbours),
                };
                Some((e, search))
            }
        };
        let filter = match (config.edge_filter, models.filter) {
            (false, _) => None,
            (true, None) => {
                return Err(GraphError::config(
                    "edge_filter",
                    true,
                    "the edge filter's model is not loaded",
                ));
            }
            (true, Some(f)) => {
                let cut = filter_cut(config, &f);
                Some((f, cut))
            }
        };
        Ok(GraphBuilder {
            detector: detector.clone(),
            config: config.clone(),
            plan: Plan::new(detector, config),
            search: search::Scratch::default(),
            prune: prune::Scratch::default(),
            learned,
            embedded: learned::Scratch::default(),
            filter,
            filtered: filter::Scratch::default(),
            filter_outcome: None,
        })
    }

    /// The embedding model and the search in effect, with the learned builder.
    pub fn embedder(&self) -> Option<(&Arc<Embedder>, EmbeddingSearch)> {
        self.learned.as_ref().map(|(e, s)| (e, *s))
    }

    /// The edge filter and the cut in effect, when the configuration has one.
    pub fn filter(&self) -> Option<(&Arc<EdgeFilter>, f32)> {
        self.filter.as_ref().map(|(f, c)| (f, *c))
    }

    /// What the edge filter did to the graph last built; `None` without a filter (or before a
    /// graph was built).
    pub fn filter_outcome(&self) -> Option<FilterOutcome> {
        self.filter_outcome
    }

    /// How many edges the edge filter dropped from the graph last built; `None` when it did
    /// not run on it (off, or a graph sparser than
    /// [`GraphConfig::filter_min_edges_per_hit`]).
    pub fn dropped_by_filter(&self) -> Option<usize> {
        match self.filter_outcome? {
            FilterOutcome::Dropped(n) => Some(n),
            FilterOutcome::Skipped { .. } => None,
        }
    }

    /// Hands over the features the edge filter computed for the graph last built (its dropped
    /// edges removed) when they are these node and edge features, in this order: swaps them
    /// with `features` and returns true. Otherwise (no filter, other features, already handed
    /// over) leaves `features` alone and returns false.
    pub fn swap_filter_features(
        &mut self,
        features: &mut GraphFeatures,
        node_names: &[&str],
        edge_names: &[&str],
    ) -> bool {
        self.filtered
            .swap_features(features, node_names, edge_names)
    }

    /// The configuration.
    pub fn config(&self) -> &GraphConfig {
        &self.config
    }

    /// The geometry.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// Builds the graph of one crossing from hits validated against this builder's geometry
    /// ([`crate::hits::Hits::validate`]).
    ///
    /// Empty layers, a single hit or hits in one layer only give an empty graph. Runs on the
    /// current rayon thread pool; the output does not depend on the thread count.
    pub fn build(&mut self, hits: &ValidatedHits<'_>) -> Result<Graph, GraphError> {
        let mut graph = Graph::default();
        self.build_into(hits, &mut graph)?;
        Ok(graph)
    }

    /// Builds the graph of one crossing into `graph`, reusing its vectors.
    pub fn build_into(
        &mut self,
        hits: &ValidatedHits<'_>,
        graph: &mut Graph,
    ) -> Result<(), GraphError> {
        self.build_limited(hits, graph, EdgeLimit::Unlimited)
            .map(|_| ())
    }

    /// Builds the graph of one crossing into `graph` with at most `limit` edges found (see
    /// [`EdgeLimit`]). On an error `graph` is left as it was.
    pub fn build_limited(
        &mut self,
        hits: &ValidatedHits<'_>,
        graph: &mut Graph,
        limit: EdgeLimit,
    ) -> Result<BuildOutcome, GraphError> {
        check_hits(hits, &self.detector, &self.config.reference)?;
        self.filtered.current = false;
        self.filter_outcome = None;
        let hits: &Hits = hits;
        let max = u32::MAX as usize;
        let cap = match limit {
            EdgeLimit::Unlimited => max,
            EdgeLimit::Refuse(cap) | EdgeLimit::Truncate(cap) => cap.min(max),
        };
        let all = search::Limit {
            max_edges: cap,
            last_inner: u32::MAX,
        };
        let mut outcome = BuildOutcome::Complete;
        let needed_skips = self.config.skip_edges && self.config.skip_only_where_needed;
        // Whether the skip edges still need pruning (the plain search keeps only needed ones).
        let mut prune_skips = needed_skips;
        if let Some((embedder, search)) = &self.learned {
            // The search is bounded by max_neighbours per relation: the limit applies after it.
            let embedding = embedder.embed(hits, &self.config.reference)?;
            let mut built = Graph::default();
            std::mem::swap(&mut built, graph);
            let result = learned::build_into(
                hits,
                &self.plan,
                learned::Points {
                    values: &embedding,
                    dim: embedder.dim(),
                },
                search,
                &mut self.embedded,
                &mut built,
                if let EdgeLimit::Refuse(_) = limit {
                    cap
                } else {
                    max
                },
            );
            if let Err(found) = result {
                std::mem::swap(&mut built, graph);
                return Err(GraphError::TooManyEdges { found, cap });
            }
            if built.len() > cap {
                outcome = BuildOutcome::Truncated {
                    found: built.len(),
                    kept: cap,
                };
                built.truncate(cap);
            }
            *graph = built;
        } else if let Err(found) = search::build_into(
            hits,
            &self.plan,
            &self.config,
            &mut self.search,
            graph,
            all,
            needed_skips,
        )
        .inspect(|_| prune_skips = false)
        {
            let EdgeLimit::Truncate(_) = limit else {
                return Err(GraphError::TooManyEdges { found, cap });
            };
            // Count the edges of every inner hit, then search again for the first inner hits
            // only: those whose edges, in hit order, fit under the cap (and the one that
            // crosses it, cut below).
            let counts = search::count_per_hit(hits, &self.plan, &self.config, &mut self.search);
            let total: usize = counts.iter().map(|&c| c as usize).sum();
            let mut sum = 0usize;
            let mut last = counts.len().saturating_sub(1);
            for (i, &c) in counts.iter().enumerate() {
                sum += c as usize;
                if sum >= cap {
                    last = i;
                    break;
                }
            }
            let first_hits = search::Limit {
                max_edges: max,
                last_inner: last as u32,
            };
            search::build_into(
                hits,
                &self.plan,
                &self.config,
                &mut self.search,
                graph,
                first_hits,
                false,
            )
            .map_err(|found| GraphError::TooManyEdges { found, cap: max })?;
            graph.truncate(cap);
            outcome = BuildOutcome::Truncated {
                found: total,
                kept: graph.len(),
            };
        }
        // Skip edges first: the search finds about twice as many as it finds other edges, and
        // neither step's decisions depend on the other's (see `prune`).
        if prune_skips {
            prune::keep_needed_skips(graph);
        }
        if self.config.drop_shortcuts {
            prune::drop_shortcuts(graph, &mut self.prune);
        }
        if let Some((filter, cut)) = &self.filter {
            let bound = self.config.filter_min_edges_per_hit;
            self.filter_outcome = Some(if dense_enough(graph.len(), hits.len(), bound) {
                let dropped = filter.apply(
                    hits,
                    graph,
                    &self.config.reference,
                    *cut,
                    &mut self.filtered,
                )?;
                FilterOutcome::Dropped(dropped)
            } else {
                FilterOutcome::Skipped {
                    edges_per_hit: graph.len() as f64 / hits.len().max(1) as f64,
                    bound,
                }
            });
        }
        Ok(outcome)
    }
}

/// The edge filter's cut in effect: the configuration's, else the model's.
fn filter_cut(config: &GraphConfig, filter: &EdgeFilter) -> f32 {
    config.filter_cut.map_or(filter.cut(), |c| c as f32)
}

/// Whether a graph of `edges` edges among `hits` hits is dense enough for the edge filter: at
/// least `bound` ([`GraphConfig::filter_min_edges_per_hit`]) edges per hit.
fn dense_enough(edges: usize, hits: usize, bound: f64) -> bool {
    edges > 0 && edges as f64 >= bound * hits as f64
}

/// Builds the graph of one bunch crossing (a [`GraphBuilder`] used once).
///
/// Empty layers, a single hit or hits in one layer only give an empty graph. Runs on the
/// current rayon thread pool; the output does not depend on the thread count.
pub fn build_graph(
    hits: &ValidatedHits<'_>,
    detector: &Detector,
    config: &GraphConfig,
) -> Result<Graph, GraphError> {
    GraphBuilder::new(detector, config)?.build(hits)
}

/// The same graph as [`build_graph`] by comparing every pair of hits: O(n^2), a reference for
/// tests of the fast builders (the pruning and the edge filter after the search are the
/// builders' own).
pub fn build_graph_brute_force(
    hits: &ValidatedHits<'_>,
    detector: &Detector,
    config: &GraphConfig,
) -> Result<Graph, GraphError> {
    config.validate()?;
    check_hits(hits, detector, &config.reference)?;
    let hits: &Hits = hits;
    let plan = Plan::new(detector, config);
    let n = hits.len();
    let r = &config.reference;
    let u: Vec<f64> = (0..n).map(|i| r.u(hits.x[i], hits.z[i])).collect();
    let v: Vec<f64> = (0..n).map(|i| r.v(hits.y[i], hits.z[i])).collect();
    let per_hit: Vec<Vec<(u32, EdgeKind)>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let relations = &plan.relations[plan.group(hits.layer[i], hits.stave[i])];
            let cones: Vec<Cone> = relations
                .iter()
                .map(|rel| Cone::new(r, &rel.window, u[i], v[i], hits.z[i]))
                .collect();
            let mut out = Vec::new();
            for j in 0..n {
                let g = plan.group(hits.layer[j], hits.stave[j]);
                for (rel, cone) in relations.iter().zip(&cones) {
                    if rel.target == g && cone.accepts(u[j], v[j], hits.z[j]) {
                        out.push((j as u32, rel.kind));
                    }
                }
            }
            out
        })
        .collect();
    let mut graph = Graph {
        n_nodes: n,
        ..Graph::default()
    };
    for (i, out) in per_hit.into_iter().enumerate() {
        for (j, kind) in out {
            graph.src.push(i as u32);
            graph.dst.push(j);
            graph.kind.push(kind);
        }
    }
    if config.drop_shortcuts {
        prune::drop_shortcuts(&mut graph, &mut prune::Scratch::default());
    }
    if config.skip_edges && config.skip_only_where_needed {
        prune::keep_needed_skips(&mut graph);
    }
    if let Some(filter) = load_filter(config, &InferenceConfig::default())?
        && dense_enough(graph.len(), n, config.filter_min_edges_per_hit)
    {
        let cut = filter_cut(config, &filter);
        filter.apply(hits, &mut graph, r, cut, &mut filter::Scratch::default())?;
    }
    Ok(graph)
}
