/* jit.c: the last stage: the generated C to machine code, in memory, with
 * libtcc (or, with --backend cc, with the system compiler; see below).
 *
 * libtcc keeps global state, so everything from tcc_new to tcc_relocate
 * holds one process-wide mutex; running the compiled code needs no lock.
 * fork holds it too (pthread_atfork), so that a child never starts with
 * the lock taken by a thread it does not have, nor with libtcc's state
 * half way through another thread's compile.
 * The code is linked with -nostdlib: it can call only the symbols added here
 * (libm and the runtime), which is all the emitter's prelude declares, so
 * generated code cannot reach anything else in the process. A compile error
 * in generated code is a bug in exprc; tcc's text is kept in the message.
 */
#define _XOPEN_SOURCE 700 /* realpath and S_ISVTX, for the cc backend's cache */
#define _GNU_SOURCE /* syscall(SYS_gettid), for the tier thread's nice value;
                       memfd_create, for libtcc's input */
#include "jit.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libtcc.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "runtime.h"
#include "scalar.h"
#include "sha256.h"

typedef struct Tier Tier;

struct Jit {
  TCCState *s;
  void *dl;   /* the shared object of --backend cc */
  Tier *tier; /* --backend auto: the system compiler at work behind libtcc */
  int no_tier; /* --backend auto without the memory for its copies */
};

static pthread_mutex_t tcc_lock = PTHREAD_MUTEX_INITIALIZER;

static void tcc_lock_take(void) { pthread_mutex_lock(&tcc_lock); }
static void tcc_lock_give(void) { pthread_mutex_unlock(&tcc_lock); }

/* Registered when the library is loaded, before any thread can hold the
 * lock; both parent and child release it after fork. */
__attribute__((constructor)) static void tcc_lock_fork_safe(void) {
  pthread_atfork(tcc_lock_take, tcc_lock_give, tcc_lock_give);
}

typedef struct Errors {
  char text[2048];
  size_t n;
} Errors;

static void on_error(void *opaque, const char *msg) {
  Errors *e = opaque;
  if (e->n < sizeof e->text - 1)
    e->n += (size_t)snprintf(e->text + e->n, sizeof e->text - e->n, "%s\n", msg);
  if (e->n >= sizeof e->text)
    e->n = sizeof e->text - 1;
}

double lgamma_r(double, int *); /* POSIX; what scalar.h's xc_lgamma calls */

