/* parser.c: the second stage: tokens to a list of statements with
 * expression trees (recursive descent, one function per grammar rule, the
 * rule written above it).
 *
 * The parser knows nothing of names, shapes or ops; it only checks the form.
 * Its recursion is bounded by the context's depth limit, so no input can
 * overflow the stack, and left-associative chains (a sum of 100,000 terms)
 * are built by loops, not recursion.
 */
#include "parser.h"

#include <string.h>

#include "lexer.h"

typedef struct Parser {
  Ctx *c;
  Token *tok;
  uint32_t i;
  int depth;
} Parser;

static Ast *expr(Parser *P);
static Ast *unary(Parser *P);

static Token *peek(Parser *P) { return &P->tok[P->i]; }
static Token *peek2(Parser *P) {
  return P->tok[P->i].kind == T_EOF ? &P->tok[P->i] : &P->tok[P->i + 1];
}
static Token *next(Parser *P) {
  Token *t = &P->tok[P->i];
  if (t->kind != T_EOF)
    P->i++;
  return t;
}
static int accept(Parser *P, const char *s) {
  if (tok_is(peek(P), s) && peek(P)->kind == T_PUNCT) {
    next(P);
    return 1;
  }
  return 0;
}

static const char *describe(const Token *t, char *buf, size_t n) {
  if (t->kind == T_EOF)
    return "end of file";
  if (t->kind == T_NEWLINE) /* the lexer's final one has no text */
    return t->len ? "end of line" : "end of file";
  snprintf(buf, n, "'%.*s'", t->len > 40 ? 40 : (int)t->len, t->s);
  return buf;
}

static NORETURN void expected(Parser *P, const char *what) {
  char buf[64];
  Token *t = peek(P);
  ctx_error(P->c, t->pos, EXPRC_ERR_SYNTAX, "expected %s, found %s", what,
            describe(t, buf, sizeof buf));
}

static void expect(Parser *P, const char *s) {
  if (!accept(P, s)) {
    char what[16];
    snprintf(what, sizeof what, "'%s'", s);
    expected(P, what);
  }
}

/* The end of a comma-separated list: another item or the closing bracket. */
static void expect_close(Parser *P, const char *close) {
  if (!accept(P, close)) {
    char what[24];
    snprintf(what, sizeof what, "',' or '%s'", close);
    expected(P, what);
  }
}

static const char *ident(Parser *P, Pos *pos) {
  Token *t = peek(P);
  if (t->kind != T_IDENT)
    expected(P, "a name");
  if (pos)
    *pos = t->pos;
  next(P);
  return ctx_strndup(P->c, t->s, t->len);
}

static void enter(Parser *P) {
  if (++P->depth > P->c->lim.max_depth)
    ctx_error(P->c, peek(P)->pos, EXPRC_ERR_LIMIT,
              "expression nested deeper than %d levels", P->c->lim.max_depth);
}

static Ast *node(Parser *P, AstKind k, Pos pos, int nkid) {
  P->c->at = pos; /* where a compile too big for memory stops */
  Ast *a = ctx_alloc(P->c, sizeof *a);
  a->kind = k;
  a->pos = pos;
  a->nkid = nkid;
  if (nkid)
    a->kid = ctx_alloc(P->c, (size_t)nkid * sizeof *a->kid);
  return a;
}

/* A growing list of child pointers, copied into the arena when done. */
typedef struct AstList {
  Ast **v;
  uint32_t n, cap;
} AstList;

static void list_push(Parser *P, AstList *l, Ast *a) {
  vec_reserve(P->c, &l->v, &l->cap, l->n + 1, sizeof *l->v);
  l->v[l->n++] = a;
}

static Ast *list_node(Parser *P, AstKind k, Pos pos, AstList *l) {
  Ast *a = node(P, k, pos, (int)l->n);
  if (l->n)
    memcpy(a->kid, l->v, l->n * sizeof *l->v);
  ctx_release(P->c, l->v);
  return a;
}

static Ast *binary(Parser *P, Token *op, Ast *l, Ast *r) {
  Ast *a = node(P, A_BINARY, op->pos, 2);
  a->op = ctx_strndup(P->c, op->s, op->len);
  a->kid[0] = l;
  a->kid[1] = r;
  a->beg = l->beg;
  a->end = r->end;
  return a;
}

