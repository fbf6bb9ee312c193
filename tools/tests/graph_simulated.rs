//! Graph construction on simulated crossings: fast builders against the brute-force reference,
//! output independent of threads and hit order, overlap and skip edges, feature locality,
//! window calibration, builder reuse and the edge limit. Tests on hand-made crossings and the
//! real one are in the library's `tests/graph.rs`.

use std::collections::{BTreeSet, HashMap};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use gnntrack::features::{all_edge_names, edge_features};
use gnntrack::geometry::Detector;
use gnntrack::graph::calibrate::{Deviation, WindowShape, calibrate, fit_pair};
use gnntrack::graph::metrics::{GraphMetrics, TrueSegments};
use gnntrack::graph::{
    EdgeKind, Graph, GraphBuilder, GraphConfig, GraphError, HalfWidth, PairWindow, SearchMethod,
    build_graph, build_graph_brute_force,
};
use gnntrack::hits::{Hit, HitTolerance, HitTruth, Hits, ValidatedHits};
use gnntrack_tools::sim::{PositronCount, SimConfig, simulate_bx};

/// The hits, validated against the detector (they must be valid).
fn valid<'a>(hits: &'a Hits, detector: &Detector) -> ValidatedHits<'a> {
    hits.validate(detector, &HitTolerance::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn small_event(detector: &Detector, positrons: usize, seed: u64) -> Hits {
    let mut config = SimConfig::e_laser(5).unwrap();
    config.positrons = PositronCount::Exact(positrons);
    config.noise_per_pixel = 2e-5; // ~750 noise hits: plenty of fakes to reject
    simulate_bx(detector, &config, seed, 0).unwrap().hits
}

/// The hits in another order (all columns and the truth permuted alike).
fn permuted(hits: &Hits, seed: u64) -> Hits {
    let mut order: Vec<usize> = (0..hits.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut out = Hits::new(hits.truth.is_some());
    for &i in &order {
        out.push(hits.get(i), hits.truth_of(i));
    }
    out
}

/// Edges as (inner hit id, outer hit id, kind).
fn id_edges(hits: &Hits, graph: &Graph) -> BTreeSet<(u64, u64, EdgeKind)> {
    (0..graph.len())
        .map(|e| {
            (
                hits.hit_id[graph.src[e] as usize],
                hits.hit_id[graph.dst[e] as usize],
                graph.kind[e],
            )
        })
        .collect()
}

fn assert_sorted(graph: &Graph) {
    for e in 1..graph.len() {
        assert!(
            (graph.src[e - 1], graph.dst[e - 1]) < (graph.src[e], graph.dst[e]),
            "edges not strictly sorted at {e}"
        );
    }
}

fn wide(config: &GraphConfig, factor: f64) -> GraphConfig {
    let mut c = config.clone();
    for kind in EdgeKind::ALL {
        for w in c.window.of_mut(kind) {
            for h in [&mut w.x, &mut w.y] {
                h.base *= factor;
                h.per_mm *= factor;
            }
        }
    }
    c
}

#[test]
fn fast_builders_give_exactly_the_brute_force_edges() {
    let luxe = Detector::preset("luxe").unwrap();
    let key4hep = Detector::preset("luxe-key4hep").unwrap();
    let sl = Detector::preset("luxe-sl").unwrap();
    let base = GraphConfig::default();
    let mut skip = base.clone();
    skip.skip_edges = true;
    let mut inverse = skip.clone();
    for w in &mut inverse.window.next {
        w.x = HalfWidth {
            base: 2e-4,
            per_mm: 2e-6,
            inv_mm: 0.05,
        };
    }
    // The skip edges into hits without an edge in are searched from those hits, through the
    // largest window of the inner group: a 1/x term makes the largest one the nearest hit's.
    for w in &mut inverse.window.skip {
        w.x = HalfWidth {
            base: 2e-4,
            per_mm: 1e-6,
            inv_mm: 0.2,
        };
        w.y.inv_mm = 0.05;
    }
    let keep_shortcuts = GraphConfig {
        drop_shortcuts: false,
        ..skip.clone()
    };
    let mut references = skip.clone();
    references.reference.z = 1900.0;
    references.reference.y_z = 2054.0;
    references.reference.x = -3.0;
    references.reference.y = 0.5;
    let cases: Vec<(&str, &Detector, GraphConfig, Hits)> = vec![
        ("default", &luxe, base.clone(), small_event(&luxe, 400, 1)),
        ("skip", &luxe, skip.clone(), small_event(&luxe, 400, 2)),
        (
            "wide windows",
            &luxe,
            wide(&skip, 8.0),
            small_event(&luxe, 300, 3),
        ),
        ("1/x term", &luxe, inverse, small_event(&luxe, 300, 4)),
        (
            "shortcuts kept",
            &luxe,
            keep_shortcuts,
            small_event(&luxe, 400, 9),
        ),
        (
            "every skip edge",
            &luxe,
            GraphConfig {
                skip_only_where_needed: false,
                ..skip.clone()
            },
            small_event(&luxe, 400, 10),
        ),
        (
            "other references",
            &luxe,
            references,
            small_event(&luxe, 300, 5),
        ),
        (
            "key4hep",
            &key4hep,
            skip.clone(),
            small_event(&key4hep, 400, 6),
        ),
        ("single layer", &sl, skip.clone(), small_event(&sl, 400, 7)),
        (
            "shuffled",
            &luxe,
            wide(&skip, 3.0),
            permuted(&small_event(&luxe, 400, 8), 8),
        ),
    ];
    for (name, detector, config, hits) in cases {
        let reference =
            build_graph_brute_force(&valid(&hits, detector), detector, &config).unwrap();
        assert!(
            reference.len() > 100,
            "{name}: only {} edges",
            reference.len()
        );
        if config.skip_edges && config.skip_only_where_needed {
            // Both kinds of needed skip edge occur: out of a hit without another edge out,
            // and into a hit without another edge in.
            let (mut has_out, mut has_in) = (vec![false; hits.len()], vec![false; hits.len()]);
            for e in 0..reference.len() {
                if reference.kind[e] != EdgeKind::Skip {
                    has_out[reference.src[e] as usize] = true;
                    has_in[reference.dst[e] as usize] = true;
                }
            }
            let skips = (0..reference.len()).filter(|&e| reference.kind[e] == EdgeKind::Skip);
            let into_lone = skips
                .clone()
                .filter(|&e| !has_in[reference.dst[e] as usize]);
            let from_lone = skips.filter(|&e| !has_out[reference.src[e] as usize]);
            assert!(
                into_lone.count() > 0,
                "{name}: no skip edge into a lone hit"
            );
            assert!(
                from_lone.count() > 0,
                "{name}: no skip edge out of a lone hit"
            );
        }
        for search in [SearchMethod::Sweep, SearchMethod::Rtree] {
            let c = GraphConfig {
                search,
                ..config.clone()
            };
            let graph = build_graph(&valid(&hits, detector), detector, &c).unwrap();
            assert_sorted(&graph);
            assert_eq!(graph, reference, "{name}, {search}");
        }
    }
}

#[test]
fn output_does_not_depend_on_threads_or_hit_order() {
    let d = Detector::preset("luxe").unwrap();
    let hits = simulate_bx(&d, &SimConfig::e_laser(4).unwrap(), 3, 0)
        .unwrap()
        .hits;
    let config = GraphConfig::default();
    let run = |threads: usize, hits: &Hits| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| build_graph(&valid(hits, &d), &d, &config).unwrap())
    };
    let one = run(1, &hits);
    assert!(one.len() > 5_000);
    assert_eq!(one, run(2, &hits));
    assert_eq!(one, run(3, &hits));
    let shuffled = permuted(&hits, 1);
    let other = run(2, &shuffled);
    assert_sorted(&other);
    assert_eq!(id_edges(&hits, &one), id_edges(&shuffled, &other));
}

