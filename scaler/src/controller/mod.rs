//! The controller: one task per scalable function that samples its load, asks the
//! [`Policy`] how many instances it should have, and makes it so through its [`Provider`].
//!
//! What it does, and when:
//!
//! - Every `tick`: take a [`Sample`], get a decision, then reconcile. At once, between
//!   ticks, when a request finds a function with no instance ready or starting
//!   ([`Fleet::want_capacity`]): ask for at least one ([`Policy::demand`]).
//! - Reconcile: with fewer live (Starting or Ready) instances than desired, launch the
//!   difference; with more, drain the surplus, Starting ones first (they hold no requests),
//!   then the Ready ones with the fewest requests in flight.
//! - Draining: the instance leaves routing at once, finishes its requests (bounded by the
//!   drain limit), then is stopped and removed. Scaling down never fails a request.
//! - Instance events: ready (it joins routing, and the wait it ended is a cold start),
//!   failed to start (counted; starts back off exponentially, and after
//!   [`FAILING_AFTER`] failures in a row with nothing ready the fleet is marked failing so
//!   waiting requests get `SCALE_FAILED`), exited on its own (removed from routing at once,
//!   and replaced by the next reconcile if still wanted).
//! - Manual scaling from the admin API arrives through the [`ScaleHandle`] and applies at
//!   once.
//!
//! Everything here runs on the control thread; the data plane only reads the fleet.

mod sample;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{counter, histogram};
use tidegate_config::Scaling;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::fleet::{Fleet, Instance, InstanceId, InstanceState};
use crate::policy::{Decision, Manual, Policy, Reason, Sample};
use crate::provider::{Launch, Provider, ProviderError};
use sample::Sampler;

/// Start failures in a row, with no instance ready, after which waiting requests are told
/// `SCALE_FAILED` instead of waiting out their timeout.
pub const FAILING_AFTER: u32 = 3;

/// Pause before the first retry of a failed start; it doubles with each failure in a row...
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// ...up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// `tidegate_scale_events_total{function,direction}`: decisions that changed the count.
pub const SCALE_EVENTS_TOTAL: &str = "tidegate_scale_events_total";
/// `tidegate_cold_starts_total{function}`: instances that started and became ready.
pub const COLD_STARTS_TOTAL: &str = "tidegate_cold_starts_total";
/// `tidegate_cold_start_seconds{function}`: from spawn to ready.
pub const COLD_START_SECONDS: &str = "tidegate_cold_start_seconds";

/// What the admin API and the metrics read of a controller, and how they steer it.
#[derive(Debug, Clone)]
pub struct ScaleHandle {
    status: Arc<Status>,
    commands: mpsc::UnboundedSender<Option<Manual>>,
}

#[derive(Debug)]
struct Status {
    desired: AtomicU32,
    panic: AtomicBool,
    reason: Mutex<Reason>,
    manual: Mutex<Option<Manual>>,
}

impl ScaleHandle {
    /// Instances the policy wants now.
    pub fn desired(&self) -> u32 {
        self.status.desired.load(Ordering::Relaxed)
    }

    /// Whether the policy is in panic mode.
    pub fn panic(&self) -> bool {
        self.status.panic.load(Ordering::Relaxed)
    }

    /// What set the last decision.
    pub fn reason(&self) -> Reason {
        *self.status.reason.lock().expect("status lock")
    }

    /// The manual override in force, if any.
    pub fn manual(&self) -> Option<Manual> {
        *self.status.manual.lock().expect("status lock")
    }

    /// Sets (`Some`) or clears (`None`) a manual override; the controller applies it at
    /// once. Returns false if the controller has stopped.
    pub fn set_manual(&self, manual: Option<Manual>) -> bool {
        *self.status.manual.lock().expect("status lock") = manual;
        self.commands.send(manual).is_ok()
    }
}

/// What happened to an instance, reported by the task that watches it.
#[derive(Debug)]
enum Event {
    Ready {
        id: InstanceId,
        took: Duration,
    },
    StartFailed {
        id: InstanceId,
        error: ProviderError,
    },
    Exited {
        id: InstanceId,
        how: String,
    },
    Stopped {
        id: InstanceId,
    },
}

/// Runs one function's scaling. Build with [`Controller::new`], then [`Controller::run`].
pub struct Controller {
    function: Arc<str>,
    fleet: Arc<Fleet>,
    provider: Arc<dyn Provider>,
    policy: Policy,
    sampler: Sampler,
    tick: Duration,
    drain_limit: Duration,
    status: Arc<Status>,
    commands: mpsc::UnboundedReceiver<Option<Manual>>,
    events: mpsc::UnboundedReceiver<Event>,
    events_tx: mpsc::UnboundedSender<Event>,
    /// Instances being drained or stopped on purpose: their exit is expected.
    leaving: HashSet<InstanceId>,
    /// Start failures in a row.
    failures: u32,
    /// No start before this, after a failure.
    retry_at: Option<Instant>,
    last: Option<Decision>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("function", &self.function)
            .finish_non_exhaustive()
    }
}

