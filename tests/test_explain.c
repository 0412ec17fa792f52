/* test_explain.c: `exprc explain` writes one page that tells the truth.
 *
 *   - The C on the page is exactly what `exprc emit` prints, for every model
 *     we have: the marks that say which node each line computes are gone.
 *   - The map agrees with the text: in examples/mlp.expr each C line that
 *     calls tanh computes a tanh node of the model line that says tanh, each
 *     exprc_rt_gemm a matmul of the line that says `W @ v`, and every line
 *     that stores into a buffer belongs to some node.
 *   - With --set, each node shows its value: checked on a model whose
 *     values are worked out by hand, NaN included.
 *   - Everything from the model is escaped; the page loads nothing; errors
 *     write no page; dot draws the graphs, and without dot the page lists
 *     them.
 * How a browser uses the page is tests/explain_browser.py's part.
 * Usage: test_explain EXPRC SOURCE_ROOT (meson passes both).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* Run `[env] exprc explain ARGS`; the exit status, stdout and stderr. */
static int explain(const char *env, const char *args, char **out, char **err) {
  size_t n = strlen(args) + strlen(tu_exprc()) + 64 + (env ? strlen(env) : 0);
  char *cmd = malloc(n);
  snprintf(cmd, n, "%s '%s' explain %s", env ? env : "", tu_exprc(), args);
  int rc = tu_run(cmd, out, err);
  free(cmd);
  return rc;
}

/* The page of `explain FILE ARGS -o tmp`, read back (the caller frees). */
static char *page_of(const char *env, const char *file, const char *args) {
  char *page = tu_temp_file("", ".html"), *err = NULL, cmd[8192];
  snprintf(cmd, sizeof cmd, "'%s' %s -o '%s'", file, args, page);
  int rc = explain(env, cmd, NULL, &err);
  ck_assert_msg(rc == 0, "explain %s exited %d:\n%s", cmd, rc, err);
  free(err);
  char *text = tu_read_file(page);
  remove(page);
  free(page);
  ck_assert_ptr_nonnull(text);
  return text;
}

static char *example(const char *name) {
  static char path[4096];
  snprintf(path, sizeof path, "%s/examples/%s", tu_srcroot(), name);
  return path;
}

/* HTML text back to plain text (the five escapes the page uses). */
static size_t unescape(const char *s, size_t n, char *out) {
  static const char *const from[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
  static const char to[] = "&<>\"'";
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    int hit = -1;
    for (int e = 0; e < 5 && hit < 0; e++)
      if (strncmp(s + i, from[e], strlen(from[e])) == 0)
        hit = e;
    out[k++] = hit < 0 ? s[i] : to[hit];
    i += hit < 0 ? 1 : strlen(from[hit]);
  }
  out[k] = 0;
  return k;
}

/* One line of the page's C: its text and the node it computes (-1). */
typedef struct CRow {
  char text[8192]; /* a C line (index expressions of rank 8 are long) */
  long node;
} CRow;

/* The k-th C row (1-based); 0 past the last. */
static int c_row(const char *page, int k, CRow *r) {
  char key[64];
  snprintf(key, sizeof key, "<div class=\"row c-line\" id=\"c-%d\"", k);
  const char *s = strstr(page, key);
  if (!s)
    return 0;
  const char *end = strstr(s, "</span></div>");
  const char *dn = strstr(s, " data-n=\""), *tx = strstr(s, "<span class=\"tx\">");
  ck_assert(end && tx && tx < end);
  r->node = dn && dn < tx ? strtol(dn + 9, NULL, 10) : -1;
  tx += strlen("<span class=\"tx\">");
  ck_assert((size_t)(end - tx) < sizeof r->text);
  unescape(tx, (size_t)(end - tx), r->text);
  return 1;
}

/* The cells of node n's row in the simplified graph's table. */
static int node_cells(const char *page, long n, char cells[8][256]) {
  char key[64];
  snprintf(key, sizeof key, "id=\"s-n%ld\"", n);
  const char *s = strstr(page, key), *end = s ? strstr(s, "</tr>") : NULL;
  int k = 0;
  while (s && k < 8 && (s = strstr(s, "<td")) && s < end) {
    s = strchr(s, '>') + 1;
    const char *e = strstr(s, "</td>");
    snprintf(cells[k++], 256, "%.*s", (int)(e - s), s);
    s = e;
  }
  return k;
}

