//! Result tables written by the tools into a Markdown file (`--markdown docs/results.md`).
//!
//! Each command line owns one section of the file, between an opening and a closing HTML
//! comment that carry the command; running the same command again replaces its section and
//! leaves the rest of the file as it was, so the file collects the figures of several commands
//! and none of them is typed by hand.

use std::io::Write;
use std::path::Path;

const BEGIN: &str = "<!-- gnntrack:begin ";
const END: &str = "<!-- gnntrack:end -->";

/// The command line as a user would type it again: `gnntrack` and the arguments, without the
/// `--markdown` option (so the section stays the same wherever it is written to).
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    command_line_of(&args)
}

fn command_line_of(args: &[String]) -> String {
    let mut words = vec!["gnntrack".to_string()];
    let mut skip_value = false;
    for a in args {
        if skip_value {
            skip_value = false;
        } else if a == "--markdown" {
            skip_value = true;
        } else if !a.starts_with("--markdown=") {
            words.push(a.clone());
        }
    }
    words.join(" ")
}

/// The processor and the threads available, for tables of times.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown processor".to_string());
    format!("{cpu}, {} threads", rayon::current_num_threads())
}

/// Writes `body` as this command's section of the Markdown file at `path` ([`write_section`]
/// with [`command_line`]) and says so on stdout; the error names the file.
pub fn publish(path: &Path, body: &str) -> Result<(), String> {
    write_section(path, &command_line(), body)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("results written to {}", path.display());
    Ok(())
}

/// Writes `body` as the section of `command` in the Markdown file at `path` (created if
/// missing): replaces that command's section if the file has one, appends it otherwise. The
/// file is replaced atomically (written beside it, then renamed).
pub fn write_section(path: &Path, command: &str, body: &str) -> std::io::Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let section = format!(
        "{}\n### `{command}`\n\n{}\n{END}\n",
        begin_marker(command),
        body.trim_end()
    );
    let new = replace_or_append(&old, command, &section);
    let tmp = path.with_extension("md.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(new.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// The comment opening the section of `command` (HTML comments may not hold "--": the key
/// spells it "- -").
fn begin_marker(command: &str) -> String {
    format!("{BEGIN}{} -->", command.replace("--", "- -"))
}

fn replace_or_append(old: &str, command: &str, section: &str) -> String {
    let open = begin_marker(command);
    if let Some(start) = old.find(&open)
        && let Some(len) = old[start..].find(END)
    {
        let mut end = start + len + END.len();
        if old[end..].starts_with('\n') {
            end += 1;
        }
        return format!("{}{section}{}", &old[..start], &old[end..]);
    }
    let mut new = old.to_string();
    if !new.is_empty() && !new.ends_with("\n\n") {
        new.push_str(if new.ends_with('\n') { "\n" } else { "\n\n" });
    }
    new.push_str(section);
    new
}

/// A Markdown table from a header row and rows of cells.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n", header.join(" | "));
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for row in rows {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_markdown_option_is_not_part_of_the_command() {
        let args: Vec<String> = ["eval", "--bx", "10", "--markdown", "r.md", "--xi=5"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(command_line_of(&args), "gnntrack eval --bx 10 --xi=5");
        let args: Vec<String> = ["bench", "pipeline", "--markdown=r.md"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(command_line_of(&args), "gnntrack bench pipeline");
    }

    #[test]
    fn a_section_is_appended_then_replaced_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.md");
        std::fs::write(&path, "# Results\n\nHand-written preamble.\n").unwrap();
        write_section(&path, "gnntrack eval --bx 10", "| a |\n|---|\n| 1 |\n").unwrap();
        write_section(&path, "gnntrack bench pipeline", "times\n").unwrap();
        write_section(&path, "gnntrack eval --bx 10", "| a |\n|---|\n| 2 |\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Results\n\nHand-written preamble.\n\n<!-- gnntrack:begin "));
        assert!(text.contains("| 2 |") && !text.contains("| 1 |"), "{text}");
        // The replaced section keeps its place before the bench section.
        let eval = text.find("### `gnntrack eval --bx 10`").unwrap();
        let bench = text.find("### `gnntrack bench pipeline`").unwrap();
        assert!(eval < bench, "{text}");
        assert_eq!(text.matches(END).count(), 2);
        // Markers are valid HTML comments: no "--" inside.
        for line in text.lines().filter(|l| l.starts_with(BEGIN)) {
            let inner = &line[4..line.len() - 3];
            assert!(!inner.contains("--"), "{line}");
        }
        assert!(!dir.path().join("results.md.tmp").exists());
    }

    #[test]
    fn tables_have_a_separator_row() {
        let t = table(&["x", "y"], &[vec!["1".into(), "2".into()]]);
        assert_eq!(t, "| x | y |\n|---|---|\n| 1 | 2 |\n");
    }
}
