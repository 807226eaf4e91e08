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

/* n classical RK4 steps of length h on dtheta/dt = -grad L(theta), theta updated in place (the
 * gradient-flow reference, dln/solve/flow.py): the element-wise operations of flow._rk4 in
 * NumPy, in the same order, so its bytes are the same (no FMA: -ffp-contract=off), without a
 * ctypes round trip per gradient (4 per step). work: 4 * voff[N+1] + 5 * n_params entries. */
void dln_gf_rk4_f64(double *theta, const double *phi, const int64_t *w, int64_t N,
                    const int64_t *offs, const int64_t *voff, int64_t r, double h, int64_t n,
                    double *work)
{
    const int64_t P = offs[N];
    double *k1 = work + 4 * voff[N + 1], *k2 = k1 + P, *k3 = k2 + P, *k4 = k3 + P, *y = k4 + P;
    const double half = h / 2, sixth = h / 6;
    for (int64_t s = 0; s < n; ++s) {
        dln_loss_grad_f64(theta, phi, w, N, offs, voff, r, work, k1);
        for (int64_t i = 0; i < P; ++i) y[i] = theta[i] - half * k1[i];
        dln_loss_grad_f64(y, phi, w, N, offs, voff, r, work, k2);
        for (int64_t i = 0; i < P; ++i) y[i] = theta[i] - half * k2[i];
        dln_loss_grad_f64(y, phi, w, N, offs, voff, r, work, k3);
        for (int64_t i = 0; i < P; ++i) y[i] = theta[i] - h * k3[i];
        dln_loss_grad_f64(y, phi, w, N, offs, voff, r, work, k4);
        for (int64_t i = 0; i < P; ++i) /* k1 + 2.0 * k2 + 2.0 * k3 + k4, left to right */
            theta[i] = theta[i] - sixth * (((k1[i] + 2.0 * k2[i]) + 2.0 * k3[i]) + k4[i]);
    }
}

/* The batched kernel: NL runs of one architecture and one target Phi in lockstep, each value
 * of run l at [index * NL + l]. The NL values of an index are NV GCC/clang vectors of the
 * instruction set's width (one lane per run), the unit of every operation below: lanes are
 * independent by construction, never summed across, and each run sees the operations of
 * dln_gd_* above in the same order, so its bytes equal the single-run kernel's (compiled with
 * -ffp-contract=off: no FMA in either). Explicit vectors, not lane loops left to the
 * auto-vectoriser: for 8 lanes GCC 12 vectorised other loops instead, with shuffles and scalar
 * tails, at twice the time per run of 16 lanes. NL is 8 or 16 runs per call. Not more: 32 runs of the paper's network (weights and work
 * vectors 49 KB in float64) outgrow a 48 KB L1 cache and were slower (docs/performance.md).
 * Every helper is inlined into its entry point, so it is compiled for that entry point's
 * instruction set (a plain static helper would stay baseline SSE2).
 *
 * Two work vectors of n = voff[N+1] slots per lane instead of four: h (layers 0..r) and
 * c (layers r..N) meet only at the width-1 layer r, where both are 1; m (layers 0..r-1) and
 * e (layers r+1..N) never meet. */
#define INLINE static inline __attribute__((always_inline))
/* VB bytes of one index, several runs: a vector of the instruction set's width (wider GCC
 * vectors were split badly); may_alias and element alignment, as for the _mm*_u types */
