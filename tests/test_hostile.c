/* test_hostile.c: every model in tests/hostile/ goes through `exprc run`, and
 * none may crash it, hang it, blow up its memory or get a vague error.
 *
 * A model file is untrusted input. Each file in tests/hostile/ says in its
 * header what it tries and what must happen:
 *
 *   # hostile: what the file tests
 *   # expect: ok                        (exit status 0, nothing on stderr)
 *   # expect: error LINE:COL: TEXT      (exit status 1; stderr's first line
 *                                        is exactly FILE:LINE:COL: error: TEXT;
 *                                        LINE or COL may be * for any)
 *   # set: NAME=VALUE ...               (optional: --set arguments)
 *   # stdout: TEXT                      (optional, repeatable: must appear in
 *                                        the output of a model that works)
 *
 * Header lines may end in CR or LF. Every run is killed after RUN_SECONDS
 * (an alarm that survives exec) and must not be killed by any signal; its
 * peak memory, from wait4, must stay under MAX_RSS_KB. Models that work and
 * are small are also emitted with `exprc emit -o m.c --header m.h`, and the
 * system C compiler (`cc -std=c99 -Werror -c`) must compile m.c and a file
 * that includes m.h; small models that fail must fail the same way under
 * `exprc check`. Two hostile inputs cannot carry a header and are made here: the empty file, and a model whose file name holds quotes, a
 * backslash, a star and a newline (it reaches the #line directives of the
 * generated C).
 *
 * Inputs too big to keep in the repository are made at test time, each by
 * a small generator below (a file at the size limit, a def with 300,000
 * parameters, names made to collide in an unkeyed hash, a chain of 50,000
 * statements, 16,000 outputs for the header). Each once took minutes and
 * gigabytes; each must now end with the stated outcome before a generous
 * time-out (GEN_SECONDS, for the loaded machines tests run on; each takes
 * a few seconds) and under MAX_RSS_KB.
 */
#define _DEFAULT_SOURCE /* wait4, mkstemps */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define RUN_SECONDS 30
#define GEN_SECONDS 60
#define MAX_RSS_KB (2L * 1024 * 1024)
#define SMALL_FILE 16384 /* bytes: worth compiling with cc, checking twice */
#define MAX_ARGS 64

static char **files; /* hostile model file names, sorted */
static int nfiles;

/* ---- running a command with limits ---- */

typedef struct Run {
  int status;   /* wait status */
  long rss_kb;  /* peak resident memory */
  char *out, *err;
  int seconds;  /* the time-out it ran under */
} Run;

static char *slurp_fd(int fd) {
  size_t cap = 4096, n = 0;
  char *s = malloc(cap);
  ssize_t k;
  lseek(fd, 0, SEEK_SET);
  while (s && (k = read(fd, s + n, cap - n - 1)) > 0) {
    n += (size_t)k;
    if (n + 1 == cap)
      s = realloc(s, cap *= 2);
  }
  ck_assert_ptr_nonnull(s);
  s[n] = 0;
  return s;
}

static int temp_fd(void) {
  char path[] = "/tmp/exprc-hostile-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  unlink(path);
  return fd;
}

/* Run argv[0] with argv, capturing stdout and stderr, killed by SIGALRM
 * after `seconds` (the alarm is set in the child and survives exec). */
static Run run_argv_for(char *const *argv, int seconds) {
  int fo = temp_fd(), fe = temp_fd();
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(fo, 1);
    dup2(fe, 2);
    alarm((unsigned)seconds);
    execv(argv[0], argv);
    _exit(127);
  }
  Run r = {.seconds = seconds};
  struct rusage ru;
  ck_assert_int_eq(wait4(pid, &r.status, 0, &ru), pid);
  r.rss_kb = ru.ru_maxrss;
  r.out = slurp_fd(fo);
  r.err = slurp_fd(fe);
  close(fo);
  close(fe);
  return r;
}

