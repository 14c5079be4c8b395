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


class _Loader(yaml.SafeLoader):
    """Safe YAML that yields JSON data only: no anchors or aliases (an alias can expand a few
    hundred bytes into billions of nodes), at most MAX_NESTING levels, no non-JSON types, and
    unquoted timestamps stay strings."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(None, None, ALIASES_SENTENCE, event.start_mark)
        nests = isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent)
        if nests and self._depth >= MAX_NESTING:
            raise yaml.composer.ComposerError(
                None, None, f"nested more than {MAX_NESTING} levels deep", event.start_mark
            )
        self._depth += nests
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= nests


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.yaml_constructors = {
    tag: constructor
    for tag, constructor in yaml.SafeLoader.yaml_constructors.items()
    if tag is None or tag.removeprefix("tag:yaml.org,2002:") not in _NON_JSON_TAGS
}


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
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DefinitionParseError(f"Invalid YAML{where}: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise DefinitionParseError(f"Invalid YAML: {exc}") from None
