#!/usr/bin/env python3
"""Memory of `clara serve` over a session's life: idle, after 10,000 tool calls, with 500 legacy
SSE sessions and 500 Streamable HTTP sessions open, and after they close.

    cargo build --release && python3 bench/sessions_memory.py [path/to/clara]

Environment: BENCH_CYCLES (default 2) open/close cycles; BENCH_ONLY=sse|http opens one kind;
BENCH_ARENAS sets the server's MALLOC_ARENA_MAX; BENCH_CAP its per-address session cap.

Standard library only. Starts its own server on a free loopback port with a fresh data
directory (the per-address session and connection caps raised, since every client here is
127.0.0.1), reads its RSS from /proc, and prints one line per stage.
"""
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

BINARY = sys.argv[1] if len(sys.argv) > 1 else "target/release/clara"
SESSIONS = 500
# BENCH_ONLY=sse or http opens only that kind (to see which one holds memory).
ONLY = os.environ.get("BENCH_ONLY", "")
CALLS = 10_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def post(conn, body, session=None, version="2025-11-25"):
    headers = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": version,
    }
    if version == "2026-07-28" and "method" in body:
        headers["mcp-method"] = body["method"]
        if "params" in body and "name" in body["params"]:
            headers["mcp-name"] = body["params"]["name"]
    if session:
        headers["mcp-session-id"] = session
    conn.request("POST", "/mcp", json.dumps(body), headers)
    response = conn.getresponse()
    payload = response.read()
    return response, payload


INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {},
    "clientInfo": {"name": "bench", "version": "1"}}}
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"}}


def main():
    port = free_port()
    data = tempfile.mkdtemp(prefix="clara-bench-")
    env = dict(os.environ, CLARA_DATA_DIR=data, CLARA_BIND=f"127.0.0.1:{port}",
               CLARA_RATE_LIMIT="1000000/s", CLARA_MCP_MAX_SESSIONS="5000",
               CLARA_MCP_MAX_SESSIONS_PER_ADDRESS=os.environ.get("BENCH_CAP", "5000"),
               CLARA_MAX_CONNECTIONS_PER_ADDRESS="5000", RUST_LOG="error", **({"MALLOC_ARENA_MAX": os.environ["BENCH_ARENAS"]} if "BENCH_ARENAS" in os.environ else {}))
    server = subprocess.Popen([BINARY, "serve"], env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.5)
        idle = rss_mib(server.pid)
        print(f"idle:                          {idle:6.1f} MiB")

        conn = http.client.HTTPConnection("127.0.0.1", port)
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "misc_version", "arguments": {}, "_meta": META}}
        started = time.perf_counter()
        for _ in range(CALLS):
            response, _ = post(conn, call, version="2026-07-28")
            assert response.status == 200, response.status
        took = time.perf_counter() - started
        after_calls = rss_mib(server.pid)
        print(f"after {CALLS} calls:            {after_calls:6.1f} MiB "
              f"({CALLS / took:,.0f} calls/s, one stateless client in sequence)")

        for cycle in range(1, int(os.environ.get("BENCH_CYCLES", "2")) + 1):
            streams = []
            for _ in range(SESSIONS if ONLY != "http" else 0):
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(b"GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
                got = b""
                while b"endpoint" not in got:
                    chunk = s.recv(4096)
                    if not chunk:
                        raise SystemExit("an SSE stream closed early")
                    got += chunk
                streams.append(s)
            sessions = []
            for _ in range(SESSIONS if ONLY != "sse" else 0):
                c = http.client.HTTPConnection("127.0.0.1", port)
                response, _ = post(c, INIT)
                session = response.getheader("mcp-session-id")
                assert session, response.status
                post(c, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
                sessions.append((c, session))
            time.sleep(0.5)
            opened = rss_mib(server.pid)
            print(f"[{cycle}] sessions open ({'SSE' if ONLY == 'sse' else 'HTTP' if ONLY == 'http' else 'SSE + HTTP'}, "
                  f"{SESSIONS} each): {opened:6.1f} MiB")

            for s in streams:
                s.close()
            for c, session in sessions:
                c.request("DELETE", "/mcp", headers={"mcp-session-id": session,
                                                     "mcp-protocol-version": "2025-11-25"})
                c.getresponse().read()
                c.close()
            time.sleep(int(os.environ.get("BENCH_SETTLE", "12")))  # allocator decay
            closed = rss_mib(server.pid)
            print(f"[{cycle}] after they close:          {closed:6.1f} MiB")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
