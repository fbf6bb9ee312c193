//! Graph construction on hand-made crossings and the real one: edge cases, invalid hits, truth
//! segments and metrics, the default windows on the real xi = 3 crossing. Tests on simulated
//! crossings are in the tools package (`tools/tests/graph_simulated.rs`).

mod common;

use gnntrack::geometry::Detector;
use gnntrack::graph::metrics::{GraphMetrics, NO_SUCCESSOR, TrueSegments};
use gnntrack::graph::{EdgeKind, Graph, GraphConfig, GraphError, SearchMethod, build_graph};
use gnntrack::hits::{Hit, HitTolerance, HitTruth, Hits, ValidatedHits, read_hits};

/// The hits, validated against the detector (they must be valid).
fn valid<'a>(hits: &'a Hits, detector: &Detector) -> ValidatedHits<'a> {
    hits.validate(detector, &HitTolerance::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn hit(id: u64, x: f64, y: f64, layer: u8, stave: u8, detector: &Detector) -> Hit {
    Hit {
        hit_id: id,
        x,
        y,
        z: detector.stave(layer, stave).unwrap().z,
        layer,
        stave,
    }
}

/// A straight track from the magnet centre with x-slope `sx` (and y = 0).
fn track_hits(detector: &Detector, first_id: u64, sx: f64, layers: &[(u8, u8)]) -> Vec<Hit> {
    layers
        .iter()
        .enumerate()
        .map(|(k, &(l, s))| {
            let z = detector.stave(l, s).unwrap().z;
            hit(first_id + k as u64, sx * (z - 2054.0), 0.0, l, s, detector)
        })
        .collect()
}

fn hits_of(list: &[Hit]) -> Hits {
    let mut hits = Hits::new(false);
    for h in list {
        hits.push(*h, None);
    }
    hits
}

#[test]
fn empty_layers_a_single_hit_or_one_layer_give_an_empty_graph() {
    let d = Detector::preset("luxe").unwrap();
    let mut config = GraphConfig {
        skip_edges: true,
        ..GraphConfig::default()
    };
    for search in [SearchMethod::Sweep, SearchMethod::Rtree] {
        config.search = search;
        let empty = build_graph(&valid(&Hits::new(false), &d), &d, &config).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.n_nodes, 0);

        let one = hits_of(&track_hits(&d, 1, 0.08, &[(1, 0)]));
        assert!(
            build_graph(&valid(&one, &d), &d, &config)
                .unwrap()
                .is_empty()
        );

        // A whole track's worth of hits, but all on layer 2 (no overlap pair).
        let mut same_layer = Vec::new();
        for k in 0..50 {
            same_layer.extend(track_hits(&d, 10 * k, 0.03 + 0.001 * k as f64, &[(2, 0)]));
        }
        assert!(
            build_graph(&valid(&hits_of(&same_layer), &d), &d, &config)
                .unwrap()
                .is_empty()
        );

        // Layers 0 and 3 only: nothing connects them (skip edges span one layer).
        let far = hits_of(&track_hits(&d, 1, 0.08, &[(0, 0), (3, 0)]));
        assert!(
            build_graph(&valid(&far, &d), &d, &config)
                .unwrap()
                .is_empty()
        );

        // Empty layer 1: 2 -> 3 edges remain, 0 -> 2 only as a skip edge.
        let gap = hits_of(&track_hits(&d, 1, 0.08, &[(0, 0), (2, 0), (3, 0)]));
        let g = build_graph(&valid(&gap, &d), &d, &config).unwrap();
        assert_eq!(g.pairs().collect::<Vec<_>>(), vec![(0, 1), (1, 2)]);
        assert_eq!(g.kind, vec![EdgeKind::Skip, EdgeKind::Next]);
        let mut no_skip = config.clone();
        no_skip.skip_edges = false;
        let g = build_graph(&valid(&gap, &d), &d, &no_skip).unwrap();
        assert_eq!(g.pairs().collect::<Vec<_>>(), vec![(1, 2)]);
    }
}

