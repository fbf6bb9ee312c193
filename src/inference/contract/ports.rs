//! Inputs and outputs of a model as the contract sees them: types, shapes and roles.

use super::*;

/// The type and shape of a graph input or output, as the contract sees them.
#[derive(Debug, Clone)]
pub(crate) struct Port {
    pub name: String,
    /// `None` when it is not a tensor.
    pub dtype: Option<TensorElementType>,
    /// Dimensions, -1 when dynamic.
    pub shape: Vec<i64>,
    /// Symbolic names of the dimensions ("" when none).
    pub symbols: Vec<String>,
    /// Type description for messages.
    pub describe: String,
}

impl Port {
    pub(crate) fn from_outlet(name: &str, dtype: &ValueType) -> Port {
        match dtype {
            ValueType::Tensor {
                ty,
                shape,
                dimension_symbols,
            } => {
                let symbols: Vec<String> =
                    dimension_symbols.iter().map(|s| s.to_string()).collect();
                let mut port = Port {
                    name: name.to_string(),
                    dtype: Some(*ty),
                    shape: shape.to_vec(),
                    symbols,
                    describe: String::new(),
                };
                port.describe = format!("{} tensor {}", dtype_name(*ty), port.shape_text());
                port
            }
            other => Port {
                name: name.to_string(),
                dtype: None,
                shape: Vec::new(),
                symbols: Vec::new(),
                describe: format!("not a tensor ({other:?})"),
            },
        }
    }

    pub(crate) fn shape_text(&self) -> String {
        let dims: Vec<String> = self
            .shape
            .iter()
            .enumerate()
            .map(|(i, &d)| match (d, self.symbols.get(i)) {
                (d, _) if d >= 0 => d.to_string(),
                (_, Some(s)) if !s.is_empty() => s.clone(),
                _ => "?".to_string(),
            })
            .collect();
        format!("[{}]", dims.join(", "))
    }
}

pub(super) fn dtype_name(t: TensorElementType) -> String {
    match t {
        TensorElementType::Float32 => "float32".into(),
        TensorElementType::Float64 => "float64".into(),
        TensorElementType::Float16 => "float16".into(),
        TensorElementType::Int64 => "int64".into(),
        TensorElementType::Int32 => "int32".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

pub(super) struct Roles<'a> {
    pub(super) node: &'a Port,
    pub(super) edge_index: &'a Port,
    pub(super) edge: Option<&'a Port>,
}

pub(super) fn assign_roles<'a>(
    get: &dyn Fn(&'static str) -> Option<String>,
    inputs: &'a [Port],
) -> Result<Roles<'a>, ContractError> {
    if !(2..=3).contains(&inputs.len()) {
        return Err(ContractError::InputCount {
            names: inputs.iter().map(|p| p.name.clone()).collect(),
        });
    }
    let (ints, floats) = split_by_dtype(inputs)?;
    let described = || describe_ports(inputs);
    if ints.len() != 1 {
        return Err(ContractError::InputRoles {
            inputs: described(),
            reason: format!(
                "exactly one int64 input (edge_index) is needed, found {}",
                ints.len()
            ),
        });
    }
    let edge_index = ints[0];
    check_edge_index(edge_index)?;
    let (node, edge) = split_floats(get, &floats, described)?;
    Ok(Roles {
        node,
        edge_index,
        edge,
    })
}

/// The int64 and the float32 inputs, in model order; any other type is refused.
pub(super) fn split_by_dtype(inputs: &[Port]) -> Result<(Vec<&Port>, Vec<&Port>), ContractError> {
    let mut ints = Vec::new();
    let mut floats = Vec::new();
    for p in inputs {
        match p.dtype {
            Some(TensorElementType::Int64) => ints.push(p),
            Some(TensorElementType::Float32) => floats.push(p),
            _ => {
                return Err(ContractError::InputType {
                    input: p.name.clone(),
                    found: p.describe.clone(),
                });
            }
        }
    }
    Ok((ints, floats))
}

/// "`name` (type)" for each port, for messages.
pub(super) fn describe_ports(ports: &[Port]) -> Vec<String> {
    ports
        .iter()
        .map(|p| format!("`{}` ({})", p.name, p.describe))
        .collect()
}

