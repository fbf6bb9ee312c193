//! The dense layer of the `gnntrack` operators `Dense` and `DenseRelu`: `y = x W^T + c`, then
//! the ReLU for `DenseRelu`, with the float operations of onnxruntime's CPU `Gemm`.
//!
//! onnxruntime's `Gemm` with a bias first copies the bias into every row of the output, then
//! adds the product to it; for the 8- and 16-wide layers of an edge classifier that copy takes
//! about a third as long as the product (2 ns per row on the machines of the benchmarks). Here
//! each output row is computed in registers and written once. Every value is the product's
//! sum over `k` in order, from zero, then the bias: with fused multiply-adds where onnxruntime's
//! kernels use them (x86-64 with AVX2 and FMA, other architectures), a product and a sum
//! otherwise, so the results are the same bit for bit as `Gemm` (and `Relu`) on one thread
//! (tested against onnxruntime on the bundled models, on an AVX-512 CPU).

/// The bias of a dense layer: one row for all, or a row per output row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bias<'a> {
    /// `[N]`: added to every row.
    Shared(&'a [f32]),
    /// `[M, N]`: row i added to output row i.
    PerRow(&'a [f32]),
}

impl<'a> Bias<'a> {
    /// The `n` values added to output row `i`.
    #[inline(always)]
    fn row(self, i: usize, n: usize) -> &'a [f32] {
        match self {
            Bias::Shared(c) => &c[..n],
            Bias::PerRow(c) => &c[i * n..(i + 1) * n],
        }
    }
}

/// A dense layer: `n` outputs from `k` inputs, its weights `w` (`n` rows of `k`), its bias and
/// whether the ReLU follows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layer<'a> {
    /// The weights, `n` rows of `k` (the `w` of `Gemm(x, w, c, transB=1)`).
    pub w: &'a [f32],
    /// Outputs per row.
    pub n: usize,
    /// Inputs per row.
    pub k: usize,
    /// The bias, `[n]` or `[m, n]`.
    pub bias: Bias<'a>,
    /// Whether the ReLU follows.
    pub relu: bool,
}

/// `out[i][j] = act(sum over t of x[i][t] w[j][t] + c)` for the rows of `x` (`layer.k` values
/// each); `out` holds as many rows of `layer.n`. The caller checks the sizes.
pub(crate) fn dense(layer: &Layer<'_>, x: &[f32], out: &mut [f32]) {
    match (layer.n, layer.k) {
        (1, 1..) => dense_single(layer, x, out),
        (8, 1..) => dense_fixed::<8>(layer, x, out),
        (16, 1..) => dense_fixed::<16>(layer, x, out),
        _ => dense_any(layer, x, out),
    }
}

/// Whether onnxruntime's float kernels on this CPU multiply and add in one rounding.
fn fused() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        true
    }
}

/// `acc + a b`, in one rounding when `FUSED`.
#[inline(always)]
fn madd<const FUSED: bool>(a: f32, b: f32, acc: f32) -> f32 {
    if FUSED {
        a.mul_add(b, acc)
    } else {
        acc + a * b
    }
}

/// The sum of `xs[t] ws[t]` in order from zero, each step in one rounding when `FUSED`.
#[inline(always)]
fn dot<const FUSED: bool>(xs: &[f32], ws: &[f32]) -> f32 {
    xs.iter()
        .zip(ws)
        .fold(0.0f32, |acc, (&a, &b)| madd::<FUSED>(a, b, acc))
}

/// The activation as onnxruntime's vector kernels compute the ReLU, `max(0, y)`: 0 where
/// `0 > y`, else `y` (-0 and NaN kept).
#[inline(always)]
fn activate(y: f32, relu: bool) -> f32 {
    if relu && 0.0 > y { 0.0 } else { y }
}

/// Any width, one value at a time (the same operations as the fixed widths).
fn dense_any(layer: &Layer<'_>, x: &[f32], out: &mut [f32]) {
    let Layer {
        w,
        n,
        k,
        bias,
        relu,
    } = *layer;
    if n == 0 {
        return;
    }
    let fused = fused();
    for (i, row) in out.chunks_exact_mut(n).enumerate() {
        let xs = &x[i * k..(i + 1) * k];
        for (j, (y, &c)) in row.iter_mut().zip(bias.row(i, n)).enumerate() {
            let ws = &w[j * k..(j + 1) * k];
            let acc = if fused {
                dot::<true>(xs, ws)
            } else {
                dot::<false>(xs, ws)
            };
            *y = activate(acc + c, relu);
        }
    }
}

