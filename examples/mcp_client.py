"""A small MCP client for Clara (Python `mcp` package, `pip install mcp`).

    python examples/mcp_client.py http http://127.0.0.1:8000/mcp [EMAIL PASSWORD]
    python examples/mcp_client.py sse  http://127.0.0.1:8000/sse [EMAIL PASSWORD]
    python examples/mcp_client.py stdio ./target/release/clara [EMAIL PASSWORD]

Lists the tools, checks health, and, given an email and password, signs the connection in
with auth_login and shows the user and their API key. Tool errors arrive as isError results
whose text is {"code", "message", "status", ...}.
"""
import asyncio
import json
import sys

from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters


def show(name, result):
    if result.is_error:
        print(f"{name}: error {result.content[0].text}")
    else:
        print(f"{name}: {json.dumps(result.structured_content)}")


async def main():
    kind, target, *login = sys.argv[1:]
    if kind == "stdio":
        server, mode = StdioServerParameters(command=target, args=["stdio"]), "auto"
    elif kind == "sse":
        server, mode = sse_client(target), "legacy"
    else:
        server, mode = target, "legacy"  # a session, so auth_login binds it
    async with Client(server, mode=mode) as client:
        tools = (await client.list_tools()).tools
        print("tools:", ", ".join(t.name for t in tools))
        show("misc_health", await client.call_tool("misc_health", {}))
        if len(login) == 2:
            email, password = login
            show("auth_login", await client.call_tool("auth_login", {"email": email, "password": password}))
            show("user_view", await client.call_tool("user_view", {}))
            show("api_key_view", await client.call_tool("api_key_view", {}))


asyncio.run(main())
