/* Gradient descent for a deep linear network with a width-1 layer, in float64 and float32.
 *
 * Plain C called through ctypes (dln/kernel.py): no JIT start-up cost, so a fresh process runs
 * a 1e5-step job in about a second, which is what a Snakemake grid of many small jobs needs.
 *
 * The weights live in one flat vector (W_1 first, each block row-major, W_j is d_j x d_{j-1}).
 * The width-1 layer r makes the product rank one, W = c_N h_0 with the column
 * c_j = W_j...W_{r+1} and the row h_j = W_r...W_{j+1}, so each layer's gradient is an outer
 * product of two vectors:
 *     j > r:  grad_j = e_j c_{j-1}^T,  e_N = G h_0^T,  e_{j-1} = W_j^T e_j
 *     j <= r: grad_j = h_j^T m_{j-1}^T, m_0 = G^T c_N,  m_j = W_j m_{j-1}
 * with G = W - Phi. This is exact, and costs about 4 x sum_j d_j d_{j-1} multiply-adds per step.
 */
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* vectors h, c, e, m: one slot of length d_j per layer index j, at voff[j] (voff[j+1]-voff[j] = d_j) */
#define DEFINE_KERNEL(T, SUFFIX)                                                              \
    static T loss_and_grad_##SUFFIX(const T *theta, const T *phi, const int64_t *w,           \
                                     int64_t N, const int64_t *offs, const int64_t *voff,     \
                                     int64_t r, T *h, T *c, T *e, T *m, T *grad)              \
    {                                                                                         \
        const int64_t d0 = w[0], dN = w[N];                                                   \
        h[voff[r]] = 1;                                                                       \
        for (int64_t j = r; j >= 1; --j) { /* h_{j-1} = h_j W_j */                            \
            const int64_t dj = w[j], dm = w[j - 1];                                           \
            const T *W = theta + offs[j - 1];                                                 \
            for (int64_t b = 0; b < dm; ++b) {                                                \
                T acc = 0;                                                                    \
                for (int64_t a = 0; a < dj; ++a) acc += h[voff[j] + a] * W[a * dm + b];       \
                h[voff[j - 1] + b] = acc;                                                     \
            }                                                                                 \
        }                                                                                     \
        c[voff[r]] = 1;                                                                       \
        for (int64_t j = r + 1; j <= N; ++j) { /* c_j = W_j c_{j-1} */                        \
            const int64_t dj = w[j], dm = w[j - 1];                                           \
            const T *W = theta + offs[j - 1];                                                 \
            for (int64_t a = 0; a < dj; ++a) {                                                \
                T acc = 0;                                                                    \
                for (int64_t b = 0; b < dm; ++b) acc += W[a * dm + b] * c[voff[j - 1] + b];   \
                c[voff[j] + a] = acc;                                                         \
            }                                                                                 \
        }                                                                                     \
        T loss = 0;                                                                           \
        for (int64_t b = 0; b < d0; ++b) m[b] = 0;                                            \
        for (int64_t a = 0; a < dN; ++a) { /* G = c_N h_0 - Phi; e_N = G h_0^T; m_0 = G^T c_N */ \
            const T ca = c[voff[N] + a];                                                      \
            T ea = 0;                                                                         \
            for (int64_t b = 0; b < d0; ++b) {                                                \
                const T g = ca * h[b] - phi[a * d0 + b];                                      \
                loss += g * g;                                                                \
                ea += g * h[b];                                                               \
                m[b] += g * ca;                                                               \
            }                                                                                 \
            e[voff[N] + a] = ea;                                                              \
        }                                                                                     \
        for (int64_t j = N; j >= r + 2; --j) { /* e_{j-1} = W_j^T e_j */                      \
            const int64_t dj = w[j], dm = w[j - 1];                                           \
            const T *W = theta + offs[j - 1];                                                 \
            for (int64_t b = 0; b < dm; ++b) {                                                \
                T acc = 0;                                                                    \
                for (int64_t a = 0; a < dj; ++a) acc += W[a * dm + b] * e[voff[j] + a];       \
                e[voff[j - 1] + b] = acc;                                                     \
            }                                                                                 \
        }                                                                                     \
        for (int64_t j = 1; j <= r - 1; ++j) { /* m_j = W_j m_{j-1} */                        \
            const int64_t dj = w[j], dm = w[j - 1];                                           \
            const T *W = theta + offs[j - 1];                                                 \
            for (int64_t a = 0; a < dj; ++a) {                                                \
                T acc = 0;                                                                    \
                for (int64_t b = 0; b < dm; ++b) acc += W[a * dm + b] * m[voff[j - 1] + b];   \
                m[voff[j] + a] = acc;                                                         \
            }                                                                                 \
        }                                                                                     \
        for (int64_t j = 1; j <= N; ++j) { /* outer products */                               \
            const int64_t dj = w[j], dm = w[j - 1];                                           \
            const T *left = (j > r) ? e + voff[j] : h + voff[j];                              \
            const T *right = (j > r) ? c + voff[j - 1] : m + voff[j - 1];                     \
            T *g = grad + offs[j - 1];                                                        \
            for (int64_t a = 0; a < dj; ++a)                                                  \
                for (int64_t b = 0; b < dm; ++b) g[a * dm + b] = left[a] * right[b];          \
        }                                                                                     \
        return (T)0.5 * loss;                                                                 \
    }                                                                                         \
                                                                                              \
    /* One loss and gradient; work is 4 * voff[N+1] scratch entries. */                       \
    double dln_loss_grad_##SUFFIX(const T *theta, const T *phi, const int64_t *w, int64_t N,  \
                                  const int64_t *offs, const int64_t *voff, int64_t r,        \
                                  T *work, T *grad)                                           \
    {                                                                                         \
        const int64_t n = voff[N + 1];                                                        \
        return loss_and_grad_##SUFFIX(theta, phi, w, N, offs, voff, r, work, work + n,        \
                                      work + 2 * n, work + 3 * n, grad);                      \
    }                                                                                         \
                                                                                              \
    /* `steps` GD steps from theta (updated in place). Snapshots of theta at steps 0, every,   \
     * 2 every, ... and the last step go to snaps (row-major, n_params per row), their steps   \
     * to rec_steps. Returns the number of records; *diverged_at is the first step whose loss \
     * is not finite (-1 if none), where the run stops. work: 4 * voff[N+1] + n_params. */    \
    int64_t dln_gd_##SUFFIX(T *theta, const T *phi, const int64_t *w, int64_t N,              \
                            const int64_t *offs, const int64_t *voff, int64_t r, T lr,        \
                            int64_t steps, int64_t every, T *work, T *snaps,                  \
                            int64_t *rec_steps, int64_t *diverged_at)                         \
    {                                                                                         \
        const int64_t P = offs[N], n = voff[N + 1];                                           \
        T *grad = work + 4 * n;                                                               \
        int64_t rec = 0;                                                                      \
        *diverged_at = -1;                                                                    \
        for (int64_t t = 0; t <= steps; ++t) {                                                \
            const T loss = loss_and_grad_##SUFFIX(theta, phi, w, N, offs, voff, r, work,      \
                                                  work + n, work + 2 * n, work + 3 * n, grad); \
            if (!isfinite(loss)) {                                                            \
                *diverged_at = t;                                                             \
                break;                                                                        \
            }                                                                                 \
            if (t % every == 0 || t == steps) {                                               \
                for (int64_t i = 0; i < P; ++i) snaps[rec * P + i] = theta[i];                \
                rec_steps[rec++] = t;                                                         \
            }                                                                                 \
            if (t == steps) break;                                                            \
            for (int64_t i = 0; i < P; ++i) theta[i] -= lr * grad[i];                         \
        }                                                                                     \
        return rec;                                                                           \
    }

