/* compile_time.c: the time exprc_compile_file takes for each model file
 * given (libtcc backend, defaults), the median and quartiles of 21
 * compiles. Used for the loop rows of RESULTS.md: a fold over 10 steps and
 * over 1,000 steps compile in the same time, since the step is compiled
 * once, as a loop.
 *
 *   ninja -C build bench/compile_time
 *   build/bench/compile_time bench/models/loop_len10.expr \
 *       bench/models/loop_len1000.expr
 */
#include <exprc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { RUNS = 21 };

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  for (int f = 1; f < argc; f++) {
    double t[RUNS];
    for (int i = 0; i < RUNS; i++) {
      exprc_model *m;
      double start = now_ms();
      if (exprc_compile_file(argv[f], NULL, &m) != EXPRC_OK) {
        fprintf(stderr, "%s\n", exprc_errmsg(m));
        exprc_free(m);
        return 1;
      }
      t[i] = now_ms() - start;
      exprc_free(m);
    }
    qsort(t, RUNS, sizeof t[0], cmp);
    printf("%s: compile median %.2f ms (quartiles %.2f, %.2f)\n", argv[f],
           t[RUNS / 2], t[RUNS / 4], t[3 * RUNS / 4]);
  }
  return 0;
}
