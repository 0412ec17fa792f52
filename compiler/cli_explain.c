/* cli_explain.c: `exprc explain FILE [--set NAME=VALUE]... [-o PAGE.html]`:
 * one self-contained HTML page (inline CSS and script, nothing fetched)
 * that shows the model's source, its graph after lowering + gradients and
 * after simplification, and the generated C, linked both ways: a source
 * line selects its nodes and C lines, a C line its node and source line.
 *
 * Which C lines compute which node comes from the emitter itself: run with
 * marks (emit_c.h: emit_mark_nodes), it brackets each statement with the
 * node it computes; the marks are taken out here, and the text left is the
 * C that `exprc emit` prints (tests/test_explain.c checks it). A node
 * computed inside its reader's expression (fused) or a view has no lines of
 * its own: it is shown with its readers' lines, marked "inline".
 *
 * With --set, each node of the simplified graph shows its value's shape,
 * least and greatest element and NaN count. The values come from the
 * generated code itself, compiled once more with every live node made a
 * result of the forward entry point (model.h: model_compile_file_hooked),
 * so no node is fused away or shares a buffer; the C on the page is the
 * ordinary one. The graph before simplification has no values (its nodes
 * are not all computed by any code).
 *
 * The pictures are Graphviz's `dot -Tsvg`, inlined, when dot can be run
 * (EXPRC_DOT names another program; set and empty, none); otherwise the
 * nodes are a table only (the table is always there).
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io.h"
#include "model.h"

extern char **environ;

#define DOT_MAX_NODES 1500 /* larger graphs: the table alone */

/* A node's value, from the compiled code (--set). */
typedef struct Summary {
  int has, rank;
  int64_t shape[EXPRC_MAX_RANK], size, nnan;
  double min, max;
} Summary;

/* Sorted distinct line numbers. */
typedef struct Lines {
  uint32_t *l;
  uint32_t n, cap;
} Lines;

typedef struct Page {
  const Args *a;
  const exprc_options *o;
  const char *src;
  size_t len;
  Summary *val;     /* by node of the simplified graph; NULL without --set */
  uint32_t nval;
  char *graph[2];   /* HTML: after lowering + gradients, after simplify */
  char *json[2];    /* JSON members of each graph's map */
  char *c_html;     /* the generated C */
  char *cmap;       /* JSON members: the C's map (c_map) */
  int rc;
} Page;

static void lines_add(Lines *s, uint32_t x) {
  uint32_t k = s->n;
  while (k > 0 && s->l[k - 1] > x)
    k--;
  if (k > 0 && s->l[k - 1] == x)
    return;
  if (s->n == s->cap) {
    uint32_t cap = s->cap ? 2 * s->cap : 4;
    uint32_t *nl = realloc(s->l, cap * sizeof *nl);
    if (!nl)
      return; /* out of memory: a shorter list, not a crash */
    s->l = nl, s->cap = cap;
  }
  memmove(s->l + k + 1, s->l + k, (s->n - k) * sizeof *s->l);
  s->l[k] = x;
  s->n++;
}

static void lines_free(Lines *s, uint32_t n) {
  for (uint32_t i = 0; s && i < n; i++)
    free(s[i].l);
  free(s);
}

/* ---- text ---- */

static void html(FILE *f, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    switch (s[i]) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&#39;", f); break;
    default: fputc(s[i], f);
    }
  }
}

static void html_str(FILE *f, const char *s) { html(f, s, strlen(s)); }

static void number(FILE *f, double x) {
  char buf[40];
  exprc_rt_format(buf, sizeof buf, "%.4g", x); /* a point in every locale */
  fputs(buf, f);
}

/* Lines of text, each a selectable row: id and class prefix-K, and the
 * node each computes (data-n) when node is given. */
static void text_rows(FILE *f, const char *s, size_t n, const char *prefix,
                      const int64_t *node) {
  uint32_t k = 1;
  for (size_t i = 0; i < n || (i == n && n == 0);) {
    const char *nl = memchr(s + i, '\n', n - i);
    size_t end = nl ? (size_t)(nl - s) : n;
    fprintf(f, "<div class=\"row %s-line\" id=\"%s-%u\" data-line=\"%u\"",
            prefix, prefix, k, k);
    if (node && node[k - 1] >= 0)
      fprintf(f, " data-n=\"%lld\"", (long long)node[k - 1]);
    fprintf(f, "><span class=\"ln\">%u</span><span class=\"tx\">", k);
    html(f, s + i, end - i);
    fputs("</span></div>\n", f);
    k++;
    if (!nl)
      break;
    i = end + 1;
    if (i == n)
      break; /* a final newline ends the last line */
  }
}

