/* Text cleaning in one or two passes over the code points: the C twin of `clean.py`'s `clean_text`.
 *
 *   clean(text, normalize_whitespace, strip_control, nfc) -> str
 *
 * Steps, in `clean_text`'s order (the order matters: NFC runs before control characters are removed, so a
 * control character between a letter and a combining mark keeps them apart exactly as the Python code does):
 *   A. lone surrogates → U+FFFD; "\r\n", "\r", U+2028, U+2029, U+0085 → "\n" (normalize_whitespace);
 *   N. NFC through `unicodedata.normalize` when the text is not ASCII (nfc);
 *   B. remove C0/C1 controls except \t \n \r, and U+FEFF (strip_control); Unicode space separators → " ",
 *      spaces and tabs before a newline or the end removed, 3+ newlines → 2, then strip " " and "\n" from
 *      both ends (normalize_whitespace).
 * The input is returned itself when nothing changes. Memory: one UCS4 buffer the size of the text.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

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
static inline Py_ssize_t pass_a(int kind, const void *data, Py_ssize_t n, int ws, Py_UCS4 *out, int *changed) {
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
        out[j++] = c;
    }
    return j;
}

/* Step B from `in` (kind/data) into `out`; returns the new length. */
static inline Py_ssize_t pass_b(int kind, const void *data, Py_ssize_t n, int ws, int ctrl, Py_UCS4 *out, int *changed) {
    Py_ssize_t j = 0;
    Py_ssize_t pending_start = -1; /* index in `out` where a run of spaces/tabs began (ws mode) */
    Py_ssize_t newlines = 0;       /* newlines just written in a row */
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (ctrl && is_control(c)) {
            *changed = 1;
            continue;
        }
        if (!ws) {
            out[j++] = c;
            continue;
        }
        if (is_space_separator(c)) {
            c = ' ';
            *changed = 1;
        }
        if (c == ' ' || c == '\t') {
            if (pending_start < 0) pending_start = j;
            out[j++] = c;
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
                while (newlines < 2 && j - 1 - newlines >= 0 && out[j - 1 - newlines] == '\n') newlines++;
            }
            if (newlines >= 2) {
                *changed = 1;
                continue;
            }
            out[j++] = c;
            newlines++;
            continue;
        }
        pending_start = -1;
        newlines = 0;
        out[j++] = c;
    }
    if (ws) {
        if (pending_start >= 0) {
            j = pending_start;
            *changed = 1;
        }
        Py_ssize_t end = j, start = 0;
        while (end > 0 && (out[end - 1] == ' ' || out[end - 1] == '\n')) end--;
        while (start < end && (out[start] == ' ' || out[start] == '\n')) start++;
        if (start || end != j) {
            *changed = 1;
            memmove(out, out + start, (size_t)(end - start) * sizeof(Py_UCS4));
            j = end - start;
        }
    }
    return j;
}

static Py_ssize_t pass_a_any(int kind, const void *data, Py_ssize_t n, int ws, Py_UCS4 *out, int *changed) {
    switch (kind) {
    case PyUnicode_1BYTE_KIND:
        return pass_a(PyUnicode_1BYTE_KIND, data, n, ws, out, changed);
    case PyUnicode_2BYTE_KIND:
        return pass_a(PyUnicode_2BYTE_KIND, data, n, ws, out, changed);
    default:
        return pass_a(PyUnicode_4BYTE_KIND, data, n, ws, out, changed);
    }
}

static Py_ssize_t pass_b_any(int kind, const void *data, Py_ssize_t n, int ws, int ctrl, Py_UCS4 *out, int *changed) {
    switch (kind) {
    case PyUnicode_1BYTE_KIND:
        return pass_b(PyUnicode_1BYTE_KIND, data, n, ws, ctrl, out, changed);
    case PyUnicode_2BYTE_KIND:
        return pass_b(PyUnicode_2BYTE_KIND, data, n, ws, ctrl, out, changed);
    default:
        return pass_b(PyUnicode_4BYTE_KIND, data, n, ws, ctrl, out, changed);
    }
}

/* True when step B would leave an ASCII text as it is (the usual case for clean input): one read of the bytes. */
static int ascii_clean_already(const unsigned char *p, Py_ssize_t n, int ws, int ctrl) {
    if (ws && (p[0] == ' ' || p[0] == '\n' || p[n - 1] == ' ' || p[n - 1] == '\n' || p[n - 1] == '\t')) return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != 0x7f) continue;
        if (c == '\n') {
            if (ws && (p[i - 1] == ' ' || p[i - 1] == '\t' || (i >= 2 && p[i - 1] == '\n' && p[i - 2] == '\n')))
                return 0;
        } else if (c == '\t' || c == '\r') {
            if (ws && c == '\r') return 0;
        } else if (ctrl) {
            return 0;
        }
    }
    return 1;
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
    Py_UCS4 *buf = PyMem_Malloc((size_t)n * sizeof(Py_UCS4));
    if (!buf) return PyErr_NoMemory();
    int changed = 0;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    PyObject *mid = NULL, *result = NULL;
    /* An ASCII text has no surrogates, separators or anything NFC changes: step A only looks for "\r". */
    int ascii = PyUnicode_IS_ASCII(text);
    Py_ssize_t m = n;
    if (!ascii || (ws && memchr(data, '\r', (size_t)n))) {
        m = pass_a_any(kind, data, n, ws, buf, &changed);
    }
    if (changed) {
        mid = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, buf, m);
        if (!mid) goto done;
    } else {
        mid = Py_NewRef(text);
    }
    if (nfc && !PyUnicode_IS_ASCII(mid)) {
        PyObject *normal = PyObject_CallFunctionObjArgs(normalize_func, nfc_name, mid, NULL);
        if (!normal) goto done;
        if (normal != mid) changed = 1;
        Py_SETREF(mid, normal);
    }
    n = PyUnicode_GET_LENGTH(mid);
    if (n > m) { /* NFC can lengthen a text (rarely: some compatibility decompositions stay, singletons) */
        Py_UCS4 *bigger = PyMem_Realloc(buf, (size_t)n * sizeof(Py_UCS4));
        if (!bigger) {
            PyErr_NoMemory();
            goto done;
        }
        buf = bigger;
    }
    int changed_b = 0;
    m = pass_b_any(PyUnicode_KIND(mid), PyUnicode_DATA(mid), n, ws, ctrl, buf, &changed_b);
    if (!changed_b) {
        result = Py_NewRef(changed ? mid : text);
    } else {
        result = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, buf, m);
    }
done:
    Py_XDECREF(mid);
    PyMem_Free(buf);
    return result;
}

static PyMethodDef methods[] = {
    {"clean", clean, METH_VARARGS,
     "clean(text, normalize_whitespace, strip_control, nfc) -> str: `clean_text` in C (see clean.py)."},
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
