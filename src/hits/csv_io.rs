//! CSV readers and writer for hits.
//!
//! Two formats are read, told apart by the header:
//! - the project's own: `hit_id,x,y,z,layer,stave` in mm, with optional truth columns
//!   `particle_id,particle_p[,merged[,other_particle_id]]` (particle id 0 = noise, momentum in GeV;
//!   `other_particle_id` is the second positron of a merged hit, 0 when none);
//! - the LUXE format `hit_ID,x,y,z,layer_ID,particle_ID,particle_energy` with positions in
//!   metres, layers written `Plane k` and energies in MeV. It has no stave column (it comes from
//!   the single-layer geometry), so every hit gets stave 0, and its particle ids (which start at
//!   0) are shifted by one so that 0 keeps meaning noise.
//!
//! Columns are found by name, so their order does not matter. Floats are written in the shortest
//! form that reads back bit-identical.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use thiserror::Error;

use super::{Hit, HitTruth, Hits};
use crate::error::ErrorKind;

/// The CSV flavours the reader understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitFileFormat {
    /// `hit_id,x,y,z,layer,stave[,particle_id,particle_p[,merged[,other_particle_id]]]`, mm and GeV.
    Project,
    /// `hit_ID,x,y,z,layer_ID,particle_ID,particle_energy`, metres and MeV.
    Luxe,
}

/// An error while reading a hit file; row errors carry the line number (header = line 1).
#[derive(Debug, Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file has no header line (it is empty or blank).
    #[error(
        "{path}: empty file: expected a header line, the project format (hit_id,x,y,z,layer,stave[,particle_id,particle_p]) or the LUXE format (hit_ID,x,y,z,layer_ID,particle_ID,particle_energy)"
    )]
    Empty {
        /// The file.
        path: String,
    },
    /// The header matches neither format.
    #[error(
        "{path}: unrecognised header `{header}`: expected the project format (hit_id,x,y,z,layer,stave[,particle_id,particle_p]) or the LUXE format (hit_ID,x,y,z,layer_ID,particle_ID,particle_energy)"
    )]
    Header {
        /// The file.
        path: String,
        /// The header line found.
        header: String,
    },
    /// A row could not be parsed.
    #[error("{path}, line {line}: {message}")]
    Row {
        /// The file.
        path: String,
        /// Line number, 1-based, header included.
        line: u64,
        /// What is wrong, naming the column and value.
        message: String,
    },
}

impl ReadError {
    /// The kind of the error: always [`ErrorKind::HitFile`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::HitFile
    }
}

const PROJECT_REQUIRED: [&str; 6] = ["hit_id", "x", "y", "z", "layer", "stave"];
const LUXE_REQUIRED: [&str; 7] = [
    "hit_ID",
    "x",
    "y",
    "z",
    "layer_ID",
    "particle_ID",
    "particle_energy",
];

fn find(header: &csv::StringRecord, name: &str) -> Option<usize> {
    header.iter().position(|h| h.trim() == name)
}

/// Reads a hit file in either format.
pub fn read_hits(path: &Path) -> Result<(Hits, HitFileFormat), ReadError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| ReadError::Io {
        path: name.clone(),
        source,
    })?;
    read_hits_from(file, &name)
}

/// Reads hits from any reader; `name` is used in error messages.
pub fn read_hits_from<R: Read>(reader: R, name: &str) -> Result<(Hits, HitFileFormat), ReadError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, reader));
    let header = rdr.headers().map_err(|e| csv_error(name, e))?.clone();
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err(ReadError::Empty {
            path: name.to_string(),
        });
    }
    if PROJECT_REQUIRED.iter().all(|c| find(&header, c).is_some()) {
        read_project(&mut rdr, &header, name).map(|h| (h, HitFileFormat::Project))
    } else if LUXE_REQUIRED.iter().all(|c| find(&header, c).is_some()) {
        read_luxe(&mut rdr, &header, name).map(|h| (h, HitFileFormat::Luxe))
    } else {
        Err(ReadError::Header {
            path: name.to_string(),
            header: crate::clip(&header.iter().collect::<Vec<_>>().join(",")),
        })
    }
}

