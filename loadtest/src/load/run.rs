//! One run from start to end: open every connection, start the clock, let the workers
//! send while the sampler keeps the timeline, then gather what was recorded.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use thiserror::Error;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::admin::AdminClient;
use super::link::{Link, LinkError, SharedHttp2};
use super::pacer::Pacer;
use super::plan::{Mode, Plan};
use super::progress;
use super::record::{Recorder, Tally};
use super::sampler::{Sampler, Timeline};
use super::target::Protocol;
use super::worker::{Shared, Worker};

/// Connections opened at once while warming up: enough to be quick, few enough that a
/// target's listen backlog (often 128 or 1024) does not overflow and drop SYNs.
const WARM_CONCURRENCY: usize = 128;

/// A run that could not start.
#[derive(Debug, Error)]
pub enum RunError {
    /// A connection could not be opened before the start: nothing was sent.
    #[error("the target cannot be reached, so nothing was sent")]
    Unreachable(#[from] LinkError),
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When the clock started.
    pub started_at: SystemTime,
    /// From the start until the last answer, or the schedule's end if later.
    pub elapsed: Duration,
    /// Everything recorded.
    pub tally: Tally,
    /// Requests the schedule asked for that never went out (open loop).
    pub missed: u64,
    /// The samples.
    pub timeline: Timeline,
}

/// Runs `plan` to its end.
pub async fn run(plan: &Plan) -> Result<Outcome, RunError> {
    let links = warm_links(plan).await?;

    let start = Instant::now();
    let started_at = SystemTime::now();
    let pacer = Arc::new(match &plan.mode {
        Mode::Open(schedule) => Pacer::open(schedule.clone(), start),
        Mode::Closed(duration) => Pacer::closed(start, *duration),
    });
    // Twice as many shards as cores keeps two workers on one lock at the same moment rare.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let recorder = Arc::new(Recorder::new(
        (2 * cores).min(plan.workers()),
        plan.priorities.classes().len(),
    ));
    let shared = Shared {
        target: Arc::new(plan.target.clone()),
        pacer: pacer.clone(),
        recorder: recorder.clone(),
        priorities: Arc::new(plan.priorities.clone()),
    };

    // The sampler and the progress line run beside the workers until told to stop.
    let (latest, latest_rx) = watch::channel(None);
    let sampler = Sampler {
        recorder: recorder.clone(),
        pacer: pacer.clone(),
        start,
        interval: plan.sample_interval,
        admin: plan
            .admin
            .as_ref()
            .map(|a| AdminClient::new(&a.address, &a.function, a.token.as_deref())),
        latest,
    };
    let (stop_sampler, sampler_stopped) = oneshot::channel();
    let sampler = tokio::spawn(sampler.run(sampler_stopped));
    let (stop_progress, progress_stopped) = oneshot::channel();
    let progress = (plan.progress && progress::wanted()).then(|| {
        let show = progress::show(
            recorder.clone(),
            latest_rx,
            start,
            plan.length(),
            progress_stopped,
        );
        tokio::spawn(show)
    });

    let seed = started_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut workers = JoinSet::new();
    for (index, link) in links.into_iter().enumerate() {
        workers.spawn(Worker::new(index, shared.clone(), link, seed).run());
    }
    while let Some(joined) = workers.join_next().await {
        if let Err(error) = joined
            && error.is_panic()
        {
            std::panic::resume_unwind(error.into_panic());
        }
    }
    // A schedule that ends with a quiet stretch (rate 0, to watch the scale-down) is
    // sampled to its end although no worker has anything left to send.
    tokio::time::sleep_until(pacer.end()).await;
    let elapsed = start.elapsed();

    let _ = stop_sampler.send(());
    let timeline = sampler.await.expect("the sampler does not panic");
    if let Some(progress) = progress {
        let _ = stop_progress.send(());
        let _ = progress.await;
    }

    Ok(Outcome {
        started_at,
        elapsed,
        tally: recorder.total(),
        missed: pacer.missed(),
        timeline,
    })
}

/// One link per worker, each with its connection open (h2 streams share theirs).
async fn warm_links(plan: &Plan) -> Result<Vec<Link>, LinkError> {
    let address: Arc<str> = plan.target.address.as_str().into();
    let protocol = plan.target.protocol;
    let shared: Vec<Arc<SharedHttp2>> = match protocol {
        Protocol::Http1 => Vec::new(),
        Protocol::Http2 => (0..plan.connections)
            .map(|_| Arc::new(SharedHttp2::new(address.clone())))
            .collect(),
    };
    let mut pending = (0..plan.workers()).map(|index| {
        let h2 = shared.get(index % plan.connections).cloned();
        (index, Link::new(protocol, address.clone(), h2))
    });

    let mut warmed: Vec<Option<Link>> = (0..plan.workers()).map(|_| None).collect();
    let mut opening = JoinSet::new();
    loop {
        while opening.len() < WARM_CONCURRENCY
            && let Some((index, mut link)) = pending.next()
        {
            opening.spawn(async move { link.warm().await.map(|()| (index, link)) });
        }
        let Some(joined) = opening.join_next().await else {
            break;
        };
        let (index, link) = joined.expect("warming a link does not panic")?;
        warmed[index] = Some(link);
    }
    Ok(warmed.into_iter().flatten().collect())
}
