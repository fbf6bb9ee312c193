//! [`EdgeClassifier`]: one ONNX edge-classifier model, its sessions and its scoring call.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use ort::session::SessionInputValue;
use ort::value::{Tensor, TensorRef};
use rayon::prelude::*;

use super::contract::{self, ModelInfo, OutputKind};
use super::engine::{
    ActiveProvider, Engine, SCAN_CHUNK, first_chunk, first_non_finite, read_model, sigmoid_in_place,
};
use super::partition::{self, Part};
use super::runtime::OnnxRuntime;
use super::{InferenceConfig, InferenceError, Provider};
use crate::features::{FeatureSpec, FeatureTable, gather_rows};

/// The edges to score: `E` pairs of node indices, from the inner (source) to the outer (target)
/// hit.
#[derive(Debug, Clone, Copy)]
pub enum EdgeIndex<'a> {
    /// Sources and targets as two slices of equal length.
    Pairs {
        /// Source node of each edge.
        src: &'a [u32],
        /// Target node of each edge.
        dst: &'a [u32],
    },
    /// The model's own layout, `[2, E]` row-major: the `E` sources, then the `E` targets. Passed
    /// to onnxruntime without a copy.
    Packed(&'a [i64]),
}

impl<'a> EdgeIndex<'a> {
    /// Number of edges, or an error when the parts disagree.
    pub(crate) fn len(&self) -> Result<usize, InferenceError> {
        match *self {
            EdgeIndex::Pairs { src, dst } => {
                if src.len() != dst.len() {
                    return Err(InferenceError::Input(format!(
                        "{} edge sources but {} edge targets",
                        src.len(),
                        dst.len()
                    )));
                }
                Ok(src.len())
            }
            EdgeIndex::Packed(v) => {
                if v.len() % 2 != 0 {
                    return Err(InferenceError::Input(format!(
                        "a packed edge index [2, E] needs an even length, got {}",
                        v.len()
                    )));
                }
                Ok(v.len() / 2)
            }
        }
    }

    /// The edges `rows` of sources and targets given as pairs; `None` for a packed index.
    pub(crate) fn slice_pairs(&self, rows: std::ops::Range<usize>) -> Option<EdgeIndex<'a>> {
        match *self {
            EdgeIndex::Pairs { src, dst } => Some(EdgeIndex::Pairs {
                src: &src[rows.clone()],
                dst: &dst[rows],
            }),
            EdgeIndex::Packed(_) => None,
        }
    }

    /// The first edge with a node index outside `0..n_nodes`, as (edge, index).
    pub(crate) fn first_out_of_range(&self, n_nodes: usize) -> Option<(usize, i64)> {
        match *self {
            EdgeIndex::Pairs { src, dst } => {
                // Chunks of sources and targets tested whole by their largest id, then the
                // first chunk with one out of range searched edge by edge.
                let limit = u32::try_from(n_nodes).unwrap_or(u32::MAX);
                let high = |ids: &[u32]| {
                    let chunk = first_chunk(ids, |c| c.iter().fold(0, |m, &i| m.max(i)) >= limit);
                    chunk.map(|c| c * SCAN_CHUNK)
                };
                let from = match (high(src), high(dst)) {
                    (None, None) => return None,
                    (a, b) => a.unwrap_or(usize::MAX).min(b.unwrap_or(usize::MAX)),
                };
                src[from..]
                    .iter()
                    .zip(&dst[from..])
                    .enumerate()
                    .find_map(|(k, (&s, &d))| {
                        [s, d]
                            .into_iter()
                            .find(|&i| i as usize >= n_nodes)
                            .map(|i| (from + k, i as i64))
                    })
            }
            EdgeIndex::Packed(v) => {
                let e = v.len() / 2;
                v.iter()
                    .enumerate()
                    .find(|&(_, &i)| i < 0 || i as u64 >= n_nodes as u64)
                    .map(|(k, &i)| (k % e.max(1), i))
            }
        }
    }

    /// Sources and targets as `u32` (borrowed, or narrowed from a packed index that
    /// [`first_out_of_range`](Self::first_out_of_range) found in range).
    fn pairs(self) -> (std::borrow::Cow<'a, [u32]>, std::borrow::Cow<'a, [u32]>) {
        match self {
            EdgeIndex::Pairs { src, dst } => (src.into(), dst.into()),
            EdgeIndex::Packed(v) => {
                let (s, d) = v.split_at(v.len() / 2);
                let narrow = |x: &[i64]| x.iter().map(|&i| i as u32).collect::<Vec<u32>>();
                (narrow(s).into(), narrow(d).into())
            }
        }
    }

    /// The `[2, n_edges]` int64 tensor the model takes: a view of a packed index, or the pairs
    /// widened into a new one.
    pub(crate) fn to_input(self, n_edges: usize) -> Result<SessionInputValue<'a>, ort::Error> {
        Ok(match self {
            EdgeIndex::Pairs { src, dst } => {
                let mut v = Vec::with_capacity(2 * n_edges);
                v.extend(src.iter().map(|&i| i64::from(i)));
                v.extend(dst.iter().map(|&i| i64::from(i)));
                Tensor::from_array(([2, n_edges], v))?.into()
            }
            EdgeIndex::Packed(v) => TensorRef::from_array_view(([2, n_edges], v))?.into(),
        })
    }
}

