"""The MCP server: the `manage_workflows` and `get_workflow_run` tools over Flowdeck's services."""