impl Controller {
    /// A controller for `fleet`, starting instances through `provider` under `scaling`.
    /// `memory_mb` is what the memory trigger compares against; `drain_limit` bounds how
    /// long a draining instance may take to finish its requests.
    pub fn new(
        fleet: Arc<Fleet>,
        provider: Arc<dyn Provider>,
        scaling: &Scaling,
        memory_mb: u32,
        drain_limit: Duration,
    ) -> (Self, ScaleHandle) {
        let status = Arc::new(Status {
            desired: AtomicU32::new(0),
            panic: AtomicBool::new(false),
            reason: Mutex::new(Reason::MinInstances),
            manual: Mutex::new(None),
        });
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let controller = Controller {
            function: fleet.function().clone(),
            sampler: Sampler::new(fleet.clone(), scaling, memory_mb),
            fleet,
            provider,
            policy: Policy::new(scaling.clone()),
            tick: scaling.tick,
            drain_limit,
            status: status.clone(),
            commands,
            events,
            events_tx,
            leaving: HashSet::new(),
            failures: 0,
            retry_at: None,
            last: None,
        };
        let handle = ScaleHandle {
            status,
            commands: commands_tx,
        };
        (controller, handle)
    }

    /// Runs until `stop` turns true. Must run on a thread that lives as long as the
    /// process (the process provider ties its children's lives to the spawning thread).
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let stopped = async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        tokio::pin!(stopped);
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let retry_at = self.retry_at;
            tokio::select! {
                _ = tick.tick() => self.decide(Instant::now()).await,
                () = self.fleet.capacity_wanted() => {
                    // Only a function with nothing on the way needs a decision before the
                    // tick; otherwise the coming instances will take the request.
                    let counts = self.fleet.counts();
                    if counts.ready == 0 && counts.starting == 0 {
                        let decision = self.policy.demand(Instant::now());
                        self.publish(decision, None);
                    }
                }
                Some(manual) = self.commands.recv() => {
                    self.policy.set_manual(manual);
                    tracing::info!(function = %self.function, ?manual, "manual scaling changed");
                    self.decide(Instant::now()).await;
                }
                Some(event) = self.events.recv() => {
                    self.handle(event);
                    self.reconcile();
                }
                () = sleep_until(retry_at) => {
                    self.retry_at = None;
                    self.reconcile();
                }
                () = &mut stopped => return,
            }
        }
    }

    /// Samples, decides, publishes the decision, and reconciles the fleet with it.
    async fn decide(&mut self, now: Instant) {
        let sample = self.sampler.sample(now, self.tick / 2).await;
        self.policy.observe(sample);
        let decision = self.policy.decide(now);
        self.publish(decision, Some(sample));
    }

    /// Makes `decision` the one in force: logs and counts a change, shows it to the admin
    /// API, and reconciles the fleet with it.
    fn publish(&mut self, decision: Decision, sample: Option<Sample>) {
        let previous = self.last.replace(decision);
        let before = previous.map_or(0, |d| d.desired);
        if decision.desired != before || previous.is_some_and(|p| p.panic != decision.panic) {
            tracing::info!(
                function = %self.function,
                from = before,
                to = decision.desired,
                reason = %decision.reason,
                panic = decision.panic,
                in_flight = sample.map(|s| s.in_flight),
                queued = sample.map(|s| s.queued),
                on_demand = sample.is_none(),
                "scaling decision"
            );
        }
        if decision.desired != before {
            let direction = if decision.desired > before {
                "up"
            } else {
                "down"
            };
            counter!(SCALE_EVENTS_TOTAL, "function" => self.function.to_string(), "direction" => direction)
                .increment(1);
        }
        self.status
            .desired
            .store(decision.desired, Ordering::Relaxed);
        self.status.panic.store(decision.panic, Ordering::Relaxed);
        *self.status.reason.lock().expect("status lock") = decision.reason;
        self.reconcile();
    }

    /// Launches or drains instances until the live ones match the last decision.
    fn reconcile(&mut self) {
        let desired = self.status.desired.load(Ordering::Relaxed) as usize;
        let instances = self.fleet.instances();
        let mut live: Vec<&Arc<Instance>> = instances
            .iter()
            .filter(|i| matches!(i.state(), InstanceState::Starting | InstanceState::Ready))
            .collect();

        if live.len() < desired {
            if self.retry_at.is_some_and(|at| Instant::now() < at) {
                return; // backing off; the retry timer reconciles again
            }
            for _ in live.len()..desired {
                match self.provider.launch() {
                    Ok(launch) => self.watch(launch),
                    Err(error) => {
                        self.start_failed(None, &error);
                        break;
                    }
                }
            }
        } else if live.len() > desired {
            // Starting instances first (nothing in flight), then the idlest ready ones.
            live.sort_by_key(|i| (i.state() == InstanceState::Ready, i.in_flight()));
            let surplus: Vec<Arc<Instance>> = live[..live.len() - desired]
                .iter()
                .map(|i| (*i).clone())
                .collect();
            for instance in surplus {
                self.drain(instance);
            }
        }
    }

    /// Adds a launched instance to the fleet (Starting) and watches it come up and go.
    fn watch(&mut self, launch: Launch) {
        let Launch {
            instance,
            ready,
            exited,
        } = launch;
        let id = instance.id();
        tracing::info!(function = %self.function, instance = %id, pid = instance.pid(), address = %instance.addr(), "starting instance");
        self.fleet.add(instance);
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let event = match ready.await {
                Ok(()) => Event::Ready {
                    id,
                    took: started.elapsed(),
                },
                Err(error) => Event::StartFailed { id, error },
            };
            let _ = events.send(event);
            let how = exited.await;
            let _ = events.send(Event::Exited { id, how });
        });
    }

    /// Takes an instance out of routing, lets its requests finish, then stops it.
    fn drain(&mut self, instance: Arc<Instance>) {
        let id = instance.id();
        let was = instance.state();
        instance.set_state(InstanceState::Draining);
        self.leaving.insert(id);
        tracing::info!(function = %self.function, instance = %id, was = was.as_str(), in_flight = instance.in_flight(), "draining instance");
        let provider = self.provider.clone();
        let events = self.events_tx.clone();
        let limit = self.drain_limit;
        let function = self.function.clone();
        tokio::spawn(async move {
            if !wait_idle(&instance, limit).await {
                tracing::warn!(function = %function, instance = %id, in_flight = instance.in_flight(), ?limit, "drain limit reached; stopping the instance with requests in flight");
            }
            provider.stop(instance).await;
            let _ = events.send(Event::Stopped { id });
        });
    }

    fn handle(&mut self, event: Event) {
        let fleet = self.fleet.clone();
        let find = |id| fleet.instances().iter().find(|i| i.id() == id).cloned();
        match event {
            Event::Ready { id, took } => {
                let Some(instance) = find(id) else { return };
                if instance.state() != InstanceState::Starting {
                    return; // chosen for draining while it started
                }
                self.fleet.mark_ready(&instance);
                self.failures = 0;
                self.retry_at = None;
                self.fleet.set_failing(false);
                counter!(COLD_STARTS_TOTAL, "function" => self.function.to_string()).increment(1);
                histogram!(COLD_START_SECONDS, "function" => self.function.to_string())
                    .record(took.as_secs_f64());
                tracing::info!(function = %self.function, instance = %id, took_ms = took.as_secs_f64() * 1e3, "instance ready");
            }
            Event::StartFailed { id, error } => {
                if self.leaving.contains(&id) {
                    return; // stopped on purpose while starting
                }
                self.start_failed(Some(id), &error);
                if let Some(instance) = find(id) {
                    self.remove(&instance);
                }
            }
            Event::Exited { id, how } => {
                if self.leaving.remove(&id) {
                    return; // the drain task removes it once stopped
                }
                let Some(instance) = find(id) else { return };
                tracing::warn!(function = %self.function, instance = %id, in_flight = instance.in_flight(), "instance {how}; removing it from routing");
                self.remove(&instance);
            }
            Event::Stopped { id } => {
                self.leaving.remove(&id);
                if let Some(instance) = find(id) {
                    instance.set_state(InstanceState::Stopped);
                    self.fleet.remove(id);
                }
                tracing::info!(function = %self.function, instance = %id, "instance stopped");
            }
        }
    }

    /// Takes an instance out of the fleet for good, making sure its process is gone.
    fn remove(&mut self, instance: &Arc<Instance>) {
        instance.set_state(InstanceState::Stopped);
        self.fleet.remove(instance.id());
        self.leaving.insert(instance.id());
        tokio::spawn(self.provider.stop(instance.clone()));
    }

    fn start_failed(&mut self, id: Option<InstanceId>, error: &ProviderError) {
        self.failures += 1;
        let backoff = FIRST_BACKOFF
            .saturating_mul(1 << (self.failures - 1).min(16))
            .min(MAX_BACKOFF);
        self.retry_at = Some(Instant::now() + backoff);
        tracing::warn!(function = %self.function, instance = id.map(|i| i.to_string()), failures = self.failures, retry_in = ?backoff, "instance failed to start: {error}");
        if self.failures >= FAILING_AFTER
            && self.fleet.counts().ready == 0
            && !self.fleet.is_failing()
        {
            tracing::error!(function = %self.function, failures = self.failures, "instances keep failing to start; waiting requests get SCALE_FAILED until one starts");
            self.fleet.set_failing(true);
        }
    }
}

/// Waits until `instance` has nothing in flight, polling with a growing pause; false if
/// `limit` passed first.
async fn wait_idle(instance: &Instance, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(2);
    loop {
        if instance.in_flight() == 0 {
            // A request may have claimed its slot just as the state changed; a second look
            // a moment later sees it.
            tokio::time::sleep(Duration::from_millis(2)).await;
            if instance.in_flight() == 0 {
                return true;
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
