//! `gnntrack simulate` options, end to end.

mod common;

/// Number of merged hits in the crossing that `simulate` writes with `extra` options.
fn merged_hits(extra: &[&str]) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["simulate", "--xi", "5", "--seed", "3", "--out", "sim"];
    args.extend_from_slice(extra);
    common::gnntrack_ok(dir.path(), &args);
    let out = dir.path().join("sim");
    let text = std::fs::read_to_string(out.join("bx_3_0000.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|&c| c == "merged").unwrap();
    lines.filter(|l| l.split(',').nth(col) == Some("1")).count()
}

#[test]
fn merging_of_close_hits_can_be_switched_off() {
    assert!(merged_hits(&[]) > 10, "an xi = 5 crossing has merged hits");
    assert_eq!(merged_hits(&["--merge-pixels", "0"]), 0);
}