#[test]
fn overlap_edges_join_the_two_hits_of_a_positron_in_the_overlap() {
    for geometry in ["luxe", "luxe-key4hep"] {
        let d = Detector::preset(geometry).unwrap();
        let mut sim = SimConfig::e_laser(5).unwrap();
        sim.positrons = PositronCount::Exact(3000);
        let hits = simulate_bx(&d, &sim, 11, 0).unwrap().hits;
        // Overlap edges only (skip edges, which bridge missing hits, are tested elsewhere).
        let no_skip = GraphConfig {
            skip_edges: false,
            ..GraphConfig::default()
        };
        let graph = build_graph(&valid(&hits, &d), &d, &no_skip).unwrap();
        let truth = hits.truth.as_ref().unwrap();
        let edges: HashMap<(u32, u32), EdgeKind> = (0..graph.len())
            .map(|e| ((graph.src[e], graph.dst[e]), graph.kind[e]))
            .collect();
        // Hits of each positron per (layer, stave).
        let mut by_particle: HashMap<(u64, u8), [Option<u32>; 2]> = HashMap::new();
        for i in 0..hits.len() {
            let p = truth.particle_id[i];
            if p != 0 && !truth.merged[i] {
                by_particle.entry((p, hits.layer[i])).or_default()[hits.stave[i] as usize] =
                    Some(i as u32);
            }
        }
        let (mut crossings, mut found) = (0, 0);
        for ((_, layer), staves) in &by_particle {
            if let [Some(a), Some(b)] = *staves {
                crossings += 1;
                let up = d.layers[*layer as usize].upstream_stave();
                let (inner, outer) = if up == 0 { (a, b) } else { (b, a) };
                let x = hits.x[inner as usize];
                assert!(
                    (280.0..324.0).contains(&x),
                    "{geometry}: crossing at x = {x}"
                );
                if edges.get(&(inner, outer)) == Some(&EdgeKind::Overlap) {
                    found += 1;
                }
                assert!(
                    !edges.contains_key(&(outer, inner)),
                    "edge against the beam"
                );
            }
        }
        assert!(crossings > 100, "{geometry}: {crossings} crossings");
        assert!(
            found as f64 >= 0.995 * crossings as f64,
            "{geometry}: {found} of {crossings} overlap crossings connected"
        );
        // The chain upstream stave -> downstream stave -> next layer remains; the edges that
        // jump an overlap hit are dropped (and only then).
        let segments = TrueSegments::from_hits(&hits, &d).unwrap();
        let m = GraphMetrics::compute(&hits, &graph, &segments);
        assert!(
            m.shortcut_edges <= 3,
            "{geometry}: {} shortcuts",
            m.shortcut_edges
        );
        let keep = GraphConfig {
            drop_shortcuts: false,
            ..GraphConfig::default()
        };
        let full = build_graph(&valid(&hits, &d), &d, &keep).unwrap();
        let m_full = GraphMetrics::compute(&hits, &full, &segments);
        assert!(
            m_full.shortcut_edges > crossings,
            "{geometry}: {} shortcuts kept, {crossings} crossings",
            m_full.shortcut_edges
        );
        assert!(m_full.total.found_segments >= m.total.found_segments);
        assert!(m_full.total.found_segments - m.total.found_segments <= crossings / 200);
        // Every overlap edge runs upstream -> downstream inside one layer, in the overlap.
        for e in (0..graph.len()).filter(|&e| graph.kind[e] == EdgeKind::Overlap) {
            let (s, t) = (graph.src[e] as usize, graph.dst[e] as usize);
            assert_eq!(hits.layer[s], hits.layer[t]);
            let layer = &d.layers[hits.layer[s] as usize];
            assert_eq!(hits.stave[s] as usize, layer.upstream_stave(), "{geometry}");
            assert_ne!(hits.stave[s], hits.stave[t]);
        }
    }
}

