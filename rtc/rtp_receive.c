/* A receiver's per-packet work, from an unprotected RTP packet to whole frames: an H.264
 * video receiver's or an audio receiver's.
 *
 * rtc/receive_path.py hands the media packets of a claimed receiver (rtc/claimed_receivers.py:
 * its SSRCs already routed to it; for video every codec H.264 or its RTX) to an `RtpReceive`
 * here instead of doing, per packet in Python, what `handle_rtp_in_one_step` does. It does
 * the same steps in the same order, each the port of the Python it replaces
 * (tests/test_rtp_receive.py compares them on random packet sequences):
 *
 * 1. the parse and its refusals (rtc/rtp_parse.parse_rtp: version, CSRC, RFC 8285 header
 *    extensions and the conversion of each element of a negotiated id, padding); a refused
 *    packet is dropped with no effect, as aiortc drops it; the RFC 6464 level kept;
 * 2. a payload type the receiver does not take is dropped with no effect (the router would
 *    not route it); the SSRC is noted as active; the payload bytes counted;
 * 3. the stream statistics of the packet's SSRC (aiortc's StreamStatistics.add, for RTCP
 *    receiver reports: base and highest sequence number, cycles, packets, jitter);
 * 4. RTX unwrapped (RFC 4588: the original sequence number in the first two payload bytes),
 *    or dropped when its SSRC or payload type has no original;
 * 5. video: the NACK generator (aiortc's NackGenerator: the sequence numbers skipped, at most
 *    RTP_HISTORY_SIZE behind the highest); a packet that reveals a loss leaves a NACK of
 *    every missing number, sorted;
 * 6. video: the H.264 depayload (single NAL unit, FU-A, STAP-A, as aiortc's; another NAL
 *    type is dropped after the NACK step); audio: the payload as it is (aiortc's depayload
 *    of an audio codec);
 * 7. the jitter buffer: video, rtc/jitter_buffer.MarkerJitterBuffer over aiortc's
 *    JitterBuffer (a frame released at its marker packet or when the next frame begins, a
 *    gap holds it, misorder and overflow handling with a PLI, a complete keyframe released
 *    past a gap never filled); audio, rtc/audio_jitter_buffer.AudioJitterBuffer (a packet at
 *    the origin released at once with its level, a gap given up GAP_PATIENCE packets on, a
 *    packet MAX_MISORDER or more behind the origin a new start).
 *
 * A packet of a payload type configured as another codec's (apt -3), or of an SSRC past the
 * MAX_STREAMS whose statistics are kept, is handed back untouched (`add` returns True): the
 * caller takes the receiver back to Python (`buffered_packets`, `nack_state`).
 *
 * What the packets leave is taken with `take()`: (events, payload_bytes, active_ssrcs,
 * buffered_ssrc), the events in order: (NACK, ssrc, [sequence numbers]), (PLI, ssrc),
 * (FRAME, payload_type, timestamp, data, level), `buffered_ssrc` the original SSRC of the
 * last packet that reached the jitter buffer (None: none did). The statistics and the NACK
 * generator's state are read and written with `stats`/`set_stats` and
 * `nack_state`/`set_nack_state`, so aiortc's RTCP (which reads the StreamStatistics
 * objects) sees what the packets did.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_MISORDER 100      /* aiortc's jitterbuffer.MAX_MISORDER */
#define RTP_HISTORY_SIZE 128  /* aiortc's rtp.RTP_HISTORY_SIZE */
#define MAX_STREAMS 8         /* SSRCs with statistics: a media SSRC, its RTX, renewals */
#define EXTENSION_IDS 7
#define NACK 0
#define PLI 1
#define FRAME 2
#define NAL_FU_A 28
#define NAL_STAP_A 24
#define H264_IDR 5
#define H264_NON_IDR 1
#define H264_SPS 7
#define GAP_PATIENCE 3        /* rtc/audio_jitter_buffer.py's */
#define NO_ORIGINAL (-2)      /* an RTX payload type whose apt names no codec */
#define MEDIA (-1)            /* an H.264 payload type */
#define FOREIGN (-3)          /* another codec's (or its RTX's): the packet is handed back */

static const unsigned char START_CODE[4] = {0, 0, 0, 1};

typedef struct {
    int used;
    uint32_t ssrc;
    long long clock_rate;
    int has_base, base_seq;
    int has_max, max_seq;
    long long cycles, received, jitter_q4;
    int has_last;
    long long last_arrival, last_timestamp;
} Stream;

typedef struct {
    PyObject *data; /* the depayloaded bytes; NULL: the slot is empty */
    int seq, marker, payload_type;
    int level; /* audio: the RFC 6464 level's 7 bits; -1: none */
    uint32_t timestamp;
    unsigned long long serial;
} Slot;

typedef struct {
    PyObject_HEAD
    /* configuration */
    int kinds[128]; /* payload type -> 0 not taken, MEDIA, NO_ORIGINAL or 1 + the RTX's apt */
    long long clock_rates[128];
    uint32_t rtx_ssrcs[MAX_STREAMS], rtx_originals[MAX_STREAMS];
    int rtx_count;
    int extension_ids[EXTENSION_IDS]; /* 0: not negotiated */
    int nack_enabled;
    int audio; /* an audio receiver: no depayload, rtc/audio_jitter_buffer.py's buffer */
    /* stream statistics */
    Stream streams[MAX_STREAMS];
    /* the NACK generator */
    int nack_has_max, nack_max;
    int *missing; /* sorted, distinct */
    Py_ssize_t missing_count, missing_capacity;
    /* the jitter buffer */
    Slot *slots;
    int capacity;
    int has_origin, origin;
    int has_newest, newest;
    unsigned long long serial;
    long long keyframe_skips, packets_skipped, gaps_skipped;
    /* what the packets left */
    PyObject *events;
    unsigned long long payload_bytes;
    uint32_t active[MAX_STREAMS];
    int active_count;
    int has_buffered_ssrc; /* a packet reached the jitter buffer since the last take */
    uint32_t buffered_ssrc; /* the (original) SSRC of the last one */
} RtpReceive;

static int uint16_gt(int a, int b) {
    const int half = 0x8000;
    return (a < b && b - a > half) || (a > b && a - b < half);
}

static int uint16_add(int a, int b) { return (a + b) & 0xFFFF; }

/* ---- stream statistics (aiortc's StreamStatistics.add) ---- */

