//! `tidegate-loadtest`: the load generator's command line.
//!
//! `tidegate-loadtest run SCENARIO [FLAGS]` runs a scenario file, the flags overriding it;
//! `tidegate-loadtest --url URL [FLAGS]` runs from flags alone; `check` validates scenario
//! files; `chart` redraws the charts of a saved report. The scenario format and the
//! report's fields are described in `loadtest/README.md`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tidegate_loadtest::load::chart::{self, Chart};
use tidegate_loadtest::load::report::summary;
use tidegate_loadtest::load::{Overrides, Plan, Report, Scenario, run};

/// Load generator for tidegate: open or closed loop, HTTP/1.1 or h2c, latencies corrected
/// for coordinated omission, a timeline of the function's scaling from the admin API.
#[derive(Debug, Parser)]
#[command(
    name = "tidegate-loadtest",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    flags: Overrides,

    /// Runtime worker threads (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario file; flags override its values.
    Run {
        /// The scenario (TOML), e.g. loadtest/scenarios/steady.toml.
        scenario: PathBuf,
        #[command(flatten)]
        flags: Box<Overrides>,
    },
    /// Check scenario files and print what each would run.
    Check {
        /// The scenarios.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// Draw timeline.svg and timeline.png from a JSON report written by --report.
    Chart {
        /// The report.
        report: PathBuf,
        /// Where to write the charts.
        #[arg(long, value_name = "DIR", default_value = ".")]
        chart_dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (scenario, flags) = match cli.command {
        None => (Scenario::default(), cli.flags),
        Some(Command::Run { scenario, flags }) => (Scenario::load(&scenario)?, *flags),
        Some(Command::Check { scenarios }) => return check(&scenarios),
        Some(Command::Chart { report, chart_dir }) => return redraw(&report, &chart_dir),
    };
    let plan = Plan::resolve(scenario, &flags)?;

    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime.enable_all().build()?;
    let outcome = runtime.block_on(run(&plan))?;

    let report = Report::new(&plan, &outcome);
    print!("{}", summary::text(&report));
    if let Some(path) = &plan.report {
        write_file(path, report.to_json().as_bytes())?;
        eprintln!("report written to {}", path.display());
    }
    if let Some(dir) = &plan.chart_dir {
        chart::write(dir, &Chart::of(&chart_title(&report), &report.timeline))?;
        eprintln!(
            "charts written to {}",
            dir.join("timeline.{svg,png}").display()
        );
    }
    Ok(())
}

/// Resolves each scenario as `run` would, without sending anything.
fn check(paths: &[PathBuf]) -> anyhow::Result<()> {
    for path in paths {
        let plan = Plan::resolve(Scenario::load(path)?, &Overrides::default())
            .with_context(|| format!("scenario {}", path.display()))?;
        println!(
            "{}: {} {} for {:.1}s, {} workers, {} {}",
            path.display(),
            match &plan.mode {
                tidegate_loadtest::load::plan::Mode::Open(schedule) => format!("open {schedule}"),
                tidegate_loadtest::load::plan::Mode::Closed(_) => "closed".to_owned(),
            },
            plan.target.protocol.name(),
            plan.length().as_secs_f64(),
            plan.workers(),
            plan.target.method(),
            plan.target.url,
        );
    }
    Ok(())
}

fn redraw(report: &Path, dir: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(report)
        .with_context(|| format!("cannot read {}", report.display()))?;
    let report: Report = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a tidegate-loadtest report", report.display()))?;
    chart::write(dir, &Chart::of(&chart_title(&report), &report.timeline))?;
    Ok(())
}

fn chart_title(report: &Report) -> String {
    match &report.scenario {
        Some(name) => format!("{name}: {}", report.target.url),
        None => report.target.url.clone(),
    }
}

fn write_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))
}
