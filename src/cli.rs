//! Command-line edge (SPEC §6): parses flags with clap, loads and checks the
//! config, calls the library, writes CSV / JSON / figures. `anyhow` lives
//! only here; every failure is printed as one line with exit code 2.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use fsrgan::config::{self, Config};
use fsrgan::target::{self, Batch, Target};

#[derive(Parser, Debug)]
#[command(name = "fsrgan", version, about = "Tests the Forward Super-Resolution GAN theory by experiment")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Flags shared by every command that reads a config.
#[derive(clap::Args, Debug, Clone)]
struct ConfigArgs {
    /// TOML config file (default: the built-in defaults, = configs/default.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override a config field, e.g. `--set target.widths=24` (repeatable).
    #[arg(long = "set", value_name = "SECTION.FIELD=VALUE")]
    sets: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The main job: build the default target, write its figures and summary.
    Demo {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Output folder.
        #[arg(long, default_value = "plots/demo")]
        out: PathBuf,
        /// Seed of the run (the target keeps its own `target.seed`).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Draw samples from the target: CSV (and optionally a grid figure).
    Sample {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Number of samples.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        n: u64,
        /// Seed of the sampling stream.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// CSV file: one row per sample, columns l{level}_r{row}_c{col}[_ch{c}].
        #[arg(long)]
        out: PathBuf,
        /// Also draw a sample grid (.png or .svg), each sample at every level.
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// Statistics of the realised target: activation rates, coherence, pooling.
    Describe {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Print JSON (SPEC §8) instead of a table.
        #[arg(long)]
        json: bool,
        /// Samples used for the statistics.
        #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u64).range(10..=1_000_000))]
        samples: u64,
    },
}

/// Runs the CLI; returns the process exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand) {
                let _ = e.print();
                return 0;
            }
            let text = e.render().to_string();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid arguments");
            eprintln!("{}", first.trim());
            return 2;
        }
    };
    match dispatch(cli.command) {
        Ok(()) => 0,
        Err(e) => {
            // One line: the chain of causes joined.
            let msg: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", msg.join(": "));
            2
        }
    }
}

fn dispatch(cmd: Command) -> Result<()> {
    match cmd {
        Command::Demo { cfg, out, seed, quiet } => demo(&cfg, &out, seed, quiet),
        Command::Sample { cfg, n, seed, out, plot } => sample(&cfg, n as usize, seed, &out, plot.as_deref()),
        Command::Describe { cfg, json, samples } => describe(&cfg, json, samples as usize),
    }
}

fn load(cfg: &ConfigArgs) -> Result<Config> {
    Ok(config::load(cfg.config.as_deref(), &cfg.sets)?)
}

fn build_target(cfg: &Config) -> Result<Target> {
    Ok(Target::new(&cfg.target)?)
}

/// CSV header of a sample row (SPEC §8).
pub fn csv_header(t: &Target) -> Vec<String> {
    let g = &t.spec.geometry;
    let mut cols = Vec::new();
    for l in 1..=g.levels {
        let (h, w) = g.image_dims(l);
        for r in 0..h {
            for c in 0..w {
                for ch in 0..g.channels {
                    if g.channels > 1 {
                        cols.push(format!("l{l}_r{r}_c{c}_ch{ch}"));
                    } else {
                        cols.push(format!("l{l}_r{r}_c{c}"));
                    }
                }
            }
        }
    }
    cols
}

fn write_samples_csv(path: &Path, t: &Target, xs: &[nalgebra::DMatrix<f64>], n: usize) -> Result<()> {
    let g = &t.spec.geometry;
    let mut w = csv::Writer::from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    w.write_record(csv_header(t))?;
    for b in 0..n {
        let mut row: Vec<String> = Vec::new();
        for l in 1..=g.levels {
            row.extend(g.to_image(l, &xs[l - 1], b).iter().map(|v| format!("{v}")));
        }
        w.write_record(&row)?;
    }
    w.flush()?;
    Ok(())
}