#[test]
fn edge_features_do_not_change_when_unrelated_hits_are_added() {
    let d = Detector::preset("luxe").unwrap();
    let config = GraphConfig::default();
    let names = all_edge_names();
    let small = small_event(&d, 200, 21);
    let g_small = build_graph(&valid(&small, &d), &d, &config).unwrap();
    let f_small = edge_features(&small, &g_small, &names, &config.reference).unwrap();

    // The same hits among ten times more, renumbered and in another order.
    let mut big_list: Vec<(Hit, HitTruth)> = (0..small.len())
        .map(|i| (small.get(i), small.truth_of(i).unwrap()))
        .collect();
    let other = small_event(&d, 2000, 22);
    for i in 0..other.len() {
        let mut h = other.get(i);
        h.hit_id += 1_000_000;
        big_list.push((h, other.truth_of(i).unwrap()));
    }
    big_list.shuffle(&mut ChaCha8Rng::seed_from_u64(5));
    let mut big = Hits::new(true);
    for (h, t) in &big_list {
        big.push(*h, Some(*t));
    }
    let g_big = build_graph(&valid(&big, &d), &d, &config).unwrap();
    let f_big = edge_features(&big, &g_big, &names, &config.reference).unwrap();
    let row_of: HashMap<(u64, u64), usize> = (0..g_big.len())
        .map(|e| {
            (
                (
                    big.hit_id[g_big.src[e] as usize],
                    big.hit_id[g_big.dst[e] as usize],
                ),
                e,
            )
        })
        .collect();
    assert!(g_small.len() > 500);
    // Skip edges exist only where a hit is missing, which other hits can change; every edge in
    // both graphs must have identical features.
    let mut shared = 0;
    for e in 0..g_small.len() {
        let key = (
            small.hit_id[g_small.src[e] as usize],
            small.hit_id[g_small.dst[e] as usize],
        );
        let Some(&r) = row_of.get(&key) else {
            assert_eq!(g_small.kind[e], EdgeKind::Skip, "edge {key:?} lost");
            continue;
        };
        shared += 1;
        assert_eq!(f_small.row(e), f_big.row(r), "edge {key:?}");
    }
    assert!(shared as f64 > 0.95 * g_small.len() as f64);
}

