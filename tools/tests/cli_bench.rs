//! `gnntrack bench pipeline`, `gnntrack bench scaling` and `gnntrack bench compare` on tiny
//! settings: the columns of the machine's limits, the throughput, the power-law fits and the
//! two configurations' stage times exist and hold positive numbers. No timing is asserted.

mod common;

/// The number at the start of a cell (`12.5`, `3.1 %`, `40 MiB`), which must be positive.
fn positive(cell: &str) -> f64 {
    let v: f64 = cell
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("`{cell}` is not a number"));
    assert!(v > 0.0 && v.is_finite(), "`{cell}` is not positive");
    v
}

/// The column of a table (header row first) by its header, from the row `row` of the body.
fn cell<'a>(table: &'a [Vec<String>], column: &str, row: usize) -> &'a str {
    let c = table[0]
        .iter()
        .position(|h| h == column)
        .unwrap_or_else(|| panic!("no column {column} in {:?}", table[0]));
    &table[1 + row][c]
}

#[test]
fn bench_pipeline_reports_the_machine_limits_and_the_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "bench",
        "pipeline",
        "--xi",
        "3",
        "--repeat",
        "1",
        "--throughput-xi",
        "3",
        "--throughput-crossings",
        "3",
        "--stream-mib",
        "4",
        "--markdown",
        "results.md",
    ];
    let printed = common::gnntrack_ok(dir.path(), &args);
    for words in [
        "peak f32 rate:",
        "FLOP/cycle",
        "memory bandwidth: copy",
        "triad",
    ] {
        assert!(printed.contains(words), "{words}: {printed}");
    }
    // The default model's count is compiled in.
    assert!(printed.contains("gnntrack_in_fast.flops.json"), "{printed}");
    let text = std::fs::read_to_string(dir.path().join("results.md")).unwrap();
    let title = "### `gnntrack bench pipeline --xi 3 --repeat 1 --throughput-xi 3 \
                 --throughput-crossings 3 --stream-mib 4`";
    let tables = common::tables_of(&text, title);
    assert_eq!(tables.len(), 3, "times, limits, throughput: {text}");
    assert!(text.contains("GFLOP/s") && text.contains("GB/s"), "{text}");

    // The process's CPU time per crossing beside the wall time.
    let times = &tables[0];
    positive(cell(times, "total ms", 0));
    positive(cell(times, "CPU ms", 0));
    // The page faults of a crossing: a count (none at all is possible for a warm crossing).
    let faults = cell(times, "page faults", 0);
    assert!(faults.parse::<u64>().is_ok(), "page faults `{faults}`");

    let limits = &tables[1];
    assert_eq!(limits.len(), 2, "one intensity: {limits:?}");
    assert_eq!(cell(limits, "xi", 0), "3");
    for column in [
        "inference GFLOP",
        "inference GFLOP/s",
        "of peak",
        "graph GB/s",
        "features GB/s",
    ] {
        positive(cell(limits, column, 0));
    }
    // Both bandwidth shares are called "of triad" and end in a percent sign.
    assert_eq!(
        limits[1].iter().filter(|c| c.ends_with(" %")).count(),
        3,
        "{limits:?}"
    );

    let throughput = &tables[2];
    assert_eq!(cell(throughput, "crossings", 0), "3");
    for column in [
        "latency ms",
        "sequential crossings/s",
        "sequential CPU ms per crossing",
        "concurrent crossings/s",
        "concurrent latency ms",
        "concurrent CPU ms per crossing",
        "speed-up",
    ] {
        positive(cell(throughput, column, 0));
    }
}