/// An edge classifier: a checked ONNX model and a bounded pool of its sessions. `Sync`: share it
/// between threads (by reference or `Arc`) and call [`score`](Self::score) from all of them.
pub struct EdgeClassifier {
    engine: Engine,
    info: ModelInfo,
    /// Graphs of more edges are scored in parts of about this many (`None`: always whole).
    part_edges: Option<usize>,
}

impl fmt::Debug for EdgeClassifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeClassifier")
            .field("model", &self.engine.label())
            .field("name", &self.info.name)
            .field("version", &self.info.version)
            .field("provider", self.engine.provider())
            .field("pool_size", &self.engine.pool_size())
            .finish_non_exhaustive()
    }
}

impl EdgeClassifier {
    /// Loads a model file: starts onnxruntime if needed (see the [module docs](super)), opens a
    /// first session on the configured provider, and checks the model contract against the
    /// tracker's `features` and, when given, its `graph` parameters.
    pub fn load(
        path: impl AsRef<Path>,
        config: &InferenceConfig,
        features: &FeatureTable,
        graph: Option<&toml::Table>,
    ) -> Result<Self, InferenceError> {
        let (bytes, label) = read_model(path.as_ref())?;
        Self::from_bytes(bytes, &label, config, features, graph)
    }

    /// Like [`load`](Self::load), from the bytes of a model; `label` names it in messages.
    pub fn from_bytes(
        bytes: impl Into<Arc<[u8]>>,
        label: &str,
        config: &InferenceConfig,
        features: &FeatureTable,
        graph: Option<&toml::Table>,
    ) -> Result<Self, InferenceError> {
        let bytes: Arc<[u8]> = bytes.into();
        let open = |config: &InferenceConfig| {
            Engine::open(bytes.clone(), label, config, |session| {
                contract::check(session, features, graph, config.graph_mismatch).map_err(
                    |problem| InferenceError::Contract {
                        model: label.to_string(),
                        problem,
                    },
                )
            })
        };
        let (mut engine, (mut info, mut differences)) = open(config)?;
        let in_parts = info.receptive_hops.is_some()
            && config.part_edges > 0
            && engine.provider().kind() == Provider::Cpu;
        if in_parts && engine.intra_threads() == 0 {
            // The parts run side by side, so each session gets one thread.
            let single = InferenceConfig {
                intra_threads: 1,
                provider: Provider::Cpu,
                ..config.clone()
            };
            (engine, (info, differences)) = open(&single)?;
        }
        if !differences.is_empty() {
            log::warn!(
                "model {label} was trained with other graph parameters than the tracker's: {}",
                differences.join("; ")
            );
        }
        let part_edges = in_parts.then_some(config.part_edges);
        let parts_text = match (part_edges, info.receptive_hops) {
            (Some(n), Some(k)) => {
                format!("; graphs over {n} edges scored in parts (receptive field {k} edges)")
            }
            _ => String::new(),
        };
        log::info!(
            "edge classifier {} {} ({label}) on {}, {}{parts_text}",
            info.name,
            info.version,
            engine.provider(),
            engine.capacity_text()
        );
        Ok(EdgeClassifier {
            engine,
            info,
            part_edges,
        })
    }

    /// What the model declares (features, output kind, cut, graph parameters, name, version).
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The execution provider in use.
    pub fn provider(&self) -> &ActiveProvider {
        self.engine.provider()
    }

