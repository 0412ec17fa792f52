/* emit_header.c: the header of `exprc emit --header`.
 *
 * A program that compiles the generated C ahead of time needs what the
 * model knows and the C does not say: which slot S[i] is which tensor, its
 * shape, and which D[k] is which dim. The header says it as macros (slot and
 * dim numbers), prototypes of the entry points, and xc_slot_size(), which
 * gives every slot's element count, temporaries included, for given dims.
 * It describes the C that model_back() makes from the same Module and Plan.
 */
#include "emit.h"

#include <string.h>

#include "io.h"

/* A macro name from parts: what is not a letter, digit or '_' becomes
 * '_' (an unnamed output is named by its source text, such as "x + 1"). */
static char *macro_name(Emitter *E, const char *a, const char *b,
                        const char *c) {
  size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
  char *buf = ctx_alloc(E->c, n), *o = buf;
  snprintf(buf, n, "%s%s%s", a, b, c);
  for (; *o; o++)
    if (!((*o >= 'a' && *o <= 'z') || (*o >= 'A' && *o <= 'Z') ||
          (*o >= '0' && *o <= '9') || *o == '_'))
      *o = '_';
  return buf;
}

/* Text for inside a C comment: no end of comment, no trigraph (-std=c99
 * reads ??/ as a backslash), no line breaks. */
static void comment_text(Emitter *E, const char *s) {
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if ((ch == '*' && s[1] == '/') || (ch == '?' && s[1] == '?'))
      em_put(E, &E->out, "%c ", ch);
    else
      em_put(E, &E->out, "%c", ch < 0x20 || ch >= 0x7f ? ' ' : ch);
  }
}

/* What the header says of a slot: its macro (NULL for a temporary), what
 * it holds (*kind, and a label for the comments: dL/dp for a gradient) and
 * its shape. Made for all slots at once, in one pass over the results, so
 * that the header takes time linear in their number. */
typedef struct SlotInfo {
  const char *mac, *kind, *label;
  Shape shape;
  int set;
} SlotInfo;

static void result_info(Emitter *E, Entry *e, uint32_t r, SlotInfo *in) {
  const char *nm = e->res[r].name;
  in->kind = !e->is_grad ? "output" : r == 0 ? "loss" : "gradient";
  in->label = nm;
  in->shape = *at(E, e->res[r].node)->shape;
  if (!e->is_grad)
    in->mac = macro_name(E, "XC_OUTPUT_", nm, "");
  else if (r == 0)
    in->mac = macro_name(E, "XC_LOSS_", nm, "");
  else {
    in->mac = macro_name(E, macro_name(E, "XC_GRAD_", e->loss, "_"), nm, "");
    char *lab = ctx_alloc(E->c, strlen(nm) + strlen(e->loss) + 4);
    sprintf(lab, "d%s/d%s", e->loss, nm);
    in->label = lab;
  }
}

static SlotInfo *slot_infos(Emitter *E, int nslots) {
  Module *m = E->m;
  SlotInfo *info = ctx_alloc(E->c, (size_t)(nslots + 1) * sizeof *info);
  for (int s = 0; s < nslots && s < (int)m->nvar; s++) {
    Var *v = &m->var[s];
    info[s] = (SlotInfo){macro_name(E, v->kind == V_INPUT ? "XC_INPUT_"
                                       : "XC_PARAM_", v->name, ""),
                         v->kind != V_INPUT ? "param"
                         : v->is_int ? "int input" /* whole doubles */
                                     : "input", v->name,
                         v->shape, 1};
  }
  for (uint32_t k = 0; k < m->nentry; k++)
    for (uint32_t r = 0; r < m->entry[k].nres; r++) {
      int s = m->entry[k].res[r].slot;
      if (s >= (int)m->nvar && s < nslots && !info[s].set) { /* the first */
        result_info(E, &m->entry[k], r, &info[s]);
        info[s].set = 1;
      }
    }
  for (int s = (int)m->nvar; s < nslots; s++)
    if (s == m->nslot + (int)E->plan->ntemp) /* --check-finite's status */
      info[s] = (SlotInfo){NULL, "check-finite status (xc_status_slot)", "",
                           (Shape){.rank = 1, .d = {2}}, 1};
    else if (!info[s].set)
      info[s] = (SlotInfo){NULL, "temporary", "",
                           s >= m->nslot ? E->plan->temp[s - m->nslot]
                                         : (Shape){0}, 1};
  return info;
}

