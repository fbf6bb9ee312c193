//! Checks against the real LUXE data next to the repository: chip tables and the real crossing.

mod common;

use common::shared_data;
use gnntrack::geometry::Detector;
use gnntrack::hits::{HitFileFormat, HitTolerance, read_hits};
use gnntrack_tools::sim::validate::{real_event_config, validate_against};

/// Reads `name,x_start,x_end,y_start,y_end,z` rows (metres) as mm.
fn chip_table(file: &str) -> Vec<[f64; 5]> {
    let text = std::fs::read_to_string(shared_data(file)).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Vec<f64> = l
                .split(',')
                .skip(1)
                .map(|s| s.trim().parse::<f64>().unwrap() * 1000.0)
                .collect();
            [v[0], v[1], v[2], v[3], v[4]]
        })
        .collect()
}

fn assert_preset_matches(preset: &str, file: &str) {
    let d = Detector::preset(preset).unwrap();
    let mut expected = chip_table(file);
    let mut ours: Vec<[f64; 5]> = d
        .layers
        .iter()
        .flat_map(|l| &l.staves)
        .flat_map(|s| {
            s.chips
                .iter()
                .map(move |c| [c.x_min, c.x_max, c.y_min, c.y_max, s.z])
        })
        .collect();
    let key = |a: &[f64; 5], b: &[f64; 5]| (a[4], a[0]).partial_cmp(&(b[4], b[0])).unwrap();
    expected.sort_by(key);
    ours.sort_by(key);
    assert_eq!(ours.len(), expected.len(), "{preset}: chip count");
    for (o, e) in ours.iter().zip(&expected) {
        for k in 0..5 {
            assert!(
                (o[k] - e[k]).abs() < 1e-6,
                "{preset}: chip {o:?} vs table {e:?}"
            );
        }
    }
}

#[test]
fn presets_match_the_luxe_chip_tables() {
    assert_preset_matches("luxe", "luxe_chips_fl.csv");
    assert_preset_matches("luxe-key4hep", "luxe_chips_key4hep.csv");
    assert_preset_matches("luxe-sl", "luxe_planes_sl.csv");
}

#[test]
fn real_event_reads_and_validates() {
    let (hits, format) = read_hits(&shared_data("luxe_xi3_sl.csv")).unwrap();
    assert_eq!(format, HitFileFormat::Luxe);
    assert_eq!(hits.len(), 3112);
    let t = hits.truth.as_ref().unwrap();
    let particles: std::collections::HashSet<u64> = t.particle_id.iter().copied().collect();
    assert_eq!(particles.len(), 778);
    assert!(
        !particles.contains(&0),
        "LUXE particle ids are shifted so that 0 stays noise"
    );
    let d = Detector::preset("luxe-sl").unwrap();
    hits.validate(&d, &HitTolerance::default()).unwrap();
    assert_eq!(hits.count_by_layer_and_stave(), vec![vec![778]; 4]);
}

#[test]
fn simulation_agrees_with_the_real_crossing() {
    let (real, _) = read_hits(&shared_data("luxe_xi3_sl.csv")).unwrap();
    let rows = validate_against(&real, &real_event_config(&real), 5, 11).unwrap();
    assert!(rows.len() >= 11);
    for r in &rows {
        assert!(
            r.agrees(),
            "{}: real {} vs simulated {} ({:+.1} %, tolerance {:.0} %)",
            r.quantity,
            r.real,
            r.simulated,
            100.0 * r.relative_difference(),
            100.0 * r.tolerance
        );
    }
}
