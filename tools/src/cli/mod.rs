//! Command-line front end: argument definitions and one function per subcommand.

pub mod alloc;
mod bench;
mod candidates;
mod compare;
mod eval;
mod graph;
mod markdown;
mod plots;
mod reconstruct;
mod scaling;
mod simulate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use gnntrack::geometry::Detector;
use gnntrack::hits::{HitFileFormat, HitTolerance, read_hits};
use gnntrack_tools::sim::validate::{real_event_config, validate_against};

/// Errors are reported as text with their context; the binary prints them and exits non-zero.
pub type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// GNN track finding for the LUXE positron tracker.
#[derive(Debug, Parser)]
#[command(name = "gnntrack", version, about)]
pub struct Cli {
    /// Worker threads (default: one per core).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate LUXE bunch crossings and write one CSV file per crossing.
    Simulate(simulate::SimulateArgs),
    /// Print hits per layer and stave of a hit file, and check it against a geometry.
    Inspect {
        /// Hit file (project or LUXE CSV format).
        file: PathBuf,
        /// Geometry preset or TOML file (default: `luxe` for project files, `luxe-sl` for LUXE files).
        #[arg(long)]
        geometry: Option<String>,
    },
    /// Compare simulated crossings with a real one (single-layer geometry, 1.25 T).
    ValidateSim {
        /// The real crossing in LUXE CSV format (default: `luxe_xi3_sl.csv` in
        /// `$GNNTRACK_SHARED_DATA`, else in `../shared/data` next to the repository).
        #[arg(long)]
        real: Option<PathBuf>,
        /// Simulated crossings to compare with.
        #[arg(long, default_value_t = 5)]
        bx: u64,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Override the width of px at the interaction point, MeV.
        #[arg(long)]
        px_sigma_mev: Option<f64>,
        /// Override the width of py at the interaction point, MeV.
        #[arg(long)]
        py_sigma_mev: Option<f64>,
    },
    /// Build the hit graph of one file, write its edges and print truth metrics and time.
    Graph(graph::GraphArgs),
    /// Build graphs of a folder of hit files and write one NumPy archive per crossing for training.
    ExportGraphs(graph::ExportArgs),
    /// Reconstruct simulated crossings and write each track candidate's hit features, edges
    /// and genuine / fake label (double majority) for training a candidate classifier.
    ExportCandidates(candidates::ExportCandidatesArgs),
    /// Derive window half-widths from simulated truth and print (or write) the configuration.
    CalibrateWindows(graph::CalibrateArgs),
    /// Reconstruct the track candidates of one hit file and write them as `track_id,hit_id`.
    Reconstruct(reconstruct::ReconstructArgs),
    /// Simulate one crossing, reconstruct it with the bundled model and print efficiency,
    /// fake rate and times.
    Demo(reconstruct::DemoArgs),
    /// Efficiency, fake and duplicate rates with 95 % intervals over simulated crossings or files.
    Eval(eval::EvalArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(Bench),
    /// Print a geometry preset or file, as a summary or as TOML to start a custom one from.
    Geometry {
        /// Preset name or TOML file.
        #[arg(default_value = SIMULATION_GEOMETRY)]
        name: String,
        /// Print TOML instead of the summary.
        #[arg(long)]
        toml: bool,
    },
}

/// What `gnntrack bench` measures.
#[derive(Debug, Subcommand)]
pub enum Bench {
    /// Graph construction at xi = 3..7 and on the real crossing: edges, efficiency, purity, time, memory.
    Graph(graph::BenchGraphArgs),
    /// The whole pipeline at xi = 3..7: per-stage times, candidates and peak memory, how far
    /// from the machine's FLOP rate and memory bandwidth, and the throughput of many crossings.
    Pipeline(bench::BenchPipelineArgs),
    /// How the stage times and the peak memory grow with the crossing size (xi = 3..7, 2 and 5
    /// times xi = 7): power-law exponents and a log-log plot.
    Scaling(scaling::BenchScalingArgs),
    /// Two configurations timed side by side, crossing by crossing in one process: per-stage
    /// times of each and the paired differences, robust to a machine whose speed drifts.
    Compare(compare::BenchCompareArgs),
}

/// Runs one subcommand.
pub fn run(command: Command) -> CliResult {
    match command {
        Command::Simulate(args) => simulate::run(args),
        Command::Inspect { file, geometry } => inspect(&file, geometry.as_deref()),
        Command::ValidateSim {
            real,
            bx,
            seed,
            px_sigma_mev,
            py_sigma_mev,
        } => {
            let real = match real {
                Some(path) => path,
                None => shared_data(REAL_CROSSING)?,
            };
            validate_sim(&real, bx, seed, px_sigma_mev, py_sigma_mev)
        }
        Command::Graph(args) => graph::graph(args),
        Command::ExportGraphs(args) => graph::export_graphs(args),
        Command::ExportCandidates(args) => candidates::export_candidates(args),
        Command::CalibrateWindows(args) => graph::calibrate_windows(args),
        Command::Bench(Bench::Graph(args)) => graph::bench_graph(args),
        Command::Bench(Bench::Pipeline(args)) => bench::bench_pipeline(args),
        Command::Bench(Bench::Scaling(args)) => scaling::bench_scaling(args),
        Command::Bench(Bench::Compare(args)) => compare::bench_compare(args),
        Command::Reconstruct(args) => reconstruct::reconstruct(args),
        Command::Demo(args) => reconstruct::demo(args),
        Command::Eval(args) => eval::eval(args),
        Command::Geometry { name, toml } => {
            let d = Detector::from_name_or_path(&name)?;
            if toml {
                print!("{}", d.to_toml());
            } else {
                print!("{d}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A progress bar on stderr for `len` steps of `what` (e.g. "crossings"), drawn only when stderr
/// is a terminal; lines printed meanwhile go through [`indicatif::ProgressBar::suspend`].
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let template = format!("{{bar:40}} {{pos}}/{{len}} {what}, {{elapsed}} (eta {{eta}})");
    indicatif::ProgressBar::new(len).with_style(
        indicatif::ProgressStyle::with_template(&template).expect("valid progress template"),
    )
}

/// The geometry a command uses when none is given, from the format of its hits: `luxe` for
/// project files, `luxe-sl` for LUXE files (the real crossings come from the single-layer
/// tracker). The only place where the command chooses a default geometry.
pub const fn default_geometry(format: HitFileFormat) -> &'static str {
    match format {
        HitFileFormat::Project => "luxe",
        HitFileFormat::Luxe => "luxe-sl",
    }
}

/// The geometry of the crossings the command simulates when none is given: that of project
/// files, the format the simulator writes.
pub const SIMULATION_GEOMETRY: &str = default_geometry(HitFileFormat::Project);

/// The real xi = 3 crossing of the shared data folder.
pub const REAL_CROSSING: &str = "luxe_xi3_sl.csv";

/// A file of the shared data folder: `$GNNTRACK_SHARED_DATA` when set, else `../shared/data`
/// beside the working folder or beside the repository this binary was built in.
pub fn shared_data(file: &str) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("GNNTRACK_SHARED_DATA").filter(|d| !d.is_empty()) {
        let path = PathBuf::from(dir).join(file);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{} not found (GNNTRACK_SHARED_DATA names the shared data folder)",
                path.display()
            ))
        };
    }
    let mut tried = Vec::new();
    let mut starts: Vec<PathBuf> = std::env::current_dir().into_iter().collect();
    // target/release/gnntrack: the repository is three levels up.
    if let Some(repo) = std::env::current_exe()
        .ok()
        .and_then(|e| e.ancestors().nth(3).map(PathBuf::from))
    {
        starts.push(repo);
    }
    for start in starts {
        let path = start.join("../shared/data").join(file);
        if path.is_file() {
            return Ok(path);
        }
        tried.push(path.display().to_string());
    }
    Err(format!(
        "{file} not found in {}: set GNNTRACK_SHARED_DATA to the shared data folder or give the file",
        tried.join(" or ")
    ))
}

