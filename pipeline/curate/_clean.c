/* Text cleaning in one or two passes over the code points: the C twin of `clean.py`'s `clean_text`.
 *
 *   clean(text, normalize_whitespace, strip_control, nfc) -> str
 *
 * Steps, in `clean_text`'s order:
 *   A. lone surrogates → U+FFFD; "\r\n", "\r", U+2028, U+2029, U+0085 → "\n" (normalize_whitespace);
 *   N. NFC through `unicodedata.normalize` when the text is not ASCII (nfc);
 *   B. remove C0/C1 controls except \t \n \r, and U+FEFF (strip_control); Unicode space separators → " ",
 *      spaces and tabs before a newline or the end removed, 3+ newlines → 2, then strip " " and "\n" from
 *      both ends (normalize_whitespace);
 *   N'. NFC again when B removed a control character from a text that is not ASCII (nfc): a letter and a combining
 *      mark the control character kept apart meet only now (whitespace changes never join such a pair).
 * The input is returned itself when nothing changes. Memory: a buffer of the text's own size for each pass.
 *
 * Fast paths, each giving what the full steps give: an ASCII text that is already clean is recognised 16 bytes at a
 * time; step A runs only when a character it changes is there; NFC is skipped for text made only of characters that
 * NFC cannot change (`nfc_stable`); step B copies ordinary characters with one test each.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__SSE2__)
#include <emmintrin.h>
#define USE_SSE2 1
#else
#define USE_SSE2 0
#endif

static PyObject *normalize_func; /* unicodedata.normalize */
static PyObject *nfc_name;       /* "NFC" */

static inline int is_control(Py_UCS4 c) {
    return c <= 0x08 || c == 0x0b || c == 0x0c || (c >= 0x0e && c <= 0x1f) || (c >= 0x7f && c <= 0x9f) ||
           c == 0xfeff;
}

static inline int is_space_separator(Py_UCS4 c) {
    return c == 0x00a0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x202f || c == 0x205f ||
           c == 0x3000;
}

/* Step A into `out`; returns the new length. Inlined per kind below, so PyUnicode_READ needs no switch. */
static inline Py_ssize_t pass_a(int kind, const void *data, Py_ssize_t n, int ws, void *out, int *changed) {
    Py_ssize_t j = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0xd800 && c <= 0xdfff) {
            c = 0xfffd;
            *changed = 1;
        } else if (ws) {
            if (c == '\r') {
                if (i + 1 < n && PyUnicode_READ(kind, data, i + 1) == '\n') i++;
                c = '\n';
                *changed = 1;
            } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
                c = '\n';
                *changed = 1;
            }
        }
        PyUnicode_WRITE(kind, out, j, c);
        j++;
    }
    return j;
}

/* Step B from `data` into `out` (the same kind: B only removes characters or lowers them to ' ' and '\\n');
 * returns the new length. */
#define PUT(c) (PyUnicode_WRITE(kind, out, j, (c)), j++)
#define GET(i) PyUnicode_READ(kind, out, (i))
static inline Py_ssize_t pass_b(int kind, const void *data, Py_ssize_t n, int ws, int ctrl, void *out, int *changed,
                                int *removed_ctrl) {
    Py_ssize_t j = 0;
    Py_ssize_t pending_start = -1; /* index in `out` where a run of spaces/tabs began (ws mode) */
    Py_ssize_t newlines = 0;       /* newlines just written in a row */
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c > 0x20 && c < 0x7f) { /* printable ASCII other than the space: the usual character, one test */
            pending_start = -1;
            newlines = 0;
            PUT(c);
            continue;
        }
        if (ctrl && is_control(c)) {
            *changed = 1;
            *removed_ctrl = 1;
            continue;
        }
        if (!ws) {
            PUT(c);
            continue;
        }
        if (is_space_separator(c)) {
            c = ' ';
            *changed = 1;
        }
        if (c == ' ' || c == '\t') {
            if (pending_start < 0) pending_start = j;
            PUT(c);
            newlines = 0;
            continue;
        }
        if (c == '\n') {
            if (pending_start >= 0) { /* trailing spaces/tabs of the line */
                j = pending_start;
                pending_start = -1;
                *changed = 1;
                /* the newlines before the run are again the last characters written */
                newlines = 0;
                while (newlines < 2 && j - 1 - newlines >= 0 && GET(j - 1 - newlines) == '\n') newlines++;
            }
            if (newlines >= 2) {
                *changed = 1;
                continue;
            }
            PUT(c);
            newlines++;
            continue;
        }
        pending_start = -1;
        newlines = 0;
        PUT(c);
    }
    if (ws) {
        if (pending_start >= 0) {
            j = pending_start;
            *changed = 1;
        }
        Py_ssize_t end = j, start = 0;
        while (end > 0 && (GET(end - 1) == ' ' || GET(end - 1) == '\n')) end--;
        while (start < end && (GET(start) == ' ' || GET(start) == '\n')) start++;
        if (start || end != j) {
            *changed = 1;
            memmove(out, (char *)out + start * kind, (size_t)(end - start) * (size_t)kind);
            j = end - start;
        }
    }
    return j;
}

