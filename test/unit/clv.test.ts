/**
 * The CLV models against the literature: the CDNOW calibration summary built from the raw transactions equals
 * the published one, and fitting it gives the published BG/NBD and Gamma-Gamma parameters; then the
 * properties every fit must have, and the special functions against known values.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import {
  type BgNbdParameters,
  bgNbdGradient,
  bgNbdTotalLogLikelihood,
  conditionalExpectedPurchases,
  conditionalExpectedSpend,
  customerLifetimeValue,
  digamma,
  fitBgNbd,
  fitGammaGamma,
  gammaGammaGradient,
  type GammaGammaParameters,
  gammaGammaTotalLogLikelihood,
  hyp2f1,
  logGamma,
  minimise,
  numericGradient,
  probabilityAlive,
  type SpendRow,
  type SummaryRow
} from "../../src/analytics/Clv.ts"
import { calibrationEnd, calibrationStart, publishedSummary, purchaseDays } from "../support/Cdnow.ts"

const dayNumber = (day: string) => Date.parse(`${day}T00:00:00Z`) / 86_400_000

interface CustomerSummary extends SummaryRow {
  readonly id: number
  readonly meanSpend: number
}

/** The calibration summary: purchase occasions (days) inside the period, times in weeks. */
const calibrationSummary = (): ReadonlyArray<CustomerSummary> => {
  const byCustomer = new Map<number, Array<{ day: number; dollars: number }>>()
  for (const { customer, day, dollars } of purchaseDays()) {
    if (day < calibrationStart || day > calibrationEnd) continue
    const days = byCustomer.get(customer) ?? []
    days.push({ day: dayNumber(day), dollars })
    byCustomer.set(customer, days)
  }
  const end = dayNumber(calibrationEnd)
  return [...byCustomer].map(([id, days]) => {
    days.sort((a, b) => a.day - b.day)
    const x = days.length - 1
    const repeat = days.slice(1).reduce((sum, day) => sum + day.dollars, 0)
    return { id, x, tX: (days[x].day - days[0].day) / 7, T: (end - days[0].day) / 7, meanSpend: x > 0 ? repeat / x : 0 }
  }).sort((a, b) => a.id - b.id)
}

const summary = calibrationSummary()
const repeatBuyers: ReadonlyArray<SpendRow> = summary.filter((row) => row.x > 0)

const published: BgNbdParameters = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 }
const publishedSpend: GammaGammaParameters = { p: 6.25, q: 3.74, v: 15.44 }

const assertWithin = (actual: number, expected: number, relative: number, what: string) =>
  assert.isAtMost(Math.abs(actual - expected) / Math.abs(expected), relative, `${what}: ${actual} vs ${expected}`)

describe("CDNOW calibration summary", () => {
  it("equals the published summary customer by customer (x, t_x, T in weeks, mean repeat spend)", () => {
    const expected = publishedSummary()
    assert.strictEqual(summary.length, 2357)
    assert.strictEqual(expected.length, 2357)
    summary.forEach((row, i) => {
      const want = expected[i]
      assert.strictEqual(row.id, want.id)
      assert.strictEqual(row.x, want.x, `x of ${row.id}`)
      assert.closeTo(row.tX, want.tX, 0.005 + 1e-9, `t_x of ${row.id}`)
      assert.closeTo(row.T, want.T, 0.005 + 1e-9, `T of ${row.id}`)
      assert.closeTo(row.meanSpend, want.zbar, 0.005 + 1e-9, `zbar of ${row.id}`)
    })
  })

  it("has 946 repeat buyers", () => {
    assert.strictEqual(repeatBuyers.length, 946)
  })
})

