#!/usr/bin/python3
"""Where the scheduler runs the readers of shmframe-sync-bench (issue 21's 2-stream latency).

    bench/sync_sched.py build/release/bench/shmframe-sync-bench [its options: --frames K --rounds R ...]

As root: clears the kernel's trace buffer, runs the bench with the kernel's scheduler events traced (tracefs: sched_waking,
sched_switch) and its turn markers (SHMFRAME_BENCH_MARKERS=1), then prints one JSON line per
turn kind (single reader, SyncReader) and stream count, over the ticks of that kind:
- same_cpu: the share of ticks whose producers all went to sleep on one CPU;
- wake_to_run_us_p50: the reader's first wake-up that tick to when it ran;
- last_producer_to_run_us_p50: the last producer going to sleep that tick (just after its commit
  and wake-up calls) to when the reader ran;
- wake_to_run_us_p50_same_cpu / _split_cpus: the wake-up to run delay over the ticks whose
  producers shared one CPU, and over the others;
- ran_on_waker_cpu: the share of ticks where the reader ran on the CPU of the producer whose
  wake-up (the tick's first for the reader) woke it;
- preempted: the share of ticks where the reader got its CPU by preempting a producer (the
  scheduler's wake-up preemption) rather than when one went to sleep or from an idle CPU;
- cpu_latency_us: the bench's --cpu-latency-us (null: none).
The bench's own JSON lines pass through first. Wait policy block only (a polling reader is not
woken). The trace settings it changes (tracing_on, buffer_size_kb, irq-info, record-tgid) are put
back after.
"""
import json
import os
import re
import statistics
import subprocess
import sys

TRACE = "/sys/kernel/tracing"
EVENTS = ("sched/sched_waking", "sched/sched_switch")
# "<comm>-<pid> [cpu] <irq-info flags> <seconds>: <event>: <fields>" (irq-info on, no tgid column)
LINE = re.compile(r"^\s*.+?-(\d+)\s+\[(\d+)\]\s+\S+\s+(\d+\.\d+): (\w+): (.*)$")
SETTINGS = {"tracing_on": "0", "buffer_size_kb": "32768", "options/irq-info": "1", "options/record-tgid": "0"}
MARK = re.compile(r"shmframe-sync-bench (\w+) (\d+)((?: \d+)*)")


def write(path, text):
    with open(os.path.join(TRACE, path), "w") as f:
        f.write(text)


def read(path):
    with open(os.path.join(TRACE, path)) as f:
        return f.read().strip()


def overruns():
    """Events the ring buffer lost (a turn's ticks would be missing)."""
    total = 0
    for cpu in os.listdir(os.path.join(TRACE, "per_cpu")):
        m = re.search(r"^overrun: (\d+)", read(f"per_cpu/{cpu}/stats"), re.M)
        total += int(m[1]) if m else 0
    return total


def run_traced(cmd):
    saved = {k: read(k) for k in SETTINGS}
    events = {e: read(f"events/{e}/enable") for e in EVENTS}
    try:
        for k, v in SETTINGS.items():
            write(k, v)
        write("trace", "")
        for e in EVENTS:
            write(f"events/{e}/enable", "1")
        write("tracing_on", "1")
        out = subprocess.run(cmd, env=dict(os.environ, SHMFRAME_BENCH_MARKERS="1"), check=True,
                             stdout=subprocess.PIPE, text=True).stdout
        write("tracing_on", "0")
        lost = overruns()
        with open(os.path.join(TRACE, "trace")) as f:
            lines = f.read().splitlines()
    finally:
        write("tracing_on", "0")
        for e, v in events.items():
            write(f"events/{e}/enable", v)
        for k in ("buffer_size_kb", "options/irq-info", "options/record-tgid", "tracing_on"):
            write(k, saved[k])
    if lost:
        sys.exit(f"sync_sched.py: the trace buffer lost {lost} events: use fewer --frames")
    return out, lines


