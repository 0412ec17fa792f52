/* lexer.h: model text to tokens. */
#ifndef EXPRC_LEXER_H
#define EXPRC_LEXER_H

#include "base.h"

typedef enum {
  T_EOF,
  T_NEWLINE, /* ends a statement */
  T_IDENT,
  T_NUM,
  T_STR,     /* "text": `s` holds it with its quotes (einsum's subscripts) */
  T_PUNCT    /* operators and brackets; `s` holds the spelling */
} TokKind;

typedef struct Token {
  TokKind kind;
  Pos pos;
  const char *s;   /* start in the source */
  uint32_t len;
  double num;      /* T_NUM value */
} Token;

/* Tokenize the whole text. The array ends with a T_EOF token. */
Token *lex_tokens(Ctx *c, uint32_t *ntok);
int tok_is(const Token *t, const char *punct_or_word);

#endif