#define HW_VECTOR(T, VB) __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias))
typedef double f64v16 HW_VECTOR(double, 16);
typedef double f64v32 HW_VECTOR(double, 32);
typedef double f64v64 HW_VECTOR(double, 64);
typedef float f32v16 HW_VECTOR(float, 16);
typedef float f32v32 HW_VECTOR(float, 32);
typedef float f32v64 HW_VECTOR(float, 64);
/* each of the NV vectors of an index (NV = NL runs / runs per vector) */
#define EACH for (int q = 0; q < NV; ++q)
#define DEFINE_BATCH_KERNEL(T, SUFFIX, NL, ISA, ATTR, VB)                                     \
    _Static_assert(NL * sizeof(T) % VB == 0, "NL runs fill whole vectors");                   \
    ATTR INLINE void matvec_##SUFFIX##_##NL##_##ISA(const T *restrict W, const T *restrict x,  \
                                                   T *restrict y, int64_t n_out, int64_t n_in, \
                                                   int64_t so, int64_t sk)                    \
    { /* y_o = sum_k W[o so + k sk] x_k, k ascending, as the single-run kernel sums (it writes  \
       * some products x_k W, others W x_k: the same bytes, IEEE products commute) */        \
        typedef SUFFIX##v##VB V;                                                              \
        enum { NV = NL * sizeof(T) / VB };                                                    \
        for (int64_t o = 0; o < n_out; ++o) {                                                 \
            V acc[NV];                                                                        \
            EACH acc[q] = (V){0};                                                             \
            for (int64_t k = 0; k < n_in; ++k) {                                              \
                const V *restrict wv = (const V *)(W + (o * so + k * sk) * NL);               \
                const V *restrict xk = (const V *)(x + k * NL);                               \
                EACH acc[q] += wv[q] * xk[q];                                                 \
            }                                                                                 \
            EACH((V *)(y + o * NL))[q] = acc[q];                                              \
        }                                                                                     \
    }                                                                                         \
    ATTR INLINE void residual_##SUFFIX##_##NL##_##ISA(                                         \
        const T *restrict phi, int64_t d0, int64_t dN, const T *restrict h,                   \
        const T *restrict cN, T *restrict m0, T *restrict eN, T *restrict loss)               \
    { /* G = c_N h_0 - Phi: loss = sum G^2 (halved by the caller), e_N = G h_0^T, m_0 = G^T c_N */ \
        typedef SUFFIX##v##VB V;                                                              \
        enum { NV = NL * sizeof(T) / VB };                                                    \
        V sum[NV];                                                                            \
        EACH sum[q] = (V){0};                                                                 \
        for (int64_t b = 0; b < d0; ++b) EACH((V *)(m0 + b * NL))[q] = (V){0};                \
        for (int64_t a = 0; a < dN; ++a) {                                                    \
            const V *restrict ca = (const V *)(cN + a * NL);                                  \
            V acc[NV];                                                                        \
            EACH acc[q] = (V){0};                                                             \
            for (int64_t b = 0; b < d0; ++b) {                                                \
                const T p = phi[a * d0 + b];                                                  \
                const V *restrict hb = (const V *)(h + b * NL);                               \
                V *restrict mb = (V *)(m0 + b * NL);                                          \
                EACH {                                                                        \
                    const V g = ca[q] * hb[q] - p;                                            \
                    sum[q] += g * g;                                                          \
                    acc[q] += g * hb[q];                                                      \
                    mb[q] += g * ca[q];                                                       \
                }                                                                             \
            }                                                                                 \
            EACH((V *)(eN + a * NL))[q] = acc[q];                                             \
        }                                                                                     \
        EACH((V *)loss)[q] = sum[q];                                                          \
    }                                                                                         \
    ATTR INLINE void vectors_##SUFFIX##_##NL##_##ISA(                                          \
        const T *restrict theta, const T *restrict phi, const int64_t *w, int64_t N,          \
        const int64_t *offs, const int64_t *voff, int64_t r, T *restrict hc, T *restrict em,  \
        T *restrict loss)                                                                     \
    { /* h, c, e, m of the header, and the unhalved loss; hc holds h and c, em holds e, m */  \
        for (int l = 0; l < NL; ++l) hc[voff[r] * NL + l] = 1;                                \
        for (int64_t j = r; j >= 1; --j) /* h_{j-1} = h_j W_j */                              \
            matvec_##SUFFIX##_##NL##_##ISA(theta + offs[j - 1] * NL, hc + voff[j] * NL,       \
                                           hc + voff[j - 1] * NL, w[j - 1], w[j], 1, w[j - 1]); \
        for (int64_t j = r + 1; j <= N; ++j) /* c_j = W_j c_{j-1} */                          \
            matvec_##SUFFIX##_##NL##_##ISA(theta + offs[j - 1] * NL, hc + voff[j - 1] * NL,   \
                                           hc + voff[j] * NL, w[j], w[j - 1], w[j - 1], 1);   \
        residual_##SUFFIX##_##NL##_##ISA(phi, w[0], w[N], hc, hc + voff[N] * NL, em,          \
                                         em + voff[N] * NL, loss);                            \
        for (int64_t j = N; j >= r + 2; --j) /* e_{j-1} = W_j^T e_j */                        \
            matvec_##SUFFIX##_##NL##_##ISA(theta + offs[j - 1] * NL, em + voff[j] * NL,       \
                                           em + voff[j - 1] * NL, w[j - 1], w[j], 1, w[j - 1]); \
        for (int64_t j = 1; j <= r - 1; ++j) /* m_j = W_j m_{j-1} */                          \
            matvec_##SUFFIX##_##NL##_##ISA(theta + offs[j - 1] * NL, em + voff[j - 1] * NL,   \
                                           em + voff[j] * NL, w[j], w[j - 1], w[j - 1], 1);   \
    }                                                                                         \
    ATTR INLINE void step_##SUFFIX##_##NL##_##ISA(                                             \
        T *restrict theta, const int64_t *w, int64_t N, const int64_t *offs,                  \
        const int64_t *voff, int64_t r, const T *restrict hc, const T *restrict em,           \
        const T *restrict lr)                                                                 \
    { /* theta -= lr * grad, grad_j = left_j right_j^T formed on the fly: the same two       \
       * roundings per entry as storing grad first (single-run kernel), one pass fewer */     \
        typedef SUFFIX##v##VB V;                                                              \
        enum { NV = NL * sizeof(T) / VB };                                                    \
        V rate[NV];                                                                           \
        EACH rate[q] = ((const V *)lr)[q];                                                    \
        for (int64_t j = 1; j <= N; ++j) {                                                    \
            const int64_t dj = w[j], dm = w[j - 1];                                           \
            const T *restrict left = (j > r) ? em + voff[j] * NL : hc + voff[j] * NL;         \
            const T *restrict right = (j > r) ? hc + voff[j - 1] * NL : em + voff[j - 1] * NL; \
            T *restrict th = theta + offs[j - 1] * NL;                                        \
            for (int64_t a = 0; a < dj; ++a) {                                                \
                const V *restrict la = (const V *)(left + a * NL);                            \
                for (int64_t b = 0; b < dm; ++b) {                                            \
                    V *restrict t = (V *)(th + (a * dm + b) * NL);                            \
                    const V *restrict rb = (const V *)(right + b * NL);                       \
                    EACH t[q] -= rate[q] * (la[q] * rb[q]);                                   \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
    ATTR INLINE void record_##SUFFIX##_##NL##_##ISA(                                           \
        const T *restrict theta, int64_t P, int64_t n_rec, int64_t rec, T *restrict snaps,    \
        const int64_t *diverged_at, int64_t *n_recs)                                          \
    { /* snapshot rec of every run still going (theta is P x NL, snaps NL x n_rec x P) */     \
        for (int l = 0; l < NL; ++l)                                                          \
            if (diverged_at[l] < 0) {                                                         \
                T *restrict dst = snaps + (l * n_rec + rec) * P;                              \
                for (int64_t i = 0; i < P; ++i) dst[i] = theta[i * NL + l];                   \
                n_recs[l] = rec + 1;                                                          \
            }                                                                                 \
    }                                                                                         \
    ATTR INLINE void diverges_##SUFFIX##_##NL##_##ISA(const T *restrict loss, int64_t t,       \
                                                    T *restrict lr, int64_t *diverged_at)     \
    { /* marks the runs whose loss first turns non-finite at step t (their lr becomes 0) */   \
        int bad = 0; /* x - x is 0 exactly when x is finite */                                \
        for (int l = 0; l < NL; ++l) bad |= !(loss[l] - loss[l] == 0);                        \
        if (bad)                                                                              \
            for (int l = 0; l < NL; ++l)                                                      \
                if (diverged_at[l] < 0 && !isfinite(loss[l])) {                               \
                    diverged_at[l] = t;                                                       \
                    lr[l] = 0;                                                                \
                }                                                                             \
    }                                                                                         \
    /* dln_gd_* for NL runs: theta (P x NL, updated), lr (NL; a run that diverges gets 0      \
     * there), snaps (NL x n_rec x P), rec_steps (n_rec, shared), n_recs and diverged_at      \
     * (NL). A run whose loss is not finite stops recording there and its weights stop        \
     * moving, as dln_gd_* stops. work: 2 * voff[N+1] * NL entries. */                        \
    ATTR void dln_gd_batch_##SUFFIX##_##NL##_##ISA(                                            \
        T *restrict theta, const T *restrict phi, const int64_t *w, int64_t N,                \
        const int64_t *offs, const int64_t *voff, int64_t r, T *restrict lr, int64_t steps,   \
        int64_t every, int64_t n_rec, T *restrict work, T *restrict snaps, int64_t *rec_steps, \
        int64_t *n_recs, int64_t *diverged_at)                                                \
    {                                                                                         \
        const int64_t P = offs[N], n = voff[N + 1];                                           \
        T *restrict hc = work, *restrict em = work + n * NL, loss[NL];                        \
        int64_t rec = 0, next = 0; /* next: the next step to record */                        \
        for (int l = 0; l < NL; ++l) {                                                        \
            n_recs[l] = 0;                                                                    \
            diverged_at[l] = -1;                                                              \
        }                                                                                     \
        for (int64_t t = 0; t <= steps; ++t) {                                                \
            vectors_##SUFFIX##_##NL##_##ISA(theta, phi, w, N, offs, voff, r, hc, em, loss);   \
            diverges_##SUFFIX##_##NL##_##ISA(loss, t, lr, diverged_at);                       \
            if (t == next || t == steps) {                                                    \
                record_##SUFFIX##_##NL##_##ISA(theta, P, n_rec, rec, snaps, diverged_at,      \
                                               n_recs);                                       \
                rec_steps[rec++] = t;                                                         \
                next += every;                                                                \
            }                                                                                 \
            if (t == steps) break;                                                            \
            step_##SUFFIX##_##NL##_##ISA(theta, w, N, offs, voff, r, hc, em, lr);             \
        }                                                                                     \
    }

