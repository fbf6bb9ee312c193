//! The whole reconstruction: hits -> graph -> features -> GNN edge scores -> track candidates.
//!
//! [`Tracker::new`] loads the geometry and the model once; [`Tracker::reconstruct`] takes the
//! hits of one bunch crossing and returns the candidates with per-stage times. A tracker is
//! `Sync`: many threads may call `reconstruct` on one tracker at once. Each call keeps its own
//! per-event state; the only shared, locked resource is the model's bounded session pool (see
//! [`crate::inference`]), held only while onnxruntime runs.
//!
//! Configuration is TOML with one table per stage (every key optional):
//!
//! ```toml
//! geometry = "luxe"          # preset or geometry TOML file
//! model = "my_model.onnx"    # default: the bundled default model; a bare name may be an installed model
//! max_hits = 4000000         # larger crossings are refused before any work
//! max_edges = 20000000       # the window search stops beyond this many edges (see `edge_cap`)
//! edge_cap = "error"         # or "truncate": keep the first max_edges edges, with a warning
//! [hits]                     # validation tolerances, mm
//! [graph]                    # graph::GraphConfig (builder = "learned" with embedding_model;
//!                            # the edge filter drops edges of dense graphs; edge_filter = false
//!                            # turns it off)
//! [inference]                # inference::InferenceConfig
//! [tracks]                   # tracks::TrackConfig (edge_cut defaults to the model's;
//!                            # candidate_model turns on the candidate classifier)
//! ```
//!
//! [`TrackerConfig::set`] changes one key from a string (`"tracks.min_hits" = "4"`), which is how
//! steering parameters of a host framework arrive.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::candidates::CandidateClassifier;
use crate::error::ErrorKind;
use crate::features::{FeatureTable, GraphFeatures};
use crate::geometry::{Detector, GeometryError};
use crate::graph::{
    BuildOutcome, EdgeLimit, Graph, GraphBuilder, GraphConfig, GraphError, GraphModels,
};
use crate::hits::{HitColumns, HitError, HitTolerance, Hits, ValidatedHits};
use crate::inference::{EdgeClassifier, EdgeIndex, GraphModel, InferenceConfig, InferenceError};
use crate::tracks::{Candidate, TrackBuffers, TrackConfig, build_candidates_in_groups};

/// The default model, compiled into the library: a small interaction network of two rounds,
/// distilled from `gnntrack_in_small.onnx` for the CPU (see `models/README.md`).
pub const DEFAULT_MODEL: &[u8] = include_bytes!("../models/gnntrack_in_fast.onnx");
/// Label of the bundled default model in messages.
pub const DEFAULT_MODEL_LABEL: &str = "bundled gnntrack_in_fast.onnx";

/// Where the installed models are, relative to the `bin` or `lib` folder of an installation.
const INSTALLED_MODELS: &str = "../share/gnntrack/models";

/// A model path as given when that file exists or the path is absolute; else, for a relative
/// path, the file of that name among the models installed with gnntrack
/// (`share/gnntrack/models` of the installation holding this library), when there is one.
pub fn resolve_model(path: &Path) -> PathBuf {
    if path.is_absolute() || path.exists() {
        return path.to_path_buf();
    }
    crate::inference::installed_folders()
        .into_iter()
        .map(|dir| dir.join(INSTALLED_MODELS).join(path))
        .find(|p| p.is_file())
        .unwrap_or_else(|| path.to_path_buf())
}

/// What to do with a crossing whose window search finds more than `max_edges` edges. The cap
/// is checked while the graph is built (see [`EdgeLimit`]), so an oversized crossing costs
/// about the time and memory of `max_edges` edges, whatever its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeCap {
    /// Refuse the crossing with [`TrackerError::TooManyEdges`] as soon as the cap is passed.
    #[default]
    Error,
    /// Keep the first `max_edges` edges (ordered by inner hit, then outer hit) and log a
    /// warning; the hits beyond lose their edges.
    Truncate,
}