fn inspect(file: &std::path::Path, geometry: Option<&str>) -> CliResult {
    let (hits, format) = read_hits(file)?;
    let geometry = geometry.unwrap_or(default_geometry(format));
    let detector = Detector::from_name_or_path(geometry)?;
    println!(
        "{}: {} hits ({format:?} format)",
        file.display(),
        hits.len()
    );
    println!("layer  stave        hits");
    for (l, staves) in hits.count_by_layer_and_stave().iter().enumerate() {
        for (s, n) in staves.iter().enumerate() {
            println!("{l:>5}  {s:>5}  {n:>10}");
        }
    }
    if let Some(t) = &hits.truth {
        let particles: std::collections::HashSet<u64> =
            t.particle_id.iter().copied().filter(|&p| p != 0).collect();
        let noise = t.particle_id.iter().filter(|&&p| p == 0).count();
        let merged = t.merged.iter().filter(|&&m| m).count();
        println!(
            "truth: {} particles, {:.3} hits per particle, {noise} noise hits, {merged} merged hits",
            particles.len(),
            (hits.len() - noise) as f64 / particles.len().max(1) as f64
        );
    }
    match hits.validate(&detector, &HitTolerance::default()) {
        Ok(_) => {
            println!("all hits valid for geometry {}", detector.name);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("invalid for geometry {}: {e}", detector.name);
            Ok(ExitCode::FAILURE)
        }
    }
}

fn validate_sim(
    real: &std::path::Path,
    bx: u64,
    seed: u64,
    px_sigma_mev: Option<f64>,
    py_sigma_mev: Option<f64>,
) -> CliResult {
    let (hits, _) = read_hits(real)?;
    let mut config = real_event_config(&hits);
    if let Some(s) = px_sigma_mev {
        config.px_sigma_gev = s / 1000.0;
    }
    if let Some(s) = py_sigma_mev {
        config.py_sigma_gev = s / 1000.0;
    }
    let rows = validate_against(&hits, &config, bx, seed)?;
    println!(
        "simulation ({bx} crossings, luxe-sl, 1.25 T) against {}\n",
        real.display()
    );
    println!(
        "{:<40} {:>12} {:>12} {:>8} {:>6}  ok",
        "quantity", "real", "simulated", "diff", "tol"
    );
    let mut all = true;
    for r in &rows {
        all &= r.agrees();
        println!(
            "{:<40} {:>12.5} {:>12.5} {:>7.2}% {:>5.0}%  {}",
            r.quantity,
            r.real,
            r.simulated,
            100.0 * r.relative_difference(),
            100.0 * r.tolerance,
            if r.agrees() { "yes" } else { "NO" }
        );
    }
    Ok(if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
