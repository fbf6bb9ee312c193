//! `gnntrack bench compare`: two configurations timed side by side, crossing by crossing in one
//! process, so that a machine whose speed drifts (a shared virtual machine can change by tens
//! of percent within a minute) slows both alike.

use std::process::ExitCode;

use clap::Args;

use gnntrack::pipeline::{StageTimes, Tracker, TrackerConfig};
use gnntrack_tools::sim::{SimConfig, simulate_bx};

use super::reconstruct::{TrackerArgs, key_values};
use super::{CliResult, SIMULATION_GEOMETRY};

/// Options of `gnntrack bench compare`.
#[derive(Debug, Args)]
pub struct BenchCompareArgs {
    /// Intensities, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "5,7")]
    pub xi: Vec<u8>,
    /// Rounds: in each, the crossing is reconstructed once with each configuration, the two
    /// taking turns in going first (after one warm-up run each).
    #[arg(long, default_value_t = 20)]
    pub rounds: usize,
    /// Random seed of the simulated crossings.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The second configuration (B): the first (A, from the tracker options) with this key set,
    /// as KEY=VALUE (repeatable), e.g. --with inference.part_edges=8192.
    #[arg(long = "with", value_name = "KEY=VALUE", required = true)]
    pub with: Vec<String>,
    /// Tracker options of the first configuration (A).
    #[command(flatten)]
    pub tracker: TrackerArgs,
}

/// The second configuration: `base` with the `--with` keys set.
fn with_keys(base: &TrackerConfig, keys: &[String]) -> Result<TrackerConfig, String> {
    let mut config = base.clone();
    for (kv, (k, v)) in keys.iter().zip(key_values("--with", keys)?) {
        config
            .set(k, v)
            .map_err(|e| format!("--with `{kv}`: {e}"))?;
    }
    Ok(config)
}

/// The stage times of a run, in ms: graph, features, inference, tracks, total.
fn stages_ms(t: &StageTimes) -> [f64; 5] {
    [t.graph, t.features, t.inference, t.tracks, t.total()].map(|s| 1e3 * s)
}

/// Stage `s` of [`stages_ms`] over the runs.
fn column(runs: &[[f64; 5]], s: usize) -> Vec<f64> {
    runs.iter().map(|t| t[s]).collect()
}

/// Median, lower quartile and minimum of `values`.
fn summary(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() / 4], v[0])
}

/// Runs `gnntrack bench compare`.
pub fn bench_compare(args: BenchCompareArgs) -> CliResult {
    let config_a = args.tracker.config(SIMULATION_GEOMETRY)?;
    let config_b = with_keys(&config_a, &args.with)?;
    let trackers = [Tracker::new(config_a)?, Tracker::new(config_b)?];
    let rounds = args.rounds.max(1);
    println!(
        "A: the tracker options; B: A with {}; {rounds} rounds per crossing, the two taking \
         turns in going first, {} threads",
        args.with.join(", "),
        rayon::current_num_threads()
    );
    println!("times in ms: median (lower quartile, minimum) over the rounds");
    let mut xis = args.xi.clone();
    xis.sort_unstable();
    for xi in xis {
        let event = simulate_bx(
            trackers[0].detector(),
            &SimConfig::e_laser(xi)?,
            args.seed,
            0,
        )?;
        let hit_sets =
            |t: &Tracker| -> Result<(usize, Vec<Vec<u32>>), gnntrack::pipeline::TrackerError> {
                let r = t.reconstruct(&event.hits)?;
                Ok((
                    r.graph.len(),
                    r.candidates.into_iter().map(|c| c.hits).collect(),
                ))
            };
        let (edges_a, found_a) = hit_sets(&trackers[0])?;
        let (edges_b, found_b) = hit_sets(&trackers[1])?;
        let mut times: [Vec<[f64; 5]>; 2] = [Vec::new(), Vec::new()];
        for round in 0..rounds {
            for k in [round % 2, 1 - round % 2] {
                let r = trackers[k].reconstruct(&event.hits)?;
                times[k].push(stages_ms(&r.times));
            }
        }
        println!(
            "\nxi = {xi}: {} hits; A {edges_a} edges, {} candidates; B {edges_b} edges, {} \
             candidates; {}",
            event.hits.len(),
            found_a.len(),
            found_b.len(),
            if found_a == found_b {
                "the same candidates"
            } else {
                "other candidates"
            }
        );
        let names = ["graph", "features", "inference", "tracks", "total"];
        println!("   {}", names.map(|n| format!("{n:>22}")).join(""));
        for (label, runs) in ["A", "B"].iter().zip(&times) {
            let cells = (0..5).map(|s| {
                let (median, q1, min) = summary(&column(runs, s));
                format!("{:>22}", format!("{median:.1} ({q1:.1}, {min:.1})"))
            });
            println!("{label:>3}{}", cells.collect::<String>());
        }
        // Paired by round: the two runs of a round met the same state of the machine.
        let paired: Vec<f64> = times[0]
            .iter()
            .zip(&times[1])
            .map(|(a, b)| b[4] - a[4])
            .collect();
        let faster = paired.iter().filter(|&&d| d < 0.0).count();
        let (median, ..) = summary(&paired);
        println!(
            "B - A: median of the paired differences of the total {median:+.1} ms \
             ({:+.1} %), B faster in {faster} of {rounds} rounds",
            100.0 * median / summary(&column(&times[0], 4)).0
        );
    }
    Ok(ExitCode::SUCCESS)
}