static Run run_argv(char *const *argv) {
  return run_argv_for(argv, RUN_SECONDS);
}

static void run_free(Run *r) {
  free(r->out);
  free(r->err);
}

/* No signal, no time-out, no memory blow-up: the basic promise. */
static void assert_survived(const Run *r, const char *what) {
  ck_assert_msg(!(WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGALRM),
                "%s: still running after %d s", what, r->seconds);
  ck_assert_msg(!WIFSIGNALED(r->status), "%s: killed by signal %d\n%s", what,
                WTERMSIG(r->status), r->err);
  ck_assert_msg(r->rss_kb < MAX_RSS_KB, "%s: used %ld KiB of memory", what,
                r->rss_kb);
}

/* ---- the header of a hostile file ---- */

typedef struct Expect {
  int ok;
  char error[1024];  /* "LINE:COL: TEXT" for an error */
  char *set[MAX_ARGS];
  int nset;
  char *out[MAX_ARGS];
  int nout;
  char *text;        /* the file's first 64 KiB, cut into header lines */
} Expect;

static void header_line(Expect *e, char *line, const char *file) {
  if (strncmp(line, "# expect: ", 10) == 0) {
    const char *v = line + 10;
    if (strcmp(v, "ok") == 0)
      e->ok = 1;
    else if (strncmp(v, "error ", 6) == 0)
      snprintf(e->error, sizeof e->error, "%s", v + 6);
    else
      ck_abort_msg("%s: bad '# expect:' line: %s", file, v);
  } else if (strncmp(line, "# set: ", 7) == 0) {
    for (char *w = strtok(line + 7, " "); w; w = strtok(NULL, " "))
      if (e->nset < MAX_ARGS)
        e->set[e->nset++] = w;
  } else if (strncmp(line, "# stdout: ", 10) == 0 && e->nout < MAX_ARGS) {
    e->out[e->nout++] = line + 10;
  }
}

/* Read the header: the leading lines that start with '#'. */
static Expect read_header(const char *path, const char *file) {
  Expect e = {0};
  int fd = open(path, O_RDONLY);
  ck_assert_msg(fd >= 0, "cannot open %s", path);
  e.text = calloc(65537, 1);
  ssize_t n = read(fd, e.text, 65536);
  close(fd);
  ck_assert_int_ge(n, 0);
  char *p = e.text;
  while (*p == '#') {
    size_t len = strcspn(p, "\r\n");
    char *next = p + len + (p[len] != 0);
    if (p[len] == '\r' && *next == '\n')
      next++;
    p[len] = 0;
    header_line(&e, p, file);
    p = next;
  }
  ck_assert_msg(strncmp(e.text, "# hostile: ", 11) == 0,
                "%s: the first line must say '# hostile: what it tests'", file);
  ck_assert_msg(e.ok || e.error[0], "%s: no '# expect:' line", file);
  return e;
}

/* ---- checks ---- */

static void assert_ok(const Run *r, const Expect *e, const char *file) {
  ck_assert_msg(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0,
                "%s: expected to work, exit status %d:\n%s", file,
                WEXITSTATUS(r->status), r->err);
  ck_assert_msg(r->err[0] == 0, "%s: works but says on stderr:\n%s", file,
                r->err);
  for (int i = 0; i < e->nout; i++)
    ck_assert_msg(strstr(r->out, e->out[i]), "%s: output lacks '%s':\n%.2000s",
                  file, e->out[i], r->out);
}

/* Does `got` (digits) match `want` (digits, or "*" for any)? */
static int pos_matches(const char *want, size_t wn, const char *got, size_t gn) {
  if (wn == 1 && want[0] == '*')
    return gn > 0 && strspn(got, "0123456789") == gn;
  return wn == gn && strncmp(want, got, wn) == 0;
}

/* Exit status 1 and a first line "PATH:LINE:COL: error: TEXT". LINE or COL
 * may be "*" in the header, for limits that trip at a place that depends on
 * how the graph grows; the text is always exact. */