/// The edge index must be `[2, E]`: a fixed first dimension other than 2, or a symbolic one
/// followed by a fixed 2 (the transposed `[E, 2]` layout), is refused.
pub(super) fn check_edge_index(edge_index: &Port) -> Result<(), ContractError> {
    let transposed =
        edge_index.shape.len() == 2 && edge_index.shape[0] < 0 && edge_index.shape[1] == 2;
    if edge_index.shape.len() != 2
        || !(edge_index.shape[0] == 2 || edge_index.shape[0] < 0)
        || transposed
    {
        return Err(ContractError::InputShape {
            role: "edge_index",
            input: edge_index.name.clone(),
            shape: edge_index.shape_text(),
            expected: "[2, E]",
        });
    }
    Ok(())
}

/// The node-feature and (when there are two) edge-feature inputs among the float32 inputs: named
/// by `gnntrack.node_input` / `gnntrack.edge_input`, else node features first. Both must have
/// rank 2.
pub(super) fn split_floats<'a>(
    get: &dyn Fn(&'static str) -> Option<String>,
    floats: &[&'a Port],
    described: impl Fn() -> Vec<String>,
) -> Result<(&'a Port, Option<&'a Port>), ContractError> {
    let named = |key: &'static str| -> Result<Option<&'a Port>, ContractError> {
        match get(key) {
            None => Ok(None),
            Some(name) => floats
                .iter()
                .find(|p| p.name == name.trim())
                .copied()
                .map(Some)
                .ok_or_else(|| ContractError::BadMetadata {
                    key,
                    value: name.clone(),
                    reason: format!(
                        "no float32 input of that name (float32 inputs: {})",
                        floats
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
        }
    };
    let (node, edge) = match floats.len() {
        1 => {
            if let Some(p) = named(KEY_EDGE_INPUT)? {
                return Err(ContractError::BadMetadata {
                    key: KEY_EDGE_INPUT,
                    value: p.name.clone(),
                    reason: "the only float32 input must hold the node features".into(),
                });
            }
            (floats[0], None)
        }
        2 => {
            let other = |p: &Port| {
                if std::ptr::eq(p, floats[0]) {
                    floats[1]
                } else {
                    floats[0]
                }
            };
            match (named(KEY_NODE_INPUT)?, named(KEY_EDGE_INPUT)?) {
                (Some(n), Some(e)) if std::ptr::eq(n, e) => {
                    return Err(ContractError::BadMetadata {
                        key: KEY_EDGE_INPUT,
                        value: e.name.clone(),
                        reason: "names the same input as `gnntrack.node_input`".into(),
                    });
                }
                (Some(n), _) => (n, Some(other(n))),
                (None, Some(e)) => (other(e), Some(e)),
                (None, None) => (floats[0], Some(floats[1])),
            }
        }
        n => {
            return Err(ContractError::InputRoles {
                inputs: described(),
                reason: format!(
                    "one or two float32 inputs (node and edge features) are needed, found {n}"
                ),
            });
        }
    };
    for (role, p) in [("node feature", Some(node)), ("edge feature", edge)] {
        if let Some(p) = p
            && p.shape.len() != 2
        {
            return Err(ContractError::InputShape {
                role,
                input: p.name.clone(),
                shape: p.shape_text(),
                expected: if role == "node feature" {
                    "[N, Fn]"
                } else {
                    "[E, Fe]"
                },
            });
        }
    }
    Ok((node, edge))
}

pub(super) fn check_columns(
    kind: FeatureKind,
    port: &Port,
    listed: usize,
) -> Result<(), ContractError> {
    let columns = port.shape[1];
    if columns >= 0 && columns as usize != listed {
        return Err(ContractError::FeatureCount {
            kind,
            input: port.name.clone(),
            columns,
            listed,
        });
    }
    Ok(())
}

pub(super) fn check_output(outputs: &[Port]) -> Result<&Port, ContractError> {
    if outputs.len() != 1 {
        return Err(ContractError::OutputCount {
            names: outputs.iter().map(|p| p.name.clone()).collect(),
        });
    }
    let out = &outputs[0];
    let shape_ok = match out.shape.len() {
        1 => true,
        2 => out.shape[1] == 1 || out.shape[1] < 0,
        _ => false,
    };
    if out.dtype != Some(TensorElementType::Float32) || !shape_ok {
        return Err(ContractError::Output {
            output: out.name.clone(),
            found: out.describe.clone(),
        });
    }
    Ok(out)
}
