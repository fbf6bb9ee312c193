//! Straight-line fits of candidates: x(z) and y(z) by least squares (tracks are straight in the
//! field-free tracker), an incremental form for path search, and the scattering-aware chi2.

use nalgebra::{Matrix2, Vector2};

use super::{Candidate, TrackConfig};
use crate::hits::Hits;

/// Straight-line fit of one candidate: x(z) = x0 + tx (z - z0), y(z) = y0 + ty (z - z0).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LineFit {
    /// Reference z: the z of the candidate's first (most upstream) hit, mm.
    pub z0: f64,
    /// x at z0, mm.
    pub x0: f64,
    /// y at z0, mm.
    pub y0: f64,
    /// dx/dz.
    pub tx: f64,
    /// dy/dz.
    pub ty: f64,
    /// Covariance of (x0, tx), mm and rad.
    pub cov_x: [[f64; 2]; 2],
    /// Covariance of (y0, ty).
    pub cov_y: [[f64; 2]; 2],
    /// Chi-square of both projections.
    pub chi2: f64,
    /// Degrees of freedom: 2 n - 4.
    pub ndf: i32,
    /// Momentum estimate k / x(momentum_reference_z), GeV (0 when x <= 0).
    pub p_estimate: f64,
}

impl LineFit {
    /// x at `z`.
    pub fn x_at(&self, z: f64) -> f64 {
        self.x0 + self.tx * (z - self.z0)
    }
    /// y at `z`.
    pub fn y_at(&self, z: f64) -> f64 {
        self.y0 + self.ty * (z - self.z0)
    }
}

/// Momentum estimate p = k / x at the reference plane, 0 when x <= 0.
fn momentum(x_ref: f64, config: &TrackConfig) -> f64 {
    if x_ref > 0.0 {
        config.momentum_constant_mm_gev / x_ref
    } else {
        0.0
    }
}

/// How much wider than at `scattering_momentum_gev` multiple scattering makes the paths of a
/// positron of momentum `p`: p0 / p for lower momenta, 1 otherwise (and without an estimate).
pub(crate) fn scattering_scale_of(p: f64, config: &TrackConfig) -> f64 {
    if p > 0.0 {
        (config.scattering_momentum_gev / p).clamp(1.0, 10.0)
    } else {
        1.0
    }
}

/// [`scattering_scale_of`] for a fitted line.
pub(crate) fn scattering_scale(fit: &LineFit, config: &TrackConfig) -> f64 {
    scattering_scale_of(fit.p_estimate, config)
}

/// Fits x(z) and y(z) by weighted least squares with equal weights 1/sigma^2.
/// Returns `None` for fewer than two distinct z values.
pub fn fit_line(
    x: &[f64],
    y: &[f64],
    z: &[f64],
    sigma: f64,
    config: &TrackConfig,
) -> Option<LineFit> {
    fit_points(z.len(), |i| (x[i], y[i], z[i]), sigma, config)
}

/// [`fit_line`] over `n` points given by `point(i) = (x, y, z)`.
fn fit_points(
    n: usize,
    point: impl Fn(usize) -> (f64, f64, f64),
    sigma: f64,
    config: &TrackConfig,
) -> Option<LineFit> {
    let z0 = (0..n).map(|i| point(i).2).fold(f64::INFINITY, f64::min);
    let w = 1.0 / (sigma * sigma);
    // Normal equations of [1, z - z0] (shared by both projections).
    let mut a = Matrix2::zeros();
    let (mut bx, mut by) = (Vector2::zeros(), Vector2::zeros());
    for i in 0..n {
        let (x, y, z) = point(i);
        let row = Vector2::new(1.0, z - z0);
        a += w * row * row.transpose();
        bx += w * x * row;
        by += w * y * row;
    }
    let cov = a.try_inverse()?;
    if !cov.iter().all(|v| v.is_finite()) || a.determinant().abs() < 1e-12 * w * w {
        return None;
    }
    let px = cov * bx;
    let py = cov * by;
    let mut chi2 = 0.0;
    for i in 0..n {
        let (x, y, z) = point(i);
        let d = z - z0;
        chi2 += w * ((x - px[0] - px[1] * d).powi(2) + (y - py[0] - py[1] * d).powi(2));
    }
    let cov_arr = [[cov[(0, 0)], cov[(0, 1)]], [cov[(1, 0)], cov[(1, 1)]]];
    let mut fit = LineFit {
        z0,
        x0: px[0],
        y0: py[0],
        tx: px[1],
        ty: py[1],
        cov_x: cov_arr,
        cov_y: cov_arr,
        chi2,
        ndf: 2 * n as i32 - 4,
        p_estimate: 0.0,
    };
    fit.p_estimate = momentum(fit.x_at(config.momentum_reference_z), config);
    Some(fit)
}

