/* io.c: reading and writing tensors: NumPy's .npy format (version 1 to 3,
 * little-endian float64 or float32, C order) and CSV. Every malformed file
 * gets a message that names it and says what is wrong; nothing here trusts a
 * size it reads before checking it against the file and the limits. It also
 * holds what the rest of exprc needs to turn numbers into text and back the
 * same way in every locale, and to write output files without ever
 * replacing a device or following a planted symlink. */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int failf(char *err, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, n, fmt, ap);
  va_end(ap);
  return -1;
}

/* ---- numbers as text ---- */

static locale_t c_locale;
static pthread_once_t c_once = PTHREAD_ONCE_INIT;

/* glibc and musl hand out a static object for "C" without allocating, so
 * this does not fail there; were it to, conversions use the thread's
 * locale, as strtod itself would. */
static void make_c_locale(void) {
  c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

locale_t exprc_rt_enter_c_locale(void) {
  pthread_once(&c_once, make_c_locale);
  return c_locale ? uselocale(c_locale) : (locale_t)0;
}

void exprc_rt_leave_c_locale(locale_t old) {
  if (old)
    uselocale(old);
}

double exprc_rt_strtod(const char *s, char **end) {
  locale_t old = exprc_rt_enter_c_locale();
  double v = strtod(s, end);
  exprc_rt_leave_c_locale(old);
  return v;
}

int exprc_rt_format(char *buf, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  locale_t old = exprc_rt_enter_c_locale();
  int k = vsnprintf(buf, n, fmt, ap);
  exprc_rt_leave_c_locale(old);
  va_end(ap);
  return k;
}

/* Past the digits at s; *any is set if there is one. */
static const char *digits(const char *s, const char *end, int *any) {
  for (; s < end && *s >= '0' && *s <= '9'; s++)
    *any = 1;
  return s;
}

size_t exprc_rt_decimal(const char *s, const char *end, double *v) {
  const char *p = s;
  int nd = 0, ne = 0;
  if (p < end && (*p == '+' || *p == '-'))
    p++;
  p = digits(p, end, &nd);
  if (p < end && *p == '.')
    p = digits(p + 1, end, &nd);
  if (nd == 0)
    return 0;
  if (p < end && (*p == 'e' || *p == 'E')) {
    const char *x = p + 1;
    if (x < end && (*x == '+' || *x == '-'))
      x++;
    x = digits(x, end, &ne);
    if (ne > 0)
      p = x; /* "1e" is the number 1 followed by "e" */
  }
  size_t len = (size_t)(p - s);
  char small[64], *buf = len < sizeof small ? small : malloc(len + 1);
  if (!buf)
    return 0;
  memcpy(buf, s, len);
  buf[len] = 0;
  char *stop;
  *v = exprc_rt_strtod(buf, &stop); /* the same span: a subset of its syntax */
  if (stop != buf + len)
    len = 0;
  if (buf != small)
    free(buf);
  return len;
}

/* ---- reading a file, bounded ---- */

/* Only regular files and FIFOs are read: a device such as /dev/zero never
 * ends. The open does not block, so a FIFO that nobody writes to reads as
 * empty instead of hanging; then reads block for a writer that is there. */
static int open_input(const char *path, struct stat *st, char *err,
                      size_t errn) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return failf(err, errn, "%s: cannot open: %s", path, strerror(errno));
  if (fstat(fd, st) != 0 || !(S_ISREG(st->st_mode) || S_ISFIFO(st->st_mode))) {
    int dir = S_ISDIR(st->st_mode);
    close(fd);
    return failf(err, errn, "%s: %s", path,
                 dir ? "is a directory" : "not a regular file or a FIFO");
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
    close(fd);
    return failf(err, errn, "%s: cannot read: %s", path, strerror(errno));
  }
  return fd;
}

static int too_big(const char *path, int64_t max, char *err, size_t errn) {
  return failf(err, errn, "%s: larger than the %lld bytes that the element "
               "limit allows", path, (long long)max);
}

