//! The model contract: what an edge-classifier ONNX model must look like, checked at load time.
//!
//! `models/README.md` is the reference for model authors; this module implements it.
//!
//! Interface (names are read from the model, roles from type and rank):
//!
//! | role | dtype | shape |
//! |---|---|---|
//! | node features | float32 | `[N, Fn]` |
//! | edge index | int64 | `[2, E]`: row 0 source (inner) node, row 1 target (outer) node |
//! | edge features (optional) | float32 | `[E, Fe]` |
//! | output: one edge score | float32 | `[E]` or `[E, 1]` |
//!
//! The int64 input is the edge index. With two float32 inputs, the metadata key
//! `gnntrack.node_input` or `gnntrack.edge_input` names one of them; without it the first float32
//! input in the model's input order holds the node features.
//!
//! Metadata (`metadata_props`), all values text:
//!
//! | key | required | value |
//! |---|---|---|
//! | `gnntrack.contract` | yes | `1`, this contract's version |
//! | `gnntrack.model_name` | yes | free text |
//! | `gnntrack.model_version` | yes | free text |
//! | `gnntrack.node_features` | yes | comma-separated feature names, in column order |
//! | `gnntrack.node_scales` | yes | comma-separated positive numbers, one per node feature |
//! | `gnntrack.node_offsets` | no | comma-separated finite numbers, one per node feature |
//! | `gnntrack.edge_features` | with an edge-feature input | as for nodes |
//! | `gnntrack.edge_scales` | with an edge-feature input | as for nodes |
//! | `gnntrack.edge_offsets` | no | as for nodes |
//! | `gnntrack.output` | yes | `logits` or `probabilities` |
//! | `gnntrack.edge_cut` | yes | recommended cut on the probability, in [0, 1] |
//! | `gnntrack.graph` | yes | TOML text: the graph parameters used in training |
//! | `gnntrack.node_input` | no | name of the node-feature input |
//! | `gnntrack.edge_input` | no | name of the edge-feature input |
//! | `gnntrack.receptive_hops` | no | integer k: an edge's score depends only on the hits within k edges of its hits |
//! | `gnntrack.max_intra_threads` | no | integer from 1: the most intra-op threads the model gives right results on (both contracts) |
//!
//! Every declared feature must be one the tracker computes ([`FeatureTable`]), with the
//! tracker's scale and, when the model declares offsets, the tracker's offset. A model without
//! `gnntrack.*_offsets` (written before offsets were recorded) is taken to use the tracker's
//! offsets; [`ModelInfo::offsets_declared`] says which.

use std::collections::HashSet;

use ort::session::Session;
use ort::value::{TensorElementType, ValueType};
use thiserror::Error;

use super::GraphMismatch;
use crate::features::{FeatureKind, FeatureSpec, FeatureTable};

mod graph;
mod metadata;
mod ports;

pub(crate) use graph::check_graph;
pub use graph::{GRAPH_MODEL_KEYS, GraphInputNames, GraphModelInfo, GraphOutputKind, OutputLevel};
pub(crate) use metadata::agree;
use metadata::*;
pub use metadata::{check_features, compare_tables};
pub(crate) use ports::Port;
use ports::*;

/// Version of the contract this library reads (`gnntrack.contract`).
pub const CONTRACT_VERSION: &str = "1";

/// Every metadata key of the contract.
pub const METADATA_KEYS: [&str; 16] = [
    KEY_CONTRACT,
    KEY_NAME,
    KEY_VERSION,
    KEY_NODE_FEATURES,
    KEY_NODE_SCALES,
    KEY_NODE_OFFSETS,
    KEY_EDGE_FEATURES,
    KEY_EDGE_SCALES,
    KEY_EDGE_OFFSETS,
    KEY_OUTPUT,
    KEY_EDGE_CUT,
    KEY_GRAPH,
    KEY_NODE_INPUT,
    KEY_EDGE_INPUT,
    KEY_RECEPTIVE_HOPS,
    KEY_MAX_INTRA_THREADS,
];

const KEY_CONTRACT: &str = "gnntrack.contract";
const KEY_NAME: &str = "gnntrack.model_name";
const KEY_VERSION: &str = "gnntrack.model_version";
const KEY_NODE_FEATURES: &str = "gnntrack.node_features";
const KEY_NODE_SCALES: &str = "gnntrack.node_scales";
const KEY_EDGE_FEATURES: &str = "gnntrack.edge_features";
const KEY_EDGE_SCALES: &str = "gnntrack.edge_scales";
const KEY_NODE_OFFSETS: &str = "gnntrack.node_offsets";
const KEY_EDGE_OFFSETS: &str = "gnntrack.edge_offsets";
const KEY_OUTPUT: &str = "gnntrack.output";
const KEY_EDGE_CUT: &str = "gnntrack.edge_cut";
const KEY_GRAPH: &str = "gnntrack.graph";