/* The number of the first line of text containing `what` (1-based). */
static int line_of(const char *text, const char *what) {
  const char *hit = strstr(text, what);
  ck_assert_msg(hit != NULL, "no '%s'", what);
  int line = 1;
  for (const char *s = text; s < hit; s++)
    line += *s == '\n';
  return line;
}

/* ---- the C is exprc emit's ---- */

static char *models[64];
static int nmodels;

static void collect(const char *sub) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/%s", tu_srcroot(), sub);
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d)) && nmodels < 64) {
    size_t n = strlen(e->d_name);
    if (n > 5 && strcmp(e->d_name + n - 5, ".expr") == 0) {
      models[nmodels] = malloc(strlen(dir) + n + 2);
      sprintf(models[nmodels++], "%s/%s", dir, e->d_name);
    }
  }
  if (d)
    closedir(d);
}

/* The page's C, for `path` compiled with `opts`, is `exprc emit`'s. */
static void page_c_is_emits(const char *path, const char *opts) {
  char cmd[8192], *emitted = NULL, *err = NULL;
  snprintf(cmd, sizeof cmd, "'%s' emit '%s' %s", tu_exprc(), path, opts);
  ck_assert_msg(tu_run(cmd, &emitted, &err) == 0, "%s: %s", cmd, err);
  char *page = page_of("EXPRC_DOT=", path, opts);
  size_t len = strlen(emitted), k = 0;
  char *c = malloc(len + 2);
  CRow r;
  for (int line = 1; c_row(page, line, &r); line++) {
    size_t n = strlen(r.text);
    ck_assert_msg(k + n + 1 <= len + 1, "%s %s: the page has more C than "
                  "emit", path, opts);
    memcpy(c + k, r.text, n);
    k += n;
    c[k++] = '\n';
  }
  c[k] = 0;
  ck_assert_msg(strcmp(c, emitted) == 0, "%s %s: the page's C differs from "
                "exprc emit's", path, opts);
  ck_assert_msg(strchr(page, '\2') == NULL && strchr(page, '\3') == NULL,
                "%s: a mark of the emitter is left in the page", path);
  free(c), free(page), free(emitted), free(err);
}

START_TEST(the_c_on_the_page_is_exactly_emits) {
  page_c_is_emits(models[_i], "");
}
END_TEST

/* Parallel loop bodies (--threads), one loop per op (--no-fuse), values
 * recomputed (--remat): the same C again, marks and all taken out. */
START_TEST(the_c_is_emits_with_every_plan) {
  static const char *const opts[] = {"--threads 2", "--no-fuse", "--remat",
                                     "--no-reuse", "--no-simplify"};
  for (int k = 0; k < 5; k++)
    page_c_is_emits(example("wide_mlp.expr"), opts[k]);
}
END_TEST

/* ---- the map ---- */

START_TEST(mlp_lines_compute_the_nodes_they_say) {
  char *model = tu_read_file(example("mlp.expr"));
  int tanh_line = line_of(model, "tanh("), matmul_line = line_of(model, "W @ v");
  char *page = page_of(NULL, example("mlp.expr"), "");
  CRow r;
  char cells[8][256], want[32];
  int ntanh = 0, ngemm = 0, nstore = 0;
  for (int line = 1; c_row(page, line, &r); line++) {
    const char *t = r.text + strspn(r.text, " ");
    int store = t[0] == 'p' && t[1] >= '0' && t[1] <= '9' && strstr(t, "] = ");
    int gemm = strstr(t, "exprc_rt_gemm(") == t;
    int tanh = (strstr(t, "tanh(") && store) || /* or the whole-array call */
               strstr(t, "exprc_rt_tanh(") == t;
    if (store || gemm)
      ck_assert_msg(r.node >= 0, "C line %d stores a value but belongs to no "
                    "node: %s", line, r.text);
    nstore += store;
    if (!gemm && !tanh)
      continue;
    ck_assert_int_ge(node_cells(page, r.node, cells), 6);
    ck_assert_str_eq(cells[1], gemm ? "matmul" : "tanh");
    snprintf(want, sizeof want, "%d", gemm ? matmul_line : tanh_line);
    ck_assert_msg(strcmp(cells[5], want) == 0, "C line %d (%s): node n%ld is "
                  "on model line %s, not %s", line, r.text, r.node, cells[5], want);
    ntanh += tanh, ngemm += gemm;
  }
  /* tanh: in the forward entry point and again in the gradient's; the
   * products: 2 forward, 2 again in the gradient and its 3 backward ones */
  ck_assert_int_eq(ntanh, 2);
  ck_assert_int_eq(ngemm, 7);
  ck_assert_int_gt(nstore, 10);
  ck_assert_ptr_nonnull(strstr(page, "\"srcC\":{"));
  free(page), free(model);
}
END_TEST

