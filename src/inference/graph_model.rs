//! [`GraphModel`]: a generic ONNX graph network (node, edge or graph outputs) for hosts that build
//! their own graphs, and for stages of the tracker that run such a model on graphs of their own.
//!
//! The model's metadata says what it takes and returns (the contract is in
//! [`contract`](super::contract), types [`GraphModelInfo`], [`OutputLevel`],
//! [`GraphOutputKind`]); [`GraphModel::run`] checks every input against it before running. The
//! sessions, provider choice and pool are those of the edge classifier (see the
//! [module docs](super)).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use ort::session::SessionInputValue;
use ort::value::{Tensor, TensorRef};
use rayon::prelude::*;

use super::contract;
pub use super::contract::{GraphModelInfo, GraphOutputKind, OutputLevel};
use super::engine::{
    ActiveProvider, Engine, LogitCut, first_nan, first_non_finite, read_model, sigmoid_in_place,
};
use super::runtime::OnnxRuntime;
use super::{EdgeIndex, InferenceConfig, InferenceError};

/// The graphs to run a model on: several small graphs at once, told apart by the graph index.
#[derive(Debug, Clone, Copy)]
pub struct GraphInput<'a> {
    /// `n_nodes x node_width` values, row-major.
    pub node_features: &'a [f32],
    /// Number of nodes.
    pub n_nodes: usize,
    /// The edges (node indices below `n_nodes`), given if and only if the model takes an edge
    /// index ([`GraphModelInfo::takes_edges`]).
    pub edges: Option<EdgeIndex<'a>>,
    /// `n_edges x edge_width` values, row-major, given if and only if the model's `edge_width`
    /// is above 0.
    pub edge_features: Option<&'a [f32]>,
    /// The graph of each node, below `n_graphs`: given for graph-level models (required there),
    /// refused for the others.
    pub graph_index: Option<&'a [u32]>,
    /// Number of graphs (graph-level models; each must hold at least one node). Ignored for node
    /// and edge level.
    pub n_graphs: usize,
}

impl<'a> GraphInput<'a> {
    /// Nodes only: no edges, edge features or graph index.
    pub fn nodes(node_features: &'a [f32], n_nodes: usize) -> Self {
        GraphInput {
            node_features,
            n_nodes,
            edges: None,
            edge_features: None,
            graph_index: None,
            n_graphs: 0,
        }
    }
}

/// The output of a run: `rows` rows (nodes, edges or graphs, in input order) of `width` values,
/// row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphOutput {
    /// Number of rows.
    pub rows: usize,
    /// Values per row (the model's `output_width`).
    pub width: usize,
    /// `rows x width` values; probabilities for logit models.
    pub values: Vec<f32>,
}

impl GraphOutput {
    /// The values of row `r`; panics when `r >= rows`.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.values[r * self.width..(r + 1) * self.width]
    }
}

/// A generic graph model: a checked ONNX model and a bounded pool of its sessions. `Sync`: share
/// it between threads and call [`run`](Self::run) from all of them.
pub struct GraphModel {
    engine: Engine,
    info: GraphModelInfo,
}

impl fmt::Debug for GraphModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphModel")
            .field("model", &self.engine.label())
            .field("name", &self.info.name)
            .field("version", &self.info.version)
            .field("level", &self.info.level)
            .field("provider", self.engine.provider())
            .field("pool_size", &self.engine.pool_size())
            .finish_non_exhaustive()
    }
}

impl GraphModel {
    /// Loads a model file: starts onnxruntime if needed, opens a first session on the configured
    /// provider and checks the generic graph-model contract. An edge classifier is refused with
    /// [`ContractError::WrongKind`](super::ContractError::WrongKind).
    pub fn load(path: impl AsRef<Path>, config: &InferenceConfig) -> Result<Self, InferenceError> {
        let (bytes, label) = read_model(path.as_ref())?;
        Self::from_bytes(bytes, &label, config)
    }

    /// Like [`load`](Self::load), from the bytes of a model; `label` names it in messages.
    pub fn from_bytes(
        bytes: impl Into<Arc<[u8]>>,
        label: &str,
        config: &InferenceConfig,
    ) -> Result<Self, InferenceError> {
        let (engine, info) = Engine::open(bytes.into(), label, config, |session| {
            contract::check_graph(session).map_err(|problem| InferenceError::Contract {
                model: label.to_string(),
                problem,
            })
        })?;
        log::info!(
            "graph model {} {} ({label}, {}-level, {} x {} in, {} out) on {}, {}",
            info.name,
            info.version,
            info.level,
            info.node_width,
            info.edge_width,
            info.output_width,
            engine.provider(),
            engine.capacity_text()
        );
        Ok(GraphModel { engine, info })
    }

