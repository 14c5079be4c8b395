"""Literal credentials in a definition: found (for validation warnings) and masked (for public
views and forks).

The rule: inside a step's `config` (at any depth, loop bodies included), a key named like a
credential whose value is literal text. Credential names, compared case-insensitively with `_`
read as `-`: `authorization`, `proxy-authorization`, `cookie`, `set-cookie`, `secret`,
`password`, `passwd`, `token`, `api-key`, `apikey`, `x-api-key`, `private-key`, `access-key`,
`secret-key`, `client-secret`, and any name ending in `-token`, `-secret`, `-password`,
`-api-key`, `-apikey`, `-private-key`, `-access-key` or `-secret-key` (paging tokens such as
`next-token` excepted). That covers a webhook step's `secret`, header literals such as
`Authorization: Bearer …` or `X-API-Key`, script `env` entries such as `GITHUB_TOKEN`, and JSON
bodies with a `password`. A URL's password (`https://user:pw@host`) counts too, as does the
`default` of an input named like a credential.

A value is literal when anything but a template and an auth scheme word (`Bearer`, `Basic`,
`Token`…) is left: `{{ secrets.NAME }}` and `Bearer {{ secrets.NAME }}` reveal nothing and stay.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

_EXACT = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "secret",
        "password",
        "passwd",
        "token",
        "api-key",
        "apikey",
        "x-api-key",
        "private-key",
        "access-key",
        "secret-key",
        "client-secret",
    }
)
_SUFFIXES = (
    "-token",
    "-secret",
    "-password",
    "-api-key",
    "-apikey",
    "-private-key",
    "-access-key",
    "-secret-key",
)
# Names that end like a credential but carry a paging cursor.
_NOT_SECRET = frozenset({"next-token", "page-token", "continuation-token", "pagination-token"})
_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_SCHEME = re.compile(r"^\s*(bearer|basic|token|digest|apikey|api-key)\b", re.IGNORECASE)


def is_credential_name(name: str) -> bool:
    """True for a key or header name that usually holds a credential."""
    norm = name.strip().lower().replace("_", "-")
    if norm in _NOT_SECRET:
        return False
    return norm in _EXACT or norm.endswith(_SUFFIXES)


def is_literal(value: Any) -> bool:
    """True when a value would reveal something: text beyond templates and a scheme word, or a
    number."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return True
    if not isinstance(value, str):
        return False
    rest = _SCHEME.sub("", _TEMPLATE.sub("", value))
    return bool(rest.strip())


@dataclass(frozen=True)
class Finding:
    """One literal credential: where it is (`label`, `path`) and the container holding it."""

    owner: str  # the step id or input name, for a suggested secret name
    label: str
    path: str
    container: dict[str, Any]
    key: str
    in_url: bool = False


def _url_password(value: Any) -> bool:
    if not isinstance(value, str) or "@" not in value:
        return False
    try:
        password = urlsplit(value).password
    except ValueError:
        return False
    return password is not None and is_literal(password)


def _config_findings(owner: str, label: str, config: dict[str, Any]) -> Iterator[Finding]:
    stack: list[tuple[str, Any]] = [("config", config)]
    while stack:
        path, node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            sub = f"{path}.{key}" if isinstance(node, dict) else f"{path}[{key}]"
            if isinstance(value, dict | list):
                stack.append((sub, value))
            elif isinstance(node, dict) and isinstance(key, str):
                if is_credential_name(key) and is_literal(value):
                    yield Finding(owner, label, sub, node, key)
                elif _url_password(value):
                    yield Finding(owner, label, sub, node, key, in_url=True)


def find_literal_credentials(definition: Any) -> list[Finding]:
    """Every literal credential of a raw definition, in step order."""
    if not isinstance(definition, dict):
        return []
    found: list[Finding] = []
    for index, step in enumerate(_list(definition.get("steps"))):
        if not isinstance(step, dict) or not isinstance(step.get("config"), dict):
            continue
        sid = step.get("id")
        owner, label = (sid, f"Step '{sid}'") if isinstance(sid, str) else ("", f"steps[{index}]")
        findings = _config_findings(owner, label, step["config"])
        found.extend(sorted(findings, key=lambda f: f.path))
    for item in _list(definition.get("inputs")):
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and is_credential_name(name) and is_literal(item.get("default")):
            found.append(Finding(name, f"Input '{name}'", "default", item, "default"))
    return found


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _secret_name(finding: Finding) -> str:
    """A name for the secret to create: the step (or input) and the key, as SECRET_NAME wants."""
    key = "" if finding.path == "default" else finding.key  # an input: its own name says it
    words = re.sub(r"[^A-Za-z0-9]+", "_", f"{finding.owner}_{key}").strip("_").upper()
    name = (words or "CREDENTIAL")[:90]
    return f"S_{name}" if name[0].isdigit() else name


def credential_warnings(definition: Any) -> list[str]:
    """A warning per literal credential, suggesting a workspace secret instead."""
    out = []
    for finding in find_literal_credentials(definition):
        name = _secret_name(finding)
        value = finding.container[finding.key]
        if finding.path == "default":
            out.append(
                f"{finding.label}: its default is a literal credential, which anyone who can "
                f"read the workflow sees; store it as a secret (PUT /api/secrets/{name}) and "
                f"read '{{{{ secrets.{name} }}}}' where the input is used"
            )
            continue
        if finding.in_url:
            where = "a password in its URL"
            hint = f"https://user:{{{{ secrets.{name} }}}}@host"
        else:
            where = "a literal credential"
            scheme = _SCHEME.match(value) if isinstance(value, str) else None
            prefix = f"{scheme.group(1)} " if scheme else ""
            hint = f"{prefix}{{{{ secrets.{name} }}}}"
        out.append(
            f"{finding.label}: {finding.path} holds {where}, which anyone who can read the "
            f"workflow sees; store it as a secret (PUT /api/secrets/{name}) and write "
            f"'{hint}' instead"
        )
    return out


def mask_credentials(definition: dict[str, Any]) -> dict[str, Any]:
    """A copy of the definition with every literal credential replaced by `***` (an auth
    scheme word and a URL's other parts are kept); templates stay as they are."""
    masked = copy.deepcopy(definition)
    for finding in find_literal_credentials(masked):
        value = finding.container[finding.key]
        if finding.in_url:
            parts = urlsplit(value)
            host = parts.netloc.rsplit("@", 1)[1]
            user = parts.username or ""
            netloc = f"{user}:{MASK}@{host}"
            finding.container[finding.key] = urlunsplit(parts._replace(netloc=netloc))
        else:
            scheme = _SCHEME.match(value) if isinstance(value, str) else None
            finding.container[finding.key] = f"{scheme.group(1)} {MASK}" if scheme else MASK
    return masked
