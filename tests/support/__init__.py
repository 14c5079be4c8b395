"""Test support shared by every tier: a local HTTP peer, a fake LLM server, process helpers."""
