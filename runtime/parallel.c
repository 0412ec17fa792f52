/* parallel.c: the thread pool behind parallel loops and matrix products.
 *
 * Every model runs with its own thread count (exprc_options.threads), which
 * the API makes the calling thread's count for the duration of a run
 * (exprc_rt_use_threads); the pool itself is shared by the whole process.
 * A call splits its work into a number of chunks that depends only on that
 * count and on the sizes, never on what other threads are doing, so a model
 * gives the same bits whether it runs alone or beside other models.
 *
 * A call queues its job; idle workers take chunks from the oldest queued
 * job, and the caller takes chunks of its own job too. So several models
 * may use the pool at once, and a caller never waits for another model's
 * work: when every worker is busy it runs all its chunks itself (the same
 * chunks, so the same bits). It waits only for chunks that a worker has
 * already started. Workers are started on demand, up to the largest count
 * any model asked for, and stay.
 *
 * After fork the child has none of the workers, and the jobs queued by the
 * parent's other threads will never finish there: a pthread_atfork handler
 * takes the pool's lock around fork (so the queue is never copied half
 * updated) and empties the pool in the child, which starts workers again
 * when it needs them.
 *
 * The run-time error record of the calling thread (exprc_rt_catch) travels
 * with each parallel loop to the threads that run its chunks.
 */
#include <pthread.h>
#include <string.h>

#include "runtime.h"

#define MAX_THREADS 64
#define PAR_MIN 8192 /* shorter loops run on the caller: workers cost more */

typedef struct Job Job;
struct Job {
  void (*task)(void *arg, int chunk);
  void *arg;
  int chunks, next; /* next: the first chunk nobody has taken */
  int left;         /* chunks not yet finished */
  Job *queued;      /* the next job in the queue */
};

static struct {
  pthread_mutex_t lock;
  pthread_cond_t work; /* a job was queued */
  pthread_cond_t done; /* a job's last chunk finished */
  Job *queue;          /* jobs with chunks nobody has taken, oldest first */
  int nworker;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
          .work = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER};

/* The calling thread's count: 0 (the default) until a run sets it. */
static _Thread_local int my_threads;

int exprc_rt_use_threads(int n) {
  int was = my_threads;
  my_threads = n < 0 ? 0 : n > MAX_THREADS ? MAX_THREADS : n;
  return was;
}

static int default_threads(void);

/* ---- run-time errors ---- */

static _Thread_local exprc_rt_error *my_error;
static pthread_mutex_t error_lock = PTHREAD_MUTEX_INITIALIZER;

exprc_rt_error *exprc_rt_catch(exprc_rt_error *e) {
  exprc_rt_error *was = my_error;
  my_error = e;
  return was;
}

/* Keep the failure with the smallest site: chunks on several threads may
 * fail in any order, and the report must not depend on which came first. */
void exprc_rt_fail(long site, int what, double a, double b) {
  exprc_rt_error *e = my_error;
  if (!e)
    return;
  pthread_mutex_lock(&error_lock);
  if (e->site < 0 || site < e->site)
    *e = (exprc_rt_error){.site = site, .what = what, .a = a, .b = b};
  pthread_mutex_unlock(&error_lock);
}

/* The calling thread's count, at least 1. */
static int threads_now(void) {
  int n = my_threads > 0 ? my_threads : default_threads();
  return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n;
}

/* Under the lock: take the next chunk of j, and unqueue j when that was its
 * last one. */
static int take(Job *j) {
  int c = j->next++;
  if (j->next == j->chunks) {
    Job **p = &pool.queue;
    while (*p != j)
      p = &(*p)->queued;
    *p = j->queued;
  }
  return c;
}

/* Under the lock: run chunk c without it, then count it finished. */
static void run_chunk(Job *j, int c) {
  pthread_mutex_unlock(&pool.lock);
  j->task(j->arg, c);
  pthread_mutex_lock(&pool.lock);
  if (--j->left == 0)
    pthread_cond_broadcast(&pool.done);
}

static void *worker(void *unused) {
  (void)unused;
  pthread_mutex_lock(&pool.lock);
  for (;;) {
    while (!pool.queue)
      pthread_cond_wait(&pool.work, &pool.lock);
    Job *j = pool.queue;
    run_chunk(j, take(j));
  }
  return NULL;
}

/* Under the lock: start workers until there are n (a failure to start one
 * only means fewer helpers: callers run what nobody takes). */
static void grow(int n) {
  while (pool.nworker < n) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0)
      return;
    pthread_detach(t);
    pool.nworker++;
  }
}

/* Run task(arg, c) for every chunk c in 0 .. chunks-1, on the calling
 * thread and the pool, and return when all have finished. */
