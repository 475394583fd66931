"""Paid work: what a generation costs and how it runs through the meter, whoever asked for it.

`chat.py` builds a chat request, prices it for one model and runs it under the caller's charge;
`templates.py` turns a template run (one or a batch) into such a chat call. The MCP tools, the
HTTP tool facade, `/v1`, template execute and batch all come through here, inside `registry.invoke`.
"""
