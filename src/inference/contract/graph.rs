//! The contract of a generic graph model: any graph network from node features (and an edge
//! index, edge features, a graph index) to one output row per node, edge or graph. Checked at load
//! time beside the edge-classifier contract; `models/README.md` ("Generic graph models") is the
//! reference for model authors.
//!
//! Inputs, told apart by type and rank (names are read from the model):
//!
//! | role | dtype | shape | when |
//! |---|---|---|---|
//! | node features | float32 | `[N, node_width]` | always |
//! | edge index | int64 | `[2, E]` | edge-level models; optional for node and graph level |
//! | edge features | float32 | `[E, edge_width]` | when `edge_width` > 0 (needs the edge index) |
//! | graph index | int64 | `[N]` | graph-level models only |
//!
//! With two float32 inputs, `gnntrack.node_input` or `gnntrack.edge_input` may name one; else the
//! first holds the node features. Exactly one float32 output `[rows]` (with `output_width` 1) or
//! `[rows, output_width]`, rows = N, E or G.

use std::collections::BTreeMap;
use std::fmt;

use super::*;

const KEY_NODE_WIDTH: &str = "gnntrack.node_width";
const KEY_EDGE_WIDTH: &str = "gnntrack.edge_width";
const KEY_OUTPUT_WIDTH: &str = "gnntrack.output_width";

/// Every metadata key of the generic graph-model contract; other `gnntrack.*` keys are kept in
/// [`GraphModelInfo::extra`].
pub const GRAPH_MODEL_KEYS: [&str; 17] = [
    KEY_CONTRACT,
    KEY_NAME,
    KEY_VERSION,
    KEY_OUTPUT_LEVEL,
    KEY_NODE_WIDTH,
    KEY_EDGE_WIDTH,
    KEY_OUTPUT_WIDTH,
    KEY_OUTPUT,
    KEY_NODE_FEATURES,
    KEY_NODE_SCALES,
    KEY_NODE_OFFSETS,
    KEY_EDGE_FEATURES,
    KEY_EDGE_SCALES,
    KEY_EDGE_OFFSETS,
    KEY_NODE_INPUT,
    KEY_EDGE_INPUT,
    KEY_MAX_INTRA_THREADS,
];

/// What a model's output rows belong to (`gnntrack.output_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputLevel {
    /// One row per node.
    Node,
    /// One row per edge.
    Edge,
    /// One row per graph.
    Graph,
}

impl OutputLevel {
    /// `node`, `edge` or `graph`.
    pub fn name(self) -> &'static str {
        match self {
            OutputLevel::Node => "node",
            OutputLevel::Edge => "edge",
            OutputLevel::Graph => "graph",
        }
    }
}

impl fmt::Display for OutputLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the output values are read (`gnntrack.output`): `Logits` get the sigmoid (element-wise),
/// `Probabilities` are taken as they are (checked in [0, 1]), `Values` as they are (embeddings,
/// regressions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GraphOutputKind {
    /// Unbounded scores; the sigmoid gives probabilities.
    Logits,
    /// Probabilities in [0, 1].
    Probabilities,
    /// Any finite values.
    Values,
}

impl GraphOutputKind {
    /// `logits`, `probabilities` or `values`.
    pub fn name(self) -> &'static str {
        match self {
            GraphOutputKind::Logits => "logits",
            GraphOutputKind::Probabilities => "probabilities",
            GraphOutputKind::Values => "values",
        }
    }
}

/// The names of a generic graph model's inputs by role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphInputNames {
    /// Node-feature input.
    pub node_features: String,
    /// Edge-index input, if the model has one.
    pub edge_index: Option<String>,
    /// Edge-feature input, if the model has one.
    pub edge_features: Option<String>,
    /// Graph-index input (graph-level models).
    pub graph_index: Option<String>,
}

