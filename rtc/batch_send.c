/* A batch of RTP packets SRTP-protected and sent to one address in one system call.
 *
 * rtc/aiortc_send_hooks.py's SrtpSendPath hands the packets of a frame for one receiver to
 * `send` here instead of protecting each through pylibsrtp and sending each with its own
 * `sendto`:
 *
 *   send(fd, host, port, packets, protect, session) -> (protected_bytes, unsent, error)
 *
 * - each packet is protected by `protect` (the address of libsrtp's srtp_protect, as
 *   linked into pylibsrtp's binding) with `session` (the srtp_t of the DTLS transport's
 *   sending pylibsrtp.Session), in order, so the SRTP state advances as pylibsrtp's would;
 * - the protected datagrams go to (host, port) (IPv4 or IPv6) with sendmmsg(2), repeated
 *   until all are sent or the socket would block; a datagram the socket refuses with
 *   another error is skipped and the rest sent, as asyncio's sendto goes on after one;
 * - `protected_bytes` sums the protected sizes (what aiortc counts as sent); `unsent` is
 *   the list of protected datagrams the socket did not take (it would block), for the
 *   caller to queue behind, in order; `error` is the errno of the last refusal, 0 if none.
 *
 * None, and nothing done, when a packet is larger than MAX_PACKET or the host is not a
 * numeric IP address (the caller sends them its own way). A packet libsrtp refuses raises
 * RuntimeError before anything is sent (the packets before it were protected). The GIL
 * is held throughout and the socket is non-blocking; the buffers are this module's own,
 * and nothing in the call runs Python code while it uses them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_BATCH 256
#define MAX_PACKET 1500    /* an RTP packet of ours is at most the MTU's 1,200 bytes */
#define TRAILER_ROOM 144   /* SRTP_MAX_TAG_LEN + SRTP_MAX_MKI_LEN, as pylibsrtp leaves */
#define SLOT ((MAX_PACKET + TRAILER_ROOM + 15) / 16 * 16)

typedef int (*protect_fn)(void *session, void *packet, int *length);

static unsigned char buffers[MAX_BATCH][SLOT];
static struct mmsghdr messages[MAX_BATCH];
static struct iovec vectors[MAX_BATCH];

static int address_of(const char *host, int port, struct sockaddr_storage *address,
                      socklen_t *size) {
    memset(address, 0, sizeof *address);
    struct sockaddr_in *v4 = (struct sockaddr_in *)address;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)address;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *size = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *size = sizeof *v6;
        return 0;
    }
    return -1;
}

static PyObject *send_batch(PyObject *module, PyObject *args) {
    int fd, port;
    const char *host;
    PyObject *packets;
    unsigned long long protect_address, session_address;
    (void)module;
    if (!PyArg_ParseTuple(args, "isiO!KK", &fd, &host, &port, &PyList_Type, &packets,
                          &protect_address, &session_address)) {
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(packets);
    if (count > MAX_BATCH) {
        PyErr_Format(PyExc_ValueError, "at most %d packets at once", MAX_BATCH);
        return NULL;
    }
    if (protect_address == 0 || session_address == 0) {
        PyErr_SetString(PyExc_ValueError, "a session and its protect function are needed");
        return NULL;
    }
    if (port < 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "port out of range");
        return NULL;
    }
    struct sockaddr_storage address;
    socklen_t address_size;
    if (address_of(host, port, &address, &address_size) < 0) {
        Py_RETURN_NONE; /* not a numeric address: the caller's own path resolves it */
    }
    for (Py_ssize_t index = 0; index < count; index++) {
        PyObject *packet = PyList_GET_ITEM(packets, index);
        if (!PyBytes_Check(packet)) {
            PyErr_SetString(PyExc_TypeError, "packets must be bytes");
            return NULL;
        }
        if (PyBytes_GET_SIZE(packet) > MAX_PACKET) {
            Py_RETURN_NONE; /* nothing done: the caller's own path takes them */
        }
    }
    protect_fn protect = (protect_fn)(uintptr_t)protect_address;
    void *session = (void *)(uintptr_t)session_address;
    unsigned long long protected_bytes = 0;
    for (Py_ssize_t index = 0; index < count; index++) {
        PyObject *packet = PyList_GET_ITEM(packets, index);
        int length = (int)PyBytes_GET_SIZE(packet);
        memcpy(buffers[index], PyBytes_AS_STRING(packet), (size_t)length);
        if (protect(session, buffers[index], &length) != 0) { /* srtp_err_status_ok is 0 */
            PyErr_SetString(PyExc_RuntimeError, "libsrtp refused to protect a packet");
            return NULL;
        }
        protected_bytes += (unsigned long long)length;
        vectors[index].iov_base = buffers[index];
        vectors[index].iov_len = (size_t)length;
        memset(&messages[index].msg_hdr, 0, sizeof messages[index].msg_hdr);
        messages[index].msg_hdr.msg_iov = &vectors[index];
        messages[index].msg_hdr.msg_iovlen = 1;
        messages[index].msg_hdr.msg_name = &address;
        messages[index].msg_hdr.msg_namelen = address_size;
    }
    Py_ssize_t sent = 0;
    int error = 0;
    while (sent < count) {
        int done = sendmmsg(fd, messages + sent, (unsigned int)(count - sent), MSG_DONTWAIT);
        if (done < 0) {
            int cause = errno;
            if (cause == EINTR) {
                continue;
            }
            if (cause == EAGAIN || cause == EWOULDBLOCK) {
                break;
            }
            error = cause; /* this datagram is lost; the next ones go on */
            done = 1;
        }
        sent += done;
    }
    PyObject *unsent = PyList_New(count - sent);
    if (unsent == NULL) {
        return NULL;
    }
    for (Py_ssize_t index = sent; index < count; index++) {
        PyObject *datagram = PyBytes_FromStringAndSize((const char *)buffers[index],
                                                       (Py_ssize_t)vectors[index].iov_len);
        if (datagram == NULL) {
            Py_DECREF(unsent);
            return NULL;
        }
        PyList_SET_ITEM(unsent, index - sent, datagram);
    }
    return Py_BuildValue("(KNi)", protected_bytes, unsent, error);
}

static PyMethodDef methods[] = {
    {"send", send_batch, METH_VARARGS,
     "send(fd, host, port, packets, protect, session) -> (protected_bytes, unsent, error) "
     "| None: the RTP `packets` protected in order by `protect` (srtp_protect's address) "
     "with `session` (an srtp_t) and sent to (host, port) with sendmmsg; `unsent`: the "
     "protected datagrams the socket would not take; `error`: the errno of the last "
     "datagram it refused, 0 if none; None, nothing done, when a packet is larger than "
     "MAX_PACKET or the host is not a numeric IP address."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT, "rtc.batch_send",
    "A batch of RTP packets SRTP-protected and sent to one address with one sendmmsg.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_batch_send(void) {
    PyObject *module = PyModule_Create(&definition);
    if (module != NULL && (PyModule_AddIntConstant(module, "MAX_BATCH", MAX_BATCH) < 0 ||
                           PyModule_AddIntConstant(module, "MAX_PACKET", MAX_PACKET) < 0)) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
