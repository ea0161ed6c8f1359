"""The MCU's media plane: decode, composite, mix, encode, send.

- engine.MediaEngine: one ConferenceMedia per live conference, driven by runtime events;
  a worker pool composes and encodes off the event loop.
- conference_media.ConferenceMedia: what each site sees (pictures, encoder groups) and hears
  (N-1 mix), the compositing tick and the 20 ms audio tick; its parts are the conference_*
  modules (pictures, groups, render, audio, content, outputs, sends, stats).
- compositor.Compositor: the latest frame of each source -> one I420 picture per layout,
  scaled by scaler (libyuv, OpenCV as the fallback); gallery renders the 50 layouts with it
  (`mcu-sim layouts`).
- pictures.PictureKey: what a site watches, a CP picture or one site full screen
  (PictureKind).
- encoder_group: one encoder per distinct (picture, output format), packets fanned out.
- webrtc_endpoint.WebRtcEndpoint: mcu.endpoints.Endpoint over signalling + aiortc (one call:
  webrtc_call.CallSession).
- heap_trim.HeapTrimmer: the C heap's free memory back to the system after calls end.

Only the media plane imports the codec libraries (av, OpenCV, aiortc); the domain core
(mcu/*.py) does not, as tests/test_core_imports.py checks. This package imports none of its
modules itself, so each user pays only for the ones it imports.
"""