/// Every setting of a [`Tracker`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackerConfig {
    /// Geometry preset name or TOML file.
    pub geometry: String,
    /// ONNX model file; `None` uses the bundled default model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<PathBuf>,
    /// Most hits accepted in one crossing; more are refused before any work.
    pub max_hits: usize,
    /// Most edges the window search may find in one crossing (before shortcut and skip-edge
    /// removal).
    pub max_edges: usize,
    /// Reaction to a larger graph.
    pub edge_cap: EdgeCap,
    /// Hit validation tolerances (`plane_tolerance_mm`, `extent_tolerance_mm`).
    pub hits: HitTolerance,
    /// Graph construction.
    pub graph: GraphConfig,
    /// Inference.
    pub inference: InferenceConfig,
    /// Track building; `edge_cut` absent means the model's recommended cut.
    pub tracks: TrackConfig,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            geometry: "luxe".to_string(),
            model: None,
            max_hits: 4_000_000,
            max_edges: 20_000_000,
            edge_cap: EdgeCap::Error,
            hits: HitTolerance::default(),
            graph: GraphConfig::default(),
            inference: InferenceConfig::default(),
            tracks: TrackConfig::default(),
        }
    }
}

/// An error of the tracker; every variant says which field, value or stage.
#[derive(Debug, Error)]
pub enum TrackerError {
    /// A configuration key or value is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The geometry could not be loaded.
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    /// A hit fails its validation ([`Hits::validate`], [`Hits::from_columns`]): the one way a
    /// hit with a bad field is reported (a hit upstream of the graph's reference points is a
    /// [`GraphError::UpstreamOfReference`], of the same [`ErrorKind::InvalidHit`]).
    #[error("invalid hit: {0}")]
    Hit(#[from] HitError),
    /// The graph stage failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The inference stage failed (onnxruntime, provider or model).
    #[error(transparent)]
    Inference(#[from] InferenceError),
    /// The window search found more edges than the configured cap and stopped.
    #[error(
        "the graph has more than max_edges = {cap} edges (the search stopped at {edges}; raise `max_edges` or set `edge_cap = \"truncate\"`)"
    )]
    TooManyEdges {
        /// Edges found when the search stopped: a lower bound of the graph's size.
        edges: usize,
        /// The cap.
        cap: usize,
    },
    /// The crossing has more hits than the configured cap.
    #[error("the crossing has {hits} hits, more than max_hits = {cap} (raise `max_hits`)")]
    TooManyHits {
        /// Hits given.
        hits: usize,
        /// The cap.
        cap: usize,
    },
}

impl TrackerError {
    /// The kind of the error (the C ABI's status): that of the stage's error, or
    /// [`ErrorKind::Config`], [`ErrorKind::TooManyEdges`] and [`ErrorKind::InvalidArgument`]
    /// (more hits than `max_hits`) for the tracker's own.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TrackerError::Config(_) => ErrorKind::Config,
            TrackerError::Geometry(e) => e.kind(),
            TrackerError::Hit(e) => e.kind(),
            TrackerError::Graph(e) => e.kind(),
            TrackerError::Inference(e) => e.kind(),
            TrackerError::TooManyEdges { .. } => ErrorKind::TooManyEdges,
            TrackerError::TooManyHits { .. } => ErrorKind::InvalidArgument,
        }
    }
}

