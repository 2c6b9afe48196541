/* _textstats: the statistics the quality filters share, in one pass over a str's code points.

   The accelerator of lmforge.pipeline.curate.text_stats and of the filters in pipeline/curate/filters;
   text_stats.py (regular expressions and builtins) is the reference and the fallback, and the tests compare
   both on real and generated text. Semantics follow Python's `re` on str patterns exactly: \s is
   Py_UNICODE_ISSPACE, \w is Py_UNICODE_ISALNUM or '_', \d is Py_UNICODE_ISDECIMAL, and IGNORECASE compares
   simple lower cases plus re's table of extra case equivalences (passed in by the caller, see `Phrases`).

   Exactness: words are numbered by their code points (up to 16 bytes the key is the bytes themselves, longer
   words are compared byte by byte when their hashes agree), n-grams by the exact pair of ids of their two
   (n-1)-gram halves, and lines and paragraphs are compared byte by byte when their hashes agree. A hash
   collision costs a comparison, never a wrong count. Hash tables are open-addressed and at most half full;
   memory is linear in the text.

   Speed: ASCII stretches of 1- and 2-byte strings are classified 16 (8) characters at a time with SSE2 (x86-64),
   and phrase searches in 1-byte strings test 16 starting positions at a time; every other character goes through
   the same state machine one at a time, with Python's character database. Word n-grams are numbered one size
   at a time, hashing only positions where a longer n-gram can still repeat.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

#if (defined(__GNUC__) || defined(__clang__)) && defined(__SSE2__)
#include <emmintrin.h>
#define USE_SSE2 1
#else
#define USE_SSE2 0
#endif

/* ------------------------------------------------------------------------------------------------------------
   Character classes
   ------------------------------------------------------------------------------------------------------------ */

enum {
    CL_SPACE = 1,     /* re's \s */
    CL_ALNUM = 2,     /* re's \w without '_' */
    CL_ALPHA = 4,     /* \w but not \d: what makes a token "alpha" (text_stats._NO_ALPHA_TOKEN_RE) */
    CL_UNSEG = 8,     /* a script written without spaces: a token of its own (text_stats.UNSEGMENTED_RANGES) */
    CL_CASED = 16,    /* sre's iscased: the simple lower or upper case differs */
    CL_SENTENCE = 32, /* may end a sentence: [.!?؟।॥۔] or [。！？．｡។။།༎] (text_stats._SENTENCE_END_RE) */
    CL_COUNTED = 64,  /* '#' or '…': counted for Gopher's symbol-to-word ratios */
    CL_MARK = 128,    /* joins the unsegmented character before it into one token (text_stats.CLUSTER_MARK_RANGES) */
};

#define ELLIPSIS_CHAR 0x2026 /* "…"; with "...", the endings text_stats.ELLIPSES names */

/* Must equal text_stats.UNSEGMENTED_RANGES (a test compares them through the module attribute). */
static const Py_UCS4 UNSEG_RANGES[][2] = {
    {0x0E00, 0x0EFF},   /* Thai, Lao */
    {0x0F00, 0x0FFF},   /* Tibetan (Dzongkha) */
    {0x1000, 0x109F},   /* Myanmar */
    {0x1100, 0x11FF},   /* Hangul Jamo */
    {0x1780, 0x17FF},   /* Khmer */
    {0x3040, 0x30FF},   /* Hiragana, Katakana */
    {0x3130, 0x318F},   /* Hangul compatibility Jamo */
    {0x31F0, 0x31FF},   /* Katakana phonetic extensions */
    {0x3400, 0x4DBF},   /* CJK extension A */
    {0x4E00, 0x9FFF},   /* CJK unified ideographs */
    {0xAC00, 0xD7AF},   /* Hangul syllables */
    {0xF900, 0xFAFF},   /* CJK compatibility ideographs */
    {0xFF66, 0xFF9F},   /* half-width Katakana */
    {0x20000, 0x2FA1F}, /* CJK extensions B-F, compatibility supplement */
};
#define N_UNSEG_RANGES (sizeof(UNSEG_RANGES) / sizeof(UNSEG_RANGES[0]))

/* Must equal text_stats.CLUSTER_MARK_RANGES (a test compares them): combining marks, sorted. */
static const Py_UCS4 MARK_RANGES[][2] = {
    {0x0300, 0x036F},   /* combining diacritical marks */
    {0x0E31, 0x0E31},   /* Thai vowel and tone marks, and SARA AM */
    {0x0E33, 0x0E3A},
    {0x0E47, 0x0E4E},
    {0x0EB1, 0x0EB1},   /* Lao likewise */
    {0x0EB3, 0x0EBC},
    {0x0EC8, 0x0ECD},
    {0x0F18, 0x0F19},   /* Tibetan vowel signs, subjoined consonants and marks */
    {0x0F35, 0x0F35},
    {0x0F37, 0x0F37},
    {0x0F39, 0x0F39},
    {0x0F3E, 0x0F3F},
    {0x0F71, 0x0F84},
    {0x0F86, 0x0F87},
    {0x0F8D, 0x0F97},
    {0x0F99, 0x0FBC},
    {0x0FC6, 0x0FC6},
    {0x102B, 0x103E},   /* Myanmar vowel signs, medials, asat, virama, tones */
    {0x1056, 0x1059},
    {0x105E, 0x1060},
    {0x1062, 0x1064},
    {0x1067, 0x106D},
    {0x1071, 0x1074},
    {0x1082, 0x108D},
    {0x108F, 0x108F},
    {0x109A, 0x109D},
    {0x17B4, 0x17D3},   /* Khmer vowel signs, coeng, diacritics */
    {0x17DD, 0x17DD},
    {0x1AB0, 0x1AFF},   /* combining diacritical marks extended and supplement */
    {0x1DC0, 0x1DFF},
    {0x200C, 0x200D},   /* zero width non-joiner and joiner */
    {0x20D0, 0x20FF},   /* combining marks for symbols */
    {0x3099, 0x309A},   /* combining kana voiced sound marks */
    {0xFE00, 0xFE0F},   /* variation selectors */
    {0xFE20, 0xFE2F},   /* combining half marks */
    {0xE0100, 0xE01EF}, /* variation selectors supplement (ideographic variation sequences) */
};
#define N_MARK_RANGES (sizeof(MARK_RANGES) / sizeof(MARK_RANGES[0]))

static uint8_t bmp_class[0x10000];

static unsigned
compute_class(Py_UCS4 c)
{
    unsigned k = 0;
    for (size_t r = 0; r < N_UNSEG_RANGES; r++) {
        if (c >= UNSEG_RANGES[r][0] && c <= UNSEG_RANGES[r][1]) {
            k |= CL_UNSEG;
        }
    }
    if (Py_UNICODE_ISSPACE(c)) {
        k |= CL_SPACE;
    }
    if (Py_UNICODE_ISALNUM(c)) {
        k |= CL_ALNUM;
        if (!Py_UNICODE_ISDECIMAL(c)) {
            k |= CL_ALPHA;
        }
    }
    if (Py_UNICODE_TOLOWER(c) != c || Py_UNICODE_TOUPPER(c) != c) {
        k |= CL_CASED;
    }
    if (c == '.' || c == '!' || c == '?' || c == 0x061F || c == 0x0964 || c == 0x0965 || c == 0x06D4 || c == 0x3002 ||
        c == 0xFF01 || c == 0xFF1F || c == 0xFF0E || c == 0xFF61 || c == 0x17D4 || c == 0x104B || c == 0x0F0D ||
        c == 0x0F0E) {
        k |= CL_SENTENCE;
    }
    if (c == '#' || c == ELLIPSIS_CHAR) {
        k |= CL_COUNTED;
    }
    for (size_t r = 0; r < N_MARK_RANGES && c >= MARK_RANGES[r][0]; r++) {
        if (c <= MARK_RANGES[r][1]) {
            k |= CL_MARK;
            break;
        }
    }
    return k;
}

static ALWAYS_INLINE unsigned
char_class(Py_UCS4 c)
{
    return c < 0x10000 ? bmp_class[c] : compute_class(c);
}

static ALWAYS_INLINE Py_UCS4
rd(int kind, const void *data, Py_ssize_t i)
{
    if (kind == PyUnicode_1BYTE_KIND) {
        return ((const Py_UCS1 *)data)[i];
    }
    if (kind == PyUnicode_2BYTE_KIND) {
        return ((const Py_UCS2 *)data)[i];
    }
    return ((const Py_UCS4 *)data)[i];
}

static ALWAYS_INLINE int
is_space(Py_UCS4 c)
{
    return (char_class(c) & CL_SPACE) != 0;
}

static ALWAYS_INLINE int
is_word(Py_UCS4 c) /* re's \w */
{
    return c == '_' || (char_class(c) & CL_ALNUM) != 0;
}

static ALWAYS_INLINE Py_UCS4
fold(Py_UCS4 c) /* sre's lower case of a text character under IGNORECASE */
{
    if (c < 128) {
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    }
    return (char_class(c) & CL_CASED) ? Py_UNICODE_TOLOWER(c) : c;
}

/* The sentence ends of text_stats._SENTENCE_END_RE: [.!?؟।॥۔]+["'”’)\]]*(?=\s|$) | [。！？．｡។။།༎]+[」』”）]* */
static ALWAYS_INLINE int
is_sentence_punct(Py_UCS4 c)
{
    return c == '.' || c == '!' || c == '?' || c == 0x061F || c == 0x0964 || c == 0x0965 || c == 0x06D4;
}

static ALWAYS_INLINE int
is_sentence_closer(Py_UCS4 c)
{
    return c == '"' || c == '\'' || c == 0x201D || c == 0x2019 || c == ')' || c == ']';
}

/* Khmer ។, Myanmar ။ and Tibetan ། ༎ lie in unsegmented ranges: each is a token of its own (scan_chars), the others
   are not. */
static ALWAYS_INLINE int
is_cjk_sentence_punct(Py_UCS4 c)
{
    return c == 0x3002 || c == 0xFF01 || c == 0xFF1F || c == 0xFF0E || c == 0xFF61 || c == 0x17D4 || c == 0x104B ||
           c == 0x0F0D || c == 0x0F0E;
}

static ALWAYS_INLINE int
is_cjk_sentence_closer(Py_UCS4 c)
{
    return c == 0x300D || c == 0x300F || c == 0x201D || c == 0xFF09;
}

/* A short set of characters given by the caller as a str (bullets, terminal punctuation). */
typedef struct {
    Py_UCS4 c[32];
    Py_ssize_t n;
    uint8_t latin1[256]; /* membership of the first 256 code points */
} CharSet;

static int
charset_from(PyObject *s, CharSet *out, const char *what)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (n > 32) {
        PyErr_Format(PyExc_ValueError, "%s: at most 32 characters, got %zd", what, n);
        return -1;
    }
    memset(out->latin1, 0, sizeof(out->latin1));
    for (Py_ssize_t i = 0; i < n; i++) {
        out->c[i] = PyUnicode_READ_CHAR(s, i);
        if (out->c[i] < 256) {
            out->latin1[out->c[i]] = 1;
        }
    }
    out->n = n;
    return 0;
}

static ALWAYS_INLINE int
in_charset(const CharSet *s, Py_UCS4 c)
{
    if (c < 256) {
        return s->latin1[c];
    }
    for (Py_ssize_t i = 0; i < s->n; i++) {
        if (s->c[i] == c) {
            return 1;
        }
    }
    return 0;
}

static int
ready(PyObject *text)
{
#if PY_VERSION_HEX < 0x030C0000
    return PyUnicode_READY(text);
#else
    (void)text;
    return 0;
#endif
}

static PyObject *
pair(Py_ssize_t a, Py_ssize_t b)
{
    return Py_BuildValue("(nn)", a, b);
}

/* ------------------------------------------------------------------------------------------------------------
   Growable arrays and hashing
   ------------------------------------------------------------------------------------------------------------ */

typedef struct {
    Py_ssize_t start, end;
} Span;

typedef struct {
    Span *v;
    Py_ssize_t n, cap;
} SpanVec;

typedef struct {
    Py_ssize_t *v;
    Py_ssize_t n, cap;
} IndexVec;

static int
grow(void **v, Py_ssize_t *cap, Py_ssize_t need, size_t item)
{
    Py_ssize_t c = *cap ? *cap : 256;
    while (c < need) {
        c = c > PY_SSIZE_T_MAX / 2 ? need : c * 2;
    }
    if ((size_t)c > (size_t)PY_SSIZE_T_MAX / item) {
        PyErr_NoMemory();
        return -1;
    }
    void *p = PyMem_Realloc(*v, (size_t)c * item);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *v = p;
    *cap = c;
    return 0;
}

