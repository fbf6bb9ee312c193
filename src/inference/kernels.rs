//! The `gnntrack` operator domain: CPU kernels for the message passing of rewritten edge
//! classifiers.
//!
//! `models/train/optimize_onnx.py` (rewrite 6) replaces the row lookups, sums and scatter-adds of
//! each message-passing round by two operators of the domain `gnntrack`, and puts their
//! definitions in standard operators into the model as ONNX functions:
//!
//! - `GatherPairSum(a [N, H], b [N, H], src [E], dst [E]) -> [E, H]`:
//!   `out[e] = a[src[e]] + b[dst[e]]` (the node parts of an edge layer);
//! - `MessageSum(w [E, K], m [N, K], h [N, H], src [E], dst [E]) -> [N, 2K + H]`: row i is
//!   the sum of `w[e] * m[src[e]]` over the edges with `dst[e] = i`, the sum of
//!   `w[e] * m[dst[e]]` over those with `src[e] = i`, then `h[i]` (a hit's incoming and outgoing
//!   messages beside its state).
//!
//! Rewrite 7 adds `Dense(x [M, K], w [N, K], c) -> [M, N]`, `x w^T + c` with `c` of `[N]` or
//! `[M, N]` (a `Gemm` with `transB = 1`), and `DenseRelu`, the same followed by the ReLU: the
//! dense layers of 1, 8 and 16 outputs, computed by [`dense`](super::dense) without the copy
//! of the bias that onnxruntime's `Gemm` makes first.
//!
//! onnxruntime spends about 10 ns per row on each lookup and scatter-add of those bodies,
//! whatever the row's width: with 16-wide rows that is bookkeeping, not data. These kernels do
//! the same work in one pass each. They make the same float operations in the same order as
//! the bodies on onnxruntime's CPU kernels on one thread (one product and one sum per element,
//! each node's sum over its edges in edge order, from zero), so a model gives the same scores bit
//! for bit with or without them (tested).
//!
//! The tracker registers the domain on its CPU sessions ([`InferenceConfig::gnntrack_kernels`](
//! super::InferenceConfig::gnntrack_kernels)); onnxruntime then runs these kernels instead of
//! the function bodies. On CUDA sessions, and in any other host, the bodies run. Indices must lie
//! in `[0, N)`; anything else is an error of the run (no wrap-around of negative indices).

use ort::operator::{
    BoxedKernel, ComputeContext, KernelContext, Operator, OperatorDomain, OperatorInput,
    OperatorOutput,
};
use ort::value::{TensorElementType, ValueRef};

use super::dense::{self, Bias, Layer};

/// The domain's name, as the models' nodes and opset imports spell it.
pub(crate) const DOMAIN: &str = "gnntrack";

/// The domain with both operators, for a session builder.
pub(crate) fn domain() -> ort::Result<OperatorDomain> {
    OperatorDomain::new(DOMAIN)?
        .add(GnntrackOperator {
            name: "GatherPairSum",
            inputs: &PAIR_SUM_INPUTS,
            run: run_pair_sum,
        })?
        .add(GnntrackOperator {
            name: "MessageSum",
            inputs: &MESSAGE_SUM_INPUTS,
            run: run_message_sum,
        })?
        .add(GnntrackOperator {
            name: "Dense",
            inputs: &DENSE_INPUTS,
            run: |ctx| run_dense(ctx, "Dense", false),
        })?
        .add(GnntrackOperator {
            name: "DenseRelu",
            inputs: &DENSE_INPUTS,
            run: |ctx| run_dense(ctx, "DenseRelu", true),
        })
}

/// A kernel's error: the operator, then what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KernelError(String);

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Input `k` of a kernel call, or an error naming it.
fn input<'c>(ctx: &'c ComputeContext, op: &str, k: usize, name: &str) -> ort::Result<ValueRef<'c>> {
    ctx.input(k)?
        .ok_or_else(|| ort::Error::new(format!("{DOMAIN}.{op}: input `{name}` is missing")))
}