/// Graph settings left out of the comparison with a model's `gnntrack.graph`: the edge filter
/// drops edges of the graph the windows define, and an edge classifier is measured with and
/// without it whatever graphs it was trained on (docs/graph.md, section "Edge filter").
pub const UNCOMPARED_GRAPH_KEYS: [&str; 4] = [
    "edge_filter",
    "filter_min_edges_per_hit",
    "filter_model",
    "filter_cut",
];
const KEY_NODE_INPUT: &str = "gnntrack.node_input";
const KEY_EDGE_INPUT: &str = "gnntrack.edge_input";
const KEY_RECEPTIVE_HOPS: &str = "gnntrack.receptive_hops";
const KEY_OUTPUT_LEVEL: &str = "gnntrack.output_level";
const KEY_MAX_INTRA_THREADS: &str = "gnntrack.max_intra_threads";

/// The largest receptive field a model may declare: beyond it a part's halo is most of the
/// graph, and the declaration is more likely a mistake.
const MAX_RECEPTIVE_HOPS: u32 = 64;

/// What the model's output means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// Unbounded scores; the sigmoid gives probabilities.
    Logits,
    /// Probabilities in [0, 1].
    Probabilities,
}

/// The names of the model's inputs by role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputNames {
    /// Node-feature input.
    pub node_features: String,
    /// Edge-index input.
    pub edge_index: String,
    /// Edge-feature input, if the model has one.
    pub edge_features: Option<String>,
}

/// What a model declares about itself, read and checked at load time.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// `gnntrack.model_name`.
    pub name: String,
    /// `gnntrack.model_version`.
    pub version: String,
    /// Node features in column order, with the model's scales and offsets (the tracker's unit
    /// and description).
    pub node_features: Vec<FeatureSpec>,
    /// Edge features in column order (empty without an edge-feature input).
    pub edge_features: Vec<FeatureSpec>,
    /// Whether the model declares its offsets (`gnntrack.node_offsets`, and
    /// `gnntrack.edge_offsets` with edge features); without them the tracker's are assumed.
    pub offsets_declared: bool,
    /// Logits or probabilities.
    pub output_kind: OutputKind,
    /// Recommended cut on the edge probability.
    pub edge_cut: f32,
    /// Graph parameters of training (`gnntrack.graph`).
    pub graph: toml::Table,
    /// Input names by role.
    pub inputs: InputNames,
    /// Output name.
    pub output: String,
    /// `gnntrack.receptive_hops`: the score of an edge depends only on the hits within this many
    /// edges of its two hits and on the edges among them (`k` rounds of message passing). When
    /// declared, large graphs can be scored in parts with the same result.
    pub receptive_hops: Option<u32>,
}