DEFINE_KERNEL(double, f64)
DEFINE_KERNEL(float, f32)

/* The batched kernel: LB runs of one architecture and one target Phi in lockstep, each value
 * of run l at [index * LB + l], so that every loop below ends in a loop over the runs: contiguous,
 * independent lanes (one SIMD lane per run), no sum across lanes. Each run sees the operations
 * of dln_gd_* above in the same order, so its bytes equal the single-run kernel's (compiled
 * with -ffp-contract=off: no FMA in either). The caller passes runs in blocks of LB. */
#define LB 8 /* runs per call: a fixed count, so a lane loop is a few SIMD registers */
#define LANES for (int64_t l = 0; l < LB; ++l)
#define B LB
#define DEFINE_BATCH_KERNEL(T, SUFFIX)                                                        \
    static void matvec_rows_##SUFFIX(const T *W, const T *x, T *y, int64_t rows, int64_t cols)\
    { /* y_a = sum_b W[a, b] x_b, b ascending (c_j = W_j c_{j-1}, m_j = W_j m_{j-1}) */      \
        for (int64_t a = 0; a < rows; ++a) {                                                  \
            T acc[LB];                                                                        \
            LANES acc[l] = 0;                                                                 \
            for (int64_t b = 0; b < cols; ++b) {                                              \
                const T *w = W + (a * cols + b) * B, *xb = x + b * B;                         \
                LANES acc[l] += w[l] * xb[l];                                                 \
            }                                                                                 \
            LANES y[a * B + l] = acc[l];                                                      \
        }                                                                                     \
    }                                                                                         \
    static void matvec_cols_##SUFFIX(const T *W, const T *x, T *y, int64_t rows, int64_t cols,\
                                     int x_left)                                              \
    { /* y_b = sum_a x_a W[a, b], a ascending; x_left: x_a * W (h), else W * x_a (e) */       \
        for (int64_t b = 0; b < cols; ++b) {                                                  \
            T acc[LB];                                                                        \
            LANES acc[l] = 0;                                                                 \
            for (int64_t a = 0; a < rows; ++a) {                                              \
                const T *w = W + (a * cols + b) * B, *xa = x + a * B;                         \
                if (x_left) LANES acc[l] += xa[l] * w[l];                                     \
                else LANES acc[l] += w[l] * xa[l];                                            \
            }                                                                                 \
            LANES y[b * B + l] = acc[l];                                                      \
        }                                                                                     \
    }                                                                                         \
    static void batch_grad_##SUFFIX(const T *theta, const T *phi, const int64_t *w, int64_t N,\
                                    const int64_t *offs, const int64_t *voff, int64_t r,      \
                                    T *h, T *c, T *e, T *m, T *grad, T *loss)                 \
    {                                                                                         \
        const int64_t d0 = w[0], dN = w[N];                                                   \
        LANES h[voff[r] * B + l] = 1;                                                         \
        for (int64_t j = r; j >= 1; --j)                                                      \
            matvec_cols_##SUFFIX(theta + offs[j - 1] * B, h + voff[j] * B,                    \
                                 h + voff[j - 1] * B, w[j], w[j - 1], 1);             \
        LANES c[voff[r] * B + l] = 1;                                                         \
        for (int64_t j = r + 1; j <= N; ++j)                                                  \
            matvec_rows_##SUFFIX(theta + offs[j - 1] * B, c + voff[j - 1] * B,                \
                                 c + voff[j] * B, w[j], w[j - 1]);                    \
        LANES loss[l] = 0;                                                                    \
        for (int64_t b = 0; b < d0; ++b) LANES m[b * B + l] = 0;                              \
        for (int64_t a = 0; a < dN; ++a) {                                                    \
            const T *ca = c + (voff[N] + a) * B;                                              \
            T acc[LB];                                                                        \
            LANES acc[l] = 0;                                                                 \
            for (int64_t b = 0; b < d0; ++b) {                                                \
                const T p = phi[a * d0 + b], *hb = h + b * B;                                 \
                T *mb = m + b * B;                                                            \
                LANES {                                                                       \
                    const T g = ca[l] * hb[l] - p;                                            \
                    loss[l] += g * g;                                                         \
                    acc[l] += g * hb[l];                                                      \
                    mb[l] += g * ca[l];                                                       \
                }                                                                             \
            }                                                                                 \
            LANES e[(voff[N] + a) * B + l] = acc[l];                                          \
        }                                                                                     \
        for (int64_t j = N; j >= r + 2; --j)                                                  \
            matvec_cols_##SUFFIX(theta + offs[j - 1] * B, e + voff[j] * B,                    \
                                 e + voff[j - 1] * B, w[j], w[j - 1], 0);             \
        for (int64_t j = 1; j <= r - 1; ++j)                                                  \
            matvec_rows_##SUFFIX(theta + offs[j - 1] * B, m + voff[j - 1] * B,                \
                                 m + voff[j] * B, w[j], w[j - 1]);                    \
        for (int64_t j = 1; j <= N; ++j) {                                                    \
            const int64_t dj = w[j], dm = w[j - 1];                                           \
            const T *left = (j > r) ? e + voff[j] * B : h + voff[j] * B;                      \
            const T *right = (j > r) ? c + voff[j - 1] * B : m + voff[j - 1] * B;             \
            T *g = grad + offs[j - 1] * B;                                                    \
            for (int64_t a = 0; a < dj; ++a)                                                  \
                for (int64_t b = 0; b < dm; ++b)                                              \
                    LANES g[(a * dm + b) * B + l] = left[a * B + l] * right[b * B + l];       \
        }                                                                                     \
        LANES loss[l] = (T)0.5 * loss[l];                                                     \
    }                                                                                         \
                                                                                              \
    /* dln_gd_* for LB runs: theta (P x LB, updated), lr (LB), snaps (LB x n_rec x P),        \
     * rec_steps (n_rec, shared), n_recs and diverged_at (LB). A run whose loss is not finite stops       \
     * recording there and its weights stop moving (its lr is set to 0), as dln_gd_* stops.    \
     * work: (4 * voff[N+1] + P) * LB entries. */                                          \
    MULTIVERSION void dln_gd_batch_##SUFFIX(                                                  \
        T *theta, const T *phi, const int64_t *w, int64_t N, const int64_t *offs,             \
        const int64_t *voff, int64_t r, T *lr, int64_t steps, int64_t every,                  \
        int64_t n_rec, T *work, T *snaps, int64_t *rec_steps, int64_t *n_recs,                \
        int64_t *diverged_at)                                                                 \
    {                                                                                         \
        const int64_t P = offs[N], n = voff[N + 1];                                           \
        T *h = work, *c = work + n * B, *e = work + 2 * n * B, *m = work + 3 * n * B;         \
        T *grad = work + 4 * n * B, loss[LB];                                                 \
        int64_t rec = 0;                                                                      \
        LANES { n_recs[l] = 0; diverged_at[l] = -1; }                                         \
        for (int64_t t = 0; t <= steps; ++t) {                                                \
            batch_grad_##SUFFIX(theta, phi, w, N, offs, voff, r, h, c, e, m, grad, loss);     \
            LANES if (diverged_at[l] < 0 && !isfinite(loss[l])) {                             \
                diverged_at[l] = t;                                                           \
                lr[l] = 0;                                                                    \
            }                                                                                 \
            if (t % every == 0 || t == steps) {                                               \
                LANES if (diverged_at[l] < 0) {                                               \
                    T *dst = snaps + (l * n_rec + rec) * P;                                   \
                    for (int64_t i = 0; i < P; ++i) dst[i] = theta[i * B + l];                \
                    n_recs[l] = rec + 1;                                                      \
                }                                                                             \
                rec_steps[rec++] = t;                                                         \
            }                                                                                 \
            if (t == steps) break;                                                            \
            for (int64_t i = 0; i < P; ++i) {                                                 \
                T *th = theta + i * B;                                                        \
                const T *gr = grad + i * B;                                                   \
                LANES th[l] -= lr[l] * gr[l];                                                 \
            }                                                                                 \
        }                                                                                     \
    }

/* one build per instruction set, chosen at load time (GCC on x86-64); the lanes stay
 * independent and -ffp-contract=off keeps FMA out, so every version gives the same bytes */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MULTIVERSION
#endif

DEFINE_BATCH_KERNEL(double, f64)
DEFINE_BATCH_KERNEL(float, f32)
#undef B

/* the lane count, for the caller */
int64_t dln_batch_lanes(void) { return LB; }

/* An importable module so that setuptools builds and installs this file; Python code loads it
 * with ctypes (dln.kernel) and never calls into the module itself. */
static struct PyModuleDef kernel_module = {PyModuleDef_HEAD_INIT, "_kernel", NULL, -1, NULL};
PyMODINIT_FUNC PyInit__kernel(void) { return PyModule_Create(&kernel_module); }