/// Line fit of a set of hits (any order).
fn fit_members(hits: &Hits, members: &[u32], config: &TrackConfig) -> Option<LineFit> {
    fit_points(
        members.len(),
        |i| {
            let h = members[i] as usize;
            (hits.x[h], hits.y[h], hits.z[h])
        },
        config.hit_sigma_mm,
        config,
    )
}

/// Line fit of a set of hits (any order); also returns their z.
pub(crate) fn fit_hits(
    hits: &Hits,
    members: &[u32],
    config: &TrackConfig,
) -> Option<(LineFit, Vec<f64>)> {
    let fit = fit_members(hits, members, config)?;
    Some((fit, members.iter().map(|&h| hits.z[h as usize]).collect()))
}

/// Running sums of an unweighted straight-line fit, so that a path search can add one hit at a
/// time and read the chi2 in constant time. Coordinates are taken relative to the first hit.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LineSums {
    origin: [f64; 3],
    n: f64,
    sd: f64,
    sdd: f64,
    sx: f64,
    sdx: f64,
    sxx: f64,
    sy: f64,
    sdy: f64,
    syy: f64,
}

/// The line of [`LineSums::fitted`]: kept where many hits are measured against one line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FittedLine {
    origin: [f64; 3],
    /// (x, dx/dz, y, dy/dz) at the origin's z, relative to its x and y.
    line: [f64; 4],
    sigma: f64,
}

impl FittedLine {
    /// Distance in x and y of hit `h` from the line, in units of the scattering-widened
    /// uncertainty.
    #[inline]
    pub(crate) fn pull(&self, hits: &Hits, h: u32) -> f64 {
        let [ax, tx, ay, ty] = self.line;
        let i = h as usize;
        let d = hits.z[i] - self.origin[2];
        let dx = hits.x[i] - self.origin[0] - ax - tx * d;
        let dy = hits.y[i] - self.origin[1] - ay - ty * d;
        (dx * dx + dy * dy).sqrt() / self.sigma
    }
}

impl LineSums {
    /// Sums of the single hit `h`.
    #[inline]
    pub(crate) fn start(hits: &Hits, h: u32) -> LineSums {
        let i = h as usize;
        LineSums {
            origin: [hits.x[i], hits.y[i], hits.z[i]],
            n: 1.0,
            ..LineSums::default()
        }
    }

    /// Adds hit `h`.
    #[inline]
    pub(crate) fn add(&mut self, hits: &Hits, h: u32) {
        let i = h as usize;
        let (x, y, d) = (
            hits.x[i] - self.origin[0],
            hits.y[i] - self.origin[1],
            hits.z[i] - self.origin[2],
        );
        self.n += 1.0;
        self.sd += d;
        self.sdd += d * d;
        self.sx += x;
        self.sdx += d * x;
        self.sxx += x * x;
        self.sy += y;
        self.sdy += d * y;
        self.syy += y * y;
    }

    /// The fitted line as (x, dx/dz, y, dy/dz) at the first hit's z, relative to its x and y;
    /// `None` without two distinct z.
    #[inline]
    fn line(&self) -> Option<[f64; 4]> {
        let det = self.n * self.sdd - self.sd * self.sd;
        if self.n < 2.0 || det <= 1e-9 * self.n * self.sdd.max(1.0) {
            return None;
        }
        let tx = (self.n * self.sdx - self.sd * self.sx) / det;
        let ty = (self.n * self.sdy - self.sd * self.sy) / det;
        Some([
            (self.sx - tx * self.sd) / self.n,
            tx,
            (self.sy - ty * self.sd) / self.n,
            ty,
        ])
    }

