#!/usr/bin/python3
"""shmframe-web's cost per client, against a stock GStreamer MJPEG server, in one run.

A 1920x1080 30 fps test-pattern producer; N clients (1, 10, 50) read MJPEG over loopback for
SECONDS each from:
  - shmframe-web            /stream/NAME?quality=80 (one encode per frame, shared by every client)
  - GStreamer               shmframesrc ! jpegenc quality=80 ! multipartmux ! tcpserversink
                            (one encoder shared by every client: the same design)
and, for the passthrough, from shmframe-web on a jpeg stream of the same size.

Reported per run: the server's CPU per source frame (utime + stime from /proc/PID/stat over the
window, divided by the frames the producer committed meanwhile) and the clients' fps. Latency,
for both servers the same way: one client decodes every part (OpenCV), reads the frame's seq
from the test pattern's code cells (docs/RELIABILITY.md) and takes CLOCK_MONOTONIC when the
part's last byte arrived, minus that frame's capture_ns as a probe consumer printed it (same
clock, same host). Ratios are between runs of this one script (the machine is shared). Needs
python3-numpy and python3-opencv (scripts/install-deps.sh).

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


def seq_of(jpeg_bytes, width):
    """The seq in a decoded test-pattern picture's code cells (docs/RELIABILITY.md step 3)."""
    import cv2
    import numpy
    img = cv2.imdecode(numpy.frombuffer(jpeg_bytes, numpy.uint8), cv2.IMREAD_REDUCED_COLOR_2)
    if img is None:
        return None
    c = max(1, width // 128)
    scale = img.shape[1] / width
    seq = 0
    for i in range(min(64, width // c)):
        x = int((i * c + c / 2) * scale)
        y = int(c / 2 * scale)
        if img[y, x].astype(int).sum() / 3 >= 128:
            seq |= 1 << i
    return seq


def latency_run(port, request, boundary, seconds, width):
    """One client for `seconds`: (CLOCK_MONOTONIC ns when a part was whole, the frame's seq)."""
    s = connect(port, request)
    s.setblocking(True)
    s.settimeout(5)
    buf = b""
    parts = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        data = s.recv(1 << 20)
        if not data:
            break
        now = time.monotonic_ns()
        buf += data
        while True:
            at = buf.find(boundary)
            head_end = buf.find(b"\r\n\r\n", at) if at >= 0 else -1
            if head_end < 0:
                break
            length = None
            for line in buf[at:head_end].decode("latin-1").split("\r\n"):
                k, _, v = line.partition(":")
                if k.lower() == "content-length":
                    length = int(v)
            if length is None or len(buf) < head_end + 4 + length:
                break
            parts.append((now, buf[head_end + 4:head_end + 4 + length]))
            buf = buf[head_end + 4 + length:]
    s.close()
    return [(now, seq_of(jpg, width)) for now, jpg in parts]


def latency_stats(samples, captures):
    lat = sorted((now - captures[seq]) / 1e6 for now, seq in samples if seq in captures)
    if not lat:
        return {"latency_parts": 0}
    return {"latency_parts": len(lat), "latency_ms_p50": lat[len(lat) // 2],
            "latency_ms_p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))]}


def captures_of(path):
    out = {}
    with open(path) as f:
        for line in f:
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get("event") == "frame":
                out[j["seq"]] = j["capture_ns"]
    return out


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


def read_clients(socks, boundary, seconds):
    """Reads every socket for `seconds`; whole parts per client (and their bytes)."""
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
                for line in head.split("\r\n"):
                    k, _, v = line.partition(":")
                    if k.lower() == "content-length":
                        length = int(v)
                if length is None or len(buf) < head_end + 4 + length:
                    break
                st["parts"] += 1
                st["bytes"] += length
                buf = buf[head_end + 4 + length:]
            st["buf"] = buf[-(1 << 22):] if len(buf) > (1 << 22) else buf
    read_clients.bytes = sum(state[s]["bytes"] for s in socks)
    return [state[s]["parts"] for s in socks]


def measure(build, name, server_pid, port, request, boundary, clients, seconds):
    socks = [connect(port, request) for _ in range(clients)]
    read_clients(socks, boundary, 1.0)  # warm up: connections made, first pictures sent
    seq0, cpu0, t0 = last_seq(build, name), cpu_seconds(server_pid), time.monotonic()
    parts = read_clients(socks, boundary, seconds)
    seq1, cpu1, t1 = last_seq(build, name), cpu_seconds(server_pid), time.monotonic()
    for s in socks:
        s.close()
    frames = max(1, seq1 - seq0)
    r = {"clients": clients, "source_fps": frames / (t1 - t0),
         "client_fps_mean": sum(parts) / len(parts) / (t1 - t0), "client_fps_min": min(parts) / (t1 - t0),
         "cpu_ms_per_frame": (cpu1 - cpu0) * 1000 / frames,
         "part_kib_mean": read_clients.bytes / max(1, sum(parts)) / 1024}
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
        probe_log = f"/tmp/{tag}-probe.jsonl"
        probe = subprocess.Popen([f"{a.build}/consumer/shmframe-consumer", "--name", raw, "--processor", "probe",
                                  "--every-frame"], stdout=open(probe_log, "w"), stderr=subprocess.DEVNULL)
        procs.append(probe)
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
            r = measure(a.build, raw, web.pid, port, req, BOUNDARY_WEB, n, a.seconds)
            r["server"] = "shmframe-web"
            results["runs"].append(r)
            print(json.dumps(r), flush=True)
        for n in (1, 10):
            req = f"GET /stream/{jpeg} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            r = measure(a.build, jpeg, web.pid, port, req, BOUNDARY_WEB, n, a.seconds)
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
                r = measure(a.build, raw, gst.pid, gport, b"", BOUNDARY_GST, n, a.seconds)
                r["server"] = "gstreamer"
                results["runs"].append(r)
                print(json.dumps(r), flush=True)
        # Latency, one client each, the same measurement for both servers, each with the other
        # one not working: GStreamer first (shmframe-web without clients copies one frame a
        # second), then shmframe-web once GStreamer is stopped (its pipeline encodes every frame
        # whether or not anyone reads them).
        samples = {}
        if have_gst:
            samples["gstreamer"] = latency_run(gport, b"", BOUNDARY_GST, a.seconds, 1920)
            gst.send_signal(2)
            gst.wait(timeout=10)
        req = f"GET /stream/{raw}?quality=80 HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        samples["shmframe-web"] = latency_run(port, req, BOUNDARY_WEB, a.seconds, 1920)
        time.sleep(1.0)  # the probe's buffered last lines: a bench's grace period, not synchronisation
        caps = captures_of(probe_log)
        results["latency"] = {k: latency_stats(v, caps) for k, v in samples.items()}
        print(json.dumps(results["latency"]), flush=True)
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
    lw, lg = results.get("latency", {}).get("shmframe-web", {}), results.get("latency", {}).get("gstreamer", {})
    if lw.get("latency_ms_p50") and lg.get("latency_ms_p50"):
        ratios["web_vs_gstreamer_latency_p50"] = lw["latency_ms_p50"] / lg["latency_ms_p50"]
        ratios["web_vs_gstreamer_latency_p99"] = lw["latency_ms_p99"] / lg["latency_ms_p99"]
    results["ratios"] = ratios
    print(json.dumps(ratios, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
