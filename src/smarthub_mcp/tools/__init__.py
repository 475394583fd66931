"""The MCP tools: one registry, exposed over MCP and through the HTTP tool facade."""