    /// The fitted line with its scattering-widened uncertainty, to measure the pulls of hits;
    /// `None` without a line.
    pub(crate) fn fitted(&self, config: &TrackConfig) -> Option<FittedLine> {
        let line = self.line()?;
        let [ax, tx, ..] = line;
        let x_ref = self.origin[0] + ax + tx * (config.momentum_reference_z - self.origin[2]);
        let sigma = config.hit_sigma_mm * scattering_scale_of(momentum(x_ref, config), config);
        Some(FittedLine {
            origin: self.origin,
            line,
            sigma,
        })
    }

    /// Distance in x and y of hit `h` from the fitted line, in units of the scattering-widened
    /// uncertainty; `None` without a line.
    #[cfg(test)]
    pub(crate) fn pull(&self, hits: &Hits, h: u32, config: &TrackConfig) -> Option<f64> {
        Some(self.fitted(config)?.pull(hits, h))
    }

    /// Chi2 with the scattering-widened uncertainty and its ndf (2 n - 4); `None` for fewer
    /// than three hits or without two distinct z.
    #[inline]
    pub(crate) fn chi2(&self, config: &TrackConfig) -> Option<(f64, i32)> {
        if self.n < 3.0 {
            return None;
        }
        let [ax, tx, ay, ty] = self.line()?;
        let rss = (self.sxx - ax * self.sx - tx * self.sdx).max(0.0)
            + (self.syy - ay * self.sy - ty * self.sdy).max(0.0);
        let x_ref = self.origin[0] + ax + tx * (config.momentum_reference_z - self.origin[2]);
        let sigma = config.hit_sigma_mm * scattering_scale_of(momentum(x_ref, config), config);
        Some((rss / (sigma * sigma), 2 * self.n as i32 - 4))
    }
}