static Stream *stream_of(RtpReceive *self, uint32_t ssrc, long long clock_rate, int create) {
    for (int i = 0; i < MAX_STREAMS; i++) {
        if (self->streams[i].used && self->streams[i].ssrc == ssrc) {
            return &self->streams[i];
        }
    }
    if (!create) {
        return NULL;
    }
    for (int i = 0; i < MAX_STREAMS; i++) {
        if (!self->streams[i].used) {
            memset(&self->streams[i], 0, sizeof self->streams[i]);
            self->streams[i].used = 1;
            self->streams[i].ssrc = ssrc;
            self->streams[i].clock_rate = clock_rate;
            return &self->streams[i];
        }
    }
    return NULL;
}

static void stream_add(Stream *stream, int seq, uint32_t timestamp) {
    int in_order = !stream->has_max || uint16_gt(seq, stream->max_seq);
    stream->received += 1;
    if (!stream->has_base) {
        stream->has_base = 1;
        stream->base_seq = seq;
    }
    if (in_order) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        double seconds = (double)((long long)now.tv_sec * 1000000000LL + now.tv_nsec) / 1e9;
        long long arrival = (long long)(seconds * (double)stream->clock_rate);
        if (stream->has_max && seq < stream->max_seq) {
            stream->cycles += 1 << 16;
        }
        stream->has_max = 1;
        stream->max_seq = seq;
        if (stream->has_last && (long long)timestamp != stream->last_timestamp &&
            stream->received > 1) {
            long long diff = (arrival - stream->last_arrival) -
                             ((long long)timestamp - stream->last_timestamp);
            if (diff < 0) {
                diff = -diff;
            }
            stream->jitter_q4 += diff - ((stream->jitter_q4 + 8) >> 4);
        }
        stream->has_last = 1;
        stream->last_arrival = arrival;
        stream->last_timestamp = timestamp;
    }
}

/* ---- the NACK generator (aiortc's NackGenerator.add and truncate) ---- */

static int compare_ints(const void *a, const void *b) {
    return *(const int *)a - *(const int *)b;
}

static int missing_reserve(RtpReceive *self, Py_ssize_t count) {
    if (count <= self->missing_capacity) {
        return 0;
    }
    Py_ssize_t capacity = self->missing_capacity ? self->missing_capacity : 64;
    while (capacity < count) {
        capacity *= 2;
    }
    int *grown = PyMem_Realloc(self->missing, (size_t)capacity * sizeof(int));
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->missing = grown;
    self->missing_capacity = capacity;
    return 0;
}

/* 1 when the packet revealed a loss, 0 when not, -1 on an error */
static int nack_add(RtpReceive *self, int seq) {
    int missed = 0;
    if (!self->nack_has_max) {
        self->nack_has_max = 1;
        self->nack_max = seq;
        return 0;
    }
    if (uint16_gt(seq, self->nack_max)) {
        int added = 0;
        for (int next = uint16_add(self->nack_max, 1); uint16_gt(seq, next);
             next = uint16_add(next, 1)) {
            if (missing_reserve(self, self->missing_count + 1) < 0) {
                return -1;
            }
            self->missing[self->missing_count++] = next;
            missed = 1;
            added = 1;
        }
        self->nack_max = seq;
        if (added) { /* a set: sorted and distinct */
            qsort(self->missing, (size_t)self->missing_count, sizeof(int), compare_ints);
            Py_ssize_t kept = 0;
            for (Py_ssize_t i = 0; i < self->missing_count; i++) {
                if (kept == 0 || self->missing[kept - 1] != self->missing[i]) {
                    self->missing[kept++] = self->missing[i];
                }
            }
            self->missing_count = kept;
        }
    } else {
        for (Py_ssize_t i = 0; i < self->missing_count; i++) {
            if (self->missing[i] == seq) {
                memmove(&self->missing[i], &self->missing[i + 1],
                        (size_t)(self->missing_count - i - 1) * sizeof(int));
                self->missing_count--;
                break;
            }
        }
    }
    int oldest = uint16_add(self->nack_max, -RTP_HISTORY_SIZE);
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < self->missing_count; i++) {
        if (!uint16_gt(oldest, self->missing[i])) {
            self->missing[kept++] = self->missing[i];
        }
    }
    self->missing_count = kept;
    return missed;
}

/* ---- the H.264 depayload (aiortc's, rtc/rtp_parse.h264_depayload) ---- */

/* NULL with no exception set: a payload aiortc refuses (ValueError) */
static PyObject *h264_depayload(const unsigned char *data, Py_ssize_t size) {
    if (size < 2) {
        return NULL;
    }
    int nal_type = data[0] & 0x1F;
    if (nal_type >= 1 && nal_type < 24) {
        PyObject *out = PyBytes_FromStringAndSize(NULL, size + 4);
        if (out != NULL) {
            memcpy(PyBytes_AS_STRING(out), START_CODE, 4);
            memcpy(PyBytes_AS_STRING(out) + 4, data, (size_t)size);
        }
        return out;
    }
    if (nal_type == NAL_FU_A) {
        if (data[1] & 0x80) {
            PyObject *out = PyBytes_FromStringAndSize(NULL, size - 2 + 5);
            if (out != NULL) {
                char *to = PyBytes_AS_STRING(out);
                memcpy(to, START_CODE, 4);
                to[4] = (char)((data[0] & 0xE0) | (data[1] & 0x1F));
                memcpy(to + 5, data + 2, (size_t)(size - 2));
            }
            return out;
        }
        return PyBytes_FromStringAndSize((const char *)data + 2, size - 2);
    }
    if (nal_type == NAL_STAP_A) {
        Py_ssize_t pos = 1, total = 0;
        while (pos < size) {
            if (size < pos + 2) {
                return NULL; /* the length field is truncated */
            }
            Py_ssize_t nal_size = (data[pos] << 8) | data[pos + 1];
            pos += 2 + nal_size;
            if (size < pos) {
                return NULL; /* the data is truncated */
            }
            total += 4 + nal_size;
        }
        PyObject *out = PyBytes_FromStringAndSize(NULL, total);
        if (out == NULL) {
            return NULL;
        }
        char *to = PyBytes_AS_STRING(out);
        pos = 1;
        while (pos < size) {
            Py_ssize_t nal_size = (data[pos] << 8) | data[pos + 1];
            memcpy(to, START_CODE, 4);
            memcpy(to + 4, data + pos + 2, (size_t)nal_size);
            to += 4 + nal_size;
            pos += 2 + nal_size;
        }
        return out;
    }
    return NULL;
}

