//! Generic graph models: a host that builds its own graphs loads an ONNX graph network and gets
//! its node, edge or graph outputs, without the tracking pipeline.

use std::ffi::{CString, c_char};

use super::args::{arg, array, null, put, str_arg};
use super::config::gnntrack_config;
use super::status::{Failure, gnntrack_status};
use super::{free_handle, guard};
use crate::error::ErrorKind;
use crate::inference::{
    EdgeIndex, GraphInput, GraphModel, GraphOutputKind, InferenceConfig, OutputLevel,
};

/// What the rows of a graph model's output belong to.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum gnntrack_output_level {
    /// One row per node (`n_nodes` rows).
    Node = 0,
    /// One row per edge (`n_edges` rows).
    Edge = 1,
    /// One row per graph (`n_graphs` rows).
    Graph = 2,
}

/// How a graph model's output values are read.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum gnntrack_output_kind {
    /// The model gives logits; the library returns their sigmoid, probabilities in [0, 1].
    Logits = 0,
    /// The model gives probabilities (checked to lie in [0, 1]).
    Probabilities = 1,
    /// Any finite values (embeddings, regressions), returned as they are.
    Values = 2,
}

/// A generic graph model (opaque): an ONNX graph network checked against the generic contract
/// (models/README.md, "Generic graph models"). Created by `gnntrack_graph_model_load`, freed by
/// `gnntrack_graph_model_free`. Many threads may call `gnntrack_graph_model_run` on one model at
/// once.
pub struct gnntrack_graph_model {
    inner: GraphModel,
    name: CString,
    version: CString,
    provider: CString,
}

/// What a graph model declares, filled by `gnntrack_graph_model_info`. The strings belong to
/// the model and stay valid until it is freed.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct gnntrack_graph_info {
    /// What the output rows belong to.
    pub level: gnntrack_output_level,
    /// How the output values are read.
    pub output_kind: gnntrack_output_kind,
    /// Node features per node (`gnntrack.node_width`, at least 1).
    pub node_width: usize,
    /// Edge features per edge (`gnntrack.edge_width`); 0 when the model takes none.
    pub edge_width: usize,
    /// Output values per row (`gnntrack.output_width`, at least 1).
    pub output_width: usize,
    /// Whether the model takes an edge index (always for edge-level models).
    pub takes_edges: bool,
    /// `gnntrack.model_name`.
    pub name: *const c_char,
    /// `gnntrack.model_version`.
    pub version: *const c_char,
}

/// The graphs of one `gnntrack_graph_model_run` call: several small graphs at once, as arrays
/// owned by the caller and only read during the call. Zero-initialise it and fill what the
/// model takes. An array may be NULL only when it holds no values.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct gnntrack_graph_input {
    /// `n_nodes x node_width` finite floats, row-major (node after node).
    pub node_features: *const f32,
    /// Number of nodes. 0 gives an empty output without running the model.
    pub n_nodes: usize,
    /// Node features per node; must equal the model's `node_width`.
    pub node_width: usize,
    /// `2 x n_edges` node indices: the `n_edges` sources, then the `n_edges` targets (the
    /// `[2, E]` layout of the model), each in `[0, n_nodes)`. Required (non-NULL when
    /// `n_edges` > 0) when the model takes edges; must be NULL with `n_edges` = 0 when not.
    pub edge_index: *const i64,
    /// Number of edges.
    pub n_edges: usize,
    /// `n_edges x edge_width` finite floats, row-major; read only when the model's
    /// `edge_width` is above 0.
    pub edge_features: *const f32,
    /// Edge features per edge; must equal the model's `edge_width` (0 when it takes none).
    pub edge_width: usize,
    /// Graph-level models: the graph of each node (`n_nodes` values in `[0, n_graphs)`; every
    /// graph needs at least one node). Must be NULL for node- and edge-level models.
    pub graph_index: *const u32,
    /// Number of graphs (graph-level models; ignored for the others).
    pub n_graphs: usize,
}