#[test]
fn bench_scaling_fits_power_laws_and_draws_them() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "bench",
        "scaling",
        "--xi",
        "3,4",
        "--multiples",
        "0.02",
        "--fit-min-hits",
        "0",
        "--out",
        "plots",
        "--markdown",
        "results.md",
    ];
    let printed = common::gnntrack_ok(dir.path(), &args);
    let text = std::fs::read_to_string(dir.path().join("results.md")).unwrap();
    let tables = common::tables_of(
        &text,
        "### `gnntrack bench scaling --xi 3,4 --multiples 0.02 --fit-min-hits 0 --out plots`",
    );
    assert_eq!(tables.len(), 2, "crossings, fits: {text}");
    let crossings = &tables[0];
    assert_eq!(crossings.len(), 4, "three crossings: {crossings:?}");
    // Smallest first: xi = 3 (138 positrons), 0.02 x xi = 7 (1346), xi = 4 (2072).
    let labels: Vec<&str> = (0..3).map(|r| cell(crossings, "crossing", r)).collect();
    assert_eq!(labels, ["xi = 3", "0.02 x xi = 7", "xi = 4"]);
    let mut hits = Vec::new();
    for r in 0..3 {
        hits.push(positive(cell(crossings, "hits", r)));
        for column in ["total ms", "inference ms", "peak MiB", "inference GFLOP/s"] {
            positive(cell(crossings, column, r));
        }
    }
    assert!(hits.windows(2).all(|w| w[0] < w[1]), "{hits:?}");

    let fits = &tables[1];
    let quantities: Vec<&str> = (0..fits.len() - 1)
        .map(|r| cell(fits, "quantity", r))
        .collect();
    for q in ["graph", "features", "inference", "tracks", "total", "edges"] {
        assert!(quantities.contains(&q), "{q}: {fits:?}");
    }
    for r in 0..fits.len() - 1 {
        if cell(fits, "quantity", r) == "peak memory above the start" {
            continue; // a tiny crossing may not raise the high-water mark at all
        }
        // Every fit gives a finite exponent and a positive prefactor; the edge count, the one
        // quantity not measured by a clock, grows with the hits. (Times of crossings this small
        // are a few ms: under the load of other tests their slope can come out either way;
        // the fit itself is unit-tested on exact power laws.)
        let k: f64 = cell(fits, "exponent k", r).parse().unwrap();
        assert!(k.is_finite(), "{fits:?}");
        positive(cell(fits, "c", r));
        if cell(fits, "quantity", r) == "edges" {
            positive(cell(fits, "exponent k", r));
        }
    }
    assert!(
        printed.contains("plot written to") && dir.path().join("plots/scaling.png").is_file()
            || printed.contains("plot skipped"),
        "{printed}"
    );
}

#[test]
fn bench_compare_times_two_configurations_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let compare = |line: &str| {
        let args: Vec<&str> = line.split(' ').collect();
        common::gnntrack_ok(dir.path(), &args)
    };
    // Scored in parts or in one run: the same candidates.
    let printed = compare("bench compare --xi 3 --rounds 3 --with inference.part_edges=0");
    assert!(
        printed.contains("B: A with inference.part_edges=0; 3 rounds"),
        "{printed}"
    );
    assert!(printed.contains("the same candidates"), "{printed}");
    // A row of five stage cells, `median (quartile, minimum)`, per configuration.
    for label in ["A", "B"] {
        let row = printed
            .lines()
            .find(|l| l.split_whitespace().next() == Some(label))
            .unwrap_or_else(|| panic!("no row {label}: {printed}"));
        let medians: Vec<f64> = row
            .split(')')
            .filter(|c| !c.trim().is_empty())
            .map(|c| {
                let median = c.split('(').next().unwrap().split_whitespace().last();
                median.unwrap().parse().unwrap()
            })
            .collect();
        assert_eq!(medians.len(), 5, "{row}");
        assert!(medians[4] > 0.0, "{row}");
    }
    assert!(printed.contains("B faster in"), "{printed}");
    // Other tracks settings: other candidates, said so.
    let printed = compare("bench compare --xi 3 --rounds 1 --with tracks.min_hits=4");
    assert!(printed.contains("other candidates"), "{printed}");
}

#[test]
fn bench_compare_names_a_bad_key_before_any_crossing() {
    let dir = tempfile::tempdir().unwrap();
    for (with, words) in [
        ("nonsense", "--with `nonsense`: expected KEY=VALUE"),
        ("tracks.min_hits=abc", "--with `tracks.min_hits=abc`"),
    ] {
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_gnntrack"))
            .current_dir(dir.path())
            .args(["bench", "compare", "--xi", "3", "--with", with])
            .output()
            .expect("the binary runs");
        assert!(!run.status.success());
        let e = String::from_utf8_lossy(&run.stderr);
        assert!(e.contains(words), "{e}");
        assert!(String::from_utf8_lossy(&run.stdout).is_empty());
    }
}