describe("BG/NBD fit", () => {
  const fit = fitBgNbd(summary)

  it("gives the published parameters within 1%: r 0.243, alpha 4.414, a 0.793, b 2.426", () => {
    assert.isTrue(fit.converged)
    for (const name of ["r", "alpha", "a", "b"] as const) assertWithin(fit.parameters[name], published[name], 0.01, name)
  })

  it("reaches the published log-likelihood, -9582.4", () => {
    assert.closeTo(fit.logLikelihood, -9582.4, 0.1)
  })

  it("is the same over identical rows grouped with a count as over one row per customer", () => {
    const groups = new Map<string, { x: number; tX: number; T: number; count: number }>()
    for (const { T, tX, x } of summary) {
      const key = `${x}/${tX}/${T}`
      const group = groups.get(key) ?? { x, tX, T, count: 0 }
      group.count += 1
      groups.set(key, group)
    }
    const grouped = [...groups.values()]
    assert.isBelow(grouped.length, summary.length)
    assert.closeTo(bgNbdTotalLogLikelihood(published, grouped), bgNbdTotalLogLikelihood(published, summary), 1e-6)
    // The same optimum, to the precision the fit stops at.
    const groupedFit = fitBgNbd(grouped)
    for (const name of ["r", "alpha", "a", "b"] as const) {
      assert.closeTo(groupedFit.parameters[name], fit.parameters[name], 1e-4 * fit.parameters[name])
    }
  })

  it("is deterministic: the same rows give the same parameters to the last bit", () => {
    assert.deepStrictEqual(fitBgNbd(summary).parameters, fit.parameters)
  })
})

describe("Gamma-Gamma fit", () => {
  it("gives the published parameters within 1% over the 946 repeat buyers: p 6.25, q 3.74, v 15.44", () => {
    const fit = fitGammaGamma(repeatBuyers)
    assert.isTrue(fit.converged)
    for (const name of ["p", "q", "v"] as const) assertWithin(fit.parameters[name], publishedSpend[name], 0.01, name)
  })
})

describe("P(alive)", () => {
  const history = fc.record({
    x: fc.integer({ min: 0, max: 50 }),
    recencyShare: fc.double({ min: 0, max: 1, noNaN: true }),
    T: fc.double({ min: 0.1, max: 500, noNaN: true })
  }).map(({ T, recencyShare, x }) => ({ x, tX: x === 0 ? 0 : recencyShare * T, T }))

  it("is 1 for a customer with no repeat purchase, whatever the time since", () => {
    fc.assert(fc.property(fc.double({ min: 0, max: 1000, noNaN: true }), (T) => probabilityAlive(published, 0, 0, T) === 1))
  })

  it("is a probability", () => {
    fc.assert(fc.property(history, ({ T, tX, x }) => {
      const p = probabilityAlive(published, x, tX, T)
      return p > 0 && p <= 1
    }))
  })

  it("falls as the silence since the last purchase grows (T up, x and t_x fixed)", () => {
    fc.assert(fc.property(history, fc.double({ min: 0.01, max: 100, noNaN: true }), ({ T, tX, x }, more) =>
      x === 0 || probabilityAlive(published, x, tX, T + more) < probabilityAlive(published, x, tX, T)))
  })

  it("rises with a more recent last purchase (t_x up, x and T fixed)", () => {
    fc.assert(fc.property(history.filter(({ T, tX, x }) => x > 0 && tX < T - 0.01), ({ T, tX, x }) =>
      probabilityAlive(published, x, Math.min(T, tX + 0.01), T) > probabilityAlive(published, x, tX, T)))
  })

  it("matches FHL's worked example: x 2, t_x 30.43, T 38.86 is alive with probability 0.7266", () => {
    assert.closeTo(probabilityAlive(published, 2, 30.43, 38.86), 0.726578570080673, 1e-12)
  })
})

