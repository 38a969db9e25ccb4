"""Send PromptLayer tracking calls to pltrackd, the local sidecar, instead of the network.

Moving from the PromptLayer SDK is one line::

    from pltrack import PLTrack
    promptlayer_client = PLTrack()          # was: PromptLayer(api_key=...)
    promptlayer_client.track.prompt(request_id=pl_id, prompt_name="welcome",
                                    prompt_input_variables={"name": "Ada"})

Standard library only. ``PLTrack`` is the blocking client, ``AsyncPLTrack`` the asyncio one,
``Client`` the connection underneath (every message type, replies by id).
"""

from .aio import AsyncPLTrack
from .connection import (
    DEFAULT_MAX_FRAME_LENGTH,
    Client,
    PltrackConnectionError,
    PltrackError,
    default_socket_path,
    encode_frame,
)
from .tracking import PLTrack, TrackMessages

__all__ = [
    "AsyncPLTrack",
    "Client",
    "DEFAULT_MAX_FRAME_LENGTH",
    "PLTrack",
    "PltrackConnectionError",
    "PltrackError",
    "TrackMessages",
    "default_socket_path",
    "encode_frame",
]
