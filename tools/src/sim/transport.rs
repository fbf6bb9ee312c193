//! Transport of a charged particle from the interaction point through a dipole to the tracker.
//!
//! The dipole is a region of uniform field along y between two z planes; inside it the track is an
//! exact circular arc in the x-z plane (and a straight line in y against the arc length). Outside
//! the field, tracks are straight lines. Multiple scattering is applied as a Gaussian kick of
//! the slopes at every stave crossed (Highland formula).

use serde::{Deserialize, Serialize};

/// Speed of light factor: radius [m] = p [GeV] / (0.299792458 * B [T]).
const GEV_PER_TESLA_METRE: f64 = 0.299_792_458;

/// A uniform dipole field along y filling `z_start..z_end`; positive fields bend positrons to +x.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Magnet {
    /// Field strength, T.
    pub field_t: f64,
    /// Entrance plane, mm.
    pub z_start: f64,
    /// Exit plane, mm.
    pub z_end: f64,
}

impl Default for Magnet {
    /// The LUXE dipole at 0.95 T over z = 1434-2672 mm.
    fn default() -> Self {
        Magnet {
            field_t: 0.95,
            z_start: 1434.0,
            z_end: 2672.0,
        }
    }
}

impl Magnet {
    /// z of the magnet centre, mm: where straight tracks behind the magnet point back to.
    pub fn z_centre(&self) -> f64 {
        0.5 * (self.z_start + self.z_end)
    }

    /// Expected x * p on a plane at `z` for a particle from the interaction point, mm GeV
    /// (small-angle approximation: the kick p_x = 0.3 B L, seen from the magnet centre).
    pub fn x_times_p_at(&self, z: f64) -> f64 {
        GEV_PER_TESLA_METRE * self.field_t * (self.z_end - self.z_start) / 1000.0
            * (z - self.z_centre())
    }
}

/// A particle state on a z plane: position (mm), slopes dx/dz and dy/dz, momentum (GeV).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackState {
    /// x, mm.
    pub x: f64,
    /// y, mm.
    pub y: f64,
    /// z, mm.
    pub z: f64,
    /// dx/dz.
    pub tx: f64,
    /// dy/dz.
    pub ty: f64,
    /// Momentum magnitude, GeV.
    pub p: f64,
}

impl TrackState {
    /// A particle leaving the origin with momentum components (GeV); `pz` must be positive.
    pub fn from_origin(px: f64, py: f64, pz: f64) -> TrackState {
        TrackState {
            x: 0.0,
            y: 0.0,
            z: 0.0,
            tx: px / pz,
            ty: py / pz,
            p: (px * px + py * py + pz * pz).sqrt(),
        }
    }

    /// Straight-line move to the plane at `z`.
    pub fn drift_to(&mut self, z: f64) {
        let dz = z - self.z;
        self.x += self.tx * dz;
        self.y += self.ty * dz;
        self.z = z;
    }

    /// Moves through the dipole to its exit plane along the exact arc (drifting to its entrance
    /// first). Returns `false` when the particle curls up inside the field and never leaves it
    /// downstream.
    pub fn through_magnet(&mut self, magnet: &Magnet) -> bool {
        if self.z < magnet.z_start {
            self.drift_to(magnet.z_start);
        }
        if self.z >= magnet.z_end || magnet.field_t == 0.0 {
            return true;
        }
        // Direction in x-z: angle phi from the z axis towards +x. With n = (1, tx, ty)/|.|,
        // p_xz = p * sqrt(1 + tx^2) / sqrt(1 + tx^2 + ty^2).
        let norm = (1.0 + self.tx * self.tx + self.ty * self.ty).sqrt();
        let p_xz = self.p * (1.0 + self.tx * self.tx).sqrt() / norm;
        let py = self.p * self.ty / norm;
        let radius = p_xz / (GEV_PER_TESLA_METRE * magnet.field_t) * 1000.0; // mm, signed
        let phi0 = self.tx.atan();
        let length = magnet.z_end - self.z;
        let sin1 = phi0.sin() + length / radius;
        if sin1.abs() >= 1.0 {
            return false;
        }
        let phi1 = sin1.asin();
        self.x += radius * (phi0.cos() - phi1.cos());
        let arc = radius * (phi1 - phi0);
        self.y += py / p_xz * arc;
        self.z = magnet.z_end;
        self.tx = phi1.tan();
        self.ty = py / (p_xz * phi1.cos());
        true
    }