impl TrackerConfig {
    /// Parses a configuration from TOML; missing keys keep their defaults.
    pub fn from_toml_str(text: &str) -> Result<TrackerConfig, TrackerError> {
        let config: TrackerConfig =
            toml::from_str(text).map_err(|e| TrackerError::Config(crate::clip(&e.to_string())))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a TOML file; errors name the file. Relative `model` and `tracks.candidate_model`
    /// paths, and a relative `geometry` file (a name ending in `.toml`), are taken relative to
    /// the file's folder.
    pub fn from_toml_file(path: &Path) -> Result<TrackerConfig, TrackerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TrackerError::Config(format!("cannot read {}: {e}", path.display())))?;
        let mut config = Self::from_toml_str(&text).map_err(|e| match e {
            TrackerError::Config(message) => {
                TrackerError::Config(format!("{}: {message}", path.display()))
            }
            TrackerError::Graph(g) => TrackerError::Config(format!("{}: {g}", path.display())),
            other => other,
        })?;
        let folder = path.parent().unwrap_or(Path::new(""));
        for model in [
            &mut config.model,
            &mut config.graph.embedding_model,
            &mut config.graph.filter_model,
        ] {
            if let Some(path) = model
                && path.is_relative()
            {
                *model = Some(folder.join(&*path));
            }
        }
        if let Some(model) = config.tracks.candidate_model()
            && model.is_relative()
        {
            config.tracks.candidate_model = Some(folder.join(model));
        }
        if config.geometry.ends_with(".toml") && Path::new(&config.geometry).is_relative() {
            config.geometry = folder.join(&config.geometry).display().to_string();
        }
        Ok(config)
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("the configuration serialises")
    }

    /// Checks values that the stages do not check themselves.
    pub fn validate(&self) -> Result<(), TrackerError> {
        let bad = |key: &str, value: &dyn std::fmt::Display, why: &str| {
            Err(TrackerError::Config(format!("`{key}` = {value}: {why}")))
        };
        if self.max_edges == 0 {
            return bad("max_edges", &0, "must be at least 1");
        }
        if self.max_edges > u32::MAX as usize {
            return bad("max_edges", &self.max_edges, "must be at most 4294967295");
        }
        if self.max_hits == 0 {
            return bad("max_hits", &0, "must be at least 1");
        }
        if self.max_hits > u32::MAX as usize {
            return bad("max_hits", &self.max_hits, "must be at most 4294967295");
        }
        for (key, v) in [
            ("hits.plane_tolerance_mm", self.hits.plane_tolerance_mm),
            ("hits.extent_tolerance_mm", self.hits.extent_tolerance_mm),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(key, &v, "must be finite and >= 0");
            }
        }
        self.tracks.validate().map_err(TrackerError::Config)?;
        self.graph.validate()?;
        Ok(())
    }

    /// Sets one key (dotted path, e.g. `tracks.min_hits` or `inference.provider`) from its text.
    /// The text is read as a TOML value when it is one (`4`, `0.5`, `true`, `[1, 2]`), else as a
    /// string. Unknown keys and values of the wrong type are errors naming the key and value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), TrackerError> {
        let fail =
            |why: String| TrackerError::Config(crate::clip(&format!("`{key}` = `{value}`: {why}")));
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(fail("not a key".into()));
        }
        let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        let mut root = toml::Table::try_from(&*self).map_err(|e| fail(e.to_string()))?;
        let parts: Vec<&str> = key.split('.').collect();
        let mut table = &mut root;
        for part in &parts[..parts.len() - 1] {
            table = table
                .entry(part.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| fail(format!("`{part}` is not a table")))?;
        }
        table.insert(parts[parts.len() - 1].to_string(), parsed);
        let updated: TrackerConfig = root
            .try_into()
            .map_err(|e: toml::de::Error| fail(e.message().to_string()))?;
        updated.validate()?; // names the key and value itself
        *self = updated;
        Ok(())
    }
}

/// Wall-clock time of each stage of one reconstruction, seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StageTimes {
    /// Hit validation and graph construction.
    pub graph: f64,
    /// Feature computation (with, beside it, the cut of the graph into the parts the model
    /// scores).
    pub features: f64,
    /// GNN inference.
    pub inference: f64,
    /// Track building and fits.
    pub tracks: f64,
    /// Candidate classification (0 when the stage is off).
    pub candidates: f64,
}

impl StageTimes {
    /// Sum of the stages.
    pub fn total(&self) -> f64 {
        self.graph + self.features + self.inference + self.tracks + self.candidates
    }
}

/// The result of one reconstruction.
#[derive(Debug, Clone, Default)]
pub struct Reconstruction {
    /// Track candidates: indices into the input hits and fitted parameters.
    pub candidates: Vec<Candidate>,
    /// The graph that was scored.
    pub graph: Graph,
    /// Edge probabilities, one per graph edge.
    pub scores: Vec<f32>,
    /// Edge cut applied.
    pub edge_cut: f32,
    /// Quality of each candidate from the candidate classifier (the probability that it is a
    /// genuine track), in candidate order; empty when the stage is off.
    pub candidate_quality: Vec<f32>,
    /// Candidate cut in force (candidates below it were dropped, or are flagged); `None` when
    /// the stage is off.
    pub candidate_cut: Option<f32>,
    /// Per-stage times.
    pub times: StageTimes,
}

impl Reconstruction {
    /// Edges at or above the cut.
    pub fn kept_edges(&self) -> usize {
        self.scores.iter().filter(|&&s| s >= self.edge_cut).count()
    }
}

