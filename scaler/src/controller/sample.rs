//! Gathering one [`Sample`] of a function's load: the fleet's counters, and, for the
//! triggers that are configured, what the operating system and the instances report.
//!
//! Each trigger's observation is a total over the function's instances (see
//! `policy/triggers.rs`): requests per second from the instances' served counters, CPU
//! percent and resident memory from `/proc/PID/stat` and `/proc/PID/status`, and the
//! custom metric scraped from each ready instance's Prometheus endpoint and summed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tidegate_config::{CustomMetric, Scaling};
use tokio::time::Instant;

use crate::fleet::{Fleet, InstanceId, InstanceState};
use crate::policy::{Observations, Sample};
use crate::probe;
use crate::provider::process::clock_ticks_per_second;

/// Takes samples of one function, remembering what rates need from the previous one.
#[derive(Debug)]
pub(super) struct Sampler {
    fleet: Arc<Fleet>,
    wants_rps: bool,
    wants_cpu: bool,
    memory_mb: Option<u32>,
    wants_queue: bool,
    custom: Option<CustomMetric>,
    previous: Option<Instant>,
    /// Per instance: requests served and CPU ticks at the previous sample.
    last_served: HashMap<InstanceId, u64>,
    last_cpu_ticks: HashMap<InstanceId, u64>,
    ticks_per_second: f64,
}

impl Sampler {
    pub(super) fn new(fleet: Arc<Fleet>, scaling: &Scaling, memory_mb: u32) -> Self {
        Sampler {
            fleet,
            wants_rps: scaling.target_rps.is_some(),
            wants_cpu: scaling.target_cpu_percent.is_some(),
            memory_mb: scaling.target_memory_percent.map(|_| memory_mb),
            wants_queue: scaling.target_queue_depth.is_some(),
            custom: scaling.custom.clone(),
            previous: None,
            last_served: HashMap::new(),
            last_cpu_ticks: HashMap::new(),
            ticks_per_second: clock_ticks_per_second() as f64,
        }
    }

    /// One sample at `now`. Scraping the custom metric is bounded by `scrape_timeout`.
    pub(super) async fn sample(&mut self, now: Instant, scrape_timeout: Duration) -> Sample {
        let instances = self.fleet.instances();
        let elapsed = self
            .previous
            .map(|at| now.saturating_duration_since(at).as_secs_f64())
            .filter(|secs| *secs > 0.0);
        self.previous = Some(now);

        let mut observed = Observations::default();
        if self.wants_rps {
            let mut served = 0;
            let mut seen = HashMap::with_capacity(instances.len());
            for instance in instances.iter() {
                let total = instance.served();
                let before = self.last_served.get(&instance.id()).copied().unwrap_or(0);
                served += total.saturating_sub(before);
                seen.insert(instance.id(), total);
            }
            self.last_served = seen;
            observed.requests_per_second = elapsed.map(|secs| served as f64 / secs);
        }
        if self.wants_cpu {
            let mut ticks = 0;
            let mut seen = HashMap::with_capacity(instances.len());
            for instance in instances.iter() {
                let Some(now_ticks) = instance.pid().and_then(proc::cpu_ticks) else {
                    continue;
                };
                // An instance seen for the first time contributes from the next sample.
                if let Some(before) = self.last_cpu_ticks.get(&instance.id()) {
                    ticks += now_ticks.saturating_sub(*before);
                }
                seen.insert(instance.id(), now_ticks);
            }
            self.last_cpu_ticks = seen;
            observed.cpu_percent =
                elapsed.map(|secs| ticks as f64 / self.ticks_per_second / secs * 100.0);
        }
        if let Some(memory_mb) = self.memory_mb {
            let resident: u64 = instances
                .iter()
                .filter_map(|i| i.pid().and_then(proc::resident_bytes))
                .sum();
            observed.memory_percent =
                Some(resident as f64 / (f64::from(memory_mb) * 1024.0 * 1024.0) * 100.0);
        }
        let queued = self.fleet.waiting();
        if self.wants_queue {
            observed.queue_depth = Some(queued as f64);
        }
        if let Some(custom) = &self.custom {
            observed.custom = scrape(&instances, custom, scrape_timeout).await;
        }

        let counts = self.fleet.counts();
        Sample {
            at: now,
            in_flight: u32::try_from(self.fleet.in_flight()).unwrap_or(u32::MAX),
            queued: u32::try_from(queued).unwrap_or(u32::MAX),
            ready: u32::try_from(counts.ready).unwrap_or(u32::MAX),
            observed,
        }
    }
}

/// The custom metric summed over the ready instances, scraped concurrently; `None` when no
/// instance answered with it.
async fn scrape(
    instances: &[Arc<crate::fleet::Instance>],
    custom: &CustomMetric,
    timeout: Duration,
) -> Option<f64> {
    let scrapes = instances
        .iter()
        .filter(|i| i.state() == InstanceState::Ready)
        .map(|instance| {
            let addr = instance.addr();
            async move {
                match probe::get(addr, &custom.path, timeout).await {
                    Ok((200..=299, body)) => {
                        prometheus_sum(&String::from_utf8_lossy(&body), &custom.metric)
                    }
                    _ => None,
                }
            }
        });
    let values: Vec<Option<f64>> = join_all(scrapes).await;
    values.into_iter().flatten().reduce(|a, b| a + b)
}

