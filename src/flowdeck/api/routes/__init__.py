"""Thin routers: parse, call a service, answer."""