/// A configured reconstruction chain: geometry, graph settings and a loaded model.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    detector: Detector,
    classifier: EdgeClassifier,
    tracks: TrackConfig,
    /// The models of the graph stage (embedding, edge filter), shared by all builders.
    graph_models: GraphModels,
    candidate_classifier: Option<CandidateClassifier>,
    /// Idle work spaces: a crossing takes one (or makes one when all are busy) and gives it
    /// back, so that its memory is allocated once per concurrent caller, not per crossing.
    workspaces: Mutex<Vec<Workspace>>,
    /// Crossings being reconstructed now (work spaces lent out).
    in_flight: AtomicUsize,
}

/// What one crossing works in: a graph builder with its search scratch, the feature tensors
/// and the tables of track building (tens of MB at xi = 7, which cost more to allocate and
/// clear than to fill).
#[derive(Debug)]
struct Workspace {
    builder: GraphBuilder,
    features: GraphFeatures,
    edge_pairs: Vec<(u32, u32)>,
    tracks: TrackBuffers,
}

impl Workspace {
    /// A work space around `builder`, its buffers empty.
    fn new(builder: GraphBuilder) -> Workspace {
        Workspace {
            builder,
            features: GraphFeatures::default(),
            edge_pairs: Vec::new(),
            tracks: TrackBuffers::default(),
        }
    }
}

/// A work space taken from a tracker's pool; it goes back when dropped, on every path out of a
/// reconstruction.
struct Lease<'a> {
    pool: &'a Mutex<Vec<Workspace>>,
    workspace: Option<Workspace>,
    /// The tracker's count of crossings in flight, this one included until the drop.
    in_flight: &'a AtomicUsize,
}