#undef PUT
#undef GET

static Py_ssize_t pass_a_any(int kind, const void *data, Py_ssize_t n, int ws, void *out, int *changed) {
    switch (kind) {
    case PyUnicode_1BYTE_KIND:
        return pass_a(PyUnicode_1BYTE_KIND, data, n, ws, out, changed);
    case PyUnicode_2BYTE_KIND:
        return pass_a(PyUnicode_2BYTE_KIND, data, n, ws, out, changed);
    default:
        return pass_a(PyUnicode_4BYTE_KIND, data, n, ws, out, changed);
    }
}

static Py_ssize_t pass_b_any(int kind, const void *data, Py_ssize_t n, int ws, int ctrl, void *out, int *changed,
                             int *removed_ctrl) {
    switch (kind) {
    case PyUnicode_1BYTE_KIND:
        return pass_b(PyUnicode_1BYTE_KIND, data, n, ws, ctrl, out, changed, removed_ctrl);
    case PyUnicode_2BYTE_KIND:
        return pass_b(PyUnicode_2BYTE_KIND, data, n, ws, ctrl, out, changed, removed_ctrl);
    default:
        return pass_b(PyUnicode_4BYTE_KIND, data, n, ws, ctrl, out, changed, removed_ctrl);
    }
}

/* Whether the ASCII control character (or DEL) at p[i] is one step B would keep where it is. */
static inline int ascii_special_ok(const unsigned char *p, Py_ssize_t i, int ws, int ctrl) {
    unsigned char c = p[i];
    if (c == '\n') /* i >= 1 under ws: a text starting with a newline was refused before */
        return !(ws && (p[i - 1] == ' ' || p[i - 1] == '\t' || (i >= 2 && p[i - 1] == '\n' && p[i - 2] == '\n')));
    if (c == '\t') return 1;
    if (c == '\r') return !ws;
    return !ctrl;
}

/* True when step B would leave an ASCII text as it is (the usual case for clean input): one read of the bytes,
 * 16 at a time where SSE2 is there; only control characters (mostly newlines) are looked at one by one. */
static int ascii_clean_already(const unsigned char *p, Py_ssize_t n, int ws, int ctrl) {
    if (ws && (p[0] == ' ' || p[0] == '\n' || p[n - 1] == ' ' || p[n - 1] == '\n' || p[n - 1] == '\t')) return 0;
    Py_ssize_t i = 0;
#if USE_SSE2
    /* ASCII bytes are below 0x80, so the signed byte comparison is the unsigned one. */
    const __m128i space = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, del)));
        while (m) {
            if (!ascii_special_ok(p, i + __builtin_ctz(m), ws, ctrl)) return 0;
            m &= m - 1;
        }
    }
#endif
    for (; i < n; i++) {
        if (p[i] >= 0x20 && p[i] != 0x7f) continue;
        if (!ascii_special_ok(p, i, ws, ctrl)) return 0;
    }
    return 1;
}

/* Whether step A would change a text that is not ASCII: a lone surrogate, or (ws) a line separator to rewrite. */
static int needs_pass_a(int kind, const void *data, Py_ssize_t n, int ws) {
    if (kind == PyUnicode_1BYTE_KIND) /* Latin-1: no surrogates, no U+2028/U+2029 */
        return ws && (memchr(data, '\r', (size_t)n) || memchr(data, 0x85, (size_t)n));
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0xd800 && c <= 0xdfff) return 1;
        if (ws && (c == '\r' || c == 0x85 || c == 0x2028 || c == 0x2029)) return 1;
    }
    return 0;
}

/* Bit c set: code point c is one NFC never changes or moves (`unicode_tables.nfc_stable_bitmap`, the table
 * `_langid.c` uses too), handed over once by `clean.py` through `set_nfc_stable`. Until then every text that is
 * not Latin-1 goes through `unicodedata.normalize`. */
#define NFC_BITMAP_BYTES (0x110000 / 8)
static uint8_t nfc_bits[NFC_BITMAP_BYTES];
static int nfc_bits_set;