    /// What the model declares (level, widths, output kind, features, name, version, extra keys).
    pub fn info(&self) -> &GraphModelInfo {
        &self.info
    }

    /// The execution provider in use.
    pub fn provider(&self) -> &ActiveProvider {
        self.engine.provider()
    }

    /// The onnxruntime the model runs on.
    pub fn runtime(&self) -> &'static OnnxRuntime {
        self.engine.runtime()
    }

    /// The most sessions this model keeps.
    pub fn pool_size(&self) -> usize {
        self.engine.pool_size()
    }

    /// Sessions created so far (1 after loading, at most [`pool_size`](Self::pool_size)).
    pub fn sessions_created(&self) -> usize {
        self.engine.sessions_created()
    }

    /// Checks every input (widths, lengths, indices in range, finite features, graphs non-empty)
    /// and runs the model: one output row per node, edge or graph (the model's level), in input
    /// order. Logits are turned into probabilities with the sigmoid. Errors are
    /// [`InferenceError::Input`] naming the item and value. No nodes, or no rows to compute (an
    /// edge-level model without edges), give an empty output without running the model. Safe to
    /// call from many threads at once.
    pub fn run(&self, input: &GraphInput<'_>) -> Result<GraphOutput, InferenceError> {
        let checked = self.check(input)?;
        self.run_checked(input, checked)
    }

    /// [`run`](Self::run) for an edge-level model over many edges: checks the input once, then
    /// runs the model on blocks of at most `block` edges side by side on the current rayon pool
    /// and joins their outputs in edge order. Each output row depends on its edge alone for the
    /// result to equal one run over all edges (a per-edge network; not a model that passes
    /// messages). `block` 0 means one block; an edge index given packed runs in one block.
    pub fn run_edge_blocks(
        &self,
        input: &GraphInput<'_>,
        block: usize,
    ) -> Result<GraphOutput, InferenceError> {
        let (n_edges, edges) = self.check_edge_level(input)?;
        let width = self.info.output_width;
        let blocks =
            self.in_edge_blocks(input, edges, n_edges, block, |part, checked, first| {
                let raw = self.run_raw(part, checked)?;
                self.finish(raw, first)
            })?;
        Ok(GraphOutput {
            rows: n_edges,
            width,
            values: blocks.concat(),
        })
    }

    /// Whether the output of each edge is at least `cut`, in edge order: the comparison of
    /// [`run_edge_blocks`](Self::run_edge_blocks)'s probabilities with the cut, for a model of
    /// one output per edge, the same flags and errors without the sigmoid of the logits that are
    /// clearly on one side of the cut ([`LogitCut`]).
    pub(crate) fn edges_at_or_above(
        &self,
        input: &GraphInput<'_>,
        block: usize,
        cut: f32,
    ) -> Result<Vec<bool>, InferenceError> {
        let (n_edges, edges) = self.check_edge_level(input)?;
        if self.info.output_width != 1 {
            return Err(InferenceError::Input(format!(
                "a cut on the output needs one output per edge; this model gives {}",
                self.info.output_width
            )));
        }
        let logit_cut = LogitCut::new(cut);
        let blocks: Vec<Vec<bool>> =
            self.in_edge_blocks(input, edges, n_edges, block, |part, checked, first| {
                let raw = self.run_raw(part, checked)?;
                if self.info.output_kind == GraphOutputKind::Logits {
                    // The sigmoid of a NaN is the only non-finite probability.
                    if let Some(k) = first_nan(&raw) {
                        return Err(self.engine.output_error(format!(
                            "non-finite value {} in row {}, column 0",
                            raw[k],
                            first + k
                        )));
                    }
                    Ok(raw.iter().map(|&v| logit_cut.passes(v)).collect())
                } else {
                    let p = self.finish(raw, first)?;
                    Ok(p.iter().map(|&v| v >= cut).collect())
                }
            })?;
        Ok(blocks.concat())
    }

    /// Checks `input` for a run over blocks of edges: an edge-level model given its edges.
    /// Returns the number of edges and the edges.
    fn check_edge_level<'a>(
        &self,
        input: &GraphInput<'a>,
    ) -> Result<(usize, EdgeIndex<'a>), InferenceError> {
        let checked = self.check(input)?;
        match (self.info.level, input.edges) {
            (OutputLevel::Edge, Some(edges)) => Ok((checked.n_edges, edges)),
            _ => Err(InferenceError::Input(format!(
                "blocks of edges need an edge-level model given its edges; this model's level is {}",
                self.info.level
            ))),
        }
    }

    /// Runs `run` on the blocks of at most `block` edges of a checked edge-level input (its
    /// `n_edges` edges `edges`), side by side on the current rayon pool, with each block's
    /// input, sizes and first edge; their results in edge order, or the error of the first
    /// failing block in edge order.
    fn in_edge_blocks<T: Send>(
        &self,
        input: &GraphInput<'_>,
        edges: EdgeIndex<'_>,
        n_edges: usize,
        block: usize,
        run: impl Fn(&GraphInput<'_>, Checked, usize) -> Result<T, InferenceError> + Sync,
    ) -> Result<Vec<T>, InferenceError> {
        let whole = Checked {
            n_edges,
            rows: n_edges,
        };
        // A packed index is run in one block: its sources and targets are not slices of pairs.
        if block == 0 || n_edges <= block || edges.slice_pairs(0..0).is_none() {
            return Ok(vec![run(input, whole, 0)?]);
        }
        let width = self.info.edge_width;
        let results: Vec<Result<T, InferenceError>> = (0..n_edges.div_ceil(block))
            .into_par_iter()
            .map(|b| {
                let rows = b * block..((b + 1) * block).min(n_edges);
                let part = GraphInput {
                    edges: edges.slice_pairs(rows.clone()),
                    edge_features: input
                        .edge_features
                        .map(|v| &v[rows.start * width..rows.end * width]),
                    ..*input
                };
                let sizes = Checked {
                    n_edges: rows.len(),
                    rows: rows.len(),
                };
                run(&part, sizes, rows.start)
            })
            .collect();
        results.into_iter().collect()
    }

    /// Checks an input against the model; returns its edge and output row counts.
    fn check(&self, input: &GraphInput<'_>) -> Result<Checked, InferenceError> {
        let info = &self.info;
        let n_nodes = input.n_nodes;
        check_table(
            input.node_features,
            n_nodes,
            info.node_width,
            ("node_features", "node", "node_width"),
        )?;
        let n_edges = match (info.takes_edges, input.edges) {
            (true, None) => {
                return Err(InferenceError::Input(
                    "the model takes an edge index, but no edges were given".into(),
                ));
            }
            (false, Some(_)) => {
                return Err(InferenceError::Input(
                    "edges given, but the model takes no edge index".into(),
                ));
            }
            (_, Some(edges)) => {
                let n_edges = edges.len()?;
                if let Some((k, i)) = edges.first_out_of_range(n_nodes) {
                    return Err(InferenceError::Input(format!(
                        "edge {k} refers to node {i}, but there are {n_nodes} nodes"
                    )));
                }
                n_edges
            }
            (false, None) => 0,
        };
        match (info.edge_width, input.edge_features) {
            (0, Some(_)) => {
                return Err(InferenceError::Input(
                    "edge_features given, but the model takes none (edge_width 0)".into(),
                ));
            }
            (w, None) if w > 0 => {
                return Err(InferenceError::Input(format!(
                    "the model takes {w} edge features per edge (edge_width), but no edge_features were given"
                )));
            }
            (w, Some(values)) => {
                check_table(values, n_edges, w, ("edge_features", "edge", "edge_width"))?
            }
            _ => {}
        }
        let rows = match info.level {
            OutputLevel::Node => n_nodes,
            OutputLevel::Edge => n_edges,
            OutputLevel::Graph => check_graph_index(input.graph_index, n_nodes, input.n_graphs)?,
        };
        if info.level != OutputLevel::Graph && input.graph_index.is_some() {
            return Err(InferenceError::Input(format!(
                "graph_index given, but the model's output level is {}: only graph-level models take one",
                info.level
            )));
        }
        Ok(Checked { n_edges, rows })
    }

    /// Runs the model on a checked input.
    fn run_checked(
        &self,
        input: &GraphInput<'_>,
        checked: Checked,
    ) -> Result<GraphOutput, InferenceError> {
        let raw = self.run_raw(input, checked)?;
        Ok(GraphOutput {
            rows: checked.rows,
            width: self.info.output_width,
            values: self.finish(raw, 0)?,
        })
    }

    /// The output of a checked input as the model wrote it (`rows x output_width` values, the
    /// shape checked); empty without nodes or rows, without running the model.
    fn run_raw(
        &self,
        input: &GraphInput<'_>,
        checked: Checked,
    ) -> Result<Vec<f32>, InferenceError> {
        let info = &self.info;
        let n_nodes = input.n_nodes;
        let Checked { n_edges, rows } = checked;
        let width = info.output_width;
        if n_nodes == 0 || rows == 0 {
            return Ok(Vec::new());
        }

        let engine = &self.engine;
        let run_error = |e: ort::Error| engine.run_error(e);
        let mut inputs: Vec<(&str, SessionInputValue<'_>)> = Vec::with_capacity(4);
        let nodes = TensorRef::from_array_view(([n_nodes, info.node_width], input.node_features))
            .map_err(run_error)?;
        inputs.push((&info.inputs.node_features, nodes.into()));
        if let (Some(name), Some(edges)) = (&info.inputs.edge_index, input.edges) {
            inputs.push((name, edges.to_input(n_edges).map_err(run_error)?));
        }
        if let (Some(name), Some(values)) = (&info.inputs.edge_features, input.edge_features) {
            let t = TensorRef::from_array_view(([n_edges, info.edge_width], values))
                .map_err(run_error)?;
            inputs.push((name, t.into()));
        }
        if let (Some(name), Some(graphs)) = (&info.inputs.graph_index, input.graph_index) {
            let v: Vec<i64> = graphs.iter().map(|&g| i64::from(g)).collect();
            inputs.push((
                name,
                Tensor::from_array(([n_nodes], v))
                    .map_err(run_error)?
                    .into(),
            ));
        }

        let (shape, values) = engine.run_f32(inputs, &info.output)?;
        let shape_ok = match *shape {
            [r] => width == 1 && r as usize == rows,
            [r, w] => r as usize == rows && w as usize == width,
            _ => false,
        };
        if !shape_ok || values.len() != rows * width {
            return Err(engine.output_error(format!(
                "shape {shape:?} for {rows} {}s; expected [{rows}, {width}]{}",
                info.level,
                if width == 1 {
                    format!(" or [{rows}]")
                } else {
                    String::new()
                }
            )));
        }
        Ok(values)
    }

    /// A raw output made probabilities (the sigmoid of logits) and checked: finite, and
    /// probabilities in [0, 1]. `first_row` is the number of its first row in messages.
    fn finish(&self, mut values: Vec<f32>, first_row: usize) -> Result<Vec<f32>, InferenceError> {
        let (engine, info) = (&self.engine, &self.info);
        let width = info.output_width;
        if info.output_kind == GraphOutputKind::Logits {
            sigmoid_in_place(&mut values);
        }
        let at = |k: usize| (first_row + k / width, k % width);
        if let Some(k) = first_non_finite(&values) {
            let (r, c) = at(k);
            return Err(engine.output_error(format!(
                "non-finite value {} in row {r}, column {c}",
                values[k]
            )));
        }
        if info.output_kind == GraphOutputKind::Probabilities
            && let Some(k) = values.iter().position(|v| !(0.0..=1.0).contains(v))
        {
            let (r, c) = at(k);
            return Err(engine.output_error(format!(
                "probability {} in row {r}, column {c} is outside [0, 1]",
                values[k]
            )));
        }
        Ok(values)
    }
}

/// The sizes of a checked input.
#[derive(Debug, Clone, Copy)]
struct Checked {
    n_edges: usize,
    rows: usize,
}

/// `values` must hold `rows x width` finite numbers; `(name, row, width_key)` name them in
/// messages.
fn check_table(
    values: &[f32],
    rows: usize,
    width: usize,
    (name, row, width_key): (&str, &str, &str),
) -> Result<(), InferenceError> {
    let expected = rows.checked_mul(width).ok_or_else(|| {
        InferenceError::Input(format!(
            "{name}: {rows} {row}s x {width} ({width_key}) overflows"
        ))
    })?;
    if values.len() != expected {
        return Err(InferenceError::Input(format!(
            "{name} has {} values for {rows} {row}s x {width} ({width_key})",
            values.len()
        )));
    }
    if let Some(k) = first_non_finite(values) {
        return Err(InferenceError::Input(format!(
            "{row} feature {} of {row} {} is {}",
            k % width,
            k / width,
            values[k]
        )));
    }
    Ok(())
}

/// The number of graphs, after checking that each node's graph is below `n_graphs` and that every
/// graph holds a node.
fn check_graph_index(
    graph_index: Option<&[u32]>,
    n_nodes: usize,
    n_graphs: usize,
) -> Result<usize, InferenceError> {
    let Some(graphs) = graph_index else {
        return Err(InferenceError::Input(
            "the model is graph-level: give graph_index (the graph of each node) and n_graphs"
                .into(),
        ));
    };
    if graphs.len() != n_nodes {
        return Err(InferenceError::Input(format!(
            "graph_index has {} entries for {n_nodes} nodes",
            graphs.len()
        )));
    }
    // Graphs 0..=n_nodes are enough to find the first empty one (n_nodes nodes fill at most
    // n_nodes graphs), whatever n_graphs is.
    let mut filled = vec![false; n_graphs.min(n_nodes + 1)];
    for (node, &g) in graphs.iter().enumerate() {
        if g as usize >= n_graphs {
            return Err(InferenceError::Input(format!(
                "node {node} is in graph {g}, but there are {n_graphs} graphs (n_graphs)"
            )));
        }
        if let Some(f) = filled.get_mut(g as usize) {
            *f = true;
        }
    }
    if let Some(g) = filled.iter().position(|&f| !f) {
        return Err(InferenceError::Input(format!("graph {g} has no nodes")));
    }
    Ok(n_graphs)
}
