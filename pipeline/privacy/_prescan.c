/* _prescan: where each privacy pattern could start, in one pass over a str's code points.

   The accelerator of lmforge.pipeline.privacy.triggers. scanner.scan_reference (every pattern over its whole
   window) is the reference and the fallback; the tests compare both on real and generated text.

   One pass looks up every (character, next character) pair in a table (2 KB of masks, so it stays in cache); the
   few pairs that matter trigger a check: digits (the digit clusters), '.'+digit (IPv4 hints), ':' (IPv6 hints,
   "://"), '@', '+'+digit, and for each literal a pair inside it (`ok` for "token", `-B` for "-----BEGIN ").
   Then the windows are built and searched for candidates. The contract is one-sided, and exact where it must be:
   - the hint matches that define the reference's windows (_DIGIT_CLUSTER, _IPV4_HINT, _IPV6_HINT, _AT_HINT, with
     re's finditer semantics: leftmost, non-overlapping) and the windows built from them (clipped, merged, and the
     "too dense: whole text" rule of detectors._hint_windows) are computed exactly;
   - for every pattern, the candidate list is a superset of the positions where that pattern can match inside its
     window (window end = the endpos the reference passes to finditer). A candidate only passes tests on its
     lookbehind context and on characters any match must consume, so a test never depends on where a window ends.
     Python then calls pattern.match(text, start, end) at each candidate not inside the previous match of that
     pattern, which is what finditer does at the positions where a match can start;
   - a few filters also use what a hit needs (cards: 13 digits; IPv6: a digit and "::" or 8 groups; keywords: an
     operator after them); each says beside it why dropping those starts cannot change any other match.
   Semantics follow Python's `re` on str patterns: \w is Py_UNICODE_ISALNUM or '_', \s is Py_UNICODE_ISSPACE, and
   the patterns' \d and classes are ASCII (re.ASCII or explicit [0-9]).
   Memory is linear in the text; every check reads a bounded number of characters, so time is linear too. The GIL
   is released while scanning (only PyMem_Raw* allocation and pure character predicates run there).
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

#define NONE 0x110000u /* "no character" (outside the text): every class test is false */

typedef struct {
    int kind;
    const void *data;
    Py_ssize_t n;
} Text;

static inline Py_UCS4
at(const Text *t, Py_ssize_t i)
{
    return (i >= 0 && i < t->n) ? PyUnicode_READ(t->kind, t->data, i) : NONE;
}

/* ------------------------------------------------------------------------------------------------------------
   Character classes
   ------------------------------------------------------------------------------------------------------------ */

static uint8_t latin1_word[256];  /* re's \w */
static uint8_t latin1_space[256]; /* re's \s */

static inline int
is_digit(Py_UCS4 c)
{
    return c >= '0' && c <= '9';
}

static inline int
is_upper(Py_UCS4 c)
{
    return c >= 'A' && c <= 'Z';
}

static inline int
is_alpha(Py_UCS4 c) /* [A-Za-z] */
{
    return is_upper(c) || (c >= 'a' && c <= 'z');
}

static inline int
is_an_(Py_UCS4 c) /* [0-9A-Za-z_] */
{
    return is_digit(c) || is_upper(c) || (c >= 'a' && c <= 'z') || c == '_';
}

