"""``AsyncPLTrack``: the SDK's ``track`` calls for asyncio apps, handed to pltrackd."""

from __future__ import annotations

import asyncio
import itertools
import json
import struct
from typing import Any, Callable

from .connection import DEFAULT_MAX_FRAME_LENGTH, PltrackError, encode_frame
from .tracking import DEFAULT_TIMEOUT, TrackingClient

_HEADER = struct.Struct(">I")


class AsyncPLTrack(TrackingClient):
    """``PLTrack`` for asyncio: ``await client.track.prompt(...)``, the same arguments.

    It connects on the first call and again after the daemon restarts; no call waits longer
    than ``timeout`` seconds, and none raises: each returns ``True`` when handed over (taken,
    when ``acknowledged``), ``False`` otherwise, counted in :attr:`lost` or :attr:`rejected`.
    """

    def __init__(self, socket_path: str | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 acknowledged: bool = False, max_frame_length: int | None = DEFAULT_MAX_FRAME_LENGTH,
                 on_lost: Callable[[dict, str], None] | None = None):
        super().__init__(socket_path, timeout, acknowledged, max_frame_length, on_lost)
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task | None = None
        self._waiting: dict[int, asyncio.Future] = {}

    async def __aenter__(self) -> "AsyncPLTrack":
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def close(self) -> None:
        async with self._lock:
            await self._drop_connection()

    async def flush(self, timeout_ms: int = 30_000) -> bool:
        """Wait until every call handed over so far is delivered or dead-lettered."""
        reply = await self._request({"type": "flush", "timeout_ms": timeout_ms}, wait=timeout_ms / 1000 + self.timeout)
        return reply is not None and reply.get("ok") is True

    async def stats(self) -> dict | None:
        reply = await self._request({"type": "stats"}, wait=self.timeout)
        return reply.get("stats") if reply and reply.get("ok") is True else None

    # -- internals ---------------------------------------------------------

    @staticmethod
    def _log_handed_over(handed_over: Any, ref: str) -> Any:
        # `await client.log_request(...)`: the ref once the log is handed over.
        async def wait() -> str | None:
            return ref if await handed_over else None
        return wait()

    async def _hand_over(self, message: dict) -> bool:
        reason = "not sent"
        for _ in range(2):  # once more on a fresh connection: the daemon may have restarted
            try:
                if self.acknowledged:
                    reply = await self._exchange(message, wait=self.timeout)
                    if reply.get("ok") is not True:
                        self._note_error(reply)
                        return False
                else:
                    async with self._lock:
                        await asyncio.wait_for(self._write(message), self.timeout)
                return True
            except ValueError as error:
                reason = str(error)
                break
            except (OSError, asyncio.TimeoutError, ConnectionError) as error:
                reason = str(error) or type(error).__name__
                async with self._lock:
                    await self._drop_connection()
        return self._lose(message, reason)

    async def _request(self, message: dict, wait: float) -> dict | None:
        try:
            return await self._exchange(message, wait)
        except (OSError, asyncio.TimeoutError, ConnectionError, ValueError):
            async with self._lock:
                await self._drop_connection()
            return None

    async def _exchange(self, message: dict, wait: float) -> dict:
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            async with self._lock:
                await asyncio.wait_for(self._write({**message, "id": request_id}), self.timeout)
            return await asyncio.wait_for(asyncio.shield(future), wait)
        finally:
            self._waiting.pop(request_id, None)

    async def _write(self, message: dict) -> None:
        frame = encode_frame(message, self.max_frame_length)
        if self._writer is None or self._writer.is_closing():
            reader, self._writer = await asyncio.open_unix_connection(self.socket_path)
            self._reader_task = asyncio.create_task(self._read_replies(reader))
        self._writer.write(frame)
        await self._writer.drain()

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                (length,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                reply = json.loads(await reader.readexactly(length))
                future = self._waiting.get(reply.get("id")) if isinstance(reply.get("id"), int) else None
                if future is not None and not future.done():
                    future.set_result(reply)
                elif reply.get("ok") is not True:
                    self._note_error(reply)
        except (asyncio.IncompleteReadError, OSError, ValueError):
            pass
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("pltrackd closed the connection"))

    async def _drop_connection(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._reader_task is not None:
            self._reader_task.cancel()
            self._reader_task = None

    def _note_error(self, reply: dict) -> None:
        error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
        self._note_errors([PltrackError(str(error.get("code", "unknown")), str(error.get("message", "")), reply)])
