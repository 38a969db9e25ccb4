"""``PLTrack``: the PromptLayer SDK's ``track`` calls, handed to pltrackd."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from . import messages
from .connection import DEFAULT_MAX_FRAME_LENGTH, Client, PltrackError, default_socket_path

_log = logging.getLogger("pltrack")

#: How long a call may block the app by default, in seconds: connecting, writing, and, when
#: acknowledged, waiting for the daemon's answer.
DEFAULT_TIMEOUT = 0.25


class TrackingClient:
    """What the blocking and the asyncio clients share: their settings, counters and reports."""

    def __init__(self, socket_path: str | None, timeout: float, acknowledged: bool,
                 max_frame_length: int | None, on_lost: Callable[[dict, str], None] | None):
        self.socket_path = socket_path or default_socket_path()
        self.timeout = timeout
        self.acknowledged = acknowledged
        self.max_frame_length = max_frame_length
        self.on_lost = on_lost
        #: Calls that could not be handed over (not connected, timed out, too large).
        self.lost = 0
        #: Calls the daemon answered with an error (acknowledged calls, or id-less errors read).
        self.rejected = 0
        #: The last errors the daemon answered, newest last (at most 100).
        self.errors: list[PltrackError] = []
        self.track = TrackMessages(self._hand_over)

    def log_request(self, *, provider: str, model: str, input: dict, output: dict, request_start_time: Any,
                    request_end_time: Any, ref: str | None = None, **options: Any) -> Any:
        """The SDK's ``log_request``, handed to pltrackd: returns at once with the request's ref
        (a new UUID unless ``ref`` is given), or ``None`` when the log could not be handed over.

        pltrackd sends the log to PromptLayer and learns the id; track calls name the request
        by ``request_ref=ref`` meanwhile. Takes the SDK's keyword arguments, with its defaults.
        """
        ref = ref or messages.new_ref()
        message = messages.log_request_message(ref, provider, model, input, output, request_start_time,
                                               request_end_time, options)
        return self._log_handed_over(self._hand_over(message), ref)

    @staticmethod
    def _log_handed_over(handed_over: bool, ref: str) -> str | None:
        return ref if handed_over else None

    def _hand_over(self, message: dict) -> Any:
        raise NotImplementedError

    def _lose(self, message: dict, reason: str) -> bool:
        self.lost += 1
        _log.warning("pltrack: %s for request %r not handed to pltrackd: %s",
                     message.get("type"), message.get("request_id", message.get("request_ref", message.get("ref"))),
                     reason)
        if self.on_lost is not None:
            self.on_lost(message, reason)
        return False

    def _note_errors(self, errors: list[PltrackError]) -> None:
        for error in errors:
            self.rejected += 1
            _log.warning("pltrack: pltrackd refused a call: %s: %s", error.code, error.message)
        self.errors = (self.errors + errors)[-100:]


class PLTrack(TrackingClient):
    """A drop-in for the PromptLayer SDK's tracking calls, sent to the local pltrackd.

    :param socket_path: the daemon's socket; else ``$PLTRACKD_SOCKET``, else the default path.
    :param timeout: the most one call blocks the app, in seconds (connect, write, and the
        answer when ``acknowledged``).
    :param acknowledged: wait for the daemon to take each call (``True`` returned only then);
        by default a call is handed over without waiting.
    :param on_lost: called with ``(message, reason)`` for every call that could not be handed
        over, besides the count in :attr:`lost` and a warning on the ``pltrack`` logger.

    It connects on the first call and again after the daemon restarts. A call never raises:
    it returns ``True`` when handed over (taken, when acknowledged) and ``False`` otherwise.
    Safe to share between threads.
    """

    def __init__(self, socket_path: str | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 acknowledged: bool = False, max_frame_length: int | None = DEFAULT_MAX_FRAME_LENGTH,
                 on_lost: Callable[[dict, str], None] | None = None):
        super().__init__(socket_path, timeout, acknowledged, max_frame_length, on_lost)
        self._client: Client | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> "PLTrack":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def flush(self, timeout_ms: int = 30_000) -> bool:
        """Wait until every call handed over so far is delivered or dead-lettered."""
        return self._exchange(lambda client: client.flush(timeout_ms=timeout_ms)) is not None

    def request_id(self, ref: str, timeout_ms: int = 30_000) -> int | None:
        """The id PromptLayer gave the request logged with ``ref``, once it has
        answered the log (waiting at most ``timeout_ms``); ``None`` when it did
        not come in time, the log failed, or the daemon cannot be reached.
        Track calls never need it: they name the ref."""
        reply = self._exchange(lambda client: {"id": client.request_id(ref, timeout_ms=timeout_ms)})
        return reply["id"] if reply else None

    def stats(self) -> dict | None:
        """The daemon's counters, or ``None`` when it cannot be reached."""
        reply = self._exchange(lambda client: {"stats": client.stats()})
        return reply["stats"] if reply else None

    # -- internals ---------------------------------------------------------

    def _hand_over(self, message: dict) -> bool:
        with self._lock:
            reason = "not sent"
            for attempt in range(2):  # once more on a fresh connection: the daemon may have restarted
                try:
                    client = self._connected()
                    if self.acknowledged:
                        client.request(message)
                    else:
                        client.send(message)
                    self._note_errors(client.drain_errors())
                    return True
                except PltrackError as error:
                    if error.code == "shutting_down" and attempt == 0:
                        self._drop_connection()  # that daemon is going away: try its successor
                        continue
                    self._note_errors([error])
                    return False
                except ValueError as error:  # too large for a frame: no retry helps
                    reason = str(error)
                    break
                except (OSError, TimeoutError) as error:
                    reason = str(error) or type(error).__name__
                    self._drop_connection()
            return self._lose(message, reason)

    def _exchange(self, operation: Callable[[Client], Any]) -> Any:
        with self._lock:
            try:
                return operation(self._connected())
            except PltrackError as error:
                self._note_errors([error])
            except (OSError, TimeoutError):
                self._drop_connection()
            return None

    def _connected(self) -> Client:
        if self._client is None:
            self._client = Client(self.socket_path, timeout=self.timeout, max_frame_length=self.max_frame_length)
        return self._client

    def _drop_connection(self) -> None:
        if self._client is not None:
            self._note_errors(self._client.drain_errors())
            self._client.close()
            self._client = None

class TrackMessages:
    """``client.track``: the SDK's four calls, with its names and arguments. Each names its
    request by ``request_id``, or by ``request_ref``: the ref :meth:`PLTrack.log_request` returned."""

    def __init__(self, hand_over: Callable[[dict], Any]):
        self._hand_over = hand_over

    def prompt(self, request_id: Any = None, prompt_name: str = "", prompt_input_variables: dict | None = None,
               version: int | None = None, label: str | None = None, *, request_ref: str | None = None) -> Any:
        return self._hand_over(messages.prompt(request_id, prompt_name, prompt_input_variables, version, label,
                                               request_ref))

    def metadata(self, request_id: Any = None, metadata: dict | None = None, *, request_ref: str | None = None) -> Any:
        return self._hand_over(messages.metadata(request_id, metadata or {}, request_ref))

    def score(self, request_id: Any = None, score: int = 0, score_name: str | None = None, *,
              request_ref: str | None = None) -> Any:
        return self._hand_over(messages.score(request_id, score, score_name, request_ref))

    def group(self, request_id: Any = None, group_id: int = 0, *, request_ref: str | None = None) -> Any:
        return self._hand_over(messages.group(request_id, group_id, request_ref))