/* Room for `extra` more spans, so that the caller may write them without checks. */
static ALWAYS_INLINE int
spans_reserve(SpanVec *s, Py_ssize_t extra)
{
    return s->n + extra <= s->cap ? 0 : grow((void **)&s->v, &s->cap, s->n + extra, sizeof(Span));
}

static ALWAYS_INLINE int
spans_push(SpanVec *s, Py_ssize_t start, Py_ssize_t end)
{
    if (spans_reserve(s, 1) < 0) {
        return -1;
    }
    s->v[s->n].start = start;
    s->v[s->n].end = end;
    s->n++;
    return 0;
}

static ALWAYS_INLINE int
index_push(IndexVec *s, Py_ssize_t i)
{
    if (s->n == s->cap && grow((void **)&s->v, &s->cap, s->n + 1, sizeof(Py_ssize_t)) < 0) {
        return -1;
    }
    s->v[s->n++] = i;
    return 0;
}

static void *
alloc_array(size_t n, size_t size)
{
    void *p = n <= (size_t)PY_SSIZE_T_MAX / size ? PyMem_Malloc(n ? n * size : 1) : NULL;
    if (p == NULL) {
        PyErr_NoMemory();
    }
    return p;
}

static ALWAYS_INLINE uint64_t
mix64(uint64_t h) /* the murmur3 finalizer */
{
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    return h;
}

static ALWAYS_INLINE uint64_t
load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static ALWAYS_INLINE uint64_t
load32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static ALWAYS_INLINE uint64_t
mix2(uint64_t h, uint64_t a, uint64_t b)
{
    h = (h ^ a) * 0x87C37B91114253D5ULL;
    h ^= h >> 32;
    h = (h ^ b) * 0x4CF5AD432745937FULL;
    return h ^ (h >> 29);
}

/* A fast 64-bit hash of `len` bytes (overlapping loads read every byte, as in wyhash). */
static uint64_t
hash_bytes(const unsigned char *p, size_t len)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)len * 0xC2B2AE3D27D4EB4FULL);
    if (len > 16) {
        for (size_t i = 0; i + 16 < len; i += 16) {
            h = mix2(h, load64(p + i), load64(p + i + 8));
        }
        return mix64(mix2(h, load64(p + len - 16), load64(p + len - 8)));
    }
    if (len >= 8) {
        return mix64(mix2(h, load64(p), load64(p + len - 8)));
    }
    if (len >= 4) {
        return mix64(mix2(h, load32(p), load32(p + len - 4)));
    }
    if (len > 0) {
        return mix64(mix2(h, (uint64_t)p[0] << 16 | (uint64_t)p[len >> 1] << 8 | p[len - 1], 0));
    }
    return mix64(h);
}

/* Smallest power of two >= 2n (>= 16): tables stay at most half full. */
static int
table_size(Py_ssize_t n, size_t slot_size, size_t *out)
{
    if (n > PY_SSIZE_T_MAX / 4) {
        PyErr_NoMemory();
        return -1;
    }
    size_t size = 16;
    while (size < (size_t)n * 2) {
        size *= 2;
    }
    if (size > (size_t)PY_SSIZE_T_MAX / slot_size) {
        PyErr_NoMemory();
        return -1;
    }
    *out = size;
    return 0;
}

/* ------------------------------------------------------------------------------------------------------------
   Scan: the statistics of one text (TextStats' numbers)
   ------------------------------------------------------------------------------------------------------------ */

/* Word n-grams, one size ("level") at a time. The n-grams of size n+1 get ids from the pair of ids of the two
   n-grams they consist of (at i and i+1), which is exact; an n-gram that occurs once makes every longer one
   through it unique, so those positions drop out (NONE) and longer sizes only hash what can still repeat. */
#define NONE UINT32_MAX

typedef struct {
    Py_ssize_t level;   /* n of `gid` (0: words not numbered yet) */
    uint32_t *gid;      /* per position: id of the n-gram starting there, NONE if it occurs once */
    uint32_t *pos;      /* positions whose n-gram occurs more than once, increasing */
    Py_ssize_t n_pos;
    uint32_t *count;    /* per id: occurrences */
    uint32_t *first;    /* per id: first position */
    Py_ssize_t *prefix; /* prefix[i]: characters of words[0:i] */
    Py_ssize_t cap;     /* answers known for n in [1, level]: */
    Py_ssize_t *top_count, *top_first, *repeated;
} Grams;

static void
grams_free(Grams *g) /* the per-position arrays (the answers stay) */
{
    PyMem_Free(g->gid);
    PyMem_Free(g->pos);
    PyMem_Free(g->count);
    PyMem_Free(g->first);
    PyMem_Free(g->prefix);
    g->gid = g->pos = g->count = g->first = NULL;
    g->prefix = NULL;
}

typedef struct {
    PyObject_HEAD
    PyObject *text;
    int kind;
    const void *data;
    Py_ssize_t length;
    Py_ssize_t n_tokens, n_symbol_tokens, n_no_alpha_tokens, n_unsegmented, word_chars;
    Py_ssize_t n_lines, n_bullet_lines, n_ellipsis_lines, n_punct_lines, n_paragraphs;
    Py_ssize_t n_newlines, n_hashes, n_ellipses, n_sentences;
    SpanVec tokens, words, lines, paragraphs;
    IndexVec sentence_ends; /* where each match of text_stats._SENTENCE_END_RE starts */
    PyObject *line_dups, *paragraph_dups; /* (count, characters), computed on the first question */
    Grams grams;
    CharSet bullets, terminal; /* what scan() was given (a derived scan judges its lines with them) */
} ScanObject;

/* Line and paragraph state, updated at each newline (not hot: one call a line). */
typedef struct {
    const CharSet *bullets, *terminal;
    Py_ssize_t line_start, line_first; /* the line, its first non-space (-1: none yet) */
    Py_ssize_t last_ns;                /* the last non-space so far */
    Py_ssize_t para;                   /* start of the open paragraph, -1 before the first non-space */
    Py_ssize_t prev_nl, run_nl;        /* the previous newline, the first newline of its whitespace run */
    Py_ssize_t sep_first, sep_last;    /* a paragraph separator waiting for a non-space after it (-1: none) */
} Lines;

/* Token state: hot, kept in local variables (its address never leaves the inlined scan). */
typedef struct {
    Span *tv, *wv;           /* tokens, words */
    Py_ssize_t nt, nw, tcap, wcap;
    Py_ssize_t no_alpha, word_chars, unseg;
    Py_ssize_t tok;          /* start of the open token (a run of spaced characters), -1: none */
    unsigned tok_classes;    /* classes of its characters so far */
    Py_ssize_t cluster_end;  /* end of the last unsegmented token: a mark there joins it (-1: none) */
} Toks;

static Span *
regrow(Span *v, Py_ssize_t need, Py_ssize_t *cap)
{
    return grow((void **)&v, cap, need, sizeof(Span)) < 0 ? NULL : v;
}

/* Room for `extra` more tokens and words, written without checks. */
static ALWAYS_INLINE int
toks_reserve(Toks *t, Py_ssize_t extra)
{
    if (t->nt + extra > t->tcap) {
        Py_ssize_t cap = t->tcap;
        Span *v = regrow(t->tv, t->nt + extra, &cap);
        if (v == NULL) {
            return -1;
        }
        t->tv = v;
        t->tcap = cap;
    }
    if (t->nw + extra > t->wcap) {
        Py_ssize_t cap = t->wcap;
        Span *v = regrow(t->wv, t->nw + extra, &cap);
        if (v == NULL) {
            return -1;
        }
        t->wv = v;
        t->wcap = cap;
    }
    return 0;
}

/* Sentence ends, "...", '#' and '…' inside one token: text_stats._SENTENCE_END_RE and the symbol counts only
   ever match non-space characters. The lookahead (?=\s|$) holds at the token's end when `followed_ok` (a space
   or the end comes next, not an unsegmented character); inside the token it never holds. */
static ALWAYS_INLINE int
token_special_kind(ScanObject *s, int kind, const void *d, Py_ssize_t start, Py_ssize_t end, int followed_ok)
{
    Py_ssize_t i = start;
    while (i < end) {
        Py_UCS4 c = rd(kind, d, i);
        if (is_sentence_punct(c)) {
            Py_ssize_t j = i;
            while (j < end && is_sentence_punct(rd(kind, d, j))) {
                Py_ssize_t dots = 0;
                while (j < end && rd(kind, d, j) == '.') {
                    dots++;
                    j++;
                }
                s->n_ellipses += dots / 3; /* str.count("..."): non-overlapping, left to right */
                j += !dots;
            }
            while (j < end && is_sentence_closer(rd(kind, d, j))) {
                j++;
            }
            /* When the lookahead fails, no later start inside the run can succeed either. */
            if (j == end && followed_ok) {
                s->n_sentences++;
                if (index_push(&s->sentence_ends, i) < 0) {
                    return -1;
                }
            }
            i = j;
        }
        else if (is_cjk_sentence_punct(c)) {
            Py_ssize_t j = i;
            while (j < end && is_cjk_sentence_punct(rd(kind, d, j))) {
                j++;
            }
            while (j < end && is_cjk_sentence_closer(rd(kind, d, j))) {
                j++;
            }
            /* Right after a ។ or ။ (an unsegmented token of its own), the run began there and was counted there. */
            if (i > start || start == 0 || !is_cjk_sentence_punct(rd(kind, d, start - 1))) {
                s->n_sentences++;
                if (index_push(&s->sentence_ends, i) < 0) {
                    return -1;
                }
            }
            i = j;
        }
        else {
            s->n_hashes += c == '#';
            s->n_ellipses += c == ELLIPSIS_CHAR;
            i++;
        }
    }
    return 0;
}

static int
token_special(ScanObject *s, int kind, const void *d, Py_ssize_t start, Py_ssize_t end, int followed_ok)
{
    switch (kind) {
    case PyUnicode_1BYTE_KIND:
        return token_special_kind(s, PyUnicode_1BYTE_KIND, d, start, end, followed_ok);
    case PyUnicode_2BYTE_KIND:
        return token_special_kind(s, PyUnicode_2BYTE_KIND, d, start, end, followed_ok);
    default:
        return token_special_kind(s, PyUnicode_4BYTE_KIND, d, start, end, followed_ok);
    }
}

/* A token [start, end) whose characters have `classes`; room for it was reserved. */
static ALWAYS_INLINE int
emit_token(ScanObject *s, Toks *t, int kind, const void *d, Py_ssize_t start, Py_ssize_t end, unsigned classes,
           int followed_ok)
{
    Py_ssize_t word = (classes & CL_ALNUM) != 0; /* else a symbol token (text_stats._SYMBOL_TOKEN_RE) */
    t->tv[t->nt].start = start;
    t->tv[t->nt].end = end;
    t->nt++;
    t->wv[t->nw].start = start;
    t->wv[t->nw].end = end;
    t->nw += word;
    t->word_chars += (end - start) & -word;
    t->no_alpha += (classes & CL_ALPHA) == 0; /* text_stats._NO_ALPHA_TOKEN_RE */
    if ((classes & (CL_SENTENCE | CL_COUNTED)) && token_special(s, kind, d, start, end, followed_ok) < 0) {
        return -1;
    }
    return 0;
}

static ALWAYS_INLINE void
emit_unsegmented(Toks *t, Py_ssize_t i)
{
    t->tv[t->nt].start = i;
    t->tv[t->nt].end = i + 1;
    t->nt++;
    t->wv[t->nw].start = i;
    t->wv[t->nw].end = i + 1;
    t->nw++;
    t->word_chars++;
    t->unseg++;
}

/* A newline at i: the line before it ends; two newlines with only whitespace between separate paragraphs
   (text.strip() split on \n\s*\n: from the first to the last newline of a whitespace run). */