/* ---- values ---- */

/* The value cell of the node that a result names ("output z", "loss s",
 * "ds/dw"), in the simplified graph. */
static void result_value(const char *page, const char *result, char *out,
                         size_t n) {
  char key[128], cells[8][256];
  snprintf(key, sizeof key, "<li>%s = <a href=\"#\" class=\"ref\" data-g=\"s\" "
           "data-n=\"", result);
  const char *s = strstr(page, key);
  ck_assert_msg(s != NULL, "no result %s", result);
  long node = strtol(s + strlen(key), NULL, 10);
  ck_assert_int_ge(node_cells(page, node, cells), 7);
  snprintf(out, n, "%s", cells[6]);
}

/* x = [1, -1, 4], w = [1, 2, 3]: by hand, z = log x = [0, NaN, log 4 =
 * 1.386294...] (%.4g: 1.386); s = sum(w * x * x) = 1 + 2 + 48 = 51;
 * ds/dw = x * x = [1, 1, 16]. */
START_TEST(values_are_the_hand_worked_ones) {
  char *path = tu_temp_file("param w[3]\ninput x[3]\ny = x * x\nz = log(x)\n"
                            "s = sum(w * y)\noutput z\ngrad s wrt w\n", ".expr");
  char *page = page_of(NULL, path, "--set x=[1,-1,4] --set w=[1,2,3]");
  char v[256];
  result_value(page, "output z", v, sizeof v);
  ck_assert_str_eq(v, "[3] min 0 max 1.386 <b class=\"nan\">NaN 1</b>");
  result_value(page, "loss s", v, sizeof v);
  ck_assert_str_eq(v, "[] min 51 max 51 NaN 0");
  result_value(page, "ds/dw", v, sizeof v);
  ck_assert_str_eq(v, "[3] min 1 max 16 NaN 0");
  free(page);
  page = page_of(NULL, path, ""); /* without --set: no values, and says so */
  ck_assert_ptr_null(strstr(page, "class=\"val\""));
  ck_assert_ptr_nonnull(strstr(page, "No values: run with --set"));
  remove(path);
  free(path), free(page);
}
END_TEST

/* ---- escaping, no network ---- */

static int count(const char *s, const char *what) {
  int k = 0;
  for (; (s = strstr(s, what)) != NULL; s++)
    k++;
  return k;
}

START_TEST(everything_from_the_model_is_escaped) {
  char *path = tu_temp_file("# </script><script>alert(\"x\")</script> & 'q'\n"
                            "input x[2]\noutput x < 1\n", ".expr");
  char *page = page_of(NULL, path, "--set x=[0,3]");
  ck_assert_ptr_null(strstr(page, "<script>alert"));
  ck_assert_ptr_nonnull(strstr(page, "# &lt;/script&gt;&lt;script&gt;alert("
                                     "&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;"));
  ck_assert_ptr_nonnull(strstr(page, "<li>output x &lt; 1 = "));
  ck_assert_int_eq(count(page, "<script"), 2); /* the map and the script */
  remove(path);
  free(path), free(page);
}
END_TEST

START_TEST(the_page_loads_nothing) {
  char *page = page_of(NULL, example("mlp.expr"), "");
  ck_assert_ptr_null(strstr(page, "<link"));
  ck_assert_ptr_null(strstr(page, " src="));
  ck_assert_ptr_null(strstr(page, "url("));
  ck_assert_ptr_null(strstr(page, "@import"));
  ck_assert_ptr_null(strstr(page, "href=\"http"));
  ck_assert_int_eq(strncmp(page, "<!DOCTYPE html>", 15), 0);
  free(page);
}
END_TEST

/* ---- Graphviz or the list ---- */

