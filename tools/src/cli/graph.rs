//! `gnntrack graph`, `gnntrack export-graphs`, `gnntrack calibrate-windows` and `gnntrack bench graph`.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use gnntrack::features::{all_edge_names, all_node_names};
use gnntrack::geometry::Detector;
use gnntrack::graph::calibrate::calibrate;
use gnntrack::graph::metrics::{GraphMetrics, TrueSegments};
use gnntrack::graph::{
    BuilderKind, Graph, GraphBuilder, GraphConfig, GraphModels, SearchMethod, build_graph,
};
use gnntrack::hits::{HitTolerance, Hits, read_hits};
use gnntrack::inference::InferenceConfig;
use gnntrack_tools::export::{ExportedFile, export_bx, manifest};
use gnntrack_tools::sim::{SimConfig, simulate_bx};

use super::alloc;
use super::{CliResult, SIMULATION_GEOMETRY, default_geometry};

fn load_config(path: Option<&Path>) -> Result<GraphConfig, Box<dyn std::error::Error>> {
    Ok(match path {
        Some(p) => GraphConfig::from_toml_file(p)?,
        None => GraphConfig::default(),
    })
}

/// Options of `gnntrack graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Hit file (project or LUXE CSV format).
    #[arg(long = "in")]
    pub input: PathBuf,
    /// Geometry preset or TOML file (default: `luxe` for project files, `luxe-sl` for LUXE files).
    #[arg(long)]
    pub geometry: Option<String>,
    /// Graph configuration TOML (default: the built-in calibrated windows).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Edge CSV to write (`hit_id_inner,hit_id_outer`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Builds the graph of one file, writes its edges and prints the truth metrics and the time.
