//! Detector response: chip acceptance, efficiency, resolution, noise and merging of close hits.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Poisson};

use super::{SimConfig, TrueParticle};
use gnntrack::geometry::{Detector, PlaneRef};
use gnntrack::hits::{Hit, HitTruth, Hits};

use super::transport::TrackState;

/// A hit before merging: which chip it is on, where, and who made it.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawHit {
    layer: u8,
    stave: u8,
    chip: u16,
    x: f64,
    y: f64,
    z: f64,
    particle_id: u64,
    particle_p: f64,
}

impl RawHit {
    fn chip_key(&self) -> u32 {
        (u32::from(self.layer) << 24) | (u32::from(self.stave) << 16) | u32::from(self.chip)
    }
}

/// Transports one particle and returns the hits it leaves on active chip areas.
pub(super) fn particle_hits(
    detector: &Detector,
    planes: &[PlaneRef],
    config: &SimConfig,
    particle: &TrueParticle,
    rng: &mut ChaCha8Rng,
) -> Vec<RawHit> {
    let normal = Normal::new(0.0, 1.0).expect("unit normal");
    let mut state = TrackState::from_origin(particle.px, particle.py, particle.pz);
    let mut hits = Vec::new();
    if !state.through_magnet(&config.magnet) {
        return hits;
    }
    let p = particle.p();
    for plane in planes {
        state.drift_to(plane.z);
        let stave = detector
            .stave(plane.layer, plane.stave)
            .expect("planes come from the detector");
        let in_envelope = state.x >= stave.x_min()
            && state.x <= stave.x_max()
            && state.y >= stave.y_min()
            && state.y <= stave.y_max();
        // Always draw the same numbers per plane so that one particle's stream does not
        // depend on where it went.
        let detected = rng.random::<f64>() < config.hit_efficiency;
        let (dx, dy) = (normal.sample(rng), normal.sample(rng));
        let (kick_x, kick_y) = (normal.sample(rng), normal.sample(rng));
        if let Some(chip) = stave.chip_at(state.x, state.y)
            && detected
        {
            hits.push(RawHit {
                layer: plane.layer,
                stave: plane.stave,
                chip: chip as u16,
                x: state.x + config.resolution_mm * dx,
                y: state.y + config.resolution_mm * dy,
                z: plane.z,
                particle_id: particle.id,
                particle_p: p,
            });
        }
        if in_envelope && config.multiple_scattering {
            state.scatter(detector.material_x0, kick_x, kick_y);
        }
    }
    hits
}

/// Noise hits at random pixel centres: Poisson(rate x pixels) per chip, each chip with its own
/// random stream from `chip_rng(global chip index)`.
pub(super) fn noise_hits(
    detector: &Detector,
    config: &SimConfig,
    chip_rng: impl Fn(u64) -> ChaCha8Rng,
) -> Vec<RawHit> {
    let mut out = Vec::new();
    if config.noise_per_pixel <= 0.0 {
        return out;
    }
    let mut global = 0u64;
    for (l, layer) in detector.layers.iter().enumerate() {
        for (s, stave) in layer.staves.iter().enumerate() {
            for (c, chip) in stave.chips.iter().enumerate() {
                let mut rng = chip_rng(global);
                global += 1;
                let nx = ((chip.x_max - chip.x_min) / detector.pixel_pitch_x + 1e-6).floor();
                let ny = ((chip.y_max - chip.y_min) / detector.pixel_pitch_y + 1e-6).floor();
                let mean = config.noise_per_pixel * nx * ny;
                if mean <= 0.0 {
                    continue;
                }
                let count = Poisson::new(mean)
                    .map(|d| d.sample(&mut rng))
                    .unwrap_or(0.0) as usize;
                for _ in 0..count {
                    let col = (rng.random::<f64>() * nx).floor();
                    let row = (rng.random::<f64>() * ny).floor();
                    out.push(RawHit {
                        layer: l as u8,
                        stave: s as u8,
                        chip: c as u16,
                        x: chip.x_min + (col + 0.5) * detector.pixel_pitch_x,
                        y: chip.y_min + (row + 0.5) * detector.pixel_pitch_y,
                        z: stave.z,
                        particle_id: 0,
                        particle_p: 0.0,
                    });
                }
            }
        }
    }
    out
}

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        parent[i as usize] = parent[parent[i as usize] as usize];
        i = parent[i as usize];
    }
    i
}