/// What a generic graph model declares about itself, read and checked at load time.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphModelInfo {
    /// `gnntrack.model_name`.
    pub name: String,
    /// `gnntrack.model_version`.
    pub version: String,
    /// What the output rows belong to.
    pub level: OutputLevel,
    /// Node features per node (> 0).
    pub node_width: usize,
    /// Edge features per edge; 0 when the model takes none.
    pub edge_width: usize,
    /// Output values per row (>= 1).
    pub output_width: usize,
    /// How the output values are read.
    pub output_kind: GraphOutputKind,
    /// Whether the model takes an edge index (always for edge-level models).
    pub takes_edges: bool,
    /// Node features with their scales and offsets, when the model names them (else empty).
    pub node_features: Vec<FeatureSpec>,
    /// Edge features likewise.
    pub edge_features: Vec<FeatureSpec>,
    /// The other `gnntrack.*` metadata, by full key, for the stage that uses the model.
    pub extra: BTreeMap<String, String>,
    /// Input names by role.
    pub inputs: GraphInputNames,
    /// Output name.
    pub output: String,
}

/// Reads the metadata and interface of a loaded session and checks them against the generic
/// graph-model contract.
pub(crate) fn check_graph(session: &Session) -> Result<GraphModelInfo, ContractError> {
    let bad = |e: ort::Error| ContractError::BadMetadata {
        key: KEY_CONTRACT,
        value: String::new(),
        reason: e.to_string(),
    };
    let metadata = session.metadata().map_err(bad)?;
    let mut map = BTreeMap::new();
    for key in metadata.custom_keys().map_err(bad)? {
        if let Some(value) = metadata.custom(&key) {
            map.insert(key, value);
        }
    }
    let (inputs, outputs) = session_ports(session);
    check_graph_ports(&map, &inputs, &outputs)
}