/* ---- the jitter buffer (aiortc's JitterBuffer with MarkerJitterBuffer's changes) ---- */

static Slot *slot_at(RtpReceive *self, int offset) {
    Slot *slot = &self->slots[(self->origin + offset) % self->capacity];
    return slot->data != NULL ? slot : NULL;
}

static void slot_clear(Slot *slot) { Py_CLEAR(slot->data); }

static void buffer_remove(RtpReceive *self, int count) {
    for (int i = 0; i < count; i++) {
        slot_clear(&self->slots[self->origin % self->capacity]);
        self->origin = uint16_add(self->origin, 1);
    }
}

static int buffer_smart_remove(RtpReceive *self, int count) {
    int has_timestamp = 0;
    uint32_t timestamp = 0;
    for (int i = 0; i < self->capacity; i++) {
        Slot *slot = &self->slots[self->origin % self->capacity];
        if (slot->data != NULL) {
            if (i >= count && (!has_timestamp || timestamp != slot->timestamp)) {
                break;
            }
            has_timestamp = 1;
            timestamp = slot->timestamp;
        }
        slot_clear(slot);
        self->origin = uint16_add(self->origin, 1);
        if (i == self->capacity - 1) {
            return 1;
        }
    }
    return 0;
}

/* The data of `count` packets from `start` (offsets from the origin) joined. */
static PyObject *join_slots(RtpReceive *self, int start, int count) {
    Py_ssize_t total = 0;
    for (int i = start; i < start + count; i++) {
        total += PyBytes_GET_SIZE(slot_at(self, i)->data);
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL) {
        return NULL;
    }
    char *to = PyBytes_AS_STRING(out);
    for (int i = start; i < start + count; i++) {
        PyObject *data = slot_at(self, i)->data;
        memcpy(to, PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data));
        to += PyBytes_GET_SIZE(data);
    }
    return out;
}

/* MarkerJitterBuffer._take: the `count` packets from `start` removed with everything before
 * them; their frame as (timestamp, data) in *frame, or nothing for padding only. */
static int buffer_take(RtpReceive *self, int start, int count, uint32_t timestamp,
                       PyObject **frame) {
    PyObject *data = join_slots(self, start, count);
    if (data == NULL) {
        return -1;
    }
    buffer_remove(self, start + count);
    if (PyBytes_GET_SIZE(data) == 0) {
        Py_DECREF(data);
        return 0;
    }
    *frame = Py_BuildValue("(kNO)", (unsigned long)timestamp, data, Py_None);
    return *frame == NULL ? -1 : 0;
}

/* MarkerJitterBuffer._remove_frame */
static int buffer_remove_frame(RtpReceive *self, PyObject **frame) {
    while (self->has_origin) {
        int has_timestamp = 0, taken = 0;
        uint32_t timestamp = 0;
        int count;
        for (count = 0; count < self->capacity; count++) {
            Slot *slot = slot_at(self, count);
            if (slot == NULL) {
                return 0; /* a gap: the frame is not complete yet */
            }
            if (!has_timestamp) {
                has_timestamp = 1;
                timestamp = slot->timestamp;
            } else if (slot->timestamp != timestamp) {
                taken = count; /* the next frame began: this one is complete */
                break;
            }
            if (slot->marker) {
                taken = count + 1;
                break;
            }
        }
        if (count == self->capacity) {
            return 0;
        }
        if (buffer_take(self, 0, taken, timestamp, frame) < 0) {
            return -1;
        }
        if (*frame != NULL) {
            return 0;
        }
        /* padding only: search again from the new origin */
    }
    return 0;
}

static int starts_with_sps(PyObject *bytes) {
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(bytes);
    Py_ssize_t size = PyBytes_GET_SIZE(bytes);
    Py_ssize_t position = -1;
    for (Py_ssize_t i = 0; i + 3 <= size; i++) {
        if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1) {
            position = i;
            break;
        }
    }
    return position >= 0 && position <= 1 && size > position + 3 &&
           (data[position + 3] & 0x1F) == H264_SPS;
}

/* rtc/encoded_frames.is_keyframe for H.264 */
static int is_h264_keyframe(PyObject *bytes) {
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(bytes);
    Py_ssize_t size = PyBytes_GET_SIZE(bytes);
    Py_ssize_t from = 0;
    for (;;) {
        Py_ssize_t position = -1;
        for (Py_ssize_t i = from; i + 3 <= size; i++) {
            if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1) {
                position = i;
                break;
            }
        }
        if (!(position >= 0 && position < size - 3)) {
            return 0;
        }
        int nal_type = data[position + 3] & 0x1F;
        if (nal_type == H264_IDR) {
            return 1;
        }
        if (nal_type == H264_NON_IDR) {
            return 0;
        }
        from = position + 3;
    }
}

/* MarkerJitterBuffer._frame_end: -1 when incomplete */
static int buffer_frame_end(RtpReceive *self, int start) {
    Slot *first = slot_at(self, start);
    if (first == NULL) {
        return -1;
    }
    for (int offset = start; offset < self->capacity; offset++) {
        Slot *slot = slot_at(self, offset);
        if (slot == NULL || slot->timestamp != first->timestamp) {
            return -1;
        }
        if (slot->marker) {
            return offset;
        }
    }
    return -1;
}

/* MarkerJitterBuffer._keyframe_past_gap */
static int buffer_keyframe_past_gap(RtpReceive *self, int seq, unsigned long long serial,
                                    uint32_t timestamp, PyObject **frame) {
    if (!self->has_origin) {
        return 0;
    }
    if (slot_at(self, 0) != NULL && buffer_frame_end(self, 0) >= 0) {
        return 0; /* no gap before the first frame: the ordinary path releases it */
    }
    int offset = uint16_add(seq, -self->origin);
    Slot *stored = offset < self->capacity ? slot_at(self, offset) : NULL;
    if (stored == NULL || stored->serial != serial) {
        return 0; /* not stored (too old, or removed since) */
    }
    int start = offset;
    while (start > 0) {
        Slot *before = slot_at(self, start - 1);
        if (before == NULL) {
            if (!starts_with_sps(slot_at(self, start)->data)) {
                return 0; /* where this frame begins is not known */
            }
            break;
        }
        if (before->timestamp != timestamp || before->marker) {
            break;
        }
        start--;
    }
    if (start == 0) {
        return 0;
    }
    int end = buffer_frame_end(self, start);
    if (end < 0) {
        return 0;
    }
    PyObject *data = join_slots(self, start, end + 1 - start);
    if (data == NULL) {
        return -1;
    }
    int keyframe = is_h264_keyframe(data);
    Py_DECREF(data);
    if (!keyframe) {
        return 0;
    }
    int present = 0;
    for (int i = 0; i < start; i++) {
        present += slot_at(self, i) != NULL;
    }
    if (present == start) {
        return 0; /* no gap before it: the frames before it will be released in turn */
    }
    self->keyframe_skips++;
    self->packets_skipped += present;
    return buffer_take(self, start, end + 1 - start, timestamp, frame);
}

