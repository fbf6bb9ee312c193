//! How far the reconstruction is from the machine's limits, for `gnntrack bench`: the model's
//! floating-point work, the processor's peak FLOP rate, the memory bandwidth, the minimum
//! traffic of the graph and feature stages, power-law fits of how times grow with the crossing
//! size, and the process's peak resident memory.

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use serde::Deserialize;

/// FNV-1a (64 bits) of a byte string: the fingerprint that ties a FLOP count to the model file
/// it was counted on (`models/train/count_flops.py` computes the same).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Floating-point work of one model run, linear in the graph size: written by
/// `models/train/count_flops.py` beside the model as `<model>.flops.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelFlops {
    /// File name of the model the count was made on.
    pub model: String,
    /// FNV-1a 64 of that file's bytes, 16 hexadecimal digits.
    pub fnv1a64: String,
    /// FLOPs per node (hit).
    pub flops_per_node: f64,
    /// FLOPs per edge.
    pub flops_per_edge: f64,
    /// FLOPs independent of the graph size (scalar and shape arithmetic, about 0).
    #[serde(default)]
    pub flops_constant: f64,
    /// Bytes moved by gathers, scatters and concatenations per node.
    #[serde(default)]
    pub bytes_moved_per_node: f64,
    /// Bytes moved by gathers, scatters and concatenations per edge.
    #[serde(default)]
    pub bytes_moved_per_edge: f64,
}

/// The FLOP counts of the models in `models/`, compiled in so that the bench finds them wherever
/// it runs; each applies only to the file whose fingerprint it carries.
const BUNDLED_FLOPS: [&str; 4] = [
    include_str!("../../models/gnntrack_in_small.flops.json"),
    include_str!("../../models/gnntrack_in_fast.flops.json"),
    include_str!("../../models/gnntrack_in_large.flops.json"),
    include_str!("../../models/gnntrack_gat.flops.json"),
];

/// Where a model's FLOP count came from.
#[derive(Debug, Clone, PartialEq)]
pub enum FlopsSource {
    /// The command line.
    Given,
    /// This `.flops.json` file beside the model.
    File(std::path::PathBuf),
    /// The compiled-in copy of `models/<name>.flops.json`.
    Bundled(String),
}

impl std::fmt::Display for FlopsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlopsSource::Given => f.write_str("given on the command line"),
            FlopsSource::File(path) => write!(f, "{}", path.display()),
            FlopsSource::Bundled(model) => write!(
                f,
                "models/{}.flops.json, compiled in",
                model.trim_end_matches(".onnx")
            ),
        }
    }
}

impl ModelFlops {
    /// Reads a `.flops.json` text.
    pub fn from_json(text: &str) -> Result<ModelFlops, String> {
        serde_json::from_str(text).map_err(|e| format!("not a FLOP count: {e}"))
    }

    /// A count given by hand (no file).
    pub fn given(per_node: f64, per_edge: f64) -> ModelFlops {
        ModelFlops {
            model: String::new(),
            fnv1a64: String::new(),
            flops_per_node: per_node,
            flops_per_edge: per_edge,
            flops_constant: 0.0,
            bytes_moved_per_node: 0.0,
            bytes_moved_per_edge: 0.0,
        }
    }

    /// FLOPs of one run on a graph of `nodes` hits and `edges` edges.
    pub fn flops(&self, nodes: usize, edges: usize) -> f64 {
        self.flops_per_node * nodes as f64
            + self.flops_per_edge * edges as f64
            + self.flops_constant
    }

    /// Whether this count was made on exactly these model bytes.
    pub fn matches(&self, model_bytes: &[u8]) -> bool {
        u64::from_str_radix(&self.fnv1a64, 16).ok() == Some(fnv1a64(model_bytes))
    }

