"""The workflow's planning: config checks, the run plan, the report registry."""