fn csv_error(name: &str, e: csv::Error) -> ReadError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    match e.into_kind() {
        csv::ErrorKind::Io(source) => ReadError::Io {
            path: name.to_string(),
            source,
        },
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => ReadError::Row {
            path: name.to_string(),
            line,
            message: format!("{len} fields, expected {expected_len}"),
        },
        other => ReadError::Row {
            path: name.to_string(),
            line,
            message: format!("{other:?}"),
        },
    }
}

/// Parses one field of a row, producing an error that names the column and value.
struct RowParser<'a> {
    record: &'a csv::StringRecord,
    name: &'a str,
    line: u64,
}

impl RowParser<'_> {
    fn error(&self, message: String) -> ReadError {
        ReadError::Row {
            path: self.name.to_string(),
            line: self.line,
            message,
        }
    }
    fn text(&self, col: usize) -> &str {
        self.record.get(col).unwrap_or("").trim()
    }
    fn f64(&self, col: usize, column: &str) -> Result<f64, ReadError> {
        let s = self.text(col);
        s.parse::<f64>()
            .map_err(|_| self.error(format!("column `{column}`: `{s}` is not a number")))
    }
    fn u64(&self, col: usize, column: &str) -> Result<u64, ReadError> {
        let s = self.text(col);
        s.parse::<u64>().map_err(|_| {
            self.error(format!(
                "column `{column}`: `{s}` is not a non-negative integer"
            ))
        })
    }
    fn index(&self, s: &str, column: &str) -> Result<u8, ReadError> {
        s.parse::<u8>().map_err(|_| {
            self.error(format!(
                "column `{column}`: `{s}` is not a layer/stave index (0..255)"
            ))
        })
    }
    fn bool(&self, col: usize, column: &str) -> Result<bool, ReadError> {
        match self.text(col) {
            "0" | "false" | "False" => Ok(false),
            "1" | "true" | "True" => Ok(true),
            s => Err(self.error(format!("column `{column}`: `{s}` is not 0/1/true/false"))),
        }
    }
}

fn read_project<R: Read>(
    rdr: &mut csv::Reader<R>,
    header: &csv::StringRecord,
    name: &str,
) -> Result<Hits, ReadError> {
    let col = |c: &str| find(header, c);
    let [id, x, y, z, layer, stave] = PROJECT_REQUIRED.map(|c| col(c).expect("checked"));
    let pid = col("particle_id");
    let pp = col("particle_p");
    let merged = col("merged");
    let other = col("other_particle_id");
    if pid.is_some() != pp.is_some() {
        return Err(ReadError::Header {
            path: name.to_string(),
            header: format!(
                "{} (truth needs both particle_id and particle_p)",
                header.iter().collect::<Vec<_>>().join(",")
            ),
        });
    }
    let mut hits = Hits::new(pid.is_some());
    let mut record = csv::StringRecord::new();
    while rdr
        .read_record(&mut record)
        .map_err(|e| csv_error(name, e))?
    {
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let p = RowParser {
            record: &record,
            name,
            line,
        };
        let hit = Hit {
            hit_id: p.u64(id, "hit_id")?,
            x: p.f64(x, "x")?,
            y: p.f64(y, "y")?,
            z: p.f64(z, "z")?,
            layer: p.index(p.text(layer), "layer")?,
            stave: p.index(p.text(stave), "stave")?,
        };
        let truth = match (pid, pp) {
            (Some(a), Some(b)) => Some(HitTruth {
                particle_id: p.u64(a, "particle_id")?,
                particle_p: p.f64(b, "particle_p")?,
                merged: match merged {
                    Some(m) => p.bool(m, "merged")?,
                    None => false,
                },
                other_particle_id: match other {
                    Some(o) => p.u64(o, "other_particle_id")?,
                    None => 0,
                },
            }),
            _ => None,
        };
        hits.push(hit, truth);
    }
    Ok(hits)
}