/* The whole file, NUL-terminated, if it has at most max bytes. */
static char *slurp(const char *path, int64_t max, size_t *len, char *err,
                   size_t errn) {
  struct stat st;
  int fd = open_input(path, &st, err, errn);
  if (fd < 0)
    return NULL;
  if (S_ISREG(st.st_mode) && st.st_size > max)
    return close(fd), too_big(path, max, err, errn), NULL;
  size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  ssize_t k = 0;
  while (buf && (int64_t)n <= max &&
         (k = read(fd, buf + n, cap - n)) != 0) {
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0)
      break;
    n += (size_t)k;
    if (n == cap) { /* a FIFO, or a file that grows as it is read */
      char *nb = realloc(buf, cap * 2 + 1);
      if (!nb)
        free(buf);
      buf = nb;
      cap *= 2;
    }
  }
  int bad = k < 0 ? errno : 0;
  close(fd);
  if (buf && (int64_t)n > max)
    return free(buf), too_big(path, max, err, errn), NULL;
  if (!buf || bad)
    return free(buf), failf(err, errn, "%s: cannot read: %s", path,
                            strerror(bad ? bad : ENOMEM)), NULL;
  buf[n] = 0;
  *len = n;
  return buf;
}

/* ---- .npy ---- */

/* The header is a Python dict literal with exactly the keys 'descr',
 * 'fortran_order' and 'shape', as NumPy writes it and as np.load requires;
 * it is parsed as such, so that a key's name inside another value (a dtype
 * string, say) is never taken for the key. */
typedef struct Npy {
  const char *path;
  char *err;
  size_t errn;
  int said;                  /* err holds a message more precise than "malformed" */
  const char *descr;         /* the dtype string, without its quotes */
  int dlen, fortran, shape;  /* fortran: -1 until seen */
  int64_t max;               /* elements */
  exprc_rt_array *a;
} Npy;

static const char *npy_ws(const char *p) {
  while (*p == ' ')
    p++;
  return p;
}

/* A quoted Python string: its text in [*s, *s + *n); the end, or NULL. */
static const char *npy_string(const char *p, const char **s, int *n) {
  if (*p != '\'' && *p != '"')
    return NULL;
  const char *e = strchr(p + 1, *p);
  if (!e)
    return NULL;
  *s = p + 1;
  *n = (int)(e - p - 1);
  return e + 1;
}

static const char *npy_said(Npy *h, const char *what) {
  failf(h->err, h->errn, "%s: %s", h->path, what);
  h->said = 1;
  return NULL;
}

/* (), (3,) or (2, 3): whole numbers (Python 2 wrote 3L) and commas. */
static const char *npy_shape(Npy *h, const char *p) {
  exprc_rt_array *a = h->a;
  if (*p++ != '(')
    return npy_said(h, "malformed shape in .npy header");
  for (a->rank = 0, a->size = 1, p = npy_ws(p); *p != ')';) {
    const char *e = p;
    while (*e >= '0' && *e <= '9')
      e++;
    long long d = e > p && e - p < 19 ? strtoll(p, NULL, 10) : -1;
    if (d < 0)
      return npy_said(h, "malformed shape in .npy header");
    if (a->rank == EXPRC_RT_MAX_RANK)
      return npy_said(h, "rank above 8 is not supported");
    a->shape[a->rank++] = d;
    if (d > 0 && a->size > h->max / d)
      return npy_said(h, "too many elements");
    a->size *= d;
    p = npy_ws(e + (*e == 'L'));
    if (*p == ',')
      p = npy_ws(p + 1);
    else if (*p != ')' || a->rank == 1) /* (3) is a number, not a tuple */
      return npy_said(h, "malformed shape in .npy header");
  }
  h->shape = 1;
  return p + 1;
}

