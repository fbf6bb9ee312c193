//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// Path of a file in the reference data folder `../shared/data` next to the repository (the
/// tools package is one folder below it; override with `GNNTRACK_SHARED_DATA`). Panics with a
/// clear message when it is missing: these tests need the real LUXE event and chip tables.
#[allow(dead_code)]
pub fn shared_data(file: &str) -> PathBuf {
    let dir = std::env::var_os("GNNTRACK_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let path = dir.join(file);
    assert!(
        path.exists(),
        "reference file {} not found: put the shared data folder next to the repository or set GNNTRACK_SHARED_DATA",
        path.display()
    );
    path
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