fn read_luxe<R: Read>(
    rdr: &mut csv::Reader<R>,
    header: &csv::StringRecord,
    name: &str,
) -> Result<Hits, ReadError> {
    let [id, x, y, z, layer, pid, energy] =
        LUXE_REQUIRED.map(|c| find(header, c).expect("checked"));
    let mut hits = Hits::new(true);
    let mut record = csv::StringRecord::new();
    while rdr
        .read_record(&mut record)
        .map_err(|e| csv_error(name, e))?
    {
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let p = RowParser {
            record: &record,
            name,
            line,
        };
        let plane = p.text(layer);
        let layer_index = plane
            .strip_prefix("Plane")
            .map(str::trim)
            .ok_or_else(|| p.error(format!("column `layer_ID`: `{plane}` is not `Plane <k>`")))?;
        let hit = Hit {
            hit_id: p.u64(id, "hit_ID")?,
            x: p.f64(x, "x")? * 1000.0,
            y: p.f64(y, "y")? * 1000.0,
            z: p.f64(z, "z")? * 1000.0,
            layer: p.index(layer_index, "layer_ID")?,
            stave: 0,
        };
        let particle = p.u64(pid, "particle_ID")?;
        let truth = HitTruth {
            particle_id: particle.checked_add(1).ok_or_else(|| {
                p.error(format!("column `particle_ID`: `{particle}` is too large"))
            })?,
            particle_p: p.f64(energy, "particle_energy")? / 1000.0,
            merged: false,
            other_particle_id: 0,
        };
        hits.push(hit, Some(truth));
    }
    Ok(hits)
}

/// Writes hits in the project format to a file.
pub fn write_hits(hits: &Hits, path: &Path) -> std::io::Result<()> {
    let file = File::create(path)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    write_hits_to(hits, &mut w)?;
    w.flush()
}