static void json_lines(FILE *f, const Lines *s) {
  fputc('[', f);
  for (uint32_t k = 0; k < s->n; k++)
    fprintf(f, "%s%u", k ? "," : "", s->l[k]);
  fputc(']', f);
}

/* ---- the generated C and its marks ---- */

/* The emitter's text without its marks (\2 node ; opens the lines of a
 * node, \3 closes them), and for each line the innermost node open there
 * (-1: none, such as declarations and loop headers). */
typedef struct CText {
  char *text;
  size_t len;
  int64_t *node;
  uint32_t nlines;
} CText;

static int strip_marks(const char *in, CText *ct) {
  enum { DEPTH = 64 };
  int64_t stack[DEPTH], here = -1;
  int depth = 0;
  size_t n = strlen(in), cap = 64;
  ct->text = malloc(n + 1);
  ct->node = malloc(cap * sizeof *ct->node);
  ct->len = 0, ct->nlines = 0;
  if (!ct->text || !ct->node)
    return 0;
  int start = 1; /* at the start of a line */
  for (const char *s = in; *s; s++) {
    if (*s == '\2') {
      char *semi;
      int64_t x = strtoll(s + 1, &semi, 10);
      if (depth < DEPTH)
        stack[depth] = x;
      depth++;
      if (!start && here < 0)
        here = x;
      s = semi;
      continue;
    }
    if (*s == '\3') {
      depth -= depth > 0;
      continue;
    }
    if (start)
      here = depth > 0 && depth <= DEPTH ? stack[depth - 1] : -1, start = 0;
    ct->text[ct->len++] = *s;
    if (*s == '\n') {
      if (ct->nlines + 1 >= cap) {
        int64_t *nn = realloc(ct->node, 2 * cap * sizeof *nn);
        if (!nn)
          return 0;
        ct->node = nn, cap *= 2;
      }
      ct->node[ct->nlines++] = here;
      start = 1, here = -1;
    }
  }
  if (!start)
    ct->node[ct->nlines++] = here;
  ct->text[ct->len] = 0;
  return 1;
}

static int is_leaf(const Node *nd) {
  return nd->op == OP_INPUT || nd->op == OP_PARAM || nd->op == OP_CONST ||
         nd->op == OP_DIMVAL;
}

/* Each node's C lines: its own, or for a node with none (fused into its
 * reader, or a view), its readers'. Readers come after what they read, so
 * one sweep from the end gives every reader its lines first. */
static Lines *node_c_lines(Module *mod, const CText *ct, const uint8_t *live,
                           uint8_t *inl) {
  Graph *g = mod->g;
  Lines *nc = calloc(g->n + 1, sizeof *nc);
  if (!nc)
    return NULL;
  for (uint32_t k = 0; k < ct->nlines; k++)
    if (ct->node[k] >= 0 && (uint64_t)ct->node[k] < g->n)
      lines_add(&nc[ct->node[k]], k + 1);
  for (uint32_t i = 0; i < g->n; i++)
    inl[i] = live[i] && nc[i].n == 0 && !is_leaf(&g->node[i]);
  for (uint32_t j = g->n; j-- > 0;) {
    if (!live[j] || nc[j].n == 0)
      continue;
    for (int k = 0; k < g->node[j].nin; k++) {
      uint32_t i = g->node[j].in[k];
      for (uint32_t t = 0; inl[i] && t < nc[j].n; t++)
        lines_add(&nc[i], nc[j].l[t]);
    }
  }
  return nc;
}

/* ---- Graphviz ---- */

