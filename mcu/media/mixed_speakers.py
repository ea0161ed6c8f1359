"""Which sites' audio is mixed: the loudest few, as a professional MCU does.

Mixing every site of a large conference adds everybody's background noise to the mix and,
since every mixed site hears its own N-1 mix, costs one encoder per site. An MCU mixes the
`limit` loudest sites (4 by default) and everybody else hears those; a conference of 16 then
encodes at most 6 distinct mixes (4 N-1 mixes, the mix of the 4, silence for quiet sites).

Each 20 ms frame updates a smoothed power per site (exponential, ~100 ms); a site whose frame
has not arrived keeps its level for up to MISSING_FRAMES_KEPT frames (a burst of network or
scheduling jitter is not a pause: counted as silence, it let a quieter site take a talker's
place whenever the talker's packets came late), and is counted silent after that. Then:
  - a site inaudible (below SILENCE_FLOOR, -60 dBFS: the switchGate scale's 0) for
    `hold_frames` leaves the mix; a pause between words does not;
  - an audible site joins the mix while there is room;
  - when the mix is full, a site among the `limit` loudest that is not mixed takes the place
    of the quietest mixed site that is not among them, if it is louder by HYSTERESIS (3 dB):
    a new talker is heard at once, two sites of equal level do not take turns.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

DEFAULT_MIXED_SPEAKERS = 4
SMOOTHING = 0.2  # per 20 ms frame: a time constant of about 100 ms
SILENCE_FLOOR = 32768.0**2 * 1e-6  # mean square of -60 dBFS
HYSTERESIS = 2.0  # power ratio, 3 dB
# may_be_mixed: a site's frame is worth decoding from this far (power ratio, 6 dB) below
# what it would take to replace a mixed site, so that its voice is decoded, not silence,
# by the time its smoothed level gets there
ENTRY_MARGIN = 4.0
DEFAULT_HOLD_FRAMES = 50  # 1 s
MISSING_FRAMES_KEPT = 25  # 0.5 s of a site's frames late or lost keeps its level


class MixedSpeakers:
    def __init__(self, limit: int = DEFAULT_MIXED_SPEAKERS,
                 hold_frames: int = DEFAULT_HOLD_FRAMES) -> None:
        if limit < 1:
            raise ValueError("at least one site must be mixed")
        self.limit = limit
        self.hold_frames = hold_frames
        self.mixed: set[str] = set()
        self._power: dict[str, float] = {}
        self._inaudible_frames: dict[str, int] = {}
        self._missing_frames: dict[str, int] = {}

    def update(self, powers: Mapping[str, float], eligible: Collection[str]) -> frozenset[str]:
        """One frame: `powers` is the mean square of each site's frame (a site without a
        frame this time is absent: silent in this frame's mix, its place kept and its level
        too for up to MISSING_FRAMES_KEPT frames in a row),
        `eligible` the sites that may be mixed (the unmuted participants). Returns the sites
        to mix in this frame."""
        eligible = set(eligible)
        for uri in list(self._power):
            if uri not in eligible:
                del self._power[uri]
                self._inaudible_frames.pop(uri, None)
                self._missing_frames.pop(uri, None)
        for uri in eligible:
            if uri in powers:
                self._missing_frames[uri] = 0
                power = powers[uri]
            else:
                missing = self._missing_frames.get(uri, 0) + 1
                self._missing_frames[uri] = missing
                if missing <= MISSING_FRAMES_KEPT and uri in self._power:
                    continue  # late, not silent: its level as it was
                power = 0.0
            previous = self._power.get(uri, power)
            self._power[uri] = previous + SMOOTHING * (power - previous)
        audible = sorted(
            (uri for uri in eligible if self._power.get(uri, 0.0) > SILENCE_FLOOR),
            key=lambda uri: self._power[uri], reverse=True)
        for uri in audible:
            self._inaudible_frames[uri] = 0
        for uri in list(self.mixed):
            if uri not in eligible:
                self.mixed.discard(uri)
            elif uri not in audible:
                silent_for = self._inaudible_frames.get(uri, 0) + 1
                self._inaudible_frames[uri] = silent_for
                if silent_for > self.hold_frames:
                    self.mixed.discard(uri)
        loudest = audible[: self.limit]
        for uri in loudest:
            if uri in self.mixed:
                continue
            if len(self.mixed) < self.limit:
                self.mixed.add(uri)
                continue
            outside = [member for member in self.mixed if member not in loudest]
            if not outside:
                break
            quietest = min(outside, key=lambda member: self._power.get(member, 0.0))
            if self._power[uri] > HYSTERESIS * self._power.get(quietest, 0.0):
                self.mixed.discard(quietest)
                self.mixed.add(uri)
        return frozenset(self.mixed)

    def may_be_mixed(self, uri: str, power: float) -> bool:
        """Could a frame of `uri` at `power` (mean square) be mixed now or soon: it is mixed,
        or audible while the mix has room, or loud enough to come within ENTRY_MARGIN of
        taking the quietest mixed site's place. A site that could not is heard by nobody
        (mcu/media/inline_audio.py leaves its frame undecoded)."""
        if uri in self.mixed:
            return True
        if power <= SILENCE_FLOOR:
            return False
        if len(self.mixed) < self.limit:
            return True
        quietest = min(self._power.get(member, 0.0) for member in self.mixed)
        return power * ENTRY_MARGIN > HYSTERESIS * quietest