/// Writes hits in the project format to any writer.
pub fn write_hits_to<W: Write>(hits: &Hits, w: &mut W) -> std::io::Result<()> {
    match &hits.truth {
        Some(_) => writeln!(
            w,
            "hit_id,x,y,z,layer,stave,particle_id,particle_p,merged,other_particle_id"
        )?,
        None => writeln!(w, "hit_id,x,y,z,layer,stave")?,
    }
    for i in 0..hits.len() {
        let h = hits.get(i);
        write!(
            w,
            "{},{},{},{},{},{}",
            h.hit_id, h.x, h.y, h.z, h.layer, h.stave
        )?;
        match hits.truth_of(i) {
            Some(t) => writeln!(
                w,
                ",{},{},{},{}",
                t.particle_id,
                t.particle_p,
                u8::from(t.merged),
                t.other_particle_id
            )?,
            None => writeln!(w)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<(Hits, HitFileFormat), ReadError> {
        read_hits_from(text.as_bytes(), "test.csv")
    }

    #[test]
    fn project_format_round_trip_is_exact() {
        let mut hits = Hits::new(true);
        for i in 0..5u64 {
            hits.push(
                Hit {
                    hit_id: 100 + i,
                    x: 52.75912 + 0.1 * i as f64 + 1e-13,
                    y: -1.0 / 3.0,
                    z: 3950.0125,
                    layer: (i % 4) as u8,
                    stave: (i % 2) as u8,
                },
                Some(HitTruth {
                    particle_id: i,
                    particle_p: 4.2 + i as f64 / 7.0,
                    merged: i == 3,
                    other_particle_id: if i == 3 { 17 } else { 0 },
                }),
            );
        }
        let mut buf = Vec::new();
        write_hits_to(&hits, &mut buf).unwrap();
        let (back, format) = read(std::str::from_utf8(&buf).unwrap()).unwrap();
        assert_eq!(format, HitFileFormat::Project);
        assert_eq!(back, hits);
    }

    #[test]
    fn project_format_without_truth_and_reordered_columns() {
        let (h, _) = read("layer,stave,hit_id,z,y,x\n1,0,9,4050.0125,0.5,120.0\n").unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(h.get(0).hit_id, 9);
        assert_eq!(h.get(0).x, 120.0);
        assert_eq!(h.get(0).layer, 1);
        assert!(h.truth.is_none());
    }

    #[test]
    fn luxe_format_converts_units() {
        let text = "hit_ID,x,y,z,layer_ID,particle_ID,particle_energy\n\
                    0,0.18138234036024023,1.9376009724731632e-05,3.9560125,Plane 0,0,4913.325895407576\n\
                    1,0.1347123204449417,0.000555150203354827,4.0560125,Plane 1,1,6608.418259119417\n";
        let (h, format) = read(text).unwrap();
        assert_eq!(format, HitFileFormat::Luxe);
        assert_eq!(h.len(), 2);
        assert!((h.x[0] - 181.38234036024023).abs() < 1e-9);
        assert!((h.z[1] - 4056.0125).abs() < 1e-9);
        assert_eq!(h.layer, vec![0, 1]);
        assert_eq!(h.stave, vec![0, 0]);
        let t = h.truth.unwrap();
        assert_eq!(t.particle_id, vec![1, 2]);
        assert!((t.particle_p[0] - 4.913325895407576).abs() < 1e-12);
    }

    fn row_error(text: &str) -> (u64, String) {
        match read(text) {
            Err(ReadError::Row { line, message, .. }) => (line, message),
            other => panic!("expected a row error, got {other:?}"),
        }
    }

    #[test]
    fn bad_rows_name_line_column_and_value() {
        let head = "hit_id,x,y,z,layer,stave\n";
        let (line, msg) = row_error(&format!("{head}1,1,2,3,0,0\n2,abc,2,3,0,0\n"));
        assert_eq!(line, 3);
        assert!(msg.contains("`x`") && msg.contains("abc"), "{msg}");

        let (line, msg) = row_error(&format!("{head}1,1,2,3,-1,0\n"));
        assert_eq!(line, 2);
        assert!(msg.contains("`layer`") && msg.contains("-1"), "{msg}");

        let (line, msg) = row_error(&format!("{head}1,1,2,3,0,0\n2,1,2,3,0\n"));
        assert_eq!(line, 3);
        assert!(msg.contains("fields"), "{msg}");

        let (_, msg) = row_error(&format!("{head}x1,1,2,3,0,0\n"));
        assert!(msg.contains("`hit_id`") && msg.contains("x1"), "{msg}");

        let luxe = "hit_ID,x,y,z,layer_ID,particle_ID,particle_energy\n";
        let (line, msg) = row_error(&format!("{luxe}0,0.1,0.0,3.95,Layer 0,0,4000\n"));
        assert_eq!(line, 2);
        assert!(msg.contains("layer_ID") && msg.contains("Layer 0"), "{msg}");
        let (_, msg) = row_error(&format!("{luxe}0,0.1,0.0,3.95,Plane 0,0,lots\n"));
        assert!(
            msg.contains("particle_energy") && msg.contains("lots"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_header_is_rejected() {
        assert!(matches!(
            read("a,b,c\n1,2,3\n"),
            Err(ReadError::Header { .. })
        ));
        assert!(matches!(
            read("hit_id,x,y,z,layer,stave,particle_id\n"),
            Err(ReadError::Header { .. })
        ));
    }

    #[test]
    fn non_finite_values_are_read_for_validation_to_reject() {
        let (h, _) = read("hit_id,x,y,z,layer,stave\n1,NaN,0,3950,0,0\n").unwrap();
        assert!(h.x[0].is_nan());
    }
}
