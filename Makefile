# Each target creates .venv with the project and its test extras when missing,
# so on a fresh machine any one of them is the only command needed.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
PY := $(VENV)/bin/python

.PHONY: venv run test fuzz demo bench lint clean chromium postgresql redis baresip vlc hlsjs

venv: $(STAMP)

# rtc/batch_receive.c, rtc/batch_send.c and rtc/rtp_receive.c are compiled by `pip
# install` (setup.py): a C compiler is needed; the Python headers come with CPython.
# Debian's gcc is installed, as root, when none is there.
$(STAMP): pyproject.toml setup.py rtc/batch_receive.c rtc/batch_send.c rtc/rtp_receive.c
	@command -v cc >/dev/null || command -v gcc >/dev/null || \
	if [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y gcc || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y gcc; }; \
	else \
		echo "make: no C compiler; install Debian's gcc (apt-get install gcc)" >&2; \
		exit 1; \
	fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/mcu-sim serve

test: lint chromium postgresql redis baresip vlc hlsjs
	$(PY) -m pytest -q

# The fuzzing suite with the `fuzz` hypothesis profile (3,000 examples a test instead of the
# 100 of `make test`; tests/fuzz_profiles.py): several minutes. A failure prints the shrunk
# request or message and the seed to replay it (pytest --hypothesis-seed=N). No per-test
# time limit here (`--timeout=0`): a fuzz test of 3,000 examples may take longer than the
# 600 s of `make test` (docs/testing.md).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q --timeout=0 --hypothesis-show-statistics \
		tests/test_fuzz_soap.py tests/test_fuzz_signalling.py tests/test_fuzz_dial_in.py \
		tests/test_fuzz_sip.py

# Debian's Chromium for the browser terminal (tests/test_browser.py, `mcu-sim demo --browser`),
# driven by the Python package playwright (test extras) through executable_path: no
# `playwright install` download. Installed once, as root, when missing; skipped when present.
CHROMIUM := /usr/bin/chromium

chromium: $(CHROMIUM)

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }; \
	else \
		echo "make chromium: not root; install Debian's chromium (apt-get install chromium)" >&2; \
		exit 1; \
	fi