static void add_symbols(TCCState *s) {
#define XC_LIBM(name, n) tcc_add_symbol(s, #name, (const void *)name);
  XC_LIBM_FNS(XC_LIBM)
#undef XC_LIBM
  tcc_add_symbol(s, "lgamma_r", (const void *)lgamma_r);
#define RT_SYMBOL(name, params)                                               \
  tcc_add_symbol(s, #name, (const void *)EXPRC_RT_IMPL(name));
  EXPRC_RT_FNS(RT_SYMBOL)
#undef RT_SYMBOL
  tcc_add_symbol(s, "memset", (const void *)memset); /* tcc may emit these */
  tcc_add_symbol(s, "memcpy", (const void *)memcpy);
  tcc_add_symbol(s, "memmove", (const void *)memmove);
}

static int write_all(int fd, const char *p, size_t n);

static atomic_int tcc_from_string; /* jit_tcc_from_string: tests */

void jit_tcc_from_string(int on) { atomic_store(&tcc_from_string, on); }

/* libtcc reads the C from a memory file, not from the string:
 * tcc_compile_string first copies the whole text into a buffer of its own
 * (74 MB at 1.4M nodes, a page fault every 4 KB), a file it reads 8 KB at a
 * time. 12-13% less libtcc time at every size (bench/RESULTS.md). Where
 * there is no memory file or no /proc, the string. */
static int compile_c(TCCState *s, const char *src) {
#ifdef MFD_CLOEXEC
  int fd = atomic_load(&tcc_from_string) ? -1
                                         : memfd_create("exprc", MFD_CLOEXEC);
  if (fd >= 0) {
    char path[48];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int ok = write_all(fd, src, strlen(src)) &&
             lseek(fd, 0, SEEK_SET) == 0 && access(path, R_OK) == 0;
    int rc = ok ? tcc_add_file(s, path) : 0; /* no extension: C */
    close(fd);
    if (ok)
      return rc;
  }
#endif
  return tcc_compile_string(s, src);
}

/* Under the lock: compile, relocate and look up. 0 on success. */
static int build(TCCState *s, Errors *err, const char *src,
                 const char *const *names, int n, EntryFn *fns) {
  tcc_set_error_func(s, err, on_error);
  tcc_set_options(s, "-nostdlib");
  if (tcc_set_output_type(s, TCC_OUTPUT_MEMORY) < 0)
    return -1;
  locale_t old = exprc_rt_enter_c_locale(); /* tcc reads 2.5 with strtod */
  int rc = compile_c(s, src);
  exprc_rt_leave_c_locale(old);
  if (rc < 0)
    return -1;
  add_symbols(s);
#ifdef EXPRC_TCC_RELOCATE_ONE_ARG
  if (tcc_relocate(s) < 0)
#else
  if (tcc_relocate(s, TCC_RELOCATE_AUTO) < 0)
#endif
    return -1;
  for (int i = 0; i < n; i++) {
    void *p = tcc_get_symbol(s, names[i]);
    if (!p) {
      on_error(err, "entry point missing from generated code");
      return -1;
    }
    memcpy(&fns[i], &p, sizeof p); /* object to function pointer */
  }
  return 0;
}

static Jit *cc_compile(Ctx *c, const char *src, const char *const *names,
                       int n, EntryFn *fns, const exprc_options *o);
static void tier_start(Jit *j, Ctx *c, const char *src,
                       const char *const *names, int n,
                       const exprc_options *o);

Jit *jit_compile(Ctx *c, const char *src, const char *const *names, int n,
                 EntryFn *fns, const exprc_options *o) {
  static const exprc_options defaults; /* backend 0: auto */
  if (!o)
    o = &defaults;
  if (o->backend == EXPRC_BACKEND_CC) {
    Jit *j = cc_compile(c, src, names, n, fns, o);
    if (j)
      return j; /* else cc_compile has said why in a note: libtcc it is */
  }
  Errors err = {.n = 0};
  Jit *j = calloc(1, sizeof *j);
  if (!j)
    ctx_fail(c, EXPRC_ERR_NOMEM, "out of memory");
  pthread_mutex_lock(&tcc_lock);
  j->s = tcc_new();
  int rc = j->s ? build(j->s, &err, src, names, n, fns) : -1;
  pthread_mutex_unlock(&tcc_lock);
  if (rc < 0) {
    jit_free(j);
    ctx_fail(c, EXPRC_ERR_JIT,
             "internal error: generated C did not compile (a bug in exprc; "
             "please report it with the model):\n%s",
             err.n ? err.text : "tcc_new failed");
  }
  if (o->backend == EXPRC_BACKEND_AUTO)
    tier_start(j, c, src, names, n, o);
  return j;
}

static void tier_stop(Tier *t);

void jit_free(Jit *j) {
  if (!j)
    return;
  if (j->tier) /* first: the thread may be loading code */
    tier_stop(j->tier);
  if (j->s) {
    pthread_mutex_lock(&tcc_lock);
    tcc_delete(j->s);
    pthread_mutex_unlock(&tcc_lock);
  }
  if (j->dl)
    dlclose(j->dl);
  free(j);
}

/* ---- --backend cc ----
 *
 * The same C text goes to the system compiler at -O2 as a shared object,
 * which is loaded with dlopen. Each run-time function the generated code
 * calls (runtime.h's list) is renamed by a -D flag to a call through a
 * pointer, so that its prototype in the prelude defines that pointer in the
 * object, set after loading: the shared object then needs nothing from the
 * process but libm.
 *
 * The system compiler failing is never the user's fault: it may be missing,
 * crash (gcc 12 has an internal error on some vectorised comparisons, which
 * a second try without loop if-conversion avoids; clang rejects that flag,
 * so the first try never passes it) or run past limits.cc_timeout (its
 * whole process group is then killed). The model is then compiled with
 * libtcc, and exprc_options.note says why.
 *
 * The cache holds code this process will run, so no other user may be able
 * to write it. Its directory ($EXPRC_CACHE_DIR, else $XDG_CACHE_HOME/exprc,
 * else $HOME/.cache/exprc; no shared fallback) must be the user's and
 * writable by no one else, and every directory above it the user's or
 * root's and not writable by others unless sticky (as /tmp is); else there
 * is no cache. An object is named by the SHA-256 of the compiler, its flags
 * and the C, and exprc-KEY.sum beside it records the SHA-256 of its bytes,
 * checked before each dlopen: a truncated or damaged object is rebuilt.
 * Builds happen in a fresh mkdtemp directory (in the cache, or under $TMPDIR
 * or /tmp without one), files are created O_EXCL|O_NOFOLLOW and fsync'ed
 * before their rename, and every path the compiler gets is absolute, so
 * that none can be read as an option.
 */

#define CC_TIMEOUT_DEFAULT 60                /* seconds */
#define CC_MAX_OBJECT ((off_t)1 << 30)       /* bytes of a cached object */
#define CC_WORKAROUND "-fno-tree-loop-if-convert"

/* exprc_rt_gemm(...) becomes (*xc_fp_exprc_rt_gemm)(...), and its prototype
 * the definition of that pointer. */
#define CC_RENAME(name, params) "-D" #name "=(*xc_fp_" #name ")",
/* -fvect-cost-model=dynamic: -O2's own model vectorises no loop that
 * needs a run-time check that its buffers do not overlap, which is most
 * of generated code's (every buffer is a pointer into S); with it, the
 * float32 attention gradient runs 17% fewer instructions (callgrind).
 * Vectorising elementwise loops keeps every result's bits, and sums are
 * not vectorised without -ffast-math's reassociation. */
static const char *const cc_flags[] = {
    "-std=c99", "-O2", "-fvect-cost-model=dynamic", "-ffp-contract=off",
    "-fno-fast-math", "-fPIC",
    "-shared", EXPRC_RT_FNS(CC_RENAME) NULL};
#undef CC_RENAME

/* The instructions the system compiler may use: all this processor has, as
 * one of the x86-64 levels gcc (11 and later) and clang (12) name:
 * x86-64-v4 with AVX-512, v3 with AVX2 and FMA. Elementwise loops then use
 * the processor's vectors (without it, SSE2's two doubles at a time).
 * Results keep every bit: with contraction off and no fast-math, a wider
 * vector computes each element with the same operations, and libm is the
 * process's own. The level is part of the cache key, so an object is never
 * loaded on a processor without it; a compiler that does not know the
 * level gets a last try without it (cc_build). */
static const char *cc_arch(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  int v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
  int v4 = v3 && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
  return v4 ? "-march=x86-64-v4" : v3 ? "-march=x86-64-v3" : NULL;
#else
  return NULL;
#endif
}

typedef enum CcRun {
  CC_OK, CC_FAILED, CC_TIMEOUT, CC_NORUN, CC_CANCELLED
} CcRun;

typedef struct CcJob {
  const char *src;
  const exprc_options *o;
  const char *tag;         /* "--backend cc" or "--backend auto", for notes */
  const atomic_int *cancel; /* set: stop the compiler (NULL: never) */
  char key[65];            /* SHA-256 of the compiler, its flags and the C */
  char cache[PATH_MAX];    /* the checked cache directory; "" for none */
  char work[PATH_MAX];     /* this build's private directory; "" for none */
  struct timespec deadline;
  int timeout;             /* seconds, for messages */
  Errors err;
} CcJob;

static const char *cc_program(void) {
  const char *cc = getenv("CC");
  return cc && *cc && !strpbrk(cc, " \t") ? cc : "cc";
}

static void errf(CcJob *j, const char *fmt, ...) PRINTF(2, 3);
static void errf(CcJob *j, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(j->err.text, sizeof j->err.text, fmt, ap);
  va_end(ap);
  j->err.n = strlen(j->err.text);
}

static void note(const exprc_options *o, const char *fmt, ...) PRINTF(2, 3);
static void note(const exprc_options *o, const char *fmt, ...) {
  char buf[3072];
  va_list ap;
  if (!o->note)
    return;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  size_t n = strlen(buf);
  while (n && buf[n - 1] == '\n')
    buf[--n] = 0;
  o->note(o->note_arg, buf);
}

/* A path into buf[PATH_MAX]; "" if it does not fit (no file has that name:
 * the lengths of the directories were checked when they were chosen). */
static void pathf(char *buf, const char *fmt, ...) PRINTF(2, 3);
static void pathf(char *buf, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, PATH_MAX, fmt, ap);
  va_end(ap);
  if (n < 0 || n >= PATH_MAX)
    buf[0] = 0;
}

