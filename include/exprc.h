/* exprc.h: the one public header of exprc, a symbolic gradient compiler.
 *
 * Compile a model written in the .expr language (see README.md) into native
 * code, then set its inputs, run its forward entry point and its gradient
 * entry points, and read the results, all through opaque handles:
 *
 *   exprc_model *m;
 *   if (exprc_compile_file("mlp.expr", NULL, &m) != EXPRC_OK) {
 *       fprintf(stderr, "%s", exprc_errmsg(m));   // file:line:col: error: ...
 *       exprc_free(m);
 *       return 1;
 *   }
 *   int64_t shape[1] = {4};
 *   exprc_set(m, "x", x, 1, shape);               // copies, checks sizes
 *   exprc_gradient(m, "loss");                    // dloss/dW... for `grad loss wrt ...`
 *   exprc_tensor g;
 *   exprc_find_grad(m, "loss", "W1", &g);         // g.data, g.rank, g.shape
 *   exprc_free(m);
 *
 * Every call returns a status; on failure exprc_errmsg() says why. The
 * library never exits, never prints, and checks every size it copies.
 * A model is not safe to use from two threads at once; separate models are.
 */
#ifndef EXPRC_H
#define EXPRC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EXPRC_MAX_RANK 8

typedef enum exprc_status {
  EXPRC_OK = 0,
  EXPRC_ERR_SYNTAX,   /* the model text does not parse */
  EXPRC_ERR_NAME,     /* an unknown, duplicate or misused name */
  EXPRC_ERR_SHAPE,    /* shapes or sizes that do not fit */
  EXPRC_ERR_LIMIT,    /* a resource limit (rank, elements, depth, nodes) */
  EXPRC_ERR_IO,       /* a file that cannot be read or written */
  EXPRC_ERR_ARG,      /* a bad argument to an API call */
  EXPRC_ERR_STATE,    /* a call out of order, e.g. an input not yet set */
  EXPRC_ERR_JIT,      /* generated code failed to compile: a bug in exprc */
  EXPRC_ERR_NOMEM,    /* out of memory */
  EXPRC_ERR_INTERNAL, /* a bug in exprc */
  EXPRC_ERR_RANGE,    /* at run time: an index in the data is outside its
                         axis (nothing is read or written outside a buffer) */
  EXPRC_ERR_NUMERIC   /* at run time: a matrix that is not positive definite
                         or is singular, a non-finite value under
                         check_finite */
} exprc_status;

/* Resource limits; a zero field takes its default (in brackets). */
typedef struct exprc_limits {
  int max_rank;           /* dimensions of a tensor [8]; at most 8 */
  int64_t max_elements;   /* elements of one tensor [2^28] */
  int64_t max_memory;     /* bytes of all buffers of a model [8 GiB] */
  int max_depth;          /* nesting of expressions and def calls [200] */
  int64_t max_nodes;      /* graph nodes, and expressions inlined from
                             defs [2^20]; compile steps [256 times it] */
  int64_t max_file_size;  /* bytes of model text [64 MiB] */
  int cc_timeout;         /* seconds the system compiler may run for one
                             model with EXPRC_BACKEND_CC [60]; its process
                             group is then killed and libtcc compiles the
                             model instead (see exprc_options.note) */
  int64_t max_compile_bytes; /* memory the compiler itself holds while
                             compiling (tokens, syntax tree, graph, plan,
                             C text; not the C compiler's) [1 GiB] */
} exprc_limits;

typedef enum exprc_backend {
  EXPRC_BACKEND_AUTO = 0, /* the default: both tiers. libtcc compiles the
                            model and the compile returns at once; once the
                            model has run twice and its runs have taken
                            10 ms in all, the system compiler builds the
                            same C (as EXPRC_BACKEND_CC does, cache
                            included) on a thread of the library's own, at
                            a lower priority, and its code replaces
                            libtcc's between two runs, computing the same
                            bits. A model run a few times costs nothing
                            more than libtcc's compile. If the system
                            compiler is missing or fails, libtcc's code
                            runs on and exprc_options.note is told, from
                            that thread: note and note_arg must then stay
                            valid until exprc_free, which stops a compile
                            still running (see exprc_backend_now and
                            exprc_wait_tier, which starts it at once) */
  EXPRC_BACKEND_TCC,     /* libtcc in memory only: compiles in milliseconds,
                            starts no thread and no process, writes no
                            file */
  EXPRC_BACKEND_CC       /* the system C compiler ($CC or cc) at -O2 into a
                            shared object, cached by a hash of the source in
                            $EXPRC_CACHE_DIR (default ~/.cache/exprc), which
                            must be private to the user (else no cache is
                            used): slower to compile, faster to run. If the
                            compiler fails or times out, libtcc compiles the
                            model and a note says so */
} exprc_backend;