static void dot_node(FILE *f, Module *mod, const Page *P, char tag,
                     uint32_t i) {
  Node *nd = &mod->g->node[i];
  char lab[160], sb[128];
  node_label(mod, i, lab, sizeof lab);
  const char *fill = nd->op == OP_INPUT   ? "#d9ead3"
                     : nd->op == OP_PARAM ? "#fff2cc"
                     : is_leaf(nd)        ? "#eeeeee"
                     : nd->flags & N_BACKWARD ? "#f4cccc"
                                              : "#cfe2f3";
  fprintf(f, "  n%u [id=\"%c_svg_n%u\", fillcolor=\"%s\", label=\"n%u ", i,
          tag, i, fill, i);
  for (const char *s = lab; *s; s++) /* var names are identifiers; still */
    fprintf(f, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
  fprintf(f, "\\n%s", shape_str(nd->shape, mod->dim, sb, sizeof sb));
  if (tag == 's' && P->val && i < P->nval && P->val[i].has) {
    fputs("\\n", f);
    number(f, P->val[i].min);
    fputs(" .. ", f);
    number(f, P->val[i].max);
    if (P->val[i].nnan)
      fprintf(f, ", %lld NaN", (long long)P->val[i].nnan);
  }
  fputs("\"];\n", f);
}

static char *dot_text(Module *mod, const Page *P, char tag,
                      const uint8_t *live) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f)
    return NULL;
  fprintf(f, "digraph exprc {\n  id=\"%c_graph\";\n  bgcolor=\"transparent\";\n"
          "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\","
          " fontsize=10];\n  edge [color=\"#777777\", arrowsize=0.6];\n", tag);
  uint32_t edge = 0;
  for (uint32_t i = 0; i < mod->g->n; i++) {
    if (!live[i])
      continue;
    dot_node(f, mod, P, tag, i);
    for (int k = 0; k < mod->g->node[i].nin; k++)
      fprintf(f, "  n%u -> n%u [id=\"%c_e%u\"];\n", mod->g->node[i].in[k], i,
              tag, edge++);
  }
  fputs("}\n", f);
  fclose(f);
  return buf;
}

/* Run prog -Tsvg on the dot text; the SVG element, or NULL with why. */
static char *run_dot(const char *prog, const char *text, char *why, size_t wn) {
  const char *dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR")
                                                          : "/tmp";
  char in[4096], out[4096];
  snprintf(in, sizeof in, "%s/exprc-explain-XXXXXX", dir);
  snprintf(out, sizeof out, "%s/exprc-explain-XXXXXX", dir);
  int fi = mkstemp(in), fo = fi >= 0 ? mkstemp(out) : -1;
  char *svg = NULL;
  size_t len = strlen(text);
  if (fo < 0 || write(fi, text, len) != (ssize_t)len) {
    snprintf(why, wn, "could not write a temporary file: %s", strerror(errno));
  } else {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    char *argv[] = {(char *)prog, "-Tsvg", "-o", out, in, NULL};
    pid_t pid;
    int st = 0, err = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err)
      snprintf(why, wn, "Graphviz's %s could not be run (%s)", prog,
               strerror(err));
    else if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
      snprintf(why, wn, "Graphviz's %s failed (status %d)", prog,
               WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    else
      svg = model_read_file(out, &len, (int64_t)64 << 20);
  }
  if (fi >= 0)
    close(fi), unlink(in);
  if (fo >= 0)
    close(fo), unlink(out);
  char *start = svg ? strstr(svg, "<svg") : NULL;
  if (svg && !start)
    snprintf(why, wn, "Graphviz's %s wrote no SVG", prog);
  if (start)
    memmove(svg, start, strlen(start) + 1);
  else
    free(svg), svg = NULL;
  return svg;
}

static char *graph_svg(Module *mod, const Page *P, char tag,
                       const uint8_t *live, uint32_t nlive, char *why,
                       size_t wn) {
  const char *prog = getenv("EXPRC_DOT");
  if (prog && !*prog) {
    snprintf(why, wn, "EXPRC_DOT is empty: no picture");
    return NULL;
  }
  if (nlive > DOT_MAX_NODES) {
    snprintf(why, wn, "%u nodes are too many for a picture", nlive);
    return NULL;
  }
  char *text = dot_text(mod, P, tag, live);
  char *svg = text ? run_dot(prog ? prog : "dot", text, why, wn) : NULL;
  free(text);
  return svg;
}

/* ---- a graph: its picture and its table ---- */

static void value_cell(FILE *f, const Summary *v) {
  if (!v || !v->has) {
    fputs("<td class=\"val\"></td>", f);
    return;
  }
  fputs("<td class=\"val\">[", f);
  for (int d = 0; d < v->rank; d++)
    fprintf(f, "%s%lld", d ? ", " : "", (long long)v->shape[d]);
  fputs("] min ", f);
  number(f, v->min);
  fputs(" max ", f);
  number(f, v->max);
  fprintf(f, v->nnan ? " <b class=\"nan\">NaN %lld</b></td>" : " NaN %lld</td>",
          (long long)v->nnan);
}

