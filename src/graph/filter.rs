//! The edge filter: a small edge-level model that drops the edges it finds clearly false
//! before the edge classifier scores the rest (the filter stage of Exa.TrkX's graph
//! construction).
//!
//! The cone windows are rectangles in the slope deviations; the true segments fill a smaller,
//! correlated region of the edge features (the x deviation relative to the cone axis's slope
//! against the y deviation above all). The bundled filter, one hidden layer on the edge
//! features, drops a fifth of the edges of an xi = 7 crossing for 0.1 % of its true segments:
//! edges the edge classifier, its parts and track building no longer handle.
//!
//! [`EdgeFilter`] checks the model at load time: a generic edge-level graph model
//! ([`GraphModel`]) that outputs logits or probabilities, whose features the tracker computes
//! with the tracker's scales and offsets, with its probability cut in the metadata
//! ([`KEY_CUT`]). The graph builder scores every edge with it, in blocks side by side, and
//! keeps the edges at or above the cut, in their order; their features stay for the edge
//! classifier ([`GraphBuilder::swap_filter_features`](super::GraphBuilder::swap_filter_features)).

use std::path::Path;

use super::{Graph, GraphError, Reference};
use crate::features::{FeatureKind, FeatureSpec, FeatureTable, GraphFeatures};
use crate::hits::Hits;
use crate::inference::contract::check_features;
use crate::inference::{
    EdgeIndex, GraphInput, GraphModel, GraphOutputKind, InferenceConfig, InferenceError,
    OutputLevel,
};

/// Metadata key of the filter's probability cut: edges scored below it are dropped.
pub const KEY_CUT: &str = "gnntrack.filter.cut";

/// The bundled edge filter, compiled into the library: the default of
/// [`GraphConfig::filter_model`](super::GraphConfig::filter_model).
pub const BUNDLED_FILTER: &[u8] = include_bytes!("../../models/gnntrack_filter.onnx");

/// Label of the bundled edge filter in messages.
pub const BUNDLED_FILTER_LABEL: &str = "bundled gnntrack_filter.onnx";

/// Edges per model call; the blocks run side by side, one onnxruntime thread each.
const BLOCK: usize = 8_192;

/// The edge filter's model, checked at load time. `Sync`: many threads may filter at once.
#[derive(Debug)]
pub struct EdgeFilter {
    model: GraphModel,
    label: String,
    node_names: Vec<String>,
    edge_names: Vec<String>,
    cut: f32,
}

/// Work space kept from one crossing to the next: the filter's features and the kept flags.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// The features of every edge of the last graph filtered, before the dropped edges were
    /// removed, while `current`.
    features: GraphFeatures,
    /// Whether `features` and `keep` are those of the graph last built.
    pub current: bool,
    /// Which edges of the graph before filtering were kept.
    keep: Vec<bool>,
}

impl Scratch {
    /// Hands over the features of the kept edges when they are these node and edge features,
    /// in this order (see [`GraphBuilder::swap_filter_features`](super::GraphBuilder::swap_filter_features)).
    pub(super) fn swap_features(
        &mut self,
        features: &mut GraphFeatures,
        node_names: &[&str],
        edge_names: &[&str],
    ) -> bool {
        let same = self.current
            && self.features.nodes.has_columns(node_names)
            && self.features.edges.has_columns(edge_names);
        if same {
            // The rows of the dropped edges go only now, beside the caller's other work.
            self.features.edges.retain_rows(&self.keep);
            std::mem::swap(&mut self.features, features);
            self.current = false;
        }
        same
    }
}

impl EdgeFilter {
    /// Loads and checks an edge-filter model file.
    pub fn load(
        path: impl AsRef<Path>,
        config: &InferenceConfig,
    ) -> Result<EdgeFilter, GraphError> {
        let path = path.as_ref();
        let model = GraphModel::load(path, &single_threaded(config))?;
        Self::checked(model, path.display().to_string())
    }

    /// Checks an edge-filter model held in memory; `label` names it in messages.
    pub fn from_bytes(
        bytes: impl Into<std::sync::Arc<[u8]>>,
        label: &str,
        config: &InferenceConfig,
    ) -> Result<EdgeFilter, GraphError> {
        let model = GraphModel::from_bytes(bytes, label, &single_threaded(config))?;
        Self::checked(model, label.to_string())
    }

