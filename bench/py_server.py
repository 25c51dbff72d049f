"""The official Python SDK's server (`mcp` 2.3 from PyPI) with Clara's three benchmarked tools,
for the side-by-side run of `cargo bench --bench clara`:

    python py_server.py stdio | http PORT | sse PORT

`misc_version` answers a constant, `misc_health` runs one SQLite query, `transaction_list` reads
20 rows of a SQLite table: the same work Clara's tools do, on the SDK's recommended server class.
"""
import os
import sqlite3
import sys
import tempfile

from mcp.server.mcpserver import MCPServer

mcp = MCPServer("py-bench")
DB = sqlite3.connect(os.path.join(tempfile.mkdtemp(prefix="py-bench-"), "bench.db"),
                     check_same_thread=False)
DB.execute("CREATE TABLE tx (id TEXT PRIMARY KEY, user_id TEXT, description TEXT, "
           "value_in_credits REAL, value_in_fiat REAL, type TEXT, created_at TEXT)")
DB.executemany("INSERT INTO tx VALUES (?, 'user_bench', ?, 1.0, 0.0, 'CREDIT', ?)",
               [(f"transaction_{i:04}", f"Entry {i}", f"2026-11-29T10:{i:02}:00Z") for i in range(20)])
DB.commit()


@mcp.tool()
def misc_version() -> dict:
    """The server's version."""
    return {"version": "0.1.0"}


@mcp.tool()
def misc_health() -> dict:
    """Whether the server and its database answer."""
    DB.execute("SELECT 1").fetchone()
    return {"service": "py-bench", "status": "healthy"}


@mcp.tool()
def transaction_list(limit: int = 20, offset: int = 0, user_id: str = "user_bench") -> dict:
    """A page of one user's transactions, newest first."""
    rows = DB.execute("SELECT id, user_id, description, value_in_credits, value_in_fiat, type, "
                      "created_at FROM tx WHERE user_id = ? ORDER BY created_at DESC "
                      "LIMIT ? OFFSET ?", (user_id, limit, offset)).fetchall()
    keys = ("id", "user_id", "description", "value_in_credits", "value_in_fiat", "type", "created_at")
    return {"transactions": [dict(zip(keys, row)) for row in rows]}


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
    if mode == "stdio":
        mcp.run()
    elif mode == "sse":
        mcp.run("sse", host="127.0.0.1", port=port)
    elif mode == "http":
        mcp.run("streamable-http", host="127.0.0.1", port=port)
    else:
        sys.exit(f"unknown mode {mode}")
