//! What every loaded ONNX model shares, whatever its contract: the onnxruntime it runs on, the
//! model bytes, the execution provider chosen at load time (CUDA checks and the `auto` fallback),
//! the pre-packed weights and the pool of sessions.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ort::ep::{CUDA, ExecutionProvider};
use ort::session::builder::{PrepackedWeights, SessionBuilder};
use ort::session::{Session, SessionInputValue};

use super::contract;
use super::pool::Pool;
use super::runtime::{OnnxRuntime, runtime};
use super::{InferenceConfig, InferenceError, Provider};

/// The execution provider a model runs on.
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

/// The bytes of a model file and the label that names it in messages (its path).
pub(crate) fn read_model(path: &Path) -> Result<(Vec<u8>, String), InferenceError> {
    let label = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| InferenceError::ModelIo {
        model: label.clone(),
        reason: e.to_string(),
    })?;
    Ok((bytes, label))
}

/// The probability of a logit.
#[inline]
pub(crate) fn sigmoid(logit: f32) -> f32 {
    1.0 / (1.0 + (-logit).exp())
}

/// Turns logits into probabilities, in place.
pub(crate) fn sigmoid_in_place(values: &mut [f32]) {
    for v in values {
        *v = sigmoid(*v);
    }
}

/// A cut on probabilities applied to logits: a logit at or above `keep` has a [`sigmoid`] at
/// or above the cut, one at or below `drop` a sigmoid below it, and only the logits between
/// the two bounds (a few thousandths apart) need the sigmoid itself, so the result is that
/// of comparing every sigmoid with the cut. Both bounds are checked when the cut is made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogitCut {
    cut: f32,
    drop: f32,
    keep: f32,
}

impl LogitCut {
    /// The bounds of the probability cut `cut`: around its logit with a margin of 0.1 % (at
    /// least 0.001), far more than the rounding of the sigmoid in single precision, for cuts
    /// from 1e-6 to 0.999; other cuts compare every sigmoid (a cut at or below 0 keeps all).
    pub(crate) fn new(cut: f32) -> LogitCut {
        // NaN bounds: no comparison with them holds, so every sigmoid is computed.
        let every = LogitCut {
            cut,
            drop: f32::NAN,
            keep: f32::NAN,
        };
        if cut <= 0.0 {
            // Every sigmoid but that of NaN is at least 0.
            return LogitCut {
                keep: f32::NEG_INFINITY,
                ..every
            };
        }
        if !(1e-6..=0.999).contains(&cut) {
            return every;
        }
        let c = f64::from(cut);
        let logit = (c / (1.0 - c)).ln();
        let margin = 1e-3 * logit.abs().max(1.0);
        let (drop, keep) = ((logit - margin) as f32, (logit + margin) as f32);
        if sigmoid(keep) >= cut && sigmoid(drop) < cut {
            LogitCut { cut, drop, keep }
        } else {
            every
        }
    }

    /// Whether the sigmoid of `logit` is at least the cut (false for NaN).
    #[inline]
    pub(crate) fn passes(&self, logit: f32) -> bool {
        if logit >= self.keep {
            true
        } else if logit <= self.drop {
            false
        } else {
            sigmoid(logit) >= self.cut
        }
    }
}

/// The index of the first NaN.
pub(crate) fn first_nan(values: &[f32]) -> Option<usize> {
    first_where(values, |v| v.is_nan())
}

/// Values per chunk of the scans below: each chunk is tested whole, without stopping early (a
/// loop the compiler vectorises), and searched element by element only when it holds a hit.
pub(crate) const SCAN_CHUNK: usize = 1024;

/// Inputs of more chunks than this are scanned on the current rayon pool (the first hit in
/// input order is still the one found).
const PARALLEL_SCAN_CHUNKS: usize = 64;

/// The first chunk of `values` (by index) for which `hit` holds, found by whole-chunk tests on
/// the current rayon pool when `values` is large.
pub(crate) fn first_chunk<T: Sync>(
    values: &[T],
    hit: impl Fn(&[T]) -> bool + Sync,
) -> Option<usize> {
    if values.len() > PARALLEL_SCAN_CHUNKS * SCAN_CHUNK {
        use rayon::prelude::*;
        values.par_chunks(SCAN_CHUNK).position_first(&hit)
    } else {
        values.chunks(SCAN_CHUNK).position(hit)
    }
}

/// The index of the first value that is not finite (6 M feature values take about a
/// millisecond on two threads).
pub(crate) fn first_non_finite(values: &[f32]) -> Option<usize> {
    first_where(values, |v| !v.is_finite())
}

/// The index of the first value for which `bad` holds: whole chunks tested ([`first_chunk`]),
/// then the first such chunk searched.
fn first_where(values: &[f32], bad: impl Fn(f32) -> bool + Sync) -> Option<usize> {
    let chunk = first_chunk(values, |c| c.iter().fold(false, |any, &v| any | bad(v)))?;
    let start = chunk * SCAN_CHUNK;
    values[start..]
        .iter()
        .position(|&v| bad(v))
        .map(|k| start + k)
}

