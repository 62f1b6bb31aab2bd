//! What the process provider needs from the operating system that the standard library
//! does not offer: a child that dies with tidegate, signals to a whole process group, and
//! the kernel's clock-tick rate for reading CPU times.
//!
//! This is the one file of the crate that uses `unsafe`, because these are raw system
//! calls (`prctl`, `kill`, `sysconf`) with no safe wrapper in the dependencies we have.
//! Each block says why it is sound.
#![allow(unsafe_code)]

use std::io;

/// Makes the spawned process receive SIGKILL when tidegate dies, however it dies (even
/// by SIGKILL, when nothing else of tidegate runs any more).
///
/// Linux sends the signal when the *thread* that spawned the child exits, not the
/// process, so spawn only from a thread that lives as long as tidegate (the control
/// thread does; a blocking-pool thread would not).
pub(super) fn die_with_parent(command: &mut tokio::process::Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: `prctl` and `getppid` are system calls, and
    // the closure allocates nothing (the error is built from errno without allocating).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(io::Error::last_os_error());
            }
            // tidegate may have died between the fork and the prctl: then nobody will
            // send the signal, so give up now rather than run as an orphan.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// The signals the provider sends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Signal {
    /// Asks the instance to finish and exit.
    Terminate,
    /// Ends it without asking.
    Kill,
}

/// Sends `signal` to every process in the group `pgid` (the instance and anything it
/// started). Returns false when the group no longer exists.
pub(super) fn signal_group(pgid: u32, signal: Signal) -> bool {
    let signal = match signal {
        Signal::Terminate => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    let Ok(pgid) = i32::try_from(pgid) else {
        return false;
    };
    if pgid <= 1 {
        // Never signal "every process" (-1) or our own group (0) by accident.
        return false;
    }
    // SAFETY: `kill` takes plain integers and touches no memory of ours; a negative pid
    // addresses the process group.
    unsafe { libc::kill(-pgid, signal) == 0 }
}

/// Clock ticks per second, the unit of the CPU times in `/proc/PID/stat`.
pub(crate) fn clock_ticks_per_second() -> u64 {
    // SAFETY: `sysconf` only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}