/// The generic check on plain descriptions of the metadata and ports.
pub(crate) fn check_graph_ports(
    metadata: &BTreeMap<String, String>,
    inputs: &[Port],
    outputs: &[Port],
) -> Result<GraphModelInfo, ContractError> {
    let get = |key: &'static str| metadata.get(key).cloned();
    let required = |key: &'static str| get(key).ok_or(ContractError::MissingMetadata { key });
    check_version(&get)?;
    let Some(level_text) = get(KEY_OUTPUT_LEVEL) else {
        if get(KEY_EDGE_CUT).is_some() {
            return Err(ContractError::WrongKind {
                expected: "a generic graph model",
                found: format!("an edge classifier (`{KEY_EDGE_CUT}` and no `{KEY_OUTPUT_LEVEL}`)"),
                hint: "load it as the tracker's edge classifier (`model` of the tracker configuration)",
            });
        }
        return Err(ContractError::MissingMetadata {
            key: KEY_OUTPUT_LEVEL,
        });
    };
    let level = match level_text.trim() {
        "node" => OutputLevel::Node,
        "edge" => OutputLevel::Edge,
        "graph" => OutputLevel::Graph,
        _ => {
            return Err(ContractError::BadMetadata {
                key: KEY_OUTPUT_LEVEL,
                value: level_text,
                reason: "expected `node`, `edge` or `graph`".into(),
            });
        }
    };
    let name = required(KEY_NAME)?;
    let version = required(KEY_VERSION)?;
    let node_width = read_width(get(KEY_NODE_WIDTH), KEY_NODE_WIDTH, None, 1)?;
    let edge_width = read_width(get(KEY_EDGE_WIDTH), KEY_EDGE_WIDTH, Some(0), 0)?;
    let output_width = read_width(get(KEY_OUTPUT_WIDTH), KEY_OUTPUT_WIDTH, Some(1), 1)?;
    let output_text = required(KEY_OUTPUT)?;
    let output_kind = match output_text.trim() {
        "logits" => GraphOutputKind::Logits,
        "probabilities" => GraphOutputKind::Probabilities,
        "values" => GraphOutputKind::Values,
        _ => {
            return Err(ContractError::BadMetadata {
                key: KEY_OUTPUT,
                value: output_text,
                reason: "expected `logits`, `probabilities` or `values`".into(),
            });
        }
    };
    let node_features = declared_features(&get, FeatureKind::Node, node_width, KEY_NODE_WIDTH)?;
    let edge_features = declared_features(&get, FeatureKind::Edge, edge_width, KEY_EDGE_WIDTH)?;

    let roles = graph_roles(&get, inputs, level)?;
    let input_names: Vec<&str> = inputs.iter().map(|p| p.name.as_str()).collect();
    match (roles.edge, edge_width) {
        (None, w) if w > 0 => {
            return Err(ContractError::BadMetadata {
                key: KEY_EDGE_WIDTH,
                value: w.to_string(),
                reason: format!(
                    "the model has no edge-feature input (inputs: {})",
                    input_names.join(", ")
                ),
            });
        }
        (Some(p), 0) => {
            return Err(ContractError::BadMetadata {
                key: KEY_EDGE_WIDTH,
                value: get(KEY_EDGE_WIDTH).unwrap_or_else(|| "(absent, 0)".into()),
                reason: format!(
                    "the model has an edge-feature input `{}`: declare its width",
                    p.name
                ),
            });
        }
        _ => {}
    }
    check_width(roles.node, KEY_NODE_WIDTH, node_width)?;
    if let Some(p) = roles.edge {
        check_width(p, KEY_EDGE_WIDTH, edge_width)?;
    }
    let output = check_graph_output(outputs, level, output_width)?;

    let extra = metadata
        .iter()
        .filter(|(k, _)| k.starts_with("gnntrack.") && !GRAPH_MODEL_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(GraphModelInfo {
        name,
        version,
        level,
        node_width,
        edge_width,
        output_width,
        output_kind,
        takes_edges: roles.edge_index.is_some(),
        node_features,
        edge_features,
        extra,
        inputs: GraphInputNames {
            node_features: roles.node.name.clone(),
            edge_index: roles.edge_index.map(|p| p.name.clone()),
            edge_features: roles.edge.map(|p| p.name.clone()),
            graph_index: roles.graph_index.map(|p| p.name.clone()),
        },
        output: output.name.clone(),
    })
}

/// An integer width of at least `min`; `default` when the key is absent (`None`: required).
fn read_width(
    text: Option<String>,
    key: &'static str,
    default: Option<usize>,
    min: usize,
) -> Result<usize, ContractError> {
    let Some(text) = text else {
        return default.ok_or(ContractError::MissingMetadata { key });
    };
    match text.trim().parse::<usize>() {
        Ok(w) if w >= min => Ok(w),
        _ => Err(ContractError::BadMetadata {
            key,
            value: text,
            reason: format!("expected an integer >= {min}"),
        }),
    }
}

/// The named features of one kind, when the model names them: as many as its width, each with
/// its scale and offset (0 when no offsets are declared). Scales or offsets without names are
/// refused.
fn declared_features(
    get: &dyn Fn(&'static str) -> Option<String>,
    kind: FeatureKind,
    width: usize,
    width_key: &'static str,
) -> Result<Vec<FeatureSpec>, ContractError> {
    let (names_key, scales_key, offsets_key) = feature_keys(kind);
    if get(names_key).is_none() {
        for key in [scales_key, offsets_key] {
            if let Some(value) = get(key) {
                return Err(ContractError::BadMetadata {
                    key,
                    value,
                    reason: format!("given without `{names_key}`"),
                });
            }
        }
        return Ok(Vec::new());
    }
    let declared = parse_features(get, kind)?;
    if declared.names.len() != width {
        return Err(ContractError::BadMetadata {
            key: names_key,
            value: declared.names.join(","),
            reason: format!("{} names but `{width_key}` = {width}", declared.names.len()),
        });
    }
    Ok(declared
        .names
        .into_iter()
        .enumerate()
        .map(|(k, name)| {
            let offset = declared.offsets.as_ref().map_or(0.0, |o| o[k]);
            FeatureSpec::new(name, offset, declared.scales[k])
        })
        .collect())
}

struct GraphRoles<'a> {
    node: &'a Port,
    edge_index: Option<&'a Port>,
    edge: Option<&'a Port>,
    graph_index: Option<&'a Port>,
}

/// Splits the inputs into roles by type and rank and checks that the level has what it needs.
fn graph_roles<'a>(
    get: &dyn Fn(&'static str) -> Option<String>,
    inputs: &'a [Port],
    level: OutputLevel,
) -> Result<GraphRoles<'a>, ContractError> {
    let (ints, floats) = split_by_dtype(inputs)?;
    let described = || describe_ports(inputs);
    let roles_error = |reason: String| ContractError::InputRoles {
        inputs: described(),
        reason,
    };
    let mut edge_index = None;
    let mut graph_index = None;
    for p in ints {
        let slot = match p.shape.len() {
            2 => &mut edge_index,
            1 => &mut graph_index,
            _ => {
                return Err(ContractError::InputShape {
                    role: "int64",
                    input: p.name.clone(),
                    shape: p.shape_text(),
                    expected: "[2, E] (edge index) or [N] (graph index)",
                });
            }
        };
        if slot.replace(p).is_some() {
            return Err(roles_error(format!(
                "two int64 inputs of rank {}: at most one edge index [2, E] and one graph index [N]",
                p.shape.len()
            )));
        }
    }
    if let Some(p) = edge_index {
        check_edge_index(p)?;
    }
    let (node, edge) = split_floats(get, &floats, described)?;
    if edge.is_some() && edge_index.is_none() {
        return Err(roles_error(
            "edge features need an int64 edge index [2, E]".into(),
        ));
    }
    if level == OutputLevel::Edge && edge_index.is_none() {
        return Err(roles_error(
            "an edge-level model needs an int64 edge index [2, E]".into(),
        ));
    }
    match (level, graph_index) {
        (OutputLevel::Graph, None) => {
            return Err(roles_error(
                "a graph-level model needs an int64 graph index [N]".into(),
            ));
        }
        (OutputLevel::Node | OutputLevel::Edge, Some(p)) => {
            return Err(roles_error(format!(
                "int64 input `{}` [N] is a graph index, but `{KEY_OUTPUT_LEVEL}` is `{level}`: only graph-level models take one",
                p.name
            )));
        }
        _ => {}
    }
    Ok(GraphRoles {
        node,
        edge_index,
        edge,
        graph_index,
    })
}

