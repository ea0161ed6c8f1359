"""Every recording a test leaves behind is opened (issue 14): a pytest plugin, its fixtures
imported by tests/conftest.py.

At the end of each test that has a temporary directory (`tmp_path`, which every server
fixture's data directory is or lies in), every `recordings/**/*.mp4` under it is validated
with PyAV's demuxer and decoders (`recording_problems`); a file that is not playable fails
the test (an error in its teardown naming the file and what is wrong). So the recordings
that SOAP-only tests make incidentally (a conference booked with isRecording 1 and
setRecordBroadEx called with no terminal, a server killed in the middle) are checked like
those the recording tests read. Directories of module- or session-scoped fixtures
(`tmp_path_factory.mktemp`: the demo's) are checked when their module ends.

What "playable" means here, and what it costs (a few frames decoded per track):
- the file opens (the container is MP4) and every packet demuxes to its end: a kill may cut
  the last fragment, which the demuxer then leaves out without an error (it is not
  reported as one);
- the main picture (the first video track, or the one named "main") and the audio have
  packets; the content track, declared from the start but carrying pictures only while
  content is shared, may have none;
- every track with packets decodes its first FRAMES_PER_TRACK frames (all of them when it
  has fewer packets), and lasts a positive time (its packets' end minus its first pts).

A test that writes stand-in files under a `recordings/` directory (bytes that are no media,
to test the listing's rules) says so with `@pytest.mark.stand_in_recordings`: its files are
not opened.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

import av
import av.error
import pytest

from terminals.av_sync import named_video

FRAMES_PER_TRACK = 3
MARK = "stand_in_recordings"
CONTENT_TRACK = "content"

# the files already validated (path -> (size, mtime_ns)) and the function-scoped temporary
# directories (their files are the function check's)
_checked: dict[Path, tuple[int, int]] = {}
_function_dirs: set[Path] = set()


def recording_problems(path: Path) -> list[str]:
    """What keeps the MP4 at `path` from being played ([] when nothing does)."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as error:
        return [f"does not open: {error}"]
    problems: list[str] = []
    with container:
        if "mp4" not in container.format.name:
            problems.append(f"is {container.format.name}, not MP4")
        streams = list(container.streams)
        if not streams:
            return problems + ["has no track"]
        content = named_video(container, CONTENT_TRACK)
        videos = list(container.streams.video)
        main = named_video(container, "main") or (videos[0] if videos else None)
        packets = {stream.index: 0 for stream in streams}
        frames = {stream.index: 0 for stream in streams}
        first: dict[int, float] = {}
        end: dict[int, float] = {}
        failed: dict[int, str] = {}
        try:
            for packet in container.demux():
                index = packet.stream.index
                if packet.size == 0:  # the demuxer's end-of-stream flush packet
                    continue
                packets[index] += 1
                if packet.pts is not None and packet.time_base is not None:
                    start = float(packet.pts * packet.time_base)
                    stop = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                    first[index] = min(first.get(index, start), start)
                    end[index] = max(end.get(index, stop), stop)
                if frames[index] < FRAMES_PER_TRACK and index not in failed:
                    try:
                        frames[index] += len(packet.decode())
                    except av.error.FFmpegError as error:
                        failed[index] = str(error)
        except av.error.FFmpegError as error:
            problems.append(f"demuxing stops with an error after {sum(packets.values())} "
                            f"packets: {error}")
        for stream in streams:
            index = stream.index
            what = f"track {index} ({stream.type}, {stream.codec_context.name})"
            if packets[index] == 0:
                if stream is content:
                    continue  # no content was shared while it recorded
                if stream is main or stream.type == "audio":
                    problems.append(f"{what} has no packet")
                continue
            if index in failed:
                problems.append(f"{what} does not decode: {failed[index]}")
                continue
            if frames[index] < min(FRAMES_PER_TRACK, packets[index]):
                try:  # what the decoder still holds (its frame threads' delay)
                    frames[index] += len(stream.codec_context.decode(None))
                except av.error.FFmpegError as error:
                    problems.append(f"{what} does not decode to its end: {error}")
                    continue
            wanted = min(FRAMES_PER_TRACK, packets[index])
            if frames[index] < wanted:
                problems.append(f"{what}: {frames[index]} of its first {wanted} packets "
                                f"decoded to a frame")
            duration = end.get(index, 0.0) - first.get(index, 0.0)
            if not duration > 0:
                problems.append(f"{what} lasts {duration:.3f} s")
    return problems


def _recordings_under(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*.mp4")
                  if "recordings" in path.relative_to(directory).parts[:-1])


def unplayable(directory: Path, exclude: Collection[Path] = ()) -> list[str]:
    """One line per recording under `directory` (none under `exclude`) that is not
    playable; each file validated once (again if it changed since)."""
    lines = []
    for path in _recordings_under(directory):
        if any(path.is_relative_to(excluded) for excluded in exclude):
            continue
        stat = path.stat()
        if _checked.get(path) == (stat.st_size, stat.st_mtime_ns):
            continue
        _checked[path] = (stat.st_size, stat.st_mtime_ns)
        problems = recording_problems(path)
        if problems:
            lines.append(f"{path} ({stat.st_size} bytes): " + "; ".join(problems))
    return lines


def _fail(lines: list[str], whose: str) -> None:
    pytest.fail(f"{whose} left {len(lines)} unplayable recording(s) (tests/recording_check.py):"
                "\n  " + "\n  ".join(lines), pytrace=False)


@pytest.fixture(autouse=True)
def recordings_are_playable(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the test: every recording under its tmp_path opens and decodes."""
    directory: Path | None = None
    if "tmp_path" in request.fixturenames and request.node.get_closest_marker(MARK) is None:
        directory = request.getfixturevalue("tmp_path")
    if "tmp_path" in request.fixturenames:
        _function_dirs.add(request.getfixturevalue("tmp_path"))
    yield
    if directory is not None and (lines := unplayable(directory)):
        _fail(lines, "the test")


@pytest.fixture(autouse=True, scope="module")
def module_recordings_are_playable(
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the module: the recordings in the temporary directories its module- or
    session-scoped fixtures made (not the tests' own tmp_path, checked after each test)."""
    base = tmp_path_factory.getbasetemp()
    before = set(base.iterdir())
    yield
    lines = []
    for directory in sorted(set(base.iterdir()) - before):
        # not pytest's `<name>current` links to the tests' own directories
        if directory.is_dir() and not directory.is_symlink():
            lines += unplayable(directory, _function_dirs)
    if lines:
        _fail(lines, "the module's fixtures")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARK}: the test writes stand-in files (no media) under a recordings/ "
        "directory; tests/recording_check.py does not open them")
