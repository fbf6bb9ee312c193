//! [`EdgeClassifier`]: one ONNX edge-classifier model, its sessions and its scoring call.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use ort::ep::{CUDA, ExecutionProvider};
use ort::session::Session;
use ort::session::SessionInputValue;
use ort::session::builder::{PrepackedWeights, SessionBuilder};
use ort::value::{Tensor, TensorRef};

use super::contract::{self, ModelInfo, OutputKind};
use super::pool::Pool;
use super::runtime::{OnnxRuntime, runtime};
use super::{InferenceConfig, InferenceError, Provider};
use crate::features::{FeatureSpec, FeatureTable};

/// The execution provider a classifier runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActiveProvider {
    /// onnxruntime's CPU provider.
    Cpu {
        /// Why CUDA is not used, when `auto` asked for it.
        fallback_reason: Option<String>,
    },
    /// The CUDA provider on this device.
    Cuda {
        /// CUDA device id.
        device_id: i32,
    },
}

impl ActiveProvider {
    /// `cpu` or `cuda`.
    pub fn kind(&self) -> Provider {
        match self {
            ActiveProvider::Cpu { .. } => Provider::Cpu,
            ActiveProvider::Cuda { .. } => Provider::Cuda,
        }
    }
}

impl fmt::Display for ActiveProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActiveProvider::Cpu {
                fallback_reason: None,
            } => f.write_str("CPU"),
            ActiveProvider::Cpu {
                fallback_reason: Some(r),
            } => write!(f, "CPU (CUDA unavailable: {r})"),
            ActiveProvider::Cuda { device_id } => write!(f, "CUDA device {device_id}"),
        }
    }
}

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

