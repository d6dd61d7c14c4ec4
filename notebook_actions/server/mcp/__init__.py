"""The MCP front door: Streamable HTTP sessions, and the exported actions as MCP tools."""