static void node_row(FILE *f, Module *mod, const Page *P, char tag,
                     uint32_t i, const Lines *nc, const uint8_t *inl) {
  Node *nd = &mod->g->node[i];
  char lab[160], sb[128];
  node_label(mod, i, lab, sizeof lab);
  int bwd = (nd->flags & N_BACKWARD) != 0;
  fprintf(f, "<tr class=\"node %s\" id=\"%c-n%u\" data-g=\"%c\" data-n=\"%u\">"
          "<td>n%u</td><td>", bwd ? "bwd" : "fwd", tag, i, tag, i, i);
  html_str(f, lab);
  fputs("</td><td>", f);
  for (int k = 0; k < nd->nin; k++)
    fprintf(f, "%sn%u", k ? " " : "", nd->in[k]);
  fputs("</td><td>", f);
  html_str(f, shape_str(nd->shape, mod->dim, sb, sizeof sb));
  fprintf(f, "</td><td>%s</td><td>%u</td>", bwd ? "backward" : "forward",
          nd->pos.line);
  if (P->val)
    value_cell(f, tag == 's' && i < P->nval ? &P->val[i] : NULL);
  if (nc) {
    fputs("<td>", f);
    if (inl[i] && nc[i].n)
      fputs("inline, ", f);
    fprintf(f, "%u</td>", nc[i].n);
  }
  fputs("</tr>\n", f);
}

static void results_list(FILE *f, Module *mod, char tag) {
  fputs("<ul class=\"results\">", f);
  for (uint32_t k = 0; k < mod->nentry; k++)
    for (uint32_t r = 0; r < mod->entry[k].nres; r++) {
      Entry *e = &mod->entry[k];
      fputs("<li>", f);
      if (e->is_grad && r > 0) {
        fputs("d", f);
        html_str(f, e->loss);
        fputs("/d", f);
      } else {
        fputs(e->is_grad ? "loss " : "output ", f);
      }
      html_str(f, e->res[r].name);
      if (e->res[r].node != NONE)
        fprintf(f, " = <a href=\"#\" class=\"ref\" data-g=\"%c\" data-n=\"%u\">"
                "n%u</a>", tag, e->res[r].node, e->res[r].node);
      fputs("</li>", f);
    }
  fputs("</ul>\n", f);
}

/* The section of one graph (tag 'a': after lowering + gradients, 's':
 * simplified) into P->graph[], and its map (node -> source line) into
 * P->json[]. nc and inl: the C lines of each node ('s' only). */
static void graph_section(Module *mod, Page *P, char tag, const uint8_t *live,
                          const Lines *nc, const uint8_t *inl) {
  size_t n;
  uint32_t nf = 0, nb = 0;
  for (uint32_t i = 0; i < mod->g->n; i++)
    if (live[i])
      *(mod->g->node[i].flags & N_BACKWARD ? &nb : &nf) += 1;
  char why[256] = "";
  char *svg = graph_svg(mod, P, tag, live, nf + nb, why, sizeof why);
  FILE *f = open_memstream(&P->graph[tag == 's'], &n);
  if (!f)
    return;
  fprintf(f, "<div class=\"graph\" id=\"g-%c\"%s>\n<p class=\"counts\">%u nodes:"
          " %u forward, %u backward</p>\n", tag, tag == 'a' ? " hidden" : "",
          nf + nb, nf, nb);
  if (svg)
    fprintf(f, "<div class=\"svg\">%s</div>\n", svg);
  else
    fprintf(f, "<p class=\"note\">No picture: %s. The nodes are listed "
            "below.</p>\n", why);
  free(svg);
  results_list(f, mod, tag);
  fprintf(f, "<div class=\"tablebox\"><table class=\"nodes\"><thead><tr><th>node</th><th>op</th>"
          "<th>reads</th><th>shape</th><th>pass</th><th>line</th>%s%s</tr>"
          "</thead><tbody>\n", P->val ? "<th>value</th>" : "",
          nc ? "<th>C lines</th>" : "");
  for (uint32_t i = 0; i < mod->g->n; i++)
    if (live[i])
      node_row(f, mod, P, tag, i, nc, inl);
  fputs("</tbody></table></div>\n</div>\n", f);
  fclose(f);
  f = open_memstream(&P->json[tag == 's'], &n);
  if (!f)
    return;
  fprintf(f, "\"%c\":{", tag);
  for (uint32_t i = 0, first = 1; i < mod->g->n; i++)
    if (live[i])
      fprintf(f, "%s\"%u\":%u", first ? "" : ",", i, mod->g->node[i].pos.line),
          first = 0;
  fputc('}', f);
  fclose(f);
}