impl EdgeIndex<'_> {
    /// Number of edges, or an error when the parts disagree.
    fn len(&self) -> Result<usize, InferenceError> {
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

    /// The first edge with a node index outside `0..n_nodes`, as (edge, index).
    fn first_out_of_range(&self, n_nodes: usize) -> Option<(usize, i64)> {
        match *self {
            EdgeIndex::Pairs { src, dst } => {
                src.iter().zip(dst).enumerate().find_map(|(k, (&s, &d))| {
                    [s, d]
                        .into_iter()
                        .find(|&i| i as usize >= n_nodes)
                        .map(|i| (k, i as i64))
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
}

struct Shared {
    runtime: &'static OnnxRuntime,
    model_bytes: Arc<[u8]>,
    label: String,
    config: InferenceConfig,
    provider: ActiveProvider,
    prepacked: PrepackedWeights,
}

/// An edge classifier: a checked ONNX model and a bounded pool of its sessions. `Sync`: share it
/// between threads (by reference or `Arc`) and call [`score`](Self::score) from all of them.
pub struct EdgeClassifier {
    shared: Shared,
    info: ModelInfo,
    pool: Pool<Session>,
}

impl fmt::Debug for EdgeClassifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeClassifier")
            .field("model", &self.shared.label)
            .field("name", &self.info.name)
            .field("version", &self.info.version)
            .field("provider", &self.shared.provider)
            .field("pool_size", &self.pool.capacity())
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
        let path = path.as_ref();
        let label = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| InferenceError::ModelIo {
            model: label.clone(),
            reason: e.to_string(),
        })?;
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
        let runtime = runtime(&config.library)?;
        let model_bytes: Arc<[u8]> = bytes.into();
        let prepacked = PrepackedWeights::new();
        let model = |reason: String| InferenceError::ModelLoad {
            model: label.to_string(),
            reason,
        };

        let (session, provider) = match config.provider {
            Provider::Cpu => (
                create_session(runtime, &model_bytes, config, &prepacked, false).map_err(model)?,
                ActiveProvider::Cpu {
                    fallback_reason: None,
                },
            ),
            Provider::Cuda => match try_cuda(runtime, &model_bytes, config, &prepacked) {
                Ok(s) => (
                    s,
                    ActiveProvider::Cuda {
                        device_id: config.device_id,
                    },
                ),
                Err(CudaFailure::Provider(reason, _)) => {
                    return Err(InferenceError::Provider {
                        requested: Provider::Cuda,
                        reason,
                    });
                }
                Err(CudaFailure::Model(reason)) => return Err(model(reason)),
            },
            Provider::Auto => match try_cuda(runtime, &model_bytes, config, &prepacked) {
                Ok(s) => (
                    s,
                    ActiveProvider::Cuda {
                        device_id: config.device_id,
                    },
                ),
                Err(CudaFailure::Model(reason)) => return Err(model(reason)),
                Err(CudaFailure::Provider(reason, cpu)) => {
                    log::warn!("CUDA execution provider unavailable, using the CPU: {reason}");
                    let session = match cpu {
                        Some(s) => s,
                        None => create_session(runtime, &model_bytes, config, &prepacked, false)
                            .map_err(model)?,
                    };
                    (
                        session,
                        ActiveProvider::Cpu {
                            fallback_reason: Some(reason),
                        },
                    )
                }
            },
        };

        let (info, differences) = contract::check(&session, features, graph, config.graph_mismatch)
            .map_err(|problem| InferenceError::Contract {
                model: label.to_string(),
                problem,
            })?;
        if !differences.is_empty() {
            log::warn!(
                "model {label} was trained with other graph parameters than the tracker's: {}",
                differences.join("; ")
            );
        }
        let pool = Pool::new(config.effective_pool_size());
        pool.insert(session);
        log::info!(
            "edge classifier {} {} ({label}) on {provider}, up to {} sessions, {} intra-op threads each",
            info.name,
            info.version,
            pool.capacity(),
            if config.intra_threads == 0 {
                "default".to_string()
            } else {
                config.intra_threads.to_string()
            }
        );
        Ok(EdgeClassifier {
            shared: Shared {
                runtime,
                model_bytes,
                label: label.to_string(),
                config: config.clone(),
                provider,
                prepacked,
            },
            info,
            pool,
        })
    }

    /// What the model declares (features, output kind, cut, graph parameters, name, version).
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The execution provider in use.
    pub fn provider(&self) -> &ActiveProvider {
        &self.shared.provider
    }

    /// The onnxruntime the classifier runs on.
    pub fn runtime(&self) -> &'static OnnxRuntime {
        self.shared.runtime
    }

    /// The most sessions this classifier keeps.
    pub fn pool_size(&self) -> usize {
        self.pool.capacity()
    }

    /// Sessions created so far (1 after loading, at most [`pool_size`](Self::pool_size)).
    pub fn sessions_created(&self) -> usize {
        self.pool.alive()
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

        let run_error = |e: ort::Error| InferenceError::Run {
            model: self.shared.label.clone(),
            reason: e.to_string(),
        };
        let nodes =
            TensorRef::from_array_view(([n_nodes, fn_], node_features)).map_err(run_error)?;
        let mut inputs: Vec<(&str, SessionInputValue<'_>)> = Vec::with_capacity(3);
        inputs.push((&self.info.inputs.node_features, nodes.into()));
        let index: SessionInputValue<'_> = match edges {
            EdgeIndex::Pairs { src, dst } => {
                let mut v = Vec::with_capacity(2 * n_edges);
                v.extend(src.iter().map(|&i| i64::from(i)));
                v.extend(dst.iter().map(|&i| i64::from(i)));
                Tensor::from_array(([2, n_edges], v))
                    .map_err(run_error)?
                    .into()
            }
            EdgeIndex::Packed(v) => TensorRef::from_array_view(([2, n_edges], v))
                .map_err(run_error)?
                .into(),
        };
        inputs.push((&self.info.inputs.edge_index, index));
        if let (Some(name), Some(v)) = (&self.info.inputs.edge_features, edge_features) {
            let t = TensorRef::from_array_view(([n_edges, fe], v)).map_err(run_error)?;
            inputs.push((name, t.into()));
        }

        let mut session = self.pool.get(|| self.new_session())?;
        let outputs = session.run(inputs).map_err(run_error)?;
        let output_error = |reason: String| InferenceError::Output {
            model: self.shared.label.clone(),
            reason,
        };
        let value = outputs.get(&self.info.output).ok_or_else(|| {
            output_error(format!(
                "output `{}` missing from the results",
                self.info.output
            ))
        })?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| {
            output_error(format!(
                "`{}` is not a float32 tensor: {e}",
                self.info.output
            ))
        })?;
        let shape_ok = match **shape {
            [e] => e as usize == n_edges,
            [e, 1] => e as usize == n_edges,
            _ => false,
        };
        if !shape_ok || data.len() != n_edges {
            return Err(output_error(format!(
                "shape {:?} for {n_edges} edges; expected [E] or [E, 1]",
                &**shape
            )));
        }
        let mut scores = data.to_vec();
        drop(outputs);
        drop(session);
        if self.info.output_kind == OutputKind::Logits {
            for s in &mut scores {
                *s = 1.0 / (1.0 + (-*s).exp());
            }
        }
        if let Some(k) = scores.iter().position(|s| !s.is_finite()) {
            return Err(output_error(format!(
                "non-finite score {} for edge {k}",
                scores[k]
            )));
        }
        Ok(scores)
    }

    fn new_session(&self) -> Result<Session, InferenceError> {
        let s = &self.shared;
        let cuda = matches!(s.provider, ActiveProvider::Cuda { .. });
        log::debug!(
            "model {}: opening session {} of {}",
            s.label,
            self.pool.alive(),
            self.pool.capacity()
        );
        create_session(s.runtime, &s.model_bytes, &s.config, &s.prepacked, cuda).map_err(|reason| {
            InferenceError::ModelLoad {
                model: s.label.clone(),
                reason,
            }
        })
    }
}