/// The dimensions of a shape of the given rank, or an error naming the input.
fn dims<const R: usize>(op: &str, name: &str, shape: &[i64]) -> Result<[usize; R], KernelError> {
    let bad = || {
        KernelError(format!(
            "{DOMAIN}.{op}: input `{name}` has shape {shape:?}: expected rank {R}"
        ))
    };
    if shape.len() != R {
        return Err(bad());
    }
    let mut out = [0usize; R];
    for (o, &d) in out.iter_mut().zip(shape) {
        *o = usize::try_from(d).map_err(|_| bad())?;
    }
    Ok(out)
}

/// The first index of `index` outside `[0, rows)`, as an error naming it.
fn check_index(
    op: &str,
    name: &str,
    index: &[i64],
    rows: usize,
    of: &str,
) -> Result<(), KernelError> {
    match index
        .iter()
        .position(|&i| usize::try_from(i).map_or(true, |i| i >= rows))
    {
        Some(e) => Err(KernelError(format!(
            "{DOMAIN}.{op}: {name}[{e}] = {} is outside the {rows} rows of `{of}`",
            index[e]
        ))),
        None => Ok(()),
    }
}

/// A row-major matrix of f32: `data` in rows of `width` values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rows<'a> {
    /// The values, row after row.
    pub data: &'a [f32],
    /// Values per row.
    pub width: usize,
}

impl Rows<'_> {
    /// Number of whole rows.
    fn count(&self) -> usize {
        self.data.len().checked_div(self.width).unwrap_or(0)
    }
}

/// `out[e] = a[src[e]] + b[dst[e]]` (`out` holds `src.len()` rows of the width of `a` and `b`).
pub(crate) fn gather_pair_sum(
    a: Rows<'_>,
    b: Rows<'_>,
    src: &[i64],
    dst: &[i64],
    out: &mut [f32],
) -> Result<(), KernelError> {
    const OP: &str = "GatherPairSum";
    let width = a.width;
    if b.width != width || dst.len() != src.len() || out.len() != src.len() * width {
        return Err(KernelError(format!(
            "{DOMAIN}.{OP}: rows of {} and {}, {} sources, {} targets and {} output values",
            a.width,
            b.width,
            src.len(),
            dst.len(),
            out.len()
        )));
    }
    if width == 0 {
        return Ok(());
    }
    check_index(OP, "src", src, a.count(), "a")?;
    check_index(OP, "dst", dst, b.count(), "b")?;
    match width {
        16 => pair_sum_fixed::<16>(a.data, b.data, src, dst, out),
        32 => pair_sum_fixed::<32>(a.data, b.data, src, dst, out),
        _ => {
            for ((row, &s), &d) in out.chunks_exact_mut(width).zip(src).zip(dst) {
                let (s, d) = (s as usize * width, d as usize * width);
                let (ra, rb) = (&a.data[s..s + width], &b.data[d..d + width]);
                for ((o, &x), &y) in row.iter_mut().zip(ra).zip(rb) {
                    *o = x + y;
                }
            }
        }
    }
    Ok(())
}

/// [`gather_pair_sum`] for rows of `H`, indices checked: whole rows the compiler vectorises.
fn pair_sum_fixed<const H: usize>(a: &[f32], b: &[f32], src: &[i64], dst: &[i64], out: &mut [f32]) {
    let (a, _) = a.as_chunks::<H>();
    let (b, _) = b.as_chunks::<H>();
    let (out, _) = out.as_chunks_mut::<H>();
    for ((row, &s), &d) in out.iter_mut().zip(src).zip(dst) {
        let (ra, rb) = (&a[s as usize], &b[d as usize]);
        for j in 0..H {
            row[j] = ra[j] + rb[j];
        }
    }
}