/* ---- the simplified graph, the C, and how they map ---- */

/* The map's members for the C: the node of each C line, the C lines of
 * each node (with "inline" ones), and of each source line. */
static void c_map(FILE *f, Module *mod, const CText *ct, const Lines *nc,
                  const uint8_t *inl, const uint8_t *live, uint32_t nsrc) {
  fputs(",\n\"cNode\":[", f);
  for (uint32_t k = 0; k < ct->nlines; k++)
    fprintf(f, "%s%lld", k ? "," : "", (long long)ct->node[k]);
  fputs("],\n\"nodeC\":{", f);
  Lines *sc = calloc(nsrc + 2, sizeof *sc);
  for (uint32_t i = 0, first = 1; i < mod->g->n; i++) {
    if (!live[i] || nc[i].n == 0)
      continue;
    fprintf(f, "%s\"%u\":", first ? "" : ",", i), first = 0;
    json_lines(f, &nc[i]);
    uint32_t line = mod->g->node[i].pos.line;
    for (uint32_t t = 0; sc && line <= nsrc && t < nc[i].n; t++)
      lines_add(&sc[line], nc[i].l[t]);
  }
  fputs("},\n\"inline\":[", f);
  for (uint32_t i = 0, first = 1; i < mod->g->n; i++)
    if (inl[i])
      fprintf(f, "%s%u", first ? "" : ",", i), first = 0;
  fputs("],\n\"srcC\":{", f);
  for (uint32_t line = 1, first = 1; sc && line <= nsrc; line++)
    if (sc[line].n) {
      fprintf(f, "%s\"%u\":", first ? "" : ",", line), first = 0;
      json_lines(f, &sc[line]);
    }
  fputc('}', f);
  lines_free(sc, nsrc + 2);
}

static uint32_t count_lines(const char *s, size_t n) {
  uint32_t k = 1;
  for (size_t i = 0; i + 1 < n; i++)
    k += s[i] == '\n';
  return k;
}

/* The C section and the simplified graph's section, from one module. */
static void simplified(Module *mod, Page *P) {
  Plan plan = model_plan(P->o);
  char *marked = model_back_marked(mod->g->c, mod, &plan, 1);
  uint8_t *live = calloc(mod->g->n + 1, 1), *inl = calloc(mod->g->n + 1, 1);
  CText ct = {0};
  Lines *nc = NULL;
  if (live && inl && strip_marks(marked, &ct)) {
    module_live(mod, live);
    nc = node_c_lines(mod, &ct, live, inl);
  }
  if (nc) {
    graph_section(mod, P, 's', live, nc, inl);
    size_t n;
    FILE *f = open_memstream(&P->c_html, &n);
    if (f) {
      text_rows(f, ct.text, ct.len, "c", ct.node);
      fclose(f);
    }
    f = open_memstream(&P->cmap, &n);
    if (f) {
      c_map(f, mod, &ct, nc, inl, live, count_lines(P->src, P->len));
      fclose(f);
    }
  }
  if (!nc || !P->c_html || !P->cmap || !P->json[1] || !P->graph[1])
    P->rc = 1, fprintf(stderr, "exprc: explain: out of memory\n");
  lines_free(nc, mod->g->n + 1);
  free(ct.text), free(ct.node), free(live), free(inl);
}

/* ---- node values (--set) ---- */

/* Every live node becomes a result "#<id>" of the forward entry point (a
 * name no model can use), so that the compiled code keeps every value. */
typedef struct Probe {
  uint32_t n;
  uint8_t *ops;
} Probe;

static void every_node_a_result(Module *mod, void *arg) {
  Probe *pr = arg;
  Graph *g = mod->g;
  uint8_t *live = ctx_alloc(g->c, g->n + 1);
  module_live(mod, live);
  pr->n = g->n;
  pr->ops = malloc(g->n + 1);
  if (!pr->ops || mod->nentry == 0)
    return;
  Entry *e = &mod->entry[0];
  for (uint32_t i = 0; i < g->n; i++) {
    pr->ops[i] = g->node[i].op;
    if (!live[i])
      continue;
    char *name = ctx_alloc(g->c, 16);
    snprintf(name, 16, "#%u", i);
    vec_reserve(g->c, &e->res, &e->cap, e->nres + 1, sizeof *e->res);
    e->res[e->nres++] = (Result){.name = name, .node = i, .slot = -1};
  }
}

