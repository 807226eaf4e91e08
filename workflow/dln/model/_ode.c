/* The laws' two flows, integrated in C: the reduced (sigma, u, v, A) flow of dln.model.reduced
 * and the modified-loss flow of dln.analysis.escape_model (d theta/dt = -grad L - (lr/2) H grad L).
 *
 * The integrator is dln/model/ode.py transcribed step for step: the same Dormand-Prince 5(4)
 * tableau, step-size control, tolerances, MAX_STEPS and event location (Illinois regula falsi
 * on re-taken steps), with each sum in the Python's order (NumPy's pairwise sum for the error
 * norm's mean). The Python stays the reference (tests/model/test_ode_c.py compares them); it
 * takes ~1,400 small NumPy calls per run, this takes ~0.1 ms. Results agree with it to
 * round-off: its matrix-vector products go through BLAS, these are plain loops in a fixed
 * order. The file also holds two loops of the analysis over a run's records: loss and
 * gradient norm (calling, like the modified flow, the GD kernel's gradient through its address)
 * and the product's end vectors and alignments (the NumPy code's operations in its order, the
 * same bits). Built with -ffp-contract=off (no FMA), so the bytes do not depend on the CPU; libm's
 * exp, pow and sqrt are the only transcendental calls. Loaded with ctypes (dln.model.ode).
 */
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define MAX_STEPS 200000
#define MAX_EVENTS 2

/* dln.kernel's dln_loss_grad_f64: (theta, phi, widths, N, offs, voff, r, work, grad) -> loss */
typedef double (*loss_grad_fn)(const double *, const double *, const int64_t *, int64_t,
                               const int64_t *, const int64_t *, int64_t, double *, double *);

typedef struct Flow Flow;
struct Flow {
    int64_t n; /* state length */
    void (*rhs)(Flow *, const double *y, double *f);
    double (*g[MAX_EVENTS])(Flow *, const double *y); /* event functions */
    double direction[MAX_EVENTS];
    int terminal[MAX_EVENTS];
    int n_events;
    double *scratch; /* the right-hand side's work space */
    /* reduced flow: y = (ln sigma, u, v, A) */
    const double *phi;
    int64_t n_out, n_in;
    double depth, s1, half_s2, target, level;
    /* modified-loss flow: y = theta */
    loss_grad_fn loss_grad;
    const int64_t *widths, *offs, *voff;
    int64_t N, r;
    double lr;
};

/* Python's min(a, b) and max(a, b) (the first argument unless the second is strictly
 * smaller/larger) and NumPy's maximum (NaN wins) and sign (NaN for NaN) */
static double py_min(double a, double b) { return b < a ? b : a; }
static double py_max(double a, double b) { return b > a ? b : a; }
static double np_maximum(double a, double b) { return (a >= b || isnan(a)) ? a : b; }
static double np_sign(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : x == 0 ? 0.0 : NAN; }

/* NumPy's pairwise summation (np.sum / np.mean of a contiguous float64 array) */
static double pairwise_sum(const double *a, int64_t n)
{
    if (n < 8) {
        double res = 0.;
        for (int64_t i = 0; i < n; ++i) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        int64_t i;
        for (int j = 0; j < 8; ++j) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; ++j) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; ++i) res += a[i];
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

/* ---- Dormand-Prince 5(4), as dln/model/ode.py ---- */

static const double A_[6][5] = {
    {0},
    {1.0 / 5},
    {3.0 / 40, 9.0 / 40},
    {44.0 / 45, -56.0 / 15, 32.0 / 9},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
};
static const double B5[7] = {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0};
static const double B4[7] = {5179.0 / 57600, 0,     7571.0 / 16695, 393.0 / 640,
                             -92097.0 / 339200, 187.0 / 2100, 1.0 / 40};

typedef struct {
    double *k[7]; /* stage slopes; k[0] = f at the step's start */
    double *tmp, *ynew, *err;
} Stages;

/* One step of length h from y: y_out; with `full` also k[6] = f(y_out) and the error estimate.
 * Each sum starts from 0 and adds the terms in order, as Python's sum() does. */
