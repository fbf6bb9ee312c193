//! Properties of the LUXE bunch-crossing simulation.

use gnntrack::geometry::Detector;
use gnntrack::hits::{HitTolerance, write_hits_to};
use gnntrack_tools::sim::{PositronCount, SimConfig, simulate_bx};

fn csv_bytes(d: &Detector, c: &SimConfig, seed: u64, threads: usize) -> Vec<u8> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let event = pool.install(|| simulate_bx(d, c, seed, 0).unwrap());
    let mut buf = Vec::new();
    write_hits_to(&event.hits, &mut buf).unwrap();
    buf
}

#[test]
fn same_seed_gives_identical_files_whatever_the_thread_count() {
    let d = Detector::preset("luxe").unwrap();
    let c = SimConfig::e_laser(5).unwrap();
    let one = csv_bytes(&d, &c, 42, 1);
    let two = csv_bytes(&d, &c, 42, 2);
    let four = csv_bytes(&d, &c, 42, 4);
    assert!(one.len() > 1_000_000);
    assert!(
        one == two && two == four,
        "output depends on the thread count"
    );
    assert_ne!(one, csv_bytes(&d, &c, 43, 2), "different seeds must differ");
}

#[test]
fn xi5_crossing_has_about_42k_valid_hits() {
    let d = Detector::preset("luxe").unwrap();
    let event = simulate_bx(&d, &SimConfig::e_laser(5).unwrap(), 1, 0).unwrap();
    let n = event.hits.len();
    assert!((38_000..46_000).contains(&n), "{n} hits");
    event.hits.validate(&d, &HitTolerance::default()).unwrap();
    let n_pos = event.particles.len() as f64;
    assert!(
        (n_pos - 10_580.0).abs() < 5.0 * 10_580f64.sqrt(),
        "{n_pos} positrons"
    );
}

#[test]
fn particle_hits_lie_on_active_chip_areas_never_in_gaps() {
    for geometry in ["luxe", "luxe-key4hep"] {
        let d = Detector::preset(geometry).unwrap();
        let mut c = SimConfig::e_laser(5).unwrap();
        c.merge_distance_pixels = 0.0;
        let event = simulate_bx(&d, &c, 7, 0).unwrap();
        let t = event.hits.truth.as_ref().unwrap();
        // Centroids are smeared by the 5 um resolution: allow 6 sigma beyond a chip edge.
        let slack = 6.0 * c.resolution_mm;
        let mut in_gap = 0;
        for i in 0..event.hits.len() {
            let h = event.hits.get(i);
            let stave = d.stave(h.layer, h.stave).unwrap();
            let on_chip = stave.chips.iter().any(|ch| {
                h.x >= ch.x_min - slack
                    && h.x <= ch.x_max + slack
                    && h.y >= ch.y_min - slack
                    && h.y <= ch.y_max + slack
            });
            if !on_chip {
                in_gap += 1;
                eprintln!(
                    "hit {i} (particle {}) at x = {} y = {} off every chip",
                    t.particle_id[i], h.x, h.y
                );
            }
        }
        assert_eq!(in_gap, 0, "{geometry}");
    }
}

#[test]
fn two_hit_fraction_matches_the_stave_overlap() {
    let d = Detector::preset("luxe").unwrap();
    let mut c = SimConfig::e_laser(5).unwrap();
    c.merge_distance_pixels = 0.0;
    c.noise_per_pixel = 0.0;
    c.hit_efficiency = 1.0;
    let event = simulate_bx(&d, &c, 5, 0).unwrap();
    let h = &event.hits;
    let t = h.truth.as_ref().unwrap();
    for layer in 0..4u8 {
        let up = d.layers[layer as usize].upstream_stave() as u8;
        let down = 1 - up;
        let down_stave = d.stave(layer, down).unwrap();
        // Positrons hitting the upstream stave whose position falls on a chip of the downstream
        // stave (straight on, within the 12 mm between the staves the track moves ~0.6 mm).
        let mut upstream: std::collections::HashMap<u64, (f64, f64)> = Default::default();
        let mut downstream = std::collections::HashSet::new();
        for i in 0..h.len() {
            if h.layer[i] != layer {
                continue;
            }
            if h.stave[i] == up {
                upstream.insert(t.particle_id[i], (h.x[i], h.y[i]));
            } else {
                downstream.insert(t.particle_id[i]);
            }
        }
        let expected = upstream
            .values()
            .filter(|&&(x, y)| {
                down_stave
                    .chip_at(x + 12.0 * x / (down_stave.z - 2054.0), y)
                    .is_some()
            })
            .count() as f64;
        let both = upstream.keys().filter(|p| downstream.contains(p)).count() as f64;
        assert!(
            expected > 200.0,
            "layer {layer}: {expected} positrons in the overlap"
        );
        assert!(
            (both - expected).abs() <= 0.03 * expected,
            "layer {layer}: {both} positrons with two hits, {expected} expected from the overlap"
        );
    }
}

#[test]
fn noise_count_follows_pixels_times_rate() {
    let d = Detector::preset("luxe").unwrap();
    let mut c = SimConfig::e_laser(5).unwrap();
    c.positrons = PositronCount::Exact(0);
    c.noise_per_pixel = 1e-5;
    let expected_per_bx = d.total_pixels() as f64 * c.noise_per_pixel;
    let n_bx = 10;
    let total: usize = (0..n_bx)
        .map(|bx| simulate_bx(&d, &c, 9, bx).unwrap().hits.len())
        .sum();
    let expected = expected_per_bx * n_bx as f64;
    assert!(
        (total as f64 - expected).abs() < 4.0 * expected.sqrt(),
        "{total} noise hits, expected {expected:.0}"
    );
}

#[test]
fn gamma_laser_mode_is_noise_dominated() {
    let d = Detector::preset("luxe").unwrap();
    let c = SimConfig::gamma_laser();
    let mut noise = 0;
    let mut signal = 0;
    for bx in 0..5 {
        let e = simulate_bx(&d, &c, 3, bx).unwrap();
        let t = e.hits.truth.unwrap();
        noise += t.particle_id.iter().filter(|&&p| p == 0).count();
        signal += t.particle_id.iter().filter(|&&p| p != 0).count();
    }
    assert!(noise > 2 * signal, "{noise} noise vs {signal} signal hits");
}

#[test]
fn stronger_fields_bend_more() {
    let d = Detector::preset("luxe").unwrap();
    let mean_xp = |field: f64| {
        let mut c = SimConfig::e_laser(4).unwrap();
        c.magnet.field_t = field;
        c.noise_per_pixel = 0.0;
        let e = simulate_bx(&d, &c, 1, 0).unwrap();
        let t = e.hits.truth.as_ref().unwrap();
        let v: Vec<f64> = (0..e.hits.len())
            .filter(|&i| e.hits.layer[i] == 0 && !t.merged[i])
            .map(|i| e.hits.x[i] * t.particle_p[i])
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    for (field, expected) in [(0.95, 673.0), (1.25, 887.0), (1.5, 1064.0)] {
        let xp = mean_xp(field);
        assert!(
            (xp - expected).abs() < 0.02 * expected,
            "{field} T: x*p = {xp}"
        );
    }
}
