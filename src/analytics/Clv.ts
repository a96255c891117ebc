/**
 * Customer lifetime value from probabilistic models, pure (no I/O, no clock, deterministic):
 *
 * - BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way: an alternative to the
 *   Pareto/NBD model", Marketing Science 24(2)): repeat purchases and dropout, parameters r, alpha, a, b.
 * - Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves for customer base analysis",
 *   Journal of Marketing Research 42(4); Fader & Hardie 2013, "The Gamma-Gamma model of monetary value"):
 *   spend per transaction, parameters p, q, v.
 *
 * Time is in weeks and purchase occasions are calendar days, as in the literature. Every formula is written
 * out in docs/analytics.md. Fits are maximum likelihood over log-parameters with a small BFGS below.
 */

// ---------------------------------------------------------------------------------------------------------
// Special functions
// ---------------------------------------------------------------------------------------------------------

// Lanczos approximation, g = 7, n = 9 (the coefficients of Numerical Recipes / Boost's lanczos9): relative
// error about 1e-15 for positive arguments.
const lanczosG = 7
const lanczos = [
  0.99999999999980993,
  676.5203681218851,
  -1259.1392167224028,
  771.32342877765313,
  -176.61502916214059,
  12.507343278686905,
  -0.13857109526572012,
  9.9843695780195716e-6,
  1.5056327351493116e-7
]

/** ln Γ(x) for x > 0 (reflection for 0 < x < 0.5 keeps the Lanczos sum where it is accurate). */
export const logGamma = (x: number): number => {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x)
  const z = x - 1
  let sum = lanczos[0]
  for (let i = 1; i < lanczosG + 2; i++) sum += lanczos[i] / (z + i)
  const t = z + lanczosG + 0.5
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum)
}

/** ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b). */
export const logBeta = (a: number, b: number): number => logGamma(a) + logGamma(b) - logGamma(a + b)

/**
 * ψ(x) = d/dx ln Γ(x) for x > 0: the recurrence ψ(x) = ψ(x+1) − 1/x up to x >= 10, then the asymptotic series
 * ln x − 1/(2x) − Σ B_2k / (2k x^2k) to x^−10 (absolute error about 1e-14 there).
 */
export const digamma = (x: number): number => {
  let shift = 0
  while (x < 10) {
    shift -= 1 / x
    x += 1
  }
  const f = 1 / (x * x)
  return shift + Math.log(x) - 0.5 / x -
    f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f * (1 / 132)))))
}

/** ln(e^u + e^v) without overflow. */
const logAddExp = (u: number, v: number): number => {
  const high = Math.max(u, v)
  return high === -Infinity ? -Infinity : high + Math.log(Math.exp(u - high) + Math.exp(v - high))
}

/**
 * The Gauss hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1 (and |z| < 1 generally), by its defining
 * series Σ (a)_n (b)_n / ((c)_n n!) z^n, which converges for |z| < 1. The BG/NBD conditional expectation
 * needs it at z = t / (alpha + T + t), always in [0, 1).
 *
 * Stopping rule: the ratio of consecutive terms is ρ_n = z (a+n)(b+n) / ((c+n)(n+1)), which tends to z
 * monotonically once n exceeds |a|, |b|, |c|; so from there on every later ratio is at most ρ* = max(ρ_n, |z|)
 * and the tail after term n is at most |t_n| ρ* / (1 − ρ*). The sum stops when that bound is below 1e-16 of the
 * sum (after at least enough terms for the monotone regime). Near z = 1 the series needs about
 * log(1e-16) / log(z) terms (about 3,700 at z = 0.99); past `maxTerms` it answers NaN rather than a wrong number.
 */
export const hyp2f1 = (a: number, b: number, c: number, z: number, maxTerms = 1_000_000): number => {
  if (!(Math.abs(z) < 1)) return Number.NaN
  if (z === 0 || a === 0 || b === 0) return 1
  const monotoneFrom = Math.ceil(Math.max(Math.abs(a), Math.abs(b), Math.abs(c))) + 2
  let term = 1
  let sum = 1
  for (let n = 0; n < maxTerms; n++) {
    const ratio = (z * (a + n) * (b + n)) / ((c + n) * (n + 1))
    term *= ratio
    sum += term
    // A non-positive integer a or b ends the series: a polynomial.
    if (term === 0) return sum
    if (n >= monotoneFrom) {
      const bound = Math.max(Math.abs(ratio), Math.abs(z))
      if (bound < 1 && Math.abs(term) * bound / (1 - bound) <= 1e-16 * Math.abs(sum)) return sum
    }
  }
  return Number.NaN
}