static void summarize(const exprc_tensor *t, Summary *v) {
  v->has = 1;
  v->rank = t->rank;
  memcpy(v->shape, t->shape, sizeof v->shape);
  v->size = t->size;
  v->min = INFINITY, v->max = -INFINITY;
  for (int64_t k = 0; k < t->size; k++) {
    double x = t->data[k];
    if (isnan(x))
      v->nnan++;
    else
      v->min = x < v->min ? x : v->min, v->max = x > v->max ? x : v->max;
  }
}

/* Compile the probe, apply --set, run it, keep each node's summary. */
static int node_values(Page *P, Probe *pr) {
  exprc_model *m;
  exprc_status st = model_compile_file_hooked(P->a->file, P->o,
                                              every_node_a_result, pr, &m);
  if (st != EXPRC_OK) {
    const char *msg = exprc_errmsg(m);
    fprintf(stderr, "%s%s", msg, *msg && msg[strlen(msg) - 1] != '\n' ? "\n" : "");
    exprc_free(m);
    return st == EXPRC_ERR_IO ? 2 : 1;
  }
  int rc = cli_apply_sets(m, P->a);
  if (rc == 0 && (st = exprc_forward(m)) != EXPRC_OK) {
    fprintf(stderr, "exprc: %s%s\n", exprc_errmsg(m),
            st == EXPRC_ERR_STATE ? " (give it with --set NAME=VALUE)" : "");
    rc = st == EXPRC_ERR_STATE ? 2 : 1;
  }
  P->val = rc ? NULL : calloc(pr->n + 1, sizeof *P->val);
  P->nval = P->val ? pr->n : 0;
  for (uint32_t i = 0; P->val && i < pr->n; i++) {
    char name[16];
    exprc_tensor t;
    snprintf(name, sizeof name, "#%u", i);
    if (exprc_find(m, name, &t) == EXPRC_OK && t.data)
      summarize(&t, &P->val[i]);
  }
  exprc_free(m);
  return rc;
}

/* ---- the compiler's runs ---- */

typedef struct Run {
  Page *P;
  Pass last;
  const Probe *pr;
} Run;

static void run_front(Ctx *c, void *arg) {
  Run *r = arg;
  Page *P = r->P;
  Module *mod = model_front(c, P->o, r->last, NULL);
  if (r->last != PASS_SIMPLIFY) {
    uint8_t *live = calloc(mod->g->n + 1, 1);
    if (live)
      module_live(mod, live), graph_section(mod, P, 'a', live, NULL, NULL);
    free(live);
    return;
  }
  int same = r->pr->n == mod->g->n; /* the probe numbered the same nodes */
  for (uint32_t i = 0; same && r->pr->ops && i < mod->g->n; i++)
    same = r->pr->ops[i] == mod->g->node[i].op;
  if (P->val && !same) {
    fprintf(stderr, "exprc: explain: the values' compile made another graph;"
            " the page shows none\n");
    free(P->val), P->val = NULL;
  }
  simplified(mod, P);
}

static int compile_run(Page *P, Pass last, const Probe *pr) {
  Ctx c;
  ctx_init(&c, P->a->file, P->src, P->len, &P->o->limits);
  Run r = {P, last, pr};
  int rc = 0;
  if (ctx_protect(&c, run_front, &r) != EXPRC_OK) {
    fputs(c.msg, stderr);
    rc = 1;
  }
  ctx_free(&c);
  return rc;
}

/* ---- the page ---- */

