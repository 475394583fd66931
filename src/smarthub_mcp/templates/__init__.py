"""Prompt templates: versioned, variable-checked prompts that users run, share and fork."""