impl<'a> Lease<'a> {
    /// Lends `workspace` (from `pool`, or new) for one crossing, counted in `in_flight`.
    fn new(
        pool: &'a Mutex<Vec<Workspace>>,
        workspace: Workspace,
        in_flight: &'a AtomicUsize,
    ) -> Lease<'a> {
        in_flight.fetch_add(1, Ordering::Relaxed);
        Lease {
            pool,
            workspace: Some(workspace),
            in_flight,
        }
    }

    fn get(&mut self) -> &mut Workspace {
        self.workspace.as_mut().expect("held until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(w) = self.workspace.take() {
            self.pool.lock().unwrap_or_else(|e| e.into_inner()).push(w);
        }
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `Ok` when this CPU has every instruction-set extension the build uses, else the
/// configuration error that names the missing ones: checked by every constructor that runs
/// the library's code on data (trackers here; graph models and hit files in the C API).
pub(crate) fn check_cpu() -> Result<(), TrackerError> {
    cpu_supports_build(&crate::missing_cpu_features())
}

/// `Ok` when the CPU has every instruction-set extension the build uses (`missing` lists those
/// it lacks), else the configuration error that names them.
fn cpu_supports_build(missing: &[&str]) -> Result<(), TrackerError> {
    if missing.is_empty() {
        return Ok(());
    }
    Err(TrackerError::Config(format!(
        "this build of gnntrack uses {} (built with GNNTRACK_TARGET_CPU), but this CPU lacks {}: \
         use a portable build or one for this CPU",
        crate::build_cpu_features().join(", "),
        missing.join(", ")
    )))
}

impl Tracker {
    /// Loads the geometry and the model (checking its contract against this tracker's features
    /// and graph settings) and starts the execution provider.
    pub fn new(config: TrackerConfig) -> Result<Tracker, TrackerError> {
        check_cpu()?;
        config.validate()?;
        let detector = Detector::from_name_or_path(&config.geometry)?;
        let graph_table = toml::Table::try_from(&config.graph)
            .map_err(|e| TrackerError::Config(e.to_string()))?;
        let features = FeatureTable::tracker();
        let classifier = match &config.model {
            Some(path) => EdgeClassifier::load(
                resolve_model(path),
                &config.inference,
                &features,
                Some(&graph_table),
            )?,
            None => EdgeClassifier::from_bytes(
                DEFAULT_MODEL.to_vec(),
                DEFAULT_MODEL_LABEL,
                &config.inference,
                &features,
                Some(&graph_table),
            )?,
        };
        let tracks = TrackConfig {
            edge_cut: Some(config.tracks.edge_cut.unwrap_or(classifier.info().edge_cut)),
            ..config.tracks.clone()
        };
        log::info!(
            "tracker ready: geometry {}, model {} {} on {}, edge cut {}",
            detector.name,
            classifier.info().name,
            classifier.info().version,
            classifier.provider(),
            tracks.edge_cut()
        );
        let graph_models = GraphModels::load(&config.graph, &config.inference)?;
        let workspaces = Mutex::new(vec![Workspace::new(GraphBuilder::with_models(
            &detector,
            &config.graph,
            graph_models.clone(),
        )?)]);
        let candidate_classifier = match config.tracks.candidate_model() {
            Some(path) => {
                let path = resolve_model(path);
                let label = path.display().to_string();
                let model = GraphModel::load(&path, &config.inference)?;
                let c = CandidateClassifier::new(
                    model,
                    &label,
                    config.tracks.candidate_cut,
                    config.tracks.candidate_action,
                )
                .map_err(TrackerError::Config)?;
                log::info!(
                    "candidate classifier {} {} ({label}): cut {}, action {:?}",
                    c.model().info().name,
                    c.model().info().version,
                    c.cut(),
                    c.action()
                );
                Some(c)
            }
            None => None,
        };
        Ok(Tracker {
            config,
            detector,
            classifier,
            tracks,
            graph_models,
            candidate_classifier,
            workspaces,
            in_flight: AtomicUsize::new(0),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// The detector in use.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The loaded model.
    pub fn classifier(&self) -> &EdgeClassifier {
        &self.classifier
    }

    /// The candidate classifier, when `tracks.candidate_model` turns it on.
    pub fn candidate_classifier(&self) -> Option<&CandidateClassifier> {
        self.candidate_classifier.as_ref()
    }

    /// Refuses a crossing of more than `max_hits` hits.
    pub fn check_hit_count(&self, n_hits: usize) -> Result<(), TrackerError> {
        if n_hits > self.config.max_hits {
            return Err(TrackerError::TooManyHits {
                hits: n_hits,
                cap: self.config.max_hits,
            });
        }
        Ok(())
    }

    /// The track-building settings in effect (edge cut resolved).
    pub fn track_config(&self) -> &TrackConfig {
        &self.tracks
    }

    /// Checks the hits of one crossing: the `max_hits` cap, then the validation against the
    /// tracker's geometry and tolerances ([`Hits::validate`]).
    pub fn validate<'a>(&self, hits: &'a Hits) -> Result<ValidatedHits<'a>, TrackerError> {
        self.check_hit_count(hits.len())?;
        Ok(hits.validate(&self.detector, &self.config.hits)?)
    }

    /// The hits of one crossing from a host's columns: the `max_hits` cap, then
    /// [`Hits::from_columns`] with the tracker's geometry and tolerances.
    pub fn hits_from_columns(
        &self,
        columns: &HitColumns<'_>,
    ) -> Result<ValidatedHits<'static>, TrackerError> {
        self.check_hit_count(columns.len())?;
        Ok(Hits::from_columns(
            columns,
            &self.detector,
            &self.config.hits,
        )?)
    }

    /// Reconstructs one bunch crossing. The hits are validated against the geometry first
    /// ([`Tracker::validate`]); no edges give an empty result.
    pub fn reconstruct(&self, hits: &Hits) -> Result<Reconstruction, TrackerError> {
        let t0 = Instant::now();
        let hits = self.validate(hits)?;
        self.run(&hits, t0)
    }

    /// Reconstructs one bunch crossing given as a host's columns ([`Tracker::hits_from_columns`]).
    pub fn reconstruct_columns(
        &self,
        columns: &HitColumns<'_>,
    ) -> Result<Reconstruction, TrackerError> {
        let t0 = Instant::now();
        let hits = self.hits_from_columns(columns)?;
        self.run(&hits, t0)
    }

    /// Reconstructs one bunch crossing of hits already validated against the tracker's
    /// geometry (hits of another geometry are refused).
    pub fn reconstruct_validated(
        &self,
        hits: &ValidatedHits<'_>,
    ) -> Result<Reconstruction, TrackerError> {
        self.run(hits, Instant::now())
    }

    /// The stages after validation; `t0` is when the graph stage (validation included) began.
    fn run(&self, hits: &ValidatedHits<'_>, t0: Instant) -> Result<Reconstruction, TrackerError> {
        let cap = self.config.max_edges;
        let limit = match self.config.edge_cap {
            EdgeCap::Error => EdgeLimit::Refuse(cap),
            EdgeCap::Truncate => EdgeLimit::Truncate(cap),
        };
        let mut graph = Graph::default();
        let idle = self
            .workspaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let workspace = match idle {
            Some(w) => w,
            None => Workspace::new(GraphBuilder::with_models(
                &self.detector,
                &self.config.graph,
                self.graph_models.clone(),
            )?),
        };
        let mut lease = Lease::new(&self.workspaces, workspace, &self.in_flight);
        let Workspace {
            builder,
            features,
            edge_pairs,
            tracks,
        } = lease.get();
        let built = builder.build_limited(hits, &mut graph, limit);
        let outcome = built.map_err(|e| match e {
            GraphError::TooManyEdges { found, cap } => {
                TrackerError::TooManyEdges { edges: found, cap }
            }
            other => other.into(),
        })?;
        if let BuildOutcome::Truncated { found, .. } = outcome {
            log::warn!(
                "graph of {found} edges truncated to max_edges = {cap}: tracks of the hits beyond are lost"
            );
        }
        if let Some(outcome) = builder.filter_outcome() {
            log::debug!("edge filter: {outcome}");
        }
        let t1 = Instant::now();
        let hits: &Hits = hits;
        let info = self.classifier.info();
        let reference = &self.config.graph.reference;
        let node_names: Vec<&str> = info.node_features.iter().map(|f| f.name.as_ref()).collect();
        let edge_names: Vec<&str> = info.edge_features.iter().map(|f| f.name.as_ref()).collect();
        // The cut of the graph into the parts the model scores depends on the graph alone: it
        // is made while the features are computed (started first: its breadth-first walk is
        // the longer chain of sequential work).
        // With an edge filter taking the same features, they are computed already.
        let (plan, computed) = rayon::join(
            || {
                self.classifier
                    .plan_parts(hits.len(), &graph.src, &graph.dst)
            },
            || {
                if builder.swap_filter_features(features, &node_names, &edge_names) {
                    return Ok(());
                }
                features.compute_into(hits, &graph, &node_names, &edge_names, reference)
            },
        );
        computed.map_err(|e| TrackerError::Config(e.to_string()))?;
        let t2 = Instant::now();
        let scores = if graph.is_empty() {
            Vec::new()
        } else {
            self.classifier.score_planned(
                &features.nodes.data,
                hits.len(),
                EdgeIndex::Pairs {
                    src: &graph.src,
                    dst: &graph.dst,
                },
                info.inputs
                    .edge_features
                    .as_ref()
                    .map(|_| features.edges.data.as_slice()),
                plan,
            )?
        };
        let t3 = Instant::now();
        edge_pairs.clear();
        edge_pairs.extend(graph.pairs());
        // Track building searches groups of hits side by side when this is the only crossing
        // in flight: the groups trade some CPU time for latency, a trade that crossings
        // sharing the worker threads would pay without the gain.
        let groups = if self.in_flight.load(Ordering::Relaxed) > 1 {
            1
        } else {
            rayon::current_num_threads()
        };
        let candidates =
            build_candidates_in_groups(hits, edge_pairs, &scores, &self.tracks, tracks, groups);
        crate::tracks::trim(edge_pairs);
        // The work space is free for another crossing from here on.
        drop(lease);
        let t4 = Instant::now();
        let (candidates, candidate_quality) = match &self.candidate_classifier {
            Some(c) => c.apply(hits, candidates, &graph, &scores)?,
            None => (candidates, Vec::new()),
        };
        let t5 = Instant::now();
        Ok(Reconstruction {
            candidates,
            graph,
            scores,
            edge_cut: self.tracks.edge_cut(),
            candidate_quality,
            candidate_cut: self.candidate_classifier.as_ref().map(|c| c.cut()),
            times: StageTimes {
                graph: (t1 - t0).as_secs_f64(),
                features: (t2 - t1).as_secs_f64(),
                inference: (t3 - t2).as_secs_f64(),
                tracks: (t4 - t3).as_secs_f64(),
                candidates: if self.candidate_classifier.is_some() {
                    (t5 - t4).as_secs_f64()
                } else {
                    0.0
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_without_the_builds_extensions_is_refused_by_name() {
        assert!(cpu_supports_build(&[]).is_ok());
        let err = cpu_supports_build(&["avx2", "fma"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let message = err.to_string();
        assert!(message.contains("lacks avx2, fma"), "{message}");
        assert!(message.contains("GNNTRACK_TARGET_CPU"), "{message}");
    }
}
