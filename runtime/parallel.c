/* parallel.c: the thread pool behind parallel loops in generated code.
 *
 * A fixed set of workers waits on a condition variable; a call hands them
 * one loop split into equal chunks (chunk c of T is [n c / T, n (c+1) / T)),
 * the caller runs chunk 0 itself, and the partial reductions are folded in
 * chunk order, so a given thread count always gives the same bits. One loop
 * runs at a time: concurrent callers take turns. Loops shorter than
 * PAR_MIN iterations run on the caller alone, where starting workers would
 * cost more than it saves.
 */
#include <pthread.h>
#include <string.h>

#include "runtime.h"

#ifdef EXPRC_HAVE_CBLAS
#include <cblas.h>
#endif

#define PAR_MIN 8192
#define MAX_THREADS 64

typedef struct Job {
  exprc_rt_body body;
  long n;
  const long *D;
  double *const *S;
  const double *R;
  int nacc, chunks;
  double part[MAX_THREADS][EXPRC_RT_MAX_ACC];
} Job;

static struct {
  pthread_mutex_t lock, run; /* run: one loop at a time */
  pthread_cond_t go, done;
  pthread_t worker[MAX_THREADS];
  int nworker, wanted;
  unsigned long generation; /* counts jobs, so workers see a new one */
  int pending;              /* chunks not yet finished */
  Job job;                  /* the one loop running (under `run`) */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
          .run = PTHREAD_MUTEX_INITIALIZER,
          .go = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER};

static void run_chunk(Job *j, int c) {
  long lo = j->n * c / j->chunks, hi = j->n * (c + 1) / j->chunks;
  j->body(lo, hi, j->D, j->S, j->R, j->part[c]);
}

static void *worker(void *arg) {
  int id = (int)(long)arg; /* chunk id + 1 .. */
  unsigned long seen = 0;
  pthread_mutex_lock(&pool.lock);
  for (;;) {
    while (pool.generation == seen)
      pthread_cond_wait(&pool.go, &pool.lock);
    seen = pool.generation;
    Job *j = &pool.job;
    if (id < j->chunks) {
      pthread_mutex_unlock(&pool.lock);
      run_chunk(j, id);
      pthread_mutex_lock(&pool.lock);
      if (--pool.pending == 0)
        pthread_cond_signal(&pool.done);
    }
  }
  return NULL;
}

int exprc_rt_set_threads(int n) {
#ifdef EXPRC_HAVE_CBLAS
  if (n > 0)
    openblas_set_num_threads(n);
#endif
  pthread_mutex_lock(&pool.lock);
  if (n > 0)
    pool.wanted = n > MAX_THREADS ? MAX_THREADS : n;
  int t = pool.wanted < 1 ? 1 : pool.wanted;
  pthread_mutex_unlock(&pool.lock);
  return t;
}

/* Start workers up to the wanted count (never fewer: a worker, once
 * started, stays; the chunk count follows `wanted`). */
static void grow(void) {
  while (pool.nworker + 1 < pool.wanted) {
    long id = pool.nworker + 1;
    if (pthread_create(&pool.worker[pool.nworker], NULL, worker, (void *)id))
      break;
    pthread_detach(pool.worker[pool.nworker]);
    pool.nworker++;
  }
}

static void fold(const Job *j, const char *kinds, double *A) {
  for (int c = 0; c < j->chunks; c++)
    for (int k = 0; k < j->nacc; k++) {
      double v = j->part[c][k];
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
  pthread_mutex_lock(&pool.run);
  Job *j = &pool.job;
  j->body = body, j->n = n, j->D = D, j->S = S, j->R = R;
  j->nacc = nacc, j->chunks = 1;
  pthread_mutex_lock(&pool.lock);
  if (n >= PAR_MIN && pool.wanted > 1) {
    grow();
    j->chunks = pool.nworker + 1 < pool.wanted ? pool.nworker + 1 : pool.wanted;
  }
  if (j->chunks > 1) {
    pool.pending = j->chunks - 1;
    pool.generation++;
    pthread_cond_broadcast(&pool.go);
  }
  pthread_mutex_unlock(&pool.lock);
  run_chunk(j, 0);
  pthread_mutex_lock(&pool.lock);
  while (j->chunks > 1 && pool.pending > 0)
    pthread_cond_wait(&pool.done, &pool.lock);
  pthread_mutex_unlock(&pool.lock);
  fold(j, kinds, A);
  pthread_mutex_unlock(&pool.run);
}
