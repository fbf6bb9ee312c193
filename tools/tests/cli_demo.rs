//! `gnntrack demo`, end to end: what it prints and what it writes.

use std::process::Command;

#[test]
fn demo_writes_hits_tracks_and_an_event_display_and_explains_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let run = Command::new(env!("CARGO_BIN_EXE_gnntrack"))
        .args(["demo", "--xi", "3", "--out"])
        .arg(&out)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for line in [
        "truth (one particle per hit): efficiency",
        "truth (merged hits shared): efficiency",
        "fake rate: share of candidates that match no",
        "the first, which starts the onnxruntime session",
        "next: gnntrack eval",
    ] {
        assert!(stdout.contains(line), "missing `{line}` in:\n{stdout}");
    }
    let tracks = std::fs::read_to_string(out.join("tracks.csv")).unwrap();
    assert!(tracks.starts_with("track_id,hit_id\n"));
    assert!(
        tracks.lines().count() > 100,
        "an xi = 3 crossing has tracks"
    );
    let hits = std::fs::read_to_string(out.join("hits.csv")).unwrap();
    assert!(hits.lines().count() > 300);
    // The event display needs a font; without one the demo says so instead.
    assert!(
        out.join("event_display.png").exists() || stdout.contains("event display skipped"),
        "{stdout}"
    );
}