static void cc_key(CcJob *j) {
  Sha256 s;
  sha256_init(&s);
  const char *arch = cc_arch();
  sha256_update(&s, "exprc cc 4", 11); /* the layout of what follows */
  sha256_update(&s, cc_program(), strlen(cc_program()) + 1);
  for (int i = 0; cc_flags[i]; i++)
    sha256_update(&s, cc_flags[i], strlen(cc_flags[i]) + 1);
  sha256_update(&s, arch ? arch : "", arch ? strlen(arch) + 1 : 1);
  sha256_update(&s, j->src, strlen(j->src));
  sha256_hex(&s, j->key);
}

/* ---- where: a private cache directory, or a private temporary one ---- */

/* A directory only this user can change: theirs, writable by no one else. */
static int private_dir(const char *path, char *why, size_t n) {
  struct stat st;
  if (lstat(path, &st) != 0)
    snprintf(why, n, "%s", strerror(errno));
  else if (!S_ISDIR(st.st_mode))
    snprintf(why, n, "not a directory");
  else if (st.st_uid != geteuid())
    snprintf(why, n, "owned by uid %ld, not by this user", (long)st.st_uid);
  else if (st.st_mode & 022)
    snprintf(why, n, "writable by group or others (mode %03o)",
             (unsigned)(st.st_mode & 0777));
  else
    return 1;
  return 0;
}

/* A directory in which no other user can rename or replace our entries:
 * the user's or root's, and writable by no one else unless sticky. */
static int safe_parent(const char *path, char *why, size_t n) {
  struct stat st;
  if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
    snprintf(why, n, "%s is not a directory", path);
  else if (st.st_uid != 0 && st.st_uid != geteuid())
    snprintf(why, n, "%s is owned by another user", path);
  else if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX))
    snprintf(why, n, "%s is writable by others and not sticky", path);
  else
    return 1;
  return 0;
}

/* Every directory above abs, an absolute path without symlinks. */
static int safe_parents(const char *abs, char *why, size_t n) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s", abs);
  for (char *s; (s = strrchr(p, '/')) != NULL;) {
    s[s == p] = 0; /* the parent; "/" stays "/" */
    if (!safe_parent(p, why, n))
      return 0;
    if (s == p)
      break;
  }
  return 1;
}

/* mkdir -p with mode 0700; failures show in the checks that follow. */
static void make_dirs(char *path) {
  for (char *p = path + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(path, 0700);
      *p = '/';
    }
  mkdir(path, 0700);
}

/* j->cache: the cache directory, made if missing, absolute and checked;
 * "" (with a note saying why) when there is none that is private. */
static void cache_dir(CcJob *j) {
  const char *d = getenv("EXPRC_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME");
  const char *home = getenv("HOME");
  char want[PATH_MAX], why[PATH_MAX + 64] = "";
  int len;
  j->cache[0] = 0;
  if (d && *d)
    len = snprintf(want, sizeof want, "%s", d);
  else if (x && *x)
    len = snprintf(want, sizeof want, "%s/exprc", x);
  else if (home && *home)
    len = snprintf(want, sizeof want, "%s/.cache/exprc", home);
  else {
    note(j->o, "%s: no cache ($EXPRC_CACHE_DIR, $XDG_CACHE_HOME "
               "and $HOME are unset)", j->tag);
    return;
  }
  if (len >= (int)sizeof want - 80) /* room for /exprc-KEY.sum */
    snprintf(why, sizeof why, "path too long");
  else if (make_dirs(want), !realpath(want, j->cache))
    snprintf(why, sizeof why, "%s", strerror(errno));
  else if (private_dir(j->cache, why, sizeof why) &&
           safe_parents(j->cache, why, sizeof why))
    return;
  j->cache[0] = 0;
  note(j->o, "%s: not using the cache directory %.1000s: %s", j->tag,
       want, why);
}