/* One "'key': value" of the dict; the end of the value, or NULL. */
static const char *npy_item(Npy *h, const char *p) {
  const char *k;
  int n;
  if (!(p = npy_string(p, &k, &n)))
    return NULL;
  p = npy_ws(p);
  if (*p++ != ':')
    return NULL;
  p = npy_ws(p);
  if (n == 5 && !memcmp(k, "descr", 5) && !h->descr)
    return npy_string(p, &h->descr, &h->dlen);
  if (n == 13 && !memcmp(k, "fortran_order", 13) && h->fortran < 0) {
    h->fortran = !strncmp(p, "True", 4) ? 1 : !strncmp(p, "False", 5) ? 0 : -1;
    return h->fortran < 0 ? NULL : p + 5 - h->fortran;
  }
  if (n == 5 && !memcmp(k, "shape", 5) && !h->shape)
    return npy_shape(h, p);
  char msg[96];
  snprintf(msg, sizeof msg, "unexpected or repeated key '%.*s' in the .npy "
           "header", n < 32 ? n : 32, k);
  for (char *c = msg; *c; c++) /* the key as text a terminal shows */
    *c = (unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f ? '?' : *c;
  return npy_said(h, msg);
}

static int npy_dtype(Npy *h, int *width) {
  const char *d = h->descr;
  if (h->dlen == 3 && (!strncmp(d, "<f8", 3) || !strncmp(d, "<f4", 3))) {
    *width = d[2] == '8' ? 8 : 4;
    return 0;
  }
  /* integer data (ids, labels): width -8 is int64, -4 int32 */
  if (h->dlen == 3 && (!strncmp(d, "<i8", 3) || !strncmp(d, "<i4", 3))) {
    *width = d[2] == '8' ? -8 : -4;
    return 0;
  }
  if (h->dlen == 3 && (!strncmp(d, ">f8", 3) || !strncmp(d, ">f4", 3)))
    return failf(h->err, h->errn, "%s: big-endian .npy data is not supported; "
                 "save it as little-endian float64", h->path);
  return failf(h->err, h->errn, "%s: .npy dtype '%.*s' is not supported; save "
               "it as float64 ('<f8'), float32 ('<f4'), int64 ('<i8') or "
               "int32 ('<i4')", h->path,
               h->dlen < 32 ? h->dlen : 32, d);
}

/* Element i of .npy data at p, of the width npy_dtype gave, as a double:
 * integers must be exact there (|v| <= 2^53), else -1. */
static int npy_element(exprc_rt_array *a, int64_t i, const char *p,
                       int width) {
  if (width == 8) {
    memcpy(&a->data[i], p, 8);
  } else if (width == 4) {
    float f;
    memcpy(&f, p, 4);
    a->data[i] = f;
  } else if (width == -4) {
    int32_t v;
    memcpy(&v, p, 4);
    a->data[i] = v;
  } else {
    int64_t v;
    memcpy(&v, p, 8);
    a->data[i] = (double)v;
    if (v > (INT64_C(1) << 53) || v < -(INT64_C(1) << 53))
      return -1;
  }
  return 0;
}

static int npy_header(Npy *h, const char *p, int *width) {
  p = npy_ws(p);
  if (*p++ != '{')
    p = NULL;
  for (p = p ? npy_ws(p) : NULL; p && *p != '}';) {
    if ((p = npy_item(h, p)) != NULL && *(p = npy_ws(p)) == ',')
      p = npy_ws(p + 1);
    else if (p && *p != '}')
      p = NULL;
  }
  for (p = p ? p + 1 : NULL; p && (*p == ' ' || *p == '\n');)
    p++;
  if (!p || *p) /* after the dict: only NumPy's padding */
    return h->said ? -1 : failf(h->err, h->errn, "%s: malformed .npy header",
                                h->path);
  if (!h->descr || h->fortran < 0 || !h->shape)
    return failf(h->err, h->errn, "%s: the .npy header has no '%s'", h->path,
                 !h->descr ? "descr" : h->fortran < 0 ? "fortran_order"
                                                      : "shape");
  if (npy_dtype(h, width) != 0)
    return -1;
  if (h->fortran)
    return failf(h->err, h->errn, "%s: Fortran-order .npy data is not "
                 "supported", h->path);
  return 0;
}

static int read_npy(const char *buf, size_t len, const char *path,
                    exprc_rt_array *a, int64_t max, char *err, size_t errn) {
  if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
    return failf(err, errn, "%s: not a .npy file", path);
  int major = (unsigned char)buf[6];
  size_t hl, at;
  if (major == 1)
    hl = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8, at = 10;
  else if ((major == 2 || major == 3) && len >= 12)
    hl = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8 |
         (size_t)(unsigned char)buf[10] << 16 | (size_t)(unsigned char)buf[11] << 24,
    at = 12;
  else
    return failf(err, errn, "%s: .npy version %d is not supported", path, major);
  if (hl > len - at)
    return failf(err, errn, "%s: .npy header is cut short", path);
  char *text = malloc(hl + 1);
  if (!text)
    return failf(err, errn, "%s: out of memory", path);
  memcpy(text, buf + at, hl);
  text[hl] = 0;
  Npy h = {.path = path, .err = err, .errn = errn, .fortran = -1, .max = max, .a = a};
  int width = 8, rc = npy_header(&h, text, &width);
  free(text);
  if (rc)
    return rc;
  at += hl;
  size_t bytes = (size_t)(width < 0 ? -width : width);
  if ((size_t)a->size > (len - at) / bytes)
    return failf(err, errn, "%s: .npy data is shorter than its shape", path);
  a->data = malloc((size_t)(a->size ? a->size : 1) * sizeof(double));
  if (!a->data)
    return failf(err, errn, "%s: out of memory", path);
  for (int64_t i = 0; i < a->size; i++)
    if (npy_element(a, i, buf + at + bytes * (size_t)i, width) != 0) {
      double v = a->data[i];
      free(a->data);
      a->data = NULL;
      return failf(err, errn, "%s: element %lld, %.0f, is beyond 2^53, the "
                   "largest integer a float64 holds exactly", path,
                   (long long)i, v);
    }
  return 0;
}

/* ---- CSV ----
 * Strict, so that a file that is not what the user thinks is an error, not
 * a table of other numbers: fields are decimal numbers separated by commas
 * (spaces and tabs around them, CRLF line ends and blank lines are fine);
 * only the first line may be a header, and only if it has no number in it;
 * no empty fields, no hex, nan or inf, nothing out of the range of a
 * double. Errors say file:line:column. */

typedef struct Csv {
  const char *path;
  char *err;
  size_t errn;
  int64_t line;
  const char *bol; /* the start of the line */
} Csv;

static int csv_fail(const Csv *c, const char *at, const char *fmt, ...) {
  int k = snprintf(c->err, c->errn, "%s:%lld:%lld: error: ", c->path,
                   (long long)c->line, (long long)(at - c->bol + 1));
  if (k >= 0 && (size_t)k < c->errn) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + k, c->errn - (size_t)k, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* FIELD_ALIEN: a number to strtod but not decimal (0x1p3, nan, inf), so
 * not a name either: a first line of them is not a header. */
enum { FIELD_NUMBER, FIELD_EMPTY, FIELD_TEXT, FIELD_RANGE, FIELD_ALIEN };

/* What a row holds: its fields, and the first that is not a number. */
typedef struct Row {
  int64_t n, texts, numbers; /* numbers: fields that are, or look like, one */
  const char *bad, *bad_end; /* that field (trimmed) */
  int kind;
} Row;

static int space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }

/* The field in [p, q) with the space around it trimmed. */
static int csv_field(const char **p, const char **q, double *v) {
  while (*p < *q && space(**p))
    ++*p;
  while (*q > *p && space((*q)[-1]))
    --*q;
  if (*p == *q)
    return FIELD_EMPTY;
  if (exprc_rt_decimal(*p, *q, v) == (size_t)(*q - *p))
    return *v - *v == 0 ? FIELD_NUMBER : FIELD_RANGE; /* not +-inf */
  char buf[64], *stop;
  size_t n = (size_t)(*q - *p);
  if (n >= sizeof buf || !memchr("0123456789+-.iInN", **p, 17))
    return FIELD_TEXT;
  memcpy(buf, *p, n);
  buf[n] = 0;
  exprc_rt_strtod(buf, &stop);
  return stop == buf + n ? FIELD_ALIEN : FIELD_TEXT;
}

/* Split the line [p, eol) into fields; store the numbers in out (if not
 * NULL). */
static void csv_row(const char *p, const char *eol, double *out, Row *r) {
  memset(r, 0, sizeof *r);
  for (;;) {
    const char *q = memchr(p, ',', (size_t)(eol - p)), *e = q ? q : eol;
    const char *s = p;
    double v = 0;
    int kind = csv_field(&s, &e, &v);
    r->texts += kind == FIELD_TEXT;
    r->numbers += kind == FIELD_NUMBER || kind == FIELD_RANGE ||
                  kind == FIELD_ALIEN;
    if (kind != FIELD_NUMBER && !r->bad)
      r->bad = s, r->bad_end = e, r->kind = kind;
    if (out && kind == FIELD_NUMBER)
      out[r->n] = v;
    r->n++;
    if (!q)
      return;
    p = q + 1;
  }
}

/* Where field k (from 0) of the line starts; if the line has fewer, its
 * end (before trailing space). */
static const char *csv_field_at(const char *p, const char *eol, int64_t k) {
  const char *s = p;
  for (; k > 0 && s < eol; s++)
    k -= *s == ',';
  if (k == 0)
    return s;
  while (eol > p && space(eol[-1]))
    eol--;
  return eol;
}

static int csv_bad_field(const Csv *c, const Row *r) {
  int len = (int)(r->bad_end - r->bad), printable = len <= 40;
  for (const char *s = r->bad; printable && s < r->bad_end; s++)
    printable = *s >= 0x20 && *s < 0x7f;
  if (r->kind == FIELD_EMPTY)
    return csv_fail(c, r->bad, "empty field");
  if (r->kind == FIELD_RANGE)
    return csv_fail(c, r->bad, "%.*s is out of the range of a double", len,
                    r->bad);
  if (printable)
    return csv_fail(c, r->bad, "'%.*s' is not a decimal number", len, r->bad);
  return csv_fail(c, r->bad, "this field is not a decimal number");
}

static int csv_blank(const char *p, const char *end) {
  while (p < end && space(*p))
    p++;
  return p == end;
}

/* Check a data row against the header and the rows before it. */
static int csv_check_row(const Csv *c, const Row *r, const char *eol,
                         int64_t cols, int64_t header) {
  int64_t want = cols >= 0 ? cols : header;
  if (want >= 0 && r->n != want)
    return csv_fail(c, csv_field_at(c->bol, eol, want),
                    "%lld field%s where %s %lld", (long long)r->n,
                    r->n == 1 ? "" : "s",
                    cols >= 0 ? "earlier rows have" : "the header has",
                    (long long)want);
  if (r->bad)
    return csv_bad_field(c, r);
  return 0;
}

/* Make room for row `rows` (from 0) of cols numbers. */
static int csv_grow(const Csv *c, exprc_rt_array *a, int64_t rows,
                    int64_t cols, int64_t *cap, int64_t max) {
  if (rows + 1 > max / cols)
    return csv_fail(c, c->bol, "more than %lld numbers (the element limit)",
                    (long long)max);
  int64_t need = (rows + 1) * cols, n = *cap ? *cap : 1024;
  if (need <= *cap)
    return 0;
  while (n < need)
    n *= 2;
  n = n < max ? n : max;
  double *nd = realloc(a->data, (size_t)n * sizeof *nd);
  if (!nd)
    return csv_fail(c, c->bol, "out of memory");
  a->data = nd;
  *cap = n;
  return 0;
}

static int read_csv(const char *buf, size_t len, const char *path,
                    exprc_rt_array *a, int64_t max, char *err, size_t errn) {
  Csv c = {.path = path, .err = err, .errn = errn};
  int64_t rows = 0, cols = -1, header = -1, cap = 0;
  const char *p = buf, *end = buf + len;
  int first = 1; /* no non-blank line yet */
  if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
    p += 3; /* a UTF-8 byte order mark, as spreadsheets write */
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    eol = eol ? eol : end;
    c.line++;
    c.bol = p;
    p = eol + 1;
    if (csv_blank(c.bol, eol))
      continue;
    Row r;
    csv_row(c.bol, eol, NULL, &r);
    if (first && r.numbers == 0 && r.texts > 0) { /* names: the header */
      first = 0;
      header = r.n;
      continue;
    }
    first = 0;
    if (csv_check_row(&c, &r, eol, cols, header) != 0 ||
        csv_grow(&c, a, rows, r.n, &cap, max) != 0)
      return -1;
    cols = r.n;
    csv_row(c.bol, eol, a->data + rows * cols, &r);
    rows++;
  }
  if (rows == 0)
    return failf(err, errn, "%s: no rows of numbers", path);
  a->rank = 2;
  a->shape[0] = rows;
  a->shape[1] = cols;
  a->size = rows * cols;
  return 0;
}