    /// The onnxruntime the classifier runs on.
    pub fn runtime(&self) -> &'static OnnxRuntime {
        self.engine.runtime()
    }

    /// The most sessions this classifier keeps.
    pub fn pool_size(&self) -> usize {
        self.engine.pool_size()
    }

    /// Sessions created so far (1 after loading, at most [`pool_size`](Self::pool_size)).
    pub fn sessions_created(&self) -> usize {
        self.engine.sessions_created()
    }

    /// The edge probabilities, one per edge in input order.
    ///
    /// - `node_features`: `n_nodes x Fn` values, row-major, in the order of
    ///   [`ModelInfo::node_features`], already scaled;
    /// - `edges`: the edge index, node indices below `n_nodes`;
    /// - `edge_features`: `E x Fe` values in the order of [`ModelInfo::edge_features`], given if
    ///   and only if the model takes edge features.
    ///
    /// Logits are turned into probabilities with the sigmoid. No edges give an empty vector
    /// without running the model. Safe to call from many threads at once (see the module docs
    /// on the session pool).
    pub fn score(
        &self,
        node_features: &[f32],
        n_nodes: usize,
        edges: EdgeIndex<'_>,
        edge_features: Option<&[f32]>,
    ) -> Result<Vec<f32>, InferenceError> {
        self.score_planned(node_features, n_nodes, edges, edge_features, None)
    }

    /// How [`score`](Self::score) would cut the graph `src[k] -> dst[k]` of `n_nodes` hits into
    /// parts, made ahead: the cut depends on the graph alone, so a caller can make it while it
    /// computes the features, and hand it to [`score_planned`](Self::score_planned). `None` when
    /// the graph is scored in one run, or when an edge refers to a hit beyond `n_nodes` (the
    /// scoring reports that).
    pub(crate) fn plan_parts<'a>(
        &self,
        n_nodes: usize,
        src: &'a [u32],
        dst: &'a [u32],
    ) -> Option<PartPlan<'a>> {
        let (Some(target), Some(hops)) = (self.part_edges, self.info.receptive_hops) else {
            return None;
        };
        let edges = EdgeIndex::Pairs { src, dst };
        let n_edges = edges.len().ok()?;
        (n_edges > target && edges.first_out_of_range(n_nodes).is_none())
            .then(|| PartPlan::new(n_nodes, src, dst, hops, target))
    }

    /// [`score`](Self::score) with the parts of [`plan_parts`](Self::plan_parts), if it was made
    /// for these very edges (the same `src` and `dst`); otherwise as `score`.
    pub(crate) fn score_planned(
        &self,
        node_features: &[f32],
        n_nodes: usize,
        edges: EdgeIndex<'_>,
        edge_features: Option<&[f32]>,
        plan: Option<PartPlan<'_>>,
    ) -> Result<Vec<f32>, InferenceError> {
        let fn_ = self.info.node_features.len();
        let expected = n_nodes.checked_mul(fn_).ok_or_else(|| {
            InferenceError::Input(format!("{n_nodes} nodes x {fn_} features overflows"))
        })?;
        if node_features.len() != expected {
            return Err(InferenceError::Input(format!(
                "{} node feature values for {n_nodes} nodes x {fn_} features ({}) = {expected}",
                node_features.len(),
                names(&self.info.node_features)
            )));
        }
        let n_edges = edges.len()?;
        if let Some((k, i)) = edges.first_out_of_range(n_nodes) {
            return Err(InferenceError::Input(format!(
                "edge {k} refers to node {i}, but there are {n_nodes} nodes"
            )));
        }
        let fe = self.info.edge_features.len();
        match (self.info.inputs.edge_features.is_some(), edge_features) {
            (true, None) => {
                return Err(InferenceError::Input(format!(
                    "the model takes edge features ({}) but none were given",
                    names(&self.info.edge_features)
                )));
            }
            (false, Some(_)) => {
                return Err(InferenceError::Input(
                    "edge features given, but the model takes none".into(),
                ));
            }
            (true, Some(v)) if Some(v.len()) != n_edges.checked_mul(fe) => {
                return Err(InferenceError::Input(format!(
                    "{} edge feature values for {n_edges} edges x {fe} features ({})",
                    v.len(),
                    names(&self.info.edge_features)
                )));
            }
            _ => {}
        }
        if n_edges == 0 {
            return Ok(Vec::new());
        }

        // A plan serves only the edges it was cut from, with this model's receptive field.
        let plan = plan.filter(|p| match edges {
            EdgeIndex::Pairs { src, dst } => {
                p.is_for(n_nodes, src, dst) && Some(p.hops) == self.info.receptive_hops
            }
            EdgeIndex::Packed(_) => false,
        });
        let scores = match (plan, self.part_edges, self.info.receptive_hops) {
            (Some(plan), ..) => self.run_parts(&plan, node_features, edge_features)?,
            (None, Some(target), Some(hops)) if n_edges > target => {
                let (src, dst) = edges.pairs();
                let plan = PartPlan::new(n_nodes, &src, &dst, hops, target);
                self.run_parts(&plan, node_features, edge_features)?
            }
            _ => {
                let mut scores = self.run(
                    node_features,
                    n_nodes,
                    edges
                        .to_input(n_edges)
                        .map_err(|e| self.engine.run_error(e))?,
                    edge_features,
                    n_edges,
                )?;
                self.to_probabilities(&mut scores);
                scores
            }
        };
        let engine = &self.engine;
        if let Some(k) = first_non_finite(&scores) {
            return Err(engine.output_error(format!("non-finite score {} for edge {k}", scores[k])));
        }
        Ok(scores)
    }
}

