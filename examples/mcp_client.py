"""A small MCP client for Clara (Python `mcp` package, `pip install mcp`).

    python examples/mcp_client.py http http://127.0.0.1:8000/mcp [EMAIL PASSWORD]
    python examples/mcp_client.py sse  http://127.0.0.1:8000/sse [EMAIL PASSWORD]
    python examples/mcp_client.py stdio ./target/release/clara [EMAIL PASSWORD]

Lists the tools, checks health, and, given an email and password, signs in with auth_login
and shows the user and their API key. Over HTTP the client's default mode negotiates the
stateless 2026-07-28 revision, where no connection keeps a sign-in: the token auth_login returns
goes into the Authorization header of every later request (the result says so too). Tool errors
arrive as isError results whose text is {"code", "message", "status", "detail", ...}.
"""
import asyncio
import json
import sys

import httpx2
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client


def show(name, result):
    if result.is_error:
        print(f"{name}: error {result.content[0].text}")
    else:
        print(f"{name}: {json.dumps(result.structured_content)}")


async def main():
    kind, target, *login = sys.argv[1:]
    http = None
    if kind == "stdio":
        server = StdioServerParameters(command=target, args=["stdio"])
    elif kind == "sse":
        server = sse_client(target)
    else:
        http = httpx2.AsyncClient(timeout=60)
        server = streamable_http_client(target, http_client=http)
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
        print("tools:", ", ".join(t.name for t in tools))
        show("misc_health", await client.call_tool("misc_health", {}))
        if len(login) == 2:
            email, password = login
            signed = await client.call_tool("auth_login", {"email": email, "password": password})
            show("auth_login", signed)
            if http is not None and not signed.is_error:
                # Stateless HTTP keeps no sign-in: send the user token with every request.
                http.headers["authorization"] = f"Bearer {signed.structured_content['token']}"
            show("user_view", await client.call_tool("user_view", {}))
            show("api_key_view", await client.call_tool("api_key_view", {}))


asyncio.run(main())