fn sample(cfg: &ConfigArgs, n: usize, seed: u64, out: &Path, plot: Option<&Path>) -> Result<()> {
    let cfg = load(cfg)?;
    if let Some(p) = plot {
        check_figure_path(p)?;
    }
    let t = build_target(&cfg)?;
    let mut rng = target::rand_chacha(seed);
    let batch = t.sample(n, &mut rng);
    write_samples_csv(out, &t, &batch.x, n)?;
    eprintln!("wrote {n} samples to {}", out.display());
    if let Some(p) = plot {
        sample_grid(p, &t, &batch, n.min(8), "Samples of the FSR target")?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

fn check_figure_path(p: &Path) -> Result<()> {
    match p.extension().and_then(|e| e.to_str()) {
        Some("png") | Some("svg") => Ok(()),
        _ => bail!("--plot {}: the figure must end in .png or .svg", p.display()),
    }
}

/// A grid of `rows` samples, each shown at every level side by side.
fn sample_grid(path: &Path, t: &Target, batch: &Batch, rows: usize, title: &str) -> Result<()> {
    let g = &t.spec.geometry;
    let grid: Vec<Vec<fsrgan::plots::Image>> = (0..rows)
        .map(|b| {
            (1..=g.levels)
                .map(|l| {
                    let (h, w) = g.image_dims(l);
                    fsrgan::plots::Image {
                        height: h,
                        width: w,
                        channels: g.channels,
                        data: g.to_image(l, &batch.x[l - 1], b),
                    }
                })
                .collect()
        })
        .collect();
    let cols: Vec<String> = (1..=g.levels)
        .map(|l| {
            let (h, w) = g.image_dims(l);
            format!("level {l} ({h}x{w})")
        })
        .collect();
    let row_titles: Vec<String> = (0..rows).map(|b| format!("#{b}")).collect();
    fsrgan::plots::image_grid(path, title, &grid, &cols, &row_titles, fsrgan::plots::Range::Auto)?;
    Ok(())
}

fn describe(cfg: &ConfigArgs, json: bool, samples: usize) -> Result<()> {
    let cfg = load(cfg)?;
    let t = build_target(&cfg)?;
    let mut rng = target::rand_chacha(cfg.target.seed ^ 0x5EED_DE5C);
    let levels = target::describe(&t, samples, &mut rng);
    if json {
        println!("{}", serde_json::json!({ "levels": levels }));
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "FSR target: {} levels, fan-out {}, {}x{} patches x {} channel(s), output {:?}, lambda {}",
        t.num_levels(), t.spec.geometry.fanout, t.spec.geometry.side, t.spec.geometry.side,
        t.spec.geometry.channels, t.spec.output, t.spec.lambda)?;
    writeln!(out, "{:>5} {:>7} {:>5} {:>7} {:>15} {:>11} {:>5} {:>9} {:>9} {:>10}",
        "level", "patches", "width", "k/m", "rate min..max", "mean active", "dead", "always-on", "coherence", "pool err")?;
    for d in &levels {
        let lo = d.activation_rates.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = d.activation_rates.iter().cloned().fold(0.0, f64::max);
        writeln!(out, "{:>5} {:>7} {:>5} {:>7.3} {:>7.3}..{:<7.3} {:>11.2} {:>5} {:>9} {:>9.2e} {:>10.1e}",
            d.level, d.patches, d.width, d.target_rate, lo, hi, d.mean_active,
            d.dead_units.len(), d.always_on_units.len(), d.coherence, d.pooling_error)?;
    }
    let alone: Vec<String> = levels
        .iter()
        .map(|d| format!("{:.3}", d.alone_rates.iter().cloned().fold(f64::INFINITY, f64::min)))
        .collect();
    writeln!(out, "min share of patches where a unit is the only active one, per level: {} (low = harder to learn)", alone.join(", "))?;
    Ok(())
}

fn demo(cfg: &ConfigArgs, out: &Path, seed: u64, _quiet: bool) -> Result<()> {
    let cfg = load(cfg)?;
    let t = build_target(&cfg)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut rng = target::rand_chacha(seed);
    let batch = t.sample(8, &mut rng);
    for ext in ["png", "svg"] {
        let p = out.join(format!("target_samples.{ext}"));
        sample_grid(&p, &t, &batch, 8, "Default FSR target: samples at every resolution")?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}