static void dp_step(Flow *fl, const double *y, double h, Stages *st, double *y_out, int full)
{
    const int64_t n = fl->n;
    for (int i = 1; i < 6; ++i) {
        for (int64_t j = 0; j < n; ++j) {
            double acc = 0.0;
            for (int m = 0; m < i; ++m) acc += A_[i][m] * st->k[m][j];
            st->tmp[j] = y[j] + h * acc;
        }
        fl->rhs(fl, st->tmp, st->k[i]);
    }
    for (int64_t j = 0; j < n; ++j) {
        double acc = 0.0;
        for (int m = 0; m < 6; ++m) acc += B5[m] * st->k[m][j];
        y_out[j] = y[j] + h * acc;
    }
    if (!full) return;
    fl->rhs(fl, y_out, st->k[6]);
    for (int64_t j = 0; j < n; ++j) {
        double acc = 0.0;
        for (int m = 0; m < 7; ++m) acc += (B5[m] - B4[m]) * st->k[m][j];
        st->err[j] = h * acc;
    }
}

static int crossed(double direction, double g0, double g1)
{
    if (!(np_sign(g0) != np_sign(g1) || g1 == 0)) return 0;
    return direction == 0 || np_sign(g1 - g0) == np_sign(direction);
}

/* The crossing of event e inside [t, t + h] (ode._locate): its time; its state in y_event */
static double locate(Flow *fl, int e, double t, const double *y, double h, double g0, double g1,
                     Stages *st, double *y_event)
{
    double lo = 0.0, hi = h, glo = g0, ghi = g1, s = 0.0;
    memcpy(y_event, y, fl->n * sizeof(double));
    for (int it = 0; it < 60; ++it) {
        s = ghi != glo ? hi - ghi * (hi - lo) / (ghi - glo) : (lo + hi) / 2;
        if (s > 0)
            dp_step(fl, y, s, st, y_event, 0);
        else
            memcpy(y_event, y, fl->n * sizeof(double));
        const double gs = fl->g[e](fl, y_event);
        if (fabs(hi - lo) <= 1e-13 * py_max(fabs(t + h), 1.0) || gs == 0) break;
        if (np_sign(gs) == np_sign(ghi)) {
            hi = s, ghi = gs;
            glo /= 2;
        } else {
            lo = s, glo = gs;
            ghi /= 2;
        }
    }
    return t + s;
}

/* Error norm of a step: sqrt(mean((err / scale)^2)), scale = atol + rtol max(|y|, |y_new|) */
static double error_norm(int64_t n, const double *y, Stages *st, double rtol, double atol)
{
    for (int64_t j = 0; j < n; ++j) {
        const double q = st->err[j] / (atol + rtol * np_maximum(fabs(y[j]), fabs(st->ynew[j])));
        st->err[j] = q * q;
    }
    return sqrt(pairwise_sum(st->err, n) / (double)n);
}

/* Checks the events on an accepted step [t, t + h]; fills first crossings (ev_t, ev_y) and
 * returns the terminal event that stops the flow (the earliest), or -1 */
static int check_events(Flow *fl, double t, const double *y, double h, double *gs, Stages *st,
                        double *ev_t, double *ev_y)
{
    int stop = -1;
    for (int i = 0; i < fl->n_events; ++i) {
        const double g1 = fl->g[i](fl, st->ynew);
        if (isnan(ev_t[i]) && crossed(fl->direction[i], gs[i], g1)) {
            ev_t[i] = locate(fl, i, t, y, h, gs[i], g1, st, ev_y + i * fl->n);
            if (fl->terminal[i] && (stop < 0 || ev_t[i] < ev_t[stop])) stop = i;
        }
        gs[i] = g1;
    }
    return stop;
}

/* ode.integrate: y (in: y(0); out: where it stopped) from t = 0 until t_end or a terminal
 * event; ev_t[i] (NaN: none) and ev_y[i n ...] the events' first crossings. Returns the time. */
