/* test_cache.c: the system-compiler backend (--backend cc) and its cache.
 *
 * A cached shared object is code that exprc loads into the user's process,
 * so the cache must be private: a directory another user can write is not
 * used (the model still compiles, without the cache); an object that does
 * not hash to the record beside it (truncated, damaged, replaced) is rebuilt
 * rather than loaded; temporary files cannot be redirected by symlinks; and
 * no path can reach the compiler as an option. A system compiler that fails
 * (gcc 12's internal error on some comparisons, a compiler that exits 1 or
 * never finishes) does not fail the model: libtcc compiles it, and
 * exprc_options.note (the CLI's --verbose) says so.
 *
 * Fake compilers are small shell scripts given through $CC. "Planted" code
 * is a shared object whose constructor creates a marker file: if the marker
 * exists, exprc ran code it should not have.
 * Usage: test_cache EXPRC SOURCE_ROOT (meson passes both).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "../compiler/sha256.h"
#include "testutil.h"

/* ---- helpers ---- */

/* The model of issue 10 that made gcc 12.2 -O2 crash. With
 * r = [-2, -1, 0, 0.5, 1, 1.5, 2, 3]: sign(r) = [-1,-1,0,1,1,1,1,1] and
 * (r > 1) = [0,0,0,0,0,1,1,1], so sign(r) < (r > 1) only at the first two
 * elements: F = 2 (by hand). */
static const char ice_model[] = "input r[8]\noutput F = sum(sign(r) < (r > 1))\n";
static const double ice_r[8] = {-2, -1, 0, 0.5, 1, 1.5, 2, 3};

/* A plain model: y = sum(x * x) = 1 + 4 + 9 = 14 at x = [1, 2, 3]. */
static const char sq_model[] = "input x[3]\noutput y = sum(x * x)\n";

static char notes[8192]; /* every note of the last compile */

static void collect(void *arg, const char *msg) {
  (void)arg;
  size_t n = strlen(notes);
  snprintf(notes + n, sizeof notes - n, "%s\n", msg);
}

/* A new private directory for one test; its path is static storage. */
static const char *scratch(void) {
  static char dir[64];
  snprintf(dir, sizeof dir, "/tmp/exprc-test-cache-XXXXXX");
  ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
  return dir;
}

/* dir/name in one of 32 static buffers used in turn (a test holds fewer). */
static const char *path(const char *dir, const char *name) {
  static char ring[32][1024];
  static int k;
  char tmp[1024];
  int n = snprintf(tmp, sizeof tmp, "%s/%s", dir, name);
  ck_assert(n > 0 && n < (int)sizeof tmp);
  char *p = ring[k++ % 32];
  memcpy(p, tmp, (size_t)n + 1);
  return p;
}

/* Only $EXPRC_CACHE_DIR chooses the cache, and the compiler is cc. */
static void use_cache(const char *dir) {
  setenv("EXPRC_CACHE_DIR", dir, 1);
  unsetenv("CC");
}

static exprc_model *compile_cc(const char *src, int timeout) {
  exprc_options o;
  exprc_options_default(&o);
  o.backend = EXPRC_BACKEND_CC;
  o.limits.cc_timeout = timeout;
  o.note = collect;
  notes[0] = 0;
  return tu_compile_opts(src, &o);
}

static double run_sq(exprc_model *m) {
  static const double x[3] = {1, 2, 3};
  tu_set(m, "x", x, 1, 3);
  return tu_scalar(m, "y");
}

static double run_ice(exprc_model *m) {
  tu_set(m, "r", ice_r, 1, 8);
  return tu_scalar(m, "F");
}

/* The one file in dir whose name ends in suffix ("" if none), in static
 * storage that the next call reuses; fails the test if there are several. */
static const char *only_file(const char *dir, const char *suffix) {
  static char name[512];
  DIR *d = opendir(dir);
  int found = 0;
  name[0] = 0;
  ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    size_t n = strlen(e->d_name), k = strlen(suffix);
    if (e->d_name[0] != '.' && n >= k && strcmp(e->d_name + n - k, suffix) == 0) {
      snprintf(name, sizeof name, "%s", e->d_name);
      found++;
    }
  }
  closedir(d);
  ck_assert_msg(found <= 1, "%d files *%s in %s", found, suffix, dir);
  return name;
}

static int entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return n;
}