/// Rows `[sum over dst[e] = i of w[e] m[src[e]], sum over src[e] = i of w[e] m[dst[e]], h[i]]`
/// of `2 k + h.width` values for the rows of `h` (gates `w` and messages `m` of width k, both
/// widths at least 1); each sum takes its edges in order, from zero.
pub(crate) fn message_sum(
    w: Rows<'_>,
    m: Rows<'_>,
    h: Rows<'_>,
    src: &[i64],
    dst: &[i64],
    out: &mut [f32],
) -> Result<(), KernelError> {
    const OP: &str = "MessageSum";
    let k = m.width;
    let width = 2 * k + h.width;
    let nodes = h.count();
    if k == 0 || h.width == 0 {
        return Err(KernelError(format!(
            "{DOMAIN}.{OP}: messages {k} wide and states {} wide: both need a column",
            h.width
        )));
    }
    if w.width != k
        || dst.len() != src.len()
        || w.data.len() != src.len() * k
        || m.data.len() != nodes * k
        || h.data.len() != nodes * h.width
        || out.len() != nodes * width
    {
        return Err(KernelError(format!(
            "{DOMAIN}.{OP}: {} sources, {} targets, gates {} wide ({} values), messages {k} wide \
             ({} values), states {} wide ({} values) and {} output values do not fit",
            src.len(),
            dst.len(),
            w.width,
            w.data.len(),
            m.data.len(),
            h.width,
            h.data.len(),
            out.len()
        )));
    }
    check_index(OP, "src", src, nodes, "h")?;
    check_index(OP, "dst", dst, nodes, "h")?;
    // Each row starts as zeros, then the hit's state (rows of the bundled models' widths are
    // copied as a few moves, where a copy of a run-time width is a call to `memcpy`).
    match (2 * k, h.width) {
        (8, 16) => start_rows::<8, 16>(h.data, width, out),
        (16, 16) => start_rows::<16, 16>(h.data, width, out),
        _ => {
            for (row, state) in out
                .chunks_exact_mut(width)
                .zip(h.data.chunks_exact(h.width))
            {
                row[..2 * k].fill(0.0);
                row[2 * k..].copy_from_slice(state);
            }
        }
    }
    match k {
        4 => messages_fixed::<4>(w.data, m.data, width, src, dst, out),
        8 => messages_fixed::<8>(w.data, m.data, width, src, dst, out),
        _ => {
            for ((gate, &s), &d) in w.data.chunks_exact(k).zip(src).zip(dst) {
                let (s, d) = (s as usize, d as usize);
                let (m_s, m_d) = (&m.data[s * k..s * k + k], &m.data[d * k..d * k + k]);
                let incoming = &mut out[d * width..d * width + k];
                for ((o, &g), &x) in incoming.iter_mut().zip(gate).zip(m_s) {
                    *o += g * x;
                }
                let outgoing = &mut out[s * width + k..s * width + 2 * k];
                for ((o, &g), &x) in outgoing.iter_mut().zip(gate).zip(m_d) {
                    *o += g * x;
                }
            }
        }
    }
    Ok(())
}

/// The rows of [`message_sum`]'s output before the sums: `Z` zeros, then the hit's state of
/// `H` values (`width` is `Z + H`).
fn start_rows<const Z: usize, const H: usize>(h: &[f32], width: usize, out: &mut [f32]) {
    let (states, _) = h.as_chunks::<H>();
    for (row, state) in out.chunks_exact_mut(width).zip(states) {
        let (zeros, rest) = row.split_at_mut(Z);
        let zeros: &mut [f32; Z] = zeros.try_into().expect("width is Z + H");
        let rest: &mut [f32; H] = rest.try_into().expect("width is Z + H");
        *zeros = [0.0; Z];
        *rest = *state;
    }
}