static double integrate(Flow *fl, double *y, double t_end, double rtol, double atol, Stages *st,
                        double *ev_t, double *ev_y)
{
    const int64_t n = fl->n;
    double t = 0.0, gs[MAX_EVENTS];
    fl->rhs(fl, y, st->k[0]);
    double h = py_min(t_end, 1e-3 * py_max(1.0, t_end) * pow(rtol, 0.2));
    for (int i = 0; i < fl->n_events; ++i) gs[i] = fl->g[i](fl, y), ev_t[i] = NAN;
    for (int64_t it = 0; it < MAX_STEPS; ++it) {
        if (t >= t_end) break;
        h = py_min(h, t_end - t);
        dp_step(fl, y, h, st, st->ynew, 1);
        const double e = error_norm(n, y, st, rtol, atol);
        if (e > 1) {
            h *= py_max(0.2, 0.9 * pow(e, -0.2));
            continue;
        }
        const int stop = check_events(fl, t, y, h, gs, st, ev_t, ev_y);
        if (stop >= 0) {
            memcpy(y, ev_y + stop * n, n * sizeof(double));
            return ev_t[stop];
        }
        t += h;
        memcpy(y, st->ynew, n * sizeof(double));
        double *f = st->k[0]; /* the new step starts from f(y_new) = k[6] */
        st->k[0] = st->k[6], st->k[6] = f;
        h *= py_min(5.0, 0.9 * pow(py_max(e, 1e-10), -0.2));
    }
    return t;
}

/* work: 10 n entries for the stages */
static void stages_init(Stages *st, double *work, int64_t n)
{
    for (int i = 0; i < 7; ++i) st->k[i] = work + i * n;
    st->tmp = work + 7 * n, st->ynew = work + 8 * n, st->err = work + 9 * n;
}

/* ---- the reduced flow (dln.model.reduced._rhs, _loss) ---- */

static void reduced_rhs(Flow *fl, const double *y, double *f)
{
    const int64_t no = fl->n_out, ni = fl->n_in;
    const double *u = y + 1, *v = y + 1 + no, *phi = fl->phi;
    double *Pv = fl->scratch, *Ptu = fl->scratch + no;
    const double sigma = exp(y[0]);
    for (int64_t a = 0; a < no; ++a) { /* Phi v */
        double acc = 0.0;
        for (int64_t b = 0; b < ni; ++b) acc += phi[a * ni + b] * v[b];
        Pv[a] = acc;
    }
    for (int64_t b = 0; b < ni; ++b) { /* Phi^T u */
        double acc = 0.0;
        for (int64_t a = 0; a < no; ++a) acc += phi[a * ni + b] * u[a];
        Ptu[b] = acc;
    }
    double rho = 0.0;
    for (int64_t a = 0; a < no; ++a) rho += u[a] * Pv[a];
    const double c = pow(sigma, 1 - 2 / fl->depth);
    f[0] = fl->depth * c * (rho - sigma);
    for (int64_t a = 0; a < no; ++a) f[1 + a] = c * (Pv[a] - rho * u[a]);
    for (int64_t b = 0; b < ni; ++b) f[1 + no + b] = c * (Ptu[b] - rho * v[b]);
    f[1 + no + ni] = (fl->s1 - rho) * c;
}

static double reduced_exit_g(Flow *fl, const double *y) { return y[0] - fl->target; }

/* loss - level, loss = 1/2 sum s^2 - sigma rho + sigma^2 / 2 with rho = (u^T Phi) v */
static double reduced_level_g(Flow *fl, const double *y)
{
    const int64_t no = fl->n_out, ni = fl->n_in;
    const double *u = y + 1, *v = y + 1 + no;
    const double sigma = exp(y[0]);
    double rho = 0.0;
    for (int64_t b = 0; b < ni; ++b) {
        double acc = 0.0;
        for (int64_t a = 0; a < no; ++a) acc += u[a] * fl->phi[a * ni + b];
        rho += acc * v[b];
    }
    return fl->half_s2 - sigma * rho + 0.5 * (sigma * sigma) - fl->level;
}

/* The reduced flow from y (n_out + n_in + 2 entries; out: where it stopped) until t_end, its
 * events: sigma reaching exp(target) upward (terminal unless with_level), and, with_level,
 * the loss falling to `level` (terminal). out: (exit time, plateau time, A at the plateau),
 * NaN where not reached. work: 10 n + 2 n (events) + n_out + n_in entries. */
