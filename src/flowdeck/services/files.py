"""Uploaded files (seed 002's upload URL): announced by a key, uploaded once with the token the
announcement hands out, kept in the database (size-capped), readable only in their workspace."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from flowdeck.domain.clock import Clock
from flowdeck.domain.compat import UploadedFile
from flowdeck.domain.ids import new_id
from flowdeck.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, Unauthorized
from flowdeck.services.auth import Principal
from flowdeck.services.ports import StorePort

MAX_FILES_PER_RUN = 10


@dataclass(frozen=True)
class FileContent:
    """An uploaded file with its bytes."""

    file: UploadedFile
    data: bytes

    def as_input(self) -> dict[str, object]:
        """The file as a run input: its id, type, size and base64 bytes."""
        return {
            "storageId": self.file.id,
            "contentType": self.file.content_type,
            "size": self.file.size,
            "data": base64.b64encode(self.data).decode(),
        }


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class FileService:
    """Announce, upload and read files of a workspace."""

    def __init__(self, store: StorePort, clock: Clock, *, max_bytes: int) -> None:
        self.store = store
        self.clock = clock
        self.max_bytes = max_bytes

    async def announce(self, principal: Principal) -> tuple[UploadedFile, str]:
        """A file id and the token its one upload must carry."""
        principal.require("workflows:run")
        token = secrets.token_urlsafe(32)
        file = UploadedFile(
            id=new_id("file"),
            workspace_id=principal.workspace_id,
            created_at=self.clock.now(),
            created_by=principal.name,
        )
        async with self.store.write() as tx:
            await tx.insert_file(file, _digest(token))
        return file, token

    async def upload(
        self, file_id: str, token: str | None, data: bytes, content_type: str | None
    ) -> UploadedFile:
        """Keep the bytes of an announced file (once; the token proves the announcement)."""
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(f"A file may hold at most {self.max_bytes} bytes")
        async with self.store.write() as tx:
            found = await tx.file_for_upload(file_id)
            if found is None or not token or not hmac.compare_digest(found[1], _digest(token)):
                raise Unauthorized("The upload URL is invalid")
            if not await tx.store_file_bytes(file_id, data, content_type, self.clock.now()):
                raise Conflict(f"File '{file_id}' was already uploaded")
            stored = await tx.file_for_upload(file_id)
        if stored is None:
            raise NotFound(f"File '{file_id}' not found")
        return stored[0]

    async def load(self, principal: Principal, file_ids: Sequence[str]) -> list[FileContent]:
        """The workspace's uploaded files with these ids, in that order; every id must be one."""
        principal.require("workflows:read")
        ids = list(dict.fromkeys(file_ids))
        if len(ids) > MAX_FILES_PER_RUN:
            raise InvalidInput(
                "Too many files", errors=[f"at most {MAX_FILES_PER_RUN} files; got {len(ids)}"]
            )
        async with self.store.read() as tx:
            found = {
                f.id: FileContent(f, d)
                for f, d in await tx.files_with_bytes(principal.workspace_id, ids)
            }
        missing = [i for i in ids if i not in found]
        if missing:
            raise InvalidInput(
                "Unknown files",
                errors=[f"'{i}' is not an uploaded file of this workspace" for i in missing],
            )
        return [found[i] for i in ids]