    /// Applies a multiple-scattering kick: `kick_x`, `kick_y` are standard normal draws, scaled
    /// by the Highland angle for material `x_over_x0` (per plane, normal incidence).
    pub fn scatter(&mut self, x_over_x0: f64, kick_x: f64, kick_y: f64) {
        let path = x_over_x0 * (1.0 + self.tx * self.tx + self.ty * self.ty).sqrt();
        let theta0 = highland_theta0(self.p, path);
        self.tx += theta0 * kick_x * (1.0 + self.tx * self.tx);
        self.ty += theta0 * kick_y * (1.0 + self.ty * self.ty);
    }
}

/// Highland width of the projected scattering angle, rad, for a singly charged relativistic
/// particle of momentum `p` (GeV) through `x_over_x0` radiation lengths.
pub fn highland_theta0(p: f64, x_over_x0: f64) -> f64 {
    if x_over_x0 <= 0.0 {
        return 0.0;
    }
    0.0136 / p * x_over_x0.sqrt() * (1.0 + 0.038 * x_over_x0.ln())
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn highland_matches_luxe_figure() {
        // LUXE quotes theta0 ~ 0.64 mrad / p for x/X0 = 0.357 %.
        assert_relative_eq!(highland_theta0(1.0, 0.00357), 0.64e-3, max_relative = 0.01);
        assert_relative_eq!(highland_theta0(4.0, 0.00357), 0.16e-3, max_relative = 0.01);
    }

    #[test]
    fn arc_is_exact() {
        let m = Magnet::default();
        for p in [1.5, 4.0, 12.0] {
            let mut s = TrackState::from_origin(0.0, 0.0, p);
            assert!(s.through_magnet(&m));
            let r = p / (GEV_PER_TESLA_METRE * m.field_t) * 1000.0;
            let l = m.z_end - m.z_start;
            // Circle through the entrance with centre at (r, z_start): exit on it, tangent to it.
            assert_relative_eq!((s.x - r).powi(2) + l * l, r * r, max_relative = 1e-12);
            let phi = (l / r).asin();
            assert_relative_eq!(s.tx, phi.tan(), max_relative = 1e-12);
        }
    }

    #[test]
    fn lines_behind_magnet_point_to_its_centre() {
        let m = Magnet::default();
        let mut s = TrackState::from_origin(0.0, 0.0, 5.0);
        assert!(s.through_magnet(&m));
        s.drift_to(3956.0);
        let z_back = s.z - s.x / s.tx;
        assert!((z_back - m.z_centre()).abs() < 5.0, "{z_back}");
        // x * p on the first layer close to the small-angle estimate (673 mm GeV at 0.95 T).
        let xp = s.x * s.p;
        assert_relative_eq!(xp, m.x_times_p_at(3956.0), max_relative = 0.01);
        assert!((xp - 673.0).abs() < 673.0 * 0.02, "{xp}");
    }

    #[test]
    fn y_motion_is_straight_against_arc_length() {
        let m = Magnet {
            field_t: 1.5,
            ..Magnet::default()
        };
        let mut s = TrackState::from_origin(0.0, 0.002, 3.0);
        assert!(s.through_magnet(&m));
        // Longitudinal momentum drops as the track turns; py is conserved.
        let norm = (1.0 + s.tx * s.tx + s.ty * s.ty).sqrt();
        assert_relative_eq!(s.p * s.ty / norm, 0.002, max_relative = 1e-9);
        assert!(s.y > 0.002 / 3.0 * m.z_end);
    }

    #[test]
    fn low_momentum_curls_up() {
        let m = Magnet::default();
        let mut s = TrackState::from_origin(0.0, 0.0, 0.2);
        assert!(!s.through_magnet(&m));
    }
}