static void assert_error(const Run *r, const Expect *e, const char *path,
                         const char *file) {
  ck_assert_msg(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 1,
                "%s: expected exit status 1, got %d:\n%.2000s\n%.2000s", file,
                WEXITSTATUS(r->status), r->out, r->err);
  const char *wl = e->error, *wc = strchr(wl, ':');
  const char *wt = wc ? strstr(wc, ": ") : NULL;
  ck_assert_msg(wc && wt, "%s: '# expect: error' needs LINE:COL: TEXT", file);
  wc++;
  size_t n = strcspn(r->err, "\n"), plen = strlen(path);
  const char *gl = r->err + plen + 1;
  const char *gc = strchr(gl, ':'), *gt = gc ? strstr(gc + 1, ":") : NULL;
  int ok = n > plen && strncmp(r->err, path, plen) == 0 &&
           r->err[plen] == ':' && gc && gt && gt < r->err + n &&
           pos_matches(wl, (size_t)(wc - 1 - wl), gl, (size_t)(gc - gl)) &&
           pos_matches(wc, (size_t)(wt - wc), gc + 1, (size_t)(gt - gc - 1)) &&
           strncmp(gt, ": error", 7) == 0 &&
           (size_t)(r->err + n - (gt + 7)) == strlen(wt) &&
           strncmp(gt + 7, wt, strlen(wt)) == 0;
  ck_assert_msg(ok, "%s: expected the message\n  %s:%s\n  (as LINE:COL: "
                "error: TEXT)\ngot\n  %.*s", file, path, e->error,
                (int)(n > 2000 ? 2000 : n), r->err);
}

/* `exprc emit FILE -o OUT.c --header OUT.h`; then the system compiler,
 * warnings as errors, compiles OUT.c and a file that includes OUT.h (model
 * names reach the header's macros and comments). */
static void assert_emits_valid_c(const char *path, const char *file) {
  char dir[] = "/tmp/exprc-hostile-emit-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char c[64], h[64];
  snprintf(c, sizeof c, "%s/m.c", dir);
  snprintf(h, sizeof h, "%s/m.h", dir);
  char *emit[] = {(char *)tu_exprc(), "emit", (char *)path, "-o", c,
                  "--header", h, NULL};
  Run r = run_argv(emit);
  assert_survived(&r, file);
  ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
                "%s: exprc emit failed:\n%s", file, r.err);
  run_free(&r);
  char *cc[] = {"/bin/sh", "-c",
                "cd \"$0\" && echo '#include \"m.h\"' > use.c && "
                "cc -std=c99 -Werror -c m.c && cc -std=c99 -Werror -c use.c "
                "2>&1; s=$?; rm -f m.c m.h use.c m.o use.o; exit $s",
                dir, NULL};
  r = run_argv(cc);
  ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
                "%s: the emitted C or header does not compile with cc:\n%.3000s",
                file, r.out);
  run_free(&r);
  rmdir(dir);
}

/* `exprc check` stops after the front end: the same first line. */
static void assert_check_agrees(const char *path, const char *first,
                                const char *file) {
  char *argv[] = {(char *)tu_exprc(), "check", (char *)path, NULL};
  Run r = run_argv(argv);
  assert_survived(&r, file);
  size_t n = strcspn(first, "\n");
  ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1 &&
                    strncmp(r.err, first, n) == 0,
                "%s: exprc check disagrees with exprc run:\n%.2000s", file,
                r.err);
  run_free(&r);
}

/* ---- the tests ---- */