/// Loads a generic graph model from an ONNX file and checks its contract. `config` may be NULL
/// (defaults: the CPU provider); of a configuration only the `inference.*` keys are used
/// (`provider`, `device_id`, `intra_threads`, `pool_size`, `library.path`, ...): onnxruntime is
/// found and shared as for a tracker. Stores the model in `*out`; free it with
/// `gnntrack_graph_model_free`.
///
/// Errors: `GNNTRACK_STATUS_NULL_ARGUMENT` (path or out), `_MODEL_UNREADABLE`,
/// `_MODEL_INVALID`, `_MODEL_CONTRACT` (the message names the metadata key or input; an edge
/// classifier is refused here with a message saying so), `_ONNXRUNTIME`, `_PROVIDER`.
///
/// # Safety
/// `path` is NULL or NUL-terminated; `config` is NULL or a live configuration; `out` is NULL or
/// valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_graph_model_load(
    path: *const c_char,
    config: *const gnntrack_config,
    out: *mut *mut gnntrack_graph_model,
) -> gnntrack_status {
    // SAFETY: per the function's contract.
    unsafe { put(out, std::ptr::null_mut()) };
    guard(|| {
        // SAFETY: per the function's contract.
        let path = unsafe { str_arg(path, "path")? };
        if out.is_null() {
            return Err(null("out"));
        }
        crate::pipeline::check_cpu()?;
        // SAFETY: per the function's contract.
        let inference = match unsafe { config.as_ref() } {
            Some(c) => c.inner.inference.clone(),
            None => InferenceConfig::default(),
        };
        let model = GraphModel::load(path, &inference)?;
        let text = |s: &str| CString::new(s.replace('\0', "")).unwrap_or_default();
        let handle = Box::new(gnntrack_graph_model {
            name: text(&model.info().name),
            version: text(&model.info().version),
            provider: text(&model.provider().to_string()),
            inner: model,
        });
        // SAFETY: checked non-NULL above.
        unsafe { out.write(Box::into_raw(handle)) };
        Ok(())
    })
}

/// Frees a graph model; NULL is ignored. No `gnntrack_graph_model_run` call on it may still be
/// running. Freeing twice is undefined behaviour.
///
/// # Safety
/// `model` is NULL or a live graph model, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_graph_model_free(model: *mut gnntrack_graph_model) {
    free_handle(model);
}

/// Fills `*info` with what the model declares: output level and kind, node, edge and output
/// widths, whether it takes edges, name and version.
///
/// # Safety
/// `model` is NULL or a live graph model; `info` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_graph_model_info(
    model: *const gnntrack_graph_model,
    info: *mut gnntrack_graph_info,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let model = unsafe { arg(model, "model")? };
        if info.is_null() {
            return Err(null("info"));
        }
        let i = model.inner.info();
        let value = gnntrack_graph_info {
            level: match i.level {
                OutputLevel::Node => gnntrack_output_level::Node,
                OutputLevel::Edge => gnntrack_output_level::Edge,
                OutputLevel::Graph => gnntrack_output_level::Graph,
            },
            output_kind: match i.output_kind {
                GraphOutputKind::Logits => gnntrack_output_kind::Logits,
                GraphOutputKind::Probabilities => gnntrack_output_kind::Probabilities,
                GraphOutputKind::Values => gnntrack_output_kind::Values,
            },
            node_width: i.node_width,
            edge_width: i.edge_width,
            output_width: i.output_width,
            takes_edges: i.takes_edges,
            name: model.name.as_ptr(),
            version: model.version.as_ptr(),
        };
        // SAFETY: checked non-NULL above.
        unsafe { info.write(value) };
        Ok(())
    })
}

/// The execution provider in use, for example `"CPU"` or `"CUDA device 0"`, stored in
/// `*provider`; the string belongs to the model.
///
/// # Safety
/// `model` is NULL or a live graph model; `provider` is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_graph_model_provider(
    model: *const gnntrack_graph_model,
    provider: *mut *const c_char,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let model = unsafe { arg(model, "model")? };
        if provider.is_null() {
            return Err(null("provider"));
        }
        // SAFETY: checked non-NULL above.
        unsafe { provider.write(model.provider.as_ptr()) };
        Ok(())
    })
}

/// The number of output values a run on `*input` gives: rows x the model's `output_width`, the
/// rows being `n_nodes`, `n_edges` or `n_graphs` by the model's level. Stored in `*n_values`;
/// nothing else of the input is checked or read.
///
/// # Safety
/// `model` is NULL or a live graph model; `input` is NULL or points to a
/// `gnntrack_graph_input`; `n_values` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_graph_model_output_size(
    model: *const gnntrack_graph_model,
    input: *const gnntrack_graph_input,
    n_values: *mut usize,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let (model, input) = unsafe { (arg(model, "model")?, arg(input, "input")?) };
        if n_values.is_null() {
            return Err(null("n_values"));
        }
        let (_, size) = output_size(&model.inner, input)?;
        // SAFETY: checked non-NULL above.
        unsafe { n_values.write(size) };
        Ok(())
    })
}

