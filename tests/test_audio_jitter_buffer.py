"""The MCU's audio jitter buffer (rtc/audio_jitter_buffer.py), the mixer fifo's standing
backlog cut (mcu/media/audio_mixer.SampleFifo) and the sync pattern's timing
(terminals/sync_pattern.py): the pieces the A/V sync measurement (tests/test_av_sync.py)
depends on, each on its own."""

from __future__ import annotations

import av
import numpy as np
from aiortc.rtp import RtpPacket

from mcu.media.audio_mixer import FRAME_SAMPLES, STANDING_WINDOW_FRAMES, AudioInput, SampleFifo
from rtc.audio_jitter_buffer import GAP_PATIENCE, AudioJitterBuffer, LevelledFrame
from terminals.sync_pattern import CLICK_PEAK, SyncPattern, aligned_start


def rtp(sequence: int) -> RtpPacket:
    packet = RtpPacket(payload_type=111, sequence_number=sequence, timestamp=sequence * 960)
    packet._data = bytes([sequence % 256])  # type: ignore[attr-defined]
    return packet


def test_each_packet_in_order_is_released_at_once():
    buffer = AudioJitterBuffer()
    for sequence in range(65530, 65540):  # across the 16-bit wrap
        _, frame = buffer.add(rtp(sequence % 65536))
        assert frame is not None and frame.timestamp == (sequence % 65536) * 960


def test_a_gap_waits_a_little_then_is_given_up_for_the_newest():
    buffer = AudioJitterBuffer()
    assert buffer.add(rtp(10))[1] is not None
    # 11 is lost: 12 and 13 wait for it
    assert buffer.add(rtp(12))[1] is None
    assert buffer.add(rtp(13))[1] is None
    # a packet GAP_PATIENCE past the gap: the gap is given up, the newest released
    _, frame = buffer.add(rtp(11 + GAP_PATIENCE))
    assert frame is not None and frame.timestamp == (11 + GAP_PATIENCE) * 960
    assert buffer.gaps_skipped == 1
    assert buffer.add(rtp(11))[1] is None  # late: dropped
    assert buffer.add(rtp(12 + GAP_PATIENCE))[1] is not None  # and on in order


def test_a_sender_that_starts_its_numbers_again_is_followed_at_once():
    """A packet far behind the origin (MAX_MISORDER or more: a restarted sender, not a late
    packet) starts the buffer again from it, as aiortc's does; one a little behind is late."""
    buffer = AudioJitterBuffer()
    for sequence in range(5000, 5010):
        assert buffer.add(rtp(sequence))[1] is not None
    assert buffer.add(rtp(5010 - 99))[1] is None  # 99 behind the origin: late, dropped
    for sequence in range(200, 205):  # about 4800 behind: a new start
        _, frame = buffer.add(rtp(sequence))
        assert frame is not None and frame.timestamp == sequence * 960
    assert buffer.add(rtp(40000))[1] is not None  # 39795 ahead: a new start too


def test_a_late_packet_filling_the_gap_in_time_is_released():
    buffer = AudioJitterBuffer()
    buffer.add(rtp(1))
    assert buffer.add(rtp(3))[1] is None
    _, frame = buffer.add(rtp(2))
    assert frame is not None and frame.timestamp == 2 * 960


def test_a_standing_fifo_backlog_is_cut_back_but_jitter_is_kept():
    fifo = SampleFifo()
    block = np.zeros(FRAME_SAMPLES, np.int16)
    for _ in range(8):  # a burst: 8 blocks at once, then one per read
        fifo.write(block)
    for _ in range(STANDING_WINDOW_FRAMES):
        fifo.write(block)
        assert fifo.read_frame() is not None
    assert len(fifo) == FRAME_SAMPLES and fifo.samples_trimmed == 7 * FRAME_SAMPLES
    steady = SampleFifo()
    for _ in range(2):
        steady.write(block)
    for _ in range(3 * STANDING_WINDOW_FRAMES):  # two blocks of slack: jitter, kept
        steady.write(block)
        steady.read_frame()
    assert steady.samples_trimmed == 0


