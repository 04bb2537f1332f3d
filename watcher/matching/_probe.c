/* The bulk filter's inner loops in C (see watcher/matching/bulk_hash.py).
 *
 * Two functions over plain buffers (no NumPy headers: the arrays arrive through the buffer
 * protocol, so the module builds against Python alone):
 *
 *   hash_ranges(data, starts, ends, tag, out)
 *       out[i] = hash of data[starts[i]:ends[i]], mixed with its length and tag.
 *   probe(data, starts, ends, tag, bitmap, shift, out) -> count
 *       the indexes i whose hash's top bits (hash >> shift) are set in bitmap, written to
 *       out[0:count]: the bitmap test of KeySet.maybe without an array of hashes.
 *
 * A hash is only a filter key: equal strings give equal hashes (the contract), unequal
 * strings rarely do (a collision lets a name through to the exact rules, nothing more).
 * Bytes are taken eight at a time, the last word zero-padded; the length is mixed in, so
 * the padding is never ambiguous.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Words are read as little-endian numbers on every machine, so the hash is the same. */
static inline uint64_t le64(uint64_t w) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap64(w);
#else
    return w;
#endif
}

static const uint64_t WORD_MIX = 0x9FB21C651E98DF25ULL;
static const uint64_t LENGTH_MIX = 0x9E3779B97F4A7C15ULL;
static const uint64_t SPREAD = 0xFF51AFD7ED558CCDULL;
static const uint64_t TAG_MIX = 0xC2B2AE3D27D4EB4FULL;

/* The hash of p[0:n]; `room` is how many bytes may be read from p (n or more): with eight
 * to spare, the last word is one unaligned load, masked. Each word is multiplied by its own
 * odd constant (powers of WORD_MIX) and the products summed: the multiplications do not
 * wait for each other, and finish() mixes the sum's bits into the top ones. */
static inline uint64_t hash_bytes(const unsigned char *p, Py_ssize_t n, Py_ssize_t room) {
    uint64_t h = 0, w, k = WORD_MIX;
    while (n >= 8) {
        memcpy(&w, p, 8);
        h += le64(w) * k;
        k *= WORD_MIX;
        p += 8;
        n -= 8;
        room -= 8;
    }
    if (n == 0) return h;
    if (room >= 8) {
        memcpy(&w, p, 8);
        w = le64(w) & (~0ULL >> (64 - 8 * n));
    } else {
        w = 0;
        for (Py_ssize_t i = 0; i < n; i++) w |= (uint64_t)p[i] << (8 * i);
    }
    return h + w * k;
}

static inline uint64_t finish(uint64_t h, Py_ssize_t length, uint64_t tag_term) {
    h += (uint64_t)length * LENGTH_MIX;
    h ^= h >> 32;
    h *= SPREAD;
    return h + tag_term;
}

typedef struct {
    Py_buffer data, starts, ends, out;
    int have_data, have_starts, have_ends, have_out;
} Views;

static void release(Views *v) {
    if (v->have_data) PyBuffer_Release(&v->data);
    if (v->have_starts) PyBuffer_Release(&v->starts);
    if (v->have_ends) PyBuffer_Release(&v->ends);
    if (v->have_out) PyBuffer_Release(&v->out);
}

/* The buffers every function takes, checked: ranges as int64 within data, and room in out
 * for one item of out_size bytes a range. */