#[test]
fn bad_hits_are_errors_naming_the_hit_and_value() {
    let d = Detector::preset("luxe").unwrap();
    let config = GraphConfig::default();
    let good = track_hits(&d, 1, 0.08, &[(0, 0), (1, 0)]);
    // Hits are checked once, by their validation, before any graph is built.
    let tolerance = HitTolerance::default();
    let check = |mutate: &dyn Fn(&mut Hits), expect: &[&str]| {
        let mut hits = hits_of(&good);
        mutate(&mut hits);
        let e = hits.validate(&d, &tolerance).unwrap_err().to_string();
        for part in expect {
            assert!(e.contains(part), "`{e}` lacks `{part}`");
        }
    };
    check(&|h| h.x[1] = f64::NAN, &["id 2", "`x` = NaN"]);
    check(&|h| h.layer[0] = 7, &["id 1", "`layer` = 7"]);
    check(&|h| h.stave[1] = 3, &["id 2", "`stave` = 3"]);
    check(
        &|h| h.z[0] = 1000.0,
        &["id 1", "`z` = 1000", "from the plane"],
    );
    check(&|h| h.y.pop().map_or((), |_| ()), &["column `y`"]);
    let mut with_truth = hits_of(&good);
    with_truth.truth = Some(gnntrack::hits::Truth {
        particle_id: vec![1],
        particle_p: vec![3.0, 3.0],
        merged: vec![false, false],
        other_particle_id: vec![0, 0],
    });
    let e = with_truth.validate(&d, &tolerance).unwrap_err().to_string();
    assert!(
        e.contains("column `particle_id` has 1 entries, expected 2"),
        "{e}"
    );
    assert!(TrueSegments::from_hits(&with_truth, &d).is_none());
    // The graph's own check: hits downstream of its reference points.
    let mut downstream = config.clone();
    downstream.reference.z = 4000.0;
    let e = build_graph(&valid(&hits_of(&good), &d), &d, &downstream).unwrap_err();
    assert!(matches!(e, GraphError::UpstreamOfReference { .. }), "{e}");
    for part in ["id 1", "`z` = 3950.0125", "reference.z"] {
        assert!(e.to_string().contains(part), "`{e}` lacks `{part}`");
    }
    let mut bad = config.clone();
    bad.window.next[1].y.per_mm = f64::INFINITY;
    let e = build_graph(&valid(&hits_of(&good), &d), &d, &bad).unwrap_err();
    assert!(matches!(e, GraphError::Config { .. }));
    assert!(e.to_string().contains("window.next[1].y.per_mm"), "{e}");
}

/// One positron through the `luxe` geometry, noise next to it, and a second positron.
fn hand_made_event(d: &Detector) -> Hits {
    let mut hits = Hits::new(true);
    let truth = |p: u64| {
        Some(HitTruth {
            particle_id: p,
            particle_p: if p == 1 { 2.5 } else { 6.0 },
            merged: false,
            other_particle_id: 0,
        })
    };
    // Positron 1 crosses the overlap on layer 0, has no hit on layer 2.
    for h in track_hits(d, 10, 0.16, &[(0, 0), (0, 1), (1, 0), (3, 0)]) {
        hits.push(h, truth(1));
    }
    // Positron 2: layers 0, 1, 2, given in reverse order.
    for h in track_hits(d, 20, 0.05, &[(2, 0), (1, 0), (0, 0)]) {
        hits.push(h, truth(2));
    }
    // Noise on the path of positron 2.
    let z = d.stave(3, 0).unwrap().z;
    hits.push(hit(30, 0.05 * (z - 2054.0), 0.0, 3, 0, d), truth(0));
    hits
}

#[test]
fn true_segments_follow_each_positron_along_its_path() {
    let d = Detector::preset("luxe").unwrap();
    let hits = hand_made_event(&d);
    let s = TrueSegments::from_hits(&hits, &d).unwrap();
    let segments: Vec<(u64, u64, EdgeKind)> = s
        .iter()
        .map(|(a, b, k)| (hits.hit_id[a as usize], hits.hit_id[b as usize], k))
        .collect();
    assert_eq!(
        segments,
        vec![
            (10, 11, EdgeKind::Overlap),
            (11, 12, EdgeKind::Next),
            (12, 13, EdgeKind::Skip),
            (21, 20, EdgeKind::Next),
            (22, 21, EdgeKind::Next),
        ]
    );
    assert_eq!(
        s.successor[7], NO_SUCCESSOR,
        "noise is never part of a segment"
    );
    assert!(!s.is_true(5, 7), "positron 2 -> noise");

    // Positron 2's layer-1 hit (index 5) merged with a positron 3 that continues to its own
    // layer-2 hit: the merged hit has a successor on each path.
    let mut merged = hits.clone();
    let t = merged.truth.as_mut().unwrap();
    t.merged[5] = true;
    t.other_particle_id[5] = 3;
    let z2 = d.stave(2, 0).unwrap().z;
    merged.push(
        hit(40, 0.05 * (z2 - 2054.0) + 0.3, 0.0, 2, 0, &d),
        Some(HitTruth {
            particle_id: 3,
            particle_p: 4.0,
            merged: false,
            other_particle_id: 0,
        }),
    );
    let s3 = TrueSegments::from_hits(&merged, &d).unwrap();
    assert!(s3.is_true(5, 8), "merged hit -> positron 3's next hit");
    assert!(
        s3.is_true(6, 5) && s3.is_true(5, 4),
        "positron 2 keeps its segments"
    );
    assert_eq!(s3.iter().count(), segments.len() + 1);
    let truth = merged.truth.as_ref().unwrap();
    assert!(truth.share_particle(5, 8) && truth.share_particle(5, 6));
    assert!(!truth.share_particle(8, 6) && !truth.share_particle(7, 8));

    // Upstream stave first: in key4hep the outer stave comes first along the path.
    let k4 = Detector::preset("luxe-key4hep").unwrap();
    let mut two = Hits::new(true);
    let t = Some(HitTruth {
        particle_id: 4,
        particle_p: 3.0,
        merged: false,
        other_particle_id: 0,
    });
    for h in track_hits(&k4, 1, 0.16, &[(0, 0), (0, 1)]) {
        two.push(h, t);
    }
    let s = TrueSegments::from_hits(&two, &k4).unwrap();
    assert_eq!(
        s.iter().collect::<Vec<_>>(),
        vec![(1, 0, EdgeKind::Overlap)]
    );

    // Without truth there is nothing to score.
    assert!(TrueSegments::from_hits(&hits_of(&[hits.get(0)]), &d).is_none());
}