/* Each hostile file: survives, and does exactly what its header says. */
START_TEST(hostile_file) {
  const char *file = files[_i];
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/hostile/%s", tu_srcroot(), file);
  Expect e = read_header(path, file);
  char *argv[2 * MAX_ARGS + 4];
  int argc = 0;
  argv[argc++] = (char *)tu_exprc();
  argv[argc++] = "run";
  argv[argc++] = path;
  for (int i = 0; i < e.nset; i++) {
    argv[argc++] = "--set";
    argv[argc++] = e.set[i];
  }
  argv[argc] = NULL;
  Run r = run_argv(argv);
  assert_survived(&r, file);
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  if (e.ok) {
    assert_ok(&r, &e, file);
    if (st.st_size <= SMALL_FILE)
      assert_emits_valid_c(path, file);
  } else {
    assert_error(&r, &e, path, file);
    if (st.st_size <= SMALL_FILE)
      assert_check_agrees(path, r.err, file);
  }
  run_free(&r);
  free(e.text);
}
END_TEST

/* There are enough hostile files, and each is a model (.expr). */
START_TEST(the_collection_is_complete) {
  ck_assert_msg(nfiles >= 30, "only %d hostile models", nfiles);
}
END_TEST

/* An empty file is a model with nothing in it: it works and prints
 * nothing. (It cannot carry a header, so it is made here.) */
START_TEST(empty_file_works_and_prints_nothing) {
  char path[] = "/tmp/exprc-hostile-empty-XXXXXX.expr";
  int fd = mkstemps(path, 5);
  ck_assert_int_ge(fd, 0);
  close(fd);
  char *argv[] = {(char *)tu_exprc(), "run", path, NULL};
  Run r = run_argv(argv);
  unlink(path);
  assert_survived(&r, "empty file");
  ck_assert_int_eq(WEXITSTATUS(r.status), 0);
  ck_assert_str_eq(r.out, "");
  ck_assert_str_eq(r.err, "");
  run_free(&r);
}
END_TEST

/* The file name reaches the generated C in #line directives: quotes, a
 * backslash, a star and a newline in it must be escaped, so the C
 * still compiles (with libtcc and with cc) and the model still runs; error
 * messages name the file as it is. */
START_TEST(hostile_file_name) {
  char dir[] = "/tmp/exprc-hostile-dir-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[512];
  snprintf(path, sizeof path, "%s/we\"ird\\ * na\nme's.expr", dir);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs("input x[2]\nloss = sum(tanh(x) * x)\noutput loss\n"
        "grad loss wrt x\n", f);
  fclose(f);
  char *run[] = {(char *)tu_exprc(), "run", path, "--set", "x=[0,0]", NULL};
  Run r = run_argv(run);
  assert_survived(&r, path);
  ck_assert_msg(WEXITSTATUS(r.status) == 0, "run failed:\n%s", r.err);
  ck_assert_ptr_nonnull(strstr(r.out, "loss = 0"));
  run_free(&r);
  assert_emits_valid_c(path, "a file name with quotes and a newline");
  f = fopen(path, "w");
  fputs("y = nope\n", f);
  fclose(f);
  char *bad[] = {(char *)tu_exprc(), "run", path, NULL};
  r = run_argv(bad);
  char want[1200];
  snprintf(want, sizeof want, "%s:1:5: error: unknown name 'nope'", path);
  ck_assert_msg(strncmp(r.err, want, strlen(want)) == 0, "got %s", r.err);
  run_free(&r);
  unlink(path);
  rmdir(dir);
}
END_TEST

/* ---- inputs made at test time ---- */

typedef void (*GenFn)(FILE *f, void *arg);

/* A temporary model file, written by gen; its name goes to path. */
static void make_model(char *path, size_t n, GenFn gen, void *arg) {
  snprintf(path, n, "/tmp/exprc-hostile-gen-XXXXXX.expr");
  int fd = mkstemps(path, 5);
  ck_assert_int_ge(fd, 0);
  FILE *f = fdopen(fd, "w");
  ck_assert_ptr_nonnull(f);
  gen(f, arg);
  ck_assert_int_eq(fclose(f), 0);
}

/* `exprc CMD PATH [ARG...]` under GEN_SECONDS: it must survive. The model
 * file is removed first, so that a failure leaves no big file behind. */