static int take(Views *v, PyObject *data, PyObject *starts, PyObject *ends, PyObject *out,
                Py_ssize_t out_size, Py_ssize_t *count) {
    memset(v, 0, sizeof(*v));
    if (PyObject_GetBuffer(data, &v->data, PyBUF_SIMPLE) < 0) return -1;
    v->have_data = 1;
    if (PyObject_GetBuffer(starts, &v->starts, PyBUF_C_CONTIGUOUS) < 0) return -1;
    v->have_starts = 1;
    if (PyObject_GetBuffer(ends, &v->ends, PyBUF_C_CONTIGUOUS) < 0) return -1;
    v->have_ends = 1;
    if (PyObject_GetBuffer(out, &v->out, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) return -1;
    v->have_out = 1;
    if (v->starts.len != v->ends.len || v->starts.len % 8) {
        PyErr_SetString(PyExc_ValueError, "starts and ends must be int64 arrays of one length");
        return -1;
    }
    *count = v->starts.len / 8;
    if (v->out.len < *count * out_size) {
        PyErr_SetString(PyExc_ValueError, "out is too small");
        return -1;
    }
    const int64_t *s = (const int64_t *)v->starts.buf, *e = (const int64_t *)v->ends.buf;
    for (Py_ssize_t i = 0; i < *count; i++) {
        if (s[i] < 0 || e[i] < s[i] || e[i] > v->data.len) {
            PyErr_SetString(PyExc_IndexError, "a range lies outside the data");
            return -1;
        }
    }
    return 0;
}

static PyObject *hash_ranges(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *data, *starts, *ends, *out;
    unsigned long long tag;
    if (!PyArg_ParseTuple(args, "OOOKO", &data, &starts, &ends, &tag, &out)) return NULL;
    Views v;
    Py_ssize_t count;
    if (take(&v, data, starts, ends, out, 8, &count) < 0) {
        release(&v);
        return NULL;
    }
    const unsigned char *bytes = (const unsigned char *)v.data.buf;
    const int64_t *s = (const int64_t *)v.starts.buf, *e = (const int64_t *)v.ends.buf;
    uint64_t *o = (uint64_t *)v.out.buf;
    uint64_t tag_term = (uint64_t)tag * TAG_MIX;
    Py_ssize_t size = v.data.len;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t n = (Py_ssize_t)(e[i] - s[i]);
        o[i] = finish(hash_bytes(bytes + s[i], n, size - s[i]), n, tag_term);
    }
    Py_END_ALLOW_THREADS
    release(&v);
    Py_RETURN_NONE;
}

static PyObject *probe(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *data, *starts, *ends, *bitmap_obj, *out;
    unsigned long long tag;
    unsigned int shift;
    if (!PyArg_ParseTuple(args, "OOOKOIO", &data, &starts, &ends, &tag, &bitmap_obj, &shift,
                          &out))
        return NULL;
    Views v;
    Py_ssize_t count;
    if (take(&v, data, starts, ends, out, 8, &count) < 0) {
        release(&v);
        return NULL;
    }
    Py_buffer bitmap;
    if (PyObject_GetBuffer(bitmap_obj, &bitmap, PyBUF_SIMPLE) < 0) {
        release(&v);
        return NULL;
    }
    if (shift < 4 || shift > 63 || (uint64_t)bitmap.len * 8 < (UINT64_MAX >> shift) + 1) {
        PyBuffer_Release(&bitmap);
        release(&v);
        PyErr_SetString(PyExc_ValueError, "the bitmap must hold one bit per top-bits value");
        return NULL;
    }
    const unsigned char *bytes = (const unsigned char *)v.data.buf;
    const unsigned char *bits = (const unsigned char *)bitmap.buf;
    const int64_t *s = (const int64_t *)v.starts.buf, *e = (const int64_t *)v.ends.buf;
    int64_t *o = (int64_t *)v.out.buf;
    uint64_t tag_term = (uint64_t)tag * TAG_MIX;
    Py_ssize_t size = v.data.len;
    Py_ssize_t found = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t n = (Py_ssize_t)(e[i] - s[i]);
        uint64_t h = finish(hash_bytes(bytes + s[i], n, size - s[i]), n, tag_term);
        o[found] = i;
        uint64_t bit = h >> shift;
        found += (bits[bit >> 3] >> (bit & 7)) & 1;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&bitmap);
    release(&v);
    return PyLong_FromSsize_t(found);
}

/* Fill out (int64, room for every line) with the position of every newline of data,
 * then one past the end: each line's end. Returns how many. */
