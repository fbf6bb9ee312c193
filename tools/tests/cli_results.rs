//! `--markdown`: `gnntrack eval`, `gnntrack bench pipeline` and `gnntrack bench graph` write their
//! tables into one results file, each command line in its own section.

mod common;

/// The cells of the rows of the first table (not the header or separator) of the section
/// titled `title`.
fn rows_of(text: &str, title: &str) -> Vec<Vec<String>> {
    let mut tables = common::tables_of(text, title);
    assert!(!tables.is_empty(), "no table under {title} in\n{text}");
    tables.swap_remove(0).split_off(1)
}

#[test]
fn eval_and_bench_write_their_own_sections_of_one_results_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("results.md"),
        "# Results\n\nKept as written.\n",
    )
    .unwrap();
    let eval = [
        "eval",
        "--xi",
        "3",
        "--bx",
        "2",
        "--truth-edges",
        "--out",
        "eval",
        "--markdown",
        "results.md",
    ];
    let printed = common::gnntrack_ok(dir.path(), &eval);
    assert!(
        printed.contains("tracks from a perfect edge classifier"),
        "{printed}"
    );
    common::gnntrack_ok(
        dir.path(),
        &[
            "bench",
            "pipeline",
            "--xi",
            "3",
            "--repeat",
            "1",
            "--markdown",
            "results.md",
        ],
    );
    common::gnntrack_ok(
        dir.path(),
        &[
            "bench",
            "graph",
            "--xi",
            "3",
            "--repeat",
            "1",
            "--real",
            "none",
            "--markdown",
            "results.md",
        ],
    );
    // A rerun replaces the eval section instead of adding one.
    common::gnntrack_ok(dir.path(), &eval);
    let text = std::fs::read_to_string(dir.path().join("results.md")).unwrap();
    assert!(
        text.starts_with("# Results\n\nKept as written.\n"),
        "{text}"
    );
    assert_eq!(text.matches("<!-- gnntrack:begin").count(), 3, "{text}");

    let eval_title = "### `gnntrack eval --xi 3 --bx 2 --truth-edges --out eval`";
    let rows = rows_of(&text, eval_title);
    assert_eq!(rows.len(), 1, "one group: {rows:?}");
    assert_eq!(rows[0][0], "xi = 3");
    assert_eq!(rows[0][1], "2", "crossings");
    assert_eq!(rows[0].len(), 9, "with the perfect-edges column: {rows:?}");
    // Efficiency with its interval, e.g. "99.50 % [99.00, 100.00]".
    let efficiency: f64 = rows[0][2].split(' ').next().unwrap().parse().unwrap();
    assert!((90.0..=100.0).contains(&efficiency), "{rows:?}");

    let bench = rows_of(&text, "### `gnntrack bench pipeline --xi 3 --repeat 1`");
    assert_eq!(bench.len(), 1);
    assert_eq!(bench[0][0], "3");
    let hits: usize = bench[0][1].parse().unwrap();
    assert!(hits > 100, "{bench:?}");
    // Total and CPU time, the page faults, then the peak memory.
    assert_eq!(bench[0].len(), 12, "{bench:?}");
    let cpu_ms: f64 = bench[0][9].parse().unwrap();
    assert!(cpu_ms > 0.0, "{bench:?}");
    assert!(bench[0][10].parse::<u64>().is_ok(), "{bench:?}");
    assert!(bench[0][11].ends_with("MiB"));

    let graph = rows_of(
        &text,
        "### `gnntrack bench graph --xi 3 --repeat 1 --real none`",
    );
    assert_eq!(graph.len(), 1);
    assert_eq!(graph[0][0], "sim xi=3");
    let efficiency: f64 = graph[0][4].trim_end_matches(" %").parse().unwrap();
    assert!(efficiency > 99.0, "{graph:?}");
    // The edge filter does not run on a graph this sparse: no filter time on 1 and 2 cores.
    assert_eq!(graph[0].len(), 13, "{graph:?}");
    assert_eq!((graph[0][10].as_str(), graph[0][11].as_str()), ("-", "-"));
}