/* arg = (name "=")? expr
 * A keyword argument is an A_KEYWORD whose kid is its value; keywords come
 * after the positional arguments, as in Python, so that a position always
 * means the same parameter. */
static Ast *arg(Parser *P, int *keywords) {
  Token *t = peek(P);
  if (t->kind == T_IDENT && tok_is(peek2(P), "=") &&
      peek2(P)->kind == T_PUNCT) {
    next(P);
    next(P);
    Ast *k = node(P, A_KEYWORD, t->pos, 1);
    k->name = ctx_strndup(P->c, t->s, t->len);
    k->kid[0] = expr(P);
    k->beg = t->pos.off;
    k->end = k->kid[0]->end;
    *keywords = 1;
    return k;
  }
  if (*keywords)
    ctx_error(P->c, t->pos, EXPRC_ERR_SYNTAX,
              "a positional argument cannot follow a keyword argument");
  return expr(P);
}

/* args = (arg ("," arg)*)? ")"   -- after the "(" */
static void args(Parser *P, AstList *l) {
  if (accept(P, ")"))
    return;
  int keywords = 0;
  do
    list_push(P, l, arg(P, &keywords));
  while (accept(P, ","));
  expect_close(P, ")");
}

/* tensor = "[" expr ("," expr)* ","? "]" */
static Ast *tensor(Parser *P, Token *open) {
  AstList l = {0};
  do {
    if (tok_is(peek(P), "]") && l.n)
      break; /* trailing comma */
    list_push(P, &l, expr(P));
  } while (accept(P, ","));
  expect_close(P, "]");
  return list_node(P, A_LIST, open->pos, &l);
}

/* primary = num | string | name | name "(" args | "(" expr ")" | tensor */
static Ast *primary(Parser *P) {
  Token *t = peek(P);
  uint32_t beg = t->pos.off;
  Ast *a;
  if (t->kind == T_NUM) {
    next(P);
    a = node(P, A_NUM, t->pos, 0);
    a->num = t->num;
  } else if (t->kind == T_STR) {
    next(P);
    a = node(P, A_STRING, t->pos, 0);
    a->name = ctx_strndup(P->c, t->s + 1, t->len - 2);
  } else if (t->kind == T_IDENT) {
    next(P);
    if (accept(P, "(")) {
      AstList l = {0};
      args(P, &l);
      a = list_node(P, A_CALL, t->pos, &l);
    } else {
      a = node(P, A_NAME, t->pos, 0);
    }
    a->name = ctx_strndup(P->c, t->s, t->len);
  } else if (accept(P, "(")) {
    a = expr(P);
    expect(P, ")");
  } else if (accept(P, "[")) {
    a = tensor(P, t);
  } else {
    expected(P, "an expression");
  }
  a->beg = beg;
  a->end = P->tok[P->i - 1].pos.off + P->tok[P->i - 1].len;
  return a;
}

/* index = "..." | expr | expr? ":" expr? (":" expr?)?
 * A slice is A_SLICE with kids lo, hi, step (NULL where left out); `...`
 * is an A_NAME spelled "..." and None an A_NAME spelled "None": only
 * indexing gives them a meaning (lower_index.c). */
static Ast *index_item(Parser *P) {
  Token *t = peek(P);
  Ast *lo = NULL, *hi = NULL, *step = NULL;
  if (accept(P, "...")) {
    Ast *e = node(P, A_NAME, t->pos, 0);
    e->name = "...";
    return e;
  }
  if (!tok_is(t, ":"))
    lo = expr(P);
  if (!accept(P, ":"))
    return lo;
  if (!tok_is(peek(P), ",") && !tok_is(peek(P), "]") && !tok_is(peek(P), ":"))
    hi = expr(P);
  if (accept(P, ":") && !tok_is(peek(P), ",") && !tok_is(peek(P), "]"))
    step = expr(P);
  Ast *s = node(P, A_SLICE, t->pos, 3);
  s->kid[0] = lo;
  s->kid[1] = hi;
  s->kid[2] = step;
  return s;
}