/* VB: bytes of the instruction set's vectors; VB8: of 8 float32 lanes (32 bytes at most) */
#define DEFINE_BATCH_ISA(ISA, ATTR, VB, VB8)                                                  \
    DEFINE_BATCH_KERNEL(double, f64, 8, ISA, ATTR, VB)                                        \
    DEFINE_BATCH_KERNEL(double, f64, 16, ISA, ATTR, VB)                                       \
    DEFINE_BATCH_KERNEL(float, f32, 8, ISA, ATTR, VB8)                                        \
    DEFINE_BATCH_KERNEL(float, f32, 16, ISA, ATTR, VB)

/* One build per instruction set; dln_batch_isas() says which this CPU can run and Python picks
 * the widest. The lanes stay independent and -ffp-contract=off keeps FMA out, so every build
 * gives the same bytes (tests/solve/test_batch.py runs each one). */
DEFINE_BATCH_ISA(base, , 16, 16)
#if defined(__x86_64__) && defined(__GNUC__)
DEFINE_BATCH_ISA(avx2, __attribute__((target("avx2"))), 32, 32)
DEFINE_BATCH_ISA(avx512, __attribute__((target("avx512f"))), 64, 32)
#define HAVE_X86_BUILDS 1
#endif

/* bit 0: base (always), bit 1: avx2, bit 2: avx512 -- the builds present that this CPU runs */
int64_t dln_batch_isas(void)
{
    int64_t isas = 1;
#ifdef HAVE_X86_BUILDS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) isas |= 2;
    if (__builtin_cpu_supports("avx512f")) isas |= 4;
#endif
    return isas;
}

/* An importable module so that setuptools builds and installs this file; Python code loads it
 * with ctypes (dln.kernel) and never calls into the module itself. */
static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT, .m_name = "_kernel", .m_size = -1};
PyMODINIT_FUNC PyInit__kernel(void) { return PyModule_Create(&kernel_module); }