static const char css[] =
    "*{box-sizing:border-box}body{margin:0;font:13px/1.35 system-ui,sans-serif;"
    "color:#222;background:#fafafa}header{padding:6px 12px;background:#2d3e50;"
    "color:#fff}header h1{display:inline;font-size:16px;margin:0 12px 0 0}"
    "#status{display:inline-block;margin-left:12px;color:#ffe08a}"
    "main{display:grid;grid-template-columns:minmax(0,30fr) minmax(0,38fr) "
    "minmax(0,32fr);height:calc(100vh - 34px)}section{overflow:auto;"
    "border-right:1px solid #ccc;padding:0 6px}[hidden]{display:none!important}"
    "#graphs{display:flex;flex-direction:column;overflow:hidden}"
    ".graph{flex:1;display:flex;flex-direction:column;min-height:0}"
    ".svg{flex:0 0 50%;overflow:auto;border:1px solid #ddd;background:#fff}"
    ".tablebox{flex:1;overflow:auto;min-height:0}h2{font-size:14px;margin:6px 0}"
    ".row{font:12px/1.4 ui-monospace,monospace;white-space:pre;cursor:pointer}"
    ".row:hover{background:#eef}.ln{display:inline-block;width:3.5em;color:#999;"
    "text-align:right;margin-right:8px;user-select:none}"
    ".row[data-n] .ln{color:#557}.hl{background:#ffe08a!important}"
    ".hl2{background:#fff3c4!important}tr.node{cursor:pointer}"
    "table.nodes{border-collapse:collapse;font-size:12px;width:100%}"
    "table.nodes td,table.nodes th{border-bottom:1px solid #e4e4e4;"
    "padding:1px 4px;text-align:left;white-space:nowrap}"
    "thead th{position:sticky;top:0;background:#eee}"
    "tr.bwd td:first-child{border-left:4px solid #e06666}"
    "tr.fwd td:first-child{border-left:4px solid #6fa8dc}"
    ".nan{color:#c00}.note{color:#855;margin:2px 0}p.counts{margin:2px 0}"
    "g.node{cursor:pointer}g.node.hl polygon,g.node.hl path{stroke:#e69138;"
    "stroke-width:4px}nav button{margin-right:4px}nav button.on{font-weight:bold}"
    ".legend span{padding:0 6px;margin-right:4px}ul.results{margin:4px 0;"
    "padding-left:18px;font-size:12px}";

/* Selecting: a source line lights its nodes (both graphs) and C lines; a
 * C line its node, that node's other C lines (lighter) and its source line;
 * a node its source line and C lines. The map is the JSON above it. */
static const char script[] =
    "(function(){'use strict';\n"
    "var M=JSON.parse(document.getElementById('exprc-map').textContent);\n"
    "function $(id){return document.getElementById(id);}\n"
    "function clear(){document.querySelectorAll('.hl,.hl2').forEach("
    "function(e){e.classList.remove('hl','hl2');});}\n"
    "function lit(e,c){if(e)e.classList.add(c||'hl');return e;}\n"
    "function node(g,n,c){lit($(g+'-n'+n),c);lit($(g+'_svg_n'+n),c);}\n"
    "function show(e){if(e)e.scrollIntoView({block:'center'});}\n"
    "function say(t){$('status').textContent=t;}\n"
    "function cl(k){return $('c-'+k);}\n"
    "function srcLine(L){clear();var s=lit($('src-'+L)),k=0,cs=M.srcC[L]||[];"
    "['a','s'].forEach(function(g){for(var n in M.nodeLine[g])"
    "if(M.nodeLine[g][n]==L){node(g,n);if(g=='s')k++;}});"
    "cs.forEach(function(c){lit(cl(c));});show(s);show(cl(cs[0]));"
    "show(document.querySelector('.graph:not([hidden]) tr.hl'));"
    "show(document.querySelector('.graph:not([hidden]) g.node.hl'));"
    "say('model line '+L+': '+k+' nodes, '+cs.length+' lines of C');}\n"
    "function cLine(k){clear();var n=M.cNode[k-1];lit(cl(k));"
    "if(n<0){say('C line '+k+': no node');return;}"
    "(M.nodeC[n]||[]).forEach(function(c){if(c!=k)lit(cl(c),'hl2');});"
    "node('s',n);var L=M.nodeLine.s[n];show(lit($('src-'+L)));"
    "show($('s-n'+n));show($('s_svg_n'+n));say('C line '+k+': node n'+n+', model line '+L);}\n"
    "function pick(g,n){clear();node(g,n);var L=M.nodeLine[g][n];"
    "show(lit($('src-'+L)));var cs=g=='s'?M.nodeC[n]||[]:[];"
    "cs.forEach(function(c){lit(cl(c));});show(cl(cs[0]));"
    "say('node n'+n+': model line '+L+', '+cs.length+' lines of C'+"
    "(M.inline.indexOf(+n)>=0?' (computed inline in its readers)':''));}\n"
    "document.querySelectorAll('.src-line').forEach(function(e){"
    "e.addEventListener('click',function(){srcLine(+e.dataset.line);});});\n"
    "document.querySelectorAll('.c-line').forEach(function(e){"
    "e.addEventListener('click',function(){cLine(+e.dataset.line);});});\n"
    "document.querySelectorAll('tr.node,a.ref').forEach(function(e){"
    "e.addEventListener('click',function(ev){ev.preventDefault();"
    "tab(e.dataset.g);pick(e.dataset.g,e.dataset.n);});});\n"
    "document.querySelectorAll('g.node[id]').forEach(function(e){"
    "var m=/^([as])_svg_n(\\d+)$/.exec(e.id);if(m)e.addEventListener('click',"
    "function(){pick(m[1],m[2]);});});\n"
    "function tab(g){document.querySelectorAll('.graph').forEach(function(d){"
    "d.hidden=d.id!='g-'+g;});document.querySelectorAll('nav button')."
    "forEach(function(b){b.classList.toggle('on',b.dataset.g==g);});}\n"
    "document.querySelectorAll('nav button').forEach(function(b){"
    "b.addEventListener('click',function(){tab(b.dataset.g);});});\n"
    "})();\n";

