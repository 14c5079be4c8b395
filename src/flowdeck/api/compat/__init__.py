"""The seeds' own APIs, verbatim, as thin translations onto Flowdeck's services: one module per
seed (see the README's "Seed-compatible APIs")."""