/* j->work: a new private directory, in the cache or under $TMPDIR or /tmp. */
static int make_work(CcJob *j) {
  const char *t = getenv("TMPDIR");
  const char *base[3] = {j->cache, t && *t ? t : "/tmp", "/tmp"};
  char dir[PATH_MAX], why[PATH_MAX + 64] = "no temporary directory";
  for (int i = j->cache[0] ? 0 : 1; i < 3; i++) {
    if (i > 0 && (!realpath(base[i], dir) || !safe_parent(dir, why, sizeof why) ||
                  !safe_parents(dir, why, sizeof why)))
      continue;
    if (i == 0)
      pathf(dir, "%s", j->cache);
    if (strlen(dir) + 120 > sizeof j->work)
      continue;
    pathf(j->work, "%s/tmp-XXXXXX", dir);
    if (mkdtemp(j->work))
      return 0;
    snprintf(why, sizeof why, "mkdtemp in %.1000s: %s", dir, strerror(errno));
  }
  j->work[0] = 0;
  errf(j, "no private directory to build in: %s", why);
  return -1;
}

static void work_path(const CcJob *j, const char *name, char *buf) {
  pathf(buf, "%s/%s", j->work, name);
}

/* The names a build makes in j->work (the log is unlinked once open). */
static void remove_work(CcJob *j) {
  char p[PATH_MAX], so[100];
  if (!j->work[0])
    return;
  snprintf(so, sizeof so, "exprc-%s.so", j->key);
  const char *names[] = {"src.c", "log", "sum", so};
  for (int i = 0; i < 4; i++) {
    work_path(j, names[i], p);
    unlink(p);
  }
  rmdir(j->work);
  j->work[0] = 0;
}

/* ---- files: created exclusively, never through a symlink ---- */

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return 0;
    p += w;
    n -= (size_t)w;
  }
  return 1;
}

/* A new file holding a then b, on disk before this returns. */
static int write_new(const char *path, const char *a, const char *b) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                0600);
  if (fd < 0)
    return 0;
  int ok = write_all(fd, a, strlen(a)) && write_all(fd, b, strlen(b)) &&
           fsync(fd) == 0;
  return close(fd) == 0 && ok;
}

/* SHA-256 of a regular file of this user's; 0 if it is not one or cannot
 * be read whole. With sync, the file is also flushed to disk. */
static int hash_file(const char *path, char hex[65], int sync) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0)
    return 0;
  int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
           st.st_uid == geteuid() && st.st_size > 0 &&
           st.st_size <= CC_MAX_OBJECT;
  Sha256 s;
  sha256_init(&s);
  char buf[16384];
  off_t total = 0;
  for (ssize_t r; ok && (r = read(fd, buf, sizeof buf)) != 0;) {
    if (r < 0 && errno == EINTR)
      continue;
    ok = r > 0;
    if (ok)
      sha256_update(&s, buf, (size_t)r), total += r;
  }
  ok = ok && total == st.st_size && (!sync || fsync(fd) == 0);
  close(fd);
  if (ok)
    sha256_hex(&s, hex);
  return ok;
}

/* A cached object is used only if its bytes hash to what its record says. */
static int cached(const CcJob *j, const char *so) {
  char sum[PATH_MAX], want[80], got[65];
  pathf(sum, "%s/exprc-%s.sum", j->cache, j->key);
  int fd = open(sum, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return 0;
  ssize_t r = read(fd, want, sizeof want);
  close(fd);
  if (r != 65 || want[64] != '\n')
    return 0;
  want[64] = 0;
  return hash_file(so, got, 0) && strcmp(want, got) == 0;
}

/* Move the built object into the cache, then its record: each is on disk
 * before its rename, so a crash leaves no record or a matching one. */
static int cc_install(CcJob *j, char *so) {
  char out[PATH_MAX], sum[PATH_MAX], name[100], line[66], hex[65];
  snprintf(name, sizeof name, "exprc-%s.so", j->key);
  work_path(j, name, out);
  pathf(so, "%s", out);
  if (!hash_file(out, hex, 1))
    return errf(j, "%s wrote no object", cc_program()), -1;
  if (!j->cache[0])
    return 0; /* loaded from the private build directory */
  snprintf(line, sizeof line, "%s\n", hex);
  work_path(j, "sum", sum);
  if (!write_new(sum, line, ""))
    return errf(j, "cannot write %.1000s: %s", sum, strerror(errno)), -1;
  pathf(so, "%s/exprc-%s.so", j->cache, j->key);
  if (rename(out, so) != 0)
    return errf(j, "cannot write %.1000s: %s", so, strerror(errno)), -1;
  pathf(out, "%s/exprc-%s.sum", j->cache, j->key);
  if (rename(sum, out) != 0)
    return errf(j, "cannot write %.1000s: %s", out, strerror(errno)), -1;
  int dfd = open(j->cache, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) /* the renames themselves */
    fsync(dfd), close(dfd);
  return 0;
}

/* ---- running the compiler: no shell, its own process group, a deadline ---- */

static int spawn(char *const *argv, int logfd, pid_t *pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  sigset_t none, dfl;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, logfd, 1);
  posix_spawn_file_actions_adddup2(&fa, logfd, 2);
  posix_spawnattr_init(&at);
  sigemptyset(&none);
  sigemptyset(&dfl);
  sigaddset(&dfl, SIGPIPE);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &dfl);
  posix_spawnattr_setpgroup(&at, 0); /* a group of its own, to kill whole */
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                    POSIX_SPAWN_SETSIGDEF);
  extern char **environ;
  int rc = posix_spawnp(pid, argv[0], &fa, &at, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  return rc;
}