/// A fixed column count must equal the declared width.
fn check_width(port: &Port, key: &'static str, width: usize) -> Result<(), ContractError> {
    let columns = port.shape[1];
    if columns >= 0 && columns as usize != width {
        return Err(ContractError::Width {
            input: port.name.clone(),
            columns,
            key,
            width,
        });
    }
    Ok(())
}

/// Exactly one float32 output, `[rows]` when the width is 1 or `[rows, output_width]`.
fn check_graph_output(
    outputs: &[Port],
    level: OutputLevel,
    width: usize,
) -> Result<&Port, ContractError> {
    if outputs.len() != 1 {
        return Err(ContractError::GraphOutputCount {
            names: outputs.iter().map(|p| p.name.clone()).collect(),
        });
    }
    let out = &outputs[0];
    let shape_ok = match out.shape.len() {
        1 => width == 1,
        2 => out.shape[1] < 0 || out.shape[1] as usize == width,
        _ => false,
    };
    if out.dtype != Some(TensorElementType::Float32) || !shape_ok {
        let rows = match level {
            OutputLevel::Node => "N",
            OutputLevel::Edge => "E",
            OutputLevel::Graph => "G",
        };
        let expected = if width == 1 {
            format!("float32 tensor [{rows}] or [{rows}, 1] (`{KEY_OUTPUT_WIDTH}` = 1)")
        } else {
            format!("float32 tensor [{rows}, {width}] (`{KEY_OUTPUT_WIDTH}` = {width})")
        };
        return Err(ContractError::GraphOutput {
            output: out.name.clone(),
            found: out.describe.clone(),
            expected,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tensor port; -1 dimensions are symbolic.
    fn port(name: &str, dtype: TensorElementType, shape: &[i64]) -> Port {
        let mut p = Port {
            name: name.to_string(),
            dtype: Some(dtype),
            shape: shape.to_vec(),
            symbols: vec![String::new(); shape.len()],
            describe: String::new(),
        };
        p.describe = format!("{} tensor {}", dtype_name(dtype), p.shape_text());
        p
    }

    fn metadata(level: &str) -> BTreeMap<String, String> {
        [
            ("gnntrack.contract", "1"),
            ("gnntrack.model_name", "m"),
            ("gnntrack.model_version", "1"),
            ("gnntrack.output_level", level),
            ("gnntrack.node_width", "2"),
            ("gnntrack.output", "values"),
            ("gnntrack.stage.key", "kept"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    use TensorElementType::{Float32 as F, Int64 as I};

    #[test]
    fn roles_come_from_type_and_rank_in_any_order() {
        let inputs = [
            port("batch", I, &[-1]),
            port("x", F, &[-1, 2]),
            port("ei", I, &[2, -1]),
        ];
        let outputs = [port("y", F, &[-1, 1])];
        let info = check_graph_ports(&metadata("graph"), &inputs, &outputs).unwrap();
        assert_eq!(info.inputs.graph_index.as_deref(), Some("batch"));
        assert_eq!(info.inputs.edge_index.as_deref(), Some("ei"));
        assert_eq!(info.inputs.node_features, "x");
        assert_eq!((info.output_width, info.edge_width), (1, 0));
        assert_eq!(info.extra.len(), 1);
        assert_eq!(info.extra["gnntrack.stage.key"], "kept");
    }

    #[test]
    fn int64_inputs_of_other_ranks_or_layouts_are_refused() {
        let out = [port("y", F, &[-1])];
        let x = port("x", F, &[-1, 2]);
        let cases = [
            (vec![x.clone(), port("ei", I, &[2, -1, 1])], "int64"),
            (vec![x.clone(), port("ei", I, &[-1, 2])], "edge_index"),
            (vec![x.clone(), port("ei", I, &[3, -1])], "edge_index"),
        ];
        for (inputs, role) in cases {
            match check_graph_ports(&metadata("node"), &inputs, &out) {
                Err(ContractError::InputShape { role: r, .. }) => assert_eq!(r, role),
                other => panic!("{inputs:?}: {other:?}"),
            }
        }
        let two = [x, port("a", I, &[2, -1]), port("b", I, &[2, -1])];
        match check_graph_ports(&metadata("node"), &two, &out) {
            Err(ContractError::InputRoles { reason, .. }) => {
                assert!(reason.contains("two int64 inputs of rank 2"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_rank_one_output_needs_width_one() {
        let mut meta = metadata("node");
        meta.insert("gnntrack.output_width".into(), "4".into());
        let inputs = [port("x", F, &[-1, 2])];
        match check_graph_ports(&meta, &inputs, &[port("y", F, &[-1])]) {
            Err(ContractError::GraphOutput { expected, .. }) => {
                assert_eq!(
                    expected,
                    "float32 tensor [N, 4] (`gnntrack.output_width` = 4)"
                )
            }
            other => panic!("{other:?}"),
        }
        let ok = check_graph_ports(&meta, &inputs, &[port("y", F, &[-1, -1])]).unwrap();
        assert_eq!(ok.output_width, 4);
        assert!(!ok.takes_edges);
    }
}