static int
newline(ScanObject *s, Lines *ln, Py_ssize_t i)
{
    int kind = s->kind;
    const void *d = s->data;
    s->n_newlines++;
    if (ln->line_first >= 0) {
        s->n_lines++;
        s->n_bullet_lines += in_charset(ln->bullets, rd(kind, d, ln->line_first));
        Py_ssize_t last = ln->last_ns;
        Py_UCS4 c = rd(kind, d, last);
        s->n_punct_lines += in_charset(ln->terminal, c);
        s->n_ellipsis_lines += c == ELLIPSIS_CHAR || (c == '.' && last - 2 >= ln->line_start &&
                                                      rd(kind, d, last - 1) == '.' && rd(kind, d, last - 2) == '.');
        if (spans_push(&s->lines, ln->line_start, i) < 0) {
            return -1;
        }
    }
    if (ln->sep_first >= 0 && ln->last_ns > ln->sep_last) {
        if (spans_push(&s->paragraphs, ln->para, ln->sep_first) < 0) {
            return -1;
        }
        ln->para = ln->sep_last + 1;
        ln->sep_first = -1;
    }
    if (ln->last_ns >= 0) {
        if (ln->prev_nl >= 0 && ln->last_ns < ln->prev_nl) {
            ln->sep_first = ln->run_nl;
            ln->sep_last = i;
        }
        else {
            ln->run_nl = i;
        }
    }
    ln->prev_nl = i;
    ln->line_start = i + 1;
    ln->line_first = -1;
    return 0;
}

/* Characters [from, to) one at a time (any kind, any character). */
static ALWAYS_INLINE int
scan_chars(ScanObject *s, Toks *t, Lines *ln, int kind, const void *d, Py_ssize_t from, Py_ssize_t to)
{
    Py_ssize_t i = from;
    while (i < to) {
        Py_UCS4 c = rd(kind, d, i);
        unsigned k = char_class(c);
        if (k & CL_SPACE) {
            if (t->tok >= 0) {
                if (toks_reserve(t, 1) < 0 || emit_token(s, t, kind, d, t->tok, i, t->tok_classes, 1) < 0) {
                    return -1;
                }
                t->tok = -1;
            }
            if (c == '\n' && newline(s, ln, i) < 0) {
                return -1;
            }
            i++;
            continue;
        }
        ln->para = ln->para < 0 ? i : ln->para;
        ln->line_first = ln->line_first < 0 ? i : ln->line_first;
        if ((k & CL_MARK) && i == t->cluster_end) {
            /* A combining mark right after an unsegmented character or its marks: one token with them (a Thai or
               Burmese syllable's vowel signs and tones, a kana's voicing mark), which may cross a block's end. */
            t->tv[t->nt - 1].end++;
            t->wv[t->nw - 1].end++;
            t->word_chars++;
            t->cluster_end++;
            ln->last_ns = i++;
            continue;
        }
        if (k & CL_UNSEG) {
            if (toks_reserve(t, 2) < 0) {
                return -1;
            }
            if (t->tok >= 0) {
                if (emit_token(s, t, kind, d, t->tok, i, t->tok_classes, 0) < 0) {
                    return -1;
                }
                t->tok = -1;
            }
            emit_unsegmented(t, i);
            t->cluster_end = i + 1;
            /* Khmer ។ and Myanmar ။ end sentences: a run of CJK full stops is one end, counted where it starts. */
            if ((k & CL_SENTENCE) && !(i > 0 && is_cjk_sentence_punct(rd(kind, d, i - 1)))) {
                s->n_sentences++;
                if (index_push(&s->sentence_ends, i) < 0) {
                    return -1;
                }
            }
            ln->last_ns = i++;
            continue;
        }
        unsigned classes = 0;
        if (t->tok < 0) {
            t->tok = i;
        }
        else {
            classes = t->tok_classes;
        }
        do {
            classes |= k;
            if (++i == to) {
                break;
            }
            k = char_class(rd(kind, d, i));
        } while (!(k & (CL_SPACE | CL_UNSEG)));
        t->tok_classes = classes;
        ln->last_ns = i - 1;
    }
    return 0;
}

#if USE_SSE2
static ALWAYS_INLINE unsigned
bits_from(unsigned b) /* bits b..15 of a 16-bit mask */
{
    return 0xFFFFu & ~((1u << b) - 1);
}

/* `width` (16 or 8) ASCII characters at `base`, as bytes in v: the same events as scan_chars, from bit masks. */
static ALWAYS_INLINE int
scan_ascii_block(ScanObject *s, Toks *t, Lines *ln, int kind, const void *d, __m128i v, Py_ssize_t base,
                 unsigned width)
{
    unsigned full = width == 16 ? 0xFFFFu : 0xFFu;
#define IN_RANGE(lo, hi) \
    _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8((lo) - 1)), _mm_cmplt_epi8(v, _mm_set1_epi8((hi) + 1)))
#define EQ(c) _mm_cmpeq_epi8(v, _mm_set1_epi8(c))
    __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
    __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                   _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
    __m128i space = _mm_or_si128(_mm_or_si128(EQ(' '), IN_RANGE(9, 13)), IN_RANGE(28, 31));
    unsigned ns = full & ~(unsigned)_mm_movemask_epi8(space);
    unsigned nl = full & (unsigned)_mm_movemask_epi8(EQ('\n'));
    unsigned alpha = full & (unsigned)_mm_movemask_epi8(letter);
    unsigned alnum = alpha | (unsigned)_mm_movemask_epi8(IN_RANGE('0', '9'));
    unsigned special = (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_or_si128(EQ('.'), EQ('!')), _mm_or_si128(EQ('?'), EQ('#'))));
#undef IN_RANGE
#undef EQ
    if (ns && ln->para < 0) {
        ln->para = base + __builtin_ctz(ns);
    }
    /* Tokens: runs of non-space. `ends` marks the first space after each token that ends here. */
    unsigned open = t->tok >= 0;
    unsigned starts = ns & ~((ns << 1) | open);
    unsigned ends = ~ns & ((ns << 1) | open) & full;
    if (toks_reserve(t, 9) < 0) {
        return -1;
    }
    while (ends) {
        unsigned e = (unsigned)__builtin_ctz(ends), b = 0;
        ends &= ends - 1;
        Py_ssize_t start;
        unsigned classes = 0;
        if (t->tok >= 0) {
            start = t->tok;
            classes = t->tok_classes;
            t->tok = -1;
        }
        else {
            b = (unsigned)__builtin_ctz(starts);
            starts &= starts - 1;
            start = base + b;
        }
        unsigned range = bits_from(b) & ((1u << e) - 1);
        classes |= ((alnum & range) ? CL_ALNUM : 0) | ((alpha & range) ? CL_ALPHA : 0) |
                   ((special & range) ? CL_SENTENCE : 0);
        if (emit_token(s, t, kind, d, start, base + e, classes, 1) < 0) {
            return -1;
        }
    }
    unsigned rest = 0;
    if (starts) {
        unsigned b = (unsigned)__builtin_ctz(starts);
        t->tok = base + b;
        t->tok_classes = 0;
        rest = bits_from(b) & full;
    }
    else if (t->tok >= 0) {
        rest = full;
    }
    t->tok_classes |= ((alnum & rest) ? CL_ALNUM : 0) | ((alpha & rest) ? CL_ALPHA : 0) |
                      ((special & rest) ? CL_SENTENCE : 0);
    /* Lines: each newline ends one; the non-space before it moves the line's first and last non-space. */
    unsigned from = 0;
    while (nl) {
        unsigned j = (unsigned)__builtin_ctz(nl);
        nl &= nl - 1;
        unsigned m = ns & bits_from(from) & ((1u << j) - 1);
        if (m) {
            ln->line_first = ln->line_first < 0 ? base + __builtin_ctz(m) : ln->line_first;
            ln->last_ns = base + 31 - __builtin_clz(m);
        }
        if (newline(s, ln, base + j) < 0) {
            return -1;
        }
        from = j + 1;
    }
    unsigned m = ns & bits_from(from) & full;
    if (m) {
        ln->line_first = ln->line_first < 0 ? base + __builtin_ctz(m) : ln->line_first;
        ln->last_ns = base + 31 - __builtin_clz(m);
    }
    return 0;
}
#endif

static ALWAYS_INLINE int
scan_text(ScanObject *s, Toks *t, Lines *ln, int kind)
{
    const void *d = s->data;
    Py_ssize_t i = 0, n = s->length;
#if USE_SSE2
    if (kind == PyUnicode_1BYTE_KIND) {
        for (; i + 16 <= n; i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)((const Py_UCS1 *)d + i));
            int rc = _mm_movemask_epi8(v) ? scan_chars(s, t, ln, kind, d, i, i + 16)
                                          : scan_ascii_block(s, t, ln, kind, d, v, i, 16);
            if (rc < 0) {
                return -1;
            }
        }
    }
    if (kind == PyUnicode_2BYTE_KIND) {
        __m128i high = _mm_set1_epi16((short)0xFF80), zero = _mm_setzero_si128();
        for (; i + 8 <= n; i += 8) {
            __m128i w = _mm_loadu_si128((const __m128i *)((const Py_UCS2 *)d + i));
            int ascii = _mm_movemask_epi8(_mm_cmpeq_epi16(_mm_and_si128(w, high), zero)) == 0xFFFF;
            int rc = ascii ? scan_ascii_block(s, t, ln, kind, d, _mm_packus_epi16(w, w), i, 8)
                           : scan_chars(s, t, ln, kind, d, i, i + 8);
            if (rc < 0) {
                return -1;
            }
        }
    }
#endif
    if (scan_chars(s, t, ln, kind, d, i, n) < 0) {
        return -1;
    }
    if (t->tok >= 0) {
        if (toks_reserve(t, 1) < 0 || emit_token(s, t, kind, d, t->tok, n, t->tok_classes, 1) < 0) {
            return -1;
        }
        t->tok = -1;
    }
    /* The last line ends like at a newline, which is not counted. */
    if (newline(s, ln, n) < 0) {
        return -1;
    }
    s->n_newlines--;
    if (ln->para >= 0 && spans_push(&s->paragraphs, ln->para, ln->last_ns + 1) < 0) {
        return -1;
    }
    s->n_paragraphs = s->paragraphs.n;
    return 0;
}

static int
scan_any(ScanObject *s, const CharSet *bullets, const CharSet *terminal)
{
    Toks t = {.tok = -1, .cluster_end = -1};
    Lines ln = {
        .bullets = bullets, .terminal = terminal, .line_first = -1, .last_ns = -1, .para = -1, .prev_nl = -1,
        .run_nl = -1, .sep_first = -1, .sep_last = -1,
    };
    /* About one token in six characters in prose: most texts never grow the arrays. */
    int rc = toks_reserve(&t, s->length / 5 + 64);
    if (rc == 0) {
        switch (s->kind) {
        case PyUnicode_1BYTE_KIND:
            rc = scan_text(s, &t, &ln, PyUnicode_1BYTE_KIND);
            break;
        case PyUnicode_2BYTE_KIND:
            rc = scan_text(s, &t, &ln, PyUnicode_2BYTE_KIND);
            break;
        default:
            rc = scan_text(s, &t, &ln, PyUnicode_4BYTE_KIND);
            break;
        }
    }
    /* Hand the arrays to the scan object in any case: its deallocator frees them. */
    s->tokens = (SpanVec){t.tv, t.nt, t.tcap};
    s->words = (SpanVec){t.wv, t.nw, t.wcap};
    s->n_tokens = t.nt;
    s->n_symbol_tokens = t.nt - t.nw; /* every unsegmented token is a word */
    s->n_no_alpha_tokens = t.no_alpha;
    s->n_unsegmented = t.unseg;
    s->word_chars = t.word_chars;
    return rc;
}

static PyTypeObject ScanType;