static void slot_store(RtpReceive *self, int seq, uint32_t timestamp, int marker,
                       int payload_type, int level, PyObject *data,
                       unsigned long long serial) {
    Slot *slot = &self->slots[seq % self->capacity];
    Py_INCREF(data);
    Py_XSETREF(slot->data, data);
    slot->seq = seq;
    slot->marker = marker;
    slot->payload_type = payload_type;
    slot->level = level;
    slot->timestamp = timestamp;
    slot->serial = serial;
}

/* rtc/audio_jitter_buffer.AudioJitterBuffer.add: a packet at the origin released at once, a
 * gap given up once a packet GAP_PATIENCE past it is in; *frame as (timestamp, data, level) */
static int audio_buffer_add(RtpReceive *self, int seq, uint32_t timestamp, int marker,
                            int payload_type, int level, PyObject *data, PyObject **frame) {
    int behind = self->has_origin ? uint16_add(self->origin, -seq) : 0;
    if (behind > 0 && behind < 0x8000) {
        if (behind < MAX_MISORDER) {
            return 0; /* before the origin: late or a duplicate */
        }
        buffer_remove(self, self->capacity); /* far before: the sender started again */
        self->origin = seq;
    }
    if (self->has_origin && uint16_add(seq, -self->origin) >= self->capacity) {
        buffer_remove(self, self->capacity); /* far ahead (a jump): start again from it */
        self->origin = seq;
    }
    if (!self->has_origin) {
        self->has_origin = 1;
        self->origin = seq;
    }
    slot_store(self, seq, timestamp, marker, payload_type, level, data, ++self->serial);
    Slot *first = &self->slots[self->origin % self->capacity];
    if (first->data == NULL) {
        int ahead = uint16_add(seq, -self->origin);
        if (ahead < GAP_PATIENCE) {
            return 0;
        }
        self->gaps_skipped++;
        buffer_remove(self, ahead); /* drop the gap and what followed */
        first = &self->slots[self->origin % self->capacity];
    }
    PyObject *level_object = first->level < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(-first->level);
    if (level_object == NULL) {
        return -1;
    }
    *frame = Py_BuildValue("(kON)", (unsigned long)first->timestamp, first->data, level_object);
    if (*frame == NULL) {
        return -1;
    }
    buffer_remove(self, 1);
    return 0;
}

/* MarkerJitterBuffer.add: *pli set on a misorder reset or an overflow, *frame on a release */
static int buffer_add(RtpReceive *self, int seq, uint32_t timestamp, int marker,
                      int payload_type, PyObject *data, int *pli, PyObject **frame) {
    int newest = !self->has_newest || uint16_gt(seq, self->newest);
    if (newest) {
        self->has_newest = 1;
        self->newest = seq;
    }
    /* aiortc's JitterBuffer.add */
    int delta, misorder, stored = 1;
    if (!self->has_origin) {
        self->has_origin = 1;
        self->origin = seq;
        delta = misorder = 0;
    } else {
        delta = uint16_add(seq, -self->origin);
        misorder = uint16_add(self->origin, -seq);
    }
    if (misorder < delta) {
        if (misorder >= MAX_MISORDER) {
            buffer_remove(self, self->capacity);
            self->origin = seq;
            delta = misorder = 0;
            *pli = 1;
        } else {
            stored = 0;
        }
    }
    unsigned long long serial = ++self->serial;
    if (stored) {
        if (delta >= self->capacity) {
            int excess = delta - self->capacity + 1;
            if (buffer_smart_remove(self, excess)) {
                self->origin = seq;
            }
            *pli = 1;
        }
        slot_store(self, seq, timestamp, marker, payload_type, -1, data, serial);
        if (buffer_remove_frame(self, frame) < 0) {
            return -1;
        }
    }
    if (*frame == NULL && (marker || !newest)) {
        return buffer_keyframe_past_gap(self, seq, serial, timestamp, frame);
    }
    return 0;
}

/* the methods of an object whose __init__ has not run (or failed) */
#define NEEDS_INIT(self)                                                                    \
    if ((self)->slots == NULL || (self)->events == NULL) {                                  \
        PyErr_SetString(PyExc_RuntimeError, "RtpReceive.__init__ has not run");             \
        return NULL;                                                                        \
    }

static PyObject *none_or_long(int has, long long value) {
    if (!has) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLongLong(value);
}

/* ---- one packet ---- */

static int append_event(RtpReceive *self, PyObject *event) {
    if (event == NULL) {
        return -1;
    }
    int result = PyList_Append(self->events, event);
    Py_DECREF(event);
    return result;
}

static PyObject *missing_list(RtpReceive *self) {
    PyObject *list = PyList_New(self->missing_count);
    for (Py_ssize_t i = 0; list != NULL && i < self->missing_count; i++) {
        PyObject *number = PyLong_FromLong(self->missing[i]);
        if (number == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, number);
    }
    return list;
}

static void note_active(RtpReceive *self, uint32_t ssrc) {
    for (int i = 0; i < self->active_count; i++) {
        if (self->active[i] == ssrc) {
            return;
        }
    }
    if (self->active_count < MAX_STREAMS) {
        self->active[self->active_count++] = ssrc;
    }
}

/* handle_rtp_in_one_step's steps after the routing; -1 on an error (exception set), 1 for
 * a packet of another codec or of an SSRC past the MAX_STREAMS kept, handed back untouched */