    /// The count for these model bytes: `<model>.flops.json` beside the model file when
    /// `model_path` is given and that file exists, else the compiled-in count of a model of
    /// `models/` with the same fingerprint. An error says why none applies (none found, or one
    /// counted on other bytes: a stale count).
    pub fn find(
        model_bytes: &[u8],
        model_path: Option<&Path>,
    ) -> Result<(ModelFlops, FlopsSource), String> {
        const RECOUNT: &str = "run `.venv/bin/python models/train/count_flops.py --write MODEL.onnx` or give --flops-per-node and --flops-per-edge";
        if let Some(path) = model_path {
            let sidecar = path.with_extension("flops.json");
            if let Ok(text) = std::fs::read_to_string(&sidecar) {
                let flops = ModelFlops::from_json(&text)
                    .map_err(|e| format!("{}: {e}", sidecar.display()))?;
                return if flops.matches(model_bytes) {
                    Ok((flops, FlopsSource::File(sidecar)))
                } else {
                    Err(format!(
                        "{} was counted on another version of the model ({RECOUNT})",
                        sidecar.display()
                    ))
                };
            }
        }
        for text in BUNDLED_FLOPS {
            let flops = ModelFlops::from_json(text)?;
            if flops.matches(model_bytes) {
                let source = FlopsSource::Bundled(flops.model.clone());
                return Ok((flops, source));
            }
        }
        Err(format!("no FLOP count for this model ({RECOUNT})"))
    }
}

/// The processor's peak single-precision FLOP rate: cores x clock x FLOP per cycle and core.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuPeak {
    /// Physical cores this process may use.
    pub cores: usize,
    /// Clock, GHz.
    pub ghz: f64,
    /// Where the clock comes from.
    pub clock_source: &'static str,
    /// f32 FLOP per cycle and core.
    pub flop_per_cycle: u32,
    /// The vector units assumed for `flop_per_cycle`.
    pub vector_units: &'static str,
}

/// f32 FLOP per cycle and core from the processor's flags (`flags` of x86 or `Features` of
/// ARM in `/proc/cpuinfo`), with the units assumed: two fused multiply-add units per core of
/// the widest vector width the flags announce, each FMA two FLOP.
pub fn flop_per_cycle(flags: &str) -> (u32, &'static str) {
    let has = |f: &str| flags.split_whitespace().any(|w| w == f);
    if has("avx512f") && has("fma") {
        (64, "AVX-512F + FMA: 2 FMA units x 16 f32 lanes x 2 FLOP")
    } else if has("avx2") && has("fma") {
        (32, "AVX2 + FMA: 2 FMA units x 8 f32 lanes x 2 FLOP")
    } else if has("asimd") {
        (16, "NEON: 2 FMA units x 4 f32 lanes x 2 FLOP")
    } else {
        (8, "SSE: 1 add + 1 multiply unit x 4 f32 lanes")
    }
}

/// The value of the first `key : value` line of `/proc/cpuinfo` text with this key.
fn cpuinfo_value<'a>(cpuinfo: &'a str, key: &str) -> Option<&'a str> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