/// The sums of [`message_sum`] for messages of `K`, indices checked, into rows of `width`.
fn messages_fixed<const K: usize>(
    w: &[f32],
    m: &[f32],
    width: usize,
    src: &[i64],
    dst: &[i64],
    out: &mut [f32],
) {
    let (w, _) = w.as_chunks::<K>();
    let (m, _) = m.as_chunks::<K>();
    for ((gate, &s), &d) in w.iter().zip(src).zip(dst) {
        let (s, d) = (s as usize, d as usize);
        let (m_s, m_d) = (&m[s], &m[d]);
        let incoming: &mut [f32; K] = (&mut out[d * width..d * width + K]).try_into().unwrap();
        for j in 0..K {
            incoming[j] += gate[j] * m_s[j];
        }
        let outgoing: &mut [f32; K] = (&mut out[s * width + K..s * width + 2 * K])
            .try_into()
            .unwrap();
        for j in 0..K {
            outgoing[j] += gate[j] * m_d[j];
        }
    }
}

/// Runs `f`, turning a panic into an error: a kernel is called from onnxruntime's C code, which a
/// panic must not cross.
fn guarded(
    op: &str,
    f: impl FnOnce() -> ort::Result<()> + std::panic::UnwindSafe,
) -> ort::Result<()> {
    std::panic::catch_unwind(f).unwrap_or_else(|_| {
        Err(ort::Error::new(format!(
            "{DOMAIN}.{op}: the kernel panicked"
        )))
    })
}

/// One operator of the domain: its name, the element types of its inputs (one f32 output) and
/// the function that computes it.
struct GnntrackOperator {
    name: &'static str,
    inputs: &'static [TensorElementType],
    run: fn(&ComputeContext) -> ort::Result<()>,
}

/// The inputs of `GatherPairSum`: `a`, `b`, `src`, `dst`.
const PAIR_SUM_INPUTS: [TensorElementType; 4] = [
    TensorElementType::Float32,
    TensorElementType::Float32,
    TensorElementType::Int64,
    TensorElementType::Int64,
];

/// The inputs of `MessageSum`: `w`, `m`, `h`, `src`, `dst`.
const MESSAGE_SUM_INPUTS: [TensorElementType; 5] = [
    TensorElementType::Float32,
    TensorElementType::Float32,
    TensorElementType::Float32,
    TensorElementType::Int64,
    TensorElementType::Int64,
];

impl Operator for GnntrackOperator {
    type Kernel<'attr> = BoxedKernel<'attr>;

    fn name(&self) -> &str {
        self.name
    }

    fn inputs(&self) -> impl IntoIterator<Item = OperatorInput> {
        self.inputs.iter().map(|&t| OperatorInput::required(t))
    }

    fn outputs(&self) -> impl IntoIterator<Item = OperatorOutput> {
        [OperatorOutput::required(TensorElementType::Float32)]
    }

    fn create_kernel<'attr>(&self, _: &KernelContext<'attr>) -> ort::Result<Self::Kernel<'attr>> {
        let (name, run) = (self.name, self.run);
        Ok(Box::new(move |ctx: &ComputeContext| {
            guarded(name, std::panic::AssertUnwindSafe(|| run(ctx)))
        }))
    }
}

/// Computes `GatherPairSum` (see the module's documentation).
fn run_pair_sum(ctx: &ComputeContext) -> ort::Result<()> {
    const OP: &str = "GatherPairSum";
    let (a, b) = (input(ctx, OP, 0, "a")?, input(ctx, OP, 1, "b")?);
    let (src, dst) = (input(ctx, OP, 2, "src")?, input(ctx, OP, 3, "dst")?);
    let (a_shape, a) = a.try_extract_tensor::<f32>()?;
    let (b_shape, b) = b.try_extract_tensor::<f32>()?;
    let (src_shape, src) = src.try_extract_tensor::<i64>()?;
    let (dst_shape, dst) = dst.try_extract_tensor::<i64>()?;
    let [_, width] = dims::<2>(OP, "a", a_shape).map_err(to_ort)?;
    let [_, b_width] = dims::<2>(OP, "b", b_shape).map_err(to_ort)?;
    let [edges] = dims::<1>(OP, "src", src_shape).map_err(to_ort)?;
    dims::<1>(OP, "dst", dst_shape).map_err(to_ort)?;
    let mut out = ctx
        .output(0, vec![edges as i64, width as i64])?
        .ok_or_else(|| ort::Error::new(format!("{DOMAIN}.{OP}: no output")))?;
    let (_, out) = out.try_extract_tensor_mut::<f32>()?;
    let (a, b) = (
        Rows { data: a, width },
        Rows {
            data: b,
            width: b_width,
        },
    );
    gather_pair_sum(a, b, src, dst, out).map_err(to_ort)
}