// ---------------------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------------------

/**
 * A customer's purchase summary over a calibration period (or `count` customers sharing it):
 * x = repeat purchase occasions (days with a purchase, the first excluded), tX = weeks from the first to the
 * last purchase, T = weeks from the first purchase to the end of the period.
 */
export interface SummaryRow {
  readonly x: number
  readonly tX: number
  readonly T: number
  readonly count?: number
}

/** A repeat buyer (x >= 1) and the mean value of their repeat purchase occasions (or `count` such buyers). */
export interface SpendRow {
  readonly x: number
  readonly meanSpend: number
  readonly count?: number
}

export interface BgNbdParameters {
  readonly r: number
  readonly alpha: number
  readonly a: number
  readonly b: number
}

export interface GammaGammaParameters {
  readonly p: number
  readonly q: number
  readonly v: number
}

// ---------------------------------------------------------------------------------------------------------
// BG/NBD
// ---------------------------------------------------------------------------------------------------------

/**
 * One customer's BG/NBD log-likelihood (FHL 2005, eq. 6):
 * ln L = ln Γ(r+x) − ln Γ(r) + r ln α + ln B(a, b+x) − ln B(a, b)
 *        + ln[ (α+T)^−(r+x) + δ(x>0) · a/(b+x−1) · (α+t_x)^−(r+x) ].
 */
export const bgNbdLogLikelihood = ({ a, alpha, b, r }: BgNbdParameters, { T, tX, x }: SummaryRow): number => {
  const common = logGamma(r + x) - logGamma(r) + r * Math.log(alpha) + logBeta(a, b + x) - logBeta(a, b)
  const stillAlive = -(r + x) * Math.log(alpha + T)
  const droppedOut = x > 0 ? Math.log(a) - Math.log(b + x - 1) - (r + x) * Math.log(alpha + tX) : -Infinity
  return common + logAddExp(stillAlive, droppedOut)
}

/**
 * The whole sample's log-likelihood: each row's, times its count. The Gamma and Beta terms depend on x alone,
 * so they are computed once per distinct x (a few dozen) rather than per row: the fit's cost is then a few
 * logarithms per distinct history.
 */
export const bgNbdTotalLogLikelihood = (parameters: BgNbdParameters, rows: ReadonlyArray<SummaryRow>): number => {
  const { a, alpha, b, r } = parameters
  const base = -logGamma(r) + r * Math.log(alpha) - logBeta(a, b)
  const commonByX = new Map<number, number>()
  let total = 0
  for (const { T, count = 1, tX, x } of rows) {
    let common = commonByX.get(x)
    if (common === undefined) {
      common = base + logGamma(r + x) + logBeta(a, b + x)
      commonByX.set(x, common)
    }
    const stillAlive = -(r + x) * Math.log(alpha + T)
    const droppedOut = x > 0 ? Math.log(a) - Math.log(b + x - 1) - (r + x) * Math.log(alpha + tX) : -Infinity
    total += count * (common + logAddExp(stillAlive, droppedOut))
  }
  return total
}

/**
 * The gradient of bgNbdTotalLogLikelihood in (r, α, a, b). With w the share of the "still alive" term in the
 * last logarithm of the likelihood (1 when x = 0):
 * ∂/∂r = ψ(r+x) − ψ(r) + ln α − w ln(α+T) − (1−w) ln(α+t_x)
 * ∂/∂α = r/α − w (r+x)/(α+T) − (1−w) (r+x)/(α+t_x)
 * ∂/∂a = ψ(a+b) − ψ(a+b+x) + (1−w)/a
 * ∂/∂b = ψ(a+b) + ψ(b+x) − ψ(b) − ψ(a+b+x) − (1−w)/(b+x−1)
 */