/// Polls all futures together; a handful per function per tick, so a plain loop suffices.
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("all ready")).collect()
}

/// The sum of every sample of `metric` in a Prometheus text page (all label sets), or
/// `None` when the page has none.
pub(super) fn prometheus_sum(page: &str, metric: &str) -> Option<f64> {
    let mut sum = None;
    for line in page.lines() {
        let line = line.trim_start();
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(metric) else {
            continue;
        };
        // The name must end here: `jobs` must not match `jobs_total`.
        let value = if let Some(labelled) = rest.strip_prefix('{') {
            match labelled.rfind('}') {
                Some(end) => &labelled[end + 1..],
                None => continue,
            }
        } else if rest.starts_with([' ', '\t']) {
            rest
        } else {
            continue;
        };
        // "value [timestamp]"
        if let Some(value) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            && value.is_finite()
        {
            *sum.get_or_insert(0.0) += value;
        }
    }
    sum
}

/// Reading a process's CPU time and memory from `/proc`.
mod proc {
    /// utime + stime of `pid`, in clock ticks.
    pub(super) fn cpu_ticks(pid: u32) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) is in parentheses and may hold spaces: count the
        // fields after its closing parenthesis. utime and stime are fields 14 and 15.
        let after = &stat[stat.rfind(')')? + 1..];
        let mut fields = after.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some(utime + stime)
    }

    /// Resident memory of `pid` (`VmRSS`), in bytes.
    pub(super) fn resident_bytes(pid: u32) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn reads_this_process() {
            let me = std::process::id();
            assert!(super::cpu_ticks(me).is_some());
            assert!(super::resident_bytes(me).expect("VmRSS") > 1024 * 1024);
            assert!(super::cpu_ticks(u32::MAX).is_none());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Instance;
    use tidegate_config::CustomMetric;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A listener answering every connection with this metrics page.
    async fn metrics_page(page: &'static str) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let answer = format!("HTTP/1.0 200 OK\r\n\r\n{page}");
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn samples_count_the_fleet_and_read_the_configured_triggers() {
        let fleet = Arc::new(Fleet::new("f", 0));
        let me = std::process::id();
        for page in ["jobs 3\n", "jobs{q=\"a\"} 4\njobs{q=\"b\"} 1\n"] {
            let addr = metrics_page(page).await;
            // Both instances claim this test process as theirs, so CPU and memory have a
            // real process to read.
            let instance = Instance::new(
                crate::provider::next_instance_id(),
                addr,
                Some(me),
                InstanceState::Ready,
            );
            fleet.add(Arc::new(instance));
        }
        let lease = fleet.try_acquire().expect("a ready instance");
        let scaling = Scaling {
            target_rps: Some(1.0),
            target_cpu_percent: Some(50.0),
            target_memory_percent: Some(50.0),
            target_queue_depth: Some(1.0),
            custom: Some(CustomMetric {
                path: "/metrics".into(),
                metric: "jobs".into(),
                target: 1.0,
            }),
            ..Scaling::default()
        };
        let mut sampler = Sampler::new(fleet.clone(), &scaling, 1);
        let first = sampler.sample(Instant::now(), Duration::from_secs(5)).await;
        assert_eq!((first.in_flight, first.queued, first.ready), (1, 0, 2));
        assert_eq!(
            first.observed.custom,
            Some(8.0),
            "3 + 4 + 1 over both instances"
        );
        assert_eq!(first.observed.queue_depth, Some(0.0));
        // Rates need two samples; memory does not. Two instances of this process, each
        // far above 1 MB of `memory_mb = 1`.
        assert_eq!(first.observed.requests_per_second, None);
        assert!(first.observed.memory_percent.unwrap() > 200.0);

        drop(lease); // one request finished
        let burn = std::time::Instant::now();
        while burn.elapsed() < Duration::from_millis(50) {
            std::hint::black_box(burn.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = sampler.sample(Instant::now(), Duration::from_secs(5)).await;
        let rps = second.observed.requests_per_second.unwrap();
        assert!(
            rps > 0.0,
            "one request served since the first sample: {rps}"
        );
        assert!(second.observed.cpu_percent.unwrap() >= 0.0);
        assert_eq!(second.in_flight, 0);
    }

    #[test]
    fn sums_every_label_set_of_the_named_metric_only() {
        let page = "# HELP jobs_pending Jobs.\n# TYPE jobs_pending gauge\n\
                    jobs_pending{queue=\"a\"} 3\njobs_pending{queue=\"b\",x=\"}\"} 4.5 1700000000\n\
                    jobs_pending_total 100\njobs 7\n";
        assert_eq!(prometheus_sum(page, "jobs_pending"), Some(7.5));
        assert_eq!(prometheus_sum(page, "jobs"), Some(7.0));
        assert_eq!(prometheus_sum(page, "absent"), None);
        assert_eq!(prometheus_sum("x NaN\n", "x"), None);
    }
}
