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

/* An importable module so that setuptools builds and installs this file; Python code loads it
 * with ctypes (dln.kernel) and never calls into the module itself. */
static struct PyModuleDef kernel_module = {PyModuleDef_HEAD_INIT, "_kernel", NULL, -1, NULL};
PyMODINIT_FUNC PyInit__kernel(void) { return PyModule_Create(&kernel_module); }