export const bgNbdGradient = (
  { a, alpha, b, r }: BgNbdParameters,
  rows: ReadonlyArray<SummaryRow>
): BgNbdParameters => {
  const byX = new Map<number, { readonly r: number; readonly a: number; readonly b: number }>()
  const psiR = digamma(r)
  const psiAB = digamma(a + b)
  const psiB = digamma(b)
  let dr = 0
  let dAlpha = 0
  let da = 0
  let db = 0
  for (const { T, count = 1, tX, x } of rows) {
    let terms = byX.get(x)
    if (terms === undefined) {
      const psiABX = digamma(a + b + x)
      terms = { r: digamma(r + x) - psiR, a: psiAB - psiABX, b: psiAB + digamma(b + x) - psiB - psiABX }
      byX.set(x, terms)
    }
    const stillAlive = -(r + x) * Math.log(alpha + T)
    const droppedOut = x > 0 ? Math.log(a) - Math.log(b + x - 1) - (r + x) * Math.log(alpha + tX) : -Infinity
    const w = x > 0 ? 1 / (1 + Math.exp(droppedOut - stillAlive)) : 1
    dr += count * (terms.r + Math.log(alpha) - w * Math.log(alpha + T) - (1 - w) * Math.log(alpha + tX))
    dAlpha += count * (r / alpha - w * (r + x) / (alpha + T) - (1 - w) * (r + x) / (alpha + tX))
    da += count * (terms.a + (x > 0 ? (1 - w) / a : 0))
    db += count * (terms.b - (x > 0 ? (1 - w) / (b + x - 1) : 0))
  }
  return { r: dr, alpha: dAlpha, a: da, b: db }
}

/**
 * P(alive | x, t_x, T) (Fader, Hardie & Lee 2008, "Computing P(alive) using the BG/NBD model"):
 * 1 / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)). A customer with no repeat purchase is alive for sure:
 * under BG/NBD a customer can only drop out right after a purchase.
 *
 * Written with nothing but arithmetic, powers and a comparison so that SQL can mirror it:
 * `CASE WHEN x = 0 THEN 1 ELSE 1 / (1 + a / (b + x - 1) * power((alpha + T) / (alpha + t_x), r + x)) END`.
 */
export const probabilityAlive = (
  { a, alpha, b, r }: BgNbdParameters,
  x: number,
  tX: number,
  T: number
): number => x === 0 ? 1 : 1 / (1 + (a / (b + x - 1)) * Math.pow((alpha + T) / (alpha + tX), r + x))

/**
 * E[Y(t) | x, t_x, T]: purchases expected in the next t weeks from a customer with that history
 * (FHL 2005, eq. 10):
 * (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; t/(α+T+t))]
 *   / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)).
 * (For a < 1 both the first factor and the bracket are negative; the product is still the expectation.)
 */
export const conditionalExpectedPurchases = (
  parameters: BgNbdParameters,
  t: number,
  x: number,
  tX: number,
  T: number
): number => expectedPurchasesIfAlive(parameters, t, x, T) * probabilityAlive(parameters, x, tX, T)

/**
 * E[Y(t) | x, t_x, T] / P(alive): the purchases expected in the next t weeks from a customer still alive. It
 * does not read t_x, so a set-wise caller can compute it once per (x, T) (src/segments/LifetimeValue.ts).
 */
export const expectedPurchasesIfAlive = (
  { a, alpha, b, r }: BgNbdParameters,
  t: number,
  x: number,
  T: number
): number => {
  if (t <= 0) return 0
  const z = t / (alpha + T + t)
  const hypergeometric = hyp2f1(r + x, b + x, a + b + x - 1, z)
  const bracket = 1 - Math.pow((alpha + T) / (alpha + T + t), r + x) * hypergeometric
  return ((a + b + x - 1) / (a - 1)) * bracket
}

// ---------------------------------------------------------------------------------------------------------
// Gamma-Gamma
// ---------------------------------------------------------------------------------------------------------

/**
 * One repeat buyer's Gamma-Gamma log-likelihood of their mean spend m over x transactions
 * (Fader & Hardie 2013, eq. 5; the density of the mean, z̄ ~ Gamma(px, νx) with ν ~ Gamma(q, v)):
 * ln L = ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln v + (px−1) ln m + px ln x − (px+q) ln(v + x m).
 */
