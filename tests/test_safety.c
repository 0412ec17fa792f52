/* test_safety.c: the library inside a program that is not exprc's own.
 *
 * Such a program may have set a comma-decimal locale, may hand the model a
 * pointer into the model's own memory, may keep its models in oddly named
 * directories, may point output at devices, FIFOs and planted symlinks, and
 * may feed it CSV and .npy files that are not quite what they claim. Each
 * case below failed before the fix it guards (see the commit that added it).
 *
 * The expected numbers are computed here by the test's own C arithmetic,
 * independently of exprc, or written out by hand.
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* ---- helpers ---- */

static char *scratch_dir(void) {
  char *dir = strdup("/tmp/exprc-safety-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  return dir;
}

static char *join(const char *dir, const char *name) {
  char *p = malloc(strlen(dir) + strlen(name) + 2);
  sprintf(p, "%s/%s", dir, name);
  return p;
}

static void write_bytes(const char *path, const char *bytes, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot create %s", path);
  ck_assert(fwrite(bytes, 1, n, f) == n);
  ck_assert(fclose(f) == 0);
}

static void write_text(const char *path, const char *text) {
  write_bytes(path, text, strlen(text));
}

static void remove_tree(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* Switch this process to German conventions, whose decimal point is a
 * comma. The locale must exist (tools/setup.sh generates it): a test that
 * quietly skips here would prove nothing. */
static void comma_locale(void) {
  const char *got = setlocale(LC_ALL, "de_DE.UTF-8");
  ck_assert_msg(got != NULL, "setlocale(LC_ALL, \"de_DE.UTF-8\") failed: the "
                "locale is not installed; tools/setup.sh generates it");
  ck_assert_str_eq(localeconv()->decimal_point, ",");
  char buf[16];
  snprintf(buf, sizeof buf, "%.1f", 0.5); /* the libc really uses it */
  ck_assert_str_eq(buf, "0,5");
}

/* ---- locale: numbers in and out mean the same everywhere ---- */

/* The lexer reads 2.5 as 2.5 (strtod would stop at the '.'), the emitter
 * prints 1/3 as 0.333..., not 0,333... (the C comma operator), and the C
 * compiler reads it back as the same double. */
START_TEST(model_numbers_under_a_comma_locale) {
  comma_locale();
  exprc_model *m = tu_compile("input x[2]\n"
                              "output y = 2.5 * x + 1 / 3\n"
                              "output tenth = 0.1\n"
                              "output tiny = 1e-310\n"
                              "output big = 1.7976931348623157e308\n");
  const char *src = exprc_source(m);
  ck_assert_msg(strstr(src, "0.33333333333333331") != NULL,
                "1/3 is not printed with a point:\n%s", src);
  ck_assert_msg(strstr(src, "0,3") == NULL, "a comma in a number:\n%s", src);
  double x[2] = {1, 2};
  tu_set(m, "x", x, 1, (int64_t)2);
  exprc_tensor y = tu_output(m, "y");
  ck_assert_double_eq(y.data[0], 2.5 * 1.0 + 1.0 / 3.0);
  ck_assert_double_eq(y.data[1], 2.5 * 2.0 + 1.0 / 3.0);
  ck_assert_double_eq(tu_output(m, "tenth").data[0], 0.1);
  ck_assert_double_eq(tu_output(m, "tiny").data[0], 1e-310);
  ck_assert_double_eq(tu_output(m, "big").data[0], DBL_MAX);
  exprc_free(m);
}
END_TEST

/* CSV data is read with a point as the decimal separator, whatever the
 * program's locale says. */
START_TEST(csv_under_a_comma_locale) {
  comma_locale();
  char *dir = scratch_dir(), *csv = join(dir, "x.csv");
  write_text(csv, "x\n0.5\n2.25\n");
  exprc_model *m = tu_compile("input x[2]\noutput y = x\n");
  ck_assert_msg(exprc_set_file(m, "x", csv) == EXPRC_OK, "%s",
                exprc_errmsg(m));
  exprc_tensor y = tu_output(m, "y");
  ck_assert_double_eq(y.data[0], 0.5);
  ck_assert_double_eq(y.data[1], 2.25);
  exprc_free(m);
  remove_tree(dir);
  free(csv);
  free(dir);
}
END_TEST

/* ---- exprc_set with the model's own memory ---- */

static const char *const ALIAS_MODEL = "dim N\n"
                                       "input x[N]\n"
                                       "loss = sum(x * x) / 2\n"
                                       "grad loss wrt x\n";

/* dloss/dx is x. Setting x from that gradient's own buffer while changing
 * N frees the buffer before it is read (ASan: heap-use-after-free); the
 * values must arrive intact. */
START_TEST(set_from_a_gradient_of_the_same_model) {
  exprc_model *m = tu_compile(ALIAS_MODEL);
  double x[3] = {1, 2, 3};
  tu_set(m, "x", x, 1, (int64_t)3);
  exprc_tensor g = tu_grad(m, "loss", "x");
  ck_assert_double_eq(g.data[2], 3);
  int64_t two = 2;
  ck_assert_msg(exprc_set(m, "x", g.data, 1, &two) == EXPRC_OK, "%s",
                exprc_errmsg(m));
  g = tu_grad(m, "loss", "x");
  tu_assert_shape(&g, 1, 2);
  ck_assert_double_eq(g.data[0], 1);
  ck_assert_double_eq(g.data[1], 2);
  exprc_free(m);
}
END_TEST

/* Setting x from x's own buffer is a copy onto itself; a pointer into a
 * model buffer with fewer elements left than the shape asks for is
 * refused, rather than read past the buffer's end. */
START_TEST(set_from_its_own_buffer_and_past_its_end) {
  exprc_model *m = tu_compile(ALIAS_MODEL);
  double x[2] = {4, 5};
  tu_set(m, "x", x, 1, (int64_t)2);
  exprc_tensor in;
  ck_assert_int_eq(exprc_find(m, "x", &in), EXPRC_OK);
  int64_t two = 2;
  ck_assert_int_eq(exprc_set(m, "x", in.data, 1, &two), EXPRC_OK);
  exprc_tensor g = tu_grad(m, "loss", "x");
  ck_assert_double_eq(g.data[0], 4);
  ck_assert_double_eq(g.data[1], 5);
  ck_assert_int_eq(exprc_set(m, "x", g.data + 1, 1, &two), EXPRC_ERR_ARG);
  ck_assert_msg(strstr(exprc_errmsg(m), "past the end") != NULL, "%s",
                exprc_errmsg(m));
  g = tu_grad(m, "loss", "x"); /* still usable, with x as it was */
  ck_assert_double_eq(g.data[1], 5);
  exprc_free(m);
}
END_TEST

/* ---- #line names and trigraphs ---- */

/* The system compiler runs with -std=c99, which has trigraphs: "??/" is a
 * backslash. A model in a directory named "t??" whose file name starts
 * with a quote gave `#line 1 ".../t??/\"q.expr"`, which C99 reads as a
 * string that ends early. */
START_TEST(file_names_with_trigraphs_under_c99) {
  char *dir = scratch_dir(), *sub = join(dir, "t??"), *cache = join(dir, "cache");
  char *path = join(sub, "\"q.expr"), *c_file = join(dir, "m.c");
  ck_assert_int_eq(mkdir(sub, 0700), 0);
  ck_assert_int_eq(mkdir(cache, 0700), 0);
  setenv("EXPRC_CACHE_DIR", cache, 1);
  write_text(path, "input x\noutput y = 2 * x\n");
  exprc_options o;
  exprc_options_default(&o);
  o.backend = EXPRC_BACKEND_CC;
  exprc_model *m;
  ck_assert_msg(exprc_compile_file(path, &o, &m) == EXPRC_OK, "%s",
                exprc_errmsg(m));
  double x = 1.5;
  tu_set(m, "x", &x, 0);
  ck_assert_double_eq(tu_output(m, "y").data[0], 3);
  write_text(c_file, exprc_source(m)); /* and as a user compiles it */
  char cmd[8192], *err = NULL;
  snprintf(cmd, sizeof cmd, "cc -std=c99 -pedantic -Wall -Wextra -Werror -c "
           "'%s' -o '%s/m.o'", c_file, dir);
  ck_assert_msg(tu_run(cmd, NULL, &err) == 0, "%s:\n%s", cmd, err);
  free(err);
  exprc_free(m);
  remove_tree(dir);
  free(c_file), free(path), free(cache), free(sub), free(dir);
}
END_TEST

/* ---- simplification is exact in IEEE arithmetic, signed zeros too ---- */

/* Each output is 1 / (an expression the simplifier may rewrite), so that
 * the sign of a zero shows as +inf or -inf. Expected values, by IEEE 754
 * rules (round to nearest): -0 + 0 = +0, -0 + -0 = -0, 0 - 0 = +0,
 * -0 - 0 = -0, 0 - -0 = +0, -0 * -1 = +0, pow(-0, 1) = -0, and
 * pow(NaN, 0) = 1. */
START_TEST(identities_keep_the_sign_of_zero) {
  exprc_model *m = tu_compile("input x\n"
                              "output a = 1 / (x + 0)\n"
                              "output b = 1 / (0 + x)\n"
                              "output c = 1 / (x - 0)\n"
                              "output d = 1 / (0 - x)\n"
                              "output e = 1 / (x - -0)\n"
                              "output f = 1 / (x + -0)\n"
                              "output g = 1 / (-0 - x)\n"
                              "output h = 1 / (x * -1)\n"
                              "output i = 1 / (x ^ 1)\n"
                              "output j = 1 / --x\n");
  static const char *const names[] = {"a", "b", "c", "d", "e",
                                      "f", "g", "h", "i", "j"};
  /* at x = -0, then at x = +0: +1 for +inf, -1 for -inf */
  static const int want[2][10] = {{+1, +1, -1, +1, +1, -1, +1, +1, -1, -1},
                                  {+1, +1, +1, +1, +1, +1, -1, -1, +1, +1}};
  for (int k = 0; k < 2; k++) {
    double x = k == 0 ? -0.0 : 0.0;
    tu_set(m, "x", &x, 0);
    for (int i = 0; i < 10; i++) {
      double v = tu_output(m, names[i]).data[0];
      ck_assert_msg(isinf(v) && (v > 0 ? 1 : -1) == want[k][i],
                    "at x = %s0: %s = %g, expected %sinf", k ? "+" : "-",
                    names[i], v, want[k][i] > 0 ? "+" : "-");
    }
  }
  exprc_free(m);
  double nan = NAN;
  m = tu_compile("input x\noutput p = x ^ 0\n");
  tu_set(m, "x", &nan, 0);
  ck_assert_double_eq(tu_output(m, "p").data[0], 1);
  exprc_free(m);
}
END_TEST

/* ---- CSV: strict, with errors at file:line:column ---- */

static const char *const CSV_MODEL = "dim N\ndim F\ninput x[N, F]\noutput y = x\n";

/* Read text as CSV into x; returns the status, the message in *msg. */
static exprc_status read_csv_text(const char *text, exprc_tensor *out,
                                  char *msg, size_t n) {
  char *dir = scratch_dir(), *csv = join(dir, "d.csv");
  write_text(csv, text);
  exprc_model *m = tu_compile(CSV_MODEL);
  exprc_status st = exprc_set_file(m, "x", csv);
  const char *e = exprc_errmsg(m), *tail = strstr(e, "d.csv");
  snprintf(msg, n, "%s", st == EXPRC_OK ? "" : tail ? tail : e);
  if (st == EXPRC_OK && out) {
    *out = tu_output(m, "y");
    double *copy = malloc((size_t)out->size * sizeof *copy);
    memcpy(copy, out->data, (size_t)out->size * sizeof *copy);
    out->data = copy;
  }
  exprc_free(m);
  remove_tree(dir);
  free(csv);
  free(dir);
  return st;
}

static void expect_csv_error(const char *text, const char *want) {
  char msg[512];
  ck_assert_msg(read_csv_text(text, NULL, msg, sizeof msg) == EXPRC_ERR_IO,
                "accepted: %s", text);
  ck_assert_msg(strcmp(msg, want) == 0, "for %s\n got '%s'\nwant '%s'", text,
                msg, want);
}

/* What a careful user expects to be refused, and where it is pointed at. */
START_TEST(csv_refuses_what_it_cannot_read_exactly) {
  /* "1," is not a header: it has a number, and an empty field */
  expect_csv_error("1,\n2,3\n", "d.csv:1:3: error: empty field");
  /* only the first line may be a header: no skipping junk to the data */
  expect_csv_error("junk\nmore junk\n1\n",
                   "d.csv:2:1: error: 'more junk' is not a decimal number");
  /* a number to strtod, but not decimal: not data, and not a name */
  expect_csv_error("0x1p3\n", "d.csv:1:1: error: '0x1p3' is not a decimal number");
  expect_csv_error("1, nan\n", "d.csv:1:4: error: 'nan' is not a decimal number");
  expect_csv_error("x\ninf\n", "d.csv:2:1: error: 'inf' is not a decimal number");
  expect_csv_error("INF, NaN\n", "d.csv:1:1: error: 'INF' is not a decimal number");
  expect_csv_error("1\n-infinity\n",
                   "d.csv:2:1: error: '-infinity' is not a decimal number");
  expect_csv_error("1e400\n", "d.csv:1:1: error: 1e400 is out of the range of a double");
  expect_csv_error("1\n1.5e\n", "d.csv:2:1: error: '1.5e' is not a decimal number");
  expect_csv_error("a,b,c\n1,2\n", "d.csv:2:4: error: 2 fields where the header has 3");
  expect_csv_error("1,2\n3,4,5\n", "d.csv:2:5: error: 3 fields where earlier rows have 2");
  expect_csv_error("1\n1 2\n", "d.csv:2:1: error: '1 2' is not a decimal number");
  expect_csv_error("a,b\n", "d.csv: no rows of numbers");
}
END_TEST

/* What a careful user expects to be read: a UTF-8 byte order mark, CRLF,
 * spaces around fields, signs, leading and trailing points, exponents,
 * blank lines, and a header whose first name is empty (pandas' index). */
START_TEST(csv_reads_what_spreadsheets_write) {
  char msg[512];
  exprc_tensor t;
  ck_assert_msg(read_csv_text("\xef\xbb\xbf,a,b\r\n 1 , 1.5 ,-2e-3\r\n\r\n"
                              "2,+3,.5\r\n3,4.,1E2\n\n",
                              &t, msg, sizeof msg) == EXPRC_OK, "%s", msg);
  tu_assert_shape(&t, 2, 3, 3);
  static const double want[9] = {1, 1.5, -0.002, 2, 3, 0.5, 3, 4, 100};
  for (int i = 0; i < 9; i++)
    ck_assert_double_eq(t.data[i], want[i]);
  free(t.data);
}
END_TEST

/* ---- .npy headers are parsed as the dict they are ---- */

/* A version 1.0 .npy file with the given header dict and n float64s. */
static void write_npy(const char *path, const char *dict, const double *v,
                      int n) {
  char buf[4096];
  size_t len = strlen(dict), total = 10 + len + 1;
  size_t pad = (64 - total % 64) % 64, hl = len + pad + 1;
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = (char)(hl & 0xff);
  buf[9] = (char)(hl >> 8);
  memcpy(buf + 10, dict, len);
  memset(buf + 10 + len, ' ', pad);
  buf[10 + hl - 1] = '\n';
  memcpy(buf + 10 + hl, v, (size_t)n * sizeof *v);
  write_bytes(path, buf, 10 + hl + (size_t)n * sizeof *v);
}

static exprc_status set_npy(const char *dict, int n, char *msg, size_t mn,
                            exprc_tensor *out) {
  static const double v[6] = {1, 2, 3, 4, 5, 6};
  char *dir = scratch_dir(), *npy = join(dir, "a.npy");
  write_npy(npy, dict, v, n);
  exprc_model *m = tu_compile("dim A\ndim B\ninput x[A, B]\noutput y = x\n");
  exprc_status st = exprc_set_file(m, "x", npy);
  const char *e = exprc_errmsg(m), *tail = strstr(e, "a.npy");
  snprintf(msg, mn, "%s", st == EXPRC_OK ? "" : tail ? tail : e);
  if (st == EXPRC_OK && out) {
    *out = tu_output(m, "y");
    out->data = NULL; /* only the shape is kept */
  }
  exprc_free(m);
  remove_tree(dir);
  free(npy);
  free(dir);
  return st;
}

/* Keys in any order are fine; a key's name inside another value is not
 * the key (strstr found "'shape': (1, 1)" in the string first, and read a
 * 2x3 array as 1x1); unknown, repeated and missing keys are refused, as
 * np.load refuses them; (3) is a number, not a shape. */
START_TEST(npy_header_is_parsed_as_a_dict) {
  char msg[512];
  exprc_tensor t;
  ck_assert_msg(set_npy("{'shape': (2, 3), 'fortran_order': False, "
                        "'descr': '<f8'}", 6, msg, sizeof msg, &t) == EXPRC_OK,
                "%s", msg);
  tu_assert_shape(&t, 2, 2, 3);
  ck_assert_int_eq(set_npy("{'note': \"'shape': (1, 1), \", 'descr': '<f8', "
                           "'fortran_order': False, 'shape': (2, 3), }",
                           6, msg, sizeof msg, NULL), EXPRC_ERR_IO);
  ck_assert_str_eq(msg, "a.npy: unexpected or repeated key 'note' in the .npy header");
  ck_assert_int_eq(set_npy("{'descr': '<f8', 'fortran_order': False, "
                           "'shape': (2, 3), 'shape': (1, 1), }",
                           6, msg, sizeof msg, NULL), EXPRC_ERR_IO);
  ck_assert_str_eq(msg, "a.npy: unexpected or repeated key 'shape' in the .npy header");
  ck_assert_int_eq(set_npy("{'descr': '<f8', 'shape': (2, 3), }", 6, msg,
                           sizeof msg, NULL), EXPRC_ERR_IO);
  ck_assert_str_eq(msg, "a.npy: the .npy header has no 'fortran_order'");
  ck_assert_int_eq(set_npy("{'descr': '<f8', 'fortran_order': False, "
                           "'shape': (6), }", 6, msg, sizeof msg, NULL),
                   EXPRC_ERR_IO);
  ck_assert_str_eq(msg, "a.npy: malformed shape in .npy header");
  ck_assert_int_eq(set_npy("{'descr': '<f8', 'fortran_order': False, "
                           "'shape': (2, 3), } junk", 6, msg, sizeof msg, NULL),
                   EXPRC_ERR_IO);
  ck_assert_str_eq(msg, "a.npy: malformed .npy header");
}
END_TEST

/* ---- reading files: only what can end, and no more than the limits ---- */

/* A FIFO that never ends is read only up to what max_elements allows
 * (here 16 elements, so about 1 MiB), then refused. */
START_TEST(an_endless_fifo_is_bounded_by_the_limits) {
  char *dir = scratch_dir(), *fifo = join(dir, "x.csv");
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  int hold = open(fifo, O_RDWR); /* a writer is there when exprc opens it */
  ck_assert_int_ge(hold, 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) { /* the writer: "1\n" for ever */
    int fd = open(fifo, O_WRONLY);
    static char ones[4096];
    for (size_t i = 0; i < sizeof ones; i += 2)
      ones[i] = '1', ones[i + 1] = '\n';
    while (fd >= 0 && write(fd, ones, sizeof ones) > 0)
      ;
    _exit(0);
  }
  exprc_options o;
  exprc_options_default(&o);
  o.limits.max_elements = 16;
  exprc_model *m = tu_compile_opts("dim N\ninput x[N, 1]\noutput y = x\n", &o);
  exprc_status st = exprc_set_file(m, "x", fifo);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  close(hold);
  ck_assert_int_eq(st, EXPRC_ERR_IO);
  ck_assert_msg(strstr(exprc_errmsg(m), "larger than the") != NULL, "%s",
                exprc_errmsg(m));
  exprc_free(m);
  remove_tree(dir);
  free(fifo);
  free(dir);
}
END_TEST

/* A regular file larger than the limits allow is refused by its size,
 * before it is read; a device is refused at once. */
START_TEST(large_files_and_devices_are_refused) {
  char *dir = scratch_dir(), *big = join(dir, "big.csv");
  FILE *f = fopen(big, "wb");
  ck_assert_ptr_nonnull(f);
  for (int i = 0; i < (1 << 21); i++)
    fputs("1\n", f);
  ck_assert_int_eq(fclose(f), 0);
  exprc_options o;
  exprc_options_default(&o);
  o.limits.max_elements = 16;
  exprc_model *m = tu_compile_opts("dim N\ninput x[N, 1]\noutput y = x\n", &o);
  ck_assert_int_eq(exprc_set_file(m, "x", big), EXPRC_ERR_IO);
  ck_assert_msg(strstr(exprc_errmsg(m), "larger than the 1049600 bytes") != NULL,
                "%s", exprc_errmsg(m));
  ck_assert_int_eq(exprc_set_file(m, "x", "/dev/zero"), EXPRC_ERR_IO);
  ck_assert_str_eq(exprc_errmsg(m), "/dev/zero: not a regular file or a FIFO");
  exprc_free(m);
  remove_tree(dir);
  free(big);
  free(dir);
}
END_TEST

/* ---- output files: devices and FIFOs written in place, links never
 * followed ---- */

static const char *const PARAM_MODEL = "param W[2] ~ fill(0.5)\noutput y = W\n";

/* A planted W.npy.tmp~ (the old temporary's fixed name) pointing at a
 * file of the user's was followed: the file was overwritten, and the link
 * renamed onto W.npy. */
START_TEST(save_params_never_follows_a_planted_link) {
  char *dir = scratch_dir(), *victim = join(dir, "victim");
  char *link = join(dir, "W.npy.tmp~"), *npy = join(dir, "W.npy");
  write_text(victim, "precious");
  ck_assert_int_eq(symlink(victim, link), 0);
  exprc_model *m = tu_compile(PARAM_MODEL);
  ck_assert_msg(exprc_save_params(m, dir) == EXPRC_OK, "%s", exprc_errmsg(m));
  char *text = tu_read_file(victim);
  ck_assert_str_eq(text, "precious");
  struct stat st;
  ck_assert_int_eq(lstat(npy, &st), 0);
  ck_assert_msg(S_ISREG(st.st_mode), "W.npy is not a regular file");
  ck_assert_int_eq(exprc_set_file(m, "W", npy), EXPRC_OK);
  ck_assert_double_eq(tu_output(m, "y").data[1], 0.5);
  exprc_free(m);
  remove_tree(dir);
  free(text), free(npy), free(link), free(victim), free(dir);
}
END_TEST

/* W.npy as a FIFO: the file is written into it (a reader is waiting), and
 * the FIFO stays a FIFO; W.npy as a link to /dev/null: the device is
 * written, and neither the link nor /dev/null is replaced. */
START_TEST(save_params_writes_fifos_and_devices_in_place) {
  char *dir = scratch_dir(), *npy = join(dir, "W.npy");
  ck_assert_int_eq(mkfifo(npy, 0600), 0);
  int rd = open(npy, O_RDONLY | O_NONBLOCK);
  ck_assert_int_ge(rd, 0);
  exprc_model *m = tu_compile(PARAM_MODEL);
  ck_assert_msg(exprc_save_params(m, dir) == EXPRC_OK, "%s", exprc_errmsg(m));
  char buf[512];
  ssize_t n = read(rd, buf, sizeof buf);
  close(rd);
  ck_assert_int_eq(n, 128 + 2 * 8); /* a 128-byte header, then 2 doubles */
  ck_assert(memcmp(buf, "\x93NUMPY", 6) == 0);
  double w[2];
  memcpy(w, buf + 128, sizeof w);
  ck_assert_double_eq(w[0], 0.5);
  struct stat st;
  ck_assert_int_eq(lstat(npy, &st), 0);
  ck_assert_msg(S_ISFIFO(st.st_mode), "the FIFO was replaced");
  ck_assert_int_eq(unlink(npy), 0);
  ck_assert_int_eq(symlink("/dev/null", npy), 0);
  ck_assert_msg(exprc_save_params(m, dir) == EXPRC_OK, "%s", exprc_errmsg(m));
  ck_assert_int_eq(lstat(npy, &st), 0);
  ck_assert_msg(S_ISLNK(st.st_mode), "the link to /dev/null was replaced");
  ck_assert_int_eq(stat("/dev/null", &st), 0);
  ck_assert_msg(S_ISCHR(st.st_mode), "/dev/null is no longer a device");
  exprc_free(m);
  remove_tree(dir);
  free(npy), free(dir);
}
END_TEST

/* W.npy as a link to a regular file is refused, and neither is changed:
 * following it would write wherever a planted link points, and renaming
 * onto it replaced the link (as root, `-o /dev/stdout > file` replaced
 * /dev/stdout itself). A link to the caller's own open file, as
 * /dev/stdout is, is written through that descriptor. */
START_TEST(save_params_refuses_links_to_files_but_writes_own_descriptors) {
  char *dir = scratch_dir(), *npy = join(dir, "W.npy");
  char *victim = join(dir, "victim"), *mine = join(dir, "mine");
  write_text(victim, "precious");
  ck_assert_int_eq(symlink(victim, npy), 0);
  exprc_model *m = tu_compile(PARAM_MODEL);
  ck_assert_int_eq(exprc_save_params(m, dir), EXPRC_ERR_IO);
  ck_assert_msg(strstr(exprc_errmsg(m), "a symbolic link to a regular file"),
                "%s", exprc_errmsg(m));
  struct stat st;
  ck_assert_int_eq(lstat(npy, &st), 0);
  ck_assert_msg(S_ISLNK(st.st_mode), "the link was replaced");
  char *text = tu_read_file(victim);
  ck_assert_str_eq(text, "precious");
  int fd = open(mine, O_RDWR | O_CREAT | O_TRUNC, 0600);
  ck_assert_int_ge(fd, 0);
  char own[64];
  snprintf(own, sizeof own, "/proc/self/fd/%d", fd);
  ck_assert_int_eq(unlink(npy), 0);
  ck_assert_int_eq(symlink(own, npy), 0);
  ck_assert_msg(exprc_save_params(m, dir) == EXPRC_OK, "%s", exprc_errmsg(m));
  ck_assert_int_eq(lstat(npy, &st), 0);
  ck_assert_msg(S_ISLNK(st.st_mode), "the link to our descriptor was replaced");
  ck_assert_int_eq(fstat(fd, &st), 0);
  ck_assert_int_eq(st.st_size, 128 + 2 * 8); /* written at the fd's offset */
  close(fd);
  exprc_free(m);
  remove_tree(dir);
  free(text), free(npy), free(victim), free(mine), free(dir);
}
END_TEST

/* A directory where the file should go is an error that says so. */
START_TEST(save_params_into_a_directory_named_like_the_file) {
  char *dir = scratch_dir(), *npy = join(dir, "W.npy");
  ck_assert_int_eq(mkdir(npy, 0700), 0);
  exprc_model *m = tu_compile(PARAM_MODEL);
  ck_assert_int_eq(exprc_save_params(m, dir), EXPRC_ERR_IO);
  ck_assert_msg(strstr(exprc_errmsg(m), "W.npy: cannot write: it is a directory"),
                "%s", exprc_errmsg(m));
  exprc_free(m);
  remove_tree(dir);
  free(npy), free(dir);
}
END_TEST

int main(void) {
  Suite *s = suite_create("safety");
  TCase *loc = tu_tcase("locale", 60);
  tcase_add_test(loc, model_numbers_under_a_comma_locale);
  tcase_add_test(loc, csv_under_a_comma_locale);
  suite_add_tcase(s, loc);
  TCase *api = tu_tcase("api", 120);
  tcase_add_test(api, set_from_a_gradient_of_the_same_model);
  tcase_add_test(api, set_from_its_own_buffer_and_past_its_end);
  tcase_add_test(api, file_names_with_trigraphs_under_c99);
  tcase_add_test(api, identities_keep_the_sign_of_zero);
  suite_add_tcase(s, api);
  TCase *in = tu_tcase("reading files", 60);
  tcase_add_test(in, csv_refuses_what_it_cannot_read_exactly);
  tcase_add_test(in, csv_reads_what_spreadsheets_write);
  tcase_add_test(in, npy_header_is_parsed_as_a_dict);
  tcase_add_test(in, an_endless_fifo_is_bounded_by_the_limits);
  tcase_add_test(in, large_files_and_devices_are_refused);
  suite_add_tcase(s, in);
  TCase *out = tu_tcase("writing files", 60);
  tcase_add_test(out, save_params_never_follows_a_planted_link);
  tcase_add_test(out, save_params_writes_fifos_and_devices_in_place);
  tcase_add_test(out, save_params_refuses_links_to_files_but_writes_own_descriptors);
  tcase_add_test(out, save_params_into_a_directory_named_like_the_file);
  suite_add_tcase(s, out);
  return tu_run_suite(s);
}