/* The element type of a model's buffers (exprc_options.dtype), and of a
 * tensor (exprc_tensor.dtype). Integer tensors (`input ids[N] : int`, the
 * results of argmax, argmin, argsort, and of take on integer data) hold
 * their values in the same buffers as every other tensor, as exact
 * integers: every integer up to 2^53 in magnitude is exact in a double
 * (2^24 in a float32 model's floats), and the API refuses any other
 * (EXPRC_ERR_ARG). */
typedef enum exprc_dtype {
  EXPRC_FLOAT64 = 0,
  EXPRC_INT64,    /* whole numbers, |v| <= 2^53, read through `data` */
  EXPRC_FLOAT32   /* a model compiled with exprc_options.dtype =
                     EXPRC_FLOAT32: every tensor is float (IEEE binary32);
                     see exprc_options.dtype */
} exprc_dtype;

typedef struct exprc_options {
  int no_simplify;        /* 1: skip the simplifier (for inspection) */
  int no_reuse;           /* 1: one buffer per value, no sharing */
  int no_fuse;            /* 1: one loop per elementwise op, no fusion */
  int remat;              /* 1: recompute cheap forward values in the
                             backward pass instead of keeping them */
  uint64_t seed;          /* seed of the param initializers and of the
                             draws of normal/uniform/bernoulli [0] */
  exprc_backend backend;
  int threads;            /* above 1: matrix products (OpenBLAS) and flat
                             loops of at least 8192 iterations run on this
                             many threads, for this model only; 0: serial
                             loops, and products on as many threads as
                             OpenBLAS had before exprc's first product */
  exprc_limits limits;
  /* Called during a compile with a one-line note on what a user may want
     to know but that is not an error: the system compiler failed or timed
     out and libtcc compiled the model, or the cache directory was refused.
     NULL (the default) drops notes: the library itself never prints. */
  void (*note)(void *note_arg, const char *msg);
  void *note_arg;
  int check_finite;       /* 1: the generated code stops at the first
                             infinite or NaN value any operation produces,
                             and the entry point returns EXPRC_ERR_NUMERIC
                             with the model line and column of the
                             operation, and "backward of" it when its
                             gradient produced it. Slower (values are not
                             fused), so off by default; when off, not one
                             instruction of it is generated */
  exprc_dtype dtype;      /* EXPRC_FLOAT64 (0, the default) or EXPRC_FLOAT32:
                             every buffer of the model holds floats, matrix
                             products and large convolutions' products are
                             OpenBLAS's sgemm. The generated
                             code widens each value it reads to double,
                             computes in double and rounds to float when it
                             stores a value, so a result is within a few
                             float roundings of the float64 model's (see
                             docs/language.md, "float32"). The float64 calls
                             below work on it through double copies; the
                             _f32 calls read and write its floats directly.
                             EXPRC_INT64 is refused (EXPRC_ERR_ARG) */
} exprc_options;

typedef struct exprc_model exprc_model;

typedef enum exprc_kind {
  EXPRC_INPUT,     /* `input` */
  EXPRC_PARAM,     /* `param` */
  EXPRC_OUTPUT,    /* `output`: results of exprc_forward */
  EXPRC_LOSS,      /* L of each `grad L wrt ...`: results of exprc_gradient */
  EXPRC_GRADIENT   /* dL/dp of each `grad L wrt ...` */
} exprc_kind;

