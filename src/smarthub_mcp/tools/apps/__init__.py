"""MCP Apps: small HTML views the hosts that render MCP Apps show inline, fed by a tool's result."""