/// Runs the model on the graphs of `*input` and writes its output, row after row (`rows x
/// output_width` floats, rows in input order), into `output`, which has room for `capacity`
/// floats (`gnntrack_graph_model_output_size` tells how many are needed); the number of rows
/// goes to `*n_rows` (when not NULL). Logit models give probabilities (the sigmoid). No nodes,
/// or an edge-level model without edges, give 0 rows without running the model (`output` may
/// then be NULL with `capacity` 0). Nothing is written to `output` when the call fails. Many
/// threads may call this at once on one model.
///
/// Errors: `GNNTRACK_STATUS_NULL_ARGUMENT` (model, input, output with `capacity` > 0, or an
/// input array that is NULL but should hold values), `_INVALID_ARGUMENT` (the message names
/// the item and value: a width that differs from the model's, `output` too small, an edge
/// index out of range or negative, edges given to a model without edges or missing for one
/// with edges, a graph index given to a model that is not graph-level or missing, a node in a
/// graph >= `n_graphs`, a graph without nodes, a NaN or infinite feature, a misaligned array),
/// `_INFERENCE` (onnxruntime failed, or the output is unusable: wrong shape, non-finite, a
/// probability outside [0, 1]).
///
/// # Safety
/// `model` is NULL or a live graph model; `input` is NULL or points to a
/// `gnntrack_graph_input` whose non-NULL arrays hold the values its counts say; `output` is
/// NULL or valid for writing `capacity` floats; `n_rows` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gnntrack_graph_model_run(
    model: *const gnntrack_graph_model,
    input: *const gnntrack_graph_input,
    output: *mut f32,
    capacity: usize,
    n_rows: *mut usize,
) -> gnntrack_status {
    guard(|| {
        // SAFETY: per the function's contract.
        let (model, input) = unsafe { (arg(model, "model")?, arg(input, "input")?) };
        let model = &model.inner;
        let info = model.info();
        let invalid = |message: String| Failure::new(ErrorKind::InvalidArgument, message);
        if input.node_width != info.node_width {
            return Err(invalid(format!(
                "input->node_width = {}, but the model takes {} node features per node (gnntrack.node_width)",
                input.node_width, info.node_width
            )));
        }
        if input.edge_width != info.edge_width {
            return Err(invalid(format!(
                "input->edge_width = {}, but the model takes {} edge features per edge (gnntrack.edge_width)",
                input.edge_width, info.edge_width
            )));
        }
        let (rows, needed) = output_size(model, input)?;
        if output.is_null() && capacity > 0 {
            return Err(null("output"));
        }
        if capacity < needed {
            return Err(invalid(format!(
                "output has room for {capacity} values, but the model gives {rows} rows x {} = {needed}",
                info.output_width
            )));
        }
        // SAFETY (all arrays): each holds the values its counts say, per the contract.
        let node_features = unsafe {
            array(
                input.node_features,
                product(
                    input.n_nodes,
                    input.node_width,
                    "input->n_nodes x node_width",
                )?,
                "input->node_features",
            )?
        };
        let edge_values = product(2, input.n_edges, "2 x input->n_edges")?;
        let edges = if input.edge_index.is_null() && input.n_edges == 0 && !info.takes_edges {
            None
        } else {
            let index = unsafe { array(input.edge_index, edge_values, "input->edge_index")? };
            Some(EdgeIndex::Packed(index))
        };
        let edge_features = if info.edge_width > 0 {
            let n = product(
                input.n_edges,
                input.edge_width,
                "input->n_edges x edge_width",
            )?;
            Some(unsafe { array(input.edge_features, n, "input->edge_features")? })
        } else {
            None
        };
        let graph_index = if info.level == OutputLevel::Graph || !input.graph_index.is_null() {
            Some(unsafe { array(input.graph_index, input.n_nodes, "input->graph_index")? })
        } else {
            None
        };
        let out = model
            .run(&GraphInput {
                node_features,
                n_nodes: input.n_nodes,
                edges,
                edge_features,
                graph_index,
                n_graphs: input.n_graphs,
            })
            .map_err(Failure::from)?;
        if !out.values.is_empty() {
            // SAFETY: `output` holds `capacity` >= needed = out.values.len() floats (the run
            // checked the output's shape against the same rows and width).
            unsafe {
                std::ptr::copy_nonoverlapping(out.values.as_ptr(), output, out.values.len());
            }
        }
        // SAFETY: per the function's contract.
        unsafe { put(n_rows, out.rows) };
        Ok(())
    })
}

/// The rows of the output for this input and the number of values (rows x output width).
fn output_size(
    model: &GraphModel,
    input: &gnntrack_graph_input,
) -> Result<(usize, usize), Failure> {
    let info = model.info();
    let rows = match info.level {
        OutputLevel::Node => input.n_nodes,
        OutputLevel::Edge => input.n_edges,
        OutputLevel::Graph => input.n_graphs,
    };
    Ok((
        rows,
        product(rows, info.output_width, "rows x output_width")?,
    ))
}

/// `a x b`, or an error naming the product when it overflows.
fn product(a: usize, b: usize, what: &str) -> Result<usize, Failure> {
    a.checked_mul(b).ok_or_else(|| {
        Failure::new(
            ErrorKind::InvalidArgument,
            format!("{what} = {a} x {b} overflows"),
        )
    })
}