/* A view of one tensor of a model. `data` is NULL until every `dim` it uses
 * is bound; it stays valid until the model is freed or a dim it uses is
 * bound to another size. The gradients of one entry point lie in one block
 * (exprc_grad_block): for them, read "a dim any of them uses". Inputs are written with exprc_set; params may be
 * written in place through `data` (for example by an optimiser). */
typedef struct exprc_tensor {
  const char *name;     /* for a gradient: the name of p in dL/dp */
  const char *loss;     /* for a loss or gradient: the name of L; else NULL */
  exprc_kind kind;
  int rank;
  int64_t shape[EXPRC_MAX_RANK]; /* -1 for a dim not yet bound */
  int64_t size;                  /* element count, -1 if not yet known */
  double *data;
  exprc_dtype dtype;             /* EXPRC_INT64: data holds exact integers */
  float *data_f32;               /* the views of the _f32 calls (data is then
                                    NULL); else NULL */
} exprc_tensor;

/* Fill *o with the defaults. A NULL options pointer means the defaults. */
void exprc_options_default(exprc_options *o);

/* Compile a model. *out is always set (NULL only when memory ran out); when
 * the status is not EXPRC_OK the model holds only its error message, for
 * exprc_errmsg, and must still be freed. `name` is used in messages. */
exprc_status exprc_compile_string(const char *src, const char *name,
                                  const exprc_options *opt, exprc_model **out);
exprc_status exprc_compile_file(const char *path, const exprc_options *opt,
                                exprc_model **out);
void exprc_free(exprc_model *m); /* NULL is fine; in debug builds (without
   NDEBUG) a freed model is remembered, and a later call on it fails with
   EXPRC_ERR_ARG instead of touching freed memory */

/* The message of the last failed call on m ("" if none). For model errors it
 * reads "file:line:col: error: ..." followed by the source line and a caret. */
const char *exprc_errmsg(const exprc_model *m);

/* The generated C source the model was compiled from. */
const char *exprc_source(const exprc_model *m);

/* Enumerate a model's tensors of one kind, in declaration order. */
int exprc_count(const exprc_model *m, exprc_kind kind);
exprc_status exprc_get(exprc_model *m, exprc_kind kind, int i,
                       exprc_tensor *t);
/* Find an input, param or output by name. */
exprc_status exprc_find(exprc_model *m, const char *name, exprc_tensor *t);
/* Find dL/dp of the entry point `grad L wrt ..., p, ...`. */
exprc_status exprc_find_grad(exprc_model *m, const char *loss,
                             const char *wrt, exprc_tensor *t);

/* The gradients of `grad loss wrt a, b, ...` lie end to end in one block,
 * dloss/da then dloss/db ..., each in C order: *ptr is the first of *count
 * doubles, and the views of exprc_find_grad and exprc_get point into it.
 * One call such as MPI_Allreduce(MPI_IN_PLACE, ptr, count, MPI_DOUBLE,
 * MPI_SUM, comm) thus sums every gradient across processes. The pointer is
 * valid until the model is freed or a dim that any of these gradients uses
 * is bound to another size (the block then moves); EXPRC_ERR_STATE while
 * such a dim is unbound, EXPRC_ERR_NAME for an unknown loss. */
exprc_status exprc_grad_block(exprc_model *m, const char *loss, double **ptr,
                              int64_t *count);

/* Bind a `dim` explicitly. Dims are also bound by exprc_set from the shape of
 * the data given. Within one call cycle (until the next run) a dim keeps the
 * first size it is bound to; a later different size is an error. */
exprc_status exprc_bind_dim(exprc_model *m, const char *dim, int64_t n);

/* Copy `data` (C order) into an input or param; shape must match its
 * declaration, binding its dims. */
exprc_status exprc_set(exprc_model *m, const char *name, const double *data,
                       int rank, const int64_t *shape);

/* Copy integer data into an input or param (of any element type), as
 * exprc_set does. Every value must be at most 2^53 in magnitude (the
 * integers a double holds exactly), else EXPRC_ERR_ARG and nothing is
 * changed. exprc_set on an integer input likewise refuses values that are
 * not whole numbers in that range. */
exprc_status exprc_set_int64(exprc_model *m, const char *name,
                             const int64_t *data, int rank,
                             const int64_t *shape);