fn names(specs: &[FeatureSpec]) -> String {
    specs
        .iter()
        .map(|f| f.name.as_ref())
        .collect::<Vec<_>>()
        .join(", ")
}

enum CudaFailure {
    /// The provider could not start; the model did load on the CPU when that was tried.
    Provider(String, Option<Session>),
    /// The model could not load for another reason.
    Model(String),
}

fn try_cuda(
    runtime: &OnnxRuntime,
    model: &[u8],
    config: &InferenceConfig,
    prepacked: &PrepackedWeights,
) -> Result<Session, CudaFailure> {
    if !CUDA::is_available().unwrap_or(false) {
        return Err(CudaFailure::Provider(
            format!(
                "the onnxruntime at {} was built without the CUDA execution provider (install onnxruntime-gpu)",
                runtime.library().display()
            ),
            None,
        ));
    }
    match create_session(runtime, model, config, prepacked, true) {
        Ok(s) => Ok(s),
        Err(reason) => {
            // Decide whether CUDA or the model failed: a model that does not load on the CPU
            // either is the model's fault.
            match create_session(runtime, model, config, prepacked, false) {
                Ok(cpu) => Err(CudaFailure::Provider(reason, Some(cpu))),
                Err(cpu_reason) => Err(CudaFailure::Model(cpu_reason)),
            }
        }
    }
}

fn builder(
    runtime: &OnnxRuntime,
    config: &InferenceConfig,
    prepacked: &PrepackedWeights,
    cuda: bool,
) -> ort::Result<SessionBuilder> {
    let mut b = Session::builder(&runtime.environment)?
        .with_prepacked_weights(prepacked)?
        .with_inter_threads(1)?
        .with_memory_pattern(config.memory_pattern)?
        .with_intra_op_spinning(config.intra_spinning)?;
    if config.intra_threads > 0 {
        b = b.with_intra_threads(config.intra_threads)?;
    }
    if cuda {
        b = b.with_execution_providers([CUDA::default()
            .with_device_id(config.device_id)
            .build()
            .error_on_failure()])?;
    }
    Ok(b)
}

fn create_session(
    runtime: &OnnxRuntime,
    model: &[u8],
    config: &InferenceConfig,
    prepacked: &PrepackedWeights,
    cuda: bool,
) -> Result<Session, String> {
    builder(runtime, config, prepacked, cuda)
        .and_then(|mut b| b.commit_from_memory(model))
        .map_err(|e| e.to_string().trim().to_string())
}
