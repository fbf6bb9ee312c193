//! The edge cap holds while the graph is built: a crossing far above it is refused fast and in
//! bounded memory. The heap is measured with a counting allocator (this test binary's own).
//!
//! `cargo test --release --test bounded_memory -- --nocapture` prints the numbers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use gnntrack::geometry::Detector;
use gnntrack::hits::Hits;
use gnntrack::pipeline::{EdgeCap, Tracker, TrackerConfig, TrackerError};
use gnntrack_tools::sim::{SimConfig, simulate_bx};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes unchanged to the system allocator; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grown = new_size - layout.size();
                let live = LIVE.fetch_add(grown, Ordering::Relaxed) + grown;
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const GIB: usize = 1 << 30;

/// CPU seconds this process has used (all threads), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name: state is field 3, utime 14 and stime 15 (clock ticks).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<f64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    if fields.len() < 13 {
        return f64::NAN;
    }
    (fields[11] + fields[12]) / 100.0
}

/// One xi = 7 crossing copied `copies` times (hit ids made unique).
fn copied_xi7(copies: u64) -> Hits {
    let d = Detector::preset("luxe").unwrap();
    let one = simulate_bx(&d, &SimConfig::e_laser(7).unwrap(), 1, 0)
        .unwrap()
        .hits;
    let mut hits = Hits::new(false);
    for c in 0..copies {
        for i in 0..one.len() {
            let mut h = one.get(i);
            h.hit_id = h.hit_id * copies + c;
            hits.push(h, None);
        }
    }
    hits
}

#[test]
fn ten_xi7_crossings_in_one_are_refused_fast_in_bounded_memory() {
    let tracker = Tracker::new(TrackerConfig::default()).expect("tracker with the bundled model");
    let hits = copied_xi7(10);
    assert!(hits.len() > 2_000_000, "{} hits", hits.len());

    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let (t0, cpu0) = (Instant::now(), cpu_seconds());
    let result = tracker.reconstruct(&hits);
    let (seconds, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    let peak = PEAK.load(Ordering::Relaxed) - before;
    println!(
        "{} hits, default max_edges = {}: {:.3} s ({:.2} s of CPU on {} threads), peak heap {:.0} MiB above the input",
        hits.len(),
        tracker.config().max_edges,
        seconds,
        cpu,
        rayon::current_num_threads(),
        peak as f64 / (1 << 20) as f64
    );
    match result {
        Err(TrackerError::TooManyEdges { edges, cap }) => {
            assert_eq!(cap, 20_000_000);
            assert!(edges > cap, "{edges}");
        }
        other => panic!(
            "expected TooManyEdges, got {:?}",
            other.map(|r| r.graph.len())
        ),
    }
    assert!(peak < GIB, "peak heap {peak} bytes");
    // Generous for a loaded 2-core machine; about 0.5 s on an idle one.
    assert!(seconds < 5.0, "{seconds} s");
}

#[test]
fn an_over_cap_crossing_truncated_stays_in_bounded_memory() {
    let tracker = Tracker::new(TrackerConfig {
        max_edges: 2_000_000,
        edge_cap: EdgeCap::Truncate,
        ..TrackerConfig::default()
    })
    .expect("tracker with the bundled model");
    let hits = copied_xi7(4);
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let r = tracker
        .reconstruct(&hits)
        .expect("a truncated reconstruction");
    let peak = PEAK.load(Ordering::Relaxed) - before;
    println!(
        "{} hits truncated to max_edges = 2000000: {} edges scored, peak heap {:.0} MiB",
        hits.len(),
        r.graph.len(),
        peak as f64 / (1 << 20) as f64
    );
    assert!(r.graph.len() <= 2_000_000 && r.graph.len() > 1_000_000);
    assert!(!r.candidates.is_empty());
    assert!(peak < GIB, "peak heap {peak} bytes");
}

#[test]
fn a_hit_cap_refuses_before_any_work() {
    let tracker = Tracker::new(TrackerConfig {
        max_hits: 1000,
        ..TrackerConfig::default()
    })
    .unwrap();
    let hits = copied_xi7(1);
    let e = tracker.reconstruct(&hits).unwrap_err();
    assert!(
        matches!(e, TrackerError::TooManyHits { cap: 1000, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("more than max_hits = 1000"), "{e}");
}
