#!/usr/bin/env python3
"""The arithmetic of `loadtest/compare`: reading load generator output, medians, the table.

Kept apart from the shell script so each step is a named function that can be read and
run on its own. Subcommands (all print to stdout):

  environment KEY=VALUE...            the run's settings plus machine facts, as JSON
  h2load OUT TSV                      "req/s p50_us p99_us errors" from one h2load run
  table RESULTS ENVIRONMENT [OUT]     the summary table; OUT gets the same as JSON
  memory ROWS ENVIRONMENT CONNS       the --memory results as JSON
"""

import json
import re
import statistics
import subprocess
import sys


def first_line(command):
    """The first line a tool prints about itself, or None when it is missing."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return None
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0] if lines else None


def environment(pairs):
    """The settings compare was given, and what the machine is."""
    env = dict(pair.split("=", 1) for pair in pairs)
    with open("/proc/cpuinfo") as cpuinfo:
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo
                    if line.startswith("model name")), None)
    env.update(
        cpu=cpu,
        cores=int(subprocess.check_output(["nproc"]).strip()),
        nginx=first_line(["nginx", "-v"]),
        haproxy=first_line(["haproxy", "-v"]),
        wrk=first_line(["wrk", "-v"]),
        h2load=first_line(["h2load", "--version"]),
    )
    print(json.dumps(env))


def h2load(out_path, log_path):
    """h2load prints no percentiles, so they come from its per-request log."""
    with open(out_path) as out_file:
        out = out_file.read()
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    done, succeeded = map(int, re.search(r"(\d+) done, (\d+) succeeded", out).groups())
    with open(log_path) as log:
        # Columns: start time (us since the epoch), status, duration (us).
        times = sorted(int(line.split("\t")[2]) for line in log if line.strip())

    def percentile(q):
        return times[min(len(times) - 1, int(q * len(times)))] if times else 0

    print(f"{rps:.0f} {percentile(0.50)} {percentile(0.99)} {done - succeeded}")


def table(results_path, environment_path, out_path=""):
    """Medians over rounds per target, and tidegate's ratio to each peer."""
    with open(environment_path) as env_file:
        env = json.load(env_file)
    rounds = {}
    with open(results_path) as results:
        for line in results:
            target, number, rps, p50, p99, errors = line.split()
            rounds.setdefault(target, []).append({
                "round": int(number), "rps": float(rps), "p50_us": int(p50),
                "p99_us": int(p99), "errors": int(errors)})

    summary = {
        target: {
            "rps": statistics.median(r["rps"] for r in runs),
            "p50_ms": statistics.median(r["p50_us"] for r in runs) / 1000,
            "p99_ms": statistics.median(r["p99_us"] for r in runs) / 1000,
            "errors": sum(r["errors"] for r in runs),
            "rounds": runs,
        }
        for target, runs in rounds.items()
    }
    tidegate = summary.get("tidegate")
    ratios = {}
    if tidegate:
        for target, peer in summary.items():
            if target != "tidegate" and peer["rps"] and peer["p99_ms"]:
                ratios[target] = {"rps": tidegate["rps"] / peer["rps"],
                                  "p99": tidegate["p99_ms"] / peer["p99_ms"]}

    cache = ", cache" if env["cache"] == "1" else ""
    print(f"\n{env['protocol']}, {env['workers']} worker(s), upstream {env['upstream']}{cache};"
          f" medians of {env['rounds']} round(s) of {env['duration_s']} s,"
          f" {env['connections']} connections; cpus: proxies {env['server_cpus']},"
          f" upstream {env['upstream_cpus']}, load {env['load_cpus']}")
    print(f"{'target':<10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'tidegate req/s ×':>18}{'tidegate p99 ×':>16}")
    for target, row in summary.items():
        ratio = ratios.get(target)
        rps_ratio = f"{ratio['rps']:.2f}" if ratio else "-"
        p99_ratio = f"{ratio['p99']:.2f}" if ratio else "-"
        print(f"{target:<10}{row['rps']:>10.0f}{row['p50_ms']:>9.3f}{row['p99_ms']:>9.3f}"
              f"{row['errors']:>8}{rps_ratio:>18}{p99_ratio:>16}")
    if any(row["errors"] for row in summary.values()):
        print("warning: some targets answered errors; their req/s are not comparable")

    if out_path:
        with open(out_path, "w") as out:
            json.dump({"environment": env, "targets": summary, "tidegate_vs": ratios},
                      out, indent=2)
            out.write("\n")


def memory(rows_path, environment_path, conns):
    """RSS per proxy, idle and with the idle connections open, in MiB."""
    with open(environment_path) as env_file:
        env = json.load(env_file)
    rss = {}
    with open(rows_path) as rows:
        for line in rows:
            target, idle_kib, loaded_kib = line.split()
            rss[target] = {"idle": int(idle_kib) / 1024,
                           "with_connections": int(loaded_kib) / 1024}
    print(json.dumps({"environment": env, "idle_connections": int(conns), "rss_mib": rss},
                     indent=2))


if __name__ == "__main__":
    commands = {"environment": lambda *pairs: environment(pairs), "h2load": h2load,
                "table": table, "memory": memory}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