static void page_head(FILE *f, const Page *P) {
  fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        "<meta name=\"generator\" content=\"exprc explain\">\n<title>", f);
  html_str(f, P->a->file);
  fprintf(f, " - exprc explain</title>\n<style>%s</style></head>\n<body>\n"
          "<header><h1>exprc explain</h1>", css);
  html_str(f, P->a->file);
  fputs("<span id=\"status\">Click a line of the model, a node, or a line of"
        " C.</span></header>\n<main>\n<section id=\"source\"><h2>Model</h2>\n",
        f);
  text_rows(f, P->src, P->len, "src", NULL);
  fputs("</section>\n<section id=\"graphs\"><h2>Graph</h2>\n<nav>"
        "<button data-g=\"s\" class=\"on\">after simplification</button>"
        "<button data-g=\"a\">after lowering + gradients</button></nav>\n"
        "<p class=\"legend\"><span style=\"background:#cfe2f3\">forward</span>"
        "<span style=\"background:#f4cccc\">backward</span>"
        "<span style=\"background:#d9ead3\">input</span>"
        "<span style=\"background:#fff2cc\">param</span></p>\n", f);
  if (!P->val)
    fputs("<p class=\"note\">No values: run with --set NAME=VALUE for every"
          " input to see each node's.</p>\n", f);
  else
    fputs("<p class=\"note\">Values: computed by the generated code compiled"
          " once more with every node, forward and backward, kept as a result"
          " (none fused away).</p>\n", f);
}

static int write_page(FILE *f, const Page *P) {
  page_head(f, P);
  fputs(P->graph[1], f);
  fputs(P->graph[0], f);
  fputs("</section>\n<section id=\"code\"><h2>Generated C</h2>\n", f);
  fputs(P->c_html, f);
  fprintf(f, "</section>\n</main>\n<script type=\"application/json\" "
          "id=\"exprc-map\">{\"nodeLine\":{%s,%s}%s}</script>\n"
          "<script>%s</script>\n</body></html>\n", P->json[0], P->json[1],
          P->cmap, script);
  return !ferror(f);
}

static void page_free(Page *P) {
  free(P->val);
  for (int k = 0; k < 2; k++)
    free(P->graph[k]), free(P->json[k]);
  free(P->c_html), free(P->cmap);
}

static int write_out(const Args *a, const Page *P) {
  char err[1024];
  exprc_rt_out o;
  if (!a->out)
    return write_page(stdout, P) && fflush(stdout) == 0 ? 0 : 2;
  if (exprc_rt_out_open(&o, a->out, err, sizeof err) == 0 &&
      exprc_rt_out_close(&o, write_page(o.f, P), err, sizeof err) == 0)
    return 0;
  fprintf(stderr, "exprc: %s\n", err);
  return 2;
}

int cmd_explain(const Args *a) {
  exprc_options o;
  cli_options(a, &o);
  size_t len;
  char *src = model_read_file(a->file, &len, o.limits.max_file_size);
  if (!src) {
    fprintf(stderr, "exprc: %s: %s\n", a->file,
            errno == EILSEQ ? "file contains a NUL byte" : strerror(errno));
    return errno == EFBIG || errno == EILSEQ ? 1 : 2;
  }
  Page P = {.a = a, .o = &o, .src = src, .len = len};
  Probe pr = {0};
  int rc = compile_run(&P, PASS_GRAD, NULL); /* errors: located, first */
  if (rc == 0 && a->nset > 0)
    rc = node_values(&P, &pr);
  if (rc == 0)
    rc = compile_run(&P, PASS_SIMPLIFY, &pr);
  if (rc == 0 && P.rc == 0 && !P.graph[0])
    P.rc = 1, fprintf(stderr, "exprc: explain: out of memory\n");
  if (rc == 0)
    rc = P.rc ? P.rc : write_out(a, &P);
  page_free(&P);
  free(pr.ops);
  free(src);
  return rc;
}