#[test]
fn truth_metrics_count_before_the_cut() {
    let d = Detector::preset("luxe").unwrap();
    let hits = hand_made_event(&d);
    let s = TrueSegments::from_hits(&hits, &d).unwrap();
    // A hand-made graph: one true overlap segment, one shortcut of positron 1 (layer 0 stave 0 ->
    // layer 1, skipping its overlap hit), positron 2's 0 -> 1 segment, a fake into noise and
    // the true skip segment 12 -> 13.
    let graph = Graph {
        n_nodes: hits.len(),
        src: vec![0, 0, 2, 3, 6, 5],
        dst: vec![1, 2, 3, 7, 5, 7],
        kind: vec![
            EdgeKind::Overlap,
            EdgeKind::Next,
            EdgeKind::Skip,
            EdgeKind::Next,
            EdgeKind::Next,
            EdgeKind::Next,
        ],
    };
    let m = GraphMetrics::compute(&hits, &graph, &s);
    // True next-layer and overlap segments: 10->11, 11->12, 21->20, 22->21; found: 10->11, 22->21.
    assert_eq!(m.total.true_segments, 4);
    assert_eq!(m.total.found_segments, 2);
    assert_eq!(m.efficiency(), 0.5);
    assert_eq!(m.total.edges, 6);
    assert_eq!(
        m.total.true_edges, 3,
        "overlap, positron 2's segment and the skip segment"
    );
    assert_eq!(m.purity(), 0.5);
    assert_eq!(m.shortcut_edges, 1);
    assert_eq!((m.skip.true_segments, m.skip.found_segments), (1, 1));
    assert!((m.edges_per_hit() - 6.0 / 8.0).abs() < 1e-12);
    let pair = |kind: EdgeKind, layer: u8| {
        m.by_pair
            .iter()
            .find(|p| p.kind == kind && p.inner_layer == layer)
            .unwrap()
            .counts
            .clone()
    };
    let c = pair(EdgeKind::Next, 0);
    assert_eq!(
        (c.true_segments, c.found_segments, c.edges, c.true_edges),
        (2, 1, 2, 1)
    );
    let c = pair(EdgeKind::Overlap, 0);
    assert_eq!((c.true_segments, c.found_segments), (1, 1));
    // Positron 1 (2.5 GeV) and positron 2 (6 GeV) land in their momentum bins.
    let bin = |p: f64| {
        m.by_momentum
            .iter()
            .find(|b| b.p_min.is_some_and(|lo| lo <= p) && b.p_max.is_none_or(|hi| p < hi))
            .unwrap()
            .counts
            .clone()
    };
    assert_eq!(bin(2.5).true_segments, 2);
    assert_eq!(bin(2.5).found_segments, 1);
    assert_eq!(bin(6.0).true_segments, 2);
    assert_eq!(bin(6.0).edges, 2);
    // Labels follow the same definition.
    assert_eq!(s.edge_labels(&graph), vec![1, 0, 1, 0, 1, 0]);
}

#[test]
fn default_windows_on_the_real_crossing() {
    let (hits, _) = read_hits(&common::shared_data("luxe_xi3_sl.csv")).unwrap();
    let d = Detector::preset("luxe-sl").unwrap();
    let graph = build_graph(&valid(&hits, &d), &d, &GraphConfig::default()).unwrap();
    let m = GraphMetrics::compute(&hits, &graph, &TrueSegments::from_hits(&hits, &d).unwrap());
    assert_eq!(m.total.true_segments, 3 * 778);
    assert!(m.efficiency() >= 0.999, "{m}");
    assert!(m.purity() >= 0.5, "{m}");
}