void dln_reduced_flow(const double *phi, int64_t n_out, int64_t n_in, double depth, double s1,
                      double half_s2, double target, double level, int64_t with_level,
                      double t_end, double rtol, double atol, double *y, double *work,
                      double *out)
{
    Flow fl = {0};
    Stages st;
    const int64_t n = n_out + n_in + 2;
    double ev_t[MAX_EVENTS];
    fl.n = n, fl.rhs = reduced_rhs, fl.phi = phi, fl.n_out = n_out, fl.n_in = n_in;
    fl.depth = depth, fl.s1 = s1, fl.half_s2 = half_s2, fl.target = target, fl.level = level;
    fl.g[0] = reduced_exit_g, fl.direction[0] = 1.0, fl.terminal[0] = !with_level;
    fl.g[1] = reduced_level_g, fl.direction[1] = -1.0, fl.terminal[1] = 1;
    fl.n_events = with_level ? 2 : 1;
    stages_init(&st, work, n);
    fl.scratch = work + 12 * n;
    integrate(&fl, y, t_end, rtol, atol, &st, ev_t, work + 10 * n);
    out[0] = ev_t[0];
    out[1] = with_level ? ev_t[1] : NAN;
    out[2] = with_level && !isnan(ev_t[1]) ? work[10 * n + n + n - 1] : NAN;
}

/* ---- the modified-loss flow (dln.analysis.escape_model.discretisation_seed) ---- */

static double flow_loss_grad(Flow *fl, const double *theta, double *grad)
{
    return fl->loss_grad(theta, fl->phi, fl->widths, fl->N, fl->offs, fl->voff, fl->r,
                         fl->scratch, grad);
}

/* -g - (lr/2) H g, H g by a central difference of the exact gradient with step 1e-6 / |g|
 * (|g| by the pairwise sum, as the Python's np.sum) */
static void modified_rhs(Flow *fl, const double *theta, double *f)
{
    const int64_t P = fl->n;
    double *g = fl->scratch + 4 * fl->voff[fl->N + 1], *tp = g + P, *gp = tp + P, *gm = gp + P;
    flow_loss_grad(fl, theta, g);
    for (int64_t i = 0; i < P; ++i) tp[i] = g[i] * g[i];
    const double h = 1e-6 / py_max(sqrt(pairwise_sum(tp, P)), 1e-300);
    for (int64_t i = 0; i < P; ++i) tp[i] = theta[i] + h * g[i];
    flow_loss_grad(fl, tp, gp);
    for (int64_t i = 0; i < P; ++i) tp[i] = theta[i] - h * g[i];
    flow_loss_grad(fl, tp, gm);
    for (int64_t i = 0; i < P; ++i) f[i] = -g[i] - 0.5 * fl->lr * ((gp[i] - gm[i]) / (2 * h));
}

static double modified_level_g(Flow *fl, const double *theta)
{
    double *grad = fl->scratch + 4 * fl->voff[fl->N + 1];
    return flow_loss_grad(fl, theta, grad) - fl->level;
}

/* The modified-loss flow from theta (n_params entries) until t_end or the loss falling to
 * `level`; theta_at (n_params) gets the state there. Returns that time (NaN: not reached).
 * loss_grad is dln.kernel's dln_loss_grad_f64 with its layout arrays. work: 11 n_params +
 * 4 voff[N + 1] + 4 n_params entries. */
double dln_modified_flow(loss_grad_fn loss_grad, const double *phi, const int64_t *widths,
                         int64_t N, const int64_t *offs, const int64_t *voff, int64_t r,
                         double lr, double level, double t_end, double rtol, double atol,
                         double *theta, double *work, double *theta_at)
{
    Flow fl = {0};
    Stages st;
    const int64_t n = offs[N];
    double ev_t[MAX_EVENTS];
    fl.n = n, fl.rhs = modified_rhs, fl.phi = phi, fl.loss_grad = loss_grad;
    fl.widths = widths, fl.N = N, fl.offs = offs, fl.voff = voff, fl.r = r, fl.lr = lr;
    fl.level = level;
    fl.g[0] = modified_level_g, fl.direction[0] = -1.0, fl.terminal[0] = 1, fl.n_events = 1;
    stages_init(&st, work, n);
    fl.scratch = work + 11 * n;
    integrate(&fl, theta, t_end, rtol, atol, &st, ev_t, work + 10 * n);
    if (!isnan(ev_t[0])) memcpy(theta_at, work + 10 * n, n * sizeof(double));
    return ev_t[0];
}

/* ---- the records' loss and gradient norm (dln.analysis.trajectory) ---- */

/* For each of the n_rec flat weight vectors in snaps (row-major), the kernel's loss and the
 * gradient's norm sqrt(pairwise sum of g_i^2) (as np.sqrt(np.sum(g * g))): one call instead of
 * one ctypes call per record. work: 4 voff[N + 1] + 2 n_params entries. */
