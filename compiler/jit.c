/* jit.c: the last stage: the generated C to machine code, in memory, with
 * libtcc (or, with --backend cc, with the system compiler; see below).
 *
 * libtcc keeps global state, so everything from tcc_new to tcc_relocate
 * holds one process-wide mutex; running the compiled code needs no lock.
 * The code is linked with -nostdlib: it can call only the symbols added here
 * (libm and the runtime), which is all the emitter's prelude declares, so
 * generated code cannot reach anything else in the process. A compile error
 * in generated code is a bug in exprc; tcc's text is kept in the message.
 */
#include "jit.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libtcc.h>
#include <math.h>
#include <pthread.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io.h"
#include "runtime.h"
#include "scalar.h"

struct Jit {
  TCCState *s;
  void *dl; /* the shared object of --backend cc */
};

static pthread_mutex_t tcc_lock = PTHREAD_MUTEX_INITIALIZER;

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

static void add_symbols(TCCState *s) {
#define XC_LIBM(name, n) tcc_add_symbol(s, #name, (const void *)name);
  XC_LIBM_FNS(XC_LIBM)
#undef XC_LIBM
  tcc_add_symbol(s, "exprc_rt_gemm", (const void *)exprc_rt_gemm);
  tcc_add_symbol(s, "exprc_rt_parallel", (const void *)exprc_rt_parallel);
  tcc_add_symbol(s, "memset", (const void *)memset); /* tcc may emit these */
  tcc_add_symbol(s, "memcpy", (const void *)memcpy);
  tcc_add_symbol(s, "memmove", (const void *)memmove);
}

/* Under the lock: compile, relocate and look up. 0 on success. */
static int build(TCCState *s, Errors *err, const char *src,
                 const char *const *names, int n, EntryFn *fns) {
  tcc_set_error_func(s, err, on_error);
  tcc_set_options(s, "-nostdlib");
  if (tcc_set_output_type(s, TCC_OUTPUT_MEMORY) < 0)
    return -1;
  locale_t old = exprc_rt_enter_c_locale(); /* tcc reads 2.5 with strtod */
  int rc = tcc_compile_string(s, src);
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
                       int n, EntryFn *fns);

Jit *jit_compile(Ctx *c, const char *src, const char *const *names, int n,
                 EntryFn *fns, int backend) {
  if (backend == EXPRC_BACKEND_CC)
    return cc_compile(c, src, names, n, fns);
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
  return j;
}