/// Computes `MessageSum` (see the module's documentation).
fn run_message_sum(ctx: &ComputeContext) -> ort::Result<()> {
    const OP: &str = "MessageSum";
    let (w, m, h) = (
        input(ctx, OP, 0, "w")?,
        input(ctx, OP, 1, "m")?,
        input(ctx, OP, 2, "h")?,
    );
    let (src, dst) = (input(ctx, OP, 3, "src")?, input(ctx, OP, 4, "dst")?);
    let (w_shape, w) = w.try_extract_tensor::<f32>()?;
    let (m_shape, m) = m.try_extract_tensor::<f32>()?;
    let (h_shape, h) = h.try_extract_tensor::<f32>()?;
    let (src_shape, src) = src.try_extract_tensor::<i64>()?;
    let (dst_shape, dst) = dst.try_extract_tensor::<i64>()?;
    dims::<1>(OP, "src", src_shape).map_err(to_ort)?;
    dims::<1>(OP, "dst", dst_shape).map_err(to_ort)?;
    let [_, w_width] = dims::<2>(OP, "w", w_shape).map_err(to_ort)?;
    let [_, k] = dims::<2>(OP, "m", m_shape).map_err(to_ort)?;
    let [nodes, h_width] = dims::<2>(OP, "h", h_shape).map_err(to_ort)?;
    let mut out = ctx
        .output(0, vec![nodes as i64, (2 * k + h_width) as i64])?
        .ok_or_else(|| ort::Error::new(format!("{DOMAIN}.{OP}: no output")))?;
    let (_, out) = out.try_extract_tensor_mut::<f32>()?;
    let rows = |data, width| Rows { data, width };
    message_sum(
        rows(w, w_width),
        rows(m, k),
        rows(h, h_width),
        src,
        dst,
        out,
    )
    .map_err(to_ort)
}

/// The inputs of `Dense` and `DenseRelu`: `x`, `w`, `c`.
const DENSE_INPUTS: [TensorElementType; 3] = [TensorElementType::Float32; 3];

/// Computes `Dense` or (`relu`) `DenseRelu` (see the module's documentation).
fn run_dense(ctx: &ComputeContext, op: &str, relu: bool) -> ort::Result<()> {
    let (x, w, c) = (
        input(ctx, op, 0, "x")?,
        input(ctx, op, 1, "w")?,
        input(ctx, op, 2, "c")?,
    );
    let (x_shape, x) = x.try_extract_tensor::<f32>()?;
    let (w_shape, w) = w.try_extract_tensor::<f32>()?;
    let (c_shape, c) = c.try_extract_tensor::<f32>()?;
    let [rows, k] = dims::<2>(op, "x", x_shape).map_err(to_ort)?;
    let [n, w_k] = dims::<2>(op, "w", w_shape).map_err(to_ort)?;
    let bias = dense_bias(op, rows, n, c_shape, c).map_err(to_ort)?;
    if w_k != k {
        return Err(to_ort(KernelError(format!(
            "{DOMAIN}.{op}: `x` has {k} columns, `w` {w_k}"
        ))));
    }
    let mut out = ctx
        .output(0, vec![rows as i64, n as i64])?
        .ok_or_else(|| ort::Error::new(format!("{DOMAIN}.{op}: no output")))?;
    let (_, out) = out.try_extract_tensor_mut::<f32>()?;
    let layer = Layer {
        w,
        n,
        k,
        bias,
        relu,
    };
    dense::dense(&layer, x, out);
    Ok(())
}