/* "grad L wrt a, b" or "outputs a, b": what entry k computes. */
static void entry_summary(Emitter *E, Entry *e) {
  if (e->is_grad)
    em_put(E, &E->out, "grad %s wrt", e->loss);
  else
    em_put_str(E, &E->out, "outputs");
  for (uint32_t r = e->is_grad ? 1 : 0; r < e->nres; r++) {
    em_put(E, &E->out, "%s ", r > (e->is_grad ? 1u : 0u) ? "," : "");
    comment_text(E, e->res[r].name);
  }
}

static void header_init(Emitter *E, const Var *v) {
  char a[48], b[48]; /* for a comment: as the model wrote them */
  exprc_rt_format(a, sizeof a, "%.15g", v->arg[0]);
  exprc_rt_format(b, sizeof b, "%.15g", v->arg[1]);
  switch (v->init) {
  case INIT_ZEROS: em_put_str(E, &E->out, " ~ zeros"); break;
  case INIT_FILL: em_put(E, &E->out, " ~ fill(%s)", a); break;
  case INIT_NORMAL: em_put(E, &E->out, " ~ normal(%s, %s)", a, b); break;
  case INIT_UNIFORM: em_put(E, &E->out, " ~ uniform(%s, %s)", a, b); break;
  }
}

/* The include guard: EXPRC_ and the header's name in capitals. */
static void header_guard(Emitter *E, const char *name) {
  em_put_str(E, &E->out, "EXPRC_");
  for (const char *s = name; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    em_put(E, &E->out, "%c",
        (ch >= 'a' && ch <= 'z') ? ch - 'a' + 'A'
        : ((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) ? ch : '_');
  }
  em_put_str(E, &E->out, "_GUARD\n");
}

static void header_top(Emitter *E, const char *name) {
  em_put_str(E, &E->out, "/* ");
  for (const char *s = name; *s; s++) /* a file name: keep the comment shut */
    em_put(E, &E->out, "%c", *s == '*' || (unsigned char)*s < 0x20 ? '_' : *s);
  em_put_str(E, &E->out,
          ": generated by exprc (`exprc emit MODEL --header`).\n"
      "   The interface of the C that the same command writes: compile that\n"
      "   file with any C99 compiler and link it with exprc's runtime\n"
      "   (runtime/kernels.c, for exprc_rt_gemm, or libexprc) and libm.\n\n"
      "   Every entry point takes\n"
      "     D  the sizes of the dims, D[XC_DIM_<name>] (NULL if XC_NDIMS is 0),\n"
      "        in XC_NSIZES longs, completed by xc_sizes(D);\n"
      "     S  XC_NSLOTS buffers of XC_REAL (double, or float for a model\n"
      "        emitted with --dtype float32), passed as double *, S[s]\n"
      "        holding xc_slot_size(s, D) elements in C (row-major) order.\n"
      "   It reads the inputs and params in their slots and writes its\n"
      "   results into theirs; the other slots are scratch. Sizes are not\n"
      "   checked: that is the caller's part. Only the entry points are\n"
      "   external symbols; to link two models into one program, compile\n"
      "   each with -Dxc_forward=... -Dxc_grad_1=... to rename them. */\n");
  em_put_str(E, &E->out, "#ifndef ");
  header_guard(E, name);
  em_put_str(E, &E->out, "#define ");
  header_guard(E, name);
  em_put(E, &E->out, "\n#define XC_REAL %s /* the element type of every slot */\n",
         E->f32 ? "float" : "double");
}

/* Two names can make one macro (a_b + c and a_b_c): the first keeps it. */
static void header_slots(Emitter *E, const SlotInfo *info, int nslots) {
  char sb[160];
  Map taken = {0};
  em_put(E, &E->out, "\n/* slots: S[XC_...] */\n#define XC_NSLOTS %d\n"
      "#define XC_NRESULTS %d /* inputs, params and results; then scratch */\n",
      nslots, E->m->nslot);
  for (int s = 0; s < E->m->nslot; s++) {
    const SlotInfo *in = &info[s];
    if (in->mac && map_get(&taken, in->mac))
      em_put(E, &E->out, "/* slot %d: no macro, %s is taken */ ", s, in->mac);
    else
      em_put(E, &E->out, "#define %-20s %2d ", in->mac ? in->mac : "", s);
    if (in->mac)
      map_put(E->c, &taken, in->mac, (void *)in->mac);
    em_put(E, &E->out, "/* %s ", in->kind);
    comment_text(E, in->label);
    em_put(E, &E->out, " %s", shape_str(&in->shape, E->c->dimnames, sb, sizeof sb));
    if (s < (int)E->m->nvar && E->m->var[s].kind == V_PARAM)
      header_init(E, &E->m->var[s]);
    em_put_str(E, &E->out, " */\n");
  }
}

static void header_entries(Emitter *E) {
  char name[32];
  em_put_str(E, &E->out, "\n/* entry points */\n");
  for (uint32_t k = 0; k < E->m->nentry; k++) {
    emit_entry_name((int)k, name, sizeof name);
    em_put_str(E, &E->out, "/* ");
    entry_summary(E, &E->m->entry[k]);
    em_put(E, &E->out, " */\nvoid %s(const long *D, double *const *S);\n", name);
  }
}

static void header_sizes(Emitter *E, const SlotInfo *info, int nslots) {
  char n[128];
  em_put_str(E, &E->out,
          "\n/* The element count of slot s when the dims have sizes D. */\n"
          "static inline long xc_slot_size(int s, const long *D)\n{\n"
          "  (void)D;\n  switch (s) {\n");
  for (int s = 0; s < nslots; s++) {
    em_count_expr(&info[s].shape, 0, n, sizeof n);
    em_put(E, &E->out, "  case %d: return %s;\n", s, n);
  }
  em_put_str(E, &E->out, "  }\n  return 0;\n}\n");
}

/* Sizes that are not one dim (N*T, N-1: size.h) live in D after the
 * dims; the caller computes them with xc_sizes once the dims are set. */
static void header_terms(Emitter *E) {
  Ctx *c = E->c;
  em_put(E, &E->out, "#define XC_NSIZES %u /* D[] holds this many: dims, then "
         "from index %d the sizes made from them */\n",
         c->nterm ? SIZE_BASE + c->nterm : E->m->ndim, SIZE_BASE);
  em_put_str(E, &E->out, "static inline void xc_sizes(long *D)\n{\n"
             "  long v;\n  (void)D; (void)v;\n");
  for (uint32_t k = 0; k < c->nterm; k++) {
    const SizeTerm *t = &c->term[k];
    em_put(E, &E->out, "  v = %lldL", (long long)t->coef);
    for (int i = 0; i < t->n; i++)
      em_put(E, &E->out, " * D[%d]", t->dim[i]);
    em_put(E, &E->out, " + %lldL; /* ", (long long)t->off);
    comment_text(E, c->sizename[SIZE_BASE + k]);
    em_put(E, &E->out, " */\n  D[%u] = v > 0 ? v / %lldL : 0;\n",
           SIZE_BASE + k, (long long)t->div);
  }
  em_put_str(E, &E->out, "}\n");
}

char *emit_header(Ctx *c, Module *m, const Plan *plan, const char *name) {
  Emitter E = {.c = c, .m = m, .g = m->g, .plan = plan, .f32 = plan->f32};
  int nslots = m->nslot + (int)plan->ntemp + (plan->check != 0);
  header_top(&E, name);
  em_put_str(&E, &E.out, "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n");
  em_put(&E, &E.out, "\n/* dims: D[XC_DIM_...] */\n#define XC_NDIMS %u\n", m->ndim);
  for (uint32_t d = 0; d < m->ndim; d++)
    em_put(&E, &E.out, "#define XC_DIM_%s %u\n", m->dim[d], d);
  header_terms(&E);
  SlotInfo *info = slot_infos(&E, nslots);
  header_slots(&E, info, nslots);
  header_entries(&E);
  header_sizes(&E, info, nslots);
  em_put_str(&E, &E.out, "\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
  return E.out.s;
}
