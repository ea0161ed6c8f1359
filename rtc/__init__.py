"""WebRTC plumbing shared by both sides of a call (the MCU and the simulated terminals):
where ICE binds, and the signalling messages. Neither side's internals live here."""