# Debian's PostgreSQL server for the store tests on PostgreSQL (tests/postgres_server.py runs
# its own cluster from these binaries on a loopback port; no system service is started or
# needed) and for gateways sharing one store ([store] url, docs/deployment.md). Installed once,
# as root, when missing; skipped when present.
POSTGRES_BIN := $(firstword $(wildcard /usr/lib/postgresql/*/bin/postgres))

postgresql:
	@if [ -n "$(POSTGRES_BIN)" ]; then \
		:; \
	elif [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; }; \
	else \
		echo "make postgresql: not root; install Debian's postgresql (apt-get install postgresql)" >&2; \
		exit 1; \
	fi

# Debian's Redis server for the media nodes' tests (tests/redis_server.py runs its own
# redis-server on a loopback port in a temporary directory; no system service is needed) and
# for a platform of media nodes (`mcu-sim node`, `mcu-sim serve --redis`: docs/deployment.md).
# Installed once, as root, when missing; skipped when present.
REDIS_SERVER := /usr/bin/redis-server

redis: $(REDIS_SERVER)

$(REDIS_SERVER):
	@if [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server; }; \
	else \
		echo "make redis: not root; install Debian's redis-server (apt-get install redis-server)" >&2; \
		exit 1; \
	fi

# Debian's baresip (1.0.0 on bookworm), a real SIP softphone for the interoperability tests
# (tests/test_baresip_*.py through tests/baresip.py; docs/sip.md "Calling the simulator from
# baresip"). baresip-core has the SIP stack, Opus/G.711/G.722, VP8, SRTP, ausine, aufile,
# sndfile, fakevideo, snapshot and ctrl_tcp; baresip-ffmpeg its H.264/H.263 (avcodec) and
# avformat (a clip as the camera). Not the metapackage: its recommends pull GTK, X11 and
# GStreamer front ends a headless test does not use. Installed once, as root, when missing.
BARESIP_MODULES := /usr/lib/baresip/modules

baresip: $(BARESIP_MODULES)/avformat.so

$(BARESIP_MODULES)/avformat.so:
	@if [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			baresip-core baresip-ffmpeg || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends baresip-core baresip-ffmpeg; }; \
	else \
		echo "make baresip: not root; install Debian's baresip-core and baresip-ffmpeg" \
			"(apt-get install baresip-core baresip-ffmpeg)" >&2; \
		exit 1; \
	fi

# Debian's VLC for the players' tests (tests/test_players_vlc.py: cvlc reads the live HLS and
# a recording's MP4 and transcodes them; docs/gateway.md "Players"). vlc-bin has cvlc,
# vlc-plugin-base the HTTP access, the adaptive (HLS) and MP4/TS demuxers, the avcodec
# decoders and encoders (H.264, AAC, MPEG-4 part 2, MP2) and the stream output (transcode,
# std, the TS muxer). Not the metapackage: its recommends pull Qt and X11 front ends.
# Installed once, as root, when missing.
CVLC := /usr/bin/cvlc

vlc: $(CVLC)

$(CVLC):
	@if [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			vlc-bin vlc-plugin-base || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends vlc-bin vlc-plugin-base; }; \
	else \
		echo "make vlc: not root; install Debian's vlc-bin and vlc-plugin-base" \
			"(apt-get install vlc-bin vlc-plugin-base)" >&2; \
		exit 1; \
	fi

# hls.js (Apache-2.0) for the players' test in Chromium (tests/test_players_browser.py):
# the npm registry's tarball at a pinned version, fetched once with npm into .cache/ and
# checked against its sha256 (a mismatch fails); its dist/hls.min.js and LICENSE are kept.
# When npm or the registry cannot be reached the test skips and says why (a warning here).
# The version is also tests/players.py's HLSJS_VERSION.
HLSJS_VERSION := 1.6.15
HLSJS_SHA256 := d1e3fb5d876fae924a1073d8c6cef04c5ccd327a4bddc9e8ece575b0aad68742
HLSJS_DIR := .cache/hls.js-$(HLSJS_VERSION)

hlsjs: $(HLSJS_DIR)/hls.min.js

$(HLSJS_DIR)/hls.min.js:
	@mkdir -p $(HLSJS_DIR)
	@if ! npm pack --silent hls.js@$(HLSJS_VERSION) --pack-destination $(HLSJS_DIR) \
			>/dev/null; then \
		echo "make hlsjs: warning: npm could not fetch hls.js@$(HLSJS_VERSION);" \
			"tests/test_players_browser.py will skip" >&2; \
	else \
		echo "$(HLSJS_SHA256)  $(HLSJS_DIR)/hls.js-$(HLSJS_VERSION).tgz" | sha256sum -c --quiet \
			|| { rm -f $(HLSJS_DIR)/hls.js-$(HLSJS_VERSION).tgz; \
				echo "make hlsjs: hls.js-$(HLSJS_VERSION).tgz is not the pinned one" >&2; \
				exit 1; }; \
		tar -xzf $(HLSJS_DIR)/hls.js-$(HLSJS_VERSION).tgz -C $(HLSJS_DIR) --strip-components=2 \
			package/dist/hls.min.js && \
		tar -xzf $(HLSJS_DIR)/hls.js-$(HLSJS_VERSION).tgz -C $(HLSJS_DIR) --strip-components=1 \
			package/LICENSE && \
		rm $(HLSJS_DIR)/hls.js-$(HLSJS_VERSION).tgz; \
	fi

demo: $(STAMP)
	$(VENV)/bin/mcu-sim demo

bench: $(STAMP)
	$(PY) -m benchmarks

lint: $(STAMP)
	$(VENV)/bin/ruff check app mcu gateway terminals rtc rtp sip benchmarks tests
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) data .cache