def analyse(lines):
    """{(turn, streams): {"same", "wake", "last", "affine", "preempted": [...]}} over the ticks."""
    stats = {}
    turn, reader, cams, tick = None, 0, [], None

    def close():
        if tick is None or turn not in ("single", "sync") or tick["woken"] is None or tick["run"] is None:
            return
        if len(tick["sleep"]) < len(cams):
            return
        s = stats.setdefault((turn, len(cams)), {"same": [], "wake": [], "last": [], "affine": [], "preempted": []})
        s["same"].append(len({cpu for _, cpu in tick["sleep"].values()}) == 1)
        s["wake"].append(tick["run"] - tick["woken"])
        s["last"].append(tick["run"] - max(t for t, _ in tick["sleep"].values()))
        s["affine"].append(tick["affine"])
        s["preempted"].append(tick["preempted"])

    for line in lines:
        m = LINE.match(line)
        if not m:
            continue
        pid, cpu, ts, event, rest = int(m[1]), int(m[2]), float(m[3]) * 1e6, m[4], m[5]
        if event == "tracing_mark_write":
            mk = MARK.search(rest)
            if mk:
                close()
                turn, reader, cams, tick = mk[1], int(mk[2]), [int(p) for p in mk[3].split()], None
            continue
        if event == "sched_waking":
            woken = int(re.search(r" pid=(\d+)", rest)[1])
            # A camera woken by its timer (not by another camera) starts a tick.
            if woken in cams and pid not in cams and (tick is None or ts - tick["start"] > 2000):
                close()
                tick = {"start": ts, "woken": None, "waker_cpu": None, "run": None, "sleep": {}, "affine": False,
                        "preempted": False}
            if tick is not None and woken == reader and tick["woken"] is None:
                tick["woken"] = ts
                # (sched_waking's target_cpu is the CPU it last ran on: where it runs is at the switch.)
                tick["waker_cpu"] = cpu if pid in cams else None
        elif event == "sched_switch" and tick is not None:
            prev = int(re.search(r"prev_pid=(\d+)", rest)[1])
            state = re.search(r"prev_state=(\S+)", rest)[1]
            nxt = int(re.search(r"next_pid=(\d+)", rest)[1])
            if prev in cams and state.startswith("S") and prev not in tick["sleep"]:
                tick["sleep"][prev] = (ts, cpu)
            if nxt == reader and tick["woken"] is not None and tick["run"] is None:
                tick["run"] = ts
                tick["preempted"] = prev in cams and state.startswith("R")
                tick["affine"] = tick["waker_cpu"] == cpu
    close()
    return stats


def p50(values):
    return f"{statistics.median(values):.1f}" if values else "null"


def main():
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit(__doc__)
    if "--wait" in sys.argv and sys.argv[sys.argv.index("--wait") + 1:][:1] != ["block"]:
        sys.exit("sync_sched.py: --wait block only (a polling reader is not woken by the producers)")
    if not os.access(os.path.join(TRACE, "trace_marker"), os.W_OK):
        sys.exit(f"sync_sched.py: cannot write {TRACE}/trace_marker: run as root on a kernel with tracefs")
    out, lines = run_traced(sys.argv[1:])
    sys.stdout.write(out)
    stats = analyse(lines)
    if not stats:
        sys.exit("sync_sched.py: no ticks found in the trace (were the markers written?)")
    # The PM QoS request the bench held, as its own JSON lines say.
    held = next((json.loads(ln).get("cpu_latency_us") for ln in out.splitlines() if ln.startswith("{")), None)
    for (turn, n), s in sorted(stats.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f'{{"streams":{n},"turn":"{turn}","ticks":{len(s["wake"])},'
              f'"same_cpu":{sum(s["same"]) / len(s["same"]):.2f},'
              f'"wake_to_run_us_p50":{statistics.median(s["wake"]):.1f},'
              f'"last_producer_to_run_us_p50":{statistics.median(s["last"]):.1f},'
              f'"wake_to_run_us_p50_same_cpu":{p50([w for w, same in zip(s["wake"], s["same"]) if same])},'
              f'"wake_to_run_us_p50_split_cpus":{p50([w for w, same in zip(s["wake"], s["same"]) if not same])},'
              f'"ran_on_waker_cpu":{sum(s["affine"]) / len(s["affine"]):.2f},'
              f'"preempted":{sum(s["preempted"]) / len(s["preempted"]):.2f},"cpu_latency_us":{json.dumps(held)}}}')


if __name__ == "__main__":
    main()