export const gammaGammaLogLikelihood = ({ p, q, v }: GammaGammaParameters, { meanSpend: m, x }: SpendRow): number =>
  logGamma(p * x + q) - logGamma(p * x) - logGamma(q) + q * Math.log(v) + (p * x - 1) * Math.log(m) +
  p * x * Math.log(x) - (p * x + q) * Math.log(v + x * m)

export const gammaGammaTotalLogLikelihood = (parameters: GammaGammaParameters, rows: ReadonlyArray<SpendRow>): number => {
  let total = 0
  for (const row of rows) total += (row.count ?? 1) * gammaGammaLogLikelihood(parameters, row)
  return total
}

/**
 * The gradient of gammaGammaTotalLogLikelihood in (p, q, v):
 * ∂/∂p = x [ψ(px+q) − ψ(px) + ln m + ln x − ln(v + x m)]
 * ∂/∂q = ψ(px+q) − ψ(q) + ln v − ln(v + x m)
 * ∂/∂v = q/v − (px+q)/(v + x m)
 */
export const gammaGammaGradient = ({ p, q, v }: GammaGammaParameters, rows: ReadonlyArray<SpendRow>): GammaGammaParameters => {
  const psiQ = digamma(q)
  const byX = new Map<number, { readonly p: number; readonly q: number }>()
  let dp = 0
  let dq = 0
  let dv = 0
  for (const { count = 1, meanSpend: m, x } of rows) {
    let terms = byX.get(x)
    if (terms === undefined) {
      const psiPXQ = digamma(p * x + q)
      terms = { p: psiPXQ - digamma(p * x), q: psiPXQ - psiQ }
      byX.set(x, terms)
    }
    const logTotal = Math.log(v + x * m)
    dp += count * x * (terms.p + Math.log(m) + Math.log(x) - logTotal)
    dq += count * (terms.q + Math.log(v) - logTotal)
    dv += count * (q / v - (p * x + q) / (v + x * m))
  }
  return { p: dp, q: dq, v: dv }
}

/**
 * E[M | p, q, v, m, x]: a customer's expected spend per transaction, a weighted mean of the population mean
 * p·v/(q−1) and their own observed mean m (FHL 2005 "RFM and CLV", eq. 3): (p (v + x m)) / (p x + q − 1).
 * With x = 0 it is the population mean. Needs q > 1 (a finite population mean).
 */
export const conditionalExpectedSpend = ({ p, q, v }: GammaGammaParameters, x: number, meanSpend: number): number =>
  (p * (v + x * meanSpend)) / (p * x + q - 1)

// ---------------------------------------------------------------------------------------------------------
// CLV
// ---------------------------------------------------------------------------------------------------------

/** Weeks in a month (365.25 / 12 / 7), the step `lifetimes` uses for a model fitted in weeks. */
export const weeksPerMonth = 4.345

export interface ClvOptions {
  /** The horizon in months (lifetimes' default: 12). */
  readonly months?: number
  /** The discount rate per month (lifetimes' default: 0.01, about 12.7 % a year). */
  readonly monthlyDiscountRate?: number
}

/**
 * Customer lifetime value over a horizon, as `lifetimes`' customer_lifetime_value computes it: the purchases
 * expected in each month i = 1..months (E[Y(4.345 i)] − E[Y(4.345 (i−1))], BG/NBD), times the expected spend
 * per purchase (Gamma-Gamma), discounted by (1 + d)^i.
 */
export const customerLifetimeValue = (
  bgNbd: BgNbdParameters,
  gammaGamma: GammaGammaParameters,
  customer: { readonly x: number; readonly tX: number; readonly T: number; readonly meanSpend: number },
  options: ClvOptions = {}
): number => {
  const { T, tX, x } = customer
  const spend = conditionalExpectedSpend(gammaGamma, x, x > 0 ? customer.meanSpend : 0)
  // P(alive) factors out of every month's expectation: spend × P(alive) × (discounted purchases if alive), the
  // product the segment criterion's SQL mirrors (src/segments/LifetimeValue.ts).
  return spend * probabilityAlive(bgNbd, x, tX, T) * discountedPurchasesIfAlive(bgNbd, x, T, options)
}