impl CpuPeak {
    /// The peak from `/proc/cpuinfo` text, the maximum frequency of cpufreq in kHz when known,
    /// and the logical CPUs this process may use (divided by the threads per core that
    /// `siblings` and `cpu cores` announce).
    pub fn from_cpuinfo(cpuinfo: &str, max_freq_khz: Option<u64>, logical: usize) -> CpuPeak {
        let flags = cpuinfo_value(cpuinfo, "flags")
            .or_else(|| cpuinfo_value(cpuinfo, "Features"))
            .unwrap_or("");
        let (flop_per_cycle, vector_units) = flop_per_cycle(flags);
        let number = |key| cpuinfo_value(cpuinfo, key).and_then(|v| v.parse::<f64>().ok());
        let smt = match (number("siblings"), number("cpu cores")) {
            (Some(s), Some(c)) if c >= 1.0 && s >= c => (s / c).round().max(1.0) as usize,
            _ => 1,
        };
        let mhz = cpuinfo
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.trim() == "cpu MHz")
            .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        let (ghz, clock_source) = match (max_freq_khz, mhz) {
            (Some(khz), _) if khz > 0 => (khz as f64 / 1e6, "cpufreq maximum"),
            (_, Some(mhz)) if mhz > 0.0 => (mhz / 1e3, "cpu MHz of /proc/cpuinfo"),
            _ => (1.0, "unknown, 1 GHz assumed"),
        };
        CpuPeak {
            cores: (logical / smt).max(1),
            ghz,
            clock_source,
            flop_per_cycle,
            vector_units,
        }
    }

    /// The peak of this machine (Linux files; other systems get the fallbacks).
    pub fn detect() -> CpuPeak {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let max_khz =
            std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
                .ok()
                .and_then(|s| s.trim().parse().ok());
        let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
        CpuPeak::from_cpuinfo(&cpuinfo, max_khz, logical)
    }

    /// Peak f32 rate, GFLOP/s.
    pub fn gflops(&self) -> f64 {
        self.cores as f64 * self.ghz * f64::from(self.flop_per_cycle)
    }

    /// The assumption in words, e.g. `2 cores x 2.45 GHz (cpu MHz of /proc/cpuinfo) x 32 FLOP/cycle
    /// (AVX2 + FMA: ...) = 157 GFLOP/s`.
    pub fn describe(&self) -> String {
        format!(
            "{} cores x {:.2} GHz ({}) x {} f32 FLOP/cycle ({}) = {:.0} GFLOP/s",
            self.cores,
            self.ghz,
            self.clock_source,
            self.flop_per_cycle,
            self.vector_units,
            self.gflops()
        )
    }
}

/// Memory bandwidth of the machine, GB/s (1e9 bytes per second), STREAM-like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bandwidth {
    /// `a[i] = b[i]`: 2 arrays of traffic.
    pub copy_gbs: f64,
    /// `a[i] = b[i] + s * c[i]`: 3 arrays of traffic.
    pub triad_gbs: f64,
    /// Size of one array, MiB.
    pub array_mib: usize,
}

/// Measures copy and triad bandwidth over three `array_mib` MiB arrays of f64 on all threads of
/// the rayon pool, best of `repeats` passes each. The traffic counted is that of STREAM: bytes
/// read plus bytes written, without the write-allocate reads of the destination.
pub fn measure_bandwidth(array_mib: usize, repeats: usize) -> Bandwidth {
    let n = (array_mib.max(1) << 20) / std::mem::size_of::<f64>();
    // First touch in parallel, so each thread's pages are near it.
    let mut a = vec![0.0f64; n];
    let mut b = vec![0.0f64; n];
    let mut c = vec![0.0f64; n];
    let chunk = (n / (4 * rayon::current_num_threads()).max(1)).max(4096);
    a.par_chunks_mut(chunk)
        .zip(b.par_chunks_mut(chunk))
        .zip(c.par_chunks_mut(chunk))
        .for_each(|((a, b), c)| {
            a.fill(0.0);
            b.fill(1.0);
            c.fill(2.0);
        });
    let bytes = (n * std::mem::size_of::<f64>()) as f64;
    let mut copy = f64::INFINITY;
    let mut triad = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        a.par_chunks_mut(chunk)
            .zip(b.par_chunks(chunk))
            .for_each(|(a, b)| a.copy_from_slice(b));
        copy = copy.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        a.par_chunks_mut(chunk)
            .zip(b.par_chunks(chunk))
            .zip(c.par_chunks(chunk))
            .for_each(|((a, b), c)| {
                for ((a, b), c) in a.iter_mut().zip(b).zip(c) {
                    *a = b + 3.0 * c;
                }
            });
        triad = triad.min(t.elapsed().as_secs_f64());
    }
    // Keep the result observable so the passes are not optimised away.
    assert!(std::hint::black_box(a[n / 2]) == 7.0);
    Bandwidth {
        copy_gbs: 2.0 * bytes / copy / 1e9,
        triad_gbs: 3.0 * bytes / triad / 1e9,
        array_mib,
    }
}

