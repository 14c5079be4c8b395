"""Workflow slugs: derived once from the name, then the workflow's stable handle."""

from __future__ import annotations

import re
import unicodedata

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
# Paths under /api/workflows that a slug may not take.
RESERVED_SLUGS = frozenset(
    {"templates", "runs", "schedules", "validate", "bulk-delete", "fork", "trash"}
)


def slugify(name: str) -> str:
    """A URL slug from a display name ("Fetch and notify" → "fetch-and-notify")."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:90].strip("-")
    if slug in RESERVED_SLUGS:
        slug += "-workflow"
    return slug or "workflow"


def slug_problem(slug: str) -> str | None:
    """Why `slug` cannot name a workflow, or None."""
    if not SLUG_RE.match(slug):
        return f"slug '{slug}' must be lowercase letters, digits and hyphens (at most 100)"
    if slug in RESERVED_SLUGS:
        return f"slug '{slug}' is reserved; choose another"
    return None
