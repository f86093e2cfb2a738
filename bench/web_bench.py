#!/usr/bin/python3
"""shmframe-web's cost per client, against a stock GStreamer MJPEG server, in one run.

A 1920x1080 30 fps test-pattern producer; N clients (1, 10, 50) read MJPEG over loopback for
SECONDS each from:
  - shmframe-web            /stream/NAME?quality=80 (one encode per frame, shared by every client)
  - GStreamer               shmframesrc ! jpegenc quality=80 ! multipartmux ! tcpserversink
                            (one encoder shared by every client: the same design)
and, for the passthrough, from shmframe-web on a jpeg stream of the same size.

Reported per run: the server's CPU per source frame (utime + stime from /proc/PID/stat over the
window, divided by the frames the producer committed meanwhile), the clients' mean fps, and for
shmframe-web the latency from capture (X-Timestamp, CLOCK_REALTIME) to the client having the
whole part (p50, p99). Ratios are between runs of this one script (the machine is shared).
Standard library only.

Usage: bench/web_bench.py [--build build/release] [--seconds 5] [--json bench/results/web.json]
"""
import argparse
import json
import os
import selectors
import socket
import subprocess
import sys
import time

BOUNDARY_WEB = b"--shmframe\r\n"
BOUNDARY_GST = b"--ThisRandomString\r\n"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def last_seq(build, name):
    out = subprocess.run([f"{build}/consumer/shmframe-consumer", "--status", "--name", name],
                         capture_output=True, text=True, timeout=10).stdout
    return json.loads(out)[0]["last_seq"]


def listing(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"GET /api/streams HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        return data.decode("utf-8", "replace")
    except OSError:
        return ""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def connect(port, request, budget=10.0):
    deadline = time.monotonic() + budget
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # the server is starting: a bounded retry, not synchronisation
    if request:
        s.sendall(request)
    s.setblocking(False)
    return s


def read_clients(socks, boundary, seconds, latencies=None):
    """Reads every socket for `seconds`; parts per client. With `latencies`, each part's
    X-Timestamp against the time its last byte arrived (CLOCK_REALTIME, same host)."""
    sel = selectors.DefaultSelector()
    state = {}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
        state[s] = {"buf": b"", "parts": 0, "bytes": 0}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=max(0.0, end - time.monotonic())):
            st = state[key.fileobj]
            try:
                data = key.fileobj.recv(1 << 20)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(key.fileobj)
                continue
            now = time.time()
            buf = st["buf"] + data
            while True:
                at = buf.find(boundary)
                if at < 0:
                    break
                head_end = buf.find(b"\r\n\r\n", at)
                if head_end < 0:
                    break
                head = buf[at:head_end].decode("latin-1")
                length = None
                stamp = None
                for line in head.split("\r\n"):
                    k, _, v = line.partition(":")
                    if k.lower() == "content-length":
                        length = int(v)
                    elif k.lower() == "x-timestamp":
                        stamp = float(v)
                if length is None or len(buf) < head_end + 4 + length:
                    break
                st["parts"] += 1
                st["bytes"] += length
                if latencies is not None and stamp is not None:
                    latencies.append(now - stamp)
                buf = buf[head_end + 4 + length:]
            st["buf"] = buf[-(1 << 22):] if len(buf) > (1 << 22) else buf
    read_clients.bytes = sum(state[s]["bytes"] for s in socks)
    return [state[s]["parts"] for s in socks]