impl EdgeClassifier {
    /// One run of the model over `n_nodes` hits and `n_edges` edges: the raw output, one value
    /// per edge.
    fn run(
        &self,
        node_features: &[f32],
        n_nodes: usize,
        edge_index: SessionInputValue<'_>,
        edge_features: Option<&[f32]>,
        n_edges: usize,
    ) -> Result<Vec<f32>, InferenceError> {
        let engine = &self.engine;
        let run_error = |e: ort::Error| engine.run_error(e);
        let fn_ = self.info.node_features.len();
        let fe = self.info.edge_features.len();
        let nodes =
            TensorRef::from_array_view(([n_nodes, fn_], node_features)).map_err(run_error)?;
        let mut inputs: Vec<(&str, SessionInputValue<'_>)> = Vec::with_capacity(3);
        inputs.push((&self.info.inputs.node_features, nodes.into()));
        inputs.push((&self.info.inputs.edge_index, edge_index));
        if let (Some(name), Some(v)) = (&self.info.inputs.edge_features, edge_features) {
            let t = TensorRef::from_array_view(([n_edges, fe], v)).map_err(run_error)?;
            inputs.push((name, t.into()));
        }
        let (shape, scores) = engine.run_f32(inputs, &self.info.output)?;
        let shape_ok = match *shape {
            [e] => e as usize == n_edges,
            [e, 1] => e as usize == n_edges,
            _ => false,
        };
        if !shape_ok || scores.len() != n_edges {
            return Err(engine.output_error(format!(
                "shape {shape:?} for {n_edges} edges; expected [E] or [E, 1]"
            )));
        }
        Ok(scores)
    }

    /// The model's output as probabilities, in place: the sigmoid of logits.
    fn to_probabilities(&self, values: &mut [f32]) {
        if self.info.output_kind == OutputKind::Logits {
            sigmoid_in_place(values);
        }
    }

    /// Builds the parts of `plan` and runs them side by side on the current rayon pool; each
    /// puts the probabilities of its core edges in place as it finishes.
    fn run_parts(
        &self,
        plan: &PartPlan<'_>,
        node_features: &[f32],
        edge_features: Option<&[f32]>,
    ) -> Result<Vec<f32>, InferenceError> {
        let start = std::time::Instant::now();
        let parts = &plan.parts;
        let n_edges = plan.src.len();
        // Every edge is the core edge of exactly one part, so each slot is written once.
        let scores: Vec<AtomicU32> = (0..n_edges).map(|_| AtomicU32::new(0)).collect();
        // Each worker takes the next part in the plan's order until none is left. The plan
        // puts the slices of large components first and ends with the packs of small ones,
        // so the parts left at the end are short and the workers finish close together (a
        // split of the list into halves, one per thread, left one idle for up to a part).
        // Scores part k into its core edges' slots; gives the part's edge count.
        let score_part = |k: usize| {
            let part = parts.part(k);
            let out = self
                .run_part(&part, node_features, edge_features)
                .map(|mut out| {
                    self.to_probabilities(&mut out);
                    for ((&e, &core), s) in part.edges.iter().zip(&part.core).zip(out) {
                        if core {
                            scores[e as usize].store(s.to_bits(), Ordering::Relaxed);
                        }
                    }
                });
            (part.edges.len(), out)
        };
        let next = AtomicUsize::new(0);
        let next_part = || {
            let k = next.fetch_add(1, Ordering::Relaxed);
            (k < parts.len()).then_some(k)
        };
        let workers = rayon::current_num_threads().clamp(1, parts.len().max(1));
        let done: Vec<(usize, Result<(), InferenceError>)> = (0..workers)
            .into_par_iter()
            .flat_map_iter(|_| {
                std::iter::from_fn(next_part)
                    .map(score_part)
                    .collect::<Vec<_>>()
            })
            .collect();
        log::debug!(
            "{n_edges} edges scored in {} parts (packs of up to {} edges, slices of about {}) holding {} edges with their halos: cut in {:.1} ms, run in {:.1} ms",
            done.len(),
            plan.pack,
            plan.slice,
            done.iter().map(|(n, _)| n).sum::<usize>(),
            plan.cut_ms,
            start.elapsed().as_secs_f64() * 1e3
        );
        for (_, out) in done {
            out?;
        }
        Ok(scores
            .into_iter()
            .map(|s| f32::from_bits(s.into_inner()))
            .collect())
    }

    /// One run over a part: its rows of the features and its local edge index.
    fn run_part(
        &self,
        part: &Part,
        node_features: &[f32],
        edge_features: Option<&[f32]>,
    ) -> Result<Vec<f32>, InferenceError> {
        if part.edges.is_empty() {
            return Ok(Vec::new());
        }
        let nodes = gather_rows(node_features, self.info.node_features.len(), &part.nodes);
        let edges =
            edge_features.map(|v| gather_rows(v, self.info.edge_features.len(), &part.edges));
        let e = part.edges.len();
        let index = TensorRef::from_array_view(([2, e], &part.index[..]))
            .map_err(|err| self.engine.run_error(err))?;
        self.run(&nodes, part.nodes.len(), index.into(), edges.as_deref(), e)
    }
}

/// Largest ratio of a sliced part's edges to its core edges before the slices are made larger.
const MAX_HALO_RATIO: f64 = 1.5;

/// Core edges of the first slices of large components, as a multiple of the packs' size: a
/// slice pays for its halo, a pack of whole components does not. At xi = 7 the bundled
/// two-round model's middle slice of 4 k edges holds 1.40 times its edges and one of 8 k 1.18
/// times; slices of 8 k score the crossing about 6 % faster (fewer edges scored twice, fewer
/// runs), while packs of 4 k keep both threads busy on mid-sized graphs.
const FIRST_SLICE: usize = 2;

/// The parts a graph is scored in (see [`EdgeClassifier::plan_parts`]).
pub(crate) struct PartPlan<'a> {
    parts: partition::Plan<'a>,
    n_nodes: usize,
    src: &'a [u32],
    dst: &'a [u32],
    /// The receptive field the halos were cut for.
    hops: u32,
    /// Edges per pack of whole components.
    pack: usize,
    /// Core edges per slice of a large component.
    slice: usize,
    /// How long the cut took.
    cut_ms: f64,
}