static int has_suffix(const char *s, const char *suf) {
  size_t n = strlen(s), k = strlen(suf);
  return n >= k && strcmp(s + n - k, suf) == 0;
}

/* The most bytes a file of at most max elements may take: a .npy file its
 * header (NumPy writes far less than 1 MiB) and 8 bytes an element; a CSV
 * file 64 characters a number, a generous bound. */
static int64_t file_bound(int npy, int64_t max) {
  int64_t per = npy ? 8 : 64, slack = (int64_t)1 << 20;
  return max > (INT64_MAX - slack) / per ? INT64_MAX : slack + per * max;
}

int exprc_rt_read_array(const char *path, exprc_rt_array *a,
                        int64_t max_elements, char *err, size_t errn) {
  size_t len;
  memset(a, 0, sizeof *a);
  int npy = has_suffix(path, ".npy");
  int64_t max = max_elements > 0 ? max_elements : 1;
  char *buf = slurp(path, file_bound(npy, max), &len, err, errn);
  if (!buf)
    return -1;
  int rc = npy ? read_npy(buf, len, path, a, max, err, errn)
               : read_csv(buf, len, path, a, max, err, errn);
  free(buf);
  if (rc) {
    free(a->data);
    a->data = NULL;
  }
  return rc;
}

/* ---- output files ---- */