#[test]
fn calibration_keeps_the_requested_fraction_and_prefers_windows_growing_like_1_over_p() {
    // Synthetic: deviations uniform within +-c d: the linear shape reproduces c exactly.
    let samples: Vec<Deviation> = (0..10_000)
        .map(|k| {
            let d = 50.0 + (k % 500) as f64;
            let t = ((k * 7919) % 10_000) as f64 / 10_000.0 * 2.0 - 1.0;
            Deviation {
                d,
                x: 3e-6 * d * t,
                y: 1e-6 * d * t,
            }
        })
        .collect();
    let w = fit_pair(&samples, WindowShape::Linear { floor_mm: 0.0 }, 0.99);
    assert!((w.x.per_mm / 3e-6 - 0.995).abs() < 0.01, "{:?}", w.x);
    assert!((w.y.per_mm / 1e-6 - 0.995).abs() < 0.01, "{:?}", w.y);
    let inside = samples
        .iter()
        .filter(|s| s.x.abs() <= w.x.at(s.d) && s.y.abs() <= w.y.at(s.d))
        .count();
    assert!(inside as f64 >= 0.99 * samples.len() as f64);

    // Simulated truth.
    let d = Detector::preset("luxe").unwrap();
    let sim = SimConfig::e_laser(4).unwrap();
    let events: Vec<Hits> = (0..2)
        .map(|bx| simulate_bx(&d, &sim, 5, bx).unwrap().hits)
        .collect();
    let events: Vec<ValidatedHits> = events.iter().map(|h| valid(h, &d)).collect();
    let c = calibrate(&events, &d, &GraphConfig::default(), 0.995).unwrap();
    for cand in &c.candidates {
        eprintln!(
            "{} {} {:.5} {:.4} {}",
            cand.kind,
            cand.shape,
            cand.counts.efficiency(),
            cand.counts.purity(),
            cand.counts.edges
        );
    }
    assert!(
        matches!(c.chosen[0], WindowShape::Linear { .. }),
        "{}",
        c.chosen[0]
    );
    for w in &c.config.window.next {
        assert!(w.x.per_mm > 0.0 && w.y.per_mm > 0.0, "{w:?}");
        assert!(
            w.x.at(150.0) > w.y.at(150.0),
            "x is wider (interaction-point angle)"
        );
    }
    for hits in &events {
        let g = build_graph(&valid(hits, &d), &d, &c.config).unwrap();
        let m = GraphMetrics::compute(hits, &g, &TrueSegments::from_hits(hits, &d).unwrap());
        assert!(m.efficiency() >= 0.995 - 0.002, "{}", m.efficiency());
    }
    let check = simulate_bx(&d, &sim, 6, 0).unwrap().hits;
    let g = build_graph(&valid(&check, &d), &d, &c.config).unwrap();
    let m = GraphMetrics::compute(&check, &g, &TrueSegments::from_hits(&check, &d).unwrap());
    assert!(
        m.efficiency() >= 0.99,
        "independent crossing: {}",
        m.efficiency()
    );
    assert!(m.purity() >= 0.5, "independent crossing: {}", m.purity());

    // A narrower efficiency gives narrower windows.
    let loose = calibrate(&events, &d, &GraphConfig::default(), 0.95).unwrap();
    assert!(loose.config.window.next[0].x.at(150.0) < c.config.window.next[0].x.at(150.0));
    assert!(calibrate(&events, &d, &GraphConfig::default(), 1.0).is_err());
}