static void
scan_dealloc(ScanObject *s)
{
    Grams *g = &s->grams;
    PyMem_Free(s->tokens.v);
    PyMem_Free(s->words.v);
    PyMem_Free(s->lines.v);
    PyMem_Free(s->paragraphs.v);
    PyMem_Free(s->sentence_ends.v);
    grams_free(g);
    PyMem_Free(g->top_count);
    PyMem_Free(g->top_first);
    PyMem_Free(g->repeated);
    Py_XDECREF(s->line_dups);
    Py_XDECREF(s->paragraph_dups);
    Py_XDECREF(s->text);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

PyDoc_STRVAR(scan_doc, "scan(text, bullets, terminal, /)\n--\n\n"
                       "Token, word, line and paragraph statistics of `text` (a `Scan`). `bullets` and\n"
                       "`terminal` are the characters that open a bullet line and end a sentence line.");

static PyObject *
scan(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *text, *bullets_s, *terminal_s;
    CharSet bullets, terminal;
    if (!PyArg_ParseTuple(args, "UUU:scan", &text, &bullets_s, &terminal_s) || ready(text) < 0 ||
        ready(bullets_s) < 0 || ready(terminal_s) < 0 || charset_from(bullets_s, &bullets, "bullets") < 0 ||
        charset_from(terminal_s, &terminal, "terminal") < 0) {
        return NULL;
    }
    ScanObject *s = PyObject_New(ScanObject, &ScanType);
    if (s == NULL) {
        return NULL;
    }
    /* PyObject_New leaves the fields uninitialised. */
    memset((char *)s + sizeof(PyObject), 0, sizeof(ScanObject) - sizeof(PyObject));
    Py_INCREF(text);
    s->text = text;
    s->kind = PyUnicode_KIND(text);
    s->data = PyUnicode_DATA(text);
    s->length = PyUnicode_GET_LENGTH(text);
    s->bullets = bullets;
    s->terminal = terminal;
    int rc = scan_any(s, &s->bullets, &s->terminal);
    if (rc < 0) {
        Py_DECREF(s);
        return NULL;
    }
    return (PyObject *)s;
}

/* ---- duplicate lines and paragraphs ---- */

typedef struct {
    uint64_t h;
    Py_ssize_t item; /* -1: empty */
} ItemSlot;

/* (items equal to an earlier item, their characters) over spans of one text: text_stats.duplicates. Only items
   whose length another item shares can be equal to one, so only those are hashed (most paragraphs are not). */
static int
count_duplicates(const SpanVec *items, int kind, const void *data, Py_ssize_t *dup, Py_ssize_t *dup_chars)
{
    *dup = *dup_chars = 0;
    Py_ssize_t n = items->n;
    size_t size;
    if (n < 2) {
        return 0;
    }
    if (table_size(n, sizeof(ItemSlot), &size) < 0) {
        return -1;
    }
    ItemSlot *table = alloc_array(size, sizeof(ItemSlot));
    uint8_t *shared = table ? alloc_array((size_t)n, 1) : NULL; /* does another item have this one's length? */
    if (shared == NULL) {
        PyMem_Free(table);
        return -1;
    }
    /* Pass 1: lengths (h holds the length, item the first item with it). */
    for (size_t j = 0; j < size; j++) {
        table[j].item = -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t len = (uint64_t)(items->v[i].end - items->v[i].start);
        for (size_t j = (size_t)mix64(len) & (size - 1);; j = (j + 1) & (size - 1)) {
            ItemSlot *slot = &table[j];
            if (slot->item < 0) {
                slot->h = len;
                slot->item = i;
                shared[i] = 0;
                break;
            }
            if (slot->h == len) {
                shared[slot->item] = shared[i] = 1;
                break;
            }
        }
    }
    /* Pass 2: the contents of items of a shared length. */
    for (size_t j = 0; j < size; j++) {
        table[j].item = -1;
    }
    const unsigned char *bytes = data;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!shared[i]) {
            continue;
        }
        Span s = items->v[i];
        size_t len = (size_t)(s.end - s.start) * (size_t)kind;
        const unsigned char *p = bytes + (size_t)s.start * (size_t)kind;
        uint64_t h = hash_bytes(p, len);
        for (size_t j = (size_t)h & (size - 1);; j = (j + 1) & (size - 1)) {
            ItemSlot *slot = &table[j];
            if (slot->item < 0) {
                slot->h = h;
                slot->item = i;
                break;
            }
            Span o = items->v[slot->item];
            if (slot->h == h && o.end - o.start == s.end - s.start &&
                memcmp(bytes + (size_t)o.start * (size_t)kind, p, len) == 0) {
                (*dup)++;
                *dup_chars += s.end - s.start;
                break;
            }
        }
    }
    PyMem_Free(table);
    PyMem_Free(shared);
    return 0;
}

static PyObject *
duplicates_of(ScanObject *s, const SpanVec *items, PyObject **cache)
{
    if (*cache == NULL) {
        Py_ssize_t dup, chars;
        if (count_duplicates(items, s->kind, s->data, &dup, &chars) < 0) {
            return NULL;
        }
        *cache = pair(dup, chars);
        if (*cache == NULL) {
            return NULL;
        }
    }
    Py_INCREF(*cache);
    return *cache;
}

static PyObject *
scan_line_duplicates(ScanObject *s, PyObject *Py_UNUSED(ignored))
{
    return duplicates_of(s, &s->lines, &s->line_dups);
}

static PyObject *
scan_paragraph_duplicates(ScanObject *s, PyObject *Py_UNUSED(ignored))
{
    return duplicates_of(s, &s->paragraphs, &s->paragraph_dups);
}

/* An int argument clamped to Py_ssize_t (so that any Python int compares as Python would). */
static int
clamped_ssize(PyObject *arg, Py_ssize_t *out)
{
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(arg, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    *out = overflow > 0 ? PY_SSIZE_T_MAX : overflow < 0 ? PY_SSIZE_T_MIN : (Py_ssize_t)v;
    return 0;
}

static PyObject *
scan_short_lines(ScanObject *s, PyObject *arg)
{
    Py_ssize_t limit;
    if (clamped_ssize(arg, &limit) < 0) {
        return NULL;
    }
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < s->lines.n; i++) {
        count += s->lines.v[i].end - s->lines.v[i].start <= limit;
    }
    return PyLong_FromSsize_t(count);
}

/* ---- n-grams of words ---- */

/* A table slot: an n-gram's key and id. For words (level 1) `key` is the word's first 8 bytes (len <= 16) or a
   hash of it (longer), `len` its length in bytes (17: longer than 16); bytes 9-16 and long words are checked
   against the word's first occurrence. For longer n-grams `key` is the exact pair of ids. len 0: empty. */
typedef struct {
    uint64_t key;
    uint32_t len;
    uint32_t id;
} Slot;

static const uint64_t LOW_BYTES[9] = {
    0, 0xFFULL, 0xFFFFULL, 0xFFFFFFULL, 0xFFFFFFFFULL, 0xFFFFFFFFFFULL, 0xFFFFFFFFFFFFULL, 0xFFFFFFFFFFFFFFULL,
    UINT64_MAX,
};

/* A word of `len` bytes at p as (a, b): up to 16 bytes, its bytes themselves (exact with len); longer, a hash
   in a (b = 0). `end`: the end of the text's buffer, never read past. */
static ALWAYS_INLINE void
word_key(const unsigned char *p, size_t len, const unsigned char *end, uint64_t *a, uint64_t *b)
{
    if (len <= 16 && end - p >= 16) {
        *a = load64(p) & LOW_BYTES[len < 8 ? len : 8];
        *b = load64(p + 8) & LOW_BYTES[len > 8 ? len - 8 : 0];
    }
    else if (len <= 16) { /* near the end of the buffer */
        *a = *b = 0;
        for (size_t i = 0; i < len; i++) {
            if (i < 8) {
                *a |= (uint64_t)p[i] << (8 * i);
            }
            else {
                *b |= (uint64_t)p[i] << (8 * (i - 8));
            }
        }
    }
    else {
        *a = hash_bytes(p, len);
        *b = 0;
    }
}

/* Multiplicative hashing: a table of 2^bits slots takes the top bits of the product. */
static ALWAYS_INLINE size_t
key_slot(uint64_t a, uint64_t b, unsigned bits)
{
    return (size_t)((a * 0x9E3779B97F4A7C15ULL + b * 0xC2B2AE3D27D4EB4FULL) >> (64 - bits));
}

static ALWAYS_INLINE unsigned
log2_size(size_t size)
{
    unsigned bits = 0;
    while (((size_t)1 << bits) < size) {
        bits++;
    }
    return bits;
}

static int
same_word(const ScanObject *s, Py_ssize_t i, Py_ssize_t j)
{
    Span a = s->words.v[i], b = s->words.v[j];
    size_t kind = (size_t)s->kind;
    const unsigned char *bytes = s->data;
    return a.end - a.start == b.end - b.start &&
           memcmp(bytes + (size_t)a.start * kind, bytes + (size_t)b.start * kind, (size_t)(a.end - a.start) * kind) ==
               0;
}

static Slot *
new_table(size_t size)
{
    Slot *t = alloc_array(size, sizeof(Slot));
    if (t != NULL) {
        memset(t, 0, size * sizeof(Slot)); /* len 0: empty */
    }
    return t;
}

/* Room for the answers about n-grams of size n, made before numbering them so that nothing fails after. */
static int
answers_room(Grams *g, Py_ssize_t n)
{
    if (n < g->cap) {
        return 0;
    }
    Py_ssize_t c1 = g->cap, c2 = g->cap, c3 = g->cap;
    if (grow((void **)&g->top_count, &c1, n + 1, sizeof(Py_ssize_t)) < 0 ||
        grow((void **)&g->top_first, &c2, n + 1, sizeof(Py_ssize_t)) < 0 ||
        grow((void **)&g->repeated, &c3, n + 1, sizeof(Py_ssize_t)) < 0) {
        return -1;
    }
    g->cap = c1; /* the same growth rule gave all three the same capacity */
    return 0;
}

/* Record the answers for the n-grams just numbered (size g->level), given the characters they repeat. */
static void
record_level(Grams *g, uint32_t n_ids, Py_ssize_t repeated)
{
    Py_ssize_t n = g->level;
    /* Counter.most_common(1): the highest count, ties to the n-gram seen first (ids are in that order). */
    uint32_t best = 0, best_first = 0;
    for (uint32_t id = 0; id < n_ids; id++) {
        if (g->count[id] > best) {
            best = g->count[id];
            best_first = g->first[id];
        }
    }
    g->top_count[n] = best;
    g->top_first[n] = best_first;
    g->repeated[n] = repeated;
}

/* Covered characters: the union of [i, i+n) over positions whose n-gram appeared before, i increasing. */
static ALWAYS_INLINE Py_ssize_t
cover(const Py_ssize_t *prefix, Py_ssize_t i, Py_ssize_t n, Py_ssize_t *covered_end)
{
    Py_ssize_t from = i > *covered_end ? i : *covered_end;
    *covered_end = i + n;
    return prefix[i + n] - prefix[from];
}

/* Keep in `pos` the positions whose n-gram occurs more than once; the others become NONE. */
static void
drop_unique(Grams *g)
{
    Py_ssize_t kept = 0;
    for (Py_ssize_t k = 0; k < g->n_pos; k++) {
        uint32_t i = g->pos[k], id = g->gid[i];
        int repeats = g->count[id] > 1;
        g->pos[kept] = i;
        kept += repeats;
        g->gid[i] = repeats ? id : NONE;
    }
    g->n_pos = kept;
}

static int
grow_word_table(Slot **table, size_t *size, const uint64_t *tails)
{
    size_t bigger = *size * 2;
    Slot *t = new_table(bigger);
    if (t == NULL) {
        return -1;
    }
    for (size_t j = 0; j < *size; j++) {
        Slot old = (*table)[j];
        if (old.len) {
            uint64_t tail = old.len > 8 && old.len <= 16 ? tails[old.id] : 0;
            size_t at = key_slot(old.key ^ old.len, tail, log2_size(bigger));
            while (t[at].len) {
                at = (at + 1) & (bigger - 1);
            }
            t[at] = old;
        }
    }
    PyMem_Free(*table);
    *table = t;
    *size = bigger;
    return 0;
}

/* Level 1: word ids in order of first occurrence. The table grows with the vocabulary (much smaller than the
   text), which keeps it in cache. */