/* postfix = primary ("[" index ("," index)* "]")* */
static Ast *postfix(Parser *P) {
  Ast *a = primary(P);
  for (;;) {
    Token *t = peek(P);
    if (!accept(P, "["))
      return a;
    AstList l = {0};
    list_push(P, &l, a);
    do
      list_push(P, &l, index_item(P));
    while (accept(P, ","));
    expect_close(P, "]");
    Ast *x = list_node(P, A_INDEX, t->pos, &l);
    x->beg = a->beg;
    x->end = P->tok[P->i - 1].pos.off + 1;
    a = x;
  }
}

/* power = postfix ("^" unary)?     (right associative: 2^-1, a^b^c) */
static Ast *power(Parser *P) {
  Ast *a = postfix(P);
  Token *t = peek(P);
  if (!accept(P, "^"))
    return a;
  enter(P);
  a = binary(P, t, a, unary(P));
  P->depth--;
  return a;
}

/* unary = ("-" | "+") unary | power */
static Ast *unary(Parser *P) {
  Token *t = peek(P);
  if (!accept(P, "-") && !accept(P, "+"))
    return power(P);
  enter(P); /* each nesting counts once: a sign, a '^', a bracket */
  Ast *a = node(P, A_UNARY, t->pos, 1);
  a->op = t->s[0] == '-' ? "-" : "+";
  a->kid[0] = unary(P);
  a->beg = t->pos.off;
  a->end = a->kid[0]->end;
  P->depth--;
  return a;
}

/* term = unary (("*" | "/" | "@") unary)* */
static Ast *term(Parser *P) {
  Ast *a = unary(P);
  for (;;) {
    Token *t = peek(P);
    if (!accept(P, "*") && !accept(P, "/") && !accept(P, "@"))
      return a;
    a = binary(P, t, a, unary(P));
  }
}

/* additive = term (("+" | "-") term)* */
static Ast *additive(Parser *P) {
  Ast *a = term(P);
  for (;;) {
    Token *t = peek(P);
    if (!accept(P, "+") && !accept(P, "-"))
      return a;
    a = binary(P, t, a, term(P));
  }
}

static int is_compare(Token *t) {
  static const char *const ops[] = {"<", "<=", ">", ">=", "==", "!=", NULL};
  for (int i = 0; ops[i]; i++)
    if (t->kind == T_PUNCT && tok_is(t, ops[i]))
      return 1;
  return 0;
}

/* expr = additive (("<" | "<=" | ">" | ">=" | "==" | "!=") additive)?
 * Comparisons do not chain: a < b < c is an error. */
static Ast *expr(Parser *P) {
  enter(P);
  Ast *a = additive(P);
  Token *t = peek(P);
  if (is_compare(t)) {
    next(P);
    a = binary(P, t, a, additive(P));
    if (is_compare(peek(P)))
      ctx_error(P->c, peek(P)->pos, EXPRC_ERR_SYNTAX,
                "comparisons do not chain; use parentheses");
  }
  P->depth--;
  return a;
}

/* ---- statements ---- */

static Stmt *stmt_new(Parser *P, Program *prog, StmtKind k, Pos pos) {
  vec_reserve(P->c, &prog->stmt, &prog->cap, prog->n + 1, sizeof *prog->stmt);
  Stmt *s = &prog->stmt[prog->n++];
  memset(s, 0, sizeof *s);
  s->kind = k;
  s->pos = pos;
  return s;
}

/* decl = name ("[" expr ("," expr)* "]")? */
static Stmt *decl(Parser *P, Program *prog, StmtKind k, Pos kw) {
  Stmt *s = stmt_new(P, prog, k, kw);
  const char *name = ident(P, &s->namepos);
  s = &prog->stmt[prog->n - 1]; /* stmt_new may have moved the array */
  s->name = name;
  if (accept(P, "[")) {
    AstList l = {0};
    do
      list_push(P, &l, expr(P));
    while (accept(P, ","));
    expect_close(P, "]");
    Ast *dims = list_node(P, A_LIST, s->namepos, &l);
    s->dims = dims->kid;
    s->ndims = dims->nkid;
  }
  return s;
}

/* elemtype = (":" ("int" | "float"))? after an input's declaration */
static void element_type(Parser *P, Stmt *s) {
  if (!accept(P, ":"))
    return;
  Token *t = peek(P);
  if (t->kind != T_IDENT || !(tok_is(t, "int") || tok_is(t, "float")))
    expected(P, "an element type ('int' or 'float')");
  s->is_int = tok_is(t, "int");
  next(P);
}