describe("expected purchases in the next t weeks", () => {
  it("matches FHL 2005's worked example: x 2, t_x 30.43, T 38.86 expects 1.226 purchases in 39 weeks", () => {
    assert.closeTo(conditionalExpectedPurchases(published, 39, 2, 30.43, 38.86), 1.226028174767135, 1e-9)
    assert.closeTo(conditionalExpectedPurchases(published, 39, 0, 0, 38.86), 0.19509805201125396, 1e-9)
    assert.closeTo(conditionalExpectedPurchases(published, 52, 7, 35, 38.86), 5.520567507999366, 1e-9)
  })

  it("is 0 over no time and grows with the horizon", () => {
    assert.strictEqual(conditionalExpectedPurchases(published, 0, 3, 20, 38), 0)
    let before = 0
    for (const t of [1, 5, 10, 26, 52, 104, 260]) {
      const expected = conditionalExpectedPurchases(published, t, 3, 20, 38)
      assert.isAbove(expected, before)
      before = expected
    }
  })

  it("is higher for a customer who bought more often, at the same recency", () => {
    assert.isAbove(
      conditionalExpectedPurchases(published, 52, 6, 35, 38),
      conditionalExpectedPurchases(published, 52, 2, 35, 38)
    )
  })

  it("is higher for a customer who bought more recently; a frequent buyer long silent has likely left", () => {
    assert.isAbove(
      conditionalExpectedPurchases(published, 52, 2, 35, 38),
      conditionalExpectedPurchases(published, 52, 2, 10, 38)
    )
    assert.isBelow(
      conditionalExpectedPurchases(published, 52, 6, 10, 38),
      conditionalExpectedPurchases(published, 52, 2, 10, 38)
    )
  })
})

describe("Gamma-Gamma expected spend and CLV", () => {
  it("expected spend lies between the population mean and the customer's own mean", () => {
    const population = (publishedSpend.p * publishedSpend.v) / (publishedSpend.q - 1)
    assert.closeTo(conditionalExpectedSpend(publishedSpend, 0, 0), population, 1e-12)
    const spend = conditionalExpectedSpend(publishedSpend, 4, 80)
    assert.isAbove(spend, population)
    assert.isBelow(spend, 80)
  })

  it("CLV is the discounted sum of each month's expected purchases times the expected spend", () => {
    const customer = { x: 3, tX: 30, T: 38, meanSpend: 40 }
    const spend = conditionalExpectedSpend(publishedSpend, 3, 40)
    const month = (i: number) => conditionalExpectedPurchases(published, i * 4.345, 3, 30, 38)
    const byHand = [1, 2, 3].reduce((sum, i) => sum + (spend * (month(i) - month(i - 1))) / 1.01 ** i, 0)
    assert.closeTo(customerLifetimeValue(published, publishedSpend, customer, { months: 3 }), byHand, 1e-9)
  })

  it("CLV grows with the horizon and shrinks with the discount rate", () => {
    const customer = { x: 3, tX: 30, T: 38, meanSpend: 40 }
    const year = customerLifetimeValue(published, publishedSpend, customer)
    assert.isAbove(customerLifetimeValue(published, publishedSpend, customer, { months: 24 }), year)
    assert.isBelow(customerLifetimeValue(published, publishedSpend, customer, { monthlyDiscountRate: 0.05 }), year)
  })
})

describe("special functions", () => {
  it("ln Γ matches known values", () => {
    assert.closeTo(logGamma(1), 0, 1e-14)
    assert.closeTo(logGamma(2), 0, 1e-14)
    assert.closeTo(logGamma(0.5), Math.log(Math.sqrt(Math.PI)), 1e-14)
    assert.closeTo(logGamma(10), Math.log(362_880), 1e-12)
    assert.closeTo(logGamma(0.243), 1.3180435846996699, 1e-12)
    assert.closeTo(logGamma(171.5), 709.1431630309283, 1e-9)
  })

  it("2F1 matches closed forms: -ln(1-z)/z, (1-z)^-a, arcsin(√z)/√z", () => {
    for (const z of [0.1, 0.5, 0.9, 0.99]) {
      assert.closeTo(hyp2f1(1, 1, 2, z), -Math.log(1 - z) / z, 1e-12 * hyp2f1(1, 1, 2, z))
      assert.closeTo(hyp2f1(2.7, 1.3, 1.3, z), (1 - z) ** -2.7, 1e-11 * (1 - z) ** -2.7)
      assert.closeTo(hyp2f1(0.5, 0.5, 1.5, z), Math.asin(Math.sqrt(z)) / Math.sqrt(z), 1e-13)
    }
  })

  it("2F1 matches reference values (SciPy's hyp2f1) at the arguments BG/NBD uses", () => {
    const cases: ReadonlyArray<readonly [number, number, number, number, number]> = [
      [2.5, 3.2, 4.1, 0.3, 1.988742928420597],
      [1.243, 3.426, 3.219, 0.9, 23.36765099317669],
      [0.243, 2.426, 2.219, 0.99, 4.375261367408511],
      [3.243, 5.426, 6.219, 0.6, 12.57435503288937],
      // A non-positive integer a: the series is a polynomial.
      [-3, 2, 1.5, 0.7, -0.0752]
    ]
    for (const [a, b, c, z, expected] of cases) assert.closeTo(hyp2f1(a, b, c, z), expected, 1e-12 * Math.abs(expected) + 1e-15)
  })

  it("2F1 answers NaN outside |z| < 1 rather than a wrong number", () => {
    assert.isNaN(hyp2f1(1, 1, 2, 1))
  })
})