static int
number_words(ScanObject *s)
{
    Grams *g = &s->grams;
    Py_ssize_t w = s->words.n;
    if ((size_t)w >= NONE) {
        PyErr_SetString(PyExc_OverflowError, "too many words for n-gram statistics");
        return -1;
    }
    /* Room for a vocabulary of about 16 sqrt(words) (Heaps' law, generously) before the table first grows. */
    size_t size = 256;
    while (size * size < (size_t)w * 1024) {
        size *= 2;
    }
    grams_free(g); /* what an earlier attempt that ran out of memory left */
    if (answers_room(g, 1) < 0) {
        return -1;
    }
    g->gid = alloc_array((size_t)w, sizeof(uint32_t));
    g->pos = g->gid ? alloc_array((size_t)w, sizeof(uint32_t)) : NULL;
    g->count = g->pos ? alloc_array((size_t)w, sizeof(uint32_t)) : NULL;
    g->first = g->count ? alloc_array((size_t)w, sizeof(uint32_t)) : NULL;
    g->prefix = g->first ? alloc_array((size_t)w + 1, sizeof(Py_ssize_t)) : NULL;
    uint64_t *tails = g->prefix ? alloc_array((size_t)w, sizeof(uint64_t)) : NULL; /* per id: bytes 9-16 */
    Slot *table = tails ? new_table(size) : NULL;
    if (table == NULL) {
        PyMem_Free(tails);
        return -1;
    }
    const Span *words = s->words.v;
    const unsigned char *bytes = s->data;
    size_t kind = (size_t)s->kind;
    const unsigned char *end = bytes + (size_t)s->length * kind;
    uint32_t n_ids = 0;
    unsigned bits = log2_size(size);
    Py_ssize_t covered_end = 0, repeated = 0, chars = 0;
    g->prefix[0] = 0;
    for (Py_ssize_t i = 0; i < w; i++) {
        Span sp = words[i];
        chars += sp.end - sp.start;
        g->prefix[i + 1] = chars;
        size_t len = (size_t)(sp.end - sp.start) * kind;
        uint64_t a, b;
        word_key(bytes + (size_t)sp.start * kind, len, end, &a, &b);
        uint32_t klen = len <= 16 ? (uint32_t)len : 17;
        size_t home = key_slot(a ^ klen, b, bits);
        if ((size_t)(n_ids + 1) * 2 > size) {
            if (grow_word_table(&table, &size, tails) < 0) {
                PyMem_Free(table);
                PyMem_Free(tails);
                return -1;
            }
            bits = log2_size(size);
            home = key_slot(a ^ klen, b, bits);
        }
        for (size_t j = home;; j = (j + 1) & (size - 1)) {
            Slot *slot = &table[j];
            if (!slot->len) {
                slot->key = a;
                slot->len = klen;
                slot->id = n_ids;
                tails[n_ids] = b;
                g->gid[i] = n_ids;
                g->count[n_ids] = 1;
                g->first[n_ids] = (uint32_t)i;
                n_ids++;
                break;
            }
            if (slot->key == a && slot->len == klen) {
                if (klen <= 8 || (klen <= 16 ? tails[slot->id] == b : same_word(s, g->first[slot->id], i))) {
                    g->gid[i] = slot->id;
                    g->count[slot->id]++;
                    repeated += cover(g->prefix, i, 1, &covered_end);
                    break;
                }
            }
        }
    }
    PyMem_Free(table);
    PyMem_Free(tails);
    g->level = 1;
    record_level(g, n_ids, repeated);
    Py_ssize_t kept = 0; /* drop_unique over every position */
    for (Py_ssize_t i = 0; i < w; i++) {
        uint32_t id = g->gid[i];
        int repeats = g->count[id] > 1;
        g->pos[kept] = (uint32_t)i;
        kept += repeats;
        g->gid[i] = repeats ? id : NONE;
    }
    g->n_pos = kept;
    return 0;
}

/* Size n -> n+1: the (n+1)-gram at i is the pair (n-gram at i, n-gram at i+1); it can only repeat where both
   of those repeat, so only those positions are hashed. */
static int
next_level(ScanObject *s)
{
    Grams *g = &s->grams;
    Py_ssize_t n = g->level, last = s->words.n - n - 1; /* the last position of an (n+1)-gram */
    size_t size;
    if (answers_room(g, n + 1) < 0 || table_size(g->n_pos, sizeof(Slot), &size) < 0) {
        return -1;
    }
    Slot *table = new_table(size);
    if (table == NULL) {
        return -1;
    }
    unsigned bits = log2_size(size);
    uint32_t n_ids = 0;
    Py_ssize_t kept = 0, covered_end = 0, repeated = 0;
    for (Py_ssize_t k = 0; k < g->n_pos; k++) {
        uint32_t i = g->pos[k];
        /* gid[i + 1] still holds the n-gram id: positions are visited in increasing order. */
        if ((Py_ssize_t)i > last || g->gid[i + 1] == NONE) {
            g->gid[i] = NONE;
            continue;
        }
        uint64_t key = (uint64_t)g->gid[i] << 32 | g->gid[i + 1];
        for (size_t j = key_slot(key, 0, bits);; j = (j + 1) & (size - 1)) {
            Slot *slot = &table[j];
            if (!slot->len) {
                slot->key = key;
                slot->len = 1;
                slot->id = n_ids;
                g->gid[i] = n_ids;
                g->count[n_ids] = 1;
                g->first[n_ids] = i;
                n_ids++;
                break;
            }
            if (slot->key == key) {
                g->gid[i] = slot->id;
                g->count[slot->id]++;
                repeated += cover(g->prefix, i, n + 1, &covered_end);
                break;
            }
        }
        g->pos[kept++] = i;
    }
    PyMem_Free(table);
    g->n_pos = kept;
    g->level = n + 1;
    record_level(g, n_ids, repeated);
    drop_unique(g);
    return 0;
}

/* n from Python: an n-gram size with its n-grams numbered, or 0 when there are no n-grams of that size. */
static int
gram_size(ScanObject *s, PyObject *arg, Py_ssize_t *n)
{
    if (clamped_ssize(arg, n) < 0) {
        return -1;
    }
    if (*n < 1 || *n > s->words.n) {
        *n = 0;
        return 0;
    }
    if (s->grams.level == 0 && number_words(s) < 0) {
        return -1;
    }
    while (s->grams.level < *n) {
        if (next_level(s) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *
scan_top_ngram_chars(ScanObject *s, PyObject *arg)
{
    Py_ssize_t n;
    if (gram_size(s, arg, &n) < 0) {
        return NULL;
    }
    if (n == 0 || s->grams.top_count[n] <= 1) {
        return PyLong_FromLong(0);
    }
    Py_ssize_t first = s->grams.top_first[n];
    PyObject *count = PyLong_FromSsize_t(s->grams.top_count[n]);
    PyObject *chars = PyLong_FromSsize_t(s->grams.prefix[first + n] - s->grams.prefix[first]);
    PyObject *result = count && chars ? PyNumber_Multiply(count, chars) : NULL;
    Py_XDECREF(count);
    Py_XDECREF(chars);
    return result;
}

static PyObject *
scan_repeated_ngram_chars(ScanObject *s, PyObject *arg)
{
    Py_ssize_t n;
    if (gram_size(s, arg, &n) < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(n == 0 ? 0 : s->grams.repeated[n]);
}

static PyMethodDef scan_methods[] = {
    {"line_duplicates", (PyCFunction)scan_line_duplicates, METH_NOARGS,
     "(non-blank lines equal to an earlier one, their characters)"},
    {"paragraph_duplicates", (PyCFunction)scan_paragraph_duplicates, METH_NOARGS,
     "(paragraphs equal to an earlier one, their characters)"},
    {"short_lines", (PyCFunction)scan_short_lines, METH_O, "Non-blank lines of at most `limit` characters."},
    {"top_ngram_chars", (PyCFunction)scan_top_ngram_chars, METH_O,
     "Characters covered by all occurrences of the most frequent word n-gram (0 unless it repeats)."},
    {"repeated_ngram_chars", (PyCFunction)scan_repeated_ngram_chars, METH_O,
     "Characters of the words covered by n-grams that appeared earlier in the text."},
    {NULL, NULL, 0, NULL},
};

#define SCAN_MEMBER(name, doc) {#name, T_PYSSIZET, offsetof(ScanObject, name), READONLY, doc}

static PyMemberDef scan_members[] = {
    SCAN_MEMBER(n_tokens, "tokens (text_stats.tokens)"),
    SCAN_MEMBER(n_symbol_tokens, "tokens without a letter or digit"),
    SCAN_MEMBER(n_no_alpha_tokens, "tokens without a letter"),
    SCAN_MEMBER(n_unsegmented, "tokens of scripts written without spaces (a character and its marks)"),
    SCAN_MEMBER(word_chars, "characters inside words"),
    SCAN_MEMBER(n_lines, "non-blank lines"),
    SCAN_MEMBER(n_bullet_lines, "lines whose first non-space character is a bullet"),
    SCAN_MEMBER(n_ellipsis_lines, "lines ending (before trailing spaces) in an ellipsis"),
    SCAN_MEMBER(n_punct_lines, "lines ending (before trailing spaces) in terminal punctuation"),
    SCAN_MEMBER(n_paragraphs, "paragraphs"),
    SCAN_MEMBER(n_newlines, "text.count('\\n')"),
    SCAN_MEMBER(n_hashes, "text.count('#')"),
    SCAN_MEMBER(n_ellipses, "text.count('...') + text.count('\\u2026')"),
    SCAN_MEMBER(n_sentences, "matches of text_stats._SENTENCE_END_RE"),
    {NULL, 0, 0, 0, NULL},
};

static PyObject *
scan_n_words(ScanObject *s, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(s->words.n);
}

static PyGetSetDef scan_getset[] = {
    {"n_words", (getter)scan_n_words, NULL, "words (tokens with a letter or digit)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ScanType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lmforge.pipeline.curate._textstats.Scan",
    .tp_basicsize = sizeof(ScanObject),
    .tp_dealloc = (destructor)scan_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Statistics of one text, made by scan(); n-gram and duplicate questions are answered on demand.",
    .tp_methods = scan_methods,
    .tp_members = scan_members,
    .tp_getset = scan_getset,
};

/* ------------------------------------------------------------------------------------------------------------
   Phrases: literal alternatives found exactly where a compiled `re` alternation finds them
   ------------------------------------------------------------------------------------------------------------ */

enum { ATOM_EXACT, ATOM_FOLD, ATOM_SPACES };
#define ATOM_MAX_VALUES 4

typedef struct {
    int type;
    int n;                      /* values in v */
    Py_UCS4 v[ATOM_MAX_VALUES]; /* EXACT: the character; FOLD: the lower cases it matches */
} Atom;

typedef struct {
    Atom *atoms;
    Py_ssize_t n;
} Alternative;

/* The bytes of a 1-byte string that one atom matches, as at most two comparisons of 16 bytes at a time: with
   `folded` the comparison is of (byte | 0x20), which matches exactly the two cases of an ASCII letter. */
typedef struct {
    int n;          /* comparisons; -1: any byte */
    int folded[2];
    uint8_t vec[2][16];
} ByteTest;

#define MAX_PREFIXES 16

typedef struct {
    PyObject_HEAD
    Alternative *alts;
    Py_ssize_t n_alts;
    int word_bounded;
    uint8_t first[128];           /* can this ASCII character start some alternative? */
    uint8_t pairs[128 * 128 / 8]; /* can these two ASCII characters start some alternative? (bits) */
    int uncased_first;            /* can a non-ASCII character without case start some alternative? */
    int n_prefixes;               /* 1-byte strings: tests of the first three characters; -1: too many */
    ByteTest prefixes[MAX_PREFIXES][3];
} PhrasesObject;

static ALWAYS_INLINE int
atom_matches(const Atom *a, Py_UCS4 c)
{
    if (a->type == ATOM_EXACT) {
        return c == a->v[0];
    }
    if (a->type == ATOM_SPACES) {
        return is_space(c);
    }
    Py_UCS4 lower = fold(c);
    for (int k = 0; k < a->n; k++) {
        if (a->v[k] == lower) {
            return 1;
        }
    }
    return 0;
}

/* End of the alternative matched at `pos` (not beyond `end`), or -1. A space run is greedy: the atom after it
   never matches a space (checked when the phrases are compiled), so backtracking could not help. */
static ALWAYS_INLINE Py_ssize_t
match_at(const Alternative *alt, int kind, const void *d, Py_ssize_t pos, Py_ssize_t end)
{
    Py_ssize_t j = pos;
    for (Py_ssize_t a = 0; a < alt->n; a++) {
        const Atom *atom = &alt->atoms[a];
        if (j >= end || !atom_matches(atom, rd(kind, d, j))) {
            return -1;
        }
        j++;
        if (atom->type == ATOM_SPACES) {
            while (j < end && is_space(rd(kind, d, j))) {
                j++;
            }
        }
    }
    return j;
}

/* Does an alternative match at s (the first, in order, that does)? */
static ALWAYS_INLINE int
phrases_at(const PhrasesObject *p, int kind, const void *d, Py_ssize_t begin, Py_ssize_t s, Py_ssize_t end,
           Py_ssize_t *m_end)
{
    if (p->word_bounded && s > begin && is_word(rd(kind, d, s - 1))) {
        return 0;
    }
    for (Py_ssize_t a = 0; a < p->n_alts; a++) {
        Py_ssize_t e = match_at(&p->alts[a], kind, d, s, end);
        if (e >= 0 && (!p->word_bounded || e >= end || !is_word(rd(kind, d, e)))) {
            *m_end = e;
            return 1;
        }
    }
    return 0;
}

#if USE_SSE2
static ALWAYS_INLINE __m128i
byte_test(const ByteTest *t, __m128i v, __m128i folded)
{
    if (t->n < 0) {
        return _mm_set1_epi8(-1);
    }
    __m128i m = _mm_setzero_si128();
    for (int k = 0; k < t->n; k++) {
        m = _mm_or_si128(m, _mm_cmpeq_epi8(t->folded[k] ? folded : v, _mm_loadu_si128((const __m128i *)t->vec[k])));
    }
    return m;
}
#endif

/* Leftmost match in [pos, end), alternatives tried in order, like re's search(text, pos, end). The word
   boundaries are (?<!\w) before and (?!\w) after; the one before sees characters from `begin` on. */
static ALWAYS_INLINE int
phrases_find(const PhrasesObject *p, int kind, const void *d, Py_ssize_t begin, Py_ssize_t pos, Py_ssize_t end,
             Py_ssize_t *m_start, Py_ssize_t *m_end)
{
    Py_ssize_t s = pos;
#if USE_SSE2
    if (kind == PyUnicode_1BYTE_KIND && p->n_prefixes >= 0) {
        /* 16 starts at a time: the positions whose three characters can begin an alternative. */
        const Py_UCS1 *b = d;
        __m128i case_bit = _mm_set1_epi8(0x20);
        for (; s + 18 <= end; s += 16) {
            __m128i v0 = _mm_loadu_si128((const __m128i *)(b + s)), v1 = _mm_loadu_si128((const __m128i *)(b + s + 1)),
                    v2 = _mm_loadu_si128((const __m128i *)(b + s + 2));
            __m128i f0 = _mm_or_si128(v0, case_bit), f1 = _mm_or_si128(v1, case_bit), f2 = _mm_or_si128(v2, case_bit);
            __m128i hits = _mm_setzero_si128();
            for (int k = 0; k < p->n_prefixes; k++) {
                __m128i m = _mm_and_si128(byte_test(&p->prefixes[k][0], v0, f0), byte_test(&p->prefixes[k][1], v1, f1));
                hits = _mm_or_si128(hits, _mm_and_si128(m, byte_test(&p->prefixes[k][2], v2, f2)));
            }
            unsigned mask = (unsigned)_mm_movemask_epi8(hits);
            while (mask) {
                Py_ssize_t t = s + __builtin_ctz(mask);
                mask &= mask - 1;
                if (phrases_at(p, kind, d, begin, t, end, m_end)) {
                    *m_start = t;
                    return 1;
                }
            }
        }
    }
#endif
    for (; s < end; s++) {
        Py_UCS4 c = rd(kind, d, s);
        if (c < 128) {
            Py_UCS4 next = s + 1 < end ? rd(kind, d, s + 1) : 128;
            if (next < 128 ? !(p->pairs[(c << 4) | (next >> 3)] & (1u << (next & 7))) : !p->first[c]) {
                continue;
            }
        }
        else {
            /* A character without case matches an atom only as itself (CJK text skips here). */
            int possible = p->uncased_first || (char_class(c) & CL_CASED);
            for (Py_ssize_t a = 0; a < p->n_alts && possible == 1; a++) {
                possible = atom_matches(&p->alts[a].atoms[0], c) ? 2 : 1;
            }
            if (possible != 2) {
                continue;
            }
        }
        if (phrases_at(p, kind, d, begin, s, end, m_end)) {
            *m_start = s;
            return 1;
        }
    }
    return 0;
}

static int
phrases_search_in(const PhrasesObject *p, PyObject *text, Py_ssize_t begin, Py_ssize_t pos, Py_ssize_t end,
                  Py_ssize_t *s, Py_ssize_t *e)
{
    const void *d = PyUnicode_DATA(text);
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        return phrases_find(p, PyUnicode_1BYTE_KIND, d, begin, pos, end, s, e);
    case PyUnicode_2BYTE_KIND:
        return phrases_find(p, PyUnicode_2BYTE_KIND, d, begin, pos, end, s, e);
    default:
        return phrases_find(p, PyUnicode_4BYTE_KIND, d, begin, pos, end, s, e);
    }
}

static void
phrases_dealloc(PhrasesObject *p)
{
    for (Py_ssize_t a = 0; a < p->n_alts; a++) {
        PyMem_Free(p->alts[a].atoms);
    }
    PyMem_Free(p->alts);
    Py_TYPE(p)->tp_free((PyObject *)p);
}

/* One pattern character as sre compiles it: uncased or case-sensitive -> exact; else its simple lower case and
   the extra cases `fixes` lists for it (re._casefix._EXTRA_CASES). */
static int
compile_atom(Py_UCS4 c, int ignore_case, PyObject *fixes, Atom *atom)
{
    atom->type = ATOM_EXACT;
    atom->n = 1;
    atom->v[0] = c;
    if (!ignore_case || !(Py_UNICODE_TOLOWER(c) != c || Py_UNICODE_TOUPPER(c) != c)) {
        return 0;
    }
    atom->type = ATOM_FOLD;
    atom->v[0] = Py_UNICODE_TOLOWER(c);
    PyObject *key = PyLong_FromUnsignedLong(atom->v[0]);
    if (key == NULL) {
        return -1;
    }
    PyObject *extra = PyDict_GetItemWithError(fixes, key);
    Py_DECREF(key);
    if (extra == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject *seq = PySequence_Fast(extra, "fixes: values must be sequences of code points");
    if (seq == NULL) {
        return -1;
    }
    Py_ssize_t m = PySequence_Fast_GET_SIZE(seq);
    if (m + 1 > ATOM_MAX_VALUES) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "fixes: too many case equivalents for one character");
        return -1;
    }
    for (Py_ssize_t k = 0; k < m; k++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, k));
        if (v == -1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
        if (v < 0 || v > 0x10FFFF) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "fixes: code points must be in [0, 0x10FFFF]");
            return -1;
        }
        atom->v[atom->n++] = (Py_UCS4)v;
    }
    Py_DECREF(seq);
    return 0;
}