pub fn graph(args: GraphArgs) -> CliResult {
    let config = load_config(args.config.as_deref())?;
    let (hits, format) = read_hits(&args.input)?;
    let detector =
        Detector::from_name_or_path(args.geometry.as_deref().unwrap_or(default_geometry(format)))?;
    let valid = hits.validate(&detector, &HitTolerance::default())?;
    // The builder (and the models of the graph stage) first: the time is the build's.
    let mut builder = GraphBuilder::new(&detector, &config)?;
    let start = Instant::now();
    let graph = builder.build(&valid)?;
    let seconds = start.elapsed().as_secs_f64();
    let [next, overlap, skip] = graph.count_by_kind();
    println!(
        "{}: {} hits, {} edges ({next} next-layer, {overlap} overlap, {skip} skip) in {:.2} ms ({} threads, {} search)",
        args.input.display(),
        hits.len(),
        graph.len(),
        1e3 * seconds,
        rayon::current_num_threads(),
        config.search
    );
    if let (Some((filter, cut)), Some(outcome)) = (builder.filter(), builder.filter_outcome()) {
        println!(
            "edge filter {} ({} {}), cut {cut}: {outcome}",
            filter.label(),
            filter.model().info().name,
            filter.model().info().version
        );
    }
    if let Some(segments) = TrueSegments::from_hits(&hits, &detector) {
        print!("{}", GraphMetrics::compute(&hits, &graph, &segments));
    }
    if let Some(out) = &args.out {
        write_edges(&hits, &graph, out)
            .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        println!("edges written to {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn write_edges(hits: &Hits, graph: &Graph, path: &Path) -> std::io::Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "hit_id_inner,hit_id_outer")?;
    for (s, d) in graph.pairs() {
        writeln!(w, "{},{}", hits.hit_id[s as usize], hits.hit_id[d as usize])?;
    }
    w.flush()
}

/// Options of `gnntrack export-graphs`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Folder of hit files (every `*.csv`, in name order).
    #[arg(long = "in")]
    pub input: PathBuf,
    /// Output folder (created if missing): one `.npz` per hit file and `manifest.json`.
    #[arg(long)]
    pub out: PathBuf,
    /// Geometry preset or TOML file (default: from each file's format).
    #[arg(long)]
    pub geometry: Option<String>,
    /// Graph configuration TOML.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Node features, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub node_features: Option<Vec<String>>,
    /// Edge features, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub edge_features: Option<Vec<String>>,
    /// Run the edge filter of the configuration on the graphs. Without it they are the graphs
    /// of the windows, whatever the configuration says about the filter: the edge classifiers
    /// and the filter itself are trained on those.
    #[arg(long)]
    pub edge_filter: bool,
}

/// Writes one archive per crossing and the manifest.
pub fn export_graphs(args: ExportArgs) -> CliResult {
    let mut config = load_config(args.config.as_deref())?;
    if !args.edge_filter {
        config.without_edge_filter();
    }
    let node_names: Vec<String> = args
        .node_features
        .unwrap_or_else(|| all_node_names().iter().map(|s| s.to_string()).collect());
    let edge_names: Vec<String> = args
        .edge_features
        .unwrap_or_else(|| all_edge_names().iter().map(|s| s.to_string()).collect());
    let node_refs: Vec<&str> = node_names.iter().map(String::as_str).collect();
    let edge_refs: Vec<&str> = edge_names.iter().map(String::as_str).collect();
    // Check the names before reading anything.
    gnntrack::features::node_specs(&node_refs)?;
    gnntrack::features::edge_specs(&edge_refs)?;

    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&args.input)
        .map_err(|e| format!("cannot read folder {}: {e}", args.input.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    inputs.sort();
    if inputs.is_empty() {
        return Err(format!("no .csv hit files in {}", args.input.display()).into());
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let mut files: Vec<ExportedFile> = Vec::with_capacity(inputs.len());
    let mut detector_used: Option<Detector> = None;
    for input in &inputs {
        let (hits, format) = read_hits(input)?;
        let name = args
            .geometry
            .clone()
            .unwrap_or_else(|| default_geometry(format).to_string());
        let detector = Detector::from_name_or_path(&name)?;
        if let Some(d) = &detector_used
            && d.name != detector.name
        {
            return Err(format!(
                "{}: geometry {} differs from {} of the files before it: export one geometry per folder or pass --geometry",
                input.display(),
                detector.name,
                d.name
            )
            .into());
        }
        let stem = input
            .file_stem()
            .map_or_else(|| "bx".to_string(), |s| s.to_string_lossy().into_owned());
        let out = args.out.join(format!("{stem}.npz"));
        let start = Instant::now();
        let file = export_bx(
            &hits,
            &detector,
            &config,
            &node_refs,
            &edge_refs,
            &out,
            &input.display().to_string(),
        )?;
        println!(
            "{}: {} hits, {} edges{} ({:.0} ms)",
            out.display(),
            file.hits,
            file.edges,
            file.efficiency
                .map(|e| format!(", efficiency {:.4} %", 100.0 * e))
                .unwrap_or_default(),
            1e3 * start.elapsed().as_secs_f64()
        );
        files.push(file);
        detector_used = Some(detector);
    }
    let detector = detector_used.expect("at least one file");
    let text = manifest(&detector, &config, &node_refs, &edge_refs, &files)?;
    let path = args.out.join("manifest.json");
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("{} archives and {} written", files.len(), path.display());
    Ok(ExitCode::SUCCESS)
}

/// Options of `gnntrack calibrate-windows`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// e-laser intensity of the simulated crossings (3..7).
    #[arg(long, default_value_t = 5)]
    pub xi: u8,
    /// Fraction of the true segments of every layer pair to keep.
    #[arg(long, default_value_t = 0.999)]
    pub efficiency: f64,
    /// Crossings to calibrate on.
    #[arg(long, default_value_t = 4)]
    pub bx: u64,
    /// Crossings (of another seed) to check the result on.
    #[arg(long, default_value_t = 2)]
    pub check_bx: u64,
    /// Random seed of the calibration crossings (the check uses seed + 1).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Geometry preset or TOML file.
    #[arg(long, default_value = SIMULATION_GEOMETRY)]
    pub geometry: String,
    /// Base configuration (reference points, search, edge kinds) whose windows are replaced.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Write the configuration TOML here instead of printing it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Derives window half-widths from simulated truth.
pub fn calibrate_windows(args: CalibrateArgs) -> CliResult {
    let base = load_config(args.config.as_deref())?;
    let detector = Detector::from_name_or_path(&args.geometry)?;
    let sim = SimConfig::e_laser(args.xi)?;
    let simulate = |seed: u64, count: u64| -> Result<Vec<Hits>, Box<dyn std::error::Error>> {
        (0..count)
            .map(|bx| Ok(simulate_bx(&detector, &sim, seed, bx)?.hits))
            .collect()
    };
    let events = simulate(args.seed, args.bx)?;
    let start = Instant::now();
    let valid = (events.iter())
        .map(|h| h.validate(&detector, &HitTolerance::default()))
        .collect::<Result<Vec<_>, _>>()?;
    let calibration = calibrate(&valid, &detector, &base, args.efficiency)?;
    eprintln!(
        "calibrated on {} crossings at xi = {} ({} hits) in {:.2} s",
        args.bx,
        args.xi,
        events.iter().map(Hits::len).sum::<usize>(),
        start.elapsed().as_secs_f64()
    );
    eprintln!("\nsamples per pair:");
    for (kind, layer, n) in &calibration.samples {
        eprintln!("  {kind:<8} layer {layer}: {n}");
    }
    eprintln!(
        "\n{:<8} {:<22} {:>11} {:>9} {:>10}",
        "kind", "shape", "efficiency", "purity", "edges"
    );
    for c in &calibration.candidates {
        eprintln!(
            "{:<8} {:<22} {:>10.4}% {:>8.2}% {:>10}",
            c.kind.name(),
            c.shape.to_string(),
            100.0 * c.counts.efficiency(),
            100.0 * c.counts.purity(),
            c.counts.edges
        );
    }
    eprintln!(
        "\nchosen: next {}, overlap {}, skip {}",
        calibration.chosen[0], calibration.chosen[1], calibration.chosen[2]
    );

    let check = simulate(args.seed + 1, args.check_bx)?;
    let mut check_text = String::new();
    for (k, hits) in check.iter().enumerate() {
        let valid = hits.validate(&detector, &HitTolerance::default())?;
        let graph = build_graph(&valid, &detector, &calibration.config)?;
        let segments = TrueSegments::from_hits(hits, &detector).expect("simulated hits have truth");
        let m = GraphMetrics::compute(hits, &graph, &segments);
        let line = format!(
            "check crossing {k} (seed {}): {} hits, efficiency {:.4} %, purity {:.2} %, {:.3} edges per hit",
            args.seed + 1,
            hits.len(),
            100.0 * m.efficiency(),
            100.0 * m.purity(),
            m.edges_per_hit()
        );
        eprintln!("{line}");
        writeln!(check_text, "# {line}").expect("string write");
    }

    let mut text = format!(
        "# gnntrack calibrate-windows --xi {} --efficiency {} --bx {} --seed {} --geometry {}\n# shapes: next {}, overlap {}, skip {}\n{check_text}",
        args.xi,
        args.efficiency,
        args.bx,
        args.seed,
        detector.name,
        calibration.chosen[0],
        calibration.chosen[1],
        calibration.chosen[2]
    );
    text.push_str(&calibration.config.to_toml());
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            eprintln!("configuration written to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Options of `gnntrack bench graph`.
#[derive(Debug, Args)]
pub struct BenchGraphArgs {
    /// Graph configuration TOML (default: built-in).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// e-laser intensities to simulate.
    #[arg(long, value_delimiter = ',', default_value = "3,4,5,6,7")]
    pub xi: Vec<u8>,
    /// Random seed of the simulated crossings.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Timed repetitions per case (the median is shown).
    #[arg(long, default_value_t = 15)]
    pub repeat: usize,
    /// The real crossing (LUXE format, single-layer geometry); `none` to skip it (default:
    /// `luxe_xi3_sl.csv` in `$GNNTRACK_SHARED_DATA`, else in `../shared/data`).
    #[arg(long)]
    pub real: Option<String>,
    /// Write the table into this Markdown file, in the section of this command line (replaced
    /// on a rerun, the rest of the file kept), e.g. `docs/results.md`.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Compare the cone windows with the learned builder of this embedding model instead
    /// (`models/gnntrack_embedding.onnx`): one row per case and builder, each timed with its
    /// default search on 1 and 2 cores (the learned builder's time includes the embedding).
    #[arg(long)]
    pub learned: Option<PathBuf>,
}

struct Timing {
    median_ms: f64,
    peak_bytes: usize,
}

/// The models of the graph stage for a search on 1 and on 2 threads: the embedding model runs
/// on as many onnxruntime threads as the search has; the edge filter runs on one per block
/// whatever it is asked, so without the learned builder one load serves both.
fn load_models(config: &GraphConfig) -> Result<[GraphModels; 2], gnntrack::graph::GraphError> {
    let on = |threads: usize| {
        let inference = InferenceConfig {
            intra_threads: threads,
            ..InferenceConfig::default()
        };
        GraphModels::load(config, &inference)
    };
    let one = on(1)?;
    let two = match config.builder {
        BuilderKind::Learned => on(2)?,
        BuilderKind::Cone => one.clone(),
    };
    Ok([one, two])
}

/// Median time of `repeat` builds by one builder (warmed up first, output reused: the steady
/// state of a framework that builds one crossing after the other), and the heap peak.
fn time_build(
    hits: &Hits,
    detector: &Detector,
    config: &GraphConfig,
    models: &GraphModels,
    threads: usize,
    repeat: usize,
) -> Result<Timing, Box<dyn std::error::Error>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let hits = hits.validate(detector, &HitTolerance::default())?;
    let mut builder = GraphBuilder::with_models(detector, config, models.clone())?;
    let mut graph = Graph::default();
    let mut times = Vec::with_capacity(repeat);
    let mut peak_bytes = 0;
    pool.install(|| -> Result<(), gnntrack::graph::GraphError> {
        // The first build allocates the work space: its peak is the memory the stage needs.
        let base = alloc::reset_peak();
        builder.build_into(&hits, &mut graph)?;
        peak_bytes = alloc::peak_bytes() - base;
        for _ in 0..repeat.max(1) {
            let start = Instant::now();
            builder.build_into(&hits, &mut graph)?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        Ok(())
    })?;
    times.sort_by(f64::total_cmp);
    Ok(Timing {
        median_ms: times[times.len() / 2],
        peak_bytes,
    })
}

/// A crossing of `bench graph`: its name, hits and geometry.
type Case = (String, Hits, Detector);

/// The crossings of `bench graph`: simulated at each xi, then the real one.
fn bench_cases(args: &BenchGraphArgs) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let mut cases: Vec<Case> = Vec::new();
    let luxe = Detector::preset(SIMULATION_GEOMETRY)?;
    for &xi in &args.xi {
        let bx = simulate_bx(&luxe, &SimConfig::e_laser(xi)?, args.seed, 0)?;
        cases.push((format!("sim xi={xi}"), bx.hits, luxe.clone()));
    }
    let real = match args.real.as_deref() {
        Some("none") => None,
        Some(path) => Some(PathBuf::from(path)),
        None => Some(super::shared_data(super::REAL_CROSSING)?),
    };
    if let Some(real) = real {
        let (hits, format) = read_hits(&real)?;
        cases.push((
            "real xi=3".to_string(),
            hits,
            Detector::from_name_or_path(default_geometry(format))?,
        ));
    }
    Ok(cases)
}

/// Times the graph stage on simulated crossings and the real one.
pub fn bench_graph(args: BenchGraphArgs) -> CliResult {
    if let Some(md) = &args.markdown {
        super::reconstruct::check_output_folder(md)?;
    }
    let config = load_config(args.config.as_deref())?;
    if let Some(model) = &args.learned {
        return bench_builders(&args, &config, model);
    }
    let cases = bench_cases(&args)?;
    // The models once per thread count, for every case and search.
    let models = load_models(&config)?;
    let mut search_only = config.clone();
    search_only.without_edge_filter();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "graph construction, median of {} builds by one reused builder; machine: {cores} cores; windows: {}",
        args.repeat,
        args.config
            .as_ref()
            .map_or("built-in".to_string(), |p| p.display().to_string())
    );
    println!(
        "edges, efficiency and purity are those of the graph the configuration builds; the search times leave the edge filter out, the filter columns give its extra time where it runs ({} search)",
        config.search
    );
    println!(
        "{:<11} {:>8} {:>9} {:>6} {:>10} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "case",
        "hits",
        "edges",
        "e/hit",
        "efficiency",
        "purity",
        "sweep 1c",
        "sweep 2c",
        "rtree 1c",
        "rtree 2c",
        "filter 1c",
        "filter 2c",
        "peak MB"
    );
    let ms = |t: f64| format!("{t:.2}");
    let mut results = Vec::new();
    let mut rows = Vec::new();
    let bar = super::progress(cases.len() as u64, "cases");
    for (name, hits, detector) in &cases {
        let valid = hits.validate(detector, &HitTolerance::default())?;
        let mut builder = GraphBuilder::with_models(detector, &config, models[1].clone())?;
        let graph = builder.build(&valid)?;
        // Whether the filter runs on this graph (it may be off, or the graph too sparse).
        let filter_runs = builder.dropped_by_filter().is_some();
        let metrics = TrueSegments::from_hits(hits, detector)
            .map(|s| GraphMetrics::compute(hits, &graph, &s));
        // The searches without the filter, then the configured search with it where it runs.
        let default = if config.search == SearchMethod::Sweep {
            0
        } else {
            2
        };
        let mut search = Vec::new();
        let mut peak = 0;
        for method in [SearchMethod::Sweep, SearchMethod::Rtree] {
            let c = GraphConfig {
                search: method,
                ..search_only.clone()
            };
            for (threads, models) in [1, 2].into_iter().zip(&models) {
                let t = time_build(hits, detector, &c, models, threads, args.repeat)?;
                if search.len() == default + 1 {
                    peak = t.peak_bytes;
                }
                search.push(t.median_ms);
            }
        }
        let mut filter: [Option<f64>; 2] = [None, None];
        if filter_runs {
            for (k, (threads, models)) in [1, 2].into_iter().zip(&models).enumerate() {
                let t = time_build(hits, detector, &config, models, threads, args.repeat)?;
                filter[k] = Some(t.median_ms - search[default + k]);
                if threads == 2 {
                    peak = t.peak_bytes;
                }
            }
        }
        let (eff, pur) = metrics
            .as_ref()
            .map_or((f64::NAN, f64::NAN), |m| (m.efficiency(), m.purity()));
        let filter_text = |f: Option<f64>| f.map_or("-".to_string(), ms);
        bar.inc(1);
        bar.suspend(|| println!(
            "{:<11} {:>8} {:>9} {:>6.2} {:>9.3}% {:>7.1}% {:>7.2}ms {:>7.2}ms {:>7.2}ms {:>7.2}ms {:>9} {:>9} {:>8.1}",
            name,
            hits.len(),
            graph.len(),
            graph.len() as f64 / hits.len().max(1) as f64,
            100.0 * eff,
            100.0 * pur,
            search[0],
            search[1],
            search[2],
            search[3],
            filter_text(filter[0]),
            filter_text(filter[1]),
            peak as f64 / (1 << 20) as f64
        ));
        rows.push(vec![
            name.clone(),
            hits.len().to_string(),
            graph.len().to_string(),
            format!("{:.2}", graph.len() as f64 / hits.len().max(1) as f64),
            format!("{:.3} %", 100.0 * eff),
            format!("{:.1} %", 100.0 * pur),
            ms(search[0]),
            ms(search[1]),
            ms(search[2]),
            ms(search[3]),
            filter_text(filter[0]),
            filter_text(filter[1]),
            format!("{:.1}", peak as f64 / (1 << 20) as f64),
        ]);
        results.push((
            name.clone(),
            eff,
            pur,
            search[default],
            search[default + 1],
            filter[1],
        ));
    }
    bar.finish_and_clear();
    println!(
        "\ntargets ({} search, without the edge filter):",
        config.search
    );
    for (name, eff, pur, t1, t2, filter) in &results {
        let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
        let with_filter = filter.map_or(String::new(), |f| {
            format!("; with the edge filter {:.2} ms on 2 cores", t2 + f)
        });
        let line = match name.as_str() {
            "sim xi=5" => format!(
                "efficiency {:.3}% >= 99.9% {}, purity {:.1}% >= 50% {}, {:.2} ms <= 5 ms on one core {}{with_filter}",
                100.0 * eff,
                verdict(*eff >= 0.999),
                100.0 * pur,
                verdict(*pur >= 0.5),
                t1,
                verdict(*t1 <= 5.0)
            ),
            "sim xi=7" => format!(
                "efficiency {:.3}% >= 99.5% {}, purity {:.1}%, {:.2} ms <= 50 ms on 2 cores {}{with_filter}",
                100.0 * eff,
                verdict(*eff >= 0.995),
                100.0 * pur,
                t2,
                verdict(*t2 <= 50.0)
            ),
            "real xi=3" => format!(
                "efficiency {:.3}% >= 99.9% {}, purity {:.1}%, {:.2} ms on 2 cores{with_filter}",
                100.0 * eff,
                verdict(*eff >= 0.999),
                100.0 * pur,
                t2
            ),
            _ => continue,
        };
        println!("  {name:<10} {line}");
    }
    if let Some(md) = &args.markdown {
        let header = [
            "case",
            "hits",
            "edges",
            "edges/hit",
            "efficiency",
            "purity",
            "sweep 1 core ms",
            "sweep 2 cores ms",
            "R-tree 1 core ms",
            "R-tree 2 cores ms",
            "filter 1 core ms",
            "filter 2 cores ms",
            "peak MB",
        ];
        let body = format!(
            "Graph construction: truth efficiency and purity of the edges of the configured graph \
             (the edge filter included where it runs), median of {} builds by one reused builder \
             per search and thread count: the searches without the edge filter, then the time \
             the filter adds to the {} search where it runs (-: the graph is below its \
             `filter_min_edges_per_hit`); {}; windows: {}.\n\n{}",
            args.repeat,
            config.search,
            super::markdown::machine(),
            args.config
                .as_ref()
                .map_or("built-in".to_string(), |p| p.display().to_string()),
            super::markdown::table(&header, &rows)
        );
        super::markdown::publish(md, &body)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `bench graph --learned MODEL`: the cone windows and the learned builder side by side on the
/// same crossings: truth efficiency and purity of the edges, edges per hit, and the median time
/// on 1 and 2 cores (the learned builder's including the embedding model).
fn bench_builders(args: &BenchGraphArgs, config: &GraphConfig, model: &Path) -> CliResult {
    let learned = GraphConfig {
        builder: BuilderKind::Learned,
        embedding_model: Some(model.to_path_buf()),
        ..config.clone()
    };
    let cone = GraphConfig {
        builder: BuilderKind::Cone,
        ..config.clone()
    };
    let search = GraphBuilder::new(&Detector::preset(SIMULATION_GEOMETRY)?, &learned)?
        .embedder()
        .map(|(e, s)| {
            format!(
                "{} ({} dimensions), radius {}, at most {} neighbours",
                e.label(),
                e.dim(),
                s.radius,
                s.max_neighbours
            )
        })
        .unwrap_or_default();
    let cases = bench_cases(args)?;
    // The models of both builders once per thread count.
    let models = load_models(&learned)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "graph builders, median of {} builds by one reused builder; machine: {cores} cores; learned: {search}",
        args.repeat
    );
    println!(
        "{:<11} {:<8} {:>8} {:>9} {:>6} {:>10} {:>8} {:>9} {:>9}",
        "case", "builder", "hits", "edges", "e/hit", "efficiency", "purity", "1 core", "2 cores"
    );
    let mut rows = Vec::new();
    for (name, hits, detector) in &cases {
        for (builder, c) in [("cone", &cone), ("learned", &learned)] {
            let valid = hits.validate(detector, &HitTolerance::default())?;
            let graph = GraphBuilder::with_models(detector, c, models[1].clone())?.build(&valid)?;
            let (eff, pur) = TrueSegments::from_hits(hits, detector)
                .map(|s| GraphMetrics::compute(hits, &graph, &s))
                .map_or((f64::NAN, f64::NAN), |m| (m.efficiency(), m.purity()));
            let t1 = time_build(hits, detector, c, &models[0], 1, args.repeat)?.median_ms;
            let t2 = time_build(hits, detector, c, &models[1], 2, args.repeat)?.median_ms;
            let per_hit = graph.len() as f64 / hits.len().max(1) as f64;
            println!(
                "{:<11} {:<8} {:>8} {:>9} {:>6.2} {:>9.3}% {:>7.1}% {:>7.2}ms {:>7.2}ms",
                name,
                builder,
                hits.len(),
                graph.len(),
                per_hit,
                100.0 * eff,
                100.0 * pur,
                t1,
                t2
            );
            rows.push(vec![
                name.clone(),
                builder.to_string(),
                hits.len().to_string(),
                graph.len().to_string(),
                format!("{per_hit:.2}"),
                format!("{:.3} %", 100.0 * eff),
                format!("{:.1} %", 100.0 * pur),
                format!("{t1:.2}"),
                format!("{t2:.2}"),
            ]);
        }
    }
    if let Some(md) = &args.markdown {
        let header = [
            "case",
            "builder",
            "hits",
            "edges",
            "edges/hit",
            "efficiency",
            "purity",
            "1 core ms",
            "2 cores ms",
        ];
        let body = format!(
            "Graph builders side by side: the cone windows ({} search) and the learned builder \
             ({search}); truth efficiency and purity of the edges, median of {} builds by one \
             reused builder (the learned builder's time includes the embedding model, on as many \
             onnxruntime threads as cores); {}; windows: {}.\n\n{}",
            config.search,
            args.repeat,
            super::markdown::machine(),
            args.config
                .as_ref()
                .map_or("built-in".to_string(), |p| p.display().to_string()),
            super::markdown::table(&header, &rows)
        );
        super::markdown::publish(md, &body)?;
    }
    Ok(ExitCode::SUCCESS)
}
