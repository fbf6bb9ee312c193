//! Hand-made crossings for the unit tests of track building.

use rand::{RngExt, SeedableRng};

use crate::hits::{Hit, Hits};

pub(crate) fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

/// Four hits per line (x0, tx, y0, ty) on the LUXE layers, hit `4 t + layer` for line `t`,
/// smeared by `noise_sigma` mm.
pub(crate) fn track_hits(lines: &[(f64, f64, f64, f64)], noise_sigma: f64, seed: u64) -> Hits {
    let mut r = rng(seed);
    let mut h = Hits::new(false);
    for (t, &(x0, tx, y0, ty)) in lines.iter().enumerate() {
        for layer in 0..4u8 {
            let z = 3956.0125 + 100.0 * layer as f64;
            let gauss = |r: &mut rand_chacha::ChaCha8Rng| {
                // Box-Muller from two uniforms.
                let (u, v): (f64, f64) = (r.random_range(1e-12..1.0), r.random());
                (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
            };
            h.push(
                Hit {
                    hit_id: (t * 4 + layer as usize) as u64,
                    x: x0 + tx * (z - 3956.0125) + noise_sigma * gauss(&mut r),
                    y: y0 + ty * (z - 3956.0125) + noise_sigma * gauss(&mut r),
                    z,
                    layer,
                    stave: 0,
                },
                None,
            );
        }
    }
    h
}

/// `m` edges between random nodes below `n` (loops and repeats included); none when `n` is 0.
pub(crate) fn random_edges(r: &mut impl rand::Rng, n: usize, m: usize) -> Vec<(u32, u32)> {
    if n == 0 {
        return Vec::new();
    }
    (0..r.random_range(0..m.max(1)))
        .map(|_| (r.random_range(0..n as u32), r.random_range(0..n as u32)))
        .collect()
}