static int
compile_alternative(PyObject *phrase, int ignore_case, int space_runs, PyObject *fixes, Alternative *alt)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(phrase);
    if (n == 0) {
        PyErr_SetString(PyExc_ValueError, "phrases must not be empty");
        return -1;
    }
    alt->atoms = PyMem_Calloc((size_t)n, sizeof(Atom));
    if (alt->atoms == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    alt->n = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ_CHAR(phrase, i);
        Atom *atom = &alt->atoms[alt->n++];
        if (space_runs && c == ' ') {
            if (i == 0 || i == n - 1 || PyUnicode_READ_CHAR(phrase, i + 1) == ' ') {
                PyErr_SetString(PyExc_ValueError, "space_runs: single spaces between words only");
                return -1;
            }
            atom->type = ATOM_SPACES;
            atom->n = 0;
            continue;
        }
        if (space_runs && is_space(c)) {
            PyErr_SetString(PyExc_ValueError, "space_runs: words must not hold whitespace other than ' '");
            return -1;
        }
        if (compile_atom(c, ignore_case, fixes, atom) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The bytes an atom matches, as comparisons (0: never; -1: not expressible in two). */
static int
compile_byte_test(const Atom *atom, ByteTest *t)
{
    int n = 0, values[256];
    for (int c = 0; c < 256; c++) {
        if (atom_matches(atom, (Py_UCS4)c)) {
            values[n++] = c;
        }
    }
    t->n = 0;
    for (int k = 0; k < n; k++) {
        int c = values[k], folded = 0;
        if (c < 0) {
            continue; /* taken with its other case */
        }
        for (int m = k + 1; m < n; m++) {
            if (c < 128 && values[m] == (c ^ 0x20) && (c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
                values[m] = -1;
                folded = 1;
            }
        }
        if (t->n == 2) {
            return -1;
        }
        t->folded[t->n] = folded;
        memset(t->vec[t->n], folded ? c | 0x20 : c, 16);
        t->n++;
    }
    return t->n;
}

/* The SIMD prefilter of 1-byte strings: a test of the first three characters per alternative (any character
   past a short one's end: the scalar tail covers the last positions), duplicates merged. */
static void
compile_prefixes(PhrasesObject *p)
{
    p->n_prefixes = 0;
    for (Py_ssize_t a = 0; a < p->n_alts; a++) {
        const Alternative *alt = &p->alts[a];
        ByteTest t[3];
        memset(t, 0, sizeof(t));
        int possible = 1;
        for (Py_ssize_t k = 0; k < 3; k++) {
            int n = k < alt->n ? compile_byte_test(&alt->atoms[k], &t[k]) : (t[k].n = -1);
            if (k < alt->n && (n < 0 || alt->atoms[k].type == ATOM_SPACES)) { /* a run has no fixed width */
                p->n_prefixes = -1;
                return;
            }
            possible &= n != 0;
        }
        if (!possible) {
            continue; /* cannot start in a 1-byte string */
        }
        int seen = 0;
        for (int k = 0; k < p->n_prefixes && !seen; k++) {
            seen = memcmp(&p->prefixes[k], t, sizeof(t)) == 0;
        }
        if (seen) {
            continue;
        }
        if (p->n_prefixes == MAX_PREFIXES) {
            p->n_prefixes = -1;
            return;
        }
        memcpy(&p->prefixes[p->n_prefixes++], t, sizeof(t));
    }
}

static PyObject *
phrases_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"phrases", "ignore_case", "word_bounded", "space_runs", "fixes", NULL};
    PyObject *phrases, *fixes = Py_None;
    int ignore_case = 0, word_bounded = 0, space_runs = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$pppO:Phrases", keywords, &phrases, &ignore_case,
                                     &word_bounded, &space_runs, &fixes)) {
        return NULL;
    }
    if (ignore_case && !PyDict_Check(fixes)) {
        PyErr_SetString(PyExc_TypeError, "ignore_case needs fixes: re's extra case equivalences (a dict)");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(phrases, "phrases must be a sequence of str");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t m = PySequence_Fast_GET_SIZE(seq);
    PhrasesObject *p = (PhrasesObject *)type->tp_alloc(type, 0);
    if (p == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    p->word_bounded = word_bounded;
    p->alts = PyMem_Calloc(m ? (size_t)m : 1, sizeof(Alternative));
    if (p->alts == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t a = 0; a < m; a++) {
        PyObject *phrase = PySequence_Fast_GET_ITEM(seq, a);
        if (!PyUnicode_Check(phrase) || ready(phrase) < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "phrases must be a sequence of str");
            }
            goto fail;
        }
        p->n_alts = a + 1;
        if (compile_alternative(phrase, ignore_case, space_runs, fixes, &p->alts[a]) < 0) {
            goto fail;
        }
    }
    /* Which ASCII characters, and pairs of them, can start a match: the search skips the rest. */
    for (Py_UCS4 c = 0; c < 128; c++) {
        for (Py_ssize_t a = 0; a < p->n_alts; a++) {
            const Alternative *alt = &p->alts[a];
            if (!atom_matches(&alt->atoms[0], c)) {
                continue;
            }
            p->first[c] = 1;
            for (Py_UCS4 next = 0; next < 128; next++) {
                /* (A phrase never starts with a space run.) */
                if (alt->n == 1 || atom_matches(&alt->atoms[1], next)) {
                    p->pairs[(c << 4) | (next >> 3)] |= (uint8_t)(1u << (next & 7));
                }
            }
        }
    }
    compile_prefixes(p);
    for (Py_ssize_t a = 0; a < p->n_alts; a++) {
        const Atom *first = &p->alts[a].atoms[0];
        for (int k = 0; k < first->n; k++) {
            p->uncased_first |= first->type != ATOM_SPACES && first->v[k] >= 128;
        }
    }
    Py_DECREF(seq);
    return (PyObject *)p;
fail:
    Py_DECREF(seq);
    Py_DECREF(p);
    return NULL;
}

static PyObject *
phrases_search(PhrasesObject *p, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"text", "pos", "endpos", NULL};
    PyObject *text;
    Py_ssize_t pos = 0, end = PY_SSIZE_T_MAX, s, e;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "U|nn:search", keywords, &text, &pos, &end) ||
        ready(text) < 0) {
        return NULL;
    }
    /* re's clamping of pos and endpos */
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    pos = pos < 0 ? 0 : (pos > length ? length : pos);
    end = end < 0 ? 0 : (end > length ? length : end);
    if (!phrases_search_in(p, text, 0, pos, end, &s, &e)) {
        Py_RETURN_NONE;
    }
    return pair(s, e);
}