static inline int
is_hex(Py_UCS4 c)
{
    return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

static inline int
is_word(Py_UCS4 c)
{
    if (c < 256)
        return latin1_word[c];
    return c < NONE && (c == '_' || Py_UNICODE_ISALNUM(c));
}

static inline int
is_space(Py_UCS4 c)
{
    if (c < 256)
        return latin1_space[c];
    return c < NONE && Py_UNICODE_ISSPACE(c);
}

static inline int
is_local(Py_UCS4 c) /* [\w.+\-%]: an e-mail local part */
{
    return is_word(c) || c == '.' || c == '+' || c == '-' || c == '%';
}

static inline int
is_mark(Py_UCS4 c) /* detectors._MARKS: combining marks, inside the local part of decomposed (NFD) text */
{
    return (c >= 0x300 && c <= 0x36f) || (c >= 0x1ab0 && c <= 0x1aff) || (c >= 0x1dc0 && c <= 0x1dff) ||
           (c >= 0x20d0 && c <= 0x20ff) || (c >= 0xfe20 && c <= 0xfe2f);
}

static inline int
is_email_local(Py_UCS4 c) /* detectors._EMAIL_LOCAL's characters: [\w.+\-%] and combining marks */
{
    return is_local(c) || is_mark(c);
}

static inline int
is_cluster_sep(Py_UCS4 c) /* detectors._DIGIT_CLUSTER's separators */
{
    return c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')';
}

static inline int
digits(const Text *t, Py_ssize_t i, int count)
{
    for (int k = 0; k < count; k++)
        if (!is_digit(at(t, i + k)))
            return 0;
    return 1;
}

static inline int
lit(const Text *t, Py_ssize_t i, const char *s) /* text[i:i+len(s)] == s (ASCII s) */
{
    for (Py_ssize_t k = 0; s[k]; k++)
        if (at(t, i + k) != (Py_UCS4)(unsigned char)s[k])
            return 0;
    return 1;
}

/* ------------------------------------------------------------------------------------------------------------
   Growable arrays of positions (PyMem_Raw*: usable without the GIL)
   ------------------------------------------------------------------------------------------------------------ */

typedef struct {
    Py_ssize_t *v;
    Py_ssize_t n, cap;
} Vec;

static void
vec_free(Vec *a)
{
    PyMem_RawFree(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

/* ------------------------------------------------------------------------------------------------------------
   Scan state
   ------------------------------------------------------------------------------------------------------------ */

enum { N_KEYWORDS = 12, N_PROVIDERS = 27 };

/* secrets._KEYWORDS, in order; the last four are CJK and handled by code point. */
static const char *const KEYWORDS[8] = {"pass", "pwd", "secret", "token", "key", "auth", "credential", "kennwort"};

enum { /* the candidate lists, in the order scan() returns them (triggers._PATTERNS follows it) */
       L_EMAIL,
       L_OBFUSCATED,
       L_INTL,
       L_US,
       L_NATIONAL,
       L_CN_MOBILE,
       L_CARD,
       L_SSN,
       L_CN_ID,
       L_IBAN,
       L_IPV4,
       L_IPV6,
       L_URL_PASSWORD,
       L_EMAIL_QUOTED,
       L_PROVIDER, /* one list per secrets._PROVIDER_RULES entry */
       L_PHONE_CUED = L_PROVIDER + N_PROVIDERS,
       L_CLI_USER,
       L_SPACED_EMAIL,
       L_HASH_EMAIL,
       N_LISTS };

typedef struct {
    const Text *t;
    int oom;
    /* digit clusters: the chain being built */
    int chain_active;
    Py_ssize_t chain_start, chain_last, chain_digits;
    Vec clusters; /* start, end */
    Vec ats;      /* every '@' */
    Vec at_hints; /* '@' that _AT_HINT matches */
    Vec v4_hints, v6_hints; /* start, end */
    Py_ssize_t v4_next, v6_next; /* finditer resumes here */
    Py_ssize_t colons[6];        /* the last six ':' on_colon saw (a ring) */
    Py_ssize_t n_colons;
    int v6_possible; /* some run could hold an IPv6 candidate (see on_colon) */
    Vec obfuscated;              /* local-part starts before an [at] form (sorted at the end) */
    int obfuscation_hint;        /* any of detectors._OBFUSCATION_HINTS occurs */
    Vec kw[N_KEYWORDS];
    int kw_fold;    /* keywords are searched here, folding ASCII case (otherwise by keywords()) */
    int need_lower; /* the text holds a character whose lower case is not "itself or ASCII-folded" */
    int fullwidth;  /* the text holds a full-width digit or '@' (detectors.ASCII_TWINS) */
    int escaped;    /* the text holds "%40", "%2E", "%2B" (any case), "&#" or "&commat;" (find_escaped_values) */
    int spelled;    /* detectors._SPELLED_AT matches somewhere: " at " or " AT " before a dotted name */
    int disguised;  /* a tag beside an '@' or a CJK full stop / small '@' (disguised.find_disguised_emails) */
    Vec out[N_LISTS]; /* start, end (the endpos for pattern.match) */
} Scan;

static inline void
push(Scan *S, Vec *a, Py_ssize_t x)
{
    if (a->n == a->cap) {
        Py_ssize_t cap = a->cap ? a->cap * 2 : 16;
        Py_ssize_t *v = PyMem_RawRealloc(a->v, (size_t)cap * sizeof *v);
        if (v == NULL) {
            S->oom = 1;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
}

static inline void
push2(Scan *S, Vec *a, Py_ssize_t x, Py_ssize_t y)
{
    push(S, a, x);
    push(S, a, y);
}

/* ------------------------------------------------------------------------------------------------------------
   One-pass triggers
   ------------------------------------------------------------------------------------------------------------ */

/* _DIGIT_CLUSTER = [0-9](?:(?:[ \-./()]{0,2}| / | - )[0-9]){7,}+ : from its first digit a match takes every next
   digit that follows the previous one after at most two separators, " / " or " - " (possessive, so no shorter
   match), and needs 8 digits. Its matches are therefore exactly the maximal such chains with at least 8 digits. */
static void
on_digit(Scan *S, Py_ssize_t i)
{
    const Text *t = S->t;
    if (S->chain_active) {
        Py_ssize_t last = S->chain_last, gap = i - last - 1;
        if ((gap <= 2 && (gap < 1 || is_cluster_sep(at(t, last + 1))) &&
             (gap < 2 || is_cluster_sep(at(t, last + 2)))) ||
            (gap == 3 && (lit(t, last + 1, " / ") || lit(t, last + 1, " - ")))) {
            S->chain_last = i;
            S->chain_digits++;
            return;
        }
        if (S->chain_digits >= 8)
            push2(S, &S->clusters, S->chain_start, S->chain_last + 1);
    }
    S->chain_active = 1;
    S->chain_start = S->chain_last = i;
    S->chain_digits = 1;
}

static Py_ssize_t
digit_run(const Text *t, Py_ssize_t i, Py_ssize_t cap)
{
    Py_ssize_t k = 0;
    while (k < cap && is_digit(at(t, i + k)))
        k++;
    return k;
}

static Py_ssize_t
digit_run_back(const Text *t, Py_ssize_t i, Py_ssize_t cap) /* the digits right before i, at most cap */
{
    Py_ssize_t k = 0;
    while (k < cap && is_digit(at(t, i - 1 - k)))
        k++;
    return k;
}

/* _IPV4_HINT = \.[0-9]{1,3}\.[0-9]{1,3}\. (finditer: a hint starts at or after the previous one's end) */
static void
on_dot(Scan *S, Py_ssize_t i)
{
    const Text *t = S->t;
    if (i < S->v4_next)
        return;
    Py_ssize_t k = digit_run(t, i + 1, 4);
    if (k < 1 || k > 3 || at(t, i + 1 + k) != '.')
        return;
    Py_ssize_t j = i + 2 + k;
    k = digit_run(t, j, 4);
    if (k < 1 || k > 3 || at(t, j + k) != '.')
        return;
    push2(S, &S->v4_hints, i, j + k + 1);
    S->v4_next = j + k + 1;
}

static inline int
is_hexcolon(Py_UCS4 c)
{
    return is_hex(c) || c == ':';
}

/* Could the run of [0-9A-Fa-f:] around x be an IPv6 candidate with x among its first 39 characters? Its start must
   pass _IPV6's lookbehind and its first 39 characters need a digit (ipv6_candidate). */
static int
ipv6_run_near(const Text *t, Py_ssize_t x)
{
    Py_ssize_t s = x;
    while (x - s < 39 && is_hexcolon(at(t, s - 1)))
        s--;
    Py_UCS4 prev = at(t, s - 1);
    if (is_an_(prev) || prev == ':' || prev == '.') /* also when the run starts too far before x */
        return 0;
    for (Py_ssize_t k = s; k < s + 39 && is_hexcolon(at(t, k)); k++)
        if (is_digit(at(t, k)))
            return 1;
    return 0;
}

static void provider(Scan *S, Py_ssize_t start, int rule);

/* The Telegram bot token of secrets._PROVIDER_RULES before the ':' at i (followed by 'A'): its bot id is the whole
   run of 8 to 10 digits before the ':'. */
static void
telegram_token(Scan *S, Py_ssize_t i)
{
    Py_ssize_t k = digit_run_back(S->t, i, 11);
    if (k >= 8 && k <= 10)
        provider(S, i - k, 16);
}

/* _IPV6_HINT = :[0-9A-Fa-f]{0,4}: ; and the "://user:password@" of secrets._URL_PASSWORD */
static void
on_colon(Scan *S, Py_ssize_t i, Py_UCS4 c1)
{
    const Text *t = S->t;
    if (c1 == 'A')
        telegram_token(S, i);
    /* An IPv6 candidate's run holds "::" or 7 ':' within 39 characters (ipv6_candidate). Each ':' of the run but
       its last is followed by hex or ':', so it comes here: the first of "::", or six ':' within 38 characters.
       With neither anywhere in the text, there is no candidate and the IPv6 windows are not searched. */
    S->colons[S->n_colons % 6] = i;
    S->n_colons++;
    if ((c1 == ':' && ipv6_run_near(t, i)) || (S->n_colons >= 6 && i - S->colons[S->n_colons % 6] <= 38))
        S->v6_possible = 1;
    if (i >= S->v6_next) {
        Py_ssize_t k = 0;
        while (k < 5 && is_hex(at(t, i + 1 + k)))
            k++;
        if (k <= 4 && at(t, i + 1 + k) == ':') {
            push2(S, &S->v6_hints, i, i + k + 2);
            S->v6_next = i + k + 2;
        }
    }
    /* ://[^\s:/@]{0,64}: ... : the user part must be at most 64 such characters (none in `redis://:pw@`), then ':' */
    if (c1 == '/' && at(t, i + 2) == '/') {
        Py_ssize_t j = i + 3, count = 0;
        for (; count < 65; j++, count++) {
            Py_UCS4 c = at(t, j);
            if (c == NONE || c == ':' || c == '/' || c == '@' || is_space(c))
                break;
        }
        if (count <= 64 && at(t, j) == ':')
            push2(S, &S->out[L_URL_PASSWORD], i, t->n);
    }
}

/* detectors._EMAIL_QUOTED = "[^"…]{1,64}"@… : its content holds no '"', so a match ending in the '"' at q - 1 before
   an '@' starts at the previous '"', at most 65 characters before it. That one start is the candidate. */
static void
quoted_candidate(Scan *S, Py_ssize_t close)
{
    const Text *t = S->t;
    for (Py_ssize_t q = close - 1; q >= 0 && close - q <= 65; q--) {
        if (at(t, q) == '"') {
            if (q < close - 1)
                push2(S, &S->out[L_EMAIL_QUOTED], q, t->n);
            return;
        }
    }
}

/* disguised._TAG_BESIDE_AT = >[\w.+\-%]{0,64}@|@[\w.\-]{0,255}< around the '@' at i */
NOINLINE static void
tag_beside_at(Scan *S, Py_ssize_t i)
{
    const Text *t = S->t;
    Py_ssize_t j = i - 1;
    while (i - 1 - j < 64 && is_local(at(t, j)))
        j--;
    if (at(t, j) == '>') {
        S->disguised = 1;
        return;
    }
    j = i + 1;
    while (j - i - 1 < 255 && (is_word(at(t, j)) || at(t, j) == '.' || at(t, j) == '-'))
        j++;
    S->disguised = at(t, j) == '<';
}

/* [ \t]{0,8}\r?\n from j on (forward), or ending at j (backward: `j` is the '\n'; the start is returned, or -1). */
static int
break_after(const Text *t, Py_ssize_t j)
{
    for (int k = 0; k < 8 && (at(t, j) == ' ' || at(t, j) == '\t'); k++)
        j++;
    if (at(t, j) == '\r')
        j++;
    return at(t, j) == '\n';
}

static Py_ssize_t
break_before(const Text *t, Py_ssize_t j)
{
    if (at(t, j) != '\n')
        return -1;
    j--;
    if (at(t, j) == '\r')
        j--;
    for (int k = 0; k < 8 && (at(t, j) == ' ' || at(t, j) == '\t'); k++)
        j--;
    return j;
}

/* disguised._WRAP (and the tests beside it) around the '@' at i: a line break right after it, after its domain's
   run of [\w.\-] when that ends in '-', or before its local part's run of [\w.+\-%] (after [ \t>]{0,8}) with a '-'
   before the break. */
NOINLINE static void
break_beside_at(Scan *S, Py_ssize_t i)
{
    const Text *t = S->t;
    if (break_after(t, i + 1)) {
        S->disguised = 1;
        return;
    }
    Py_ssize_t j = i + 1;
    while (j - i - 1 < 255 && (is_word(at(t, j)) || at(t, j) == '.' || at(t, j) == '-'))
        j++;
    if (j > i + 1 && at(t, j - 1) == '-' && break_after(t, j)) {
        S->disguised = 1;
        return;
    }
    j = i - 1;
    while (i - 1 - j < 64 && is_local(at(t, j)))
        j--;
    if (j == i - 1)
        return;
    for (int k = 0; k < 8 && (at(t, j) == ' ' || at(t, j) == '\t' || at(t, j) == '>'); k++)
        j--;
    j = break_before(t, j);
    S->disguised = j >= 0 && at(t, j) == '-';
}

static inline int
is_blank(Py_UCS4 c) /* [ \t] */
{
    return c == ' ' || c == '\t';
}

static inline int is_close_bracket(Py_UCS4 c);
static inline int is_alnum_ascii(Py_UCS4 c);

/* The start of a local part that ends at e (exclusive): the whole run of [\w.+\-%] before e, 1 to 64 characters, not
   starting with '.' (-1 when there is none). */
static Py_ssize_t
local_start(const Text *t, Py_ssize_t e)
{
    Py_ssize_t s = e;
    while (e - s < 65 && is_local(at(t, s - 1)))
        s--;
    return (s < e && e - s <= 64 && !is_local(at(t, s - 1)) && at(t, s) != '.') ? s : -1;
}

/* disguised._SPACED_DOT = [ \t]{1,2}(?:\.|dot|DOT)[ \t]{1,2} ending at e (exclusive): where it starts, or -1. */
static Py_ssize_t
spaced_dot_before(const Text *t, Py_ssize_t e)
{
    Py_ssize_t j = e, d;
    while (e - j < 2 && is_blank(at(t, j - 1)))
        j--;
    if (j == e)
        return -1;
    if (at(t, j - 1) == '.')
        d = j - 1;
    else if (lit(t, j - 3, "dot") || lit(t, j - 3, "DOT"))
        d = j - 3;
    else
        return -1;
    j = d;
    while (d - j < 2 && is_blank(at(t, j - 1)))
        j--;
    return j < d ? j : -1;
}

/* disguised._SPACED_EMAIL around the '@' at i: one or two [ \t] before it and at most two after it, or none before
   and one or two after; before them the local part, the whole run of [\w.+\-%] (1 to 64 characters, not starting
   with '.'), which is a candidate, and so are the starts of up to three more such runs before it, each joined to
   the next by a spaced or spelled dot (the regex tries each where the one before it fails); after them a domain,
   whose first label ([A-Za-z0-9], then at most 62 of [A-Za-z0-9\-]) ends in a '.', plain or spaced, or a spaced
   "dot" or "DOT". */
NOINLINE static void
spaced_email(Scan *S, Py_ssize_t i)
{
    const Text *t = S->t;
    Py_ssize_t b = i, a = i + 1, k = 1;
    while (i - b < 2 && is_blank(at(t, b - 1)))
        b--;
    while (a - i - 1 < 2 && is_blank(at(t, a)))
        a++;
    if ((b == i && a == i + 1) || !is_alnum_ascii(at(t, a)))
        return;
    while (k < 63 && (is_alnum_ascii(at(t, a + k)) || at(t, a + k) == '-'))
        k++;
    Py_ssize_t d = a + k;
    while (d - a - k < 2 && is_blank(at(t, d)))
        d++;
    int dot = at(t, d) == '.' && (d == a + k || is_blank(at(t, d + 1)));
    int word = d > a + k && (lit(t, d, "dot") || lit(t, d, "DOT")) && is_blank(at(t, d + 3));
    if (!dot && !word)
        return;
    Py_ssize_t starts[4], n = 0, s = local_start(t, b);
    while (s >= 0) {
        starts[n++] = s;
        Py_ssize_t dot = n < 4 ? spaced_dot_before(t, s) : -1;
        s = dot >= 0 ? local_start(t, dot) : -1;
    }
    while (n > 0)
        push2(S, &S->out[L_SPACED_EMAIL], starts[--n], t->n);
}

/* disguised._HASH_EMAIL around the '#' at i (followed by [A-Za-z0-9]): the local part before it, as for
   _SPACED_EMAIL but after none of "/?=&#", and a first label of the domain that ends in a '.'. */
NOINLINE static void
hash_email(Scan *S, Py_ssize_t i)
{
    const Text *t = S->t;
    Py_ssize_t k = 1;
    while (k < 63 && (is_alnum_ascii(at(t, i + 1 + k)) || at(t, i + 1 + k) == '-'))
        k++;
    if (at(t, i + 1 + k) != '.')
        return;
    Py_ssize_t s = local_start(t, i);
    Py_UCS4 prev = at(t, s - 1);
    if (s >= 0 && prev != '/' && prev != '?' && prev != '=' && prev != '&' && prev != '#')
        push2(S, &S->out[L_HASH_EMAIL], s, t->n);
}

/* _AT_HINT = @(?<=[\w.+\-%<marks>]@)(?=@?[\w\-\[]) ; every '@' is kept for the e-mail candidates */
static void
on_at(Scan *S, Py_ssize_t i)
{
    const Text *t = S->t;
    push(S, &S->ats, i);
    if (!S->disguised)
        tag_beside_at(S, i);
    if (!S->disguised)
        break_beside_at(S, i);
    spaced_email(S, i);
    /* detectors._OBFUSCATION_HINTS' "@]", "@)", "@}", "@>", and each with a ' ' before the bracket */
    if (is_close_bracket(at(t, i + 1)) || (at(t, i + 1) == ' ' && is_close_bracket(at(t, i + 2))))
        S->obfuscation_hint = 1;
    Py_UCS4 prev = at(t, i - 1), next = at(t, i + 1);
    if (next == '@') /* `jane@@example.com`: the domain starts after the second '@' */
        next = at(t, i + 2);
    if (is_email_local(prev) && (is_word(next) || next == '-' || next == '['))
        push(S, &S->at_hints, i);
    else if (prev == '"')
        quoted_candidate(S, i - 1);
}

/* detectors._ENCODED_SPACE_PHONE after its '+' or "tel:": [0-9]{1,5}%(?:25)?20 from j on */
static int
encoded_space_after(const Text *t, Py_ssize_t j)
{
    Py_ssize_t k = digit_run(t, j, 6);
    return k >= 1 && k <= 5 && (lit(t, j + k, "%20") || lit(t, j + k, "%2520"));
}

/* _PHONE_INTL = \+(?<![0-9A-Za-z_+]\+)\d++ ... (the caller saw a digit after the '+'); and `escaped` for the '+'
   of a phone whose spaces are percent-encoded (`+1%20415%20555%202671`) */
static void
on_plus(Scan *S, Py_ssize_t i)
{
    Py_UCS4 prev = at(S->t, i - 1);
    if (!is_an_(prev) && prev != '+')
        push2(S, &S->out[L_INTL], i, S->t->n);
    if (!S->escaped && encoded_space_after(S->t, i + 1))
        S->escaped = 1;
}

/* The local part of _EMAIL_OBFUSCATED ends at `e`: it is the whole run of [\w.+\-%] before `e` (the run cannot end
   earlier, since the [at] form starts with \s or a bracket), at most 64 characters. */
static void
obfuscated_local(Scan *S, Py_ssize_t e)
{
    const Text *t = S->t;
    Py_ssize_t s = e;
    while (s > 0 && is_local(at(t, s - 1))) {
        s--;
        if (e - s > 64)
            return;
    }
    if (s < e)
        push(S, &S->obfuscated, s);
}

static inline int
is_close_bracket(Py_UCS4 c)
{
    return c == ']' || c == ')' || c == '}' || c == '>';
}

/* _AT's bracket form at `b`: \s?[\[\(\{<]\s?(?:at|AT|At|@|ät|Ät|ÄT)\s?[\]\)\}>], or \([aA]\) glued between a local
   part's character and a domain's (the only places the regex can use it) */
static void
on_open_bracket(Scan *S, Py_ssize_t b)
{
    const Text *t = S->t;
    Py_ssize_t j = b + 1;
    if (is_space(at(t, j)))
        j++;
    Py_UCS4 c = at(t, j), d = at(t, j + 1);
    if (c == '@' || ((c == 'a' || c == 'A') && d == ')' && j == b + 1 && at(t, b) == '(' && is_local(at(t, b - 1)) &&
                     (is_word(at(t, j + 2)) || at(t, j + 2) == '-')))
        j += 1;
    else if (((c == 'a' || c == 0xE4) && d == 't') || ((c == 'A' || c == 0xC4) && (d == 'T' || d == 't')))
        j += 2;
    else
        return;
    if (is_space(at(t, j)))
        j++;
    if (!is_close_bracket(at(t, j)))
        return;
    obfuscated_local(S, is_space(at(t, b - 1)) ? b - 1 : b);
}

/* "at"/"AT" at i: _AT's spaced form \s?\s(?:at|AT)\s */
static void
on_at_word(Scan *S, Py_ssize_t i)
{
    const Text *t = S->t;
    if (is_space(at(t, i - 1)) && is_space(at(t, i + 2))) {
        Py_ssize_t w = i - 1;
        obfuscated_local(S, is_space(at(t, w - 1)) ? w - 1 : w);
    }
}

static inline int
is_alnum_ascii(Py_UCS4 c) /* [A-Za-z0-9] */
{
    return is_digit(c) || is_alpha(c);
}

/* detectors._SPELLED_AT = "(?: (?:at|AT) | -(?:at|AT)- |_(?:at|AT)_)(?=[A-Za-z0-9][A-Za-z0-9\-]{0,62}\.[A-Za-z])"
   "|_(?:at|AT)_(?=[A-Za-z0-9][A-Za-z0-9\-]{0,62}_(?:dot|DOT)_[A-Za-z])"
   "|(?: -(?:at|AT)- |-(?:at|AT)-)(?=[A-Za-z0-9][A-Za-z0-9\-]{0,62}?(?:-(?:dot|DOT)-| -(?:dot|DOT)- |\.)[A-Za-z])"
   around i (i: the 'a' or 'A'; the pair is "at" or "AT"; `before` is the character before it): the '.' (after
   "_at_" also "_dot_", after "-at-" also "-dot-" or " -dot- ") must end the run of [A-Za-z0-9\-] after the first
   character of the name, within 63, and a letter follow it. A '-' may also start "-dot-" inside that run. */
static int
spelled_dotted(const Text *t, Py_ssize_t j, Py_UCS4 before)
{
    if (!is_alnum_ascii(at(t, j)))
        return 0;
    for (Py_ssize_t k = 1; k <= 63; k++) {
        Py_UCS4 c = at(t, j + k);
        if (c == '.')
            return is_alpha(at(t, j + 1 + k));
        if (c == '_' && before == '_' && (lit(t, j + k, "_dot_") || lit(t, j + k, "_DOT_")))
            return is_alpha(at(t, j + k + 5));
        if (before == '-' && c == '-' && (lit(t, j + k, "-dot-") || lit(t, j + k, "-DOT-")) &&
            is_alpha(at(t, j + k + 5)))
            return 1;
        if (before == '-' && c == ' ')
            return (lit(t, j + k, " -dot- ") || lit(t, j + k, " -DOT- ")) && is_alpha(at(t, j + k + 7));
        if (!is_alnum_ascii(c) && c != '-')
            return 0;
    }
    return 0;
}

NOINLINE static void /* out of line: on_spelled_at, which runs at every "at" of the text, stays small */
spelled_name(Scan *S, Py_ssize_t i, Py_UCS4 before)
{
    const Text *t = S->t;
    Py_UCS4 after = at(t, i + 2);
    if (after != before)
        return;
    if (before == '-') /* "-at-" glued, or " -at- " */
        S->spelled = spelled_dotted(t, i + 3, before) ||
                     (at(t, i - 2) == ' ' && at(t, i + 3) == ' ' && spelled_dotted(t, i + 4, before));
    else
        S->spelled = spelled_dotted(t, i + 3, before);
}

static inline void
on_spelled_at(Scan *S, Py_ssize_t i)
{
    Py_UCS4 before = at(S->t, i - 1); /* in words ("that", "data") a letter: most "at"s end here */
    if (before == ' ' || before == '_' || before == '-')
        spelled_name(S, i, before);
}

/* secrets._CLI_USER = -(?<=\s-)(?:u ?|-user[= ]) : the '-' at i is followed by 'u'; a match starts there after a space,
   or at the '-' before it in "--user". And the Mailchimp key of secrets._PROVIDER_RULES that "-us" and a digit end:
   its 32 hex digits before the '-'. */
static void
cli_user(Scan *S, Py_ssize_t i)
{
    const Text *t = S->t;
    if (is_space(at(t, i - 1)))
        push2(S, &S->out[L_CLI_USER], i, t->n);
    else if (at(t, i - 1) == '-' && is_space(at(t, i - 2)) && lit(t, i + 1, "user"))
        push2(S, &S->out[L_CLI_USER], i - 1, t->n);
    else if (at(t, i + 2) == 's' && is_digit(at(t, i + 3)) && i >= 32) {
        for (Py_ssize_t k = i - 32; k < i; k++) {
            Py_UCS4 c = at(t, k);
            if (!(is_digit(c) || (c >= 'a' && c <= 'f')))
                return;
        }
        provider(S, i - 32, 25);
    }
}

/* secrets._PROVIDER_RULES by index: literal start of each pattern, and its lookbehind on the character before.
   Each is triggered by its rarest character pair (the caller's (c0, c1) at i), so `start` may lie before i. */
static void
provider(Scan *S, Py_ssize_t start, int rule)
{
    const Text *t = S->t;
    Py_UCS4 prev = at(t, start - 1);
    int free_an = !is_an_(prev);               /* (?<![0-9A-Za-z_] ...) */
    int free_an_dash = free_an && prev != '-'; /* (?<![0-9A-Za-z_\-] ...) */
    int ok = 0;
    if (start < 0)
        return;
    switch (rule) {
    case 0: /* (?:AKIA|ASIA)(?<![0-9A-Z]....) */
        ok = (lit(t, start, "AKIA") || lit(t, start, "ASIA")) && !is_digit(prev) && !is_upper(prev);
        break;
    case 1: { /* gh[pousr]_(?<![0-9A-Za-z_]....) */
        Py_UCS4 c2 = at(t, start + 2);
        ok = lit(t, start, "gh") && (c2 == 'p' || c2 == 'o' || c2 == 'u' || c2 == 's' || c2 == 'r') &&
             at(t, start + 3) == '_' && free_an;
        break;
    }
    case 2:
        ok = lit(t, start, "github_pat_");
        break;
    case 3:
        ok = lit(t, start, "glpat-");
        break;
    case 4: { /* xox[abposre]-(?<![0-9A-Za-z_]xox.-) */
        Py_UCS4 c3 = at(t, start + 3);
        ok = lit(t, start, "xox") && c3 < 128 && c3 && strchr("abposre", (int)c3) && at(t, start + 4) == '-' &&
             free_an;
        break;
    }
    case 5:
        ok = lit(t, start, "hooks.slack.com/services/");
        break;
    case 6: /* AIza(?<![0-9A-Za-z_\-]....) */
        ok = lit(t, start, "AIza") && free_an_dash;
        break;
    case 7:
    case 8: { /* [sr]k_live_ / [sr]k_test_ */
        Py_UCS4 c0 = at(t, start);
        ok = (c0 == 's' || c0 == 'r') && lit(t, start + 1, rule == 7 ? "k_live_" : "k_test_") && free_an;
        break;
    }
    case 9: /* sk-(?<![0-9A-Za-z_\-]...) */
        ok = lit(t, start, "sk-") && free_an_dash;
        break;
    case 10: /* eyJ(?<![0-9A-Za-z_\-]...) */
        ok = lit(t, start, "eyJ") && free_an_dash;
        break;
    case 11:
        ok = lit(t, start, "-----BEGIN ");
        break;
    case 12: /* hf_(?<![0-9A-Za-z_]...) */
        ok = lit(t, start, "hf_") && free_an;
        break;
    case 13: /* npm_(?<![0-9A-Za-z_]....) */
        ok = lit(t, start, "npm_") && free_an;
        break;
    case 14: /* pypi-(?<![0-9A-Za-z_\-].....)AgE */
        ok = lit(t, start, "pypi-AgE") && free_an_dash;
        break;
    case 15: /* SG\.(?<![0-9A-Za-z_\-]...) */
        ok = lit(t, start, "SG.") && free_an_dash;
        break;
    case 16: /* [0-9](?<![0-9][0-9])[0-9]{7,9}:A (the caller counted the digits) */
        ok = is_digit(at(t, start)) && !is_digit(prev);
        break;
    case 17: /* [0-9] after discord.com/api/webhooks/ or discordapp.com/api/webhooks/ */
        ok = is_digit(at(t, start)) &&
             (lit(t, start - 25, "discord.com/api/webhooks/") || lit(t, start - 28, "discordapp.com/api/webhooks/"));
        break;
    case 18:
        ok = lit(t, start, "GOCSPX-") && free_an_dash;
        break;
    case 19:
        ok = lit(t, start, "gsk_") && free_an_dash;
        break;
    case 20:
        ok = lit(t, start, "r8_") && free_an_dash;
        break;
    case 21:
        ok = lit(t, start, "pplx-") && free_an_dash;
        break;
    case 22:
        ok = lit(t, start, "whsec_") && free_an_dash;
        break;
    case 23: /* shp(?:at|ca|pa|ss)_(?<![0-9A-Za-z_\-]shp.._) */
        ok = lit(t, start, "shp") &&
             (lit(t, start + 3, "at_") || lit(t, start + 3, "ca_") || lit(t, start + 3, "pa_") ||
              lit(t, start + 3, "ss_")) &&
             free_an_dash;
        break;
    case 24: { /* do[opr]_v1_(?<![0-9A-Za-z_\-]do._v1_) */
        Py_UCS4 c2 = at(t, start + 2);
        ok = lit(t, start, "do") && (c2 == 'o' || c2 == 'p' || c2 == 'r') && lit(t, start + 3, "_v1_") && free_an_dash;
        break;
    }
    case 25: /* [0-9a-f](?<![0-9A-Za-z_\-][0-9a-f]) (the caller saw the 32 hex digits and "-us" and a digit) */
        ok = free_an_dash;
        break;
    case 26: { /* [0-9A-Za-z%+/](?<=[?&]sig=[0-9A-Za-z%+/]) */
        Py_UCS4 c0 = at(t, start), q = at(t, start - 5);
        ok = (is_alnum_ascii(c0) || c0 == '%' || c0 == '+' || c0 == '/') && lit(t, start - 4, "sig=") &&
             (q == '?' || q == '&');
        break;
    }
    default:
        break;
    }
    if (ok)
        push2(S, &S->out[L_PROVIDER + rule], start, t->n);
}

static inline Py_UCS4
fold(Py_UCS4 c, int on)
{
    return (on && is_upper(c)) ? c + 32 : c;
}

/* Can secrets._ASSIGN_TAIL match at q? It needs, after [\w\-]{0,24}, an optional quote and at most 3+1 spaces,
   an operator starting with one of = : ： i(s) l(autet) 为 是 ; 为/是 are \w, so they may also sit inside the run.
   Or (secrets._VALUE_AFTER_NAME) an optional quote, at most 3 spaces, an optional ',', at most 24 spaces, an
   optional quote and "value" (any case): after the spaces of the first test, at most 24 + 3 more, then 'v' or 'V'.
   A keyword where the tail cannot match changes nothing in secrets._assignments' walk, so it can go. */
static int
tail_possible(const Text *t, Py_ssize_t q)
{
    Py_ssize_t i = q;
    for (int k = 0; k < 24; k++, i++) {
        Py_UCS4 c = at(t, i);
        if (c == 0x4E3A || c == 0x662F)
            return 1;
        if (!(is_word(c) || c == '-'))
            break;
    }
    Py_UCS4 c = at(t, i);
    if (c == '"' || c == '\'' || c == ']')
        c = at(t, ++i);
    for (int w = 0; w < 4 && is_space(c); w++)
        c = at(t, ++i);
    if (c == '=' || c == ':' || c == 0xFF1A || c == 'i' || c == 'l' || c == 0x4E3A || c == 0x662F)
        return 1;
    if (c == ',')
        c = at(t, ++i);
    for (int w = 0; w < 27 && is_space(c); w++)
        c = at(t, ++i);
    if (c == '"' || c == '\'')
        i++;
    for (const char *v = "value"; *v; v++, i++)
        if (fold(at(t, i), 1) != (Py_UCS4)*v)
            return 0;
    c = at(t, i);
    if (c == '"' || c == '\'')
        c = at(t, ++i);
    for (int w = 0; w < 3 && is_space(c); w++)
        c = at(t, ++i);
    return c == ':' || c == '=';
}

/* Can secrets._FLAG_OR_ELEMENT_TAIL match after keyword k at `start`? Its lookbehinds name the flag or the tag
   whole: "--" or '<' before pass (0) and secret (2), "--" before token (3), "--api-", "--api_", "<api", "<api_" or
   "<api-" (any case) before key (4). */
static int
flag_or_element_possible(const Text *t, Py_ssize_t start, int k)
{
    int dashes = at(t, start - 1) == '-' && at(t, start - 2) == '-';
    if (k == 0 || k == 2)
        return dashes || at(t, start - 1) == '<';
    if (k == 3)
        return dashes;
    if (k != 4)
        return 0;
    Py_ssize_t j = start;
    if (at(t, j - 1) == '-' || at(t, j - 1) == '_')
        j--;
    if (fold(at(t, j - 3), 1) != 'a' || fold(at(t, j - 2), 1) != 'p' || fold(at(t, j - 1), 1) != 'i')
        return 0;
    return at(t, j - 4) == '<' || (j < start && at(t, j - 4) == '-' && at(t, j - 5) == '-');
}

/* secrets._KEYWORDS[k] at `start` of `src` (the text, folding ASCII case, or its str.lower() compared exactly),
   kept when secrets.assignment_tail could match after it in the text itself. */
static const Py_UCS4 CJK_KEYWORDS[4][2] = {{0x5BC6, 0x7801}, {0x53E3, 0x4EE4}, {0x5BC6, 0x94A5}, {0x4EE4, 0x724C}};

NOINLINE static void /* out of line: on_pair, which calls it from eight places, stays small */
keyword(Scan *S, const Text *src, Py_ssize_t start, int k, int fold_case)
{
    Py_ssize_t len;
    if (start < 0)
        return;
    if (k < 8) {
        const char *w = KEYWORDS[k];
        for (len = 0; w[len]; len++)
            if (fold(at(src, start + len), fold_case) != (Py_UCS4)(unsigned char)w[len])
                return;
    } else {
        for (len = 0; len < 2; len++)
            if (at(src, start + len) != CJK_KEYWORDS[k - 8][len])
                return;
    }
    if (tail_possible(S->t, start + len) || flag_or_element_possible(S->t, start, k))
        push(S, &S->kw[k], start);
}

/* What a character pair triggers (0: nothing). Each literal is triggered by a rare pair inside it: `-B` for
   "-----BEGIN ", `ok` for "token", `IA` for "AKIA"/"ASIA". */
enum {
    P_NONE,
    P_DIGIT,
    P_DOT,
    P_COLON,
    P_AT,
    P_PLUS,
    P_HINT_SPACE, /* "at ]" "at )" */
    P_HINT_DOT,   /* " dot " " DOT " */
    P_HINT_T,     /* "at]" "at)" "at}" "at>" "AT]" "AT)" */
    P_HINT_A,     /* "a)" "A)" of a glued "(a)": detectors._GLUED_A */
    P_BEGIN,
    P_AWS,
    P_GH,
    P_GITHUB_PAT,
    P_GLPAT,
    P_XOX,
    P_SLACK_HOOK,
    P_AIZA,
    P_K_UNDERSCORE, /* [sr]k_live_, [sr]k_test_ */
    P_K_DASH,       /* sk- */
    P_JWT,
    P_HF,       /* hf_ */
    P_NPM,      /* npm_ */
    P_PYPI,     /* pypi-AgE */
    P_SENDGRID, /* SG. */
    P_WEBHOOKS, /* "bh" of "/api/webhooks/" (Discord) */
    P_CLI_USER, /* "-u" of secrets._CLI_USER */
    P_GOCSPX,   /* "X-" of GOCSPX- */
    P_R8,       /* r8_ */
    P_PPLX,     /* "x-" of pplx- */
    P_WHSEC,    /* "c_" of whsec_ */
    P_SHOPIFY,  /* "hp" of shpat_, shpca_, shppa_, shpss_ */
    P_DO_V1,    /* "v1" of dop_v1_, doo_v1_, dor_v1_ */
    P_TEL,      /* "l:" of "tel:" before a number with percent-encoded spaces */
    P_HASH,     /* '#' before [A-Za-z0-9]: disguised._HASH_EMAIL */
    P_SAS_SIG,  /* "g=" of "?sig=" or "&sig=" */
    P_FILLER,   /* a pair that triggers nothing: it gives its first character the second characters of another */
    P_KW_PASS,
    P_KW_PWD,
    P_KW_CR, /* secret, credential */
    P_KW_TOKEN,
    P_KW_KEY,
    P_KW_AUTH,
    P_KW_KENNWORT,
    P_ESCAPE, /* "%40", "%2E", "%2B" (either case, also after "%25"), "&#", "&commat;" (also after "&amp;"), "\@" */
    P_SPELLED_AT, /* " at " / " AT " before a dotted name */
    P_OPEN_BRACKET, /* obfuscation_pairs only */
    P_AT_WORD,      /* obfuscation_pairs only */
};

/* Indexed by (first << 8 | second); second characters >= 256 read as 0. */
static uint8_t main_pairs[65536], obfuscation_pairs[65536];

/* The same membership in 2 KB that stay in cache: (a, b) triggers iff (masks[a] >> 32) & masks[b]. The first
   characters with equal sets of second characters form one group (one bit). main_masks also fires for digits. */
static uint64_t main_masks[256], obfuscation_masks[256];

static void
init_masks(const uint8_t *pairs, int digits_too, uint64_t *masks)
{
    static uint8_t seconds[32][256];
    uint32_t first[256] = {0}, second[256] = {0};
    int groups = 0;
    memset(seconds, 0, sizeof seconds);
    for (unsigned a = 0; a < 256; a++) {
        uint8_t row[256];
        int any = 0;
        for (unsigned b = 0; b < 256; b++) {
            row[b] = (uint8_t)((digits_too && is_digit(a)) || pairs[(a << 8) | b] != 0);
            any |= row[b];
        }
        if (!any)
            continue;
        int g = 0;
        while (g < groups && memcmp(seconds[g], row, 256) != 0)
            g++;
        if (g == groups) {
            if (groups == 32) { /* more sets than bits: share the last bit (a superset; the handlers re-check) */
                g = 31;
                for (unsigned b = 0; b < 256; b++)
                    seconds[31][b] |= row[b];
            } else {
                memcpy(seconds[groups++], row, 256);
            }
        }
        first[a] |= 1u << g;
    }
    for (int g = 0; g < groups; g++)
        for (unsigned b = 0; b < 256; b++)
            if (seconds[g][b])
                second[b] |= 1u << g;
    for (unsigned c = 0; c < 256; c++)
        masks[c] = (uint64_t)first[c] << 32 | second[c];
}

static int pair_clash; /* a pair given two codes: a mistake in init_tables, reported at import */

static void
set_pair(uint8_t *table, unsigned a, unsigned b, uint8_t code)
{
    uint8_t *slot = &table[(a << 8) | b];
    pair_clash |= *slot != 0 && *slot != code;
    *slot = code;
}

static void
set_pair_cases(uint8_t *table, const char *s, uint8_t code) /* both letters in both cases */
{
    unsigned a = (unsigned char)s[0], b = (unsigned char)s[1];
    unsigned A = (a >= 'a' && a <= 'z') ? a - 32 : a, B = (b >= 'a' && b <= 'z') ? b - 32 : b;
    set_pair(table, a, b, code);
    set_pair(table, A, b, code);
    set_pair(table, a, B, code);
    set_pair(table, A, B, code);
}

static void
init_tables(void)
{
    for (Py_UCS4 c = 0; c < 256; c++) {
        latin1_word[c] = (uint8_t)(c == '_' || Py_UNICODE_ISALNUM(c));
        latin1_space[c] = (uint8_t)Py_UNICODE_ISSPACE(c);
    }
    uint8_t *m = main_pairs;
    for (unsigned d = '0'; d <= '9'; d++) {
        set_pair(m, '.', d, P_DOT);
        set_pair(m, '+', d, P_PLUS);
    }
    for (unsigned b = 0; b < 256; b++) {
        if (is_hex(b) || b == ':' || b == '/')
            set_pair(m, ':', b, P_COLON);
        set_pair(m, '@', b, P_AT);
    }
    for (const char *c = "])}>"; *c; c++)
        set_pair(m, 't', (unsigned char)*c, P_HINT_T);
    set_pair(m, 'T', ']', P_HINT_T);
    set_pair(m, 'T', ')', P_HINT_T);
    set_pair(m, 'a', ')', P_HINT_A);
    set_pair(m, 'A', ')', P_HINT_A);
    set_pair(m, ' ', ']', P_HINT_SPACE);
    set_pair(m, ' ', ')', P_HINT_SPACE);
    set_pair(m, 'd', 'o', P_HINT_DOT);
    set_pair(m, 'D', 'O', P_HINT_DOT);
    set_pair(m, '-', 'B', P_BEGIN);
    set_pair(m, 'I', 'A', P_AWS);
    set_pair(m, 'g', 'h', P_GH);
    set_pair(m, 'b', '_', P_GITHUB_PAT);
    set_pair(m, 'l', 'p', P_GLPAT);
    set_pair(m, 'x', 'o', P_XOX);
    set_pair(m, 'k', '.', P_SLACK_HOOK);
    set_pair(m, 'z', 'a', P_AIZA);
    set_pair(m, 'k', '_', P_K_UNDERSCORE);
    set_pair(m, 'k', '-', P_K_DASH);
    set_pair(m, 'y', 'J', P_JWT);
    set_pair(m, 'f', '_', P_HF);
    set_pair(m, 'm', '_', P_NPM);
    set_pair(m, '-', 'A', P_PYPI);
    set_pair(m, 'G', '.', P_SENDGRID);
    set_pair(m, 'b', 'h', P_WEBHOOKS);
    set_pair(m, '-', 'u', P_CLI_USER);
    set_pair(m, 'X', '-', P_GOCSPX);
    set_pair(m, 'r', '8', P_R8);
    set_pair(m, 'x', '-', P_PPLX);
    set_pair(m, 'c', '_', P_WHSEC);
    set_pair(m, 'h', 'p', P_SHOPIFY);
    set_pair(m, 'v', '1', P_DO_V1);
    set_pair(m, 'l', ':', P_TEL);
    set_pair(m, 'L', ':', P_TEL);
    set_pair(m, 'g', '=', P_SAS_SIG);
    for (unsigned b = 0; b < 128; b++)
        if (is_alnum_ascii(b))
            set_pair(m, '#', b, P_HASH);
    /* init_masks has 32 bits for the sets of second characters; these rare pairs make first characters with one
       trigger each share a set, so that no two sets share a bit (which would fire the shared bit's pairs for all) */
    set_pair(m, 'I', 'a', P_FILLER); /* 'I' and 'z': {a, A} */
    set_pair(m, 'z', 'A', P_FILLER);
    set_pair(m, 'G', '-', P_FILLER); /* 'G' and 'X': {., -} */
    set_pair(m, 'X', '.', P_FILLER);
    set_pair(m, 'r', '1', P_FILLER); /* 'r' and 'v': {1, 8} */
    set_pair(m, 'v', '8', P_FILLER);
    set_pair(m, 'h', ':', P_FILLER); /* 'h', 'l' and 'L': {p, :} */
    set_pair(m, 'L', 'p', P_FILLER);
    set_pair_cases(m, "pa", P_KW_PASS);
    set_pair_cases(m, "pw", P_KW_PWD);
    set_pair_cases(m, "cr", P_KW_CR);
    set_pair_cases(m, "ok", P_KW_TOKEN);
    set_pair_cases(m, "ey", P_KW_KEY);
    set_pair_cases(m, "au", P_KW_AUTH);
    set_pair_cases(m, "nw", P_KW_KENNWORT);
    set_pair(m, '%', '4', P_ESCAPE);
    set_pair(m, '%', '2', P_ESCAPE);
    set_pair(m, '&', '#', P_ESCAPE);
    set_pair(m, '&', 'c', P_ESCAPE);
    set_pair(m, '&', 'a', P_ESCAPE);
    set_pair(m, '\\', '@', P_ESCAPE);
    set_pair(m, 'a', 't', P_SPELLED_AT);
    set_pair(m, 'A', 'T', P_SPELLED_AT);
    init_masks(main_pairs, 1, main_masks);

    uint8_t *o = obfuscation_pairs;
    for (const char *c = "[({<"; *c; c++) {
        unsigned a = (unsigned char)*c;
        set_pair(o, a, 0, P_OPEN_BRACKET);
        set_pair(o, a, 'a', P_OPEN_BRACKET);
        set_pair(o, a, 'A', P_OPEN_BRACKET);
        set_pair(o, a, 0xE4, P_OPEN_BRACKET); /* 'ä' */
        set_pair(o, a, 0xC4, P_OPEN_BRACKET); /* 'Ä' */
        set_pair(o, a, '@', P_OPEN_BRACKET);
        for (unsigned b = 0; b < 256; b++)
            if (latin1_space[b])
                set_pair(o, a, b, P_OPEN_BRACKET);
    }
    set_pair(o, 'a', 't', P_AT_WORD);
    set_pair(o, 'A', 'T', P_AT_WORD);
    init_masks(obfuscation_pairs, 0, obfuscation_masks);
}

/* The check a pair triggers; `i` is the pair's first character, `c1` its second. */
static void
on_pair(Scan *S, Py_ssize_t i, unsigned code, Py_UCS4 c1)
{
    const Text *t = S->t;
    switch (code) {
    case P_DOT:
        on_dot(S, i);
        break;
    case P_COLON:
        on_colon(S, i, c1);
        break;
    case P_AT:
        on_at(S, i);
        break;
    case P_PLUS:
        on_plus(S, i);
        break;
    case P_HINT_SPACE: /* "at ]" "at )" "ät ]" "ät )" */
        if ((at(t, i - 2) == 'a' || at(t, i - 2) == 0xE4) && at(t, i - 1) == 't')
            S->obfuscation_hint = 1;
        break;
    case P_HINT_DOT: /* " dot " " DOT " */
        if (lit(t, i - 1, at(t, i) == 'd' ? " dot " : " DOT "))
            S->obfuscation_hint = 1;
        break;
    case P_HINT_A: /* [\w.+\-%]\([aA]\)[\w\-] */
        if (at(t, i - 1) == '(' && is_local(at(t, i - 2)) && (is_word(at(t, i + 2)) || at(t, i + 2) == '-'))
            S->obfuscation_hint = 1;
        break;
    case P_HINT_T: /* "at]" "at)" "at}" "at>" "AT]" "AT)", and with 'ä' or 'Ä' */
        if (at(t, i) == 't' ? at(t, i - 1) == 'a' || at(t, i - 1) == 0xE4 : at(t, i - 1) == 'A' || at(t, i - 1) == 0xC4)
            S->obfuscation_hint = 1;
        break;
    case P_BEGIN:
        provider(S, i - 4, 11);
        break;
    case P_AWS:
        provider(S, i - 2, 0);
        break;
    case P_GH:
        provider(S, i, 1);
        break;
    case P_GITHUB_PAT:
        provider(S, i - 5, 2);
        break;
    case P_GLPAT:
        provider(S, i - 1, 3);
        break;
    case P_XOX:
        provider(S, i, 4);
        break;
    case P_SLACK_HOOK:
        provider(S, i - 10, 5);
        break;
    case P_AIZA:
        provider(S, i - 2, 6);
        break;
    case P_K_UNDERSCORE:
        provider(S, i - 1, 7);
        provider(S, i - 1, 8);
        provider(S, i - 2, 19); /* gsk_ */
        break;
    case P_K_DASH:
        provider(S, i - 1, 9);
        break;
    case P_JWT:
        provider(S, i - 1, 10);
        break;
    case P_HF:
        provider(S, i - 1, 12);
        break;
    case P_NPM:
        provider(S, i - 2, 13);
        break;
    case P_PYPI:
        provider(S, i - 4, 14);
        break;
    case P_SENDGRID:
        provider(S, i - 1, 15);
        break;
    case P_WEBHOOKS: /* "webhooks/" and the id's first digit: the 'b' is its third character */
        if (lit(t, i - 2, "webhooks/") && is_digit(at(t, i + 7)))
            provider(S, i + 7, 17);
        break;
    case P_CLI_USER:
        cli_user(S, i);
        break;
    case P_GOCSPX:
        provider(S, i - 5, 18);
        break;
    case P_R8:
        provider(S, i, 20);
        break;
    case P_PPLX:
        provider(S, i - 3, 21);
        break;
    case P_WHSEC:
        provider(S, i - 4, 22);
        break;
    case P_SHOPIFY:
        provider(S, i - 1, 23);
        break;
    case P_DO_V1:
        provider(S, i - 4, 24);
        break;
    case P_SAS_SIG:
        provider(S, i + 2, 26);
        break;
    case P_HASH:
        if (is_local(at(t, i - 1)))
            hash_email(S, i);
        break;
    case P_TEL: /* (?i:tel):[0-9]{1,5}%(?:25)?20 */
        if ((at(t, i - 2) | 32) == 't' && (at(t, i - 1) | 32) == 'e' && encoded_space_after(t, i + 2))
            S->escaped = 1;
        break;
    case P_SPELLED_AT:
        if (!S->spelled)
            on_spelled_at(S, i);
        break;
    case P_ESCAPE: {
        /* e: where the escape's '%' or '&' would be, after "%25" (a '%' encoded again) or "&amp;" (an '&' escaped
           again); c1 the character after it */
        Py_ssize_t e = i;
        if (c1 == '2' && at(t, i + 2) == '5' && (lit(t, i + 3, "40") || at(t, i + 3) == '2'))
            e = i + 2, c1 = at(t, e + 1);
        else if (c1 == 'a' && lit(t, i, "&amp;"))
            e = i + 4, c1 = at(t, e + 1);
        if (c1 == '#' || (c1 == '4' && at(t, e + 2) == '0') ||
            (c1 == '2' && ((at(t, e + 2) | 32) == 'e' || (at(t, e + 2) | 32) == 'b')) ||
            (c1 == 'c' && lit(t, e + 1, "commat;")) || c1 == '@')
            S->escaped = 1;
        break;
    }
    default:
        if (!S->kw_fold)
            break;
        switch (code) {
        case P_KW_PASS:
            keyword(S, t, i, 0, 1);
            break;
        case P_KW_PWD:
            keyword(S, t, i, 1, 1);
            break;
        case P_KW_CR:
            keyword(S, t, i - 2, 2, 1);
            keyword(S, t, i, 6, 1);
            break;
        case P_KW_TOKEN:
            keyword(S, t, i - 1, 3, 1);
            break;
        case P_KW_KEY:
            keyword(S, t, i - 1, 4, 1);
            break;
        case P_KW_AUTH:
            keyword(S, t, i, 5, 1);
            break;
        case P_KW_KENNWORT:
            keyword(S, t, i - 3, 7, 1);
            break;
        default:
            break;
        }
    }
}

/* The decimal digits detectors.ASCII_TWINS reads as 0-9 besides the full-width ones (detectors._OTHER_ZEROS). */
static inline int
other_digit(Py_UCS4 c)
{
    return (c >= 0x660 && c <= 0x669) || (c >= 0x6F0 && c <= 0x6F9) || (c >= 0x966 && c <= 0x96F) ||
           (c >= 0x9E6 && c <= 0x9EF);
}

/* disguised._CJK_MARKS: the ideographic, full-width and half-width full stops and the small commercial at. */
static inline int
cjk_mark(Py_UCS4 c)
{
    return c == 0x3002 || c == 0xFF0E || c == 0xFF61 || c == 0xFE6B;
}

/* Characters >= 256 start nothing but CJK keywords, other scripts' digits, the CJK marks and the stand-ins for an '@'
   of disguised._HASH_EMAIL ('＃', '★', '☆'); two of them make str.lower() differ from ASCII folding: U+0130
   lower-cases to two characters (so the reference searches the text as is), U+212A (KELVIN SIGN) to 'k'. A test
   checks against unicodedata that no other character does either. */
static inline int
wide_trigger(Py_UCS4 c)
{
    return c == 0x130 || c == 0x212A || c == 0x5BC6 || c == 0x53E3 || c == 0x4EE4 || (c >= 0xFE6B && c <= 0xFF20) ||
           c == 0xFF61 || c == 0x3002 || c == 0x2605 || c == 0x2606 || other_digit(c);
}

static void
on_wide(Scan *S, Py_ssize_t i, Py_UCS4 c0)
{
    if (c0 == 0x130 || c0 == 0x212A) {
        S->need_lower = 1;
    } else if (cjk_mark(c0)) {
        S->disguised = 1;
    } else if (c0 >= 0xFF10 && c0 <= 0xFF20) {
        S->fullwidth |= c0 <= 0xFF19 || c0 == 0xFF20; /* not the full-width punctuation between them */
    } else if (other_digit(c0)) {
        S->fullwidth = 1;
    } else if (c0 == 0xFF03 || c0 == 0x2605 || c0 == 0x2606) { /* '＃', '★', '☆' for an '@' */
        if (is_local(at(S->t, i - 1)) && is_alnum_ascii(at(S->t, i + 1)))
            hash_email(S, i);
    } else if (S->kw_fold) {
        for (int k = 8; k < N_KEYWORDS; k++)
            keyword(S, S->t, i, k, 1);
    }
}

/* A run of digits starting at i: the chain just grows inside it (nothing else starts at a digit). */
#define DIGIT_RUN(s, n, i)                                                             \
    do {                                                                               \
        on_digit(S, i);                                                                \
        while (i + 1 < n && is_digit(s[i + 1])) {                                      \
            S->chain_last = ++i;                                                       \
            S->chain_digits++;                                                         \
        }                                                                              \
    } while (0)

/* Masks of a 2- or 4-byte code unit: beyond 256 a character starts nothing and ends pairs as 0 would, except that
   the characters on_wide looks at start a "pair" with anything. */
static inline uint64_t
wide_masks(Py_UCS4 c)
{
    if (c < 256)
        return main_masks[c];
    return (wide_trigger(c) ? (uint64_t)UINT32_MAX << 32 : 0) | (main_masks[0] & UINT32_MAX);
}

/* main_loop_latin1 for 2- and 4-byte text. */
#define MAIN_LOOP(TYPE)                                                                \
    do {                                                                               \
        const TYPE *s = (const TYPE *)t->data;                                         \
        Py_ssize_t n = t->n, i = 0;                                                    \
        while (i < n) {                                                                \
            if (i + 4 < n) {                                                           \
                uint64_t m0 = wide_masks(s[i]), m1 = wide_masks(s[i + 1]);             \
                uint64_t m2 = wide_masks(s[i + 2]), m3 = wide_masks(s[i + 3]);         \
                uint64_t m4 = wide_masks(s[i + 4]);                                    \
                if (!(((m0 >> 32) & m1) | ((m1 >> 32) & m2) | ((m2 >> 32) & m3) |     \
                      ((m3 >> 32) & m4))) {                                            \
                    i += 4;                                                            \
                    continue;                                                          \
                }                                                                      \
            }                                                                          \
            for (Py_ssize_t end = i + 4 < n ? i + 4 : n; i < end; i++) {               \
                Py_UCS4 c0 = s[i], c1 = i + 1 < n ? (Py_UCS4)s[i + 1] : 0;             \
                if (c0 >= 256) {                                                       \
                    if (wide_trigger(c0))                                              \
                        on_wide(S, i, c0);                                             \
                    continue;                                                          \
                }                                                                      \
                if (c1 >= 256)                                                         \
                    c1 = 0;                                                            \
                if (!((main_masks[c0] >> 32) & main_masks[c1]))                        \
                    continue;                                                          \
                if (is_digit(c0)) {                                                    \
                    DIGIT_RUN(s, n, i);                                                \
                    i++;                                                               \
                    break;                                                             \
                }                                                                      \
                on_pair(S, i, main_pairs[(c0 << 8) | c1], c1);                         \
            }                                                                          \
        }                                                                              \
    } while (0)

/* Only for texts with an obfuscation hint (else the reference never runs _EMAIL_OBFUSCATED): its [at] forms.
   Four positions per test, as in the main loop; characters >= 256 start nothing and end pairs as 0. */
static inline uint64_t
obfuscation_masks_of(Py_UCS4 c)
{
    return c < 256 ? obfuscation_masks[c] : obfuscation_masks[0] & UINT32_MAX;
}

#define OBFUSCATION_LOOP(TYPE)                                                         \
    do {                                                                               \
        const TYPE *s = (const TYPE *)t->data;                                         \
        Py_ssize_t n = t->n, i = 0;                                                    \
        while (i < n) {                                                                \
            if (i + 4 < n) {                                                           \
                uint64_t m0 = obfuscation_masks_of(s[i]), m1 = obfuscation_masks_of(s[i + 1]); \
                uint64_t m2 = obfuscation_masks_of(s[i + 2]), m3 = obfuscation_masks_of(s[i + 3]); \
                uint64_t m4 = obfuscation_masks_of(s[i + 4]);                          \
                if (!(((m0 >> 32) & m1) | ((m1 >> 32) & m2) | ((m2 >> 32) & m3) |     \
                      ((m3 >> 32) & m4))) {                                            \
                    i += 4;                                                            \
                    continue;                                                          \
                }                                                                      \
            }                                                                          \
            for (Py_ssize_t end = i + 4 < n ? i + 4 : n; i < end; i++) {               \
                Py_UCS4 c0 = s[i], c1 = i + 1 < n ? (Py_UCS4)s[i + 1] : 0;             \
                if (c0 >= 256)                                                         \
                    continue;                                                          \
                unsigned code = obfuscation_pairs[(c0 << 8) | (c1 < 256 ? c1 : 0)];    \
                if (code == P_AT_WORD)                                                 \
                    on_at_word(S, i);                                                  \
                else if (code == P_OPEN_BRACKET)                                       \
                    on_open_bracket(S, i);                                             \
            }                                                                          \
        }                                                                              \
    } while (0)

/* The 1-byte case (most text): four positions per test, one small-table load per character. */
static void
main_loop_latin1(Scan *S)
{
    const Text *t = S->t;
    const Py_UCS1 *s = (const Py_UCS1 *)t->data;
    const uint64_t *M = main_masks;
    Py_ssize_t n = t->n, i = 0;
    while (i < n) {
        if (i + 4 < n) {
            uint64_t m0 = M[s[i]], m1 = M[s[i + 1]], m2 = M[s[i + 2]], m3 = M[s[i + 3]], m4 = M[s[i + 4]];
            if (!(((m0 >> 32) & m1) | ((m1 >> 32) & m2) | ((m2 >> 32) & m3) | ((m3 >> 32) & m4))) {
                i += 4;
                continue;
            }
        }
        /* some pair among the next four positions (or the last few) fires: test them one by one */
        for (Py_ssize_t end = i + 4 < n ? i + 4 : n; i < end; i++) {
            Py_UCS4 c0 = s[i], c1 = i + 1 < n ? s[i + 1] : 0;
            if (!((M[c0] >> 32) & M[c1]))
                continue;
            if (is_digit(c0)) {
                DIGIT_RUN(s, n, i);
                i++;
                break; /* the run may end past `end`: test afresh from the next character */
            }
            on_pair(S, i, main_pairs[(c0 << 8) | c1], c1);
        }
    }
}

static void
main_pass(Scan *S)
{
    const Text *t = S->t;
    if (t->kind == PyUnicode_1BYTE_KIND)
        main_loop_latin1(S);
    else if (t->kind == PyUnicode_2BYTE_KIND)
        MAIN_LOOP(Py_UCS2);
    else
        MAIN_LOOP(Py_UCS4);
    if (S->chain_active && S->chain_digits >= 8)
        push2(S, &S->clusters, S->chain_start, S->chain_last + 1);
    if (!S->obfuscation_hint)
        return;
    if (t->kind == PyUnicode_1BYTE_KIND)
        OBFUSCATION_LOOP(Py_UCS1);
    else if (t->kind == PyUnicode_2BYTE_KIND)
        OBFUSCATION_LOOP(Py_UCS2);
    else
        OBFUSCATION_LOOP(Py_UCS4);
}

/* ------------------------------------------------------------------------------------------------------------
   Windows (exactly detectors.number_windows / _hint_windows) and the candidates inside them
   ------------------------------------------------------------------------------------------------------------ */

static void
merge_push(Scan *S, Vec *w, Py_ssize_t a, Py_ssize_t b) /* detectors._merge, one window at a time */
{
    if (w->n && a <= w->v[w->n - 1]) {
        if (b > w->v[w->n - 1])
            w->v[w->n - 1] = b;
        return;
    }
    push2(S, w, a, b);
}

static inline Py_ssize_t
clip_lo(Py_ssize_t x)
{
    return x < 0 ? 0 : x;
}

static inline Py_ssize_t
clip_hi(Py_ssize_t x, Py_ssize_t n)
{
    return x > n ? n : x;
}

/* _hint_windows(hint, text, before, after): `hints` holds (start, end) pairs, or single positions of one-character
   hints when `pairs` is 0. Too many hints (more than n // (before + after) + 17) give one window, the text. */
static void
hint_windows(Scan *S, const Vec *hints, int pairs, Py_ssize_t before, Py_ssize_t after, Vec *w)
{
    Py_ssize_t n = S->t->n, step = pairs ? 2 : 1, count = hints->n / step;
    if (count == 0)
        return;
    if (count > n / (before + after) + 17) {
        push2(S, w, 0, n);
        return;
    }
    for (Py_ssize_t k = 0; k < hints->n; k += step) {
        Py_ssize_t start = hints->v[k], end = pairs ? hints->v[k + 1] : start + 1;
        merge_push(S, w, clip_lo(start - before), clip_hi(end + after, n));
    }
}

/* Lookbehinds shared by the number patterns: (?<![0-9A-Za-z_]X), and (?<![0-9][\-.,/:]X) for X at p, or without
   the ',' (detectors._NOT_IN_NUMBER) for the patterns whose shape rules out a decimal. */
static inline int
free_before(const Text *t, Py_ssize_t p)
{
    return !is_an_(at(t, p - 1));
}

static inline int
not_after_number(const Text *t, Py_ssize_t p, int comma)
{
    Py_UCS4 prev = at(t, p - 1);
    int sep = prev == '-' || prev == '.' || (comma && prev == ',') || prev == '/' || prev == ':';
    return !(sep && is_digit(at(t, p - 2)));
}

static inline int
in3(Py_UCS4 c, char a, char b, char d)
{
    return c == (Py_UCS4)a || c == (Py_UCS4)b || c == (Py_UCS4)d;
}

/* _PHONE_US after its optional "1[ \-.]?": (?:\(\d{3}\)[ ]?|\d{3}[\-. ])\d{3}[\-. ]\d{4} */
static int
us_body(const Text *t, Py_ssize_t q)
{
    Py_ssize_t r;
    if (at(t, q) == '(') {
        if (!digits(t, q + 1, 3) || at(t, q + 4) != ')')
            return 0;
        r = q + 5;
        if (at(t, r) == ' ')
            r++;
    } else {
        if (!digits(t, q, 3) || !in3(at(t, q + 3), '-', '.', ' '))
            return 0;
        r = q + 4;
    }
    return digits(t, r, 3) && in3(at(t, r + 3), '-', '.', ' ') && digits(t, r + 4, 4);
}

/* detectors._PHONE_CUED after its optional "1[ \-.]?": [2-9]\d\d[ \-.]?[2-9]\d\d[ \-.]?\d{4} */
static int
cued_body(const Text *t, Py_ssize_t q)
{
    for (int g = 0; g < 2; g++) {
        Py_UCS4 c = at(t, q);
        if (c < '2' || c > '9' || !digits(t, q + 1, 2))
            return 0;
        q += 3;
        if (in3(at(t, q), '-', '.', ' '))
            q++;
    }
    return digits(t, q, 4);
}

/* A card hit needs 13 digits in its match, and a _CARD match runs along digits joined by single ' ', '-' or '.'. A start
   whose chain has fewer gives no hit, and neither does any start inside its match (its chain is a suffix of this
   one), so such starts can all go: no start that can give a hit ever lay inside one of their matches. */
static int
card_chain_has_13(const Text *t, Py_ssize_t p)
{
    int count = 0;
    Py_ssize_t j = p;
    while (count < 13) {
        Py_UCS4 c = at(t, j);
        if (is_digit(c)) {
            count++;
            j++;
        } else if ((c == ' ' || c == '-' || c == '.') && is_digit(at(t, j + 1))) {
            j++;
        } else {
            break;
        }
    }
    return count >= 13;
}

/* The birth date of _CN_ID at q (8 digits, checked by the caller): (?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]) */
static int
cn_id_date(const Text *t, Py_ssize_t q)
{
    Py_UCS4 c0 = at(t, q), c1 = at(t, q + 1), m0 = at(t, q + 4), m1 = at(t, q + 5), d0 = at(t, q + 6), d1 = at(t, q + 7);
    int century = (c0 == '1' && (c1 == '8' || c1 == '9')) || (c0 == '2' && c1 == '0');
    int month = (m0 == '0' && m1 != '0') || (m0 == '1' && m1 <= '2');
    int day = (d0 == '0' && d1 != '0') || d0 == '1' || d0 == '2' || (d0 == '3' && d1 <= '1');
    return century && month && day;
}

static inline int
nonzero_digit(Py_UCS4 c)
{
    return c >= '1' && c <= '9';
}

static void
number_candidates(Scan *S, Py_ssize_t p, Py_ssize_t end)
{
    const Text *t = S->t;
    Py_UCS4 c = at(t, p);
    if (!is_digit(c) && c != '(')
        return;
    int free = free_before(t, p);
    if (!free) /* every number pattern's lookbehind excludes [0-9A-Za-z_] before it */
        return;
    int nb = not_after_number(t, p, 1), nbf = not_after_number(t, p, 0);
    if (nbf) {
        if (c == '1') {
            Py_UCS4 c1 = at(t, p + 1);
            if (us_body(t, in3(c1, ' ', '-', '.') ? p + 2 : p + 1))
                push2(S, &S->out[L_US], p, end);
        } else if ((c >= '2' && c <= '9') || c == '(') {
            if (us_body(t, p))
                push2(S, &S->out[L_US], p, end);
        }
        if (c == '1' ? cued_body(t, in3(at(t, p + 1), ' ', '-', '.') ? p + 2 : p + 1) : cued_body(t, p))
            push2(S, &S->out[L_PHONE_CUED], p, end);
    }
    /* _PHONE_NATIONAL: 0(?<![0-9A-Za-z_/]0)(?<!…)\d or \((?<![0-9A-Za-z_]\()0\d or \((?<!…)[1-9][1-9]\) or
       8(?<!…)[ \-]?\( */
    if ((c == '0' && nb && at(t, p - 1) != '/' && is_digit(at(t, p + 1))) ||
        (c == '(' && at(t, p + 1) == '0' && is_digit(at(t, p + 2))) ||
        (c == '(' && nonzero_digit(at(t, p + 1)) && nonzero_digit(at(t, p + 2)) && at(t, p + 3) == ')') ||
        (c == '8' && nb && at(t, p - 1) != '/' &&
         (at(t, p + 1) == '(' || (in3(at(t, p + 1), ' ', '-', ' ') && at(t, p + 2) == '('))))
        push2(S, &S->out[L_NATIONAL], p, end);
    if (c == '(')
        return;
    /* _PHONE_CN_MOBILE: 1[3-9]\d(?:\d{8}|[ \-]\d{4}[ \-]\d{4}) */
    if (c == '1' && nbf) {
        Py_UCS4 c1 = at(t, p + 1), c3 = at(t, p + 3), c8 = at(t, p + 8);
        if (c1 >= '3' && c1 <= '9' && is_digit(at(t, p + 2)) &&
            (digits(t, p + 3, 8) ||
             ((c3 == ' ' || c3 == '-') && digits(t, p + 4, 4) && (c8 == ' ' || c8 == '-') && digits(t, p + 9, 4))))
            push2(S, &S->out[L_CN_MOBILE], p, end);
    }
    /* _CARD: [2-6]\d{3}… */
    if (c >= '2' && c <= '6' && nbf && digits(t, p + 1, 3) && card_chain_has_13(t, p))
        push2(S, &S->out[L_CARD], p, end);
    /* _SSN: \d(\d{2})([ \-]?)(\d{2})\2(\d{4})(?![0-9A-Za-z_]) ; the compact form is tested with that lookahead too,
       which keeps the starts inside longer digit runs out: a character right after nine digits lies in their window
       (a window ends 4 past its cluster, or at the text's end), so the test reads what the pattern sees. */
    if (nbf && digits(t, p + 1, 2)) {
        Py_UCS4 sep = at(t, p + 3);
        if (((sep == ' ' || sep == '-') && digits(t, p + 4, 2) && at(t, p + 6) == sep && digits(t, p + 7, 4)) ||
            (digits(t, p + 3, 6) && !is_an_(at(t, p + 9))))
            push2(S, &S->out[L_SSN], p, end);
    }
    /* _CN_ID: [1-8]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx] */
    if (c >= '1' && c <= '8' && digits(t, p + 1, 16) && cn_id_date(t, p + 6)) {
        Py_UCS4 last = at(t, p + 17);
        if (is_digit(last) || last == 'X' || last == 'x')
            push2(S, &S->out[L_CN_ID], p, end);
    }
}

/* _IPV4: \d(?<![0-9A-Za-z_.]\d)\d{0,2}\.\d{1,3}\.\d{1,3}\.\d */
static int
ipv4_candidate(const Text *t, Py_ssize_t p)
{
    Py_UCS4 prev = at(t, p - 1);
    if (!is_digit(at(t, p)) || is_an_(prev) || prev == '.')
        return 0;
    Py_ssize_t j = p;
    for (int g = 0; g < 3; g++) {
        Py_ssize_t k = digit_run(t, j, 4);
        if (k < 1 || k > 3 || at(t, j + k) != '.')
            return 0;
        j += k + 1;
    }
    return is_digit(at(t, j));
}

/* _IPV6 starts a run of [0-9A-Fa-f:] (its lookbehind excludes them before) and matches only inside that run, so
   no start lies inside another's match, and a start that cannot give a hit can go. A hit's value (3 to 39 characters
   of the run) needs a digit and two ':' (ipv6_hit), and ipaddress.IPv6Address needs "::" or exactly 8 groups, i.e.
   7 ':' (the value has no '.', so no embedded IPv4). Each of these holds for the run's first 39 characters if it
   holds for any prefix of them. */
static int
ipv6_candidate(const Text *t, Py_ssize_t p)
{
    Py_UCS4 prev = at(t, p - 1);
    if (is_an_(prev) || prev == ':' || prev == '.')
        return 0;
    int colons = 0, double_colon = 0, has_digit = 0;
    Py_ssize_t k = 0;
    for (; k < 39; k++) {
        Py_UCS4 c = at(t, p + k);
        if (c == ':') {
            colons++;
            double_colon |= k > 0 && at(t, p + k - 1) == ':';
        } else if (is_digit(c)) {
            has_digit = 1;
        } else if (!is_hex(c)) {
            break;
        }
    }
    return k >= 3 && has_digit && colons >= 2 && (double_colon || colons >= 7);
}

static void
window_candidates(Scan *S)
{
    const Text *t = S->t;
    Py_ssize_t n = t->n;
    Vec numbers = {0}, ibans = {0}, w = {0};
    for (Py_ssize_t k = 0; k < S->clusters.n; k += 2) {
        Py_ssize_t a = S->clusters.v[k], b = S->clusters.v[k + 1];
        merge_push(S, &numbers, clip_lo(a - 4), clip_hi(b + 4, n));
        merge_push(S, &ibans, clip_lo(a - 12), clip_hi(b + 24, n));
    }
    for (Py_ssize_t k = 0; k < numbers.n; k += 2)
        for (Py_ssize_t p = numbers.v[k]; p < numbers.v[k + 1]; p++)
            number_candidates(S, p, numbers.v[k + 1]);
    /* _IBAN: [A-Za-z](?<![0-9A-Za-z_][A-Za-z])[A-Za-z]\d{2} */
    for (Py_ssize_t k = 0; k < ibans.n; k += 2)
        for (Py_ssize_t p = ibans.v[k]; p < ibans.v[k + 1]; p++)
            if (is_alpha(at(t, p)) && free_before(t, p) && is_alpha(at(t, p + 1)) && digits(t, p + 2, 2))
                push2(S, &S->out[L_IBAN], p, ibans.v[k + 1]);

    hint_windows(S, &S->v4_hints, 1, 4, 5, &w);
    for (Py_ssize_t k = 0; k < w.n; k += 2)
        for (Py_ssize_t p = w.v[k]; p < w.v[k + 1]; p++)
            if (ipv4_candidate(t, p))
                push2(S, &S->out[L_IPV4], p, w.v[k + 1]);
    w.n = 0;
    if (S->v6_possible)
        hint_windows(S, &S->v6_hints, 1, 40, 40, &w);
    for (Py_ssize_t k = 0; k < w.n; k += 2)
        for (Py_ssize_t p = w.v[k]; p < w.v[k + 1]; p++)
            if ((is_hex(at(t, p)) || at(t, p) == ':') && ipv6_candidate(t, p))
                push2(S, &S->out[L_IPV6], p, w.v[k + 1]);
    /* _EMAIL: its local part is the whole run of [\w.+\-%<marks>] before an '@' (1..64 characters, not starting with '.'),
       and the match must start inside the window and reach its '@' before the window ends. */
    w.n = 0;
    hint_windows(S, &S->at_hints, 0, 64, 256, &w);
    Py_ssize_t k = 0;
    for (Py_ssize_t a = 0; a < S->ats.n && k < w.n; a++) {
        Py_ssize_t pos = S->ats.v[a];
        while (k < w.n && w.v[k + 1] <= pos)
            k += 2;
        if (k >= w.n || pos < w.v[k])
            continue;
        Py_ssize_t s = pos;
        while (s > w.v[k] && is_email_local(at(t, s - 1)) && pos - s <= 64)
            s--;
        if (s < pos && pos - s <= 64 && !is_email_local(at(t, s - 1)) && at(t, s) != '.')
            push2(S, &S->out[L_EMAIL], s, w.v[k + 1]);
    }
    vec_free(&numbers);
    vec_free(&ibans);
    vec_free(&w);
}

static int
cmp_ssize(const void *a, const void *b)
{
    Py_ssize_t x = *(const Py_ssize_t *)a, y = *(const Py_ssize_t *)b;
    return (x > y) - (x < y);
}

static void
finish_obfuscated(Scan *S)
{
    Vec *v = &S->obfuscated;
    if (!S->obfuscation_hint || v->n == 0)
        return;
    qsort(v->v, (size_t)v->n, sizeof *v->v, cmp_ssize);
    for (Py_ssize_t k = 0; k < v->n; k++)
        if (k == 0 || v->v[k] != v->v[k - 1])
            push2(S, &S->out[L_OBFUSCATED], v->v[k], S->t->n);
}

static void
scan_free(Scan *S)
{
    vec_free(&S->clusters);
    vec_free(&S->ats);
    vec_free(&S->at_hints);
    vec_free(&S->v4_hints);
    vec_free(&S->v6_hints);
    vec_free(&S->obfuscated);
    for (int k = 0; k < N_KEYWORDS; k++)
        vec_free(&S->kw[k]);
    for (int k = 0; k < N_LISTS; k++)
        vec_free(&S->out[k]);
}

/* ------------------------------------------------------------------------------------------------------------
   Python interface
   ------------------------------------------------------------------------------------------------------------ */

static PyObject *
to_list(const Vec *a) /* None when empty: most lists are, and None costs nothing */
{
    if (a->n == 0)
        Py_RETURN_NONE;
    PyObject *list = PyList_New(a->n);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t k = 0; k < a->n; k++) {
        PyObject *x = PyLong_FromSsize_t(a->v[k]);
        if (x == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, k, x);
    }
    return list;
}

static int
any_nonempty(const Vec *vecs, int count)
{
    for (int k = 0; k < count; k++)
        if (vecs[k].n)
            return 1;
    return 0;
}

/* [(index, [start, endpos, ...]), ...] for the non-empty vectors among `vecs`, or None. */
static PyObject *
nonempty_lists(Vec *vecs, int count)
{
    PyObject *found = NULL;
    for (int k = 0; k < count; k++) {
        if (vecs[k].n == 0)
            continue;
        if (found == NULL && (found = PyList_New(0)) == NULL)
            return NULL;
        PyObject *list = to_list(&vecs[k]);
        PyObject *item = list ? Py_BuildValue("(iN)", k, list) : NULL;
        if (item == NULL || PyList_Append(found, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(found);
            return NULL;
        }
        Py_DECREF(item);
    }
    return found ? found : Py_NewRef(Py_None);
}

static int
text_of(PyObject *obj, Text *t)
{
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "_prescan needs str, got %.80s", Py_TYPE(obj)->tp_name);
        return -1;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(obj) < 0)
        return -1;
#endif
    t->kind = PyUnicode_KIND(obj);
    t->data = PyUnicode_DATA(obj);
    t->n = PyUnicode_GET_LENGTH(obj);
    return 0;
}

PyDoc_STRVAR(scan_doc,
             "scan(text) -> (found, keywords, need_lower, fullwidth, escaped, spelled, disguised) or None\n\n"
             "found: [(pattern index, [start, endpos, ...]), ...] for the patterns that have candidates, in the\n"
             "order of triggers._PATTERNS, or None. keywords: [(index in secrets._KEYWORDS, [position, ...]), ...]\n"
             "or None; None too when need_lower: then call keywords(text.lower() or text, text). fullwidth: the\n"
             "text holds a full-width or other script's digit or a full-width '@': scan its ASCII twin\n"
             "(detectors.ASCII_TWINS) instead. escaped: the text holds \"%40\", \"%2E\", \"%2B\" (also after\n"
             "\"%25\"), \"&#\", \"&commat;\" (also after \"&amp;\") or \"\\\\@\" (detectors.find_escaped_values may\n"
             "find something). spelled: detectors._SPELLED_AT matches (detectors.find_spelled_emails may find\n"
             "something). disguised: a tag beside an '@', or a CJK full stop or small '@' (disguised.\n"
             "find_disguised_emails may find something). None when all seven are empty or false: most texts, and\n"
             "nearly all ids and URLs.");

/* Texts shorter than this are scanned holding the GIL. */
#define RELEASE_GIL_FROM 4096

static void
scan_text(Scan *S)
{
    main_pass(S);
    finish_obfuscated(S);
    window_candidates(S);
}

static PyObject *
prescan_scan(PyObject *self, PyObject *arg)
{
    (void)self;
    Text t;
    if (text_of(arg, &t) < 0)
        return NULL;
    Scan S;
    memset(&S, 0, sizeof S);
    S.t = &t;
    S.kw_fold = 1;
    if (t.n < RELEASE_GIL_FROM) { /* ids, URLs, short texts: releasing the GIL would cost more than the scan */
        scan_text(&S);
    } else {
        Py_BEGIN_ALLOW_THREADS
        scan_text(&S);
        Py_END_ALLOW_THREADS
    }
    PyObject *found = NULL, *keywords = NULL, *result = NULL;
    if (S.oom)
        PyErr_NoMemory();
    else if (!(S.need_lower || S.fullwidth || S.escaped || S.spelled || S.disguised || any_nonempty(S.out, N_LISTS) ||
               any_nonempty(S.kw, N_KEYWORDS)))
        result = Py_NewRef(Py_None); /* nothing to look at: the caller returns at once */
    else if ((found = nonempty_lists(S.out, N_LISTS)) != NULL &&
             (keywords = S.need_lower ? Py_NewRef(Py_None) : nonempty_lists(S.kw, N_KEYWORDS)) != NULL)
        result = PyTuple_Pack(7, found, keywords, S.need_lower ? Py_True : Py_False,
                              S.fullwidth ? Py_True : Py_False, S.escaped ? Py_True : Py_False,
                              S.spelled ? Py_True : Py_False, S.disguised ? Py_True : Py_False);
    Py_XDECREF(found);
    Py_XDECREF(keywords);
    scan_free(&S);
    return result;
}

PyDoc_STRVAR(keywords_doc,
             "keywords(lowered, text) -> [(index in secrets._KEYWORDS, [position, ...]), ...] or None\n\n"
             "Every occurrence of each keyword in `lowered` (compared exactly) after which assignment_tail could\n"
             "match in `text`; both strings must have the same length.");

static PyObject *
prescan_keywords(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *lowered_obj, *text_obj;
    if (!PyArg_ParseTuple(args, "OO:keywords", &lowered_obj, &text_obj))
        return NULL;
    Text lowered, t;
    if (text_of(lowered_obj, &lowered) < 0 || text_of(text_obj, &t) < 0)
        return NULL;
    if (lowered.n != t.n) {
        PyErr_SetString(PyExc_ValueError, "keywords: both strings must have the same length");
        return NULL;
    }
    Scan S;
    memset(&S, 0, sizeof S);
    S.t = &t;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < lowered.n; i++) {
        Py_UCS4 c = at(&lowered, i);
        for (int k = 0; k < 8; k++)
            if (c == (Py_UCS4)(unsigned char)KEYWORDS[k][0])
                keyword(&S, &lowered, i, k, 0);
        for (int k = 8; k < N_KEYWORDS; k++)
            if (c == CJK_KEYWORDS[k - 8][0])
                keyword(&S, &lowered, i, k, 0);
    }
    Py_END_ALLOW_THREADS
    PyObject *result = S.oom ? PyErr_NoMemory() : nonempty_lists(S.kw, N_KEYWORDS);
    scan_free(&S);
    return result;
}

static PyMethodDef prescan_methods[] = {
    {"scan", prescan_scan, METH_O, scan_doc},
    {"keywords", prescan_keywords, METH_VARARGS, keywords_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef prescan_module = {
    PyModuleDef_HEAD_INIT, "_prescan", "Candidate positions for the privacy patterns (see _prescan.c).", -1,
    prescan_methods,       NULL,       NULL,                                                             NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__prescan(void)
{
    init_tables();
    if (pair_clash) {
        PyErr_SetString(PyExc_SystemError, "_prescan: two triggers share a character pair");
        return NULL;
    }
    return PyModule_Create(&prescan_module);
}