/// A way in which a model breaks the contract.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ContractError {
    /// A required metadata key is absent.
    #[error("metadata key `{key}` is missing (see models/README.md)")]
    MissingMetadata {
        /// The key.
        key: &'static str,
    },
    /// A metadata value cannot be used.
    #[error("metadata `{key}` = `{value}`: {reason}")]
    BadMetadata {
        /// The key.
        key: &'static str,
        /// The value found.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A feature the tracker does not compute.
    #[error("unknown {kind} feature `{name}` in `gnntrack.{kind}_features`; the tracker knows: {}", known.join(", "))]
    UnknownFeature {
        /// Node or edge.
        kind: FeatureKind,
        /// The feature name.
        name: String,
        /// The names the tracker knows.
        known: Vec<String>,
    },
    /// A feature whose scale differs from the tracker's.
    #[error("{kind} feature `{name}` has scale {model} in the model but {tracker} in the tracker")]
    ScaleMismatch {
        /// Node or edge.
        kind: FeatureKind,
        /// The feature name.
        name: String,
        /// The model's scale.
        model: f64,
        /// The tracker's scale.
        tracker: f64,
    },
    /// A feature whose offset differs from the tracker's.
    #[error("{kind} feature `{name}` has offset {model} in the model but {tracker} in the tracker")]
    OffsetMismatch {
        /// Node or edge.
        kind: FeatureKind,
        /// The feature name.
        name: String,
        /// The model's offset.
        model: f64,
        /// The tracker's offset.
        tracker: f64,
    },
    /// Not 2 or 3 inputs.
    #[error("the model has {} inputs ({}); the contract takes 2 (node features, edge_index) or 3 (plus edge features)", names.len(), names.join(", "))]
    InputCount {
        /// The input names.
        names: Vec<String>,
    },
    /// An input of a type the contract does not allow.
    #[error(
        "input `{input}` has type {found}; inputs are float32 (features) or int64 (edge_index) tensors"
    )]
    InputType {
        /// The input name.
        input: String,
        /// Its type.
        found: String,
    },
    /// The inputs do not split into the contract's roles.
    #[error("inputs {}: {reason}", inputs.join(", "))]
    InputRoles {
        /// The inputs involved, with their types.
        inputs: Vec<String>,
        /// What is wrong.
        reason: String,
    },
    /// An input with the wrong rank or a wrong fixed dimension.
    #[error("{role} input `{input}` has shape {shape}; expected {expected}")]
    InputShape {
        /// Its role.
        role: &'static str,
        /// The input name.
        input: String,
        /// Its declared shape.
        shape: String,
        /// The expected shape.
        expected: &'static str,
    },
    /// A feature input whose fixed column count differs from the metadata's feature list.
    #[error(
        "{kind} feature input `{input}` has {columns} columns but `gnntrack.{kind}_features` lists {listed}"
    )]
    FeatureCount {
        /// Node or edge.
        kind: FeatureKind,
        /// The input name.
        input: String,
        /// Its declared column count.
        columns: i64,
        /// The number of features in the metadata.
        listed: usize,
    },
    /// Not exactly one output.
    #[error("the model has {} outputs ({}); the contract has one (the edge score)", names.len(), names.join(", "))]
    OutputCount {
        /// The output names.
        names: Vec<String>,
    },
    /// An output of the wrong type or shape.
    #[error("output `{output}` has type {found}; expected float32 tensor [E] or [E, 1]")]
    Output {
        /// The output name.
        output: String,
        /// Its declared type and shape.
        found: String,
    },
    /// A model of the other kind: a generic graph model where an edge classifier is expected, or
    /// the reverse.
    #[error("{found}, not {expected}; {hint}")]
    WrongKind {
        /// The kind expected.
        expected: &'static str,
        /// What the model is, with the metadata that says so.
        found: String,
        /// How to load it instead.
        hint: &'static str,
    },
    /// A feature input whose fixed column count differs from the declared width.
    #[error("input `{input}` has {columns} columns but `{key}` = {width}")]
    Width {
        /// The input name.
        input: String,
        /// Its declared column count.
        columns: i64,
        /// The width key (`gnntrack.node_width` or `gnntrack.edge_width`).
        key: &'static str,
        /// The declared width.
        width: usize,
    },
    /// A generic graph model without exactly one output.
    #[error("the model has {} outputs ({}); a graph model has exactly one", names.len(), names.join(", "))]
    GraphOutputCount {
        /// The output names.
        names: Vec<String>,
    },
    /// A generic graph model's output of the wrong type or shape.
    #[error("output `{output}` has type {found}; expected {expected}")]
    GraphOutput {
        /// The output name.
        output: String,
        /// Its declared type and shape.
        found: String,
        /// The expected type and shape.
        expected: String,
    },
    /// Graph parameters differ from the tracker's (only with [`GraphMismatch::Error`]).
    #[error("trained with other graph parameters than the tracker's: {}", differences.join("; "))]
    GraphMismatch {
        /// One line per differing parameter.
        differences: Vec<String>,
    },
}

/// Reads the metadata and interface of a loaded session and checks them against the contract,
/// the tracker's features and (when given) its graph parameters. Differences in graph parameters
/// are returned (for a warning) unless `policy` makes them an error.
pub(crate) fn check(
    session: &Session,
    features: &FeatureTable,
    graph: Option<&toml::Table>,
    policy: GraphMismatch,
) -> Result<(ModelInfo, Vec<String>), ContractError> {
    let metadata = session.metadata().map_err(|e| ContractError::BadMetadata {
        key: KEY_CONTRACT,
        value: String::new(),
        reason: e.to_string(),
    })?;
    let get = |key: &'static str| metadata.custom(key);
    let keys = metadata.custom_keys().unwrap_or_default();
    let (inputs, outputs) = session_ports(session);
    check_ports(&get, &keys, &inputs, &outputs, features, graph, policy)
}

/// `gnntrack.max_intra_threads`, a key of both contracts: the most onnxruntime intra-op threads
/// the model gives right results on (a `ScatterND` sum loses updates on more, onnxruntime issue
/// 18048), a whole number from 1; None when not declared.
pub(crate) fn max_intra_threads(session: &Session) -> Result<Option<usize>, ContractError> {
    let metadata = session.metadata().map_err(|e| ContractError::BadMetadata {
        key: KEY_MAX_INTRA_THREADS,
        value: String::new(),
        reason: e.to_string(),
    })?;
    parse_max_intra_threads(metadata.custom(KEY_MAX_INTRA_THREADS))
}