impl<'a> PartPlan<'a> {
    /// Packs of whole components of up to `target` edges; larger components in slices of
    /// [`FIRST_SLICE`] times that, twice as large while the halos hold more than half again a
    /// slice's edges (dense graphs: at five times the xi = 7 density they would hold 2.6 times
    /// the edges with slices of 16 k).
    fn new(
        n_nodes: usize,
        src: &'a [u32],
        dst: &'a [u32],
        hops: u32,
        target: usize,
    ) -> PartPlan<'a> {
        let start = std::time::Instant::now();
        let pack = target.max(1);
        let mut slice = FIRST_SLICE * pack;
        let mut parts = partition::Plan::new(n_nodes, src, dst, hops, pack);
        parts.cut_sized(pack, slice);
        while parts.halo_ratio().is_some_and(|r| r > MAX_HALO_RATIO) && slice < src.len() {
            slice *= 2;
            parts.cut_sized(pack, slice);
        }
        PartPlan {
            parts,
            n_nodes,
            src,
            dst,
            hops,
            pack,
            slice,
            cut_ms: start.elapsed().as_secs_f64() * 1e3,
        }
    }

    /// Whether the plan was made for these very edges.
    fn is_for(&self, n_nodes: usize, src: &[u32], dst: &[u32]) -> bool {
        self.n_nodes == n_nodes && std::ptr::eq(self.src, src) && std::ptr::eq(self.dst, dst)
    }
}