/// Bytes the graph stage must touch at least: every hit read once by the validation (id 8,
/// x, y, z 24, layer and stave 2 bytes) and every edge written once (inner and outer hit
/// 4 + 4, kind 1 byte). The search reads the coordinates again and keeps cell lists, so the
/// true traffic is higher: the achieved rate against this lower bound says how far the stage
/// is from being limited by memory bandwidth.
pub fn graph_bytes(hits: usize, edges: usize) -> f64 {
    34.0 * hits as f64 + 9.0 * edges as f64
}

/// Bytes the feature stage must touch at least: the hits' coordinates, layer and stave read
/// (26 bytes), each edge's hits and kind read (9 bytes), and the f32 feature tensors written
/// (4 bytes per node feature per hit and per edge feature per edge). The reads of the two hits
/// of an edge are gathers, counted once per hit here.
pub fn feature_bytes(hits: usize, edges: usize, node_features: usize, edge_features: usize) -> f64 {
    (26.0 + 4.0 * node_features as f64) * hits as f64
        + (9.0 + 4.0 * edge_features as f64) * edges as f64
}

/// `y = c * x^k`, fitted by least squares on `ln y = ln c + k ln x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerLaw {
    /// Prefactor.
    pub c: f64,
    /// Exponent.
    pub k: f64,
}

impl PowerLaw {
    /// The value at `x`.
    pub fn at(&self, x: f64) -> f64 {
        self.c * x.powf(self.k)
    }
}

/// Least-squares power law through the points with positive `x` and `y`; `None` with fewer
/// than two such points of different `x`.
pub fn fit_power_law(points: &[(f64, f64)]) -> Option<PowerLaw> {
    let logs: Vec<(f64, f64)> = points
        .iter()
        .filter(|&&(x, y)| x > 0.0 && y > 0.0 && x.is_finite() && y.is_finite())
        .map(|&(x, y)| (x.ln(), y.ln()))
        .collect();
    let n = logs.len() as f64;
    if logs.len() < 2 {
        return None;
    }
    let mx = logs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = logs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = logs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = logs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let k = sxy / sxx;
    Some(PowerLaw {
        c: (my - k * mx).exp(),
        k,
    })
}