/// A loaded model: its sessions (at most [`InferenceConfig::pool_size`]) and what creates more.
pub(crate) struct Engine {
    runtime: &'static OnnxRuntime,
    model_bytes: Arc<[u8]>,
    label: String,
    config: InferenceConfig,
    provider: ActiveProvider,
    prepacked: PrepackedWeights,
    pool: Pool<Session>,
}

impl Engine {
    /// Starts onnxruntime if needed, opens a first session on the configured provider and hands
    /// it to `check` (the contract of the model's kind); the session then becomes the first of
    /// the pool.
    pub(crate) fn open<T>(
        model_bytes: Arc<[u8]>,
        label: &str,
        config: &InferenceConfig,
        check: impl FnOnce(&Session) -> Result<T, InferenceError>,
    ) -> Result<(Engine, T), InferenceError> {
        let runtime = runtime(&config.library)?;
        let prepacked = PrepackedWeights::new();
        let model = |reason: String| InferenceError::ModelLoad {
            model: label.to_string(),
            reason,
        };

        let (mut session, provider) = match config.provider {
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

        // A model whose results are right on at most `max` intra-op threads gets no more.
        let max =
            contract::max_intra_threads(&session).map_err(|problem| InferenceError::Contract {
                model: label.to_string(),
                problem,
            })?;
        let mut config = config.clone();
        if let Some(max) = max.filter(|&m| config.intra_threads == 0 || config.intra_threads > m) {
            if config.intra_threads > max {
                log::warn!(
                    "model {label} gives right results on at most {max} intra-op threads \
                     (gnntrack.max_intra_threads); intra_threads = {} lowered to {max}",
                    config.intra_threads
                );
            }
            config.intra_threads = max;
            let cuda = matches!(provider, ActiveProvider::Cuda { .. });
            session =
                create_session(runtime, &model_bytes, &config, &prepacked, cuda).map_err(model)?;
        }

        let checked = check(&session)?;
        let pool = Pool::new(config.effective_pool_size());
        pool.insert(session);
        Ok((
            Engine {
                runtime,
                model_bytes,
                label: label.to_string(),
                config,
                provider,
                prepacked,
                pool,
            },
            checked,
        ))
    }

    /// The model file or label.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// The execution provider in use.
    pub(crate) fn provider(&self) -> &ActiveProvider {
        &self.provider
    }

    /// The onnxruntime the model runs on.
    pub(crate) fn runtime(&self) -> &'static OnnxRuntime {
        self.runtime
    }

    /// The most sessions kept.
    pub(crate) fn pool_size(&self) -> usize {
        self.pool.capacity()
    }

    /// Sessions created so far.
    pub(crate) fn sessions_created(&self) -> usize {
        self.pool.alive()
    }

    /// The intra-op threads of each session (0: onnxruntime's default), at most what the model
    /// declares it gives right results on.
    pub(crate) fn intra_threads(&self) -> usize {
        self.config.intra_threads
    }

    /// "up to P sessions, T intra-op threads each", for the load log line.
    pub(crate) fn capacity_text(&self) -> String {
        format!(
            "up to {} sessions, {} intra-op threads each",
            self.pool.capacity(),
            if self.config.intra_threads == 0 {
                "default".to_string()
            } else {
                self.config.intra_threads.to_string()
            }
        )
    }

    /// A failed run of this model.
    pub(crate) fn run_error(&self, e: ort::Error) -> InferenceError {
        InferenceError::Run {
            model: self.label.clone(),
            reason: e.to_string(),
        }
    }

    /// An unusable output of this model.
    pub(crate) fn output_error(&self, reason: String) -> InferenceError {
        InferenceError::Output {
            model: self.label.clone(),
            reason,
        }
    }