def measure(build, name, server_pid, port, request, boundary, clients, seconds, with_latency):
    socks = [connect(port, request) for _ in range(clients)]
    read_clients(socks, boundary, 1.0)  # warm up: connections made, first pictures sent
    lat = [] if with_latency else None
    seq0, cpu0, t0 = last_seq(build, name), cpu_seconds(server_pid), time.monotonic()
    parts = read_clients(socks, boundary, seconds, lat)
    seq1, cpu1, t1 = last_seq(build, name), cpu_seconds(server_pid), time.monotonic()
    for s in socks:
        s.close()
    frames = max(1, seq1 - seq0)
    r = {"clients": clients, "source_fps": frames / (t1 - t0),
         "client_fps_mean": sum(parts) / len(parts) / (t1 - t0), "client_fps_min": min(parts) / (t1 - t0),
         "cpu_ms_per_frame": (cpu1 - cpu0) * 1000 / frames,
         "part_kib_mean": read_clients.bytes / max(1, sum(parts)) / 1024}
    if lat:
        lat.sort()
        r["latency_ms_p50"] = lat[len(lat) // 2] * 1000
        r["latency_ms_p99"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--clients", default="1,10,50")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    for b in ("producer/shmframe-producer", "viewer/shmframe-web", "consumer/shmframe-consumer"):
        if not os.access(f"{a.build}/{b}", os.X_OK):
            sys.exit(f"web_bench.py: {a.build}/{b} is missing: build first (cmake --build {a.build})")
    gst_plugins = f"{a.build}/gst/plugins"
    have_gst = os.path.exists(f"{gst_plugins}/libgstshmframe.so")
    procs = []
    tag = f"webbench-{os.getpid()}"
    raw, jpeg = f"{tag}-raw", f"{tag}-jpeg"
    results = {"machine": os.uname().machine, "runs": []}
    try:
        for name, fmt in ((raw, "bgr8"), (jpeg, "jpeg")):
            procs.append(subprocess.Popen([f"{a.build}/producer/shmframe-producer", "--name", name, "--width", "1920",
                                           "--height", "1080", "--fps", "30", "--format", fmt],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        port = free_port()
        web = subprocess.Popen([f"{a.build}/viewer/shmframe-web", "--bind", f"127.0.0.1:{port}", "--max-clients", "500"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(web)
        deadline = time.monotonic() + 10
        while not all(f'"{n}"' in listing(port) for n in (raw, jpeg)):  # producers and server are starting
            if time.monotonic() > deadline:
                sys.exit("web_bench.py: the streams did not appear in /api/streams within 10 s")
            time.sleep(0.1)
        counts = [int(c) for c in a.clients.split(",")]
        for n in counts:
            req = f"GET /stream/{raw}?quality=80 HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            r = measure(a.build, raw, web.pid, port, req, BOUNDARY_WEB, n, a.seconds, True)
            r["server"] = "shmframe-web"
            results["runs"].append(r)
            print(json.dumps(r), flush=True)
        for n in (1, 10):
            req = f"GET /stream/{jpeg} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            r = measure(a.build, jpeg, web.pid, port, req, BOUNDARY_WEB, n, a.seconds, True)
            r["server"] = "shmframe-web passthrough"
            results["runs"].append(r)
            print(json.dumps(r), flush=True)
        if have_gst:
            gport = free_port()
            env = dict(os.environ, GST_PLUGIN_PATH=gst_plugins, GST_REGISTRY=f"/tmp/{tag}-registry.bin")
            gst = subprocess.Popen(["gst-launch-1.0", "-q", "shmframesrc", f"stream={raw}", "!", "jpegenc",
                                    "quality=80", "!", "multipartmux", "!", "tcpserversink", "host=127.0.0.1",
                                    f"port={gport}", "sync=false"],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(gst)
            for n in counts:
                r = measure(a.build, raw, gst.pid, gport, b"", BOUNDARY_GST, n, a.seconds, False)
                r["server"] = "gstreamer"
                results["runs"].append(r)
                print(json.dumps(r), flush=True)
    finally:
        for p in reversed(procs):
            p.send_signal(2)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    by = {(r["server"], r["clients"]): r for r in results["runs"]}
    ratios = {}
    one = by.get(("shmframe-web", 1))
    for n in [int(c) for c in a.clients.split(",")]:
        w, g = by.get(("shmframe-web", n)), by.get(("gstreamer", n))
        if one and w and n > 1 and one["cpu_ms_per_frame"] > 0:
            ratios[f"web_added_client_cost_vs_one_encode_{n}"] = \
                (w["cpu_ms_per_frame"] - one["cpu_ms_per_frame"]) / (n - 1) / one["cpu_ms_per_frame"]
        if w and g and g["cpu_ms_per_frame"] > 0:
            ratios[f"web_vs_gstreamer_cpu_{n}"] = w["cpu_ms_per_frame"] / g["cpu_ms_per_frame"]
    for n in (1, 10):
        p, w = by.get(("shmframe-web passthrough", n)), by.get(("shmframe-web", n))
        if p and w and w["cpu_ms_per_frame"] > 0:
            ratios[f"passthrough_vs_encode_cpu_{n}"] = p["cpu_ms_per_frame"] / w["cpu_ms_per_frame"]
    results["ratios"] = ratios
    print(json.dumps(ratios, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