def test_the_click_lands_on_the_event_sample_across_blocks():
    pattern = SyncPattern(2.0)
    rate = 48000
    block_time = 10.0 - 900 / rate  # the event (t = 10 s) is sample 900 of this block
    first = pattern.add_click(np.zeros(960, np.int16), block_time, rate)
    assert not first[:900].any() and np.abs(first[900:]).max() > CLICK_PEAK // 2
    after = pattern.add_click(np.zeros(960, np.int16), block_time + 0.02, rate)
    rest = int(rate * 0.005) - 60  # the click's 240 samples, 60 of them in the first block
    assert np.abs(after[:rest]).max() > CLICK_PEAK // 2 and not after[rest:].any()
    assert not pattern.add_click(np.zeros(960, np.int16), 10.5, rate).any()


def test_the_flash_starts_on_the_frame_at_the_event():
    pattern = SyncPattern(2.0)
    start = aligned_start(1000.01, 1 / 30)
    frames = [start + n / 30 for n in range(120)]
    flashing = [t for t in frames if pattern.flash_starts(t, 30)]
    assert len(flashing) == 2 and all(abs(t / 2 - round(t / 2)) < 1e-6 for t in flashing)


def test_a_frame_keeps_its_packet_s_level_in_dbov():
    """RFC 6464's value is the level's negation (0..127); without the extension, None."""
    buffer = AudioJitterBuffer()
    loud = rtp(1)
    loud.extensions.audio_level = (False, 20)
    _, frame = buffer.add(loud)
    assert isinstance(frame, LevelledFrame) and frame.level_dbov == -20
    silent = rtp(2)
    silent.extensions.audio_level = (True, 127)
    assert buffer.add(silent)[1].level_dbov == -127
    assert buffer.add(rtp(3))[1].level_dbov is None


def test_a_read_frame_s_stated_power_is_that_of_the_frame_left_undecoded_it_holds():
    """AudioInput: the power stated for a frame left undecoded goes with its samples through
    the fifo (the prebuffer, an overflow), not with the last frame added; short packets'
    powers are averaged over the samples they fill, and a read mostly decoded has none."""
    audio = AudioInput()
    audio.add_level_only(5.0)
    audio.add_level_only(7.0)
    out = np.empty(FRAME_SAMPLES, np.int16)
    assert audio.read_into(out) and audio.frame_power == 5.0 and not out.any()
    frame = av.AudioFrame.from_ndarray(np.full((1, FRAME_SAMPLES), 100, np.int16),
                                       format="s16", layout="mono")
    frame.sample_rate = 48_000
    audio.add(frame)  # decoded: the next read is still the 7.0 frame, then this one
    assert audio.read_into(out) and audio.frame_power == 7.0
    assert audio.read_into(out) and audio.frame_power is None and out[0] == 100
    audio.add(frame)
    audio.add_level_only(9.0, 2 * FRAME_SAMPLES)  # a 40 ms packet: 40 ms of silence
    found = []
    while audio.read_into(out):
        found.append(audio.frame_power)
    assert found == [None, 9.0, 9.0]
    # 2.5 ms packets: eight to a read, their powers averaged over the samples they fill
    for power in (1.0, 3.0) * 4:
        audio.add_level_only(power, FRAME_SAMPLES // 8)
    audio.add_level_only(4.0)
    assert audio.read_into(out) and audio.frame_power == 2.0
    assert audio.read_into(out) and audio.frame_power == 4.0
    # half a read decoded, half undecoded: the stated power; a quarter: the decoded audio
    half = av.AudioFrame.from_ndarray(np.full((1, FRAME_SAMPLES // 2), 100, np.int16),
                                      format="s16", layout="mono")
    half.sample_rate = 48_000
    audio.add(half)
    audio.add_level_only(6.0, FRAME_SAMPLES // 2)
    audio.add(half)
    audio.add_level_only(8.0, FRAME_SAMPLES // 4)
    audio.add_level_only(2.0, FRAME_SAMPLES // 4)
    assert audio.read_into(out) and audio.frame_power == 6.0
    assert audio.read_into(out) and audio.frame_power == 5.0
    # more than the fifo holds, left unread (a site not mixed): only what is held is kept
    for _ in range(50):
        audio.add_level_only(7.0)
    assert len(audio._stated) <= len(audio.fifo) // (FRAME_SAMPLES // 2)
    assert audio.read_into(out) and audio.frame_power == 7.0