    /// Runs the model on `inputs` with a session of the pool and returns the float32 tensor
    /// `output`: its shape and a copy of its values (the session is back in the pool on return).
    pub(crate) fn run_f32(
        &self,
        inputs: Vec<(&str, SessionInputValue<'_>)>,
        output: &str,
    ) -> Result<(Vec<i64>, Vec<f32>), InferenceError> {
        let mut session = self.pool.get(|| self.new_session())?;
        let outputs = session.run(inputs).map_err(|e| self.run_error(e))?;
        let value = outputs.get(output).ok_or_else(|| {
            self.output_error(format!("output `{output}` missing from the results"))
        })?;
        let (shape, data) = value
            .try_extract_tensor::<f32>()
            .map_err(|e| self.output_error(format!("`{output}` is not a float32 tensor: {e}")))?;
        Ok((shape.to_vec(), data.to_vec()))
    }

    fn new_session(&self) -> Result<Session, InferenceError> {
        let cuda = matches!(self.provider, ActiveProvider::Cuda { .. });
        log::debug!(
            "model {}: opening session {} of {}",
            self.label,
            self.pool.alive(),
            self.pool.capacity()
        );
        create_session(
            self.runtime,
            &self.model_bytes,
            &self.config,
            &self.prepacked,
            cuda,
        )
        .map_err(|reason| InferenceError::ModelLoad {
            model: self.label.clone(),
            reason,
        })
    }
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
    if !cuda && config.gnntrack_kernels {
        b = b.with_operators(super::kernels::domain()?)?;
    }
    if cuda {
        b = b.with_execution_providers([CUDA::default()
            .with_device_id(config.device_id)
            .build()
            .error_on_failure()])?;
    }
    Ok(b)
}

/// Whether a session with the gnntrack kernels was opened in this process. onnxruntime adds a
/// custom operator domain to a process-wide table the first time a session registers it, after
/// a lookup and without a lock: two such sessions opened at once may both add it, and the
/// second then fails ("the domain is already exist"). So the first one is opened alone.
static KERNELS_KNOWN: Mutex<bool> = Mutex::new(false);

fn create_session(
    runtime: &OnnxRuntime,
    model: &[u8],
    config: &InferenceConfig,
    prepacked: &PrepackedWeights,
    cuda: bool,
) -> Result<Session, String> {
    let open = || {
        builder(runtime, config, prepacked, cuda)
            .and_then(|mut b| b.commit_from_memory(model))
            .map_err(|e| e.to_string().trim().to_string())
    };
    if cuda || !config.gnntrack_kernels {
        return open();
    }
    let mut known = KERNELS_KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    if *known {
        drop(known);
        return open();
    }
    let session = open();
    // After a failure the domain may or may not be in the table: the next one is opened alone too.
    *known = session.is_ok();
    session
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::EdgeIndex;

    #[test]
    fn a_logit_cut_gives_the_flags_of_the_sigmoid() {
        // Logits swept finely across each cut's logit and far out, and the special values:
        // the bounds decide exactly as the sigmoid compared with the cut.
        let cuts: [f32; 11] = [
            0.0092, 0.5, 0.3, 1e-6, 0.999, 0.0, -0.5, 1.0, 1e-9, 0.9999, 1.5,
        ];
        for cut in cuts {
            let centre = if (0.0..1.0).contains(&cut) && cut > 0.0 {
                (cut / (1.0 - cut)).ln()
            } else {
                0.0
            };
            let mut logits: Vec<f32> = (-20_000..=20_000)
                .map(|k| centre + k as f32 * 1e-6)
                .chain((-400..=400).map(|k| k as f32 * 0.25))
                .collect();
            logits.extend([
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::MAX,
                f32::MIN,
                0.0,
                -0.0,
            ]);
            let logit_cut = LogitCut::new(cut);
            for l in logits {
                assert_eq!(
                    logit_cut.passes(l),
                    sigmoid(l) >= cut,
                    "cut {cut}, logit {l}"
                );
            }
            assert!(!logit_cut.passes(f32::NAN), "cut {cut}: NaN");
        }
        // The bounds are used where they can be: a tight bracket round the logit of the cut.
        let c = LogitCut::new(0.0092);
        assert!(c.keep - c.drop < 0.02 && c.drop < -4.6 && c.keep > -4.7);
    }

    #[test]
    fn scans_find_the_first_hit_in_large_inputs() {
        // Inputs large enough to be scanned in parallel: the first hit in input order, also
        // with a later one in an earlier-finishing chunk.
        let n = 300 * SCAN_CHUNK + 17;
        let mut values = vec![1.0f32; n];
        assert_eq!(first_non_finite(&values), None);
        assert_eq!(first_nan(&values), None);
        values[n - 1] = f32::INFINITY;
        assert_eq!(first_non_finite(&values), Some(n - 1));
        assert_eq!(first_nan(&values), None);
        values[200 * SCAN_CHUNK + 5] = f32::NAN;
        values[70 * SCAN_CHUNK + 3] = f32::NEG_INFINITY;
        assert_eq!(first_non_finite(&values), Some(70 * SCAN_CHUNK + 3));
        assert_eq!(first_nan(&values), Some(200 * SCAN_CHUNK + 5));
        assert_eq!(first_non_finite(&values[..10]), None);

        let src: Vec<u32> = (0..n as u32).map(|k| k % 1000).collect();
        let mut dst = src.clone();
        fn edges<'a>(src: &'a [u32], dst: &'a [u32]) -> EdgeIndex<'a> {
            EdgeIndex::Pairs { src, dst }
        }
        assert_eq!(edges(&src, &dst).first_out_of_range(1000), None);
        dst[250 * SCAN_CHUNK] = 1000;
        assert_eq!(
            edges(&src, &dst).first_out_of_range(1000),
            Some((250 * SCAN_CHUNK, 1000))
        );
        let mut early = src.clone();
        early[90 * SCAN_CHUNK + 1] = u32::MAX;
        assert_eq!(
            edges(&early, &dst).first_out_of_range(1000),
            Some((90 * SCAN_CHUNK + 1, i64::from(u32::MAX)))
        );
        // Every id is in range of a larger graph.
        assert_eq!(edges(&src, &dst).first_out_of_range(1001), None);
    }
}
