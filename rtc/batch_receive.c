/* A UDP socket's waiting datagrams read in one system call, its SRTP media unprotected.
 *
 * rtc/datagram_drain.py's reader, for a call whose DTLS handshake is done, hands the
 * socket to `drain` here instead of reading it one `recvfrom` at a time in Python:
 *
 *   drain(fd, limit, unprotect, session)
 *       -> (others, media, media_bytes, refused)
 *
 * - up to `limit` (at most 64) datagrams are read with one recvmmsg(2);
 * - each RTP datagram (RFC 7983: first byte 128-191; not RTCP: second byte outside
 *   192-208) is unprotected in place by `unprotect` (the address of libsrtp's
 *   srtp_unprotect, as linked into pylibsrtp's binding) with `session` (the srtp_t of
 *   the DTLS transport's receiving pylibsrtp.Session), the plaintext put in `media`;
 *   `media_bytes` sums the sizes of every SRTP datagram read (what aiortc counts as
 *   received), `refused` counts the ones libsrtp refused (authentication, replay), which
 *   are dropped as aiortc drops them;
 * - every other datagram (STUN, DTLS, SRTCP, or anything when `session` is 0) is put in
 *   `others` as (bytes, address), the address as Python's socket module gives it, for the
 *   Python path (aioice's protocol, then aiortc's DTLS transport).
 *
 * An empty socket returns empty lists; an error other than EAGAIN/EINTR raises OSError
 * (recvmmsg reports one only when it read nothing).
 *
 * The GIL is held throughout and the socket is non-blocking. The buffers are this
 * module's own: a call made while another is still using them (from a finalizer the
 * first one's allocations ran) returns None and reads nothing, and the caller reads the
 * socket its own way.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_BATCH 64
#define DATAGRAM_SIZE 65536 /* the largest UDP payload: nothing is ever truncated */

typedef int (*unprotect_fn)(void *session, void *packet, int *length);

static unsigned char *buffers; /* MAX_BATCH * DATAGRAM_SIZE, made at import */
static struct mmsghdr messages[MAX_BATCH];
static struct iovec vectors[MAX_BATCH];
static struct sockaddr_storage addresses[MAX_BATCH];
static int busy; /* the buffers are in use by a call */

static PyObject *address_of(const struct sockaddr_storage *address) {
    char host[INET6_ADDRSTRLEN];
    if (address->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)address;
        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
        return Py_BuildValue("(si)", host, ntohs(v4->sin_port));
    }
    if (address->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)address;
        inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
        return Py_BuildValue("(siII)", host, ntohs(v6->sin6_port),
                             ntohl(v6->sin6_flowinfo), v6->sin6_scope_id);
    }
    Py_RETURN_NONE;
}

static int is_srtp(const unsigned char *data, size_t size) {
    if (size < 12 || data[0] < 128 || data[0] > 191) {
        return 0;
    }
    return data[1] < 192 || data[1] > 208; /* 192-208: RTCP (aiortc's is_rtcp) */
}

static PyObject *drain(PyObject *module, PyObject *args) {
    int fd, limit;
    unsigned long long unprotect_address, session_address;
    (void)module;
    if (!PyArg_ParseTuple(args, "iiKK", &fd, &limit, &unprotect_address, &session_address)) {
        return NULL;
    }
    if (limit < 1 || limit > MAX_BATCH) {
        PyErr_Format(PyExc_ValueError, "limit must be 1-%d", MAX_BATCH);
        return NULL;
    }
    if (unprotect_address == 0 && session_address != 0) {
        PyErr_SetString(PyExc_ValueError, "a session needs its unprotect function");
        return NULL;
    }
    for (int index = 0; index < limit; index++) {
        vectors[index].iov_base = buffers + (size_t)index * DATAGRAM_SIZE;
        vectors[index].iov_len = DATAGRAM_SIZE;
        memset(&messages[index].msg_hdr, 0, sizeof messages[index].msg_hdr);
        messages[index].msg_hdr.msg_iov = &vectors[index];
        messages[index].msg_hdr.msg_iovlen = 1;
        messages[index].msg_hdr.msg_name = &addresses[index];
        messages[index].msg_hdr.msg_namelen = sizeof addresses[index];
    }
    if (busy) {
        Py_RETURN_NONE;
    }
    int count, error = 0;
    do {
        count = recvmmsg(fd, messages, (unsigned int)limit, MSG_DONTWAIT, NULL);
    } while (count < 0 && errno == EINTR);
    if (count < 0) {
        error = errno; /* before anything else can change it */
        if (error == EAGAIN || error == EWOULDBLOCK) {
            count = 0;
        } else {
            errno = error;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    busy = 1;
    PyObject *others = PyList_New(0);
    PyObject *media = PyList_New(0);
    if (others == NULL || media == NULL) {
        goto failed;
    }
    unprotect_fn unprotect = (unprotect_fn)(uintptr_t)unprotect_address;
    void *session = (void *)(uintptr_t)session_address;
    unsigned long long media_bytes = 0;
    long refused = 0;
    for (int index = 0; index < count; index++) {
        unsigned char *data = buffers + (size_t)index * DATAGRAM_SIZE;
        size_t size = messages[index].msg_len;
        PyObject *item;
        if (session != NULL && is_srtp(data, size)) {
            int length = (int)size;
            media_bytes += size;
            if (unprotect(session, data, &length) != 0) { /* srtp_err_status_ok is 0 */
                refused++;
                continue;
            }
            item = PyBytes_FromStringAndSize((const char *)data, length);
            if (item == NULL || PyList_Append(media, item) < 0) {
                Py_XDECREF(item);
                goto failed;
            }
        } else {
            PyObject *payload = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)size);
            PyObject *address = address_of(&addresses[index]);
            item = (payload && address) ? PyTuple_Pack(2, payload, address) : NULL;
            Py_XDECREF(payload);
            Py_XDECREF(address);
            if (item == NULL || PyList_Append(others, item) < 0) {
                Py_XDECREF(item);
                goto failed;
            }
        }
        Py_DECREF(item);
    }
    busy = 0;
    return Py_BuildValue("(NNKl)", others, media, media_bytes, refused);
failed:
    busy = 0;
    Py_XDECREF(others);
    Py_XDECREF(media);
    return NULL;
}

static PyMethodDef methods[] = {
    {"drain", drain, METH_VARARGS,
     "drain(fd, limit, unprotect, session) -> (others, media, media_bytes, refused) | None: up to "
     "`limit` datagrams of a non-blocking UDP socket read at once, its SRTP media "
     "unprotected by `unprotect` (srtp_unprotect's address) with `session` (an srtp_t; 0: "
     "none, every datagram in `others`); None, nothing read, while another call uses the "
     "buffers."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT, "rtc.batch_receive",
    "A UDP socket's waiting datagrams read with one recvmmsg, its SRTP media unprotected.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_batch_receive(void) {
    buffers = PyMem_RawMalloc((size_t)MAX_BATCH * DATAGRAM_SIZE);
    if (buffers == NULL) {
        return PyErr_NoMemory();
    }
    PyObject *module = PyModule_Create(&definition);
    if (module != NULL && PyModule_AddIntConstant(module, "MAX_BATCH", MAX_BATCH) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