static int exists(const char *p) { return access(p, F_OK) == 0; }

static void write_text(const char *p, const char *text, mode_t mode) {
  FILE *f = fopen(p, "w");
  ck_assert_msg(f != NULL, "cannot write %s", p);
  fputs(text, f);
  fclose(f);
  chmod(p, mode);
}

/* A shared object whose constructor creates `marker`: code a cache must
 * never load. Built with the system compiler, as an attacker would. */
static const char *planted_object(const char *dir, const char *marker) {
  char src[1024], cmd[2048];
  snprintf(src, sizeof src,
           "#include <fcntl.h>\n#include <unistd.h>\n"
           "__attribute__((constructor)) static void planted(void)\n"
           "{ close(open(\"%s\", O_WRONLY | O_CREAT, 0600)); }\n"
           "void (*xc_gemm_fp)(void); void (*xc_par_fp)(void);\n"
           "void xc_forward(const long *D, double *const *S)\n"
           "{ (void)D; S[1][0] = 666; }\n", marker);
  write_text(path(dir, "planted.c"), src, 0600);
  snprintf(cmd, sizeof cmd, "cc -shared -fPIC -o '%s' '%s'",
           path(dir, "planted.so"), path(dir, "planted.c"));
  ck_assert_msg(tu_run(cmd, NULL, NULL) == 0, "cannot build %s", src);
  return path(dir, "planted.so");
}

static void copy_file(const char *from, const char *to) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
  ck_assert_int_eq(tu_run(cmd, NULL, NULL), 0);
}

static void remove_tree(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s'; rm -rf '%s'", dir, dir);
  tu_run(cmd, NULL, NULL);
}

/* Compile sq_model into a private cache at dir; return the object's name
 * (static storage of its own). */
static const char *populate(const char *dir) {
  static char so[512];
  use_cache(dir);
  exprc_model *m = compile_cc(sq_model, 0);
  ck_assert_double_eq(run_sq(m), 14);
  exprc_free(m);
  snprintf(so, sizeof so, "%s", only_file(dir, ".so"));
  ck_assert_msg(*so, "no object cached in %s; notes:\n%s", dir, notes);
  return so;
}

/* ---- SHA-256: the hash that names and checks cached objects ---- */

static const char *hex_of(const char *s, size_t n, size_t chunk) {
  static char hex[65];
  Sha256 h;
  sha256_init(&h);
  for (size_t i = 0; i < n; i += chunk)
    sha256_update(&h, s + i, n - i < chunk ? n - i : chunk);
  sha256_hex(&h, hex);
  return hex;
}

/* The digests FIPS 180-2 gives as examples (also what sha256sum prints),
 * fed whole and in odd-sized pieces that straddle the 64-byte blocks. */