/* How many distinct text[start:end].lower() among the matches, left to right as finditer gives them, counting
   no further than `limit`. */
static PyObject *
phrases_distinct(PhrasesObject *p, PyObject *args)
{
    PyObject *text;
    Py_ssize_t limit, pos = 0, s, e;
    if (!PyArg_ParseTuple(args, "Un:distinct", &text, &limit) || ready(text) < 0) {
        return NULL;
    }
    PyObject *seen = PySet_New(NULL);
    if (seen == NULL) {
        return NULL;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    while (PySet_GET_SIZE(seen) < limit && phrases_search_in(p, text, 0, pos, length, &s, &e)) {
        PyObject *match = PyUnicode_Substring(text, s, e);
        PyObject *lower = match ? PyObject_CallMethod(match, "lower", NULL) : NULL;
        Py_XDECREF(match);
        if (lower == NULL || PySet_Add(seen, lower) < 0) {
            Py_XDECREF(lower);
            Py_DECREF(seen);
            return NULL;
        }
        Py_DECREF(lower);
        pos = e;
    }
    Py_ssize_t n = PySet_GET_SIZE(seen);
    Py_DECREF(seen);
    return PyLong_FromSsize_t(n);
}

static PyMethodDef phrases_methods[] = {
    {"search", (PyCFunction)(void (*)(void))phrases_search, METH_VARARGS | METH_KEYWORDS,
     "search(text, pos=0, endpos=sys.maxsize): (start, end) of the first match, like re's search, or None."},
    {"distinct", (PyCFunction)phrases_distinct, METH_VARARGS,
     "distinct(text, limit): distinct lower-cased matches, counted up to `limit`."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PhrasesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lmforge.pipeline.curate._textstats.Phrases",
    .tp_basicsize = sizeof(PhrasesObject),
    .tp_dealloc = (destructor)phrases_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Phrases(phrases, *, ignore_case=False, word_bounded=False, space_runs=False, fixes=None)\n--\n\n"
              "Literal alternatives found where re finds `(?<!\\w)(?:a|b|...)(?!\\w)` (the boundaries only with\n"
              "word_bounded), with re.IGNORECASE when ignore_case (fixes: re._casefix._EXTRA_CASES); with\n"
              "space_runs a ' ' in a phrase stands for \\s+.",
    .tp_methods = phrases_methods,
    .tp_new = phrases_new,
};

/* ------------------------------------------------------------------------------------------------------------
   C4: every unit judged in one call, from the scan's tokens and sentence ends
   ------------------------------------------------------------------------------------------------------------ */

typedef struct {
    int by_paragraph, drop_no_terminal;
    CharSet terminal;
    Py_ssize_t min_words, max_word_chars;
    const PhrasesObject *phrases; /* NULL: no phrase anywhere in the text */
} C4Rules;

static ALWAYS_INLINE Py_ssize_t
find_newline(int kind, const void *d, Py_ssize_t i, Py_ssize_t n)
{
    if (kind == PyUnicode_1BYTE_KIND) {
        const Py_UCS1 *p = memchr((const Py_UCS1 *)d + i, '\n', (size_t)(n - i));
        return p ? p - (const Py_UCS1 *)d : n;
    }
    while (i < n && rd(kind, d, i) != '\n') {
        i++;
    }
    return i;
}

/* End of the unit starting at `a`, and where the next one starts (-1: this is the last). */
static ALWAYS_INLINE Py_ssize_t
unit_end(const C4Rules *r, int kind, const void *d, Py_ssize_t n, Py_ssize_t a, Py_ssize_t *next)
{
    Py_ssize_t i = a;
    while ((i = find_newline(kind, d, i, n)) < n) {
        if (!r->by_paragraph) {
            *next = i + 1;
            return i;
        }
        /* \n[^\S\n]*\n */
        Py_ssize_t j = i + 1;
        while (j < n && rd(kind, d, j) != '\n' && is_space(rd(kind, d, j))) {
            j++;
        }
        if (j < n && rd(kind, d, j) == '\n') {
            *next = j + 1;
            return i;
        }
        i = j;
    }
    *next = -1;
    return n;
}

/* C4Filter._keep_unit on text[a:b], stripped here. Units are whitespace-separated, so tokens lie in one unit:
   *tok walks the scan's tokens along. */
static ALWAYS_INLINE int
keep_unit(const C4Rules *r, const ScanObject *s, int kind, const void *d, Py_ssize_t a, Py_ssize_t b,
          Py_ssize_t *tok)
{
    Py_ssize_t t = *tok, tokens = 0, longest = 0;
    for (; t < s->tokens.n && s->tokens.v[t].start < b; t++) {
        Py_ssize_t len = s->tokens.v[t].end - s->tokens.v[t].start;
        tokens++;
        longest = len > longest ? len : longest;
    }
    *tok = t;
    if (!tokens) {
        return 0; /* only whitespace */
    }
    while (is_space(rd(kind, d, a))) {
        a++;
    }
    while (is_space(rd(kind, d, b - 1))) {
        b--;
    }
    if (r->drop_no_terminal) {
        Py_UCS4 last = rd(kind, d, b - 1);
        if (!in_charset(&r->terminal, last) || last == ELLIPSIS_CHAR ||
            (last == '.' && b - a >= 3 && rd(kind, d, b - 2) == '.' && rd(kind, d, b - 3) == '.')) {
            return 0;
        }
    }
    if (longest > r->max_word_chars || tokens < r->min_words) {
        return 0;
    }
    Py_ssize_t ms, me;
    return r->phrases == NULL || !phrases_find(r->phrases, kind, d, a, a, b, &ms, &me);
}

static ALWAYS_INLINE int
c4_kind(const C4Rules *r, const ScanObject *s, int kind, const void *d, Py_ssize_t *n_units, SpanVec *kept,
        Py_ssize_t *sentences)
{
    Py_ssize_t a = 0, next, tok = 0, end = 0, n = s->length;
    const IndexVec *ends = &s->sentence_ends;
    do {
        Py_ssize_t b = unit_end(r, kind, d, n, a, &next);
        (*n_units)++;
        int keep = keep_unit(r, s, kind, d, a, b, &tok);
        /* text_stats.count_sentences(text[a:b]): the matches in the whole text that start in [a, b). */
        Py_ssize_t count = 0;
        for (; end < ends->n && ends->v[end] < b; end++) {
            count++;
        }
        if (keep) {
            if (spans_push(kept, a, b) < 0) {
                return -1;
            }
            *sentences += count > 1 ? count : 1;
        }
        a = next;
    } while (a >= 0);
    return 0;
}

/* joiner.join(text[a:b].strip("\n") for a, b in kept), as a canonical str. */
static PyObject *
join_units(const ScanObject *s, const SpanVec *kept, Py_ssize_t joiner)
{
    int kind = s->kind;
    const char *d = s->data;
    Py_ssize_t total = joiner * (kept->n - 1);
    for (Py_ssize_t k = 0; k < kept->n; k++) {
        Span u = kept->v[k];
        while (u.start < u.end && rd(kind, d, u.start) == '\n') {
            u.start++;
        }
        while (u.end > u.start && rd(kind, d, u.end - 1) == '\n') {
            u.end--;
        }
        kept->v[k] = u;
        total += u.end - u.start;
    }
    char *buf = alloc_array((size_t)total, (size_t)kind);
    if (buf == NULL) {
        return NULL;
    }
    Py_ssize_t at = 0;
    for (Py_ssize_t k = 0; k < kept->n; k++) {
        for (Py_ssize_t j = 0; k > 0 && j < joiner; j++, at++) {
            PyUnicode_WRITE(kind, buf, at, '\n');
        }
        Span u = kept->v[k];
        memcpy(buf + (size_t)at * (size_t)kind, d + (size_t)u.start * (size_t)kind, (size_t)(u.end - u.start) * (size_t)kind);
        at += u.end - u.start;
    }
    PyObject *text = PyUnicode_FromKindAndData(kind, buf, total);
    PyMem_Free(buf);
    return text;
}

/* '\n', '#' and the text_stats ellipses ("..." non-overlapping, and '…') in [a, b). */
static void
count_symbols(int kind, const void *d, Py_ssize_t a, Py_ssize_t b, Py_ssize_t *newlines, Py_ssize_t *hashes,
              Py_ssize_t *ellipses)
{
    if (kind == PyUnicode_1BYTE_KIND) {
        const Py_UCS1 *p = (const Py_UCS1 *)d;
        Py_ssize_t nl = 0, h = 0;
        for (Py_ssize_t j = a; j < b; j++) {
            nl += p[j] == '\n';
            h += p[j] == '#';
        }
        *newlines += nl;
        *hashes += h;
        /* str.count("..."): runs of dots, three at a time */
        const Py_UCS1 *q = p + a, *end = p + b;
        while (q < end && (q = memchr(q, '.', (size_t)(end - q))) != NULL) {
            Py_ssize_t dots = 0;
            while (q < end && *q == '.') {
                dots++;
                q++;
            }
            *ellipses += dots / 3;
        }
        return;
    }
    Py_ssize_t dots = 0;
    for (Py_ssize_t j = a; j < b; j++) {
        Py_UCS4 c = rd(kind, d, j);
        *newlines += c == '\n';
        *hashes += c == '#';
        *ellipses += c == ELLIPSIS_CHAR;
        dots = c == '.' ? dots + 1 : 0;
        if (dots == 3) {
            (*ellipses)++;
            dots = 0;
        }
    }
}

/* Tokens [from, to) of a scan: those without a letter (not unsegmented: emit_unsegmented counts those as alpha),
   and unsegmented ones (a character of such a script with the marks after it). */
static void
classify_tokens(const ScanObject *s, Py_ssize_t from, Py_ssize_t to, Py_ssize_t *no_alpha, Py_ssize_t *unseg)
{
    int kind = s->kind;
    const void *d = s->data;
    for (Py_ssize_t i = from; i < to; i++) {
        Span t = s->tokens.v[i];
        unsigned k0 = char_class(rd(kind, d, t.start));
        if (k0 & CL_UNSEG) { /* a spaced token never holds such a character */
            (*unseg)++;
            continue;
        }
        if (k0 & CL_ALPHA) {
            continue; /* the usual word */
        }
        int alpha = 0;
        for (Py_ssize_t j = t.start + 1; j < t.end && !alpha; j++) {
            alpha = (char_class(rd(kind, d, j)) & CL_ALPHA) != 0;
        }
        *no_alpha += !alpha;
    }
}

/* The scan of `text` = "\n\n".join(kept units) (join_units on paragraph units: `kept` holds them stripped of
   '\n'), from the scan `s` of the text they come from, without reading that text again. Exact because units end
   at whitespace: tokens, lines and sentence ends of the new text are those inside the kept units (shifted), and
   each kept unit is one paragraph (a unit holds no \n\s*\n: that would have split it). */
static PyObject *
derive_scan(const ScanObject *s, const SpanVec *kept, PyObject *text)
{
    const Py_ssize_t joiner = 2;
    ScanObject *r = PyObject_New(ScanObject, &ScanType);
    if (r == NULL) {
        return NULL;
    }
    memset((char *)r + sizeof(PyObject), 0, sizeof(ScanObject) - sizeof(PyObject));
    r->text = Py_NewRef(text);
    r->kind = PyUnicode_KIND(text);
    r->data = PyUnicode_DATA(text);
    r->length = PyUnicode_GET_LENGTH(text);
    r->bullets = s->bullets;
    r->terminal = s->terminal;
    Py_ssize_t nk = kept->n;
    if (spans_reserve(&r->tokens, s->tokens.n) < 0 || spans_reserve(&r->words, s->words.n) < 0 ||
        spans_reserve(&r->lines, s->lines.n) < 0 || spans_reserve(&r->paragraphs, nk) < 0 ||
        (s->sentence_ends.n &&
         grow((void **)&r->sentence_ends.v, &r->sentence_ends.cap, s->sentence_ends.n, sizeof(Py_ssize_t)) < 0)) {
        Py_DECREF(r);
        return NULL;
    }
    int kind = s->kind;
    const void *d = s->data;
    const Span *tv = s->tokens.v, *wv = s->words.v, *lv = s->lines.v;
    const Py_ssize_t *ev = s->sentence_ends.v;
    Py_ssize_t *tok_range = alloc_array((size_t)nk * 2, sizeof(Py_ssize_t)); /* per unit: its tokens [lo, hi) */
    if (tok_range == NULL) {
        Py_DECREF(r);
        return NULL;
    }
    Py_ssize_t ti = 0, wi = 0, li = 0, ei = 0, off = 0, kept_chars = 0;
    Py_ssize_t no_alpha = 0, unseg = 0, word_chars = 0, bullet = 0, punct = 0, ellipsis = 0;
    for (Py_ssize_t k = 0; k < nk; k++) {
        Span u = kept->v[k];
        Py_ssize_t shift = off - u.start;
        kept_chars += u.end - u.start;
        while (ti < s->tokens.n && tv[ti].start < u.start) {
            ti++;
        }
        Py_ssize_t first_tok = ti;
        for (; ti < s->tokens.n && tv[ti].start < u.end; ti++) {
            r->tokens.v[r->tokens.n++] = (Span){tv[ti].start + shift, tv[ti].end + shift};
        }
        tok_range[2 * k] = first_tok;
        tok_range[2 * k + 1] = ti;
        while (wi < s->words.n && wv[wi].start < u.start) {
            wi++;
        }
        for (; wi < s->words.n && wv[wi].start < u.end; wi++) {
            r->words.v[r->words.n++] = (Span){wv[wi].start + shift, wv[wi].end + shift};
            word_chars += wv[wi].end - wv[wi].start;
        }
        while (li < s->lines.n && lv[li].start < u.start) {
            li++;
        }
        for (; li < s->lines.n && lv[li].start < u.end; li++) {
            Span l = lv[li];
            r->lines.v[r->lines.n++] = (Span){l.start + shift, l.end + shift};
            Py_ssize_t first = l.start, last = l.end - 1;
            while (is_space(rd(kind, d, first))) {
                first++;
            }
            while (is_space(rd(kind, d, last))) {
                last--;
            }
            bullet += in_charset(&s->bullets, rd(kind, d, first));
            Py_UCS4 c = rd(kind, d, last);
            punct += in_charset(&s->terminal, c);
            ellipsis += c == ELLIPSIS_CHAR ||
                        (c == '.' && last - 2 >= l.start && rd(kind, d, last - 1) == '.' && rd(kind, d, last - 2) == '.');
        }
        while (ei < s->sentence_ends.n && ev[ei] < u.start) {
            ei++;
        }
        for (; ei < s->sentence_ends.n && ev[ei] < u.end; ei++) {
            r->sentence_ends.v[r->sentence_ends.n++] = ev[ei] + shift;
        }
        /* The paragraph: T.strip() split on \n\s*\n cuts from the first to the last '\n' of a whitespace run
           holding two; the joiner is one, the unit's own leading and trailing whitespace may extend it. */
        Py_ssize_t ps, pe;
        if (ti == first_tok) { /* cannot happen: kept units hold tokens */
            PyMem_Free(tok_range);
            Py_DECREF(r);
            PyErr_SetString(PyExc_SystemError, "c4_units: a kept unit without tokens");
            return NULL;
        }
        if (k == 0) {
            ps = tv[first_tok].start;
        }
        else {
            ps = u.start;
            for (Py_ssize_t j = tv[first_tok].start - 1; j >= u.start; j--) {
                if (rd(kind, d, j) == '\n') {
                    ps = j + 1;
                    break;
                }
            }
        }
        pe = tv[ti - 1].end;
        if (k < nk - 1) {
            while (pe < u.end && rd(kind, d, pe) != '\n') {
                pe++;
            }
        }
        r->paragraphs.v[r->paragraphs.n++] = (Span){ps + shift, pe + shift};
        off += u.end - u.start + joiner;
    }
    /* Token classes, on the smaller side: the kept tokens, or the others (subtracted from the totals). */
    if (r->tokens.n * 2 <= s->tokens.n) {
        for (Py_ssize_t k = 0; k < nk; k++) {
            classify_tokens(s, tok_range[2 * k], tok_range[2 * k + 1], &no_alpha, &unseg);
        }
    }
    else {
        Py_ssize_t gap = 0, g_no_alpha = 0, g_unseg = 0;
        for (Py_ssize_t k = 0; k <= nk; k++) {
            classify_tokens(s, gap, k < nk ? tok_range[2 * k] : s->tokens.n, &g_no_alpha, &g_unseg);
            gap = k < nk ? tok_range[2 * k + 1] : gap;
        }
        no_alpha = s->n_no_alpha_tokens - g_no_alpha;
        unseg = s->n_unsegmented - g_unseg;
    }
    PyMem_Free(tok_range);
    /* '\n', '#' and ellipses lie inside a unit or outside all (units end at whitespace): count the smaller side. */
    Py_ssize_t newlines = 0, hashes = 0, ellipses = 0;
    if (kept_chars * 2 <= s->length) {
        for (Py_ssize_t k = 0; k < nk; k++) {
            count_symbols(kind, d, kept->v[k].start, kept->v[k].end, &newlines, &hashes, &ellipses);
        }
    }
    else {
        Py_ssize_t gap = 0, gnl = 0, gh = 0, ge = 0;
        for (Py_ssize_t k = 0; k <= nk; k++) {
            Py_ssize_t to = k < nk ? kept->v[k].start : s->length;
            count_symbols(kind, d, gap, to, &gnl, &gh, &ge);
            gap = k < nk ? kept->v[k].end : gap;
        }
        newlines = s->n_newlines - gnl;
        hashes = s->n_hashes - gh;
        ellipses = s->n_ellipses - ge;
    }
    r->n_newlines = newlines + joiner * (nk - 1);
    r->n_hashes = hashes;
    r->n_ellipses = ellipses;
    r->n_tokens = r->tokens.n;
    r->n_symbol_tokens = r->tokens.n - r->words.n;
    r->n_no_alpha_tokens = no_alpha;
    r->n_unsegmented = unseg;
    r->word_chars = word_chars;
    r->n_lines = r->lines.n;
    r->n_bullet_lines = bullet;
    r->n_ellipsis_lines = ellipsis;
    r->n_punct_lines = punct;
    r->n_paragraphs = r->paragraphs.n;
    r->n_sentences = r->sentence_ends.n;
    return (PyObject *)r;
}

PyDoc_STRVAR(c4_units_doc,
             "c4_units(scan, by_paragraph, terminal, drop_no_terminal, min_words, max_word_chars, phrases, derive=False, /)\n--\n\n"
             "C4's line rules on every unit of the scanned text: (units, kept units, sentences in them, the text\n"
             "of the kept units joined by a blank line (by_paragraph) or a newline, or None when all are kept or\n"
             "none is). `phrases`: a Phrases or None. With `derive` a fifth item: the Scan of that text, made from\n"
             "`scan` without reading the text again (by_paragraph only; else, or without a new text, None).");

static PyObject *
c4_units(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *scan_obj, *terminal, *phrases;
    C4Rules r;
    int derive = 0;
    if (!PyArg_ParseTuple(args, "O!pUpnnO|p:c4_units", &ScanType, &scan_obj, &r.by_paragraph, &terminal,
                          &r.drop_no_terminal, &r.min_words, &r.max_word_chars, &phrases, &derive) ||
        ready(terminal) < 0 || charset_from(terminal, &r.terminal, "terminal") < 0) {
        return NULL;
    }
    if (phrases != Py_None && !PyObject_TypeCheck(phrases, &PhrasesType)) {
        PyErr_SetString(PyExc_TypeError, "phrases must be a Phrases or None");
        return NULL;
    }
    const ScanObject *s = (const ScanObject *)scan_obj;
    Py_ssize_t ms, me;
    r.phrases = NULL;
    /* One scan of the whole text tells whether any unit needs the per-unit phrase check. */
    if (phrases != Py_None && phrases_search_in((PhrasesObject *)phrases, s->text, 0, 0, s->length, &ms, &me)) {
        r.phrases = (PhrasesObject *)phrases;
    }
    SpanVec kept = {NULL, 0, 0};
    Py_ssize_t n_units = 0, sentences = 0;
    int rc;
    switch (s->kind) {
    case PyUnicode_1BYTE_KIND:
        rc = c4_kind(&r, s, PyUnicode_1BYTE_KIND, s->data, &n_units, &kept, &sentences);
        break;
    case PyUnicode_2BYTE_KIND:
        rc = c4_kind(&r, s, PyUnicode_2BYTE_KIND, s->data, &n_units, &kept, &sentences);
        break;
    default:
        rc = c4_kind(&r, s, PyUnicode_4BYTE_KIND, s->data, &n_units, &kept, &sentences);
        break;
    }
    PyObject *text = NULL, *derived = NULL;
    if (rc == 0 && kept.n && kept.n != n_units) {
        text = join_units(s, &kept, r.by_paragraph ? 2 : 1);
        rc = text == NULL ? -1 : 0;
        if (rc == 0 && derive && r.by_paragraph) {
            derived = derive_scan(s, &kept, text);
            rc = derived == NULL ? -1 : 0;
        }
    }
    PyMem_Free(kept.v);
    if (rc < 0) {
        Py_XDECREF(text);
        return NULL;
    }
    if (text == NULL) {
        text = Py_NewRef(Py_None);
    }
    if (!derive) {
        return Py_BuildValue("(nnnN)", n_units, kept.n, sentences, text);
    }
    if (derived == NULL) {
        derived = Py_NewRef(Py_None);
    }
    return Py_BuildValue("(nnnNN)", n_units, kept.n, sentences, text, derived);
}

/* ------------------------------------------------------------------------------------------------------------
   Module
   ------------------------------------------------------------------------------------------------------------ */

static PyMethodDef module_methods[] = {
    {"scan", (PyCFunction)scan, METH_VARARGS, scan_doc},
    {"c4_units", (PyCFunction)c4_units, METH_VARARGS, c4_units_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_textstats",
    .m_doc = "Native statistics for lmforge.pipeline.curate.text_stats (equal results to its pure-Python code).",
    .m_size = -1,
    .m_methods = module_methods,
};

/* A table of code point ranges as the module attribute `name`: a tuple of (first, last) pairs. */
static int
add_ranges(PyObject *m, const char *name, const Py_UCS4 (*table)[2], size_t n)
{
    PyObject *ranges = PyTuple_New((Py_ssize_t)n);
    if (ranges == NULL) {
        return -1;
    }
    for (size_t r = 0; r < n; r++) {
        PyObject *item = Py_BuildValue("(kk)", (unsigned long)table[r][0], (unsigned long)table[r][1]);
        if (item == NULL) {
            Py_DECREF(ranges);
            return -1;
        }
        PyTuple_SET_ITEM(ranges, (Py_ssize_t)r, item);
    }
    if (PyModule_AddObject(m, name, ranges) < 0) {
        Py_DECREF(ranges);
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC
PyInit__textstats(void)
{
    for (Py_UCS4 c = 0; c < 0x10000; c++) {
        bmp_class[c] = (uint8_t)compute_class(c);
        /* The scan takes unsegmented characters and marks for non-space, the SSE2 path takes these ASCII classes for
           granted; if a Unicode database ever disagreed, text_stats would run instead. */
        int ascii_space = c == ' ' || (c >= 9 && c <= 13) || (c >= 28 && c <= 31);
        int ascii_alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        int ascii_alnum = ascii_alpha || (c >= '0' && c <= '9');
        if (((bmp_class[c] & (CL_UNSEG | CL_MARK)) && (bmp_class[c] & CL_SPACE)) ||
            (c < 128 && (ascii_space != !!(bmp_class[c] & CL_SPACE) ||
                         ascii_alnum != !!(bmp_class[c] & CL_ALNUM) ||
                         ascii_alpha != !!(bmp_class[c] & CL_ALPHA)))) {
            PyErr_Format(PyExc_ImportError, "_textstats: unexpected character class for U+%04X", (unsigned)c);
            return NULL;
        }
    }
    if (PyType_Ready(&ScanType) < 0 || PyType_Ready(&PhrasesType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) {
        return NULL;
    }
    if (add_ranges(m, "UNSEGMENTED_RANGES", UNSEG_RANGES, N_UNSEG_RANGES) < 0 ||
        add_ranges(m, "CLUSTER_MARK_RANGES", MARK_RANGES, N_MARK_RANGES) < 0) {
        goto fail;
    }
    Py_INCREF(&PhrasesType);
    if (PyModule_AddObject(m, "Phrases", (PyObject *)&PhrasesType) < 0) {
        Py_DECREF(&PhrasesType);
        goto fail;
    }
    Py_INCREF(&ScanType);
    if (PyModule_AddObject(m, "Scan", (PyObject *)&ScanType) < 0) {
        Py_DECREF(&ScanType);
        goto fail;
    }
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