static PyObject *line_ends(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *data_obj, *out_obj;
    if (!PyArg_ParseTuple(args, "OO", &data_obj, &out_obj)) return NULL;
    Py_buffer data, out;
    if (PyObject_GetBuffer(data_obj, &data, PyBUF_SIMPLE) < 0) return NULL;
    if (PyObject_GetBuffer(out_obj, &out, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    const char *bytes = (const char *)data.buf;
    int64_t *o = (int64_t *)out.buf;
    Py_ssize_t room = out.len / 8, found = 0, at = 0;
    int full = 0;
    Py_BEGIN_ALLOW_THREADS
    while (at < data.len) {
        const char *next = memchr(bytes + at, '\n', (size_t)(data.len - at));
        if (next == NULL) break;
        if (found == room) {
            full = 1;
            break;
        }
        o[found++] = next - bytes;
        at = next - bytes + 1;
    }
    if (!full && found < room) o[found++] = data.len;
    else full = 1;
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&out);
    PyBuffer_Release(&data);
    if (full) {
        PyErr_SetString(PyExc_ValueError, "out has no room for every line");
        return NULL;
    }
    return PyLong_FromSsize_t(found);
}

/* For each line data[starts[i]:ends[i]], the positions of its first, second, last and
 * second-to-last '-' (-1 where the line has fewer), into four int64 arrays. */
static PyObject *dashes(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *data_obj, *starts_obj, *ends_obj, *outs[4];
    if (!PyArg_ParseTuple(args, "OOOOOOO", &data_obj, &starts_obj, &ends_obj, &outs[0],
                          &outs[1], &outs[2], &outs[3]))
        return NULL;
    Views v;
    Py_ssize_t count;
    if (take(&v, data_obj, starts_obj, ends_obj, outs[0], 8, &count) < 0) {
        release(&v);
        return NULL;
    }
    Py_buffer more[3];
    int held = 0;
    for (; held < 3; held++) {
        if (PyObject_GetBuffer(outs[held + 1], &more[held],
                               PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0)
            break;
        if (more[held].len < count * 8) {
            PyBuffer_Release(&more[held]);
            PyErr_SetString(PyExc_ValueError, "out is too small");
            break;
        }
    }
    if (held < 3) {
        while (held--) PyBuffer_Release(&more[held]);
        release(&v);
        return NULL;
    }
    const char *bytes = (const char *)v.data.buf;
    const int64_t *s = (const int64_t *)v.starts.buf, *e = (const int64_t *)v.ends.buf;
    int64_t *first = (int64_t *)v.out.buf, *second = (int64_t *)more[0].buf;
    int64_t *last = (int64_t *)more[1].buf, *penultimate = (int64_t *)more[2].buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) {
        int64_t f = -1, g = -1, l = -1, p = -1;
        const char *at = bytes + s[i], *end = bytes + e[i], *dash;
        while (at < end && (dash = memchr(at, '-', (size_t)(end - at))) != NULL) {
            int64_t k = dash - bytes;
            if (f < 0) f = k;
            else if (g < 0) g = k;
            p = l;
            l = k;
            at = dash + 1;
        }
        first[i] = f;
        second[i] = g;
        last[i] = l;
        penultimate[i] = p;
    }
    Py_END_ALLOW_THREADS
    for (held = 0; held < 3; held++) PyBuffer_Release(&more[held]);
    release(&v);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"hash_ranges", hash_ranges, METH_VARARGS,
     "hash_ranges(data, starts, ends, tag, out): the hash of each range into out."},
    {"probe", probe, METH_VARARGS,
     "probe(data, starts, ends, tag, bitmap, shift, out) -> count: indexes of the ranges "
     "whose hash passes the bitmap, into out."},
    {"line_ends", line_ends, METH_VARARGS,
     "line_ends(data, out) -> count: each newline's position, then len(data), into out."},
    {"dashes", dashes, METH_VARARGS,
     "dashes(data, starts, ends, first, second, last, penultimate): each line's first, "
     "second, last and second-to-last '-' (-1 if none), into the four arrays."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_probe", "The bulk filter's inner loops.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__probe(void) { return PyModule_Create(&module); }
