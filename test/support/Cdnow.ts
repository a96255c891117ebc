/**
 * The CDNOW sample (test/fixtures/cdnow, copied with its MIT licence from the `lifetimes` package's datasets;
 * CDNOW_DIR overrides): 2,357 customers' CD purchases, 1997-1998, the data the BG/NBD and Gamma-Gamma papers
 * fit. Plain data, no service.
 */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

export const cdnowDirectory = process.env.CDNOW_DIR ??
  fileURLToPath(new URL("../fixtures/cdnow/", import.meta.url))

const read = (file: string) => readFileSync(`${cdnowDirectory.replace(/\/?$/, "/")}${file}`, "utf8")

/** The published calibration period: 1997-01-01 to 1997-09-30, both days included. */
export const calibrationStart = "1997-01-01"
export const calibrationEnd = "1997-09-30"

/** A customer's purchases on one calendar day: one purchase occasion, its dollars summed. */
export interface PurchaseDay {
  /** The customer's id within the sample (1 to 2,357), as the summary files number them. */
  readonly customer: number
  /** YYYY-MM-DD */
  readonly day: string
  readonly dollars: number
  readonly transactions: number
}

/** One line of CDNOW_sample.txt: a customer's purchase of some CDs on a day. */
export interface Transaction {
  /** The customer's id within the sample (1 to 2,357), as the summary files number them. */
  readonly customer: number
  /** YYYY-MM-DD */
  readonly day: string
  readonly dollars: number
}

/** Every transaction of CDNOW_sample.txt, in file order. */
export const transactions = (): ReadonlyArray<Transaction> =>
  read("CDNOW_sample.txt").split(/\r?\n/).flatMap((line) => {
    const fields = line.trim().split(/\s+/)
    if (fields.length < 5) return []
    const [, id, date, , dollars] = fields
    return [{ customer: Number(id), day: `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}`, dollars: Number(dollars) }]
  })

/** Every transaction of CDNOW_sample.txt, aggregated per customer and day, in file order. */
export const purchaseDays = (): ReadonlyArray<PurchaseDay> => {
  const days = new Map<string, { customer: number; day: string; dollars: number; transactions: number }>()
  for (const { customer, day, dollars } of transactions()) {
    const key = `${customer}/${day}`
    const entry = days.get(key) ?? { customer, day, dollars: 0, transactions: 0 }
    entry.dollars += dollars
    entry.transactions += 1
    days.set(key, entry)
  }
  return [...days.values()]
}

/** One row of cdnow_customers_summary_with_transactions.csv, as published (two decimals). */
export interface PublishedSummary {
  readonly id: number
  readonly x: number
  readonly tX: number
  readonly T: number
  readonly zbar: number
}

export const publishedSummary = (): ReadonlyArray<PublishedSummary> =>
  read("cdnow_customers_summary_with_transactions.csv").split(/\r?\n/).slice(1).filter((line) => line.trim() !== "")
    .map((line) => {
      const [id, x, tX, T, zbar] = line.split(",").map(Number)
      return { id, x, tX, T, zbar }
    })