/**
 * Σ over months i = 1..months of (E[Y(4.345 i)] − E[Y(4.345 (i−1))]) / P(alive), discounted by (1 + d)^i: the
 * lifetime value of a customer still alive, per unit of spend. A function of x and T alone.
 */
export const discountedPurchasesIfAlive = (
  bgNbd: BgNbdParameters,
  x: number,
  T: number,
  { monthlyDiscountRate = 0.01, months = 12 }: ClvOptions = {}
): number => {
  let value = 0
  let before = 0
  for (let month = 1; month <= months; month++) {
    const upTo = expectedPurchasesIfAlive(bgNbd, month * weeksPerMonth, x, T)
    value += (upTo - before) / Math.pow(1 + monthlyDiscountRate, month)
    before = upTo
  }
  return value
}

// ---------------------------------------------------------------------------------------------------------
// Minimisation
// ---------------------------------------------------------------------------------------------------------

export interface Minimum {
  readonly point: ReadonlyArray<number>
  readonly value: number
  readonly iterations: number
  readonly converged: boolean
}

export interface MinimiseOptions {
  /** f's gradient; central differences of f when not given. */
  readonly gradient?: (point: ReadonlyArray<number>) => ReadonlyArray<number>
  readonly maxIterations?: number
  /** Stop once the gradient's largest component is below this. */
  readonly gradientTolerance?: number
}

/** Central differences: f's gradient where no analytic one is at hand (error O(h²)). */
export const numericGradient = (f: (point: ReadonlyArray<number>) => number, point: ReadonlyArray<number>) =>
  point.map((coordinate, i) => {
    const h = 1e-6 * Math.max(1, Math.abs(coordinate))
    const up = [...point]
    const down = [...point]
    up[i] = coordinate + h
    down[i] = coordinate - h
    return (f(up) - f(down)) / (2 * h)
  })

const dot = (u: ReadonlyArray<number>, v: ReadonlyArray<number>) => u.reduce((sum, ui, i) => sum + ui * v[i], 0)

/**
 * BFGS (Nocedal & Wright, "Numerical Optimization", algorithm 6.1) with the given (or numeric) gradient and a backtracking
 * (Armijo) line search, for smooth unconstrained problems of a few dimensions. A point where f is not finite
 * counts as too far and the step is shortened, so parameters mapped through exp() may overflow safely.
 * No randomness: the same input gives the same minimum.
 */
export const minimise = (
  f: (point: ReadonlyArray<number>) => number,
  start: ReadonlyArray<number>,
  { gradient: analytic, gradientTolerance = 1e-6, maxIterations = 500 }: MinimiseOptions = {}
): Minimum => {
  const gradientAt = analytic ?? ((point: ReadonlyArray<number>) => numericGradient(f, point))
  const n = start.length
  let point = [...start]
  let value = f(point)
  if (!Number.isFinite(value)) return { point, value, iterations: 0, converged: false }
  let gradient = gradientAt(point)
  // The inverse Hessian estimate, the identity to begin with.
  let inverse: Array<Array<number>> = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)))
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    if (Math.max(...gradient.map(Math.abs)) < gradientTolerance) {
      return { point, value, iterations: iteration, converged: true }
    }
    let direction = inverse.map((row) => -dot(row, gradient))
    let slope = dot(direction, gradient)
    // Not a descent direction (the estimate went bad): restart from steepest descent.
    if (!(slope < 0)) {
      inverse = inverse.map((row, i) => row.map((_, j) => (i === j ? 1 : 0)))
      direction = gradient.map((g) => -g)
      slope = dot(direction, gradient)
    }
    let step = 1
    let next = point
    let nextValue = Infinity
    for (let halving = 0; halving < 60; halving++) {
      next = point.map((coordinate, i) => coordinate + step * direction[i])
      nextValue = f(next)
      if (Number.isFinite(nextValue) && nextValue <= value + 1e-4 * step * slope) break
      step /= 2
    }
    if (!(Number.isFinite(nextValue) && nextValue <= value)) {
      return { point, value, iterations: iteration, converged: false }
    }
    const nextGradient = gradientAt(next)
    const s = next.map((coordinate, i) => coordinate - point[i])
    const y = nextGradient.map((g, i) => g - gradient[i])
    const sy = dot(s, y)
    // Skip the update unless the curvature condition holds, which keeps the estimate positive definite.
    if (sy > 1e-12) {
      const rho = 1 / sy
      const hy = inverse.map((row) => dot(row, y))
      const yhy = dot(y, hy)
      inverse = inverse.map((row, i) =>
        row.map((h, j) => h - rho * (hy[i] * s[j] + s[i] * hy[j]) + (rho * rho * yhy + rho) * s[i] * s[j])
      )
    }
    const improvement = value - nextValue
    point = next
    value = nextValue
    gradient = nextGradient
    if (improvement <= 1e-14 * Math.max(1, Math.abs(value)) && Math.max(...gradient.map(Math.abs)) < 1e-3) {
      return { point, value, iterations: iteration + 1, converged: true }
    }
  }
  return { point, value, iterations: maxIterations, converged: false }
}

