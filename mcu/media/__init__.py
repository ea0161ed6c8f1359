"""The MCU's media plane: decode, composite, mix, encode, send (shared/ARCHITECTURE.md).

- engine.MediaEngine: one ConferenceMedia per live conference, driven by runtime events;
  a worker pool composes and encodes off the event loop.
- conference_media.ConferenceMedia: what each site sees (pictures, encoder groups) and hears
  (N-1 mix), the compositing tick and the 20 ms audio tick.
- encoder_group: one encoder per distinct (picture, output format), packets fanned out.
- webrtc_endpoint.WebRtcEndpoint: mcu.endpoints.Endpoint over signalling + aiortc.
"""

from mcu.media.engine import MediaEngine, MediaSettings
from mcu.media.output_format import OutputFormat, output_format_for
from mcu.media.webrtc_endpoint import WebRtcEndpoint

__all__ = ["MediaEngine", "MediaSettings", "OutputFormat", "WebRtcEndpoint", "output_format_for"]