fn names(specs: &[FeatureSpec]) -> String {
    specs
        .iter()
        .map(|f| f.name.as_ref())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::DEFAULT_MODEL;
    use crate::tracks::test_support::rng;
    use rand::RngExt;

    /// A random graph of `n` hits and `e` edges with features in the bundled model's ranges.
    fn random_graph(seed: u64, n: usize, e: usize) -> (Vec<f32>, Vec<u32>, Vec<u32>, Vec<f32>) {
        let mut r = rng(seed);
        let nodes = (0..n * 7).map(|_| r.random_range(-1.0..1.0f32)).collect();
        // Targets near the source: long chains, one large component.
        let src: Vec<u32> = (0..e).map(|k| (k * n / e) as u32).collect();
        let dst = src
            .iter()
            .map(|&s| ((s as usize + r.random_range(1..40)) % n) as u32)
            .collect();
        let edges = (0..e * 11).map(|_| r.random_range(-1.0..1.0f32)).collect();
        (nodes, src, dst, edges)
    }

    #[test]
    fn slices_grow_until_their_halos_are_thin_and_packs_keep_their_size() {
        // Long chains of edges between near hits: one large component, whose slices of a few
        // hundred edges are mostly halo.
        let (n, e) = (20_000, 60_000);
        let (_, src, dst, _) = random_graph(3, n, e);
        let mut first = partition::Plan::new(n, &src, &dst, 2, 128);
        first.cut_sized(128, FIRST_SLICE * 128);
        assert!(first.halo_ratio().unwrap() > MAX_HALO_RATIO);
        let plan = PartPlan::new(n, &src, &dst, 2, 128);
        assert_eq!(plan.pack, 128);
        assert!(plan.slice > FIRST_SLICE * 128 && plan.slice.is_power_of_two());
        let ratio = plan.parts.halo_ratio();
        assert!(ratio.is_none_or(|r| r <= MAX_HALO_RATIO), "{ratio:?}");
        // Half as large, the halos were still too thick.
        first.cut_sized(128, plan.slice / 2);
        assert!(first.halo_ratio().unwrap() > MAX_HALO_RATIO);
    }

    #[test]
    fn a_cut_made_ahead_gives_the_scores_of_one_made_in_place() {
        let config = InferenceConfig::default();
        let features = FeatureTable::tracker();
        let c =
            EdgeClassifier::from_bytes(DEFAULT_MODEL.to_vec(), "bundled", &config, &features, None)
                .unwrap();
        let (n, e) = (6000, 18_000);
        let (nodes, src, dst, edge_features) = random_graph(7, n, e);
        let pairs = EdgeIndex::Pairs {
            src: &src,
            dst: &dst,
        };
        let plain = c.score(&nodes, n, pairs, Some(&edge_features)).unwrap();
        let plan = c.plan_parts(n, &src, &dst);
        assert!(
            plan.as_ref().is_some_and(|p| p.parts.len() > 1),
            "cut into parts"
        );
        let planned = c
            .score_planned(&nodes, n, pairs, Some(&edge_features), plan)
            .unwrap();
        assert_eq!(planned, plain);
        // A plan made for other edges is not used: used, it would give other scores.
        let (_, src2, dst2, _) = random_graph(8, n, e);
        let foreign = c.plan_parts(n, &src2, &dst2);
        assert!(foreign.is_some());
        let other = c
            .score_planned(&nodes, n, pairs, Some(&edge_features), foreign)
            .unwrap();
        assert_eq!(other, plain);
        // No plan for a small graph, nor for edges beyond the hits (scoring reports those).
        assert!(c.plan_parts(n, &src[..100], &dst[..100]).is_none());
        let mut bad = dst.clone();
        bad[5] = n as u32;
        assert!(c.plan_parts(n, &src, &bad).is_none());
    }
}