/* A name for a temporary file that no one can guess ahead: a planted one
 * only costs a retry, since the file is created with O_EXCL. */
static uint64_t noise(void) {
  static atomic_uint_fast64_t count;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t z = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^
               (uint64_t)getpid() << 40 ^
               (atomic_fetch_add(&count, 1) + 1) * 0x9e3779b97f4a7c15u;
  z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9u; /* splitmix64's finaliser */
  z = (z ^ z >> 27) * 0x94d049bb133111ebu;
  return z ^ z >> 31;
}

/* The directory of path, with a trailing '/', or "" for the current one. */
static size_t dir_len(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? (size_t)(slash - path) + 1 : 0;
}

/* A new temporary file beside path. Its mode is what creating path would
 * give (0666 less the umask), or path's own if it is a regular file. */
static int open_temp(exprc_rt_out *o, const struct stat *old, char *err,
                     size_t errn) {
  size_t d = dir_len(o->path);
  o->tmp = malloc(d + 32);
  if (!o->tmp)
    return failf(err, errn, "%s: out of memory", o->path);
  for (int tries = 0; tries < 100; tries++) {
    snprintf(o->tmp, d + 32, "%.*s.exprc-%016llx.tmp", (int)d, o->path,
             (unsigned long long)noise());
    int fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0666);
    if (fd < 0 && errno == EEXIST)
      continue;
    if (fd < 0)
      break;
    if (old)
      (void)fchmod(fd, old->st_mode & 0777);
    if ((o->f = fdopen(fd, "wb")) != NULL)
      return 0;
    close(fd);
    unlink(o->tmp);
    break;
  }
  int e = errno;
  free(o->tmp);
  o->tmp = NULL;
  return failf(err, errn, "%s: cannot write: %s", o->path, strerror(e));
}