#[test]
fn default_windows_on_simulated_xi5() {
    let d = Detector::preset("luxe").unwrap();
    let hits = simulate_bx(&d, &SimConfig::e_laser(5).unwrap(), 101, 0)
        .unwrap()
        .hits;
    let graph = build_graph(&valid(&hits, &d), &d, &GraphConfig::default()).unwrap();
    let m = GraphMetrics::compute(&hits, &graph, &TrueSegments::from_hits(&hits, &d).unwrap());
    assert!(m.efficiency() >= 0.999, "{m}");
    assert!(m.purity() >= 0.5, "{m}");
    assert!(m.of_kind(EdgeKind::Overlap).efficiency() >= 0.995, "{m}");
}

#[test]
fn windows_from_toml_apply_per_layer_pair() {
    let d = Detector::preset("luxe").unwrap();
    let hits = small_event(&d, 300, 31);
    // Layer pair 1 -> 2 closed, the others wide open.
    let config = GraphConfig::from_toml_str(
        "overlap_edges = false\nskip_edges = false\n\
         [[window.next]]\nx = { base = 0.01 }\ny = { base = 0.01 }\n\
         [[window.next]]\nx = { base = 0.0 }\ny = { base = 0.0 }\n\
         [[window.next]]\nx = { base = 0.01 }\ny = { base = 0.01 }\n",
    )
    .unwrap();
    let g = build_graph(&valid(&hits, &d), &d, &config).unwrap();
    let layers: BTreeSet<u8> = g.src.iter().map(|&s| hits.layer[s as usize]).collect();
    assert_eq!(layers, BTreeSet::from([0, 2]));
    assert!(g.kind.iter().all(|&k| k == EdgeKind::Next));
    let w = config.window.get(EdgeKind::Next, 1).unwrap();
    assert_eq!(*w, PairWindow::default());
}

#[test]
fn a_reused_builder_gives_the_graphs_of_fresh_ones() {
    let d = Detector::preset("luxe").unwrap();
    let big = simulate_bx(&d, &SimConfig::e_laser(4).unwrap(), 41, 0)
        .unwrap()
        .hits;
    let small = small_event(&d, 300, 42);
    // Only layers 0 and 1: the other groups sit idle with the previous crossing's points.
    let mut two_layers = Hits::new(true);
    for i in (0..big.len()).filter(|&i| big.layer[i] < 2) {
        two_layers.push(big.get(i), big.truth_of(i));
    }
    let empty = Hits::new(true);
    for search in [SearchMethod::Sweep, SearchMethod::Rtree] {
        let config = GraphConfig {
            search,
            skip_edges: true,
            ..GraphConfig::default()
        };
        let mut builder = GraphBuilder::new(&d, &config).unwrap();
        let mut reused = Graph::default();
        for hits in [&big, &small, &two_layers, &empty, &big, &two_layers, &small] {
            let fresh = build_graph(&valid(hits, &d), &d, &config).unwrap();
            assert_eq!(builder.build(&valid(hits, &d)).unwrap(), fresh, "{search}");
            builder.build_into(&valid(hits, &d), &mut reused).unwrap();
            assert_eq!(reused, fresh, "{search}");
        }
        // A rejected crossing (hits validated for another geometry) leaves the builder usable.
        let sl = Detector::preset("luxe-sl").unwrap();
        let other = small_event(&sl, 50, 43);
        let e = builder.build(&valid(&other, &sl)).unwrap_err();
        assert!(matches!(e, GraphError::OtherGeometry { .. }), "{e}");
        assert_eq!(
            builder.build(&valid(&big, &d)).unwrap(),
            build_graph(&valid(&big, &d), &d, &config).unwrap()
        );
    }
}