START_TEST(dot_draws_both_graphs) {
  char *out = NULL;
  if (tu_run("command -v dot", &out, NULL) != 0 && !getenv("CI")) {
    fprintf(stderr, "test_explain: dot is not installed: the picture is not "
            "tested here (tools/setup.sh installs graphviz)\n");
    free(out);
    return;
  }
  free(out);
  char *page = page_of(NULL, example("mlp.expr"), "");
  ck_assert_int_eq(count(page, "<svg"), 2);
  ck_assert_ptr_nonnull(strstr(page, "id=\"a_svg_n"));
  ck_assert_int_eq(count(page, "id=\"s_svg_n10\""), 1); /* ids: one each */
  ck_assert_ptr_null(strstr(page, "No picture"));
  free(page);
}
END_TEST

START_TEST(without_dot_the_graphs_are_listed) {
  char *page = page_of("EXPRC_DOT=/nonexistent/dot", example("mlp.expr"), "");
  ck_assert_ptr_null(strstr(page, "<svg"));
  ck_assert_int_eq(count(page, "No picture: Graphviz's /nonexistent/dot could"
                               " not be run"), 2);
  ck_assert_ptr_nonnull(strstr(page, "id=\"s-n10\""));
  ck_assert_ptr_nonnull(strstr(page, "id=\"a-n"));
  free(page);
  page = page_of("EXPRC_DOT=", example("mlp.expr"), "");
  ck_assert_ptr_nonnull(strstr(page, "No picture: EXPRC_DOT is empty"));
  free(page);
}
END_TEST

/* ---- errors ---- */

START_TEST(errors_write_no_page) {
  char *bad = tu_temp_file("input x[2]\noutput y\n", ".expr");
  char *page = tu_temp_file("old page\n", ".html"), *err = NULL, args[8192];
  snprintf(args, sizeof args, "'%s' -o '%s'", bad, page);
  ck_assert_int_eq(explain(NULL, args, NULL, &err), 1);
  ck_assert_msg(strstr(err, ":2:8: error:"), "no located message: %s", err);
  free(err);
  char *text = tu_read_file(page);
  ck_assert_str_eq(text, "old page\n"); /* untouched */
  free(text);
  snprintf(args, sizeof args, "'%s' --set x=[1,2,3,4] -o '%s'",
           example("mlp.expr"), page); /* y is not given */
  ck_assert_int_eq(explain(NULL, args, NULL, &err), 2);
  ck_assert_msg(strstr(err, "--set"), "%s", err);
  free(err);
  remove(page);
  ck_assert_int_eq(explain(NULL, args, NULL, &err), 2);
  ck_assert_int_ne(access(page, F_OK), 0); /* nor a new one */
  free(err);
  remove(bad);
  free(bad), free(page);
}
END_TEST

START_TEST(without_o_the_page_goes_to_stdout) {
  char *out = NULL, args[8192];
  snprintf(args, sizeof args, "'%s'", example("linear.expr"));
  ck_assert_int_eq(explain("EXPRC_DOT=", args, &out, NULL), 0);
  ck_assert_int_eq(strncmp(out, "<!DOCTYPE html>", 15), 0);
  ck_assert_ptr_nonnull(strstr(out, "</html>\n"));
  free(out);
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "'%s' help explain", tu_exprc());
  ck_assert_int_eq(tu_run(cmd, &out, NULL), 0);
  ck_assert_ptr_nonnull(strstr(out, "usage: exprc explain FILE"));
  free(out);
}
END_TEST

int main(int argc, char **argv) {
  tu_set_paths(argc, argv);
  collect("examples");
  collect("tests/models");
  Suite *s = suite_create("explain");
  TCase *c = tu_tcase("the C", 300);
  tcase_add_loop_test(c, the_c_on_the_page_is_exactly_emits, 0, nmodels);
  tcase_add_test(c, the_c_is_emits_with_every_plan);
  tcase_add_test(c, mlp_lines_compute_the_nodes_they_say);
  suite_add_tcase(s, c);
  TCase *v = tu_tcase("values", 60);
  tcase_add_test(v, values_are_the_hand_worked_ones);
  suite_add_tcase(s, v);
  TCase *p = tu_tcase("the page", 60);
  tcase_add_test(p, everything_from_the_model_is_escaped);
  tcase_add_test(p, the_page_loads_nothing);
  tcase_add_test(p, dot_draws_both_graphs);
  tcase_add_test(p, without_dot_the_graphs_are_listed);
  tcase_add_test(p, errors_write_no_page);
  tcase_add_test(p, without_o_the_page_goes_to_stdout);
  suite_add_tcase(s, p);
  int rc = tu_run_suite(s);
  for (int i = 0; i < nmodels; i++)
    free(models[i]);
  return rc;
}