/// Merges hits on one chip closer than the merge distance (measured in pixels, so x and y are
/// scaled by their pitches) transitively,
/// then returns them sorted by layer, stave and x with `hit_id` = position.
///
/// A merged hit sits at the mean position of its parts; its truth is the particle with most
/// parts (a particle beats noise on a tie, then the lower id wins), its second particle the next
/// positron in that order (0 if none), and it is flagged `merged`.
pub(super) fn merge_and_sort(
    detector: &Detector,
    config: &SimConfig,
    mut raw: Vec<RawHit>,
) -> Hits {
    raw.sort_by(|a, b| {
        a.chip_key()
            .cmp(&b.chip_key())
            .then(a.x.total_cmp(&b.x))
            .then(a.y.total_cmp(&b.y))
            .then(a.particle_id.cmp(&b.particle_id))
    });
    let max_dx = config.merge_distance_pixels * detector.pixel_pitch_x;
    let max_dy = config.merge_distance_pixels * detector.pixel_pitch_y;
    let mut parent: Vec<u32> = (0..raw.len() as u32).collect();
    if max_dx > 0.0 && max_dy > 0.0 {
        for i in 0..raw.len() {
            for j in i + 1..raw.len() {
                if raw[j].chip_key() != raw[i].chip_key() || raw[j].x - raw[i].x >= max_dx {
                    break;
                }
                let (u, v) = (
                    (raw[j].x - raw[i].x) / max_dx,
                    (raw[j].y - raw[i].y) / max_dy,
                );
                if u * u + v * v < 1.0 {
                    let (a, b) = (find(&mut parent, i as u32), find(&mut parent, j as u32));
                    if a != b {
                        parent[a.max(b) as usize] = a.min(b);
                    }
                }
            }
        }
    }
    // Groups in order of their first member (the root is the smallest index).
    let mut members: Vec<Vec<u32>> = Vec::new();
    let mut group_of_root = vec![u32::MAX; raw.len()];
    for i in 0..raw.len() as u32 {
        let root = find(&mut parent, i) as usize;
        if group_of_root[root] == u32::MAX {
            group_of_root[root] = members.len() as u32;
            members.push(Vec::new());
        }
        members[group_of_root[root] as usize].push(i);
    }
    let mut merged: Vec<(RawHit, bool, u64)> = members
        .iter()
        .map(|group| {
            if group.len() == 1 {
                return (raw[group[0] as usize], false, 0);
            }
            let n = group.len() as f64;
            let mut hit = raw[group[0] as usize];
            hit.x = group.iter().map(|&i| raw[i as usize].x).sum::<f64>() / n;
            hit.y = group.iter().map(|&i| raw[i as usize].y).sum::<f64>() / n;
            let mut ids: Vec<(u64, f64)> = group
                .iter()
                .map(|&i| (raw[i as usize].particle_id, raw[i as usize].particle_p))
                .collect();
            ids.sort_by_key(|&(id, _)| id);
            // Runs of equal ids, ranked: most parts first, a particle before noise, lower id.
            let mut runs: Vec<(usize, (u64, f64))> = Vec::new();
            let mut k = 0;
            while k < ids.len() {
                let run = ids[k..].iter().take_while(|e| e.0 == ids[k].0).count();
                runs.push((run, ids[k]));
                k += run;
            }
            runs.sort_by_key(|&(run, (id, _))| (std::cmp::Reverse(run), id == 0, id));
            hit.particle_id = runs[0].1.0;
            hit.particle_p = runs[0].1.1;
            let other = runs
                .iter()
                .skip(1)
                .map(|&(_, (id, _))| id)
                .find(|&id| id != 0)
                .unwrap_or(0);
            (hit, true, other)
        })
        .collect();
    merged.sort_by(|(a, _, _), (b, _, _)| {
        (a.layer, a.stave)
            .cmp(&(b.layer, b.stave))
            .then(a.x.total_cmp(&b.x))
            .then(a.y.total_cmp(&b.y))
    });
    let mut hits = Hits::with_capacity(merged.len(), true);
    for (i, (h, was_merged, other)) in merged.into_iter().enumerate() {
        hits.push(
            Hit {
                hit_id: i as u64,
                x: h.x,
                y: h.y,
                z: h.z,
                layer: h.layer,
                stave: h.stave,
            },
            Some(HitTruth {
                particle_id: h.particle_id,
                particle_p: h.particle_p,
                merged: was_merged,
                other_particle_id: other,
            }),
        );
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(x: f64, y: f64, particle_id: u64) -> RawHit {
        RawHit {
            layer: 0,
            stave: 0,
            chip: 0,
            x,
            y,
            z: 3950.0125,
            particle_id,
            particle_p: particle_id as f64,
        }
    }

    #[test]
    fn close_hits_merge_with_majority_truth() {
        let d = Detector::preset("luxe").unwrap();
        let c = SimConfig::default();
        // Three hits within two pixels of each other (a chain), one far away.
        let hits = merge_and_sort(
            &d,
            &c,
            vec![
                raw(100.0, 0.0, 5),
                raw(100.03, 0.01, 0),
                raw(100.06, 0.0, 2),
                raw(101.0, 0.0, 9),
            ],
        );
        assert_eq!(hits.len(), 2);
        let t = hits.truth.as_ref().unwrap();
        assert!(t.merged[0] && !t.merged[1]);
        // One part each of 2 and 5 and one noise: the lower particle id wins, not noise, and
        // the other positron is kept as the second particle.
        assert_eq!(t.particle_id[0], 2);
        assert_eq!(t.other_particle_id[0], 5);
        assert_eq!(t.other_particle_id[1], 0);
        assert!((hits.x[0] - 100.03).abs() < 1e-12);
        assert_eq!(t.particle_id[1], 9);
    }

    #[test]
    fn hits_on_different_chips_never_merge() {
        let d = Detector::preset("luxe").unwrap();
        let c = SimConfig::default();
        let mut a = raw(100.0, 0.0, 1);
        let mut b = raw(100.0, 0.0, 2);
        a.stave = 1;
        b.chip = 1;
        let hits = merge_and_sort(&d, &c, vec![a, b, raw(100.0, 0.0, 3)]);
        assert_eq!(hits.len(), 3);
    }
}
