//! `gnntrack simulate`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use gnntrack::geometry::Detector;
use gnntrack::hits::write_hits;
use gnntrack_tools::sim::{GAMMA_LASER_MEAN, PositronCount, SimConfig, simulate_bx};

use super::{CliResult, SIMULATION_GEOMETRY};

/// Options of `gnntrack simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// e-laser intensity preset (3..7): Poisson mean of 138 / 2,072 / 10,580 / 31,290 / 67,314
    /// positrons, transverse momenta growing with xi.
    #[arg(long, default_value_t = 5)]
    pub xi: u8,
    /// Exactly this many positrons per crossing instead of the xi preset's Poisson mean.
    #[arg(long, conflicts_with = "gamma_laser")]
    pub positrons: Option<usize>,
    /// Gamma-laser-like crossings: Poisson mean of 2 positrons (transverse momenta of --xi), noise dominates.
    #[arg(long)]
    pub gamma_laser: bool,
    /// Number of bunch crossings.
    #[arg(long, default_value_t = 1)]
    pub bx: u64,
    /// Random seed; the same seed gives identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Geometry preset (`luxe`, `luxe-key4hep`, `luxe-sl`) or TOML file.
    #[arg(long, default_value = SIMULATION_GEOMETRY)]
    pub geometry: String,
    /// Dipole field, T.
    #[arg(long, default_value_t = 0.95)]
    pub field: f64,
    /// Noise hits per pixel per crossing.
    #[arg(long, default_value_t = 1e-6)]
    pub noise: f64,
    /// Hit efficiency per chip crossing.
    #[arg(long, default_value_t = 0.99)]
    pub efficiency: f64,
    /// Switch multiple scattering off.
    #[arg(long)]
    pub no_scattering: bool,
    /// Hits of two particles on one chip closer than this many pixels merge into one; 0 keeps
    /// every hit (as in the real LUXE crossings of the simplified simulation).
    #[arg(long, default_value_t = 2.0)]
    pub merge_pixels: f64,
    /// Output folder (created if missing); files are named bx_<seed>_<n>.csv.
    #[arg(long, default_value = "out/sim")]
    pub out: PathBuf,
}

/// Simulates and writes the crossings.
pub fn run(args: SimulateArgs) -> CliResult {
    let detector = Detector::from_name_or_path(&args.geometry)?;
    let mut config = SimConfig::e_laser(args.xi)?;
    if args.gamma_laser {
        config.positrons = PositronCount::Mean(GAMMA_LASER_MEAN);
    }
    if let Some(n) = args.positrons {
        config.positrons = PositronCount::Exact(n);
    }
    config.magnet.field_t = args.field;
    config.noise_per_pixel = args.noise;
    config.hit_efficiency = args.efficiency;
    config.multiple_scattering = !args.no_scattering;
    config.merge_distance_pixels = args.merge_pixels;
    config.validate()?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;

    let bar = ProgressBar::new(args.bx).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} crossings, {elapsed} (eta {eta})")
            .expect("valid template"),
    );
    let start = Instant::now();
    let (mut total_hits, mut sim_seconds) = (0usize, 0.0f64);
    for bx in 0..args.bx {
        let t0 = Instant::now();
        let event = simulate_bx(&detector, &config, args.seed, bx)?;
        sim_seconds += t0.elapsed().as_secs_f64();
        let path = args.out.join(format!("bx_{}_{bx:04}.csv", args.seed));
        write_hits(&event.hits, &path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        total_hits += event.hits.len();
        bar.suspend(|| {
            println!(
                "{}: {} positrons, {} hits ({} before merging close ones)",
                path.display(),
                event.particles.len(),
                event.hits.len(),
                event.unmerged_hits
            )
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "{} crossings, {total_hits} hits ({:.0} per crossing) in {:.2} s ({:.3} s simulating)",
        args.bx,
        total_hits as f64 / args.bx.max(1) as f64,
        start.elapsed().as_secs_f64(),
        sim_seconds
    );
    Ok(ExitCode::SUCCESS)
}