fn parse_max_intra_threads(text: Option<String>) -> Result<Option<usize>, ContractError> {
    match text {
        None => Ok(None),
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(ContractError::BadMetadata {
                key: KEY_MAX_INTRA_THREADS,
                value: text,
                reason: "expected a whole number of threads from 1".into(),
            }),
        },
    }
}

/// `gnntrack.contract` must be present and name the version this library reads.
fn check_version(get: &dyn Fn(&'static str) -> Option<String>) -> Result<(), ContractError> {
    let contract = get(KEY_CONTRACT).ok_or(ContractError::MissingMetadata { key: KEY_CONTRACT })?;
    if contract.trim() != CONTRACT_VERSION {
        return Err(ContractError::BadMetadata {
            key: KEY_CONTRACT,
            value: contract,
            reason: format!("this library reads contract version {CONTRACT_VERSION}"),
        });
    }
    Ok(())
}

/// The inputs and outputs of a loaded session.
fn session_ports(session: &Session) -> (Vec<Port>, Vec<Port>) {
    let ports = |outlets: &[ort::value::Outlet]| -> Vec<Port> {
        outlets
            .iter()
            .map(|o| Port::from_outlet(o.name(), o.dtype()))
            .collect()
    };
    (ports(session.inputs()), ports(session.outputs()))
}

/// The contract check on plain descriptions of the ports (testable without onnxruntime).
pub(crate) fn check_ports(
    get: &dyn Fn(&'static str) -> Option<String>,
    keys: &[String],
    inputs: &[Port],
    outputs: &[Port],
    features: &FeatureTable,
    graph: Option<&toml::Table>,
    policy: GraphMismatch,
) -> Result<(ModelInfo, Vec<String>), ContractError> {
    let required = |key: &'static str| get(key).ok_or(ContractError::MissingMetadata { key });

    check_version(get)?;
    if let Some(level) = get(KEY_OUTPUT_LEVEL) {
        return Err(ContractError::WrongKind {
            expected: "an edge classifier",
            found: format!("a generic graph model (`{KEY_OUTPUT_LEVEL}` = `{level}`)"),
            hint: "load it as a generic graph model (GraphModel, gnntrack_graph_model_load)",
        });
    }
    for key in keys {
        if key.starts_with("gnntrack.") && !METADATA_KEYS.contains(&key.as_str()) {
            log::warn!("model metadata key `{key}` is not part of the contract; ignored");
        }
    }

    // Interface first: it decides whether edge-feature metadata is required.
    let roles = assign_roles(get, inputs)?;
    let output = check_output(outputs)?;

    let name = required(KEY_NAME)?;
    let version = required(KEY_VERSION)?;
    let (node_features, node_offsets) = read_features(get, FeatureKind::Node, features)?;
    let (edge_features, edge_offsets) = match &roles.edge {
        Some(_) => read_features(get, FeatureKind::Edge, features)?,
        None => {
            for key in [KEY_EDGE_FEATURES, KEY_EDGE_OFFSETS] {
                if let Some(v) = get(key).filter(|v| !v.trim().is_empty()) {
                    return Err(ContractError::BadMetadata {
                        key,
                        value: v,
                        reason: "the model has no edge-feature input".into(),
                    });
                }
            }
            (Vec::new(), node_offsets)
        }
    };
    if node_offsets != edge_offsets {
        let (key, other) = if node_offsets {
            (KEY_NODE_OFFSETS, KEY_EDGE_OFFSETS)
        } else {
            (KEY_EDGE_OFFSETS, KEY_NODE_OFFSETS)
        };
        return Err(ContractError::BadMetadata {
            key,
            value: get(key).unwrap_or_default(),
            reason: format!("declared without `{other}`: declare the offsets of both or neither"),
        });
    }
    if !node_offsets {
        log::info!(
            "the model declares no feature offsets (`{KEY_NODE_OFFSETS}`): the tracker's are assumed"
        );
    }
    check_columns(FeatureKind::Node, roles.node, node_features.len())?;
    if let Some(edge) = roles.edge {
        check_columns(FeatureKind::Edge, edge, edge_features.len())?;
    }

    let output_text = required(KEY_OUTPUT)?;
    let output_kind = match output_text.trim() {
        "logits" => OutputKind::Logits,
        "probabilities" => OutputKind::Probabilities,
        _ => {
            return Err(ContractError::BadMetadata {
                key: KEY_OUTPUT,
                value: output_text,
                reason: "expected `logits` or `probabilities`".into(),
            });
        }
    };
    let cut_text = required(KEY_EDGE_CUT)?;
    let edge_cut = match cut_text.trim().parse::<f32>() {
        Ok(c) if (0.0..=1.0).contains(&c) => c,
        Ok(_) => {
            return Err(ContractError::BadMetadata {
                key: KEY_EDGE_CUT,
                value: cut_text,
                reason: "a probability cut must lie in [0, 1]".into(),
            });
        }
        Err(_) => {
            return Err(ContractError::BadMetadata {
                key: KEY_EDGE_CUT,
                value: cut_text,
                reason: "not a number".into(),
            });
        }
    };
    let graph_text = required(KEY_GRAPH)?;
    let mut model_graph: toml::Table =
        graph_text
            .parse()
            .map_err(|e: toml::de::Error| ContractError::BadMetadata {
                key: KEY_GRAPH,
                value: graph_text.clone(),
                reason: format!("not a TOML table: {}", e.message()),
            })?;
    let differences = match graph {
        Some(tracker) => {
            let mut tracker = tracker.clone();
            for key in UNCOMPARED_GRAPH_KEYS {
                model_graph.remove(key);
                tracker.remove(key);
            }
            compare_tables(&model_graph, &tracker)
        }
        None => Vec::new(),
    };
    if !differences.is_empty() && policy == GraphMismatch::Error {
        return Err(ContractError::GraphMismatch { differences });
    }

    let receptive_hops = match get(KEY_RECEPTIVE_HOPS) {
        None => None,
        Some(text) => match text.trim().parse::<u32>() {
            Ok(k) if k <= MAX_RECEPTIVE_HOPS => Some(k),
            _ => {
                return Err(ContractError::BadMetadata {
                    key: KEY_RECEPTIVE_HOPS,
                    value: text,
                    reason: format!(
                        "expected a whole number of edges from 0 to {MAX_RECEPTIVE_HOPS}"
                    ),
                });
            }
        },
    };

    let info = ModelInfo {
        name,
        version,
        node_features,
        edge_features,
        offsets_declared: node_offsets,
        output_kind,
        edge_cut,
        graph: model_graph,
        inputs: InputNames {
            node_features: roles.node.name.clone(),
            edge_index: roles.edge_index.name.clone(),
            edge_features: roles.edge.map(|p| p.name.clone()),
        },
        output: output.name.clone(),
        receptive_hops,
    };
    Ok((info, differences))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    #[test]
    fn graph_tables_compare_by_value_with_paths() {
        let a = table("z = 2054\nw = [0.01, 0.02]\n[pairs]\ncut = 1.5\n");
        let same = table("z = 2054.0\nw = [0.01, 0.02]\n[pairs]\ncut = 1.5\n");
        assert!(compare_tables(&a, &same).is_empty());
        let other = table("z = 2054.0\nw = [0.01, 0.03]\nextra = true\n[pairs]\ncut = 2.5\n");
        let d = compare_tables(&a, &other);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(
            d.iter()
                .any(|l| l.starts_with("`pairs.cut`: model 1.5, tracker 2.5")),
            "{d:?}"
        );
        assert!(d.iter().any(|l| l.starts_with("`w`")), "{d:?}");
        assert!(
            d.iter()
                .any(|l| l.contains("`extra`: not set in the model")),
            "{d:?}"
        );
    }

    #[test]
    fn max_intra_threads_is_a_whole_number_from_one() {
        assert_eq!(parse_max_intra_threads(None), Ok(None));
        assert_eq!(parse_max_intra_threads(Some(" 2 ".into())), Ok(Some(2)));
        for bad in ["0", "-1", "1.5", "one", ""] {
            match parse_max_intra_threads(Some(bad.into())) {
                Err(ContractError::BadMetadata { key, value, .. }) => {
                    assert_eq!((key, value.as_str()), (KEY_MAX_INTRA_THREADS, bad));
                }
                other => panic!("`{bad}`: {other:?}"),
            }
        }
    }

    #[test]
    fn feature_table_lookup() {
        let t = FeatureTable::new(&[("x", 1000.0)], &[("dx", 10.0)]);
        assert_eq!(t.get(FeatureKind::Node, "x").map(|f| f.scale), Some(1000.0));
        assert_eq!(t.get(FeatureKind::Edge, "x"), None);
        assert_eq!(t.names(FeatureKind::Edge), ["dx"]);
    }
}