static int handle_packet(RtpReceive *self, uint32_t ssrc, int payload_type, int seq,
                         uint32_t timestamp, int marker, int level,
                         const unsigned char *payload, Py_ssize_t size) {
    if (payload_type < 0 || payload_type > 127 || self->kinds[payload_type] == 0) {
        return 0; /* not routed to this receiver */
    }
    if (self->kinds[payload_type] == FOREIGN) {
        return 1;
    }
    Stream *stream = stream_of(self, ssrc, self->clock_rates[payload_type], 1);
    if (stream == NULL) {
        return 1; /* an SSRC past the MAX_STREAMS kept: handed back too */
    }
    note_active(self, ssrc);
    self->payload_bytes += (unsigned long long)size;
    stream_add(stream, seq, timestamp);
    int kind = self->kinds[payload_type];
    if (kind != MEDIA) { /* RTX */
        int original = -1;
        for (int i = 0; i < self->rtx_count; i++) {
            if (self->rtx_ssrcs[i] == ssrc) {
                original = i;
                break;
            }
        }
        if (original < 0 || size < 2 || kind == NO_ORIGINAL) {
            return 0;
        }
        ssrc = self->rtx_originals[original];
        seq = (payload[0] << 8) | payload[1];
        payload += 2;
        size -= 2;
        payload_type = kind - 1;
    }
    if (self->nack_enabled) {
        int missed = nack_add(self, seq);
        if (missed < 0) {
            return -1;
        }
        if (missed) {
            PyObject *numbers = missing_list(self);
            if (numbers == NULL ||
                append_event(self, Py_BuildValue("(ikN)", NACK, (unsigned long)ssrc,
                                                 numbers)) < 0) {
                return -1;
            }
        }
    }
    PyObject *data;
    if (self->audio) { /* aiortc's depayload of an audio codec: the payload itself */
        data = PyBytes_FromStringAndSize((const char *)payload, size);
        if (data == NULL) {
            return -1;
        }
    } else if (size > 0) {
        data = h264_depayload(payload, size);
        if (data == NULL) {
            return PyErr_Occurred() ? -1 : 0; /* refused: dropped after the NACK */
        }
    } else {
        data = PyBytes_FromStringAndSize(NULL, 0);
        if (data == NULL) {
            return -1;
        }
    }
    int pli = 0;
    PyObject *frame = NULL;
    self->has_buffered_ssrc = 1;
    self->buffered_ssrc = ssrc;
    int result = self->audio
        ? audio_buffer_add(self, seq, timestamp, marker, payload_type, level, data, &frame)
        : buffer_add(self, seq, timestamp, marker, payload_type, data, &pli, &frame);
    Py_DECREF(data);
    if (result < 0) {
        Py_XDECREF(frame);
        return -1;
    }
    if (pli && append_event(self, Py_BuildValue("(ik)", PLI, (unsigned long)ssrc)) < 0) {
        Py_XDECREF(frame);
        return -1;
    }
    if (frame != NULL) {
        PyObject *event = Py_BuildValue("(iiOOO)", FRAME, payload_type,
                                        PyTuple_GET_ITEM(frame, 0), PyTuple_GET_ITEM(frame, 1),
                                        PyTuple_GET_ITEM(frame, 2));
        Py_DECREF(frame);
        return append_event(self, event);
    }
    return 0;
}

/* rtc/rtp_parse.parse_rtp's refusals of an element of a negotiated id (aiortc's order) */
static int element_converts(RtpReceive *self, int id, const unsigned char *value,
                            Py_ssize_t length, int *level) {
    for (int which = 0; which < EXTENSION_IDS; which++) {
        if (self->extension_ids[which] == 0 || self->extension_ids[which] != id) {
            continue;
        }
        switch (which) {
        case 0: { /* mid: UTF-8 */
            PyObject *text = PyUnicode_DecodeUTF8((const char *)value, length, "strict");
            if (text == NULL) {
                PyErr_Clear();
                return 0;
            }
            Py_DECREF(text);
            return 1;
        }
        case 1: /* repaired_rtp_stream_id */
        case 2: /* rtp_stream_id: ASCII */
            for (Py_ssize_t i = 0; i < length; i++) {
                if (value[i] & 0x80) {
                    return 0;
                }
            }
            return 1;
        case 3: /* abs_send_time */
        case 4: /* transmission_offset */
            return length == 3;
        case 5: /* audio_level */
            if (length != 1) {
                return 0;
            }
            *level = value[0] & 0x7F;
            return 1;
        default: /* transport_sequence_number */
            return length == 2;
        }
    }
    return 1;
}

/* 1 when the header extension block parses as aiortc parses it */
static int extensions_parse(RtpReceive *self, int profile, const unsigned char *value,
                            Py_ssize_t size, int *level) {
    /* first every element read (a truncated one refused), then each converted */
    Py_ssize_t pos = 0;
    for (int pass = 0; pass < 2; pass++) {
        pos = 0;
        while (pos < size) {
            int id;
            Py_ssize_t length;
            if (profile == 0xBEDE) {
                if (value[pos] == 0) {
                    pos++;
                    continue;
                }
                id = value[pos] >> 4;
                length = (value[pos] & 0x0F) + 1;
                pos += 1;
            } else if (profile == 0x1000) {
                if (value[pos] == 0) {
                    pos++;
                    continue;
                }
                if (size < pos + 2) {
                    return 0;
                }
                id = value[pos];
                length = value[pos + 1];
                pos += 2;
            } else {
                return 1; /* another profile: no elements */
            }
            if (size < pos + length) {
                return 0;
            }
            if (pass == 1 && !element_converts(self, id, value + pos, length, level)) {
                return 0;
            }
            pos += length;
        }
    }
    return 1;
}

static PyObject *RtpReceive_add(RtpReceive *self, PyObject *arg) {
    NEEDS_INIT(self)
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "add() takes the bytes of an RTP packet");
        return NULL;
    }
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(arg);
    Py_ssize_t size = PyBytes_GET_SIZE(arg);
    if (size < 12 || data[0] >> 6 != 2) {
        Py_RETURN_FALSE;
    }
    Py_ssize_t pos = 12 + 4 * (data[0] & 0x0F);
    int level = -1;
    if (size < pos) {
        Py_RETURN_FALSE;
    }
    if (data[0] & 0x10) {
        if (size < pos + 4) {
            Py_RETURN_FALSE;
        }
        int profile = (data[pos] << 8) | data[pos + 1];
        Py_ssize_t end = pos + 4 + 4 * ((data[pos + 2] << 8) | data[pos + 3]);
        if (size < end ||
            !extensions_parse(self, profile, data + pos + 4, end - pos - 4, &level)) {
            Py_RETURN_FALSE;
        }
        pos = end;
    }
    Py_ssize_t payload_end = size;
    if (data[0] & 0x20) {
        int padding = data[size - 1];
        if (padding == 0 || padding > size - pos) {
            Py_RETURN_FALSE;
        }
        payload_end = size - padding;
    }
    uint32_t ssrc = ((uint32_t)data[8] << 24) | ((uint32_t)data[9] << 16) |
                    ((uint32_t)data[10] << 8) | data[11];
    uint32_t timestamp = ((uint32_t)data[4] << 24) | ((uint32_t)data[5] << 16) |
                         ((uint32_t)data[6] << 8) | data[7];
    int result = handle_packet(self, ssrc, data[1] & 0x7F, (data[2] << 8) | data[3],
                               timestamp, data[1] >> 7, level, data + pos, payload_end - pos);
    if (result < 0) {
        return NULL;
    }
    return PyBool_FromLong(result);
}