/* init = name ("(" args)? */
static void initializer(Parser *P, Stmt *s) {
  s->init = ident(P, &s->initpos);
  if (accept(P, "(")) {
    AstList l = {0};
    args(P, &l);
    Ast *a = list_node(P, A_LIST, s->initpos, &l);
    s->initargs = a->kid;
    s->ninitargs = a->nkid;
  }
}

/* names = name ("," name)*   -- the left side of an assignment; more than
 * one name is a destructuring (a, b = f(...)) */
static void assign_names(Parser *P, Stmt *s) {
  s->name = ident(P, &s->namepos);
  if (!tok_is(peek(P), ",") || peek(P)->kind != T_PUNCT)
    return;
  uint32_t n = 1, cap = 0;
  const char **names = NULL;
  Pos *pos = NULL;
  uint32_t pcap = 0;
  vec_reserve(P->c, &names, &cap, 1, sizeof *names);
  vec_reserve(P->c, &pos, &pcap, 1, sizeof *pos);
  names[0] = s->name, pos[0] = s->namepos;
  while (accept(P, ",")) {
    vec_reserve(P->c, &names, &cap, n + 1, sizeof *names);
    vec_reserve(P->c, &pos, &pcap, n + 1, sizeof *pos);
    names[n] = ident(P, &pos[n]);
    n++;
  }
  s->names = names, s->namespos = pos, s->nnames = (int)n;
}

/* assignment = names "=" expr */
static void assignment(Parser *P, Program *prog, StmtKind k, Pos pos) {
  Stmt *s = stmt_new(P, prog, k, pos);
  if (k == S_ASSIGN)
    assign_names(P, s);
  else
    s->name = ident(P, &s->namepos);
  expect(P, "=");
  s->expr = expr(P);
}

static void skip_newlines(Parser *P) {
  while (peek(P)->kind == T_NEWLINE && peek(P)->len)
    next(P);
}

/* block = "{" (assignment NEWLINE)* "return" expr ("," expr)* "}"
 * (newlines around the braces are free). Only assignments come before the
 * return: a def's names are local to it. */
static void block(Parser *P, Stmt *s) {
  Program body = {0};
  AstList rets = {0};
  skip_newlines(P);
  while (!(tok_is(peek(P), "return") && peek(P)->kind == T_IDENT &&
           !tok_is(peek2(P), "=") && !tok_is(peek2(P), ","))) {
    Token *t = peek(P);
    if (t->kind != T_IDENT || tok_is(t, "}"))
      expected(P, "an assignment or 'return'");
    assignment(P, &body, S_ASSIGN, t->pos);
    if (peek(P)->kind != T_NEWLINE || !peek(P)->len)
      expected(P, "end of line");
    skip_newlines(P);
  }
  next(P); /* return */
  do
    list_push(P, &rets, expr(P));
  while (accept(P, ","));
  skip_newlines(P);
  expect(P, "}");
  Ast *r = list_node(P, A_LIST, s->pos, &rets);
  s->rets = r->kid, s->nrets = r->nkid;
  s->body = body.stmt, s->nbody = (int)body.n;
}

/* def = "def" name "(" (name ("," name)*)? ")" ("=" expr | block) */
static void def(Parser *P, Program *prog, Pos kw) {
  Stmt *s = stmt_new(P, prog, S_DEF, kw);
  s->name = ident(P, &s->namepos);
  expect(P, "(");
  uint32_t first = P->i, n = 0;
  if (!accept(P, ")")) {
    do {
      ident(P, NULL);
      n++;
    } while (accept(P, ","));
    expect(P, ")");
  }
  s->params = ctx_alloc(P->c, (n + 1) * sizeof *s->params);
  s->parampos = ctx_alloc(P->c, (n + 1) * sizeof *s->parampos);
  for (uint32_t k = 0; k < n; k++) {
    Token *t = &P->tok[first + 2 * k];
    s->params[k] = ctx_strndup(P->c, t->s, t->len);
    s->parampos[k] = t->pos;
  }
  s->nparams = (int)n;
  if (accept(P, "{"))
    block(P, s);
  else if (accept(P, "="))
    s->expr = expr(P);
  else
    expected(P, "'=' or '{'");
}

