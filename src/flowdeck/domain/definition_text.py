"""Definition text: YAML or JSON parsed into JSON data, within the limits of `domain.limits`."""

from __future__ import annotations

from typing import Any

import yaml

from flowdeck.domain.limits import (
    MAX_DEFINITION_BYTES,
    MAX_NESTING,
    JsonTooDeep,
    decode_json,
    too_deep_sentence,
)


class DefinitionParseError(ValueError):
    """The text of a definition is neither valid YAML nor valid JSON, or is over a limit."""


ALIASES_SENTENCE = "YAML anchors and aliases are not supported"
# Tags whose values are not JSON (bytes, sets, dates, ordered pairs): a definition is JSON data.
_NON_JSON_TAGS = ("binary", "timestamp", "omap", "pairs", "set")


# Safe YAML that yields JSON data only: no non-JSON types, unquoted timestamps stay strings.
# libyaml's parser when PyYAML has it (about 8x faster than the pure-Python one).
_Loader: Any = type(
    "_Loader",
    (getattr(yaml, "CSafeLoader", yaml.SafeLoader),),
    {
        "yaml_implicit_resolvers": {
            first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        },
        "yaml_constructors": {
            tag: constructor
            for tag, constructor in yaml.SafeLoader.yaml_constructors.items()
            if tag is None or tag.removeprefix("tag:yaml.org,2002:") not in _NON_JSON_TAGS
        },
    },
)
_OPENS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSES = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def _where(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _check_events(text: str) -> None:
    """Refuse anchors and aliases, and nesting deeper than MAX_NESTING, from the event stream
    alone: nothing is built, so an alias bomb of a few hundred bytes is refused at once
    (expanded, it would be billions of nodes)."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise DefinitionParseError(f"{ALIASES_SENTENCE} (found{_where(event.start_mark)})")
        if isinstance(event, _OPENS):
            depth += 1
            if depth > MAX_NESTING:
                where = _where(event.start_mark)
                raise DefinitionParseError(too_deep_sentence(f"The definition{where}"))
        elif isinstance(event, _CLOSES):
            depth -= 1


def load_definition_text(text: str, *, max_bytes: int = MAX_DEFINITION_BYTES) -> Any:
    """Parse a definition written in YAML or JSON; DefinitionParseError on bad syntax, on
    anchors or aliases, on nesting deeper than MAX_NESTING and on text over `max_bytes`."""
    if not text.strip():
        raise DefinitionParseError("The definition is empty")
    size = len(text.encode())
    if size > max_bytes:
        raise DefinitionParseError(f"The definition is {size} bytes; the limit is {max_bytes}")
    if text.lstrip()[:1] in "{[":
        try:
            return decode_json(text)
        except JsonTooDeep:
            raise DefinitionParseError(too_deep_sentence("The definition")) from None
        except ValueError:
            pass  # Flow-style YAML such as `{name: x}` also starts with a brace.
    try:
        _check_events(text)
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        where = _where(exc.problem_mark)
        raise DefinitionParseError(f"Invalid YAML{where}: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise DefinitionParseError(f"Invalid YAML: {exc}") from None