static Run run_generated(const char *cmd, const char *path, const char *a1,
                         const char *a2) {
  char *argv[] = {(char *)tu_exprc(), (char *)cmd, (char *)path, (char *)a1,
                  (char *)a2, NULL};
  Run r = run_argv_for(argv, GEN_SECONDS);
  unlink(path);
  assert_survived(&r, path);
  return r;
}

/* It failed with exactly "PATH:WHERE: error: TEXT" (WHERE as in a header's
 * "# expect: error LINE:COL: TEXT", a '*' for any). */
static void expect_error(const Run *r, const char *path, const char *where,
                         const char *text) {
  Expect e = {0};
  snprintf(e.error, sizeof e.error, "%s: %s", where, text);
  assert_error(r, &e, path, path);
}

static void expect_output(const Run *r, const char *path, const char *out) {
  Expect e = {.ok = 1, .nout = 1, .out = {(char *)out}};
  assert_ok(r, &e, path);
}

/* The model text x = a+a+...+a of exactly *(long *)arg bytes. */
static void gen_sum_of_size(FILE *f, void *arg) {
  static char chunk[1 << 16];
  const char *head = "input a\nx = a", *tail = "\noutput x\n";
  long left = *(long *)arg - (long)strlen(head) - (long)strlen(tail);
  for (size_t i = 0; i < sizeof chunk; i += 2)
    chunk[i] = '+', chunk[i + 1] = 'a';
  fputs(head, f);
  if (left % 2)
    fputc(' ', f), left--;
  while (left > 0) {
    long k = left < (long)sizeof chunk ? left : (long)sizeof chunk;
    fwrite(chunk, 1, (size_t)k, f);
    left -= k;
  }
  fputs(tail, f);
}

/* A file of exactly the default size limit (64 MiB) is read, and a sum of
 * 33 million terms in it once took 105 s and 12.5 GB before the expression
 * limit stopped it: the compile memory limit (1 GiB) now stops it in the
 * lexer, at the token where the tokens outgrow it. One byte more and the
 * file is refused before it is read whole. */
START_TEST(file_at_the_size_limit) {
  char path[64];
  long size = 64L << 20;
  make_model(path, sizeof path, gen_sum_of_size, &size);
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_int_eq(st.st_size, size);
  Run r = run_generated("check", path, NULL, NULL);
  expect_error(&r, path, "2:*", "compiling the model needs more than "
               "1073741824 bytes of memory (the limit)");
  run_free(&r);
  size++;
  make_model(path, sizeof path, gen_sum_of_size, &size);
  r = run_generated("run", path, NULL, NULL);
  char want[128];
  snprintf(want, sizeof want, "%s: error: file is larger than 67108864 bytes\n",
           path);
  ck_assert_int_eq(WEXITSTATUS(r.status), 1);
  ck_assert_str_eq(r.err, want);
  ck_assert_msg(r.rss_kb < 256 * 1024, "read %ld KiB for a refused file",
                r.rss_kb);
  run_free(&r);
}
END_TEST

/* def f(p0, ..., p<n-1>) = p0 - p<n-1>, called with 0, 1, ..., n-1; with
 * *(int *)arg < 0, the last parameter is p0 again, and nothing calls f. */
static void gen_def_params(FILE *f, void *arg) {
  int n = abs(*(int *)arg), twice = *(int *)arg < 0;
  fputs("def f(", f);
  for (int i = 0; i < n; i++)
    fprintf(f, i ? ", p%d" : "p%d", twice && i == n - 1 ? 0 : i);
  if (twice) {
    fputs(") = p0\noutput y = 1\n", f);
    return;
  }
  fprintf(f, ") = p0 - p%d\noutput y = f(", n - 1);
  for (int i = 0; i < n; i++)
    fprintf(f, i ? ", %d" : "%d", i);
  fputs(")\n", f);
}

