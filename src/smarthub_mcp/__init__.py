"""SmartHub MCP: a credit-metered AI gateway that speaks MCP."""

__version__ = "0.1.0"