/// Rows of `N` outputs (8 or 16): the weights transposed into `k` rows of `N`, then the rows of
/// `x` in blocks, each block's sums held in vector registers over `k`. The vector code is
/// chosen at run time (the build stays portable); without it, [`dense_any`].
fn dense_fixed<const N: usize>(layer: &Layer<'_>, x: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let (w, k) = (layer.w, layer.k);
        if N == 16 && has!("avx512f") && has!("fma") {
            let wt = transposed::<16>(w, k);
            // SAFETY: the CPU has the extensions the function is compiled for.
            unsafe { x86::rows_avx512(layer, &wt, x, out) };
            return;
        }
        if has!("avx2") && has!("fma") {
            let wt = transposed::<N>(w, k);
            // SAFETY: as above.
            unsafe { x86::rows_avx2::<N>(layer, &wt, x, out.as_chunks_mut::<N>().0) };
            return;
        }
    }
    dense_any(layer, x, out)
}

/// One output per row (a score layer): with FMA, eight rows side by side
/// ([`x86::single_fma`]); else [`dense_any`].
fn dense_single(layer: &Layer<'_>, x: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if fused() {
        // SAFETY: the CPU has the extension the function is compiled for.
        unsafe { x86::single_fma(layer, x, out) };
        return;
    }
    dense_any(layer, x, out)
}

/// The weights (`N` rows of `k`) as `k` rows of `N`: row t holds input t's weight of each
/// output.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn transposed<const N: usize>(w: &[f32], k: usize) -> Vec<[f32; N]> {
    let mut wt = vec![[0.0f32; N]; k];
    for (j, ws) in w.chunks_exact(k).enumerate() {
        for (t, &v) in wt.iter_mut().zip(ws) {
            t[j] = v;
        }
    }
    wt
}