/* output = (name "=")? expr */
static void output(Parser *P, Program *prog, Pos kw) {
  do {
    Stmt *s = stmt_new(P, prog, S_OUTPUT, kw);
    if (peek(P)->kind == T_IDENT && tok_is(peek2(P), "=") &&
        peek2(P)->kind == T_PUNCT) {
      s->name = ident(P, &s->namepos);
      next(P);
    }
    Ast *e = expr(P);
    prog->stmt[prog->n - 1].expr = e;
  } while (accept(P, ","));
}

/* grad = "grad" name "wrt" name ("," name)* */
static void grad(Parser *P, Program *prog, Pos kw) {
  Stmt *s = stmt_new(P, prog, S_GRAD, kw);
  s->name = ident(P, &s->namepos);
  if (!tok_is(peek(P), "wrt") || peek(P)->kind != T_IDENT)
    expected(P, "'wrt'");
  next(P);
  uint32_t first = P->i, n = 0;
  do {
    ident(P, NULL);
    n++;
  } while (accept(P, ","));
  s->wrt = ctx_alloc(P->c, n * sizeof *s->wrt);
  s->wrtpos = ctx_alloc(P->c, n * sizeof *s->wrtpos);
  for (uint32_t k = 0; k < n; k++) {
    Token *t = &P->tok[first + 2 * k];
    s->wrt[k] = ctx_strndup(P->c, t->s, t->len);
    s->wrtpos[k] = t->pos;
  }
  s->nwrt = (int)n;
}

/* statement = "dim" name ("," name)*
 *           | "input" decl ("," decl)*
 *           | "param" decl ("~" init)? ("," decl ("~" init)?)*
 *           | "const" name "=" expr
 *           | def | "output" output ("," output)* | grad
 *           | assignment          (name "=" expr, or a, b = f(...))
 * A keyword followed by "=" or "," is an ordinary assignment. */
static void statement(Parser *P, Program *prog) {
  Token *t = peek(P);
  if (t->kind != T_IDENT)
    expected(P, "a statement");
  int kw = !((tok_is(peek2(P), "=") || tok_is(peek2(P), ",")) &&
             peek2(P)->kind == T_PUNCT);
  Pos pos = t->pos;
  if (kw && tok_is(t, "dim")) {
    next(P);
    do {
      Stmt *s = stmt_new(P, prog, S_DIM, pos);
      const char *n = ident(P, &pos);
      s = &prog->stmt[prog->n - 1];
      s->name = n;
      s->namepos = pos;
    } while (accept(P, ","));
  } else if (kw && tok_is(t, "input")) {
    next(P);
    do
      element_type(P, decl(P, prog, S_INPUT, pos));
    while (accept(P, ","));
  } else if (kw && tok_is(t, "param")) {
    next(P);
    do {
      decl(P, prog, S_PARAM, pos);
      if (accept(P, "~"))
        initializer(P, &prog->stmt[prog->n - 1]);
    } while (accept(P, ","));
  } else if (kw && tok_is(t, "def")) {
    next(P);
    def(P, prog, pos);
  } else if (kw && tok_is(t, "output")) {
    next(P);
    output(P, prog, pos);
  } else if (kw && tok_is(t, "grad")) {
    next(P);
    grad(P, prog, pos);
  } else {
    StmtKind k = S_ASSIGN;
    if (kw && tok_is(t, "const")) {
      next(P);
      k = S_CONST;
    }
    assignment(P, prog, k, pos);
  }
}

/* program = (statement NEWLINE)* EOF */
Program *parse_program(Ctx *c) {
  Parser P = {.c = c};
  uint32_t n;
  P.tok = lex_tokens(c, &n);
  Program *prog = ctx_alloc(c, sizeof *prog);
  while (peek(&P)->kind != T_EOF) {
    statement(&P, prog);
    if (peek(&P)->kind != T_NEWLINE)
      expected(&P, "end of line");
    next(&P);
  }
  ctx_release(c, P.tok); /* the AST holds no token: 40 bytes a token, which
                            the rest of a big compile need not carry */
  return prog;
}