static PyObject *RtpReceive_add_packet(RtpReceive *self, PyObject *args) {
    NEEDS_INIT(self)
    unsigned long ssrc, timestamp;
    int payload_type, seq, marker, level = -1;
    PyObject *level_object = Py_None;
    Py_buffer payload;
    if (!PyArg_ParseTuple(args, "kiikpy*|O", &ssrc, &payload_type, &seq, &timestamp, &marker,
                          &payload, &level_object)) {
        return NULL;
    }
    if (level_object != Py_None) {
        long value = PyLong_AsLong(level_object);
        if ((value == -1 && PyErr_Occurred()) || value < 0 || value > 127) {
            PyBuffer_Release(&payload);
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "an audio level is 0-127");
            }
            return NULL;
        }
        level = (int)value;
    }
    int result = handle_packet(self, (uint32_t)ssrc, payload_type, seq & 0xFFFF,
                               (uint32_t)timestamp, marker, level, payload.buf, payload.len);
    PyBuffer_Release(&payload);
    if (result < 0) {
        return NULL;
    }
    return PyBool_FromLong(result);
}

static PyObject *RtpReceive_buffered_packets(RtpReceive *self, PyObject *unused) {
    NEEDS_INIT(self)
    (void)unused;
    PyObject *packets = PyList_New(0);
    for (int offset = 0; packets != NULL && self->has_origin && offset < self->capacity;
         offset++) {
        Slot *slot = slot_at(self, offset);
        if (slot == NULL) {
            continue;
        }
        PyObject *level = slot->level < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(slot->level);
        PyObject *item = level == NULL ? NULL : Py_BuildValue(
            "(ikiiON)", slot->seq, (unsigned long)slot->timestamp, slot->marker,
            slot->payload_type, slot->data, level);
        if (item == NULL || PyList_Append(packets, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(packets);
            break;
        }
        Py_DECREF(item);
    }
    if (packets == NULL) {
        return NULL;
    }
    return Py_BuildValue("(NNN)", none_or_long(self->has_origin, self->origin),
                         none_or_long(self->has_newest, self->newest), packets);
}

static PyObject *RtpReceive_take(RtpReceive *self, PyObject *unused) {
    NEEDS_INIT(self)
    (void)unused;
    PyObject *active = PyList_New(self->active_count);
    for (int i = 0; active != NULL && i < self->active_count; i++) {
        PyObject *number = PyLong_FromUnsignedLong(self->active[i]);
        if (number == NULL) {
            Py_CLEAR(active);
            break;
        }
        PyList_SET_ITEM(active, i, number);
    }
    PyObject *fresh = PyList_New(0);
    if (active == NULL || fresh == NULL) {
        Py_XDECREF(active);
        Py_XDECREF(fresh);
        return NULL;
    }
    PyObject *buffered = self->has_buffered_ssrc
        ? PyLong_FromUnsignedLong(self->buffered_ssrc) : Py_NewRef(Py_None);
    PyObject *result = buffered == NULL ? NULL : Py_BuildValue(
        "(OKOO)", self->events, self->payload_bytes, active, buffered);
    Py_DECREF(active);
    Py_XDECREF(buffered);
    if (result == NULL) {
        Py_DECREF(fresh);
        return NULL;
    }
    Py_SETREF(self->events, fresh);
    self->payload_bytes = 0;
    self->active_count = 0;
    self->has_buffered_ssrc = 0;
    return result;
}

static PyObject *RtpReceive_stats(RtpReceive *self, PyObject *arg) {
    NEEDS_INIT(self)
    unsigned long ssrc = PyLong_AsUnsignedLong(arg);
    if (ssrc == (unsigned long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    Stream *stream = stream_of(self, (uint32_t)ssrc, 0, 0);
    if (stream == NULL) {
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(LNNLLLNN)", stream->clock_rate,
                         none_or_long(stream->has_base, stream->base_seq),
                         none_or_long(stream->has_max, stream->max_seq), stream->cycles,
                         stream->received, stream->jitter_q4,
                         none_or_long(stream->has_last, stream->last_arrival),
                         none_or_long(stream->has_last, stream->last_timestamp));
}

static int optional_long(PyObject *value, int *has, long long *out) {
    if (value == Py_None) {
        *has = 0;
        *out = 0;
        return 0;
    }
    *has = 1;
    *out = PyLong_AsLongLong(value);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static PyObject *RtpReceive_set_stats(RtpReceive *self, PyObject *args) {
    NEEDS_INIT(self)
    unsigned long ssrc;
    long long clock_rate, cycles, received, jitter_q4, base, max, arrival, last_timestamp;
    PyObject *base_seq, *max_seq, *last_arrival, *last_ts;
    int has_base, has_max, has_arrival, has_timestamp;
    if (!PyArg_ParseTuple(args, "kLOOLLLOO", &ssrc, &clock_rate, &base_seq, &max_seq, &cycles,
                          &received, &jitter_q4, &last_arrival, &last_ts)) {
        return NULL;
    }
    if (optional_long(base_seq, &has_base, &base) < 0 ||
        optional_long(max_seq, &has_max, &max) < 0 ||
        optional_long(last_arrival, &has_arrival, &arrival) < 0 ||
        optional_long(last_ts, &has_timestamp, &last_timestamp) < 0) {
        return NULL;
    }
    if (has_arrival != has_timestamp) {
        PyErr_SetString(PyExc_ValueError, "the last arrival and timestamp go together");
        return NULL;
    }
    Stream *stream = stream_of(self, (uint32_t)ssrc, clock_rate, 1);
    if (stream == NULL) {
        PyErr_SetString(PyExc_OverflowError, "too many SSRCs for one video receiver");
        return NULL;
    }
    stream->clock_rate = clock_rate;
    stream->has_base = has_base;
    stream->base_seq = (int)base;
    stream->has_max = has_max;
    stream->max_seq = (int)max;
    stream->cycles = cycles;
    stream->received = received;
    stream->jitter_q4 = jitter_q4;
    stream->has_last = has_arrival;
    stream->last_arrival = arrival;
    stream->last_timestamp = last_timestamp;
    Py_RETURN_NONE;
}

static PyObject *RtpReceive_nack_state(RtpReceive *self, PyObject *unused) {
    NEEDS_INIT(self)
    (void)unused;
    PyObject *missing = PySet_New(NULL);
    for (Py_ssize_t i = 0; missing != NULL && i < self->missing_count; i++) {
        PyObject *number = PyLong_FromLong(self->missing[i]);
        if (number == NULL || PySet_Add(missing, number) < 0) {
            Py_XDECREF(number);
            Py_CLEAR(missing);
            break;
        }
        Py_DECREF(number);
    }
    if (missing == NULL) {
        return NULL;
    }
    return Py_BuildValue("(NN)", none_or_long(self->nack_has_max, self->nack_max), missing);
}

static PyObject *RtpReceive_set_nack_state(RtpReceive *self, PyObject *args) {
    NEEDS_INIT(self)
    PyObject *max_seq, *missing;
    if (!PyArg_ParseTuple(args, "OO", &max_seq, &missing)) {
        return NULL;
    }
    long long max;
    int has_max;
    if (optional_long(max_seq, &has_max, &max) < 0) {
        return NULL;
    }
    PyObject *sorted = PySequence_List(missing);
    if (sorted == NULL || PyList_Sort(sorted) < 0) {
        Py_XDECREF(sorted);
        return NULL;
    }
    Py_ssize_t size = PyList_GET_SIZE(sorted), count = 0;
    int *numbers = PyMem_Malloc((size_t)(size ? size : 1) * sizeof(int));
    if (numbers == NULL) {
        Py_DECREF(sorted);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        long number = PyLong_AsLong(PyList_GET_ITEM(sorted, i));
        if ((number == -1 && PyErr_Occurred()) || number < 0 || number > 0xFFFF) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "a sequence number is 0-65535");
            }
            PyMem_Free(numbers);
            Py_DECREF(sorted);
            return NULL;
        }
        if (count == 0 || numbers[count - 1] != (int)number) {
            numbers[count++] = (int)number;
        }
    }
    Py_DECREF(sorted);
    if (missing_reserve(self, count) < 0) {
        PyMem_Free(numbers);
        return NULL;
    }
    if (count > 0) {
        memcpy(self->missing, numbers, (size_t)count * sizeof(int));
    }
    PyMem_Free(numbers);
    self->missing_count = count;
    self->nack_has_max = has_max;
    self->nack_max = (int)max;
    Py_RETURN_NONE;
}

static PyObject *RtpReceive_configure(RtpReceive *self, PyObject *args) {
    NEEDS_INIT(self)
    PyObject *payload_types, *rtx_ssrcs, *extension_ids;
    if (!PyArg_ParseTuple(args, "O!O!O!", &PyDict_Type, &payload_types, &PyDict_Type,
                          &rtx_ssrcs, &PyTuple_Type, &extension_ids)) {
        return NULL;
    }
    int kinds[128] = {0};
    long long clock_rates[128] = {0};
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(payload_types, &pos, &key, &value)) {
        long payload_type = PyLong_AsLong(key);
        int apt;
        long long clock_rate;
        if ((payload_type == -1 && PyErr_Occurred()) || !PyTuple_Check(value) ||
            !PyArg_ParseTuple(value, "Li", &clock_rate, &apt)) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "a payload type's value is (clock_rate, apt)");
            }
            return NULL;
        }
        if (payload_type < 0 || payload_type > 127 || apt < FOREIGN || apt > 127 ||
            clock_rate <= 0) {
            PyErr_SetString(PyExc_ValueError,
                            "a payload type is 0-127, an apt -3-127, a clock rate positive");
            return NULL;
        }
        kinds[payload_type] = apt < 0 ? apt : apt + 1; /* 0: not taken */
        clock_rates[payload_type] = clock_rate;
    }
    if (PyDict_Size(rtx_ssrcs) > MAX_STREAMS) {
        PyErr_SetString(PyExc_OverflowError, "too many RTX SSRCs for one video receiver");
        return NULL;
    }
    uint32_t rtx[MAX_STREAMS], originals[MAX_STREAMS];
    int rtx_count = 0;
    pos = 0;
    while (PyDict_Next(rtx_ssrcs, &pos, &key, &value)) {
        unsigned long from = PyLong_AsUnsignedLong(key);
        if (PyErr_Occurred()) {
            return NULL;
        }
        unsigned long to = PyLong_AsUnsignedLong(value);
        if (PyErr_Occurred()) {
            return NULL;
        }
        rtx[rtx_count] = (uint32_t)from;
        originals[rtx_count++] = (uint32_t)to;
    }
    if (PyTuple_GET_SIZE(extension_ids) != EXTENSION_IDS) {
        PyErr_Format(PyExc_ValueError, "%d extension ids", EXTENSION_IDS);
        return NULL;
    }
    int ids[EXTENSION_IDS];
    for (int i = 0; i < EXTENSION_IDS; i++) {
        PyObject *id = PyTuple_GET_ITEM(extension_ids, i);
        ids[i] = id == Py_None ? 0 : (int)PyLong_AsLong(id);
        if (ids[i] == -1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    memcpy(self->kinds, kinds, sizeof kinds);
    memcpy(self->clock_rates, clock_rates, sizeof clock_rates);
    memcpy(self->rtx_ssrcs, rtx, sizeof rtx);
    memcpy(self->rtx_originals, originals, sizeof originals);
    self->rtx_count = rtx_count;
    memcpy(self->extension_ids, ids, sizeof ids);
    Py_RETURN_NONE;
}

static int RtpReceive_init(RtpReceive *self, PyObject *args, PyObject *kwds) {
    static char *keywords[] = {"capacity", "nack", "origin", "newest", "audio", NULL};
    int capacity = 512, nack = 1, audio = 0;
    PyObject *origin = Py_None, *newest = Py_None;
    if (self->slots != NULL || self->events != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "already initialised");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|ipOOp", keywords, &capacity, &nack, &origin,
                                     &newest, &audio)) {
        return -1;
    }
    if (capacity < 1 || capacity > 32768 || (capacity & (capacity - 1)) != 0) {
        PyErr_SetString(PyExc_ValueError, "capacity must be a power of 2, at most 32768");
        return -1;
    }
    long long origin_value, newest_value;
    int has_origin, has_newest;
    if (optional_long(origin, &has_origin, &origin_value) < 0 ||
        optional_long(newest, &has_newest, &newest_value) < 0) {
        return -1;
    }
    Slot *slots = PyMem_Calloc((size_t)capacity, sizeof(Slot));
    PyObject *events = PyList_New(0);
    if (slots == NULL || events == NULL) {
        PyMem_Free(slots);
        Py_XDECREF(events);
        PyErr_NoMemory();
        return -1;
    }
    self->slots = slots;
    self->events = events;
    self->capacity = capacity;
    self->has_origin = has_origin;
    self->origin = (int)(origin_value & 0xFFFF);
    self->has_newest = has_newest;
    self->newest = (int)(newest_value & 0xFFFF);
    self->audio = audio;
    self->nack_enabled = nack && !audio;
    return 0;
}

