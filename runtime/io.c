/* io.c: reading and writing tensors: NumPy's .npy format (version 1 to 3,
 * little-endian float64 or float32, C order) and CSV. Every malformed file
 * gets a message that names it and says what is wrong; nothing here trusts a
 * size it reads before checking it against the file. */
#include "io.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ELEMENTS ((int64_t)1 << 31)

static int failf(char *err, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, n, fmt, ap);
  va_end(ap);
  return -1;
}

static char *slurp(const char *path, size_t *len, char *err, size_t errn) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return failf(err, errn, "%s: cannot open: %s", path, strerror(errno)), NULL;
  size_t cap = 1 << 16, n = 0, k;
  char *buf = malloc(cap + 1);
  while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
    n += k;
    if (n == cap) {
      char *nb = cap < ((size_t)1 << 34) ? realloc(buf, cap * 2 + 1) : NULL;
      if (!nb)
        free(buf);
      buf = nb;
      cap *= 2;
    }
  }
  int bad = ferror(f);
  fclose(f);
  if (!buf || bad) {
    free(buf);
    return failf(err, errn, "%s: cannot read", path), NULL;
  }
  buf[n] = 0;
  *len = n;
  return buf;
}

/* ---- .npy ---- */

/* The value text of 'key' in the header dict, or NULL. */
static const char *npy_field(const char *h, const char *key) {
  const char *p = strstr(h, key);
  if (!p)
    return NULL;
  p = strchr(p + strlen(key), ':');
  if (!p)
    return NULL;
  for (p++; *p == ' '; p++)
    ;
  return p;
}

static int npy_shape(const char *p, exprc_rt_array *a, const char *path,
                     char *err, size_t errn) {
  if (!p || *p != '(')
    return failf(err, errn, "%s: .npy header has no shape", path);
  a->rank = 0;
  a->size = 1;
  for (p++;;) {
    while (*p == ' ' || *p == ',')
      p++;
    if (*p == ')')
      return 0;
    char *end;
    long long d = strtoll(p, &end, 10);
    if (end == p || d < 0)
      return failf(err, errn, "%s: malformed shape in .npy header", path);
    if (a->rank == 4)
      return failf(err, errn, "%s: rank above 4 is not supported", path);
    a->shape[a->rank++] = d;
    if (d > 0 && a->size > MAX_ELEMENTS / d)
      return failf(err, errn, "%s: too many elements", path);
    a->size *= d;
    p = end;
  }
}

static int npy_dtype(const char *p, int *width, const char *path, char *err,
                     size_t errn) {
  if (p && (!strncmp(p, "'<f8'", 5) || !strncmp(p, "'<f4'", 5))) {
    *width = p[3] == '8' ? 8 : 4;
    return 0;
  }
  if (p && (!strncmp(p, "'>f8'", 5) || !strncmp(p, "'>f4'", 5)))
    return failf(err, errn, "%s: big-endian .npy data is not supported; "
                 "save it as little-endian float64", path);
  int len = 0; /* the quoted dtype, as NumPy wrote it */
  while (p && p[len] && p[len] != ',' && p[len] != '}' && len < 32)
    len++;
  return failf(err, errn, "%s: .npy dtype %.*s is not supported; save it as "
               "float64 ('<f8') or float32 ('<f4')", path, p ? len : 6,
               p ? p : "(none)");
}

static int read_npy(const char *buf, size_t len, const char *path,
                    exprc_rt_array *a, char *err, size_t errn) {
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
  char *h = malloc(hl + 1);
  if (!h)
    return failf(err, errn, "%s: out of memory", path);
  memcpy(h, buf + at, hl);
  h[hl] = 0;
  int width = 8, rc = npy_dtype(npy_field(h, "'descr'"), &width, path, err, errn);
  const char *fo = npy_field(h, "'fortran_order'");
  if (rc == 0 && (!fo || strncmp(fo, "False", 5) != 0))
    rc = failf(err, errn, "%s: Fortran-order .npy data is not supported", path);
  if (rc == 0)
    rc = npy_shape(npy_field(h, "'shape'"), a, path, err, errn);
  free(h);
  if (rc)
    return rc;
  at += hl;
  if ((size_t)a->size > (len - at) / (size_t)width)
    return failf(err, errn, "%s: .npy data is shorter than its shape", path);
  a->data = malloc((size_t)(a->size ? a->size : 1) * sizeof(double));
  if (!a->data)
    return failf(err, errn, "%s: out of memory", path);
  for (int64_t i = 0; i < a->size; i++) {
    if (width == 8) {
      memcpy(&a->data[i], buf + at + 8 * i, 8);
    } else {
      float f;
      memcpy(&f, buf + at + 4 * i, 4);
      a->data[i] = f;
    }
  }
  return 0;
}

