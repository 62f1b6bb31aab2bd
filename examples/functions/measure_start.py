#!/usr/bin/env python3
"""Measures how long a function instance takes to start: from spawn to its first 200.

Spawns the function N times, each with a free PORT, polls `GET <path>` (default
/healthz) about every millisecond, and prints the p50/p90/min/max of the time from just
before the spawn to the first 200 answer. Each instance is then stopped with SIGTERM;
the time it takes to exit is printed too.

    python3 examples/functions/measure_start.py                  # python3 -S hello.py
    python3 examples/functions/measure_start.py --no-S           # python3 hello.py
    python3 examples/functions/measure_start.py --script /tmp/old_hello.py -n 50
    python3 examples/functions/measure_start.py --python "$(python3 -c 'import sys; print(sys.executable)')"

`--python` matters: if `python3` on PATH is a wrapper script (pyenv's shims are), the
wrapper's own start time is part of every measurement.
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers_200(port, path):
    """One poll: True if GET `path` on `port` answers 200, False if nothing answers yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n".encode())
            return sock.recv(64).startswith(b"HTTP/1.1 200 ")
    except OSError:
        return False


def start_once(command, path, timeout):
    """Spawns `command` once; returns (ms to the first 200, ms to exit after SIGTERM)."""
    port = free_port()
    env = dict(os.environ, PORT=str(port))
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    try:
        while not answers_200(port, path):
            if process.poll() is not None:
                sys.exit(f"{command} exited with status {process.returncode} before answering")
            if time.perf_counter() - started > timeout:
                sys.exit(f"{command} did not answer {path} within {timeout} s")
            time.sleep(0.001)
        ready = time.perf_counter() - started
        stopping = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=5)
        return ready * 1000, (time.perf_counter() - stopping) * 1000
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def summary(times):
    times = sorted(times)
    p90 = times[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
    return (f"p50 {statistics.median(times):6.1f} ms   p90 {p90:6.1f} ms   "
            f"min {times[0]:6.1f} ms   max {times[-1]:6.1f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="how many starts (default 20)")
    parser.add_argument("--script", default=os.path.join(HERE, "hello.py"))
    parser.add_argument("--python", default="python3", help="interpreter (default python3)")
    parser.add_argument("--no-S", dest="skip_site", action="store_false",
                        help="run without -S, i.e. import site (and its .pth files)")
    parser.add_argument("--path", default="/healthz", help="path to poll (default /healthz)")
    parser.add_argument("--timeout", type=float, default=10, help="seconds to wait per start")
    args = parser.parse_args()

    command = [args.python, *(["-S"] if args.skip_site else []), args.script]
    answered, exited = zip(*(start_once(command, args.path, args.timeout) for _ in range(args.n)))
    print(f"{' '.join(command)}  GET {args.path}  n={args.n}")
    print(f"  spawn -> first 200:  {summary(answered)}")
    print(f"  SIGTERM -> exit:     {summary(exited)}")


if __name__ == "__main__":
    main()