static void RtpReceive_dealloc(RtpReceive *self) {
    if (self->slots != NULL) {
        for (int i = 0; i < self->capacity; i++) {
            slot_clear(&self->slots[i]);
        }
        PyMem_Free(self->slots);
    }
    PyMem_Free(self->missing);
    Py_XDECREF(self->events);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *RtpReceive_get_buffered(RtpReceive *self, void *closure) {
    (void)closure;
    long count = 0;
    for (int i = 0; self->slots != NULL && i < self->capacity; i++) {
        count += self->slots[i].data != NULL;
    }
    return PyLong_FromLong(count);
}

static PyObject *RtpReceive_get_keyframe_skips(RtpReceive *self, void *closure) {
    (void)closure;
    return PyLong_FromLongLong(self->keyframe_skips);
}

static PyObject *RtpReceive_get_packets_skipped(RtpReceive *self, void *closure) {
    (void)closure;
    return PyLong_FromLongLong(self->packets_skipped);
}

static PyObject *RtpReceive_get_gaps_skipped(RtpReceive *self, void *closure) {
    (void)closure;
    return PyLong_FromLongLong(self->gaps_skipped);
}

static PyGetSetDef getset[] = {
    {"buffered", (getter)RtpReceive_get_buffered, NULL, "packets in the jitter buffer", NULL},
    {"keyframe_skips", (getter)RtpReceive_get_keyframe_skips, NULL,
     "keyframes released past a gap", NULL},
    {"packets_skipped", (getter)RtpReceive_get_packets_skipped, NULL,
     "buffered packets dropped by those releases", NULL},
    {"gaps_skipped", (getter)RtpReceive_get_gaps_skipped, NULL,
     "audio: gaps given up (rtc/audio_jitter_buffer.py)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef rtp_receive_methods[] = {
    {"configure", (PyCFunction)RtpReceive_configure, METH_VARARGS,
     "configure(payload_types, rtx_ssrcs, extension_ids): the payload types taken "
     "({pt: (clock_rate, apt)}, apt -1 for H.264, -3 for another codec (its packets handed "
     "back), else the RTX's original payload type or -2 when it has none), the RTX SSRCs ({rtx_ssrc: original_ssrc}) and the negotiated header "
     "extension ids (mid, repaired_rtp_stream_id, rtp_stream_id, abs_send_time, "
     "transmission_offset, audio_level, transport_sequence_number; None when not)."},
    {"add", (PyCFunction)RtpReceive_add, METH_O,
     "add(data) -> handed_back: an unprotected RTP packet routed to this receiver; True, "
     "nothing done, for a packet of another codec (a payload type configured with apt -3) "
     "or of a ninth SSRC."},
    {"add_packet", (PyCFunction)RtpReceive_add_packet, METH_VARARGS,
     "add_packet(ssrc, payload_type, sequence_number, timestamp, marker, payload, level=None) "
     "-> handed_back: a packet parsed already (`level`: its RFC 6464 level's 7 bits)."},
    {"buffered_packets", (PyCFunction)RtpReceive_buffered_packets, METH_NOARGS,
     "buffered_packets() -> (origin, newest, [(sequence_number, timestamp, marker, "
     "payload_type, data, level)]): the jitter buffer's state, its packets from the origin "
     "on."},
    {"take", (PyCFunction)RtpReceive_take, METH_NOARGS,
     "take() -> (events, payload_bytes, active_ssrcs, buffered_ssrc): what the packets added "
     "since left."},
    {"stats", (PyCFunction)RtpReceive_stats, METH_O,
     "stats(ssrc) -> (clock_rate, base_seq, max_seq, cycles, packets_received, jitter_q4, "
     "last_arrival, last_timestamp) | None"},
    {"set_stats", (PyCFunction)RtpReceive_set_stats, METH_VARARGS,
     "set_stats(ssrc, clock_rate, base_seq, max_seq, cycles, packets_received, jitter_q4, "
     "last_arrival, last_timestamp)"},
    {"nack_state", (PyCFunction)RtpReceive_nack_state, METH_NOARGS,
     "nack_state() -> (max_seq, missing)"},
    {"set_nack_state", (PyCFunction)RtpReceive_set_nack_state, METH_VARARGS,
     "set_nack_state(max_seq, missing)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RtpReceiveType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rtc.rtp_receive.RtpReceive",
    .tp_doc = "A receiver's per-packet work: statistics, RTX, NACK, depayload and jitter "
              "buffer, H.264 video or audio (this module's docstring).",
    .tp_basicsize = sizeof(RtpReceive),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)RtpReceive_init,
    .tp_dealloc = (destructor)RtpReceive_dealloc,
    .tp_methods = rtp_receive_methods,
    .tp_getset = getset,
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT, "rtc.rtp_receive",
    "A receiver's per-packet work, from an unprotected RTP packet to whole frames.",
    -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_rtp_receive(void) {
    if (PyType_Ready(&RtpReceiveType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&definition);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&RtpReceiveType);
    if (PyModule_AddObject(module, "RtpReceive", (PyObject *)&RtpReceiveType) < 0 ||
        PyModule_AddIntConstant(module, "NACK", NACK) < 0 ||
        PyModule_AddIntConstant(module, "PLI", PLI) < 0 ||
        PyModule_AddIntConstant(module, "FRAME", FRAME) < 0) {
        Py_DECREF(&RtpReceiveType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