START_TEST(sha256_matches_the_standard_examples) {
  const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  ck_assert_str_eq(hex_of("", 0, 1),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ck_assert_str_eq(hex_of("abc", 3, 3),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  for (size_t chunk = 1; chunk <= 56; chunk += 11)
    ck_assert_str_eq(hex_of(two, strlen(two), chunk),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  char *million = malloc(1000000);
  memset(million, 'a', 1000000);
  ck_assert_str_eq(hex_of(million, 1000000, 4099),
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  free(million);
}
END_TEST

/* ---- the cache directory must be private ---- */

/* A cache directory exprc creates is 0700, even under umask 0, as is each
 * directory it creates on the way. */
START_TEST(created_cache_directory_is_private) {
  const char *t = scratch();
  umask(0);
  populate(path(t, "new/cache"));
  struct stat st;
  ck_assert_int_eq(stat(path(t, "new/cache"), &st), 0);
  ck_assert_int_eq(st.st_mode & 07777, 0700);
  ck_assert_int_eq(stat(path(t, "new"), &st), 0);
  ck_assert_int_eq(st.st_mode & 07777, 0700);
  ck_assert_str_eq(notes, "");
  remove_tree(t);
}
END_TEST

/* EXPRC_CACHE_DIR writable by group or others (mode from the loop) is not
 * used: nothing is written there, the model still compiles and runs, and a
 * note says why. */
START_TEST(shared_cache_directory_is_refused) {
  static const mode_t modes[] = {0770, 0707, 0777, 01777};
  const char *t = scratch(), *shared = path(t, "shared");
  mkdir(shared, 0700);
  chmod(shared, modes[_i]);
  use_cache(shared);
  exprc_model *m = compile_cc(sq_model, 0);
  ck_assert_double_eq(run_sq(m), 14);
  exprc_free(m);
  ck_assert_int_eq(entries(shared), 0);
  ck_assert_msg(strstr(notes, "not using the cache directory") &&
                strstr(notes, "writable by group or others"),
                "mode %o; notes:\n%s", (unsigned)modes[_i], notes);
  ck_assert_msg(!strstr(notes, "libtcc"), "cc was not used:\n%s", notes);
  remove_tree(t);
}
END_TEST

/* A directory owned by someone else is not used either. As root, one is
 * made by chown; otherwise "/" is such a directory. */
START_TEST(cache_directory_of_another_user_is_refused) {
  const char *t = scratch(), *dir = "/";
  if (geteuid() == 0) {
    dir = path(t, "theirs");
    mkdir(dir, 0700);
    ck_assert_int_eq(chown(dir, 65534, 65534), 0);
  }
  use_cache(dir);
  exprc_model *m = compile_cc(sq_model, 0);
  ck_assert_double_eq(run_sq(m), 14);
  exprc_free(m);
  ck_assert_msg(strstr(notes, "not by this user"), "notes:\n%s", notes);
  if (geteuid() == 0)
    ck_assert_int_eq(entries(dir), 0);
  remove_tree(t);
}
END_TEST

/* An object planted under the right name, with a record that matches it,
 * in a directory others can write: exprc must not load it. */
START_TEST(object_planted_in_a_shared_directory_is_not_loaded) {
  const char *t = scratch(), *priv = path(t, "private"),
             *shared = path(t, "shared"), *marker = path(t, "PWNED");
  char so[512], sum[512];
  snprintf(so, sizeof so, "%s", populate(priv));
  snprintf(sum, sizeof sum, "%s", only_file(priv, ".sum"));
  mkdir(shared, 0777);
  chmod(shared, 0777);
  copy_file(planted_object(t, marker), path(shared, so));
  if (*sum) { /* the attacker can hash their object too */
    char line[80];
    FILE *f = fopen(path(shared, so), "rb");
    static char data[1 << 20];
    size_t n = fread(data, 1, sizeof data, f);
    fclose(f);
    Sha256 h;
    sha256_init(&h);
    sha256_update(&h, data, n);
    sha256_hex(&h, line);
    strcat(line, "\n");
    write_text(path(shared, sum), line, 0644);
  }
  use_cache(shared);
  exprc_model *m = compile_cc(sq_model, 0);
  ck_assert_double_eq(run_sq(m), 14);
  exprc_free(m);
  ck_assert_msg(!exists(marker), "exprc ran the planted object");
  remove_tree(t);
}
END_TEST

/* Without $HOME and $XDG_CACHE_HOME there is no cache (never a shared
 * directory such as /tmp/exprc-cache): the object is built in a private
 * temporary directory under $TMPDIR, removed afterwards. The model's text
 * is unique to this run, so that an object for it anywhere is new. */
START_TEST(no_home_means_no_cache_not_a_shared_one) {
  const char *t = scratch(), *tmp = path(t, "tmp");
  char src[256];
  mkdir(tmp, 0700);
  snprintf(src, sizeof src, "input x[3]\noutput y = sum(x * x) + %ld.%ld\n",
           (long)getpid(), (long)time(NULL) % 1000);
  int before = exists("/tmp/exprc-cache") ? entries("/tmp/exprc-cache") : 0;
  unsetenv("HOME");
  unsetenv("XDG_CACHE_HOME");
  unsetenv("EXPRC_CACHE_DIR");
  unsetenv("CC");
  setenv("TMPDIR", tmp, 1);
  exprc_model *m = compile_cc(src, 0);
  exprc_free(m);
  ck_assert_msg(!strstr(notes, "libtcc"), "cc was not used:\n%s", notes);
  ck_assert_msg(strstr(notes, "no cache"), "notes:\n%s", notes);
  ck_assert_int_eq(entries(tmp), 0);
  int after = exists("/tmp/exprc-cache") ? entries("/tmp/exprc-cache") : 0;
  ck_assert_int_eq(after, before);
  remove_tree(t);
}
END_TEST

/* ---- cached objects are checked before they are loaded ---- */

/* The second compile of a model loads the cached object: a wrapper
 * compiler that counts its runs runs once for two compiles. */
START_TEST(a_cached_object_is_reused) {
  const char *t = scratch(), *cache = path(t, "cache");
  char script[1024];
  snprintf(script, sizeof script, "#!/bin/sh\necho run >> '%s'\nexec cc \"$@\"\n",
           path(t, "runs"));
  write_text(path(t, "counting-cc"), script, 0700);
  setenv("EXPRC_CACHE_DIR", cache, 1);
  setenv("CC", path(t, "counting-cc"), 1);
  for (int i = 0; i < 2; i++) {
    exprc_model *m = compile_cc(sq_model, 0);
    ck_assert_double_eq(run_sq(m), 14);
    exprc_free(m);
  }
  char *runs = tu_read_file(path(t, "runs"));
  ck_assert_str_eq(runs, "run\n");
  free(runs);
  remove_tree(t);
}
END_TEST

/* A cached object cut short (a full disk, a crash of an older exprc) used
 * to fail with "file too short" on every later compile: it is rebuilt. */
START_TEST(truncated_object_is_rebuilt) {
  const char *t = scratch(), *cache = path(t, "cache");
  const char *so = path(cache, populate(cache));
  struct stat whole, cut;
  ck_assert_int_eq(stat(so, &whole), 0);
  ck_assert_int_eq(truncate(so, 1000), 0);
  exprc_model *m = compile_cc(sq_model, 0);
  ck_assert_double_eq(run_sq(m), 14);
  exprc_free(m);
  ck_assert_int_eq(stat(so, &cut), 0);
  ck_assert_int_eq(cut.st_size, whole.st_size);
  remove_tree(t);
}
END_TEST

/* Bytes overwritten in the middle of a cached object: rebuilt. */
START_TEST(damaged_object_is_rebuilt) {
  const char *t = scratch(), *cache = path(t, "cache");
  const char *so = path(cache, populate(cache));
  struct stat st;
  ck_assert_int_eq(stat(so, &st), 0);
  int fd = open(so, O_WRONLY);
  char junk[256];
  memset(junk, 0xa5, sizeof junk); /* not zeros: objects hold zero padding */
  ck_assert_int_eq(pwrite(fd, junk, sizeof junk, st.st_size / 2), 256);
  close(fd);
  char *before = tu_read_file(so);
  exprc_model *m = compile_cc(sq_model, 0);
  ck_assert_double_eq(run_sq(m), 14);
  exprc_free(m);
  char *after = tu_read_file(so);
  ck_assert_msg(memcmp(before, after, (size_t)st.st_size) != 0,
                "the damaged object was kept");
  free(before);
  free(after);
  remove_tree(t);
}
END_TEST

/* In a private cache, an object swapped for another (by a copy, or by a
 * symlink to it) does not match its record: not loaded, rebuilt. */
START_TEST(replaced_object_is_not_loaded) {
  const char *t = scratch(), *cache = path(t, "cache"),
             *marker = path(t, "PWNED");
  const char *so = path(cache, populate(cache));
  const char *planted = planted_object(t, marker);
  unlink(so);
  if (_i == 0)
    copy_file(planted, so);
  else
    ck_assert_int_eq(symlink(planted, so), 0);
  exprc_model *m = compile_cc(sq_model, 0);
  ck_assert_double_eq(run_sq(m), 14);
  exprc_free(m);
  ck_assert_msg(!exists(marker), "exprc ran the planted object");
  struct stat st;
  ck_assert_int_eq(lstat(so, &st), 0);
  ck_assert_msg(S_ISREG(st.st_mode), "the symlink was kept");
  remove_tree(t);
}
END_TEST

/* ---- temporary files and compiler arguments ---- */

/* exprc used to write NAME.so.PID.c, .log and .tmp beside the object: a
 * symlink planted there made it overwrite any file of the user's. Those
 * names (the pid is this process's) now lead to no write. */
START_TEST(symlinks_at_temporary_names_are_not_followed) {
  const char *t = scratch(), *probe = path(t, "probe"),
             *cache = path(t, "cache"), *victim = path(t, "victim");
  const char *so = populate(probe);
  static const char *const ext[] = {"c", "log", "tmp"};
  write_text(victim, "precious\n", 0600);
  mkdir(cache, 0700);
  for (int i = 0; i < 3; i++) {
    char name[1100];
    snprintf(name, sizeof name, "%s.%ld.%s", so, (long)getpid(), ext[i]);
    ck_assert_int_eq(symlink(victim, path(cache, name)), 0);
  }
  use_cache(cache);
  exprc_model *m = compile_cc(sq_model, 0);
  ck_assert_double_eq(run_sq(m), 14);
  exprc_free(m);
  char *text = tu_read_file(victim);
  ck_assert_str_eq(text, "precious\n");
  free(text);
  remove_tree(t);
}
END_TEST

/* A relative cache directory named like an option: the compiler gets
 * absolute paths, so the model is still built by cc into that cache. */
START_TEST(paths_never_reach_the_compiler_as_options) {
  const char *t = scratch();
  char here[1024];
  ck_assert(getcwd(here, sizeof here) != NULL);
  ck_assert_int_eq(chdir(t), 0);
  use_cache("-cache");
  exprc_model *m = compile_cc(sq_model, 0);
  ck_assert_double_eq(run_sq(m), 14);
  exprc_free(m);
  ck_assert_msg(!strstr(notes, "libtcc"), "cc was not used:\n%s", notes);
  ck_assert_msg(*only_file(path(t, "-cache"), ".so"), "nothing cached");
  ck_assert_int_eq(chdir(here), 0); /* tu_exprc() may be relative */
  remove_tree(t);
}
END_TEST

/* ---- a system compiler that fails does not fail the model ---- */

/* Issue 10: gcc 12.2 -O2 crashed on this model. It now compiles with the
 * system compiler (gcc after a retry without loop if-conversion) and gives
 * the same bits as libtcc. */
START_TEST(model_that_crashed_gcc_compiles_with_cc) {
  const char *t = scratch();
  use_cache(path(t, "cache"));
  exprc_model *m = compile_cc(ice_model, 0);
  ck_assert_double_eq(run_ice(m), 2);
  exprc_free(m);
  ck_assert_msg(!strstr(notes, "libtcc"), "cc was not used:\n%s", notes);
  ck_assert_msg(*only_file(path(t, "cache"), ".so"), "nothing cached");
  exprc_model *tcc = tu_compile(ice_model);
  ck_assert_double_eq(run_ice(tcc), 2);
  exprc_free(tcc);
  remove_tree(t);
}
END_TEST

/* Fake compilers that fail three ways: exit 1 with a message, exit 0
 * without writing the object, exit 0 writing junk. libtcc compiles the
 * model instead, and the note names the compiler and what it said. */
START_TEST(failing_compiler_falls_back_to_libtcc) {
  static const char *const scripts[] = {
      "#!/bin/sh\necho 'fake: internal compiler error' >&2\nexit 1\n",
      "#!/bin/sh\nexit 0\n",
      ("#!/bin/sh\nwhile [ \"$1\" != -o ]; do shift; done\n"
       "echo junk > \"$2\"\n")}; /* one script: clang asks for brackets */
  const char *t = scratch(), *fake = path(t, "fake-cc");
  write_text(fake, scripts[_i], 0700);
  setenv("EXPRC_CACHE_DIR", path(t, "cache"), 1);
  setenv("CC", fake, 1);
  exprc_model *m = compile_cc(ice_model, 0);
  ck_assert_double_eq(run_ice(m), 2);
  exprc_free(m);
  ck_assert_msg(strstr(notes, fake) && strstr(notes, "libtcc compiled it"),
                "notes:\n%s", notes);
  if (_i == 0)
    ck_assert_msg(strstr(notes, "fake: internal compiler error"), "%s", notes);
  ck_assert_str_eq(only_file(path(t, "cache"), ".so"), "");
  remove_tree(t);
}
END_TEST

static int process_gone(pid_t pid) {
  char p[64], *stat;
  snprintf(p, sizeof p, "/proc/%ld/stat", (long)pid);
  if (kill(pid, 0) != 0 && errno == ESRCH)
    return 1;
  stat = tu_read_file(p); /* "pid (comm) STATE ...": a zombie is dead */
  int zombie = stat && strstr(stat, ") Z ");
  free(stat);
  return zombie;
}

/* A compiler that never finishes (issue 12: minutes on a 440-byte model)
 * is stopped at limits.cc_timeout, with the processes it started (its
 * process group), and libtcc compiles the model. */
START_TEST(compiler_past_its_timeout_is_killed) {
  const char *t = scratch(), *fake = path(t, "slow-cc");
  char script[1024];
  snprintf(script, sizeof script,
           "#!/bin/sh\nsleep 300 &\necho $! > '%s'\nwait\n", path(t, "pid"));
  write_text(fake, script, 0700);
  setenv("EXPRC_CACHE_DIR", path(t, "cache"), 1);
  setenv("CC", fake, 1);
  exprc_model *m = compile_cc(ice_model, 1);
  ck_assert_double_eq(run_ice(m), 2);
  exprc_free(m);
  ck_assert_msg(strstr(notes, "ran longer than 1 s") && strstr(notes, "libtcc"),
                "notes:\n%s", notes);
  char *pid = tu_read_file(path(t, "pid"));
  ck_assert_msg(pid != NULL, "the fake compiler did not start its child");
  int gone = 0;
  for (int i = 0; i < 100 && !(gone = process_gone((pid_t)atol(pid))); i++)
    nanosleep(&(struct timespec){0, 100000000}, NULL); /* SIGKILL lands
                                                          asynchronously */
  ck_assert_msg(gone, "the compiler's child %s is still running", pid);
  free(pid);
  remove_tree(t);
}
END_TEST

/* The command: the fallback is silent, and `--verbose` prints the note. */
START_TEST(cli_prints_the_fallback_note_under_verbose) {
  const char *t = scratch(), *fake = path(t, "fake-cc");
  char cmd[2048], *out, *err;
  write_text(fake, "#!/bin/sh\nexit 1\n", 0700);
  write_text(path(t, "m.expr"), ice_model, 0600);
  for (int verbose = 0; verbose < 2; verbose++) {
    snprintf(cmd, sizeof cmd,
             "CC='%s' EXPRC_CACHE_DIR='%s' '%s' run '%s' --backend cc "
             "--set 'r=[-2,-1,0,0.5,1,1.5,2,3]'%s", fake, path(t, "cache"),
             tu_exprc(), path(t, "m.expr"), verbose ? " --verbose" : "");
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    ck_assert_str_eq(out, "F = 2\n");
    if (verbose)
      ck_assert_msg(strstr(err, "m.expr: note: --backend cc: ") &&
                    strstr(err, "libtcc compiled it"), "stderr:\n%s", err);
    else
      ck_assert_str_eq(err, "");
    free(out);
    free(err);
  }
  remove_tree(t);
}
END_TEST

static Suite *cache_suite(void) {
  Suite *s = suite_create("cache");
  TCase *tc = tu_tcase("hash", 30);
  tcase_add_test(tc, sha256_matches_the_standard_examples);
  suite_add_tcase(s, tc);
  tc = tu_tcase("private directory", 60);
  tcase_add_test(tc, created_cache_directory_is_private);
  tcase_add_loop_test(tc, shared_cache_directory_is_refused, 0, 4);
  tcase_add_test(tc, cache_directory_of_another_user_is_refused);
  tcase_add_test(tc, object_planted_in_a_shared_directory_is_not_loaded);
  tcase_add_test(tc, no_home_means_no_cache_not_a_shared_one);
  suite_add_tcase(s, tc);
  tc = tu_tcase("checked objects", 60);
  tcase_add_test(tc, a_cached_object_is_reused);
  tcase_add_test(tc, truncated_object_is_rebuilt);
  tcase_add_test(tc, damaged_object_is_rebuilt);
  tcase_add_loop_test(tc, replaced_object_is_not_loaded, 0, 2);
  suite_add_tcase(s, tc);
  tc = tu_tcase("temporaries", 60);
  tcase_add_test(tc, symlinks_at_temporary_names_are_not_followed);
  tcase_add_test(tc, paths_never_reach_the_compiler_as_options);
  suite_add_tcase(s, tc);
  tc = tu_tcase("failing compilers", 60);
  tcase_add_test(tc, model_that_crashed_gcc_compiles_with_cc);
  tcase_add_loop_test(tc, failing_compiler_falls_back_to_libtcc, 0, 3);
  tcase_add_test(tc, compiler_past_its_timeout_is_killed);
  tcase_add_test(tc, cli_prints_the_fallback_note_under_verbose);
  suite_add_tcase(s, tc);
  return s;
}

int main(int argc, char **argv) {
  tu_set_paths(argc, argv);
  return tu_run_suite(cache_suite());
}