/* True when NFC leaves the text as it is, told without unicodedata (Latin-1 always, else by the bitmap); False
 * means "maybe". */
static int nfc_stable(PyObject *text) {
    int kind = PyUnicode_KIND(text);
    if (kind == PyUnicode_1BYTE_KIND) return 1; /* below U+0100: each is its own NFC, combining class 0 */
    if (!nfc_bits_set) return 0;
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (!((nfc_bits[c >> 3] >> (c & 7)) & 1)) return 0;
    }
    return 1;
}

static PyObject *set_nfc_stable(PyObject *Py_UNUSED(self), PyObject *bitmap) {
    Py_buffer view;
    if (PyObject_GetBuffer(bitmap, &view, PyBUF_SIMPLE) < 0) return NULL;
    if (view.len != NFC_BITMAP_BYTES) {
        PyBuffer_Release(&view);
        return PyErr_Format(PyExc_ValueError, "nfc_stable bitmap must have %d bytes", NFC_BITMAP_BYTES);
    }
    memcpy(nfc_bits, view.buf, NFC_BITMAP_BYTES);
    nfc_bits_set = 1;
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyObject *clean(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *text;
    int ws, ctrl, nfc;
    if (!PyArg_ParseTuple(args, "Uppp:clean", &text, &ws, &ctrl, &nfc)) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (n == 0) return Py_NewRef(text);
    if (PyUnicode_IS_ASCII(text) && ascii_clean_already(PyUnicode_1BYTE_DATA(text), n, ws, ctrl)) {
        return Py_NewRef(text);
    }
    /* Steps A and B write into a buffer of the input's kind: U+FFFD replaces surrogates, which only 2- and 4-byte
       strings hold; every other change removes a character or lowers it to ' ' or '\n'. */
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    PyObject *mid;
    if (PyUnicode_IS_ASCII(text) ? ws && memchr(data, '\r', (size_t)n) : needs_pass_a(kind, data, n, ws)) {
        void *buf = PyMem_Malloc((size_t)n * (size_t)kind);
        if (!buf) return PyErr_NoMemory();
        int changed = 0;
        Py_ssize_t m = pass_a_any(kind, data, n, ws, buf, &changed);
        mid = changed ? PyUnicode_FromKindAndData(kind, buf, m) : Py_NewRef(text);
        PyMem_Free(buf);
        if (!mid) return NULL;
    } else {
        mid = Py_NewRef(text);
    }
    if (nfc && !PyUnicode_IS_ASCII(mid) && !nfc_stable(mid)) {
        PyObject *normal = PyObject_CallFunctionObjArgs(normalize_func, nfc_name, mid, NULL);
        Py_SETREF(mid, normal);
        if (!mid) return NULL;
    }
    kind = PyUnicode_KIND(mid);
    n = PyUnicode_GET_LENGTH(mid);
    if (n == 0) return mid;
    void *buf = PyMem_Malloc((size_t)n * (size_t)kind);
    if (!buf) {
        Py_DECREF(mid);
        return PyErr_NoMemory();
    }
    int changed = 0, removed_ctrl = 0;
    Py_ssize_t m = pass_b_any(kind, PyUnicode_DATA(mid), n, ws, ctrl, buf, &changed, &removed_ctrl);
    PyObject *result = changed ? PyUnicode_FromKindAndData(kind, buf, m) : Py_NewRef(mid);
    PyMem_Free(buf);
    Py_DECREF(mid);
    if (result && nfc && removed_ctrl && !PyUnicode_IS_ASCII(result) && !nfc_stable(result)) { /* step N' */
        PyObject *normal = PyObject_CallFunctionObjArgs(normalize_func, nfc_name, result, NULL);
        Py_SETREF(result, normal);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"clean", clean, METH_VARARGS,
     "clean(text, normalize_whitespace, strip_control, nfc) -> str: `clean_text` in C (see clean.py)."},
    {"set_nfc_stable", set_nfc_stable, METH_O,
     "set_nfc_stable(bitmap): the code points NFC cannot change (unicode_tables.nfc_stable_bitmap), bit c for c."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_clean",
    .m_doc = "C twin of lmforge's clean_text.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__clean(void) {
    PyObject *unicodedata = PyImport_ImportModule("unicodedata");
    if (!unicodedata) return NULL;
    normalize_func = PyObject_GetAttrString(unicodedata, "normalize");
    Py_DECREF(unicodedata);
    if (!normalize_func) return NULL;
    nfc_name = PyUnicode_InternFromString("NFC");
    if (!nfc_name) return NULL;
    return PyModule_Create(&module);
}