void jit_free(Jit *j) {
  if (!j)
    return;
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
 * cached under a hash of the source and the command, and is loaded with
 * dlopen. The generated code's one call into exprc, the matrix product, is
 * renamed by a -D flag to a hook defined in a few appended lines, which
 * calls through a pointer that is set after loading: the shared object then
 * needs nothing from the process but libm.
 */

static const char hook[] =
    "\nvoid (*xc_gemm_fp)(int, int, long, long, long, const double *,\n"
    "                   const double *, double *);\n"
    "void xc_gemm_hook(int ta, int tb, long m, long n, long k,\n"
    "                  const double *a, const double *b, double *c)\n"
    "{ xc_gemm_fp(ta, tb, m, n, k, a, b, c); }\n"
    "typedef void (*xc_body)(long, long, const long *, double *const *,\n"
    "                        const double *, double *);\n"
    "void (*xc_par_fp)(xc_body, long, const long *, double *const *,\n"
    "                  const double *, const char *, double *);\n"
    "void xc_par_hook(xc_body f, long n, const long *D, double *const *S,\n"
    "                 const double *R, const char *k, double *A)\n"
    "{ xc_par_fp(f, n, D, S, R, k, A); }\n";

static const char *cc_program(void) {
  const char *cc = getenv("CC");
  return cc && *cc && !strpbrk(cc, " \t") ? cc : "cc";
}

static void cache_dir(char *buf, size_t n) {
  const char *d = getenv("EXPRC_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME");
  const char *home = getenv("HOME");
  if (d && *d)
    snprintf(buf, n, "%s", d);
  else if (x && *x)
    snprintf(buf, n, "%s/exprc", x);
  else if (home && *home)
    snprintf(buf, n, "%s/.cache/exprc", home);
  else
    snprintf(buf, n, "/tmp/exprc-cache");
  for (char *p = buf + 1; *p; p++) /* mkdir -p */
    if (*p == '/') {
      *p = 0;
      mkdir(buf, 0700);
      *p = '/';
    }
  mkdir(buf, 0700);
}

/* Run argv with stderr into log; the exit status, or -1. */
static int run_compiler(char *const *argv, const char *log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_adddup2(&fa, 2, 1);
  pid_t pid;
  extern char **environ;
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    return -1;
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void read_log(const char *path, Errors *err) {
  FILE *f = fopen(path, "r");
  if (f) {
    err->n = fread(err->text, 1, sizeof err->text - 1, f);
    err->text[err->n] = 0;
    fclose(f);
  }
}

/* Build dir/exprc-KEY.so from src unless it is cached. 0 on success. */
static int cc_build(const char *src, const char *so, Errors *err) {
  char cfile[4200], tmp[4200], log[4200];
  if (access(so, R_OK) == 0)
    return 0;
  snprintf(cfile, sizeof cfile, "%s.%ld.c", so, (long)getpid());
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", so, (long)getpid());
  snprintf(log, sizeof log, "%s.%ld.log", so, (long)getpid());
  FILE *f = fopen(cfile, "w");
  int ok = f && fputs(src, f) >= 0 && fputs(hook, f) >= 0;
  ok = f && fclose(f) == 0 && ok;
  char *argv[] = {(char *)cc_program(), "-std=c99", "-O2", "-fPIC", "-shared",
                  "-Dexprc_rt_gemm=xc_gemm_hook",
                  "-Dexprc_rt_parallel=xc_par_hook", "-o", tmp, cfile, "-lm",
                  NULL};
  int rc = ok ? run_compiler(argv, log) : -1;
  if (rc != 0) {
    read_log(log, err);
    if (!err->n)
      snprintf(err->text, sizeof err->text, "could not run %s", argv[0]);
  } else if (rename(tmp, so) != 0) {
    rc = -1;
    snprintf(err->text, sizeof err->text, "cannot write %.1000s", so);
  }
  remove(cfile);
  remove(log);
  remove(tmp);
  return rc == 0 ? 0 : -1;
}

static int cc_load(Jit *j, const char *so, const char *const *names, int n,
                   EntryFn *fns, Errors *err) {
  j->dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  void *fp = j->dl ? dlsym(j->dl, "xc_gemm_fp") : NULL;
  void *pp = j->dl ? dlsym(j->dl, "xc_par_fp") : NULL;
  if (!fp || !pp) {
    snprintf(err->text, sizeof err->text, "%s", j->dl ? "no hooks" : dlerror());
    return -1;
  }
  void (*gemm)(int, int, long, long, long, const double *, const double *,
               double *) = exprc_rt_gemm;
  void (*par)(exprc_rt_body, long, const long *, double *const *,
              const double *, const char *, double *) = exprc_rt_parallel;
  memcpy(fp, &gemm, sizeof gemm);
  memcpy(pp, &par, sizeof par);
  for (int i = 0; i < n; i++) {
    void *p = dlsym(j->dl, names[i]);
    if (!p) {
      snprintf(err->text, sizeof err->text, "entry point %s missing", names[i]);
      return -1;
    }
    memcpy(&fns[i], &p, sizeof p);
  }
  return 0;
}

static Jit *cc_compile(Ctx *c, const char *src, const char *const *names,
                       int n, EntryFn *fns) {
  char dir[4000], so[4100];
  Errors err = {.n = 0};
  uint64_t key = hash_bytes(src, strlen(src), 0xcbf29ce484222325ULL);
  key = hash_bytes(cc_program(), strlen(cc_program()), key);
  key = hash_bytes(hook, sizeof hook, key);
  cache_dir(dir, sizeof dir);
  snprintf(so, sizeof so, "%s/exprc-%016llx.so", dir, (unsigned long long)key);
  Jit *j = calloc(1, sizeof *j);
  if (!j)
    ctx_fail(c, EXPRC_ERR_NOMEM, "out of memory");
  if (cc_build(src, so, &err) != 0 || cc_load(j, so, names, n, fns, &err) != 0) {
    jit_free(j);
    ctx_fail(c, EXPRC_ERR_JIT, "--backend cc: %s failed:\n%s", cc_program(),
             err.text);
  }
  return j;
}