describe("analytic gradients", () => {
  it("BG/NBD's equals the likelihood's numeric derivative, away from the optimum and at it", () => {
    const names = ["r", "alpha", "a", "b"] as const
    const at = (point: ReadonlyArray<number>): BgNbdParameters => ({ r: point[0], alpha: point[1], a: point[2], b: point[3] })
    for (const parameters of [{ r: 0.5, alpha: 2, a: 1.5, b: 4 }, { r: 0.1, alpha: 10, a: 0.3, b: 0.9 }, published]) {
      const analytic = bgNbdGradient(parameters, summary)
      const byDifferences = numericGradient(
        (point) => bgNbdTotalLogLikelihood(at(point), summary),
        names.map((name) => parameters[name])
      )
      names.forEach((name, i) =>
        assert.closeTo(analytic[name], byDifferences[i], 1e-5 * Math.max(1, Math.abs(byDifferences[i])), name))
    }
  })

  it("Gamma-Gamma's equals the likelihood's numeric derivative", () => {
    const names = ["p", "q", "v"] as const
    const at = (point: ReadonlyArray<number>): GammaGammaParameters => ({ p: point[0], q: point[1], v: point[2] })
    for (const parameters of [{ p: 2, q: 1.5, v: 40 }, publishedSpend]) {
      const analytic = gammaGammaGradient(parameters, repeatBuyers)
      const byDifferences = numericGradient(
        (point) => gammaGammaTotalLogLikelihood(at(point), repeatBuyers),
        names.map((name) => parameters[name])
      )
      names.forEach((name, i) =>
        assert.closeTo(analytic[name], byDifferences[i], 1e-5 * Math.max(1, Math.abs(byDifferences[i])), name))
    }
  })

  it("ψ matches known values (SciPy's digamma)", () => {
    assert.closeTo(digamma(1), -0.5772156649015329, 1e-12)
    assert.closeTo(digamma(0.243), -4.351093864423211, 1e-12)
    assert.closeTo(digamma(7.5), 1.9467574842460866, 1e-12)
    assert.closeTo(digamma(0.01), -100.56088545786867, 1e-9)
  })
})

describe("minimise (BFGS)", () => {
  it("finds Rosenbrock's minimum at (1, 1) from (-1.2, 1)", () => {
    const rosenbrock = ([x, y]: ReadonlyArray<number>) => 100 * (y - x * x) ** 2 + (1 - x) ** 2
    const minimum = minimise(rosenbrock, [-1.2, 1], { gradientTolerance: 1e-8 })
    assert.isTrue(minimum.converged)
    assert.closeTo(minimum.point[0], 1, 1e-5)
    assert.closeTo(minimum.point[1], 1, 1e-5)
  })

  it("steps back from points where the function is not finite", () => {
    const minimum = minimise(([x]) => (x > 3 ? Number.NaN : (x - 2) ** 2), [-20])
    assert.closeTo(minimum.point[0], 2, 1e-5)
  })
})
