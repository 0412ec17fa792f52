/* parser.h: tokens to an abstract syntax tree of statements. */
#ifndef EXPRC_PARSER_H
#define EXPRC_PARSER_H

#include "base.h"

typedef enum {
  A_NUM,    /* num */
  A_NAME,   /* name */
  A_LIST,   /* [k0, k1, ...]: a tensor literal */
  A_UNARY,  /* op k0: "-" or "+" */
  A_BINARY, /* k0 op k1 */
  A_CALL,   /* name(k0, ...) */
  A_INDEX,  /* k0[k1, ...]; each index is an expression or an A_SLICE */
  A_SLICE,  /* k0:k1:k2 (lo:hi:step) inside an index; a missing one is
               NULL. `...` and None there are A_NAMEs spelled so */
  A_KEYWORD, /* name=k0, an argument of a call (after the positional ones) */
  A_STRING, /* "text": name holds the text without its quotes */
} AstKind;

typedef struct Ast {
  AstKind kind;
  Pos pos;          /* the operator, name or opening bracket */
  const char *op;   /* A_UNARY, A_BINARY: spelling of the operator */
  const char *name; /* A_NAME, A_CALL, A_KEYWORD */
  double num;       /* A_NUM */
  struct Ast **kid;
  int nkid;
  uint32_t beg, end; /* source span, for naming unnamed outputs */
} Ast;

typedef enum { S_DIM, S_INPUT, S_PARAM, S_CONST, S_DEF, S_ASSIGN, S_OUTPUT, S_GRAD } StmtKind;

typedef struct Stmt {
  StmtKind kind;
  Pos pos;          /* the keyword or the name */
  const char *name; /* declared or assigned name; NULL for unnamed outputs */
  Pos namepos;
  Ast **dims;       /* S_INPUT, S_PARAM: declared shape */
  int ndims;
  const char *init; /* S_PARAM: initializer name, NULL for zeros */
  Pos initpos;
  Ast **initargs;
  int ninitargs;
  const char **params; /* S_DEF */
  Pos *parampos;
  int nparams;
  Ast *expr;        /* S_CONST, S_DEF, S_ASSIGN, S_OUTPUT; S_GRAD: L */
  const char **wrt; /* S_GRAD */
  Pos *wrtpos;
  int nwrt;
  int is_int;       /* S_INPUT: declared `: int` */
  /* S_DEF written as a block, def f(a) { ... return e1, e2 }: its local
   * assignments (S_ASSIGN) and its results; expr is NULL. */
  struct Stmt *body;
  int nbody;
  Ast **rets;
  int nrets;
  /* S_ASSIGN destructuring, a, b = f(...): every name (names[0] is name);
   * nnames is 0 for a plain assignment. */
  const char **names;
  Pos *namespos;
  int nnames;
} Stmt;

typedef struct Program {
  Stmt *stmt;
  uint32_t n, cap;
} Program;

Program *parse_program(Ctx *c);

#endif