/// The bias `c` of a dense layer of `rows` rows of `n`: `[n]` or `[1, n]` for every row, or
/// `[rows, n]`.
fn dense_bias<'a>(
    op: &str,
    rows: usize,
    n: usize,
    shape: &[i64],
    c: &'a [f32],
) -> Result<Bias<'a>, KernelError> {
    match *shape {
        [w] | [1, w] if w as usize == n => Ok(Bias::Shared(c)),
        [m, w] if m as usize == rows && w as usize == n => Ok(Bias::PerRow(c)),
        _ => Err(KernelError(format!(
            "{DOMAIN}.{op}: input `c` has shape {shape:?}: expected [{n}] or [{rows}, {n}]"
        ))),
    }
}

fn to_ort(e: KernelError) -> ort::Error {
    ort::Error::new(e.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small pseudo-random floats, with signed zeros and a few large values.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match i % 11 {
                    0 => -0.0,
                    1 => 0.0,
                    2 => (x % 1000) as f32 * 1e3,
                    _ => ((x % 20_001) as f32 - 10_000.0) * 1e-4,
                }
            })
            .collect()
    }

    fn indices(n: usize, rows: usize, seed: u64) -> Vec<i64> {
        let mut x = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % rows as u64) as i64
            })
            .collect()
    }

    fn rows(data: &[f32], width: usize) -> Rows<'_> {
        Rows { data, width }
    }

    #[test]
    fn pair_sums_add_the_two_rows() {
        // Widths of the general loop and of both fixed-width loops.
        for h in [3, 16, 32] {
            let (n, e) = (7, 20);
            let (a, b) = (values(n * h, 1), values(n * h, 2));
            let (src, dst) = (indices(e, n, 3), indices(e, n, 4));
            let mut out = vec![f32::NAN; e * h];
            gather_pair_sum(rows(&a, h), rows(&b, h), &src, &dst, &mut out).unwrap();
            for k in 0..e {
                for j in 0..h {
                    let expected = a[src[k] as usize * h + j] + b[dst[k] as usize * h + j];
                    assert_eq!(out[k * h + j].to_bits(), expected.to_bits(), "width {h}");
                }
            }
        }
    }

    #[test]
    fn message_sums_take_the_edges_in_order_and_keep_the_state() {
        // Message widths of the general loop and of both fixed-width loops, with states of a
        // width the rows start with in general and of the fixed width.
        for (k, hw) in [(3, 5), (4, 5), (8, 5), (4, 16), (8, 16), (3, 16)] {
            let (n, e) = (6, 40);
            let (w, m, h) = (values(e * k, 5), values(n * k, 6), values(n * hw, 7));
            let (src, dst) = (indices(e, n, 8), indices(e, n, 9));
            let width = 2 * k + hw;
            let mut out = vec![f32::NAN; n * width];
            message_sum(rows(&w, k), rows(&m, k), rows(&h, hw), &src, &dst, &mut out).unwrap();
            for i in 0..n {
                for j in 0..k {
                    // The scatter-add of the function body: from zero, edge by edge.
                    let (mut incoming, mut outgoing) = (0.0f32, 0.0f32);
                    for x in 0..e {
                        if dst[x] as usize == i {
                            incoming += w[x * k + j] * m[src[x] as usize * k + j];
                        }
                        if src[x] as usize == i {
                            outgoing += w[x * k + j] * m[dst[x] as usize * k + j];
                        }
                    }
                    assert_eq!(out[i * width + j].to_bits(), incoming.to_bits(), "k {k}");
                    assert_eq!(
                        out[i * width + k + j].to_bits(),
                        outgoing.to_bits(),
                        "k {k}"
                    );
                }
                assert_eq!(
                    &out[i * width + 2 * k..(i + 1) * width],
                    &h[i * hw..(i + 1) * hw]
                );
            }
        }
    }

    #[test]
    fn indices_outside_the_rows_are_errors_naming_them() {
        let (a, b) = (values(12, 1), values(12, 2));
        let mut out = vec![0.0; 8];
        let (a, b) = (rows(&a, 4), rows(&b, 4));
        let err = gather_pair_sum(a, b, &[0, 3], &[1, 2], &mut out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "gnntrack.GatherPairSum: src[1] = 3 is outside the 3 rows of `a`"
        );
        let err = gather_pair_sum(a, b, &[0, 1], &[-1, 2], &mut out).unwrap_err();
        assert!(err.to_string().contains("dst[0] = -1"), "{err}");
        let (w, m, h) = (values(8, 3), values(12, 4), values(9, 5));
        let mut out = vec![0.0; 3 * 11];
        let err = message_sum(
            rows(&w, 4),
            rows(&m, 4),
            rows(&h, 3),
            &[0, 2],
            &[7, 1],
            &mut out,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("dst[0] = 7 is outside the 3 rows"),
            "{err}"
        );
    }

    #[test]
    fn mismatched_sizes_are_errors() {
        let (a, b) = (values(12, 1), values(12, 2));
        let (a4, b4) = (rows(&a, 4), rows(&b, 4));
        assert!(gather_pair_sum(a4, b4, &[0, 1], &[1, 2], &mut [0.0; 7]).is_err());
        assert!(gather_pair_sum(a4, b4, &[0, 1], &[1], &mut [0.0; 8]).is_err());
        assert!(gather_pair_sum(a4, rows(&b, 3), &[0, 1], &[1, 2], &mut [0.0; 8]).is_err());
        let (w, m, h) = (values(8, 3), values(12, 4), values(9, 5));
        let (m4, h3) = (rows(&m, 4), rows(&h, 3));
        let mut out = [0.0; 33];
        // Gates for one and a half edges, two given; gates of another width.
        assert!(message_sum(rows(&w[..6], 4), m4, h3, &[0, 2], &[1, 1], &mut out).is_err());
        assert!(message_sum(rows(&w, 2), m4, h3, &[0, 2], &[1, 1], &mut out).is_err());
        assert!(message_sum(rows(&w, 4), m4, h3, &[0, 2], &[1, 1], &mut [0.0; 30]).is_err());
        assert!(message_sum(rows(&w, 4), m4, h3, &[0, 2], &[1, 1], &mut out).is_ok());
        // Messages or states without a column.
        assert!(message_sum(rows(&[], 0), rows(&[], 0), h3, &[], &[], &mut [0.0; 9]).is_err());
        assert!(message_sum(rows(&w, 4), m4, rows(&[], 0), &[0, 2], &[1, 1], &mut []).is_err());
        assert!(dims::<2>("Op", "x", &[3, -1]).is_err());
        // A dense layer's bias: a row for all rows or one per row, nothing else.
        let c = values(8, 6);
        assert!(matches!(
            dense_bias("Dense", 4, 2, &[2], &c[..2]),
            Ok(Bias::Shared(_))
        ));
        assert!(matches!(
            dense_bias("Dense", 4, 2, &[1, 2], &c[..2]),
            Ok(Bias::Shared(_))
        ));
        assert!(matches!(
            dense_bias("Dense", 4, 2, &[4, 2], &c),
            Ok(Bias::PerRow(_))
        ));
        let err = dense_bias("Dense", 4, 2, &[4, 1], &c[..4]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "gnntrack.Dense: input `c` has shape [4, 1]: expected [2] or [4, 2]"
        );
        assert!(dense_bias("Dense", 4, 2, &[3], &c[..3]).is_err());
        assert!(dims::<1>("Op", "x", &[3, 1]).is_err());
    }
}