/// Row `i` of the bias (`N` values).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
fn bias_row<const N: usize>(bias: Bias<'_>, i: usize) -> &[f32; N] {
    bias.row(i, N).try_into().expect("bias rows of N values")
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Layer, bias_row};
    use std::arch::x86_64::*;

    /// [`super::dense_single`] with FMA: the sums of eight rows side by side, eight independent
    /// chains of fused multiply-adds (one chain alone would wait on each addition).
    #[target_feature(enable = "fma")]
    pub(super) fn single_fma(layer: &Layer<'_>, x: &[f32], out: &mut [f32]) {
        const R: usize = 8;
        let Layer {
            w, k, bias, relu, ..
        } = *layer;
        let w = &w[..k];
        assert!(x.len() >= out.len() * k);
        let c = |i: usize| bias.row(i, 1)[0];
        let (blocks, rest) = out.as_chunks_mut::<R>();
        for (b, block) in blocks.iter_mut().enumerate() {
            let xs = &x[b * R * k..(b + 1) * R * k];
            let mut acc = [0.0f32; R];
            for (t, &wt) in w.iter().enumerate() {
                for (r, s) in acc.iter_mut().enumerate() {
                    *s = xs[r * k + t].mul_add(wt, *s);
                }
            }
            for (r, (y, &s)) in block.iter_mut().zip(&acc).enumerate() {
                *y = super::activate(s + c(b * R + r), relu);
            }
        }
        let first = blocks.len() * R;
        for (r, y) in rest.iter_mut().enumerate() {
            let i = first + r;
            let s = super::dot::<true>(&x[i * k..(i + 1) * k], w);
            *y = super::activate(s + c(i), relu);
        }
    }

    /// [`super::dense_fixed`] for rows of 16 with AVX-512: a row in one vector, eight rows at a
    /// time.
    #[target_feature(enable = "avx512f,fma")]
    pub(super) fn rows_avx512(layer: &Layer<'_>, wt: &[[f32; 16]], x: &[f32], out: &mut [f32]) {
        let Layer { k, bias, relu, .. } = *layer;
        const R: usize = 8;
        let m = out.len() / 16;
        assert!(x.len() >= m * k && wt.len() == k && out.len() == m * 16);
        let zero = _mm512_setzero_ps();
        let xp = x.as_ptr();
        // SAFETY (loads and stores below): rows i..i + R (or i) of `x` (k values each) and of
        // `out` (16 each) lie inside the slices (asserted above); `w` and the bias rows hold 16.
        let finish = |acc: __m512, c: &[f32; 16], row: usize, out: &mut [f32]| unsafe {
            let y = _mm512_add_ps(acc, _mm512_loadu_ps(c.as_ptr()));
            let y = if relu { _mm512_max_ps(zero, y) } else { y };
            _mm512_storeu_ps(out.as_mut_ptr().add(row * 16), y);
        };
        let mut i = 0;
        while i + R <= m {
            let mut acc = [zero; R];
            for (kk, w) in wt.iter().enumerate() {
                let wv = unsafe { _mm512_loadu_ps(w.as_ptr()) };
                for (r, acc) in acc.iter_mut().enumerate() {
                    let a = unsafe { _mm512_set1_ps(*xp.add((i + r) * k + kk)) };
                    *acc = _mm512_fmadd_ps(a, wv, *acc);
                }
            }
            for (r, &acc) in acc.iter().enumerate() {
                finish(acc, bias_row::<16>(bias, i + r), i + r, out);
            }
            i += R;
        }
        while i < m {
            let mut acc = zero;
            for (kk, w) in wt.iter().enumerate() {
                let wv = unsafe { _mm512_loadu_ps(w.as_ptr()) };
                let a = unsafe { _mm512_set1_ps(*xp.add(i * k + kk)) };
                acc = _mm512_fmadd_ps(a, wv, acc);
            }
            finish(acc, bias_row::<16>(bias, i), i, out);
            i += 1;
        }
    }

    /// [`super::dense_fixed`] with AVX2 and FMA: each row of `N` (8 or 16) outputs in `N / 8`
    /// vectors of eight, `64 / N` rows at a time (eight sums in registers).
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn rows_avx2<const N: usize>(
        layer: &Layer<'_>,
        wt: &[[f32; N]],
        x: &[f32],
        out: &mut [[f32; N]],
    ) {
        match N {
            8 => rows_avx2_by::<N, 1, 8>(layer, wt, x, out),
            _ => rows_avx2_by::<N, 2, 4>(layer, wt, x, out),
        }
    }

    /// [`rows_avx2`] with `H` vectors per row (`N = 8 H`), `R` rows at a time.
    #[target_feature(enable = "avx2,fma")]
    fn rows_avx2_by<const N: usize, const H: usize, const R: usize>(
        layer: &Layer<'_>,
        wt: &[[f32; N]],
        x: &[f32],
        out: &mut [[f32; N]],
    ) {
        let Layer { k, bias, relu, .. } = *layer;
        assert!(N == 8 * H, "rows of {N} in vectors of eight");
        let m = out.len();
        assert!(x.len() >= m * k && wt.len() == k);
        let zero = _mm256_setzero_ps();
        let xp = x.as_ptr();
        // SAFETY (loads and stores below): rows i..i + R (or i) of `x` (k values each) lie
        // inside `x` (asserted above); `w`, the bias rows and the output rows hold N = 8 H.
        let finish = |acc: &[__m256; H], c: &[f32; N], row: &mut [f32; N]| unsafe {
            for (h, &s) in acc.iter().enumerate() {
                let y = _mm256_add_ps(s, _mm256_loadu_ps(c.as_ptr().add(8 * h)));
                let y = if relu { _mm256_max_ps(zero, y) } else { y };
                _mm256_storeu_ps(row.as_mut_ptr().add(8 * h), y);
            }
        };
        let mut i = 0;
        while i + R <= m {
            let mut acc = [[zero; H]; R];
            for (kk, w) in wt.iter().enumerate() {
                let wv: [__m256; H] =
                    std::array::from_fn(|h| unsafe { _mm256_loadu_ps(w.as_ptr().add(8 * h)) });
                for (r, acc) in acc.iter_mut().enumerate() {
                    let a = unsafe { _mm256_set1_ps(*xp.add((i + r) * k + kk)) };
                    for (s, &w) in acc.iter_mut().zip(&wv) {
                        *s = _mm256_fmadd_ps(a, w, *s);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                finish(acc, bias_row::<N>(bias, i + r), &mut out[i + r]);
            }
            i += R;
        }
        while i < m {
            let mut acc = [zero; H];
            for (kk, w) in wt.iter().enumerate() {
                let a = unsafe { _mm256_set1_ps(*xp.add(i * k + kk)) };
                for (h, s) in acc.iter_mut().enumerate() {
                    let wv = unsafe { _mm256_loadu_ps(w.as_ptr().add(8 * h)) };
                    *s = _mm256_fmadd_ps(a, wv, *s);
                }
            }
            finish(&acc, bias_row::<N>(bias, i), &mut out[i]);
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo-random floats of both signs and several magnitudes, with signed zeros.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                match i % 13 {
                    0 => -0.0,
                    1 => 0.0,
                    _ => ((s % 40_001) as f32 - 20_000.0) * 1e-4 * (1 + s % 3) as f32,
                }
            })
            .collect()
    }

    /// The plain loops: each value's products summed in order from zero (fused where the CPU's
    /// onnxruntime kernels fuse), then the bias and the activation.
    fn reference(
        x: &[f32],
        (rows, k): (usize, usize),
        w: &[f32],
        n: usize,
        bias: Bias<'_>,
        relu: bool,
    ) -> Vec<f32> {
        let mut out = vec![f32::NAN; rows * n];
        for i in 0..rows {
            for j in 0..n {
                let mut acc = 0.0f32;
                for t in 0..k {
                    let (a, b) = (x[i * k + t], w[j * k + t]);
                    acc = if fused() {
                        a.mul_add(b, acc)
                    } else {
                        acc + a * b
                    };
                }
                let c = match bias {
                    Bias::Shared(c) => c[j],
                    Bias::PerRow(c) => c[i * n + j],
                };
                let y = acc + c;
                out[i * n + j] = if relu && y < 0.0 { 0.0 } else { y };
            }
        }
        out
    }

    fn same_bits(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits())
    }

    #[test]
    fn every_width_and_path_gives_the_plain_loops_values_bit_for_bit() {
        // Widths with vector code and one without; row counts below, at and past the blocks.
        for n in [1, 8, 16, 5, 0] {
            for k in [0, 1, 7, 16, 32] {
                for rows in [0, 1, 3, 4, 9, 17] {
                    let (x, w) = (values(rows * k, 1 + k as u64), values(n * k, 2 + n as u64));
                    let (shared, per_row) = (values(n, 3), values(rows * n, 4));
                    for bias in [Bias::Shared(&shared), Bias::PerRow(&per_row)] {
                        for relu in [false, true] {
                            let expected = reference(&x, (rows, k), &w, n, bias, relu);
                            let layer = Layer {
                                w: &w,
                                n,
                                k,
                                bias,
                                relu,
                            };
                            let mut out = vec![f32::NAN; rows * n];
                            dense(&layer, &x, &mut out);
                            let case = format!("n {n}, k {k}, {rows} rows, {bias:?}, relu {relu}");
                            assert!(same_bits(&out, &expected), "{case}");
                            let mut any = vec![f32::NAN; rows * n];
                            dense_any(&layer, &x, &mut any);
                            assert!(same_bits(&any, &expected), "{case}: one at a time");
                            #[cfg(target_arch = "x86_64")]
                            if k > 0 {
                                avx2_paths(&layer, &x, &expected, &case);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The AVX2 code for both widths, which a CPU with AVX-512 does not take for 16.
    #[cfg(target_arch = "x86_64")]
    fn avx2_paths(layer: &Layer<'_>, x: &[f32], expected: &[f32], case: &str) {
        fn run<const N: usize>(layer: &Layer<'_>, x: &[f32]) -> Vec<f32> {
            let wt = transposed::<N>(layer.w, layer.k);
            let mut out = vec![[f32::NAN; N]; x.len() / layer.k];
            // SAFETY: called only where the CPU has AVX2 and FMA.
            unsafe { x86::rows_avx2::<N>(layer, &wt, x, &mut out) };
            out.into_flattened()
        }
        use std::arch::is_x86_feature_detected as has;
        if !(has!("avx2") && has!("fma")) {
            return;
        }
        let out = match layer.n {
            8 => run::<8>(layer, x),
            16 => run::<16>(layer, x),
            _ => return,
        };
        assert!(same_bits(&out, expected), "{case}: AVX2");
    }

    #[test]
    fn the_relu_zeroes_the_negatives_and_keeps_nan() {
        // One input column of zero: each output is the bias plus a zero sum (+0).
        let per_row = [
            -1.5,
            -0.0,
            0.0,
            f32::NAN,
            2.0,
            f32::NEG_INFINITY,
            -1e-30,
            3.0,
        ];
        let x = vec![0.0f32; per_row.len() / 8];
        let mut w = vec![0.0f32; 8];
        w[0] = 1.0;
        let mut out = vec![1.0f32; 8];
        let layer = Layer {
            w: &w,
            n: 8,
            k: 1,
            bias: Bias::PerRow(&per_row),
            relu: true,
        };
        dense(&layer, &x, &mut out);
        let bits: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
        let expected = [0.0, 0.0, 0.0, f32::NAN, 2.0, 0.0, 0.0, 3.0];
        assert_eq!(bits, expected.map(f32::to_bits), "{out:?}");
    }
}