/* ---- CSV ---- */

/* Parse one line of numbers; returns the count, or -1 if a field is not a
 * number (col says which). */
static int64_t csv_line(const char *p, const char *end, double *out,
                        int64_t *col) {
  int64_t n = 0;
  for (;;) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
      p++;
    char *e;
    double v = strtod(p, &e);
    if (e == p || e > end)
      return *col = n + 1, -1;
    if (out)
      out[n] = v;
    n++;
    for (p = e; p < end && (*p == ' ' || *p == '\t' || *p == '\r');)
      p++;
    if (p == end)
      return n;
    if (*p != ',')
      return *col = n, -1;
    p++;
  }
}

static int blank(const char *p, const char *end) {
  for (; p < end; p++)
    if (*p != ' ' && *p != '\t' && *p != '\r')
      return 0;
  return 1;
}

static int read_csv(const char *buf, size_t len, const char *path,
                    exprc_rt_array *a, char *err, size_t errn) {
  int64_t rows = 0, cols = -1, col, line = 0, cap = 0;
  const char *p = buf, *end = buf + len;
  a->data = NULL;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
      eol = end;
    line++;
    if (!blank(p, eol)) {
      int64_t n = csv_line(p, eol, NULL, &col);
      if (n < 0 && rows == 0 && cols < 0) { /* a header row */
        p = eol + 1;
        cols = -2;
        continue;
      }
      if (n < 0)
        return failf(err, errn, "%s:%lld: field %lld is not a number", path,
                     (long long)line, (long long)col);
      if (cols >= 0 && n != cols)
        return failf(err, errn, "%s:%lld: %lld fields where earlier rows "
                     "have %lld", path, (long long)line, (long long)n,
                     (long long)cols);
      cols = n;
      if ((rows + 1) * cols > cap) {
        cap = cap ? cap * 2 : 1024;
        while (cap < (rows + 1) * cols)
          cap *= 2;
        double *nd = cap <= MAX_ELEMENTS ? realloc(a->data, (size_t)cap * sizeof *nd) : NULL;
        if (!nd)
          return failf(err, errn, "%s: too large", path);
        a->data = nd;
      }
      csv_line(p, eol, a->data + rows * cols, &col);
      rows++;
    }
    p = eol + 1;
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

int exprc_rt_read_array(const char *path, exprc_rt_array *a, char *err,
                        size_t errn) {
  size_t len;
  memset(a, 0, sizeof *a);
  char *buf = slurp(path, &len, err, errn);
  if (!buf)
    return -1;
  int rc = has_suffix(path, ".npy") ? read_npy(buf, len, path, a, err, errn)
                                    : read_csv(buf, len, path, a, err, errn);
  free(buf);
  if (rc) {
    free(a->data);
    a->data = NULL;
  }
  return rc;
}

/* ---- writing .npy ---- */

int exprc_rt_write_npy(const char *path, const double *data, int rank,
                       const int64_t *shape, char *err, size_t errn) {
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
                     "{'descr': '<f8', 'fortran_order': False, 'shape': (%s), }",
                     shp);
  int total = 10 + len + 1, pad = (64 - total % 64) % 64;
  size_t plen = strlen(path) + 8;
  char *tmp = malloc(plen);
  if (!tmp)
    return failf(err, errn, "%s: out of memory", path);
  snprintf(tmp, plen, "%s.tmp~", path);
  FILE *f = fopen(tmp, "wb");
  int ok = f != NULL;
  if (ok) {
    int hl = len + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
    ok = fwrite(pre, 1, 10, f) == 10 && fputs(dict, f) >= 0 &&
         fprintf(f, "%*s\n", pad, "") == pad + 1 &&
         fwrite(data, sizeof *data, (size_t)n, f) == (size_t)n;
    ok = fclose(f) == 0 && ok;
  }
  if (ok && rename(tmp, path) != 0)
    ok = 0;
  if (!ok) {
    failf(err, errn, "%s: cannot write: %s", path, strerror(errno));
    remove(tmp);
  }
  free(tmp);
  return ok ? 0 : -1;
}