void dln_records_loss_grad(loss_grad_fn loss_grad, const double *phi, const int64_t *widths,
                           int64_t N, const int64_t *offs, const int64_t *voff, int64_t r,
                           const double *snaps, int64_t n_rec, double *work, double *loss,
                           double *grad_norm)
{
    const int64_t P = offs[N];
    double *grad = work + 4 * voff[N + 1], *sq = grad + P;
    for (int64_t i = 0; i < n_rec; ++i) {
        loss[i] = loss_grad(snaps + i * P, phi, widths, N, offs, voff, r, work, grad);
        for (int64_t j = 0; j < P; ++j) sq[j] = grad[j] * grad[j];
        grad_norm[i] = sqrt(pairwise_sum(sq, P));
    }
}

/* ---- the records' product, end vectors and alignments (dln.analysis.trajectory) ---- */

/* a @ b as dln.model.problem.matmul computes it: out[i, c] = a[i, 0] b[0, c] + a[i, 1] b[1, c]
 * + ..., added in order from the first product (a: rows x inner, b: inner x cols) */
static void fixed_matmul(const double *a, const double *b, int64_t rows, int64_t inner,
                         int64_t cols, double *out)
{
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t c = 0; c < cols; ++c) {
            double acc = a[i * inner] * b[c];
            for (int64_t k = 1; k < inner; ++k) acc = acc + a[i * inner + k] * b[k * cols + c];
            out[i * cols + c] = acc;
        }
}

/* x / |x| in place (|x| by fixed_matmul's order, problem.vector_norm; x unchanged if |x| = 0) */
static void normalise(double *x, int64_t n)
{
    double sq = x[0] * x[0];
    for (int64_t k = 1; k < n; ++k) sq = sq + x[k] * x[k];
    const double norm = sqrt(sq);
    for (int64_t k = 0; k < n; ++k) x[k] = x[k] / (norm > 0 ? norm : 1.0);
}

/* Per record (flat weights in snaps): W = W_N ... W_1 (problem.product), v, u of
 * theory.end_vectors and alpha_i = u^T U[:, i], beta_i = v^T V[:, i] (theory.alignments), with
 * the NumPy code's operations in its order, so the same bits. U: d_N x d, V: d_0 x d.
 * work: 2 max_j(d_j) d_0 entries. */
void dln_records_geometry(const double *snaps, int64_t n_rec, const int64_t *widths, int64_t N,
                          const int64_t *offs, int64_t r, const double *U, const double *V,
                          int64_t d, double *work, double *W_out, double *u_out, double *v_out,
                          double *alpha, double *beta)
{
    const int64_t d0 = widths[0], dN = widths[N], P = offs[N];
    int64_t wmax = 0;
    for (int64_t j = 0; j <= N; ++j) wmax = widths[j] > wmax ? widths[j] : wmax;
    for (int64_t i = 0; i < n_rec; ++i) {
        const double *theta = snaps + i * P;
        double *cur = work, *nxt = work + wmax * d0, *u = u_out + i * dN, *v = v_out + i * d0;
        memcpy(cur, theta, widths[1] * d0 * sizeof(double));
        if (r == 1) memcpy(v, cur, d0 * sizeof(double));
        for (int64_t j = 2; j <= N; ++j) {
            fixed_matmul(theta + offs[j - 1], cur, widths[j], widths[j - 1], d0, nxt);
            double *t = cur;
            cur = nxt, nxt = t;
            if (j == r) memcpy(v, cur, d0 * sizeof(double)); /* W_r ... W_1: one row */
        }
        memcpy(W_out + i * dN * d0, cur, dN * d0 * sizeof(double));
        normalise(v, d0);
        fixed_matmul(cur, v, dN, d0, 1, u);
        normalise(u, dN);
        fixed_matmul(u, U, 1, dN, d, alpha + i * d);
        fixed_matmul(v, V, 1, d0, d, beta + i * d);
    }
}

/* An importable module so that setuptools builds and installs this file; Python loads it with
 * ctypes (dln.model.ode) and never calls into the module itself. */
static struct PyModuleDef ode_module = {PyModuleDef_HEAD_INIT, "_ode", NULL, -1, NULL};
PyMODINIT_FUNC PyInit__ode(void) { return PyModule_Create(&ode_module); }