// ---------------------------------------------------------------------------------------------------------
// Fits
// ---------------------------------------------------------------------------------------------------------

export interface Fit<P> {
  readonly parameters: P
  readonly logLikelihood: number
  readonly iterations: number
  readonly converged: boolean
}

/**
 * The maximum-likelihood BG/NBD parameters for these rows: BFGS with the analytic gradient on
 * (ln r, ln α, ln a, ln b) from (0, 0, 0, 0),
 * so every parameter stays positive. The negative log-likelihood is scaled by the number of customers so the
 * tolerances mean the same for ten customers and ten million.
 */
export const fitBgNbd = (rows: ReadonlyArray<SummaryRow>): Fit<BgNbdParameters> => {
  const customers = rows.reduce((n, row) => n + (row.count ?? 1), 0)
  const fromLog = ([r, alpha, a, b]: ReadonlyArray<number>): BgNbdParameters => ({
    r: Math.exp(r),
    alpha: Math.exp(alpha),
    a: Math.exp(a),
    b: Math.exp(b)
  })
  const scale = 1 / Math.max(1, customers)
  const objective = (point: ReadonlyArray<number>) => -bgNbdTotalLogLikelihood(fromLog(point), rows) * scale
  // In log-parameters: ∂/∂ln θ = θ ∂/∂θ.
  const gradient = (point: ReadonlyArray<number>) => {
    const parameters = fromLog(point)
    const d = bgNbdGradient(parameters, rows)
    return [-d.r * parameters.r * scale, -d.alpha * parameters.alpha * scale, -d.a * parameters.a * scale, -d.b * parameters.b * scale]
  }
  const minimum = minimise(objective, [0, 0, 0, 0], { gradient, gradientTolerance: 1e-7 })
  const parameters = fromLog(minimum.point)
  return {
    parameters,
    logLikelihood: bgNbdTotalLogLikelihood(parameters, rows),
    iterations: minimum.iterations,
    converged: minimum.converged
  }
}

/** The maximum-likelihood Gamma-Gamma parameters over repeat buyers (x >= 1, mean spend > 0), as fitBgNbd. */
export const fitGammaGamma = (rows: ReadonlyArray<SpendRow>): Fit<GammaGammaParameters> => {
  const customers = rows.reduce((n, row) => n + (row.count ?? 1), 0)
  const fromLog = ([p, q, v]: ReadonlyArray<number>): GammaGammaParameters => ({
    p: Math.exp(p),
    q: Math.exp(q),
    v: Math.exp(v)
  })
  const scale = 1 / Math.max(1, customers)
  const objective = (point: ReadonlyArray<number>) => -gammaGammaTotalLogLikelihood(fromLog(point), rows) * scale
  const gradient = (point: ReadonlyArray<number>) => {
    const parameters = fromLog(point)
    const d = gammaGammaGradient(parameters, rows)
    return [-d.p * parameters.p * scale, -d.q * parameters.q * scale, -d.v * parameters.v * scale]
  }
  const minimum = minimise(objective, [0, 0, 0], { gradient, gradientTolerance: 1e-7 })
  const parameters = fromLog(minimum.point)
  return {
    parameters,
    logLikelihood: gammaGammaTotalLogLikelihood(parameters, rows),
    iterations: minimum.iterations,
    converged: minimum.converged
  }
}