/* A character device or FIFO: opened as it is, never created or truncated
 * (open blocks, as the shell's '>' does, until a FIFO has a reader). */
static int open_special(exprc_rt_out *o, char *err, size_t errn) {
  struct stat st;
  int fd = open(o->path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd >= 0 && fstat(fd, &st) == 0 &&
      (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) &&
      (o->f = fdopen(fd, "wb")) != NULL)
    return 0;
  int e = fd < 0 ? errno : EAGAIN; /* or it changed under us */
  if (fd >= 0)
    close(fd);
  return failf(err, errn, "%s: cannot write: %s", o->path, strerror(e));
}

/* The caller's own open file that path names through its links
 * (/dev/stdout is a link to /proc/self/fd/1), or -1. */
static int own_fd(const char *path) {
  char at[PATH_MAX], to[PATH_MAX];
  snprintf(at, sizeof at, "%s", path);
  for (int hops = 0; hops < 8; hops++) {
    ssize_t n = readlink(at, to, sizeof to - 1);
    if (n < 0)
      return -1;
    to[n] = 0;
    const char *p = !strncmp(to, "/proc/self/fd/", 14) ? to + 14
                    : !strncmp(to, "/dev/fd/", 8)       ? to + 8
                                                        : NULL;
    if (p && *p >= '0' && *p <= '9') {
      char *end;
      long fd = strtol(p, &end, 10);
      return *end || fd > INT_MAX ? -1 : (int)fd;
    }
    if (to[0] != '/')
      return -1; /* relative links lead to ordinary files */
    memcpy(at, to, (size_t)n + 1);
  }
  return -1;
}