    fn checked(model: GraphModel, label: String) -> Result<EdgeFilter, GraphError> {
        let bad = |what: &str, value: &dyn std::fmt::Display, reason: &str| {
            Err(GraphError::Filter {
                model: label.clone(),
                reason: format!("{what} = {value}: {reason}"),
            })
        };
        let info = model.info();
        if info.level != OutputLevel::Edge {
            return bad(
                "gnntrack.output_level",
                &format!("{:?}", info.level).to_lowercase(),
                "an edge filter gives one output per edge (`edge`)",
            );
        }
        if info.output_kind == GraphOutputKind::Values || info.output_width != 1 {
            return bad(
                "gnntrack.output",
                &format!(
                    "{} x {}",
                    format!("{:?}", info.output_kind).to_lowercase(),
                    info.output_width
                ),
                "an edge filter outputs one logit or probability per edge",
            );
        }
        let registry = FeatureTable::tracker();
        let checked = |declared: &[FeatureSpec], kind: FeatureKind, width: usize| {
            if declared.len() != width {
                return Err(GraphError::Filter {
                    model: label.clone(),
                    reason: format!(
                        "gnntrack.{kind}_features: {} names for {width} columns: an edge filter names every feature it takes",
                        declared.len()
                    ),
                });
            }
            check_features(declared, kind, &registry)
                .map(|specs| specs.iter().map(|f| f.name.to_string()).collect::<Vec<_>>())
                .map_err(|problem| GraphError::Filter {
                    model: label.clone(),
                    reason: problem.to_string(),
                })
        };
        let node_names = checked(&info.node_features, FeatureKind::Node, info.node_width)?;
        let edge_names = checked(&info.edge_features, FeatureKind::Edge, info.edge_width)?;
        let text = info.extra.get(KEY_CUT).map(String::as_str);
        let cut = match text.map(|t| (t, t.trim().parse::<f32>())) {
            Some((_, Ok(c))) if (0.0..=1.0).contains(&c) => c,
            Some((t, _)) => return bad(KEY_CUT, &t, "must be a probability from 0 to 1"),
            None => return bad(KEY_CUT, &"(not set)", "the filter's cut is required"),
        };
        Ok(EdgeFilter {
            model,
            label,
            node_names,
            edge_names,
            cut,
        })
    }

    /// The model's name for messages (file or label).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The underlying graph model.
    pub fn model(&self) -> &GraphModel {
        &self.model
    }

    /// The probability cut recorded in the model ([`KEY_CUT`]).
    pub fn cut(&self) -> f32 {
        self.cut
    }

    /// The probability of every edge of `graph` (built from `hits`) being a true segment, in
    /// edge order.
    pub fn probabilities(
        &self,
        hits: &Hits,
        graph: &Graph,
        reference: &Reference,
    ) -> Result<Vec<f32>, GraphError> {
        let mut scratch = Scratch::default();
        let output = self.with_input(hits, graph, reference, &mut scratch, |model, input| {
            model.run_edge_blocks(input, BLOCK)
        })?;
        Ok(output.values)
    }

    /// Drops the edges of `graph` scored below `cut`, keeping the others in their order;
    /// returns how many it dropped.
    pub(super) fn apply(
        &self,
        hits: &Hits,
        graph: &mut Graph,
        reference: &Reference,
        cut: f32,
        scratch: &mut Scratch,
    ) -> Result<usize, GraphError> {
        scratch.current = false;
        if graph.is_empty() {
            return Ok(0);
        }
        scratch.keep = self.edges_kept(hits, graph, reference, cut, scratch)?;
        let keep = &scratch.keep;
        let before = graph.len();
        graph.retain_flagged(keep);
        // The features stay for the edge classifier when it takes the same ones.
        scratch.current = true;
        Ok(before - graph.len())
    }

    /// Whether each edge's probability is at or above `cut`, in edge order.
    fn edges_kept(
        &self,
        hits: &Hits,
        graph: &Graph,
        reference: &Reference,
        cut: f32,
        scratch: &mut Scratch,
    ) -> Result<Vec<bool>, GraphError> {
        self.with_input(hits, graph, reference, scratch, |model, input| {
            model.edges_at_or_above(input, BLOCK, cut)
        })
    }

    /// Computes the filter's features of `graph` into the scratch space and runs `run` on the
    /// model's input.
    fn with_input<T>(
        &self,
        hits: &Hits,
        graph: &Graph,
        reference: &Reference,
        scratch: &mut Scratch,
        run: impl FnOnce(&GraphModel, &GraphInput<'_>) -> Result<T, InferenceError>,
    ) -> Result<T, GraphError> {
        let node_names: Vec<&str> = self.node_names.iter().map(String::as_str).collect();
        let edge_names: Vec<&str> = self.edge_names.iter().map(String::as_str).collect();
        let features = &mut scratch.features;
        features
            .compute_into(hits, graph, &node_names, &edge_names, reference)
            .map_err(|e| GraphError::Filter {
                model: self.label.clone(),
                reason: e.to_string(),
            })?;
        let width = features.edges.columns.len();
        let input = GraphInput {
            node_features: &features.nodes.data,
            n_nodes: hits.len(),
            edges: Some(EdgeIndex::Pairs {
                src: &graph.src,
                dst: &graph.dst,
            }),
            edge_features: (width > 0).then_some(features.edges.data.as_slice()),
            graph_index: None,
            n_graphs: 0,
        };
        Ok(run(&self.model, &input)?)
    }
}

/// The filter's sessions run one block each on one onnxruntime thread: the blocks are the
/// parallel work.
fn single_threaded(config: &InferenceConfig) -> InferenceConfig {
    InferenceConfig {
        intra_threads: 1,
        ..config.clone()
    }
}