#[test]
fn edge_limit_refuses_truncates_or_keeps_everything() {
    use gnntrack::graph::{BuildOutcome, EdgeLimit};
    let d = Detector::preset("luxe").unwrap();
    let hits = small_event(&d, 3000, 5);
    // Without pruning and the edge filter the builder's graph is exactly what the search finds.
    let mut raw = GraphConfig {
        drop_shortcuts: false,
        skip_only_where_needed: false,
        ..GraphConfig::default()
    };
    raw.without_edge_filter();
    for config in [GraphConfig::default(), raw.clone()] {
        let full = build_graph(&valid(&hits, &d), &d, &config).unwrap();
        let mut builder = GraphBuilder::new(&d, &config).unwrap();
        let mut graph = Graph::default();
        // A limit at or above the search's edges changes nothing. The search counts the edges
        // before shortcut removal; with skip edges only where needed it never finds the others.
        // The limit counts the edges the search finds, before the edge filter.
        let mut searched = GraphConfig {
            drop_shortcuts: false,
            ..config.clone()
        };
        searched.without_edge_filter();
        let raw_edges = build_graph(&valid(&hits, &d), &d, &searched).unwrap().len();
        for limit in [
            EdgeLimit::Unlimited,
            EdgeLimit::Refuse(raw_edges),
            EdgeLimit::Truncate(raw_edges),
        ] {
            let outcome = builder
                .build_limited(&valid(&hits, &d), &mut graph, limit)
                .unwrap();
            assert_eq!(outcome, BuildOutcome::Complete, "{limit:?}");
            assert_eq!(graph, full, "{limit:?}");
        }
        // One edge less: refused, the graph left as it was.
        let cap = raw_edges - 1;
        match builder.build_limited(&valid(&hits, &d), &mut graph, EdgeLimit::Refuse(cap)) {
            Err(GraphError::TooManyEdges { found, cap: c }) => {
                assert_eq!(c, cap);
                assert!(found > cap, "{found}");
            }
            other => panic!("expected TooManyEdges, got {other:?}"),
        }
        assert_eq!(graph, full);
    }
    // Truncation keeps the first edges in (inner, outer) order.
    let full = build_graph(&valid(&hits, &d), &d, &raw).unwrap();
    let mut builder = GraphBuilder::new(&d, &raw).unwrap();
    for cap in [1, 1000, full.len() / 2, full.len() - 1] {
        let mut graph = Graph::default();
        let outcome = builder
            .build_limited(&valid(&hits, &d), &mut graph, EdgeLimit::Truncate(cap))
            .unwrap();
        assert_eq!(
            outcome,
            BuildOutcome::Truncated {
                found: full.len(),
                kept: cap
            }
        );
        assert_eq!(graph.src, full.src[..cap]);
        assert_eq!(graph.dst, full.dst[..cap]);
        assert_eq!(graph.kind, full.kind[..cap]);
    }
    // A builder that refused a crossing builds the next one as before.
    let mut graph = Graph::default();
    builder
        .build_limited(&valid(&hits, &d), &mut graph, EdgeLimit::Refuse(10))
        .unwrap_err();
    builder
        .build_limited(&valid(&hits, &d), &mut graph, EdgeLimit::Refuse(full.len()))
        .unwrap();
    assert_eq!(graph, full);
}