/* Read an input or param from a file: NumPy .npy (little-endian float64,
 * float32, int64 or int32, C order) or CSV (numbers, an optional header row; a table is
 * [rows, columns], and a single row or column also fits a vector). */
exprc_status exprc_set_file(exprc_model *m, const char *name,
                            const char *path);

/* Write every param to DIR/NAME.npy as float64 (float32 for a float32
 * model); the directory must exist. */
exprc_status exprc_save_params(exprc_model *m, const char *dir);

/* Re-initialise every param from its initializer with this seed (and
 * restart the model's draws, as exprc_seed_draws does). */
exprc_status exprc_init_params(exprc_model *m, uint64_t seed);

/* Restart the draws of normal(...), uniform(...) and bernoulli(...) inside
 * the model from this seed, leaving the params as they are: the next calls
 * draw what they would after exprc_init_params(m, seed). For replaying a
 * run, and for checking the gradient of a stochastic loss by finite
 * differences with the same draws at every evaluation. */
exprc_status exprc_seed_draws(exprc_model *m, uint64_t seed);

/* Run the forward entry point (every `output`). */
exprc_status exprc_forward(exprc_model *m);
/* Run the entry point of `grad loss wrt ...`: computes loss and dloss/dp. */
exprc_status exprc_gradient(exprc_model *m, const char *loss);

/* ---- float32 models (exprc_options.dtype = EXPRC_FLOAT32) ----
 *
 * Such a model keeps every tensor as float. The float64 calls above work on
 * it through a double copy of each tensor they hand out: exprc_set rounds
 * the data to float; a view from exprc_get, exprc_find, exprc_find_grad or
 * exprc_grad_block points at a copy that every run refreshes (results) or
 * rounds into the model first (inputs and params: an optimiser may write
 * them through `data`, as in a float64 model). These copies cost a pass
 * over those tensors at every run; the calls below avoid them.
 *
 * exprc_get_f32, exprc_find_f32 and exprc_find_grad_f32 fill t as their
 * float64 twins do, with data NULL and data_f32 the model's own floats,
 * read and written in place; and they stop the double copy of that tensor
 * (the view asked for last is the one the model follows). exprc_grad_block_f32
 * likewise gives the float block of the gradients. On a float64 model they
 * fail with EXPRC_ERR_STATE. exprc_set_f32 copies float data into an input
 * or param of either kind of model. */
exprc_dtype exprc_model_dtype(const exprc_model *m); /* EXPRC_FLOAT64 for a
                                                         NULL or failed one */
exprc_status exprc_set_f32(exprc_model *m, const char *name, const float *data,
                           int rank, const int64_t *shape);
exprc_status exprc_get_f32(exprc_model *m, exprc_kind kind, int i,
                           exprc_tensor *t);
exprc_status exprc_find_f32(exprc_model *m, const char *name, exprc_tensor *t);
exprc_status exprc_find_grad_f32(exprc_model *m, const char *loss,
                                 const char *wrt, exprc_tensor *t);
exprc_status exprc_grad_block_f32(exprc_model *m, const char *loss,
                                  float **ptr, int64_t *count);

/* Tiers (EXPRC_BACKEND_AUTO). The code the next run of m uses:
 * EXPRC_BACKEND_CC once the system compiler's code has replaced libtcc's,
 * else EXPRC_BACKEND_TCC (also for a NULL or failed model). With
 * EXPRC_BACKEND_CC it is CC unless the compile fell back to libtcc. */
exprc_backend exprc_backend_now(const exprc_model *m);

/* Block until the background compile of EXPRC_BACKEND_AUTO is over
 * (starting it if the model's runs have not yet).
 * EXPRC_OK when the system compiler's code now runs (and at once for the
 * other backends); EXPRC_ERR_JIT when it could not be built (missing or
 * failing compiler, timeout), with why in exprc_errmsg: the model stays
 * usable, on libtcc's code. Tests and benchmarks use it to know which code
 * they measure; other programs need not call it. */
exprc_status exprc_wait_tier(exprc_model *m);

#ifdef __cplusplus
}
#endif

#endif