/// Fits a candidate's hits, dropping outliers if configured; returns the hits kept and the fit.
pub(crate) fn fit_candidate(
    hits: &Hits,
    mut members: Vec<u32>,
    config: &TrackConfig,
) -> Option<Candidate> {
    members.sort_by(|&a, &b| {
        hits.z[a as usize]
            .total_cmp(&hits.z[b as usize])
            .then(a.cmp(&b))
    });
    members.dedup();
    loop {
        let fit = fit_members(hits, &members, config)?;
        let Some(limit) = config.outlier_chi2 else {
            return Some(Candidate { hits: members, fit });
        };
        if members.len() <= config.min_hits.max(3) {
            return Some(Candidate { hits: members, fit });
        }
        let s2 = (config.hit_sigma_mm * scattering_scale(&fit, config)).powi(2);
        let (worst, worst_chi2) = members
            .iter()
            .enumerate()
            .map(|(k, &h)| {
                let (x, y, z) = (hits.x[h as usize], hits.y[h as usize], hits.z[h as usize]);
                let c = ((x - fit.x_at(z)).powi(2) + (y - fit.y_at(z)).powi(2)) / s2;
                (k, c)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("non-empty");
        if worst_chi2 <= limit {
            return Some(Candidate { hits: members, fit });
        }
        members.remove(worst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hits::Hit;
    use crate::tracks::test_support::track_hits;
    use approx::assert_relative_eq;

    #[test]
    fn fit_recovers_exact_lines() {
        let cfg = TrackConfig::default();
        let h = track_hits(&[(150.0, 0.0789, 0.3, -0.0002)], 0.0, 1);
        let f = fit_line(&h.x, &h.y, &h.z, 0.01, &cfg).unwrap();
        assert_relative_eq!(f.x0, 150.0, epsilon = 1e-9);
        assert_relative_eq!(f.tx, 0.0789, epsilon = 1e-12);
        assert_relative_eq!(f.y0, 0.3, epsilon = 1e-9);
        assert_relative_eq!(f.ty, -0.0002, epsilon = 1e-12);
        assert!(f.chi2 < 1e-12);
        assert_eq!(f.ndf, 4);
        assert_relative_eq!(f.p_estimate, 673.0 / 150.0, epsilon = 1e-9);
        // Covariance of the intercept for 4 equally spaced points: sigma^2 * sum(d^2) / det.
        let d = [0.0, 100.0, 200.0, 300.0];
        let s2: f64 = d.iter().map(|v| v * v).sum();
        let s1: f64 = d.iter().sum();
        let det = 4.0 * s2 - s1 * s1;
        assert_relative_eq!(f.cov_x[0][0], 1e-4 * s2 / det, max_relative = 1e-9);
        assert_relative_eq!(f.cov_x[1][1], 1e-4 * 4.0 / det, max_relative = 1e-9);
    }

    #[test]
    fn fit_on_smeared_lines_has_sensible_pulls_and_chi2() {
        let cfg = TrackConfig::default();
        let sigma = 0.01;
        let (mut pull2, mut chi2, mut ndf) = (0.0, 0.0, 0.0);
        let n = 400;
        for t in 0..n {
            let h = track_hits(
                &[(100.0 + t as f64 * 0.5, 0.05, 0.0, 0.0001)],
                sigma,
                100 + t,
            );
            let f = fit_line(&h.x, &h.y, &h.z, sigma, &cfg).unwrap();
            let x_true = 100.0 + t as f64 * 0.5;
            pull2 += (f.x0 - x_true).powi(2) / f.cov_x[0][0];
            chi2 += f.chi2;
            ndf += f.ndf as f64;
        }
        // Both should be ~1 on average; 400 samples give a few per cent of spread.
        assert_relative_eq!(pull2 / n as f64, 1.0, max_relative = 0.2);
        assert_relative_eq!(chi2 / ndf, 1.0, max_relative = 0.1);
    }

    #[test]
    fn outliers_are_removed_when_asked() {
        let mut h = track_hits(&[(200.0, 0.1, 0.0, 0.0)], 0.0, 3);
        h.push(
            Hit {
                hit_id: 99,
                x: 200.0 + 0.1 * 150.0 + 2.0,
                y: 0.0,
                z: 3956.0125 + 150.0,
                layer: 1,
                stave: 1,
            },
            None,
        );
        let cfg = TrackConfig {
            outlier_chi2: Some(25.0),
            ..TrackConfig::default()
        };
        let c = fit_candidate(&h, (0..5).collect(), &cfg).unwrap();
        assert_eq!(c.hits, vec![0, 1, 2, 3], "the off-line hit 4 is dropped");
        assert!(c.fit.chi2 < 1e-9);
        let keep_all = TrackConfig {
            outlier_chi2: None,
            ..TrackConfig::default()
        };
        let keep = fit_candidate(&h, (0..5).collect(), &keep_all).unwrap();
        assert_eq!(keep.hits.len(), 5);
    }

    #[test]
    fn running_sums_give_the_chi2_of_the_full_fit() {
        let cfg = TrackConfig::default();
        for seed in 0..20 {
            let h = track_hits(&[(120.0 + seed as f64, 0.06, 0.1, 0.0003)], 0.02, seed);
            let members = [0u32, 1, 2, 3];
            let mut sums = LineSums::start(&h, 0);
            for m in 1..4 {
                sums.add(&h, m);
            }
            let (chi2, ndf) = sums.chi2(&cfg).unwrap();
            let (fit, _) = fit_hits(&h, &members, &cfg).unwrap();
            let scale = scattering_scale(&fit, &cfg);
            assert_eq!(ndf, fit.ndf);
            assert_relative_eq!(chi2 * scale * scale, fit.chi2, max_relative = 1e-6);
        }
        // Pull of a hit from the line of three others: 0.1 mm off is 10 uncertainties of
        // 0.01 mm at this momentum (673 / 150 GeV, no widening).
        let mut h = track_hits(&[(150.0, 0.06, 0.1, 0.0003)], 0.0, 1);
        let mut three = LineSums::start(&h, 0);
        three.add(&h, 1);
        three.add(&h, 2);
        assert!(three.pull(&h, 3, &cfg).unwrap() < 1e-6);
        h.y[3] += 0.1;
        assert_relative_eq!(three.pull(&h, 3, &cfg).unwrap(), 10.0, max_relative = 1e-6);
        // Two hits have no chi2.
        let h = track_hits(&[(120.0, 0.06, 0.1, 0.0003)], 0.0, 1);
        let mut two = LineSums::start(&h, 0);
        two.add(&h, 1);
        assert!(two.chi2(&cfg).is_none());
    }
}