/* A link to a regular file. One that leads to the caller's own open file
 * (exprc emit -o /dev/stdout > out.c) is written through a copy of that
 * descriptor, at its offset, as a shell redirection expects; any other is
 * refused: following it could write a file a planted link points at, and
 * renaming a temporary file onto it would replace the link itself. */
static int open_link(exprc_rt_out *o, char *err, size_t errn) {
  int own = own_fd(o->path), fd = own >= 0 ? fcntl(own, F_DUPFD_CLOEXEC, 0) : -1;
  if (fd >= 0 && (o->f = fdopen(fd, "wb")) != NULL)
    return 0;
  if (fd >= 0)
    close(fd);
  return failf(err, errn, "%s: cannot write: a symbolic link to a regular "
               "file (name the file itself)", o->path);
}

int exprc_rt_out_open(exprc_rt_out *o, const char *path, char *err,
                      size_t errn) {
  struct stat st, lst;
  memset(o, 0, sizeof *o);
  o->path = path;
  if (stat(path, &st) != 0) /* a new file (or a dangling symlink: replaced) */
    return errno == ENOENT ? open_temp(o, NULL, err, errn)
                           : failf(err, errn, "%s: cannot write: %s", path,
                                   strerror(errno));
  if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))
    return open_special(o, err, errn);
  if (S_ISREG(st.st_mode) && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
    return open_link(o, err, errn);
  if (S_ISREG(st.st_mode))
    return open_temp(o, &st, err, errn);
  return failf(err, errn, "%s: cannot write: %s", path,
               S_ISDIR(st.st_mode) ? "it is a directory"
                                   : "not a regular file, device or FIFO");
}

/* After the rename, the directory entry itself is made durable. */
static void sync_dir(const char *path) {
  size_t d = dir_len(path);
  char *dir = malloc(d + 2);
  if (!dir)
    return;
  snprintf(dir, d + 2, "%.*s", d ? (int)d : 1, d ? path : ".");
  int fd = open(dir, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
  free(dir);
}

int exprc_rt_out_close(exprc_rt_out *o, int ok, char *err, size_t errn) {
  int e = ok ? 0 : errno ? errno : EIO; /* !ok: a write failed, with errno */
  if (!o->f)
    return failf(err, errn, "%s: cannot write: %s", o->path, strerror(EBADF));
  if (!e && fflush(o->f) != 0)
    e = errno;
  if (!e && o->tmp && fsync(fileno(o->f)) != 0)
    e = errno;
  if (fclose(o->f) != 0 && !e)
    e = errno;
  o->f = NULL;
  if (!e && o->tmp && rename(o->tmp, o->path) != 0)
    e = errno;
  if (o->tmp && e)
    unlink(o->tmp);
  else if (o->tmp)
    sync_dir(o->path);
  free(o->tmp);
  o->tmp = NULL;
  return e ? failf(err, errn, "%s: cannot write: %s", o->path, strerror(e)) : 0;
}

/* ---- writing .npy ---- */

int exprc_rt_write_npy(const char *path, const double *data, int rank,
                       const int64_t *shape, char *err, size_t errn) {
  return exprc_rt_write_npy_as(path, data, 8, rank, shape, err, errn);
}

int exprc_rt_write_npy_as(const char *path, const void *data, size_t size,
                          int rank, const int64_t *shape, char *err,
                          size_t errn) {
  char dict[256], shp[128] = "";
  size_t k = 0;
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    k += (size_t)snprintf(shp + k, sizeof shp - k, "%lld,%s",
                          (long long)shape[i], i + 1 < rank ? " " : "");
    n *= shape[i];
  }
  if (rank > 1)
    shp[k - 1] = 0; /* (2, 3) but (4,) */
  int len = snprintf(dict, sizeof dict,
                     "{'descr': '<f%d', 'fortran_order': False, 'shape': (%s), }",
                     (int)size, shp);
  int total = 10 + len + 1, pad = (64 - total % 64) % 64, hl = len + pad + 1;
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                           (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
  exprc_rt_out o;
  if (exprc_rt_out_open(&o, path, err, errn) != 0)
    return -1;
  int ok = fwrite(pre, 1, 10, o.f) == 10 && fputs(dict, o.f) >= 0 &&
           fprintf(o.f, "%*s\n", pad, "") == pad + 1 &&
           fwrite(data, size, (size_t)n, o.f) == (size_t)n;
  return exprc_rt_out_close(&o, ok, err, errn);
}
