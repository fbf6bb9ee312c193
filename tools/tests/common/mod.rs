//! Helpers shared by the integration tests.

#[path = "../../../tests/common/mod.rs"]
mod root;

#[allow(unused_imports)]
pub use root::shared_data;

/// Runs `gnntrack` with `args` in `dir` (warnings only in its log), asserts that it succeeds
/// and returns what it printed.
#[allow(dead_code)]
pub fn gnntrack_ok(dir: &std::path::Path, args: &[&str]) -> String {
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_gnntrack"))
        .current_dir(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8_lossy(&run.stdout).into_owned()
}

/// The Markdown tables of the results-file section titled `title` (up to its end marker), each
/// as rows of trimmed cells: the header row first, the separator row left out.
#[allow(dead_code)]
pub fn tables_of(text: &str, title: &str) -> Vec<Vec<Vec<String>>> {
    let start = text
        .find(title)
        .unwrap_or_else(|| panic!("no {title} in\n{text}"));
    let end = text[start..]
        .find("<!-- gnntrack:end -->")
        .expect("the section ends")
        + start;
    let mut tables: Vec<Vec<Vec<String>>> = Vec::new();
    let mut in_table = false;
    for line in text[start..end].lines() {
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        if !in_table {
            tables.push(Vec::new());
            in_table = true;
        }
        if line.starts_with("|---") {
            continue;
        }
        let cells = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect();
        tables.last_mut().expect("pushed above").push(cells);
    }
    tables
}
