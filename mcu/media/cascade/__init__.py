"""The cascade link: one conference composed by two or more media engines (docs/cascade.md).

`root.CascadeListener` (the engine that holds the conference's layout) takes links from
leaves; `leaf.CascadeUplink` (an engine with some of the conference's sites) opens one. Each
link is one RTP video stream and one RTP audio stream each way (rtp/), set up and followed
over a small control connection whose messages are declared in `protocol.py`.
"""
