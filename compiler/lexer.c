/* lexer.c: the first stage: model text to an array of tokens.
 *
 * Statements end at newlines, with two exceptions that let long formulas span
 * lines: inside brackets a newline is white space, and a line that ends in a
 * binary operator, `=`, `~` or `,` continues on the next. So T_NEWLINE is only
 * produced where a statement can end, and the parser never sees blank lines.
 * Every token carries its line and column for diagnostics.
 */
#include "lexer.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

/* Longest first, so that "<=" wins over "<". */
static const char *const puncts[] = {
    "<=", ">=", "==", "!=", "+", "-", "*", "/", "@", "^", "<", ">",
    "(",  ")",  "[",  "]",  ",", "=", "~", ":", "...", "{", "}", NULL};

/* Tokens after which a newline does not end the statement. */
static const char *const continuing[] = {
    "<=", ">=", "==", "!=", "+", "-", "*", "/", "@", "^",
    "<",  ">",  ",",  "=",  "~", "(", "[", ":", NULL};

int tok_is(const Token *t, const char *s) {
  size_t n = strlen(s);
  return (t->kind == T_PUNCT || t->kind == T_IDENT) && t->len == n &&
         memcmp(t->s, s, n) == 0;
}

typedef struct Lexer {
  Ctx *c;
  const char *p, *end;
  Pos pos;
  Token *tok;
  uint32_t n, cap;
  int depth; /* open brackets */
} Lexer;

static void advance(Lexer *L, size_t k) {
  for (size_t i = 0; i < k; i++, L->p++) {
    L->pos.off++;
    if (*L->p == '\n') {
      L->pos.line++;
      L->pos.col = 1;
    } else {
      L->pos.col++;
    }
  }
}

static Token *push(Lexer *L, TokKind kind, size_t len) {
  L->c->at = L->pos; /* where a compile too big for memory stops */
  vec_reserve(L->c, &L->tok, &L->cap, L->n + 1, sizeof *L->tok);
  Token *t = &L->tok[L->n++];
  memset(t, 0, sizeof *t);
  t->kind = kind;
  t->pos = L->pos;
  t->s = L->p;
  t->len = (uint32_t)len;
  return t;
}

static int continues(const Lexer *L) {
  if (L->depth > 0)
    return 1;
  if (L->n == 0 || L->tok[L->n - 1].kind == T_NEWLINE)
    return 1; /* blank line: nothing to end */
  for (int i = 0; continuing[i]; i++)
    if (tok_is(&L->tok[L->n - 1], continuing[i]))
      return 1;
  return 0;
}

/* number = digits ("." digits?)? exponent? | "." digits exponent?
 * exponent = ("e" | "E") ("+" | "-")? digits */
static size_t number_len(Lexer *L) {
  const char *s = L->p, *e = L->end;
  int digits = 0;
  while (s < e && isdigit((unsigned char)*s))
    s++, digits++;
  if (s < e && *s == '.')
    for (s++; s < e && isdigit((unsigned char)*s); s++)
      digits++;
  if (!digits)
    return 0;
  if (s < e && (*s == 'e' || *s == 'E')) {
    const char *x = s + 1;
    if (x < e && (*x == '+' || *x == '-'))
      x++;
    if (x >= e || !isdigit((unsigned char)*x))
      ctx_error(L->c, L->pos, EXPRC_ERR_SYNTAX,
                "malformed number: exponent has no digits");
    while (x < e && isdigit((unsigned char)*x))
      x++;
    s = x;
  }
  if (s < e && (isalpha((unsigned char)*s) || *s == '_'))
    ctx_error(L->c, L->pos, EXPRC_ERR_SYNTAX,
              "malformed number: letter '%c' right after it", *s);
  return (size_t)(s - L->p);
}

static void lex_number(Lexer *L, size_t len) {
  char buf[64];
  if (len >= sizeof buf)
    ctx_error(L->c, L->pos, EXPRC_ERR_SYNTAX, "number is too long");
  memcpy(buf, L->p, len);
  buf[len] = 0;
  Token *t = push(L, T_NUM, len);
  t->num = exprc_rt_strtod(buf, NULL); /* not the program's locale's */
  advance(L, len);
}

/* string = '"' printable ASCII but '"', on one line, '"' */
static void lex_string(Lexer *L) {
  size_t n = 1;
  while (L->p + n < L->end && L->p[n] != '"') {
    unsigned char ch = (unsigned char)L->p[n];
    if (ch < 0x20 || ch >= 0x7f)
      ctx_error(L->c, L->pos, EXPRC_ERR_SYNTAX,
                "a string ends on its line, in printable ASCII");
    n++;
  }
  if (L->p + n >= L->end)
    ctx_error(L->c, L->pos, EXPRC_ERR_SYNTAX, "a string is not closed");
  push(L, T_STR, n + 1);
  advance(L, n + 1);
}

static int lex_punct(Lexer *L) {
  for (int i = 0; puncts[i]; i++) {
    size_t n = strlen(puncts[i]);
    if ((size_t)(L->end - L->p) >= n && memcmp(L->p, puncts[i], n) == 0) {
      char ch = puncts[i][0];
      if (ch == '(' || ch == '[')
        L->depth++;
      else if ((ch == ')' || ch == ']') && L->depth > 0)
        L->depth--;
      push(L, T_PUNCT, n);
      advance(L, n);
      return 1;
    }
  }
  return 0;
}

static void lex_one(Lexer *L) {
  unsigned char ch = (unsigned char)*L->p;
  size_t n;
  if (ch == '\n') {
    if (!continues(L))
      push(L, T_NEWLINE, 1);
    advance(L, 1);
  } else if (ch == ' ' || ch == '\t' || ch == '\r') {
    advance(L, 1);
  } else if (ch == '#') {
    while (L->p < L->end && *L->p != '\n')
      advance(L, 1);
  } else if (isalpha(ch) || ch == '_') {
    for (n = 0; L->p + n < L->end &&
                (isalnum((unsigned char)L->p[n]) || L->p[n] == '_');)
      n++;
    push(L, T_IDENT, n);
    advance(L, n);
  } else if ((n = number_len(L)) > 0) {
    lex_number(L, n);
  } else if (ch == '"') {
    lex_string(L);
  } else if (!lex_punct(L)) {
    if (ch >= 0x20 && ch < 0x7f)
      ctx_error(L->c, L->pos, EXPRC_ERR_SYNTAX, "unexpected character '%c'",
                ch);
    ctx_error(L->c, L->pos, EXPRC_ERR_SYNTAX,
              "unexpected byte 0x%02x (only ASCII is allowed outside comments)",
              ch);
  }
}

Token *lex_tokens(Ctx *c, uint32_t *ntok) {
  Lexer L = {.c = c, .p = c->src, .end = c->src + c->srclen};
  L.pos.line = 1;
  L.pos.col = 1;
  while (L.p < L.end)
    lex_one(&L);
  if (L.n > 0 && L.tok[L.n - 1].kind != T_NEWLINE) {
    /* The file ends inside a statement (an open bracket, a trailing
     * operator or no final newline): end it right after its last token, so
     * that an error there points at a real line, not one past the end. */
    Token last = L.tok[L.n - 1];
    push(&L, T_NEWLINE, 0);
    L.tok[L.n - 1].pos.col = last.pos.col + last.len;
    L.tok[L.n - 1].pos.off = last.pos.off + last.len;
    L.tok[L.n - 1].pos.line = last.pos.line;
  }
  push(&L, T_EOF, 0);
  *ntok = L.n;
  return L.tok;
}
