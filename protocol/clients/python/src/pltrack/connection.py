"""The connection to pltrackd: frames, replies matched by id, timeouts.

Written from ``protocol/SPEC.md`` (wire protocol version 1) using only the
Python standard library.

Every message and reply is one frame: a 4-byte big-endian unsigned length N
followed by N bytes of UTF-8 JSON holding exactly one object.

Example::

    from pltrack.connection import Client, PltrackError

    with Client() as c:                      # $PLTRACKD_SOCKET or the default path
        c.track_prompt(prompt_name="greeting", request_id=123)   # no reply
        c.track_prompt_confirmed(prompt_name="greeting", request_id=124)
        c.flush(timeout_ms=5000)
        print(c.stats()["delivered"])

A ``Client`` is not thread-safe: use one per thread, or guard it with a lock.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import socket
import struct
import time
from typing import Any

__all__ = [
    "Client",
    "PltrackError",
    "PltrackConnectionError",
    "default_socket_path",
    "encode_frame",
    "DEFAULT_MAX_FRAME_LENGTH",
]

#: The daemon's default maximum payload length (1 MiB); the operator may change it.
DEFAULT_MAX_FRAME_LENGTH = 1_048_576

#: The daemon's default flush timeout (used only to size how long we wait).
DEFAULT_FLUSH_TIMEOUT_S = 30.0

_HEADER = struct.Struct(">I")

#: Error codes after which the daemon closes the connection.
_CLOSING_CODES = ("frame_too_large", "overloaded")


class PltrackError(Exception):
    """An error reply from the daemon: ``{"ok": false, "error": {"code", "message"}}``.

    ``code`` is one of the stable codes from the spec (``invalid_json``,
    ``invalid_message``, ``unknown_type``, ``frame_too_large``, ``overloaded``,
    ``shutting_down``, ``forbidden``, ``spool_error``, ``timeout``); ``message`` is
    human-readable text. ``overloaded`` for a tracking call means it was not taken: send
    it again later. ``spool_error`` means the daemon's disk failed (see the spec).
    ``reply`` is the whole reply object.
    """

    def __init__(self, code: str, message: str, reply: dict | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.reply = reply


class PltrackConnectionError(ConnectionError):
    """The connection was closed, broken, or timed out mid-frame."""


def default_socket_path() -> str:
    """Return the socket path a client should use when none is given.

    ``$PLTRACKD_SOCKET`` if set, else ``$XDG_RUNTIME_DIR/pltrackd.sock`` if
    ``XDG_RUNTIME_DIR`` is set, else ``/run/pltrackd/pltrackd.sock``.
    """
    explicit = os.environ.get("PLTRACKD_SOCKET")
    if explicit:
        return explicit
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "pltrackd.sock")
    return "/run/pltrackd/pltrackd.sock"


#: One encoder for every frame: ``json.dumps`` with other than its default arguments builds a
#: new one per call, which costs a fifth of encoding a 2 KiB log.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def encode_frame(message: dict, max_frame_length: int | None = DEFAULT_MAX_FRAME_LENGTH) -> bytes:
    """Serialize ``message`` as one frame (length prefix + UTF-8 JSON).

    Raises ``ValueError`` if the payload would exceed ``max_frame_length``
    (sending it would make the daemon close the connection), or if the
    message cannot be encoded as valid JSON/UTF-8 (NaN, lone surrogates).
    """
    # A lone surrogate raises UnicodeEncodeError (a ValueError).
    payload = _ENCODER.encode(message).encode("utf-8")
    if max_frame_length is not None and len(payload) > max_frame_length:
        raise ValueError(
            f"payload is {len(payload)} bytes, above the maximum frame length {max_frame_length}"
        )
    return _HEADER.pack(len(payload)) + payload


class Client:
    """A connection to pltrackd.

    :param socket_path: Unix socket path; defaults to :func:`default_socket_path`.
    :param timeout: seconds any single operation (connect, write, waiting for a
        reply) may take before :class:`TimeoutError` is raised.  ``flush``
        waits longer when its own timeout requires it.
    :param max_frame_length: largest payload this client will send; match the
        daemon's ``--max-frame-length``.  ``None`` disables the local check.

    Replies are matched to requests by ``id``.  Replies for other ids that
    arrive while waiting are kept until asked for.  Error replies without an
    ``id`` (they answer fire-and-forget messages that were rejected) are
    collected; fetch them with :meth:`drain_errors`.
    """

    def __init__(
        self,
        socket_path: str | None = None,
        timeout: float = 10.0,
        max_frame_length: int | None = DEFAULT_MAX_FRAME_LENGTH,
    ):
        self.socket_path = socket_path or default_socket_path()
        self.timeout = timeout
        self.max_frame_length = max_frame_length
        self._ids = itertools.count(1)
        self._rbuf = bytearray()
        self._replies: dict[Any, dict] = {}  # id key -> reply, not yet asked for
        self._errors: list[PltrackError] = []  # id-less error replies
        self._abandoned: set[Any] = set()  # id keys whose request timed out
        self._last_idless: PltrackError | None = None  # id-less error read last
        self._close_error: Exception | None = None  # why the connection closed
        self._sock: socket.socket | None = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(timeout)
            self._sock.connect(self.socket_path)
            # Non-blocking from here on: a write is one send(2), with no poll(2) before it and no
            # mode switch; only a write the daemon's backpressure holds up waits (see _write).
            self._sock.settimeout(0.0)
        except BaseException:
            self._sock.close()
            self._sock = None
            raise

    # -- context manager ---------------------------------------------------

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent).  Later calls raise an error."""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    # -- public API --------------------------------------------------------

    def track_prompt(self, **fields: Any) -> None:
        """Send a ``track.prompt`` without ``id``: fire-and-forget, no reply.

        If the daemon rejects it, the error reply (without ``id``) is picked up
        by a later read; see :meth:`drain_errors`.
        """
        self._check_fields(fields)
        self.send({"type": "track.prompt", **fields})

    def track_prompt_confirmed(self, **fields: Any) -> dict:
        """Send a ``track.prompt`` with an ``id`` and wait for its reply.

        Returns the reply (``{"id": ..., "ok": true}``): the daemon has taken
        responsibility for the call.  Raises :class:`PltrackError` on an error
        reply (e.g. ``invalid_message``, ``shutting_down``).
        """
        self._check_fields(fields)
        return self.request({"type": "track.prompt", **fields})

    def ping(self) -> dict:
        """Send ``ping`` and wait for the reply.

        A reply means every frame written before it on this connection has
        been read and handled.
        """
        return self.request({"type": "ping"})

    def flush(self, timeout_ms: int | None = None) -> dict:
        """Wait until every call accepted before now (on any connection) is
        delivered or dead-lettered.

        ``timeout_ms`` (1..86400000) is passed to the daemon; without it the
        daemon's default (30 s unless configured) applies.  Raises
        :class:`PltrackError` with code ``timeout`` if it runs out first
        (the calls are still held and will still be delivered).
        """
        message: dict[str, Any] = {"type": "flush"}
        if timeout_ms is not None:
            message["timeout_ms"] = timeout_ms
            wait = timeout_ms / 1000.0
        else:
            wait = DEFAULT_FLUSH_TIMEOUT_S
        # Give the daemon time to answer `timeout` itself before we give up.
        return self.request(message, wait=max(self.timeout, wait + self.timeout))

    def request_id(self, ref: str, timeout_ms: int | None = None) -> int:
        """The id PromptLayer answered the ``log.request`` with ``ref`` with,
        waiting for its answer (``timeout_ms`` as for :meth:`flush`).

        Raises :class:`PltrackError` with code ``timeout`` if it does not come
        in time, ``log_failed`` if the log was refused for good.
        """
        message: dict[str, Any] = {"type": "request_id", "ref": ref}
        wait = DEFAULT_FLUSH_TIMEOUT_S
        if timeout_ms is not None:
            message["timeout_ms"] = timeout_ms
            wait = timeout_ms / 1000.0
        return self.request(message, wait=wait + self.timeout)["request_id"]

    def stats(self) -> dict:
        """Return the daemon's counters (the ``stats`` member of the reply).

        Unknown counters may appear and should be ignored.
        """
        return self.request({"type": "stats"})["stats"]

    def drain_errors(self) -> list[PltrackError]:
        """Return and forget the id-less error replies received so far.

        These answer messages that were sent without ``id`` (or whose ``id``
        was invalid).  Only replies already read are returned; call
        :meth:`ping` first to be sure every earlier message has been handled.
        """
        errors, self._errors = self._errors, []
        return errors

    # -- lower level -------------------------------------------------------

    def send(self, message: dict) -> None:
        """Write one message as a frame, without waiting for anything.

        The write may block while the daemon applies backpressure; after
        ``timeout`` seconds it fails with :class:`PltrackConnectionError` and
        the connection is closed, because part of the frame may have been
        written.  If the daemon has closed the connection (after
        ``overloaded`` or ``frame_too_large``), that error reply is raised as
        :class:`PltrackError` when it can still be read.
        """
        self._write(encode_frame(message, self.max_frame_length))

    def _write(self, frame: bytes) -> None:
        sock = self._require_socket()
        view = memoryview(frame)
        try:
            sent = self._send_some(sock, view)
            if sent < len(view):  # the socket buffer is full: wait for room, at most `timeout`
                deadline = time.monotonic() + self.timeout
                poller = select.poll()
                poller.register(sock, select.POLLOUT)
                while sent < len(view):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not poller.poll(remaining * 1000):
                        raise socket.timeout("write blocked")
                    sent += self._send_some(sock, view[sent:])
        except socket.timeout as exc:
            self._shut(PltrackConnectionError("write blocked by pltrackd backpressure; connection closed"))
            raise self._close_error from exc
        except OSError as exc:  # EPIPE / ECONNRESET: the daemon closed the connection
            self._salvage()
            self._shut(PltrackConnectionError(f"write failed: {exc}"))
            raise self._close_error from exc

    @staticmethod
    def _send_some(sock: socket.socket, data: memoryview) -> int:
        """What one non-blocking send(2) of ``data`` takes: 0 when the buffer is full."""
        try:
            return sock.send(data)
        except BlockingIOError:
            return 0

    def send_raw(self, payload: bytes) -> None:
        """Write ``payload`` (JSON text, sent as it is) as one frame, as :meth:`send` does."""
        self._write(_HEADER.pack(len(payload)) + payload)

    def request(self, message: dict, wait: float | None = None) -> dict:
        """Send ``message`` with a fresh integer ``id`` and return its reply.

        Raises :class:`PltrackError` on an error reply, :class:`TimeoutError`
        if no reply comes within ``wait`` seconds (default: ``timeout``).
        """
        request_id = next(self._ids)
        self.send({**message, "id": request_id})
        try:
            reply = self.wait_reply(request_id, self.timeout if wait is None else wait)
        except TimeoutError:
            self._abandoned.add(_id_key(request_id))  # drop its reply if it comes later
            raise
        if reply.get("ok") is True:
            return reply
        raise _error_from(reply)

    def wait_reply(self, request_id: Any, wait: float) -> dict:
        """Return the reply carrying ``request_id``, reading frames as needed.

        Replies for other ids are kept for later; id-less errors are collected
        for :meth:`drain_errors`.
        """
        key = _id_key(request_id)
        deadline = time.monotonic() + wait
        while key not in self._replies:
            self._dispatch(self._read_reply(deadline))
        return self._replies.pop(key)

    # -- internals ---------------------------------------------------------

    @staticmethod
    def _check_fields(fields: dict) -> None:
        for reserved in ("type", "id"):
            if reserved in fields:
                raise ValueError(f"{reserved!r} is set by the client, not a track.prompt field")

    def _require_socket(self) -> socket.socket:
        if self._sock is None:
            raise self._close_error or PltrackConnectionError("the client is closed")
        return self._sock

    def _shut(self, reason: Exception) -> None:
        """Close the socket, remembering why (raised by later calls).

        After an id-less ``frame_too_large`` or ``overloaded`` the daemon
        closes the connection; that error is the reason then.
        """
        if self._last_idless is not None and self._last_idless.code in _CLOSING_CODES:
            reason = self._last_idless
        if self._close_error is None:
            self._close_error = reason
        self.close()

    def _dispatch(self, reply: dict) -> None:
        """File one reply: by id, or as an id-less error."""
        if "id" not in reply:
            self._last_idless = _error_from(reply)
            self._errors.append(self._last_idless)
            return
        self._last_idless = None
        key = _id_key(reply["id"])
        if key in self._abandoned:
            self._abandoned.discard(key)
        else:
            self._replies[key] = reply

    def _salvage(self) -> None:
        """After a failed write, read the replies the daemon sent before closing."""
        sock = self._sock
        if sock is None:
            return
        try:
            sock.setblocking(False)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                self._rbuf += chunk
        except OSError:  # nothing more to read (EAGAIN) or reset
            pass
        while len(self._rbuf) >= _HEADER.size:
            (length,) = _HEADER.unpack_from(self._rbuf)
            if len(self._rbuf) < _HEADER.size + length:
                break
            payload = bytes(self._rbuf[_HEADER.size : _HEADER.size + length])
            del self._rbuf[: _HEADER.size + length]
            try:
                reply = json.loads(payload.decode("utf-8"))
            except ValueError:
                break
            if isinstance(reply, dict):
                self._dispatch(reply)

    def _read_reply(self, deadline: float) -> dict:
        """Read one complete frame and decode it as a JSON object."""
        payload = self._read_frame(deadline)
        try:
            reply = json.loads(payload.decode("utf-8"))
        except ValueError as exc:  # includes UnicodeDecodeError
            self._shut(PltrackConnectionError(f"undecodable reply: {exc}"))
            raise self._close_error from exc
        if not isinstance(reply, dict):
            self._shut(PltrackConnectionError(f"reply is not a JSON object: {reply!r}"))
            raise self._close_error
        return reply

    def _read_frame(self, deadline: float) -> bytes:
        """Return the next frame's payload: 4-byte length N, then exactly N bytes.

        Bytes are accumulated in an internal buffer, so a timeout between or
        within frames loses nothing: the next call continues where this one
        stopped.
        """
        self._fill(_HEADER.size, deadline)
        (length,) = _HEADER.unpack_from(self._rbuf)
        self._fill(_HEADER.size + length, deadline)
        payload = bytes(self._rbuf[_HEADER.size : _HEADER.size + length])
        del self._rbuf[: _HEADER.size + length]
        return payload

    def _fill(self, n: int, deadline: float) -> None:
        """Receive until the buffer holds at least ``n`` bytes (loop on recv)."""
        sock = self._require_socket()
        while len(self._rbuf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no reply from pltrackd in time")
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(max(65536, n - len(self._rbuf)))
            except socket.timeout as exc:
                raise TimeoutError("no reply from pltrackd in time") from exc
            except OSError as exc:
                self._shut(PltrackConnectionError(f"read failed: {exc}"))
                raise self._close_error from exc
            finally:
                if sock.fileno() >= 0:  # still open: writes stay non-blocking
                    sock.settimeout(0.0)
            if not chunk:
                self._shut(PltrackConnectionError("pltrackd closed the connection"))
                raise self._close_error
            self._rbuf += chunk


def _id_key(value: Any) -> tuple[str, Any]:
    """Dictionary key for an id that keeps 1, True and "1" apart."""
    return (type(value).__name__, value)


def _error_from(reply: dict) -> PltrackError:
    error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
    return PltrackError(
        str(error.get("code", "unknown")), str(error.get("message", "")), reply
    )