static int past(const struct timespec *t) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec > t->tv_sec ||
         (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Wait for pid until the deadline, polling with a growing nap (a library
 * cannot take over SIGCHLD); past it, kill the compiler's process group. */
static CcRun wait_until(pid_t pid, const struct timespec *deadline, int *st,
                        const atomic_int *cancel) {
  struct timespec nap = {0, 1000000};
  for (;;) {
    pid_t r = waitpid(pid, st, WNOHANG);
    if (r == pid)
      return CC_OK;
    if (r < 0 && errno != EINTR)
      return CC_NORUN; /* reaped by someone else: the status is lost */
    int stop = cancel && atomic_load(cancel);
    if (stop || past(deadline)) {
      kill(-pid, SIGKILL);
      while (waitpid(pid, st, 0) < 0 && errno == EINTR)
        ;
      return stop ? CC_CANCELLED : CC_TIMEOUT;
    }
    nanosleep(&nap, NULL);
    if (nap.tv_nsec < 50000000)
      nap.tv_nsec *= 2;
  }
}

/* Run the compiler on j->work/src.c (with the processor's level, unless
 * plain; with the gcc workaround if asked); its output goes to an unlinked
 * file read into j->err when it fails. */
static CcRun run_cc(CcJob *j, int workaround, int plain) {
  char out[PATH_MAX], cfile[PATH_MAX], log[PATH_MAX], so[100];
  /* the compiler, its flags (one -D per runtime function), the workaround,
   * and the tail below */
  char *argv[1 + sizeof cc_flags / sizeof cc_flags[0] + 2 + 5];
  const char *arch = plain ? NULL : cc_arch();
  int k = 0;
  snprintf(so, sizeof so, "exprc-%s.so", j->key);
  work_path(j, so, out);
  work_path(j, "src.c", cfile);
  work_path(j, "log", log);
  argv[k++] = (char *)cc_program();
  for (int i = 0; cc_flags[i]; i++)
    argv[k++] = (char *)cc_flags[i];
  if (arch)
    argv[k++] = (char *)arch;
  if (workaround)
    argv[k++] = CC_WORKAROUND;
  char *tail[] = {"-o", out, cfile, "-lm", NULL}; /* absolute paths */
  memcpy(argv + k, tail, sizeof tail);
  int fd = open(log, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return errf(j, "cannot create %.1000s: %s", log, strerror(errno)), CC_NORUN;
  unlink(log);
  pid_t pid;
  if (j->cancel && atomic_load(j->cancel)) { /* freed before it began */
    close(fd);
    errf(j, "the model was freed before %s started", argv[0]);
    return CC_CANCELLED;
  }
  int st = 0, rc = spawn(argv, fd, &pid);
  CcRun r = rc ? CC_NORUN : wait_until(pid, &j->deadline, &st, j->cancel);
  if (rc)
    errf(j, "cannot run %s: %s", argv[0], strerror(rc));
  else if (r == CC_CANCELLED)
    errf(j, "the model was freed before %s finished", argv[0]);
  else if (r == CC_TIMEOUT)
    errf(j, "%s ran longer than %d s (limits.cc_timeout) and was stopped",
         argv[0], j->timeout);
  else if (r == CC_NORUN)
    errf(j, "lost the exit status of %s", argv[0]);
  else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    r = CC_FAILED;
    ssize_t n = lseek(fd, 0, SEEK_SET) == 0
                    ? read(fd, j->err.text, sizeof j->err.text - 1)
                    : -1;
    j->err.n = n > 0 ? (size_t)n : 0;
    j->err.text[j->err.n] = 0;
    if (!j->err.n)
      errf(j, "%s failed with status %d", argv[0],
           WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  }
  close(fd);
  return r;
}

/* The first line of a compiler's output that says "error", for a note. */
static const char *error_line(Errors *e) {
  char *p = strstr(e->text, "error");
  if (!p)
    return "no message";
  while (p > e->text && p[-1] != '\n')
    p--;
  p[strcspn(p, "\n")] = 0;
  return p;
}

/* Write the C, compile it; if the compiler fails, once more with the gcc
 * workaround, and then without the processor's level (keeping the first
 * failure's message if all fail). */
static int cc_build(CcJob *j) {
  char cfile[PATH_MAX];
  work_path(j, "src.c", cfile);
  if (!write_new(cfile, j->src, ""))
    return errf(j, "cannot write %.1000s: %s", cfile, strerror(errno)), -1;
  CcRun r = run_cc(j, 0, 0);
  if (r != CC_FAILED)
    return r == CC_OK ? 0 : -1;
  Errors first = j->err;
  const char *how = CC_WORKAROUND;
  r = run_cc(j, 1, 0);
  if (r == CC_FAILED && cc_arch()) {
    how = "no -march";
    r = run_cc(j, 0, 1);
  }
  if (r == CC_OK)
    note(j->o, "%s: %s failed on the generated C (%s) and compiled it with "
               "%s", j->tag, cc_program(), error_line(&first), how);
  else
    j->err = first;
  return r == CC_OK ? 0 : -1;
}

/* The object's pointers to the run-time functions. Two models of the same
 * C share one loaded object (dlopen counts), and the second may be bound
 * while the first's code runs: under one lock, a pointer already set is
 * left alone, so code that runs is never written under. */
static pthread_mutex_t bind_lock = PTHREAD_MUTEX_INITIALIZER;

static int cc_bind(void *dl, CcJob *job) {
  int rc = 0;
  pthread_mutex_lock(&bind_lock);
#define CC_BIND(name, params)                                                 \
  if (rc == 0) {                                                              \
    void *at = dlsym(dl, "xc_fp_" #name);                                     \
    void(*fn) params = EXPRC_RT_IMPL(name);                                   \
    if (!at)                                                                  \
      errf(job, "no pointer xc_fp_" #name " in the object"), rc = -1;        \
    else if (memcmp(at, &fn, sizeof fn) != 0)                                 \
      memcpy(at, &fn, sizeof fn);                                             \
  }
  EXPRC_RT_FNS(CC_BIND)
#undef CC_BIND
  pthread_mutex_unlock(&bind_lock);
  return rc;
}

static int cc_load(void **dl, const char *so, const char *const *names,
                   int n, EntryFn *fns, CcJob *job) {
  *dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  if (!*dl)
    return errf(job, "%s", dlerror()), -1;
  if (cc_bind(*dl, job) != 0)
    return -1;
  for (int i = 0; i < n; i++) {
    void *p = dlsym(*dl, names[i]);
    if (!p)
      return errf(job, "entry point %s missing", names[i]), -1;
    memcpy(&fns[i], &p, sizeof p);
  }
  return 0;
}

/* Remove a cached object that could not be loaded, and its record. */
static void forget(const CcJob *j, const char *so) {
  char sum[PATH_MAX];
  pathf(sum, "%s/exprc-%s.sum", j->cache, j->key);
  unlink(sum);
  unlink(so);
}

static void cc_start(CcJob *j, int timeout, const char *src,
                     const exprc_options *o) {
  j->src = src;
  j->o = o;
  j->timeout = timeout > 0 ? timeout : CC_TIMEOUT_DEFAULT;
  clock_gettime(CLOCK_MONOTONIC, &j->deadline);
  j->deadline.tv_sec += j->timeout;
  cc_key(j);
  cache_dir(j);
}

/* From the cache, or built and cached, then loaded into *dl and fns; 0 on
 * success, else -1 with j->err saying why. Needs no Ctx: the background
 * compile of --backend auto runs it on a thread of its own. */
static int cc_try(CcJob *job, void **dl, const char *const *names, int n,
                  EntryFn *fns) {
  char so[PATH_MAX];
  pathf(so, "%s/exprc-%s.so", job->cache, job->key);
  int ok = job->cache[0] && cached(job, so)
               ? cc_load(dl, so, names, n, fns, job) == 0
               : make_work(job) == 0 && cc_build(job) == 0 &&
                     cc_install(job, so) == 0 &&
                     cc_load(dl, so, names, n, fns, job) == 0;
  remove_work(job);
  if (!ok && job->cache[0] && !(job->cancel && atomic_load(job->cancel)))
    forget(job, so); /* so that the next compile builds it again */
  return ok ? 0 : -1;
}

/* The model through the system compiler, or NULL after a note saying why
 * it was not (the caller then compiles with libtcc). */
static Jit *cc_compile(Ctx *c, const char *src, const char *const *names,
                       int n, EntryFn *fns, const exprc_options *o) {
  CcJob *job = calloc(1, sizeof *job);
  Jit *j = calloc(1, sizeof *j);
  if (!job || !j) {
    free(job);
    free(j);
    ctx_fail(c, EXPRC_ERR_NOMEM, "out of memory");
  }
  job->tag = "--backend cc";
  cc_start(job, c->lim.cc_timeout, src, o);
  if (cc_try(job, &j->dl, names, n, fns) != 0) {
    note(o, "--backend cc: %s did not build the model, so libtcc compiled "
            "it:\n%s", cc_program(), job->err.text);
    jit_free(j);
    j = NULL;
  }
  free(job);
  return j;
}

/* ---- --backend auto: libtcc's code at once, the system compiler's later ----
 *
 * This is the default backend. jit_compile compiles with libtcc as usual,
 * keeps copies of the C, the names and the options (the caller's may be
 * gone later), and returns. A run (jit_kick, before it) starts a thread of
 * the library's own that does what --backend cc does (the cache, the
 * deadline, the workaround) once the model has run at least once and its
 * runs so far have taken TIER_AFTER_NS in all (jit_ran adds them up). Not
 * earlier: starting a thread and a compiler (a process, its page faults, on
 * a machine with few cores) would slow the first result, and a model run a
 * few times (a command that runs and exits, a test) has no use for code
 * that takes a compiler 0.1 s to seconds to build; a model that has taken
 * 10 ms of libtcc's code is one that a program runs on, for which the
 * system compiler's 1.5x to 4x pays. The thread and the compiler run at a
 * lower priority than the caller.
 * When the object is loaded, its table of entry points is published with
 * one atomic store (release); each run loads the table once (acquire,
 * jit_entries) and calls through it, so a run uses one tier throughout and
 * the switch happens between calls. The two tiers compute the same bits:
 * the system compiler gets -ffp-contract=off and no fast-math (tcc never
 * contracts into FMA), both call the same libm and runtime, and neither
 * reorders sums.
 *
 * Nothing the thread meets is an error: if the compiler is missing, fails
 * or is too slow, libtcc's code runs on, and exprc_options.note (from this
 * thread) says why. jit_free stops the compiler (its process group is
 * killed; the poll notices within 50 ms), joins the thread and only then
 * frees both tiers' code; at exit, a handler stops the compilers of the
 * models not freed. In a child forked meanwhile the thread does not exist:
 * the child neither waits for it nor frees what it may be using.
 */

#define TIER_NICE 10 /* the background compile's nice value (0 to 19) */
#define TIER_AFTER_NS 10000000 /* run time (ns) before the compile starts */

struct Tier {
  pthread_t thread;
  pid_t owner;             /* the process the thread runs in */
  _Atomic(EntryFn *) live; /* the system compiler's table, once loaded */
  atomic_int cancel;       /* set by jit_free: stop the compiler */
  pthread_mutex_t lock;
  pthread_cond_t over;
  int launched;            /* the caller's: tier_launch was called (the
                              only field jit_kick and jit_ran read, since
                              the thread writes `done` beside `started`) */
  int runs;                /* the caller's: runs begun, while counted */
  int64_t spent;           /* the caller's: ns those runs took, in all */
  struct timespec begun;   /* the caller's: when the current run began */
  int started;             /* the caller's: the thread was started */
  int done, ok;            /* under lock: finished; and published */
  int cut;                 /* it failed because jit_free stopped it */
  exprc_options o;         /* copies: the caller's may be gone */
  int timeout;
  const char *src;         /* the caller's C text (jit_compile), not a copy */
  char **names;
  int n;
  EntryFn *fns;            /* the table live points to, once loaded */
  void *dl;
  char why[2048];          /* why the system compiler's code does not run */
  struct Tier *next, **prev; /* in `running`, while its thread may run */
  int joined;              /* under running_lock: by the exit handler */
};

/* The tiers whose thread was started, so that a program that exits
 * without exprc_free stops their compilers (an atexit handler): no
 * compiler is left running, no build directory left in the cache. */
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static Tier *running;
static pthread_once_t running_once = PTHREAD_ONCE_INIT;

/* At exit: stop every compiler this process started and join its thread
 * (which cleans up first); the tiers themselves are not freed, since
 * another thread may still hold the models (its exprc_free then frees
 * them without joining again). A forked child skips its parent's. */
static void stop_all_at_exit(void) {
  pthread_mutex_lock(&running_lock);
  for (Tier *t = running; t; t = t->next)
    if (t->owner == getpid())
      atomic_store(&t->cancel, 1);
  for (Tier **at = &running; *at;) {
    Tier *t = *at;
    if (t->owner != getpid()) {
      at = &t->next;
      continue;
    }
    pthread_join(t->thread, NULL);
    t->joined = 1;
    *at = t->next; /* out of the list */
    if (t->next)
      t->next->prev = at;
  }
  pthread_mutex_unlock(&running_lock);
}

static void running_init(void) { atexit(stop_all_at_exit); }

static void running_take(void) { pthread_mutex_lock(&running_lock); }
static void running_give(void) { pthread_mutex_unlock(&running_lock); }

/* As tcc_lock: a child never starts with the lock held by a thread it
 * does not have (its exit would wait forever). */
__attribute__((constructor)) static void running_fork_safe(void) {
  pthread_atfork(running_take, running_give, running_give);
}

static void running_add(Tier *t) {
  pthread_once(&running_once, running_init);
  pthread_mutex_lock(&running_lock);
  t->next = running;
  t->prev = &running;
  if (running)
    running->prev = &t->next;
  running = t;
  pthread_mutex_unlock(&running_lock);
}

/* Take t out of the list, unless the exit handler has joined it: 1 if the
 * caller is to join the thread. */
static int running_remove(Tier *t) {
  pthread_mutex_lock(&running_lock);
  int mine = !t->joined;
  if (mine) {
    *t->prev = t->next;
    if (t->next)
      t->next->prev = t->prev;
  }
  pthread_mutex_unlock(&running_lock);
  return mine;
}

static void tier_finish(Tier *t, int ok, const char *why) {
  snprintf(t->why, sizeof t->why, "%s", why);
  if (ok)
    atomic_store_explicit(&t->live, t->fns, memory_order_release);
  else if (atomic_load(&t->cancel))
    t->cut = 1; /* jit_free notes it, after the join */
  else
    note(&t->o, "--backend auto: %s did not build the model; libtcc's code "
                "runs on:\n%s", cc_program(), why);
  pthread_mutex_lock(&t->lock);
  t->done = 1;
  t->ok = ok;
  pthread_cond_broadcast(&t->over);
  pthread_mutex_unlock(&t->lock);
}

static void *tier_main(void *arg) {
  Tier *t = arg;
  /* Behind the caller's own work: this thread and the compiler it starts
   * (which inherits the value) yield the CPU to it (Linux: a per-thread
   * nice value; elsewhere the whole process's, so it is skipped). */
#ifdef __linux__
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), TIER_NICE);
#endif
  CcJob *job = calloc(1, sizeof *job);
  if (!job) {
    tier_finish(t, 0, "out of memory");
    return NULL;
  }
  job->tag = "--backend auto";
  job->cancel = &t->cancel;
  cc_start(job, t->timeout, t->src, &t->o);
  void *dl = NULL;
  int ok = cc_try(job, &dl, (const char *const *)t->names, t->n, t->fns) == 0;
  if (!ok && dl)
    dlclose(dl);
  t->dl = ok ? dl : NULL;
  tier_finish(t, ok, ok ? "" : job->err.text);
  free(job);
  return NULL;
}

static void tier_free(Tier *t) {
  if (!t)
    return;
  if (t->dl)
    dlclose(t->dl);
  for (int i = 0; t->names && i < t->n; i++)
    free(t->names[i]);
  free(t->names);
  free(t->fns);
  pthread_mutex_destroy(&t->lock);
  pthread_cond_destroy(&t->over);
  free(t);
}

/* The copies the thread works on (the C text is the model's own, which
 * outlives the thread: exprc_free joins it first); NULL if memory ran out. */
static Tier *tier_new(Ctx *c, const char *src, const char *const *names,
                      int n, const exprc_options *o) {
  Tier *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  pthread_mutex_init(&t->lock, NULL);
  pthread_cond_init(&t->over, NULL);
  atomic_init(&t->live, NULL);
  atomic_init(&t->cancel, 0);
  t->o = *o;
  t->timeout = c->lim.cc_timeout;
  t->n = n;
  t->src = src; /* lives until jit_free (jit.h): 50 bytes a node at scale */
  t->names = calloc((size_t)n + 1, sizeof *t->names);
  t->fns = calloc((size_t)n + 1, sizeof *t->fns);
  int ok = t->src && t->names && t->fns;
  for (int i = 0; ok && i < n; i++)
    ok = (t->names[i] = strdup(names[i])) != NULL;
  if (!ok)
    tier_free(t), t = NULL;
  return t;
}

/* The copies for the system compiler, made at compile time; its thread
 * starts at the second run (jit_kick). Without memory, no tier. */
static void tier_start(Jit *j, Ctx *c, const char *src,
                       const char *const *names, int n,
                       const exprc_options *o) {
  j->tier = tier_new(c, src, names, n, o);
  j->no_tier = !j->tier;
  if (!j->tier)
    note(o, "--backend auto: out of memory; libtcc's code runs on");
}

static void tier_launch(Tier *t) {
  sigset_t all, old;
  if (t->launched)
    return;
  t->launched = 1;
  t->started = 1;
  t->owner = getpid();
  sigfillset(&all); /* the caller's signals are not the thread's business */
  pthread_sigmask(SIG_SETMASK, &all, &old);
  running_add(t);
  int rc = pthread_create(&t->thread, NULL, tier_main, t);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    (void)running_remove(t);
    t->started = 0; /* no thread to join */
    t->done = 1;
    snprintf(t->why, sizeof t->why, "no thread for the system compiler: %s",
             strerror(rc));
    note(&t->o, "--backend auto: %s; libtcc's code runs on", t->why);
  }
}

/* A run after the first, once the runs have taken TIER_AFTER_NS, starts
 * the thread: the first result is libtcc's alone, and a model run a few
 * times starts nothing. Counting stops there. */
void jit_kick(Jit *j) {
  Tier *t = j ? j->tier : NULL;
  if (!t || t->launched)
    return;
  if (t->runs > 0 && t->spent >= TIER_AFTER_NS) {
    tier_launch(t);
    return;
  }
  t->runs++;
  clock_gettime(CLOCK_MONOTONIC, &t->begun);
}

void jit_ran(Jit *j) {
  Tier *t = j ? j->tier : NULL;
  if (!t || t->launched)
    return;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  t->spent += (int64_t)(now.tv_sec - t->begun.tv_sec) * 1000000000 +
              (now.tv_nsec - t->begun.tv_nsec);
}

/* Stop and join the thread, then free what it made (not in a forked
 * child: the thread is the parent's). */
static void tier_stop(Tier *t) {
  if (t->started && t->owner != getpid())
    return;
  if (t->started && running_remove(t)) {
    atomic_store(&t->cancel, 1);
    pthread_join(t->thread, NULL);
  }
  if (t->cut)
    note(&t->o, "--backend auto: the model was freed before %s finished; "
                "libtcc's code ran throughout", cc_program());
  else if (!t->launched && t->runs > 0)
    note(&t->o, "--backend auto: the model's %d run%s took %.1f ms, and %s "
                "starts after %d ms; libtcc's code ran throughout", t->runs,
         t->runs == 1 ? "" : "s", (double)t->spent / 1e6, cc_program(),
         TIER_AFTER_NS / 1000000);
  tier_free(t);
}

EntryFn *jit_entries(Jit *j, EntryFn *fns) {
  EntryFn *live = j && j->tier ? atomic_load_explicit(&j->tier->live,
                                                      memory_order_acquire)
                               : NULL;
  return live ? live : fns;
}

exprc_backend jit_backend_now(Jit *j) {
  return j && (j->dl || jit_entries(j, NULL)) ? EXPRC_BACKEND_CC
                                              : EXPRC_BACKEND_TCC;
}

int jit_wait(Jit *j, char *why, size_t n) {
  Tier *t = j ? j->tier : NULL;
  if (!t && j && j->no_tier)
    return snprintf(why, n, "out of memory for the system compiler's "
                            "copies of the model"), -1;
  if (!t)
    return 0;
  tier_launch(t);
  if (t->owner != getpid())
    return snprintf(why, n, "the system compiler ran in the parent process, "
                            "not in this forked child"), -1;
  pthread_mutex_lock(&t->lock);
  while (!t->done)
    pthread_cond_wait(&t->over, &t->lock);
  int ok = t->ok;
  pthread_mutex_unlock(&t->lock);
  if (!ok)
    snprintf(why, n, "%s", t->why);
  return ok ? 0 : -1;
}