/// CPU time this process has used so far, all its threads, seconds
/// (`CLOCK_PROCESS_CPUTIME_ID`), if known. The worker threads that spin while they wait for
/// work count too: it is the time the process keeps the cores.
pub fn process_cpu_seconds() -> Option<f64> {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime only writes the timespec it is given.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
        (rc == 0).then_some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Page faults this process has taken so far without reading the disk (`ru_minflt`), if
/// known: mostly memory touched for the first time, each page of which the kernel clears.
pub fn minor_page_faults() -> Option<u64> {
    #[cfg(unix)]
    {
        // SAFETY: an all-zero rusage is a valid value of the plain C struct.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage only writes the struct it is given.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
        (rc == 0).then_some(usage.ru_minflt as u64)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Resident-set high-water mark of this process, bytes (Linux `VmHWM`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the resident-set high-water mark to the current resident set (Linux: `5` written to
/// `/proc/self/clear_refs`); false where that is not possible.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_cpu_time_grows_with_work() {
        let before = process_cpu_seconds().expect("a unix process clock");
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        let after = process_cpu_seconds().unwrap();
        assert!(after > before, "{before} -> {after} ({x})");
    }

    #[test]
    fn fnv1a64_has_its_published_values() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn the_bundled_counts_parse_and_the_default_model_has_one() {
        for text in BUNDLED_FLOPS {
            let f = ModelFlops::from_json(text).unwrap();
            assert!(f.flops_per_node > 0.0 && f.flops_per_edge > 0.0, "{f:?}");
        }
        let (found, source) = ModelFlops::find(gnntrack::pipeline::DEFAULT_MODEL, None).expect(
            "models/gnntrack_in_fast.flops.json is stale: run \
             `.venv/bin/python models/train/count_flops.py --write models/*.onnx`",
        );
        assert_eq!(found.model, "gnntrack_in_fast.onnx");
        assert_eq!(
            source.to_string(),
            "models/gnntrack_in_fast.flops.json, compiled in"
        );
        assert!(ModelFlops::find(b"not a model", None).is_err());
    }

    #[test]
    fn flops_are_linear_in_nodes_and_edges() {
        let f = ModelFlops::given(10.0, 100.0);
        assert_eq!(f.flops(3, 5), 530.0);
    }

    #[test]
    fn flop_per_cycle_follows_the_widest_vector_flags() {
        let x86 = "fpu sse sse2 ssse3 fma sse4_1 avx avx2 bmi2";
        assert_eq!(flop_per_cycle(x86).0, 32);
        assert_eq!(flop_per_cycle(&format!("{x86} avx512f avx512bw")).0, 64);
        // AVX-512 without FMA flag does not count as such, nor does avx2 alone.
        assert_eq!(flop_per_cycle("sse avx2 avx512f").0, 8);
        assert_eq!(flop_per_cycle("fp asimd evtstrm").0, 16);
        assert_eq!(flop_per_cycle("").0, 8);
        // A flag must match as a whole word.
        assert_eq!(flop_per_cycle("avx2_fake fma").0, 8);
    }

    #[test]
    fn the_peak_is_read_from_cpuinfo() {
        let cpuinfo = "processor\t: 0\nmodel name\t: Test CPU\ncpu MHz\t\t: 2400.000\n\
                       siblings\t: 4\ncpu cores\t: 2\nflags\t\t: sse avx2 fma\n\n\
                       processor\t: 1\ncpu MHz\t\t: 2500.000\n";
        let p = CpuPeak::from_cpuinfo(cpuinfo, None, 4);
        assert_eq!((p.cores, p.flop_per_cycle), (2, 32), "2 threads per core");
        assert!((p.ghz - 2.5).abs() < 1e-12, "the highest cpu MHz");
        assert!((p.gflops() - 160.0).abs() < 1e-9);
        let p = CpuPeak::from_cpuinfo(cpuinfo, Some(3_700_000), 4);
        assert!((p.ghz - 3.7).abs() < 1e-12, "cpufreq maximum first");
        assert!(p.describe().contains("AVX2"));
        let bare = CpuPeak::from_cpuinfo("", None, 3);
        assert_eq!((bare.cores, bare.flop_per_cycle, bare.ghz), (3, 8, 1.0));
    }

    #[test]
    fn the_power_law_fit_is_exact_on_a_power_law() {
        let points: Vec<(f64, f64)> = [1e2, 1e3, 3e4, 2e5, 1.1e6]
            .iter()
            .map(|&x| (x, 0.003 * f64::powf(x, 1.37)))
            .collect();
        let fit = fit_power_law(&points).unwrap();
        assert!((fit.k - 1.37).abs() < 1e-12, "{fit:?}");
        assert!((fit.c - 0.003).abs() < 1e-12 * 0.003 * 1e3, "{fit:?}");
        assert!((fit.at(5e5) / (0.003 * f64::powf(5e5, 1.37)) - 1.0).abs() < 1e-12);
        assert!(fit_power_law(&points[..1]).is_none());
        assert!(fit_power_law(&[(10.0, 1.0), (10.0, 2.0)]).is_none());
        // Points that have no logarithm are left out.
        let mut with_zero = points.clone();
        with_zero.push((0.0, 1.0));
        with_zero.push((5.0, 0.0));
        assert!((fit_power_law(&with_zero).unwrap().k - 1.37).abs() < 1e-12);
    }

    #[test]
    fn bandwidth_and_traffic_estimates_are_positive() {
        let b = measure_bandwidth(1, 2);
        assert!(b.copy_gbs > 0.0 && b.triad_gbs > 0.0, "{b:?}");
        assert_eq!(graph_bytes(2, 3), 68.0 + 27.0);
        assert_eq!(feature_bytes(1, 1, 7, 11), 26.0 + 28.0 + 9.0 + 44.0);
    }

    #[test]
    fn the_peak_rss_is_known_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes().unwrap() > 0);
        }
    }
}
