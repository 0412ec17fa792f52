/* io.h: tensors in files (NumPy .npy and CSV), numbers as text in any
 * locale, and output files written safely. */
#ifndef EXPRC_IO_H
#define EXPRC_IO_H

#include <locale.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define EXPRC_RT_MAX_RANK 8 /* EXPRC_MAX_RANK, for the runtime on its own */

/* A tensor read from a file; data is malloc'd. */
typedef struct exprc_rt_array {
  double *data;
  int rank;
  int64_t shape[EXPRC_RT_MAX_RANK];
  int64_t size;
} exprc_rt_array;

/* Read .npy (little-endian float64, float32, int64 or int32 (exact up to
 * 2^53), C order, rank <= 8) or, for
 * any other name, CSV (decimal numbers separated by commas, an optional
 * header row of names, [rows, columns]). Only regular files and FIFOs are
 * read, and no more than max_elements elements (and the bytes they may
 * take). 0 on success, else -1 with a message naming the file in err. */
int exprc_rt_read_array(const char *path, exprc_rt_array *a,
                        int64_t max_elements, char *err, size_t errn);
/* Write a float64 .npy file (see exprc_rt_out_open). */
int exprc_rt_write_npy(const char *path, const double *data, int rank,
                       const int64_t *shape, char *err, size_t errn);
/* The same for elements of `size` bytes: 8 (double, '<f8') or 4 (float,
 * '<f4', a float32 model's). */
int exprc_rt_write_npy_as(const char *path, const void *data, size_t size,
                          int rank, const int64_t *shape, char *err,
                          size_t errn);

/* ---- numbers as text, the same in every locale ----
 * A program may call setlocale(LC_ALL, "de_DE.UTF-8"), after which strtod
 * reads "2.5" as 2 and printf writes 0.5 as "0,5". These run the C
 * library's conversions in the "C" locale for the calling thread only, so
 * they are exact (strtod rounds correctly, %.17g round-trips) and
 * thread-safe. */

/* Switch the calling thread (only it: uselocale is per thread) to the "C"
 * locale, for code that reads numbers with the locale's strtod (libtcc
 * reads the generated C's constants so); returns what leave restores. */
locale_t exprc_rt_enter_c_locale(void);
void exprc_rt_leave_c_locale(locale_t old);
/* strtod in the "C" locale. */
double exprc_rt_strtod(const char *s, char **end);
/* snprintf in the "C" locale. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int exprc_rt_format(char *buf, size_t n, const char *fmt, ...);
/* A decimal number at the start of [s, end): an optional sign, digits with
 * an optional point (at least one digit), an optional exponent: no hex, no
 * "nan" or "inf", no leading space. Returns its length, or 0 if there is
 * none; *v is its value, correctly rounded (+-inf if it is too large). */
size_t exprc_rt_decimal(const char *s, const char *end, double *v);

/* ---- output files ----
 * A regular file (or a new one) is written to a new temporary file in the
 * same directory, created with O_EXCL so that no planted file or symlink is
 * ever followed, then flushed to disk and renamed over path: a reader sees
 * the old file or the whole new one, never half of it. A character device
 * (/dev/null) or a FIFO is written in place, never replaced. */
typedef struct exprc_rt_out {
  FILE *f;
  char *tmp;        /* the temporary file, or NULL when written in place */
  const char *path;
} exprc_rt_out;

/* Open path for writing; 0, or -1 with a message naming it in err. */
int exprc_rt_out_open(exprc_rt_out *o, const char *path, char *err,
                      size_t errn);
/* Finish: with ok, flush, sync and put the file in place; without (a write
 * failed, and errno says why), or on any error, remove the temporary. 0,
 * or -1 with a message naming the file in err. */
int exprc_rt_out_close(exprc_rt_out *o, int ok, char *err, size_t errn);

#endif