/* A def with 300,000 parameters took 159 s: each was compared with all
 * before it. The check is a hash set now, and each use in the body finds
 * its parameter in it too. */
START_TEST(def_with_300000_params) {
  char path[64], where[32];
  int n = 300000;
  make_model(path, sizeof path, gen_def_params, &n);
  Run r = run_generated("run", path, NULL, NULL);
  expect_output(&r, path, "y = -299999\n");
  run_free(&r);
  n = -n; /* "def f(" is 6 columns; "p<i>, " is 4 + digits of i */
  long col = 7;
  for (int i = 0; i < -n - 1; i++)
    col += snprintf(NULL, 0, "p%d, ", i);
  snprintf(where, sizeof where, "1:%ld", col);
  make_model(path, sizeof path, gen_def_params, &n);
  r = run_generated("run", path, NULL, NULL);
  expect_error(&r, path, where, "parameter 'p0' is listed twice");
  run_free(&r);
}
END_TEST

#define COLLIDE_LEVELS 17
#define COLLIDE_BITS 20

static uint64_t fnv1a(uint64_t h, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
  return h;
}

/* The 4-letter block number c */
static void block(uint32_t c, char *b) {
  static const char letters[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (int k = 0; k < 4; k++, c /= 52)
    b[k] = letters[c % 52];
  b[4] = 0;
}

/* For each level, two 4-letter blocks whose FNV-1a states agree in their
 * low COLLIDE_BITS bits when hashed on from the state the levels before
 * leave (after "z"). Those bits of the state depend on no higher ones, so
 * "z" and one block of each level, in any choice, all hash alike there. */
static void collide_pairs(char pair[][2][5]) {
  uint32_t *seen = malloc(sizeof *seen << COLLIDE_BITS);
  ck_assert_ptr_nonnull(seen);
  uint64_t h = fnv1a(0xcbf29ce484222325ULL, "z", 1); /* FNV's basis */
  for (int lv = 0; lv < COLLIDE_LEVELS; lv++) {
    memset(seen, 0, sizeof *seen << COLLIDE_BITS);
    for (uint32_t c = 0; c < 52 * 52 * 52 * 52; c++) { /* a birthday search */
      char b[5];
      block(c, b);
      uint64_t x = fnv1a(h, b, 4);
      uint32_t *at = &seen[x & ((1u << COLLIDE_BITS) - 1)];
      if (*at) {
        block(*at - 1, pair[lv][0]);
        memcpy(pair[lv][1], b, 5);
        h = x;
        break;
      }
      *at = c + 1;
    }
    ck_assert_msg(pair[lv][1][0], "no collision at level %d", lv);
  }
  free(seen);
}

static void collide_name(char pair[][2][5], uint32_t i, char *name) {
  name[0] = 'z';
  for (int lv = 0; lv < COLLIDE_LEVELS; lv++)
    memcpy(name + 1 + 4 * lv, pair[lv][(i >> lv) & 1], 5);
}

/* 2^17 values whose names collide in FNV-1a (unkeyed) */
static void gen_colliding_names(FILE *f, void *arg) {
  char (*pair)[2][5] = arg, name[2 + 4 * COLLIDE_LEVELS], last[sizeof name];
  uint32_t n = 1u << COLLIDE_LEVELS;
  for (uint32_t i = 0; i < n; i++) {
    collide_name(pair, i, name);
    fprintf(f, "%s = 1\n", name);
  }
  collide_name(pair, 0, name);
  collide_name(pair, n - 1, last);
  fprintf(f, "output y = %s + %s\n", name, last);
}

/* 65,536 names whose hashes collide took 18 s when the name table used
 * FNV-1a with its fixed basis: each lookup walked past all the names
 * before it. Twice as many (the time grows as the square) now take a
 * second, since the table's hash is keyed per compile. */
START_TEST(names_with_colliding_hashes) {
  static char pair[COLLIDE_LEVELS][2][5];
  char name[2 + 4 * COLLIDE_LEVELS], path[64];
  collide_pairs(pair);
  uint32_t mask = (1u << COLLIDE_BITS) - 1;
  collide_name(pair, 0, name);
  uint64_t h0 = fnv1a(0xcbf29ce484222325ULL, name, strlen(name)) & mask;
  for (uint32_t i = 1; i < 1u << COLLIDE_LEVELS; i += 997) {
    collide_name(pair, i, name); /* they do collide (under the old hash) */
    ck_assert_uint_eq(fnv1a(0xcbf29ce484222325ULL, name, strlen(name)) & mask,
                      h0);
  }
  make_model(path, sizeof path, gen_colliding_names, pair);
  Run r = run_generated("run", path, NULL, NULL);
  expect_output(&r, path, "y = 2\n");
  run_free(&r);
}
END_TEST

/* v1 = sin(v0) * x, ..., v<n-1> = sin(v<n-2>) * x, all over x[3], and
 * the gradient of loss = sum(v<n-1>) */
static void gen_chain(FILE *f, void *arg) {
  int n = *(int *)arg;
  fputs("input x[3]\nv0 = x\n", f);
  for (int k = 1; k < n; k++)
    fprintf(f, "v%d = sin(v%d) * x\n", k, k - 1);
  fprintf(f, "loss = sum(v%d)\noutput loss\ngrad loss wrt x\n", n - 1);
}

/* A chain of statements over a small vector is one merged loop, and with
 * a gradient each forward value keeps its own buffer; each buffer the loop
 * keeps in a local was substituted by a pass over the whole loop body, so
 * 20,000 statements took 30 s and these 50,000 three minutes. One pass now
 * substitutes them all. The values: the same iteration in C, v <- sin(v)
 * from v = 1 with its derivative carried forward, d <- cos(v) d + sin(v)
 * (x = 1); the loss is 3v. */
START_TEST(chain_of_50000_statements) {
  char path[64], loss[64], grad[96];
  int n = 50000;
  double v = 1, d = 1;
  for (int k = 1; k < n; k++) {
    d = cos(v) * d * 1.0 + sin(v);
    v = sin(v) * 1.0;
  }
  snprintf(loss, sizeof loss, "\nloss = %g\n", v + v + v);
  snprintf(grad, sizeof grad, "\n  dloss/dx = [%g, %g, %g]\n", d, d, d);
  make_model(path, sizeof path, gen_chain, &n);
  Run r = run_generated("run", path, "--set", "x=[1,1,1]");
  expect_output(&r, path, loss + 1);
  expect_output(&r, path, grad);
  run_free(&r);
}
END_TEST

/* output o0 = x * 0, ..., o<n-1> = x * (n-1) */
static void gen_outputs(FILE *f, void *arg) {
  int n = *(int *)arg;
  fputs("input x\n", f);
  for (int k = 0; k < n; k++)
    fprintf(f, "output o%d = x * %d\n", k, k);
}

/* The header for 16,000 outputs took 508 s and 4 GB: for each slot it
 * made every earlier slot's macro again, to see whether its own was taken.
 * The slots' macros are made once now, and the taken ones kept in a set. */
START_TEST(header_for_16000_outputs) {
  char path[64], dir[] = "/tmp/exprc-hostile-hdr-XXXXXX", c[64], h[64];
  int n = 16000;
  make_model(path, sizeof path, gen_outputs, &n);
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(c, sizeof c, "%s/m.c", dir);
  snprintf(h, sizeof h, "%s/m.h", dir);
  char *argv[] = {(char *)tu_exprc(), "emit", path, "-o", c, "--header", h,
                  NULL};
  Run r = run_argv_for(argv, GEN_SECONDS);
  unlink(path);
  int fd = open(h, O_RDONLY); /* read, then clean up, then judge */
  char *text = fd >= 0 ? slurp_fd(fd) : NULL;
  if (fd >= 0)
    close(fd);
  unlink(c);
  unlink(h);
  rmdir(dir);
  assert_survived(&r, path);
  ck_assert_msg(WEXITSTATUS(r.status) == 0 && text, "emit failed:\n%s", r.err);
  run_free(&r);
  ck_assert_ptr_nonnull(strstr(text, "\n#define XC_NSLOTS 16001\n"));
  ck_assert_ptr_nonnull(strstr(text, "\n#define XC_OUTPUT_o15999     16000 "
                                     "/* output o15999 [] */\n"));
  ck_assert_ptr_nonnull(strstr(text, "\n  case 16000: return 1L;\n"));
  free(text);
}
END_TEST

/* The compile's own memory has a limit (max_compile_bytes, 1 GiB by
 * default), reported where the compile was when it ran out: here in the
 * lexer, since 20,000 terms need more than 256 KiB of tokens. */
START_TEST(compile_memory_limit_is_located) {
  size_t n = 20000, k = 0;
  char *src = malloc(32 + 2 * n);
  ck_assert_ptr_nonnull(src);
  k += (size_t)sprintf(src, "input a\nx = a");
  for (size_t i = 1; i < n; i++)
    src[k++] = '+', src[k++] = 'a';
  strcpy(src + k, "\noutput x\n");
  exprc_options o;
  exprc_options_default(&o);
  ck_assert_int_eq(o.limits.max_compile_bytes, (int64_t)1 << 30);
  exprc_model *m;
  ck_assert_int_eq(exprc_compile_string(src, "sum.expr", &o, &m), EXPRC_OK);
  exprc_free(m);
  o.limits.max_compile_bytes = 256 << 10;
  ck_assert_int_eq(exprc_compile_string(src, "sum.expr", &o, &m),
                   EXPRC_ERR_LIMIT);
  const char *msg = exprc_errmsg(m), *want = ": error: compiling the model "
      "needs more than 262144 bytes of memory (the limit)\n";
  const char *text = strstr(msg, ": error: ");
  ck_assert_msg(strncmp(msg, "sum.expr:2:", 11) == 0 && text &&
                    strncmp(text, want, strlen(want)) == 0,
                "got %s", msg);
  exprc_free(m);
  free(src);
}
END_TEST

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.expr files of tests/hostile/, sorted. */
static void list_files(void) {
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/hostile", tu_srcroot());
  DIR *d = opendir(path);
  if (!d) {
    fprintf(stderr, "test_hostile: cannot open %s\n", path);
    exit(EXIT_FAILURE);
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    size_t n = strlen(de->d_name);
    if (n > 5 && strcmp(de->d_name + n - 5, ".expr") == 0) {
      files = realloc(files, (size_t)(nfiles + 1) * sizeof *files);
      files[nfiles++] = strdup(de->d_name);
    }
  }
  closedir(d);
  qsort(files, (size_t)nfiles, sizeof *files, by_name);
}

int main(int argc, char **argv) {
  tu_set_paths(argc, argv);
  list_files();
  Suite *s = suite_create("hostile");
  TCase *tc = tu_tcase("hostile models", 120);
  tcase_add_test(tc, the_collection_is_complete);
  tcase_add_loop_test(tc, hostile_file, 0, nfiles);
  tcase_add_test(tc, empty_file_works_and_prints_nothing);
  tcase_add_test(tc, hostile_file_name);
  suite_add_tcase(s, tc);
  TCase *big = tu_tcase("inputs made at test time", 4.0 * GEN_SECONDS);
  tcase_add_test(big, file_at_the_size_limit);
  tcase_add_test(big, def_with_300000_params);
  tcase_add_test(big, names_with_colliding_hashes);
  tcase_add_test(big, chain_of_50000_statements);
  tcase_add_test(big, header_for_16000_outputs);
  tcase_add_test(big, compile_memory_limit_is_located);
  suite_add_tcase(s, big);
  return tu_run_suite(s);
}
