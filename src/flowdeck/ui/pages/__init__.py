"""Page routers, one module per screen family."""