static void run_chunks(void (*task)(void *, int), void *arg, int chunks) {
  if (chunks <= 1) { /* nothing to share: no lock, no queue */
    task(arg, 0);
    return;
  }
  Job j = {.task = task, .arg = arg, .chunks = chunks, .left = chunks};
  pthread_mutex_lock(&pool.lock);
  grow(chunks - 1 < MAX_THREADS - 1 ? chunks - 1 : MAX_THREADS - 1);
  Job **tail = &pool.queue;
  while (*tail)
    tail = &(*tail)->queued;
  *tail = &j;
  pthread_cond_broadcast(&pool.work);
  while (j.next < j.chunks)
    run_chunk(&j, take(&j));
  while (j.left > 0)
    pthread_cond_wait(&pool.done, &pool.lock);
  pthread_mutex_unlock(&pool.lock);
}

/* ---- parallel loops ---- */

typedef struct Loop {
  exprc_rt_body body;
  long n;
  const long *D;
  double *const *S;
  const double *R;
  int chunks;
  exprc_rt_error *error; /* the caller's record, for the chunks' threads */
  double part[MAX_THREADS][EXPRC_RT_MAX_ACC];
} Loop;

/* Chunk c of T is iterations [n c / T, n (c + 1) / T). */
static void loop_chunk(void *arg, int c) {
  Loop *L = arg;
  long lo = L->n * c / L->chunks, hi = L->n * (c + 1) / L->chunks;
  exprc_rt_error *was = my_error;
  my_error = L->error;
  L->body(lo, hi, L->D, L->S, L->R, L->part[c]);
  my_error = was;
}

/* Fold the chunks' partial reductions into A in chunk order. */
static void fold(const Loop *L, const char *kinds, int nacc, double *A) {
  for (int c = 0; c < L->chunks; c++)
    for (int k = 0; k < nacc; k++) {
      double v = L->part[c][k];
      if (kinds[k] == '+')
        A[k] += v;
      else if (kinds[k] == '>' ? v > A[k] : v < A[k])
        A[k] = v;
    }
}

void exprc_rt_parallel(exprc_rt_body body, long n, const long *D,
                       double *const *S, const double *R, const char *kinds,
                       double *A) {
  int nacc = kinds ? (int)strlen(kinds) : 0;
  if (nacc > EXPRC_RT_MAX_ACC)
    nacc = EXPRC_RT_MAX_ACC; /* the emitter never asks for more */
  Loop L = {.body = body, .n = n, .D = D, .S = S, .R = R, .chunks = 1,
            .error = my_error};
  if (n >= PAR_MIN)
    L.chunks = threads_now();
  run_chunks(loop_chunk, &L, L.chunks);
  fold(&L, kinds, nacc, A);
}

/* ---- matrix products ----
 *
 * OpenBLAS runs single-threaded, and a large product is split into blocks
 * of rows (or columns) of the result, computed on the pool, as many as the
 * running model's thread count. OpenBLAS's thread count is one global that
 * every call reads, and raising it (openblas_set_num_threads) initialises
 * the locks of its server threads again and starts new ones while a product
 * on another thread may be handing them work: setting it per model, as each
 * compile used to, crashed the products running beside that compile. Its
 * threaded build locks its own buffer tables, so concurrent single-threaded
 * calls are safe, and its FAQ asks programs that have threads of their own
 * to run it single-threaded. So exprc sets it to one thread once, before
 * its first product, and never again; lowering the count only stores the
 * global (no thread is started or stopped). Splitting on exprc's side also
 * gives each model its own count, and each block is one call over the
 * whole inner dimension, so results depend on the model's count only.
 */

#ifdef EXPRC_HAVE_CBLAS
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static int blas_default = 1;

/* The count OpenBLAS had (from OPENBLAS_NUM_THREADS, or what the program
 * set, or the number of cores) becomes that of models that ask for none. */
static void blas_single_threaded(void) {
  int was = exprc_rt_blas_single_threaded(); /* loads OpenBLAS (kernels.c) */
  blas_default = was > 0 ? was : 1;
}

static int default_threads(void) {
  pthread_once(&blas_once, blas_single_threaded);
  return blas_default;
}

void exprc_rt_blas_once(void) { pthread_once(&blas_once, blas_single_threaded); }

typedef struct Gemm {
  int ta, tb, by_rows, chunks;
  int f32;      /* the operands are float (exprc_rt_gemm_pooled_f32) */
  long m, n, k;
  const void *a, *b;
  void *c;
} Gemm;

