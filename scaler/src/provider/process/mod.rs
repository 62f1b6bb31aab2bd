//! The `process` provider: each instance is the function's `command`, spawned on this
//! machine with a free `PORT`.
//!
//! An instance's life, as this provider runs it:
//!
//! 1. [`ProcessProvider::launch`] picks a free loopback port, spawns the command in a
//!    process group of its own (so a stop reaches anything it starts), with `PORT`, `env`
//!    and `workdir`, and arranges that it dies if tidegate dies (see `os.rs`). Its stdout
//!    and stderr go to tidegate's log, line by line, tagged with function and instance.
//! 2. Readiness is polled (`readiness.rs`): an HTTP GET of `readiness.http_path` answering
//!    2xx, or a TCP connect, tried after about 1 ms and then at doubling intervals up to
//!    10 ms, until `readiness.timeout`. An instance that exits meanwhile fails at once.
//! 3. A task waits for the process to exit, whenever that happens, then kills what is
//!    left of its group and reports how it ended through [`super::Launch::exited`].
//! 4. [`ProcessProvider::stop`] sends SIGTERM to the group, and SIGKILL after
//!    `stop_grace` if it is still there.
//!
//! What it does not decide: when to start or stop (the controller), and what "crashed"
//! means for routing (the controller removes the instance from its fleet).

mod os;
mod output;
mod readiness;

pub(crate) use os::clock_ticks_per_second;

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidegate_config::Function;
use tokio::sync::watch;

use super::{BoxFuture, Launch, Provider, ProviderError, next_instance_id};
use crate::fleet::{Instance, InstanceId, InstanceState};
use os::Signal;
use readiness::Check;

/// Spawns a function's instances from its `command`.
#[derive(Debug)]
pub struct ProcessProvider {
    function: Arc<str>,
    command: Vec<String>,
    env: BTreeMap<String, String>,
    workdir: Option<PathBuf>,
    check: Check,
    ready_timeout: Duration,
    stop_grace: Duration,
    running: Arc<Mutex<HashMap<InstanceId, Running>>>,
}

/// A spawned process the provider still answers for.
#[derive(Debug, Clone)]
struct Running {
    /// Its pid, which is also its process group's id.
    pgid: u32,
    /// `Some(how it ended)` once it exited.
    exit: watch::Receiver<Option<String>>,
}

impl ProcessProvider {
    /// A provider for the function `name` as configured. `function.command` must not be
    /// empty (validation guarantees it).
    pub fn new(name: &str, function: &Function) -> Self {
        let check = match &function.readiness.http_path {
            Some(path) => Check::Http(path.clone()),
            None => Check::Tcp,
        };
        ProcessProvider {
            function: Arc::from(name),
            command: function.command.clone(),
            env: function.env.clone(),
            workdir: function.workdir.clone(),
            check,
            ready_timeout: function.readiness.timeout,
            stop_grace: function.stop_grace,
            running: Arc::default(),
        }
    }

    fn spawn(&self) -> Result<Launch, ProviderError> {
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| ProviderError::Start("the command is empty".into()))?;
        let port =
            free_port().map_err(|error| ProviderError::Start(format!("no free port: {error}")))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));

        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .envs(&self.env)
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some(workdir) = &self.workdir {
            command.current_dir(workdir);
        }
        os::die_with_parent(&mut command);
        let mut child = command
            .spawn()
            .map_err(|error| ProviderError::Start(format!("cannot run `{program}`: {error}")))?;
        let pid = child
            .id()
            .ok_or_else(|| ProviderError::Start("the process exited at once".into()))?;

        let id = next_instance_id();
        let instance = Arc::new(Instance::new(id, addr, Some(pid), InstanceState::Starting));
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(output::forward(stdout, self.function.clone(), id, "stdout"));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(output::forward(stderr, self.function.clone(), id, "stderr"));
        }

        let (exit_tx, exit) = watch::channel(None);
        let running = self.running.clone();
        tokio::spawn(async move {
            let ended = describe(child.wait().await);
            // The leader is gone; whatever it started in its group goes with it.
            os::signal_group(pid, Signal::Kill);
            running.lock().expect("running map").remove(&id);
            exit_tx.send_replace(Some(ended));
        });
        self.running.lock().expect("running map").insert(
            id,
            Running {
                pgid: pid,
                exit: exit.clone(),
            },
        );

        let ready = readiness::wait(addr, self.check.clone(), self.ready_timeout, exit.clone());
        Ok(Launch {
            instance,
            ready: Box::pin(ready),
            exited: Box::pin(exited(exit)),
        })
    }
}

impl Provider for ProcessProvider {
    fn kind(&self) -> &'static str {
        "process"
    }

    fn initial(&self) -> Vec<Arc<Instance>> {
        Vec::new()
    }

    fn can_launch(&self) -> bool {
        true
    }

    fn launch(&self) -> Result<Launch, ProviderError> {
        self.spawn()
    }

    fn stop(&self, instance: Arc<Instance>) -> BoxFuture<'static, ()> {
        let running = self
            .running
            .lock()
            .expect("running map")
            .get(&instance.id())
            .cloned();
        let grace = self.stop_grace;
        let function = self.function.clone();
        Box::pin(async move {
            let Some(Running { pgid, exit }) = running else {
                return;
            };
            if exit.borrow().is_some() || !os::signal_group(pgid, Signal::Terminate) {
                return;
            }
            if tokio::time::timeout(grace, exited(exit.clone()))
                .await
                .is_err()
            {
                tracing::warn!(function = %function, instance = %instance.id(), ?grace, "instance ignored SIGTERM; killing it");
                os::signal_group(pgid, Signal::Kill);
                exited(exit).await;
            }
        })
    }
}

/// Resolves with how the process ended, once it has.
async fn exited(mut exit: watch::Receiver<Option<String>>) -> String {
    match exit.wait_for(Option::is_some).await {
        Ok(ended) => ended.clone().unwrap_or_default(),
        // The waiting task is gone without a word: only possible if the runtime is
        // shutting down, when the process goes too (it dies with its parent).
        Err(_) => "lost track of the process".to_owned(),
    }
}

fn describe(status: std::io::Result<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            _ => status.to_string(),
        },
        Err(error) => format!("cannot wait for the process: {error}"),
    }
}

/// A loopback port nobody listens on now. The instance binds it a few milliseconds later;
/// another process taking it meanwhile makes that instance fail to start (and be retried).
// Not yet: socket activation (bind here, pass the socket as descriptor 3) removes both
// that window and the readiness polling.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}
