/* api_demo.c: compile a model from a string, set its inputs, run its
 * gradient and print it, through include/exprc.h alone. */
#include <exprc.h>
#include <stdio.h>

static const char *model =
    "input x[3]\n"
    "param w[3] ~ fill(0.5)\n"
    "param b\n"
    "loss = (sum(w * x) + b - 1)^2\n"
    "grad loss wrt w, b\n";

int main(void) {
  exprc_model *m;
  if (exprc_compile_string(model, "demo.expr", NULL, &m) != EXPRC_OK) {
    fprintf(stderr, "%s", exprc_errmsg(m));
    exprc_free(m);
    return 1;
  }
  double x[3] = {1, 2, 3};
  int64_t shape[1] = {3};
  exprc_tensor loss, dw, db;
  if (exprc_set(m, "x", x, 1, shape) != EXPRC_OK ||
      exprc_gradient(m, "loss") != EXPRC_OK ||
      exprc_find_grad(m, "loss", "w", &dw) != EXPRC_OK ||
      exprc_find_grad(m, "loss", "b", &db) != EXPRC_OK ||
      exprc_get(m, EXPRC_LOSS, 0, &loss) != EXPRC_OK) {
    fprintf(stderr, "api_demo: %s\n", exprc_errmsg(m));
    exprc_free(m);
    return 1;
  }
  printf("loss = %g\n", loss.data[0]);
  printf("dloss/dw = [%g, %g, %g]\n", dw.data[0], dw.data[1], dw.data[2]);
  printf("dloss/db = %g\n", db.data[0]);
  exprc_free(m);
  return 0;
}