/* Block i of c: rows (by_rows) or columns [all i / T, all (i + 1) / T). */
static void gemm_block(void *arg, int i) {
  const Gemm *g = arg;
  long all = g->by_rows ? g->m : g->n;
  long lo = all * i / g->chunks, hi = all * (i + 1) / g->chunks;
  long lda = g->ta ? g->m : g->k, ldb = g->tb ? g->k : g->n;
  long m = g->m, n = g->n, ao = 0, bo = 0;   /* offsets, in elements */
  if (g->by_rows) /* rows lo.. of op(a) */
    ao = g->ta ? lo : lo * g->k, m = hi - lo;
  else /* columns lo.. of op(b) */
    bo = g->tb ? lo * g->k : lo, n = hi - lo;
  long co = g->by_rows ? lo * g->n : lo;
  if (g->f32) /* loaded: the caller checked */
    (void)exprc_rt_blas_sgemm(g->ta, g->tb, m, n, g->k, (const float *)g->a + ao,
                              lda, (const float *)g->b + bo, ldb,
                              (float *)g->c + co, g->n);
  else
    (void)exprc_rt_blas_dgemm(g->ta, g->tb, m, n, g->k,
                              (const double *)g->a + ao, lda,
                              (const double *)g->b + bo, ldb,
                              (double *)g->c + co, g->n);
}

#define GEMM_CHUNK_MIN 131072.0 /* multiply-adds that a block is worth */

/* As many blocks as the model has threads while each is worth a call and
 * at least 4 wide (a BLAS kernel's height), along the longer side of c. */
static int gemm_pooled_ready(long m, long n, long k) {
  if (EXPRC_RT_BLAS_SIZED(m, n, k)) /* only then is OpenBLAS loaded */
    pthread_once(&blas_once, blas_single_threaded); /* before any call */
  return EXPRC_RT_BLAS_SIZED(m, n, k) && exprc_rt_blas_loaded();
}

static void gemm_pooled(Gemm g);

void exprc_rt_gemm_pooled(int ta, int tb, long m, long n, long k,
                          const double *a, const double *b, double *c) {
  if (!gemm_pooled_ready(m, n, k))
    exprc_rt_gemm(ta, tb, m, n, k, a, b, c); /* loops, on this thread */
  else
    gemm_pooled((Gemm){.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .a = a,
                       .b = b, .c = c});
}

void exprc_rt_gemm_pooled_f32(int ta, int tb, long m, long n, long k,
                              const float *a, const float *b, float *c) {
  if (!gemm_pooled_ready(m, n, k))
    exprc_rt_gemm_f32(ta, tb, m, n, k, a, b, c);
  else
    gemm_pooled((Gemm){.ta = ta, .tb = tb, .f32 = 1, .m = m, .n = n, .k = k,
                       .a = a, .b = b, .c = c});
}

static void gemm_pooled(Gemm g) {
  g.by_rows = g.m >= g.n;
  long m = g.m, n = g.n, k = g.k;
  double work = (double)m * (double)n * (double)k;
  long side = m >= n ? m : n;
  g.chunks = threads_now();
  while (g.chunks > 1 &&
         (work < GEMM_CHUNK_MIN * g.chunks || side < 4L * g.chunks))
    g.chunks--;
  run_chunks(gemm_block, &g, g.chunks);
}
#else
void exprc_rt_blas_once(void) {}
static int default_threads(void) { return 1; }

void exprc_rt_gemm_pooled(int ta, int tb, long m, long n, long k,
                          const double *a, const double *b, double *c) {
  exprc_rt_gemm(ta, tb, m, n, k, a, b, c);
}

void exprc_rt_gemm_pooled_f32(int ta, int tb, long m, long n, long k,
                              const float *a, const float *b, float *c) {
  exprc_rt_gemm_f32(ta, tb, m, n, k, a, b, c);
}
#endif

/* ---- fork ---- */

static void before_fork(void) { pthread_mutex_lock(&pool.lock); }

static void parent_after_fork(void) { pthread_mutex_unlock(&pool.lock); }

/* The child's only thread is the one that forked, which was not inside the
 * pool (it was calling fork): every queued job belongs to a thread that
 * the child does not have, and so do the workers. The condition variables
 * may still count the parent's waiters, so they are made new. */
static void child_after_fork(void) {
  pool.queue = NULL;
  pool.nworker = 0;
  pthread_cond_init(&pool.work, NULL);
  pthread_cond_init(&pool.done, NULL);
  pthread_mutex_unlock(&pool.lock);
}

/* Registered when the library is loaded, before any thread can hold the
 * lock, so that no fork can copy it held. */
__attribute__((constructor)) static void register_fork_handlers(void) {
  pthread_atfork(before_fork, parent_after_fork, child_after_fork);
}
