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
 */
#define _DEFAULT_SOURCE /* wait4, mkstemps */
#include <dirent.h>
#include <fcntl.h>
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
 * after RUN_SECONDS (the alarm is set in the child and survives exec). */
static Run run_argv(char *const *argv) {
  int fo = temp_fd(), fe = temp_fd();
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(fo, 1);
    dup2(fe, 2);
    alarm(RUN_SECONDS);
    execv(argv[0], argv);
    _exit(127);
  }
  Run r = {0};
  struct rusage ru;
  ck_assert_int_eq(wait4(pid, &r.status, 0, &ru), pid);
  r.rss_kb = ru.ru_maxrss;
  r.out = slurp_fd(fo);
  r.err = slurp_fd(fe);
  close(fo);
  close(fe);
  return r;
}

static void run_free(Run *r) {
  free(r->out);
  free(r->err);
}

/* No signal, no time-out, no memory blow-up: the basic promise. */
static void assert_survived(const Run *r, const char *what) {
  ck_assert_msg(!(WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGALRM),
                "%s: still running after %d s", what, RUN_SECONDS);
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
  return tu_run_suite(s);
}
