/**
 * GET /api/v1/customers against the running service, over ~60 varied
 * customers created through the API: filters, text search, sorts, keyset
 * pagination, field selection, and the refusals.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import type { CustomerPage } from "../../src/domain/CustomerQuery.ts"
import { type CustomerBody, customersPath } from "../support/Customers.ts"
import { TestDatabase } from "../support/Database.ts"
import { expectProblem, invalidPaths } from "../support/Http.ts"
import { json, TestService, testService } from "../support/TestService.ts"

type PageBody = typeof CustomerPage.Encoded

const firstNames = ["alice", "Bob", "Chloé", "dmitri", "Émile", "Rebecca", "yara", "Xavier", "bob", "Zoë", "Ünal", "Sam"]
const countries = ["GB", "US", "DE", "FR", undefined] as const
const tagSets = [["vip"], ["newsletter"], ["vip", "beta"], [], ["churn-risk", "newsletter"], ["beta"]]
const domains = ["example.com", "Example.ORG", "mail.test"]

/** Customers whose text exercises LIKE and SQL metacharacters in `q`. */
const specialNames = [
  "Percent 100% Sure",
  "snake_case Sam",
  "Robert'); DROP TABLE customers; --",
  "Back\\slash Betty"
]

/** The 60 inputs: the first 30 are created, then (after a pause) the rest. */
const seedInputs = Array.from({ length: 60 }, (_, i) => {
  const first = firstNames[i % firstNames.length]
  const special = i >= 40 && i < 40 + specialNames.length ? specialNames[i - 40] : undefined
  // Four customers share one exact name, so the keyset's id tie-break is exercised.
  const name = special ?? (i % 15 === 3 ? "Sam Smith" : `${first} Number${i}`)
  const local = special === undefined ? `${first.normalize("NFD").replace(/[^A-Za-z]/g, "")}.${i}` : `special.${i}`
  const country = countries[i % countries.length]
  return {
    email: `${local}@${domains[i % domains.length]}`,
    name,
    consent: { marketing: i % 2 === 0, dataProcessing: true },
    ...(i % 7 === 0 ? {} : { age: 18 + ((i * 7) % 60) }),
    ...(country === undefined ? {} : { location: { country } }),
    tags: tagSets[i % tagSets.length],
    ...(i % 5 === 0 ? { status: "INACTIVE" } : {})
  }
})

interface Seed {
  /** Every customer as the API last returned it, deleted ones included (as DELETED). */
  readonly customers: ReadonlyArray<CustomerBody>
  /** An instant between the first 30 and the last 30 creations. */
  readonly boundary: string
  readonly deletedIds: ReadonlyArray<string>
}

class Seeded extends Context.Service<Seeded, Seed>()("test/customers-list/Seeded") {}

const SeededLive = Layer.effect(
  Seeded,
  Effect.gen(function*() {
    const { request } = yield* TestService
    const createAll = (inputs: ReadonlyArray<unknown>) =>
      Effect.forEach(inputs, (input) =>
        Effect.gen(function*() {
          const response = yield* request(customersPath, { method: "POST", body: JSON.stringify(input) })
          if (response.status !== 201) throw new Error(`seed failed: ${response.status} ${yield* Effect.promise(() => response.text())}`)
          return yield* json<CustomerBody>(response)
        }))
    const early = yield* createAll(seedInputs.slice(0, 30))
    yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 60)))
    const late = yield* createAll(seedInputs.slice(30))
    const lastEarly = Date.parse(early.at(-1)!.createdAt)
    const firstLate = Date.parse(late[0].createdAt)
    const boundary = new Date(Math.floor((lastEarly + firstLate) / 2)).toISOString()

    const customers = [...early, ...late]
    // Three are suspended (an admin may), two deleted: the list must treat each status right.
    for (const index of [1, 22, 37]) {
      const response = yield* request(`${customersPath}/${customers[index].id}`, {
        method: "PATCH",
        body: JSON.stringify({ status: "SUSPENDED" })
      })
      if (response.status !== 200) throw new Error(`suspend failed: ${response.status}`)
      customers[index] = yield* json<CustomerBody>(response)
    }
    const deletedIds: Array<string> = []
    for (const index of [6, 49]) {
      const response = yield* request(`${customersPath}/${customers[index].id}`, { method: "DELETE" })
      if (response.status !== 204) throw new Error(`delete failed: ${response.status}`)
      deletedIds.push(customers[index].id)
      customers[index] = { ...customers[index], status: "DELETED" }
    }
    return { customers, boundary, deletedIds }
  })
)

const Env = Layer.mergeAll(SeededLive, TestDatabase).pipe(Layer.provideMerge(testService()))

const live = (seed: Seed) => seed.customers.filter((customer) => customer.status !== "DELETED")
const ids = (customers: ReadonlyArray<{ readonly id: string }>) => customers.map((customer) => customer.id)

const list = (query: string) =>
  Effect.gen(function*() {
    const { request } = yield* TestService
    const response = yield* request(`${customersPath}?${query}`)
    const text = yield* Effect.promise(() => response.text())
    assert.strictEqual(response.status, 200, text)
    return JSON.parse(text) as PageBody
  })

/** Follows nextCursor from the first page to the last, checking each page on the way. */
const walk = (query: string, limit: number) =>
  Effect.gen(function*() {
    const seen: Array<PageBody["data"][number]> = []
    const first = yield* list(`${query}&limit=${limit}`)
    let page = first
    for (let pages = 1; ; pages++) {
      assert.isAtMost(page.data.length, limit)
      assert.strictEqual(page.total, first.total, "the total changed between pages")
      seen.push(...page.data)
      if (page.nextCursor === null) break
      assert.strictEqual(page.data.length, limit, "a page before the last one was short")
      assert.isBelow(pages, 100, "pagination did not end")
      page = yield* list(`${query}&limit=${limit}&cursor=${encodeURIComponent(page.nextCursor)}`)
    }
    return { data: seen, total: first.total }
  })

const sortColumns: Record<string, string> = {
  createdAt: "created_at",
  updatedAt: "updated_at",
  lastActivity: "last_activity"
}

/**
 * The order the database defines for these ids under a sort (its collation
 * and microsecond timestamps are the reference), with id breaking ties.
 */
const databaseOrder = (customerIds: ReadonlyArray<string>, sort: string) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const descending = sort.startsWith("-")
    const column = sql(sortColumns[descending ? sort.slice(1) : sort])
    const direction = sql.literal(descending ? "DESC" : "ASC")
    const rows = yield* sql<{ readonly id: string }>`SELECT id FROM customers WHERE id = ANY(${customerIds}::uuid[])
      ORDER BY ${column} ${direction}, id ${direction}`
    return ids(rows)
  })

const requestList = (query: string) =>
  Effect.flatMap(TestService, ({ request }) => request(`${customersPath}?${query}`))

const countRows = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const [row] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM customers`
  return row.n
})

/** The live customers matching `predicate`, as a set of ids, and how many. */
const matching = (seed: Seed, predicate: (customer: CustomerBody) => boolean) => ids(live(seed).filter(predicate))

/** Whether a word of `text` (letters and digits) begins with `prefix`, ignoring case: what `q` matches. */
const beginsAWord = (text: string, prefix: string) =>
  text.toLowerCase().split(/[^\p{L}\p{N}]+/u).some((word) => word.startsWith(prefix))

const assertSameCustomers = (actual: ReadonlyArray<string>, expected: ReadonlyArray<string>) => {
  assert.strictEqual(new Set(actual).size, actual.length, "a customer was listed twice")
  assert.sameMembers([...actual], [...expected])
}

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("GET /api/v1/customers", (it) => {
  it.effect("without filters every live customer is listed, newest first, with an exact total", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const page = yield* list("limit=500")
      const expected = ids(live(seed))
      assert.strictEqual(page.total, expected.length)
      assert.isFalse(page.totalIsEstimate)
      assert.isNull(page.nextCursor)
      assert.deepStrictEqual(ids(page.data), yield* databaseOrder(expected, "-createdAt"))
    }))

  it.effect("the default page holds 50 customers and points to the next", () =>
    Effect.gen(function*() {
      const page = yield* list("sort=createdAt")
      assert.strictEqual(page.data.length, 50)
      assert.isString(page.nextCursor)
    }))

  it.effect("status=INACTIVE lists only the inactive customers", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const page = yield* list("status=INACTIVE&limit=500")
      const expected = matching(seed, (customer) => customer.status === "INACTIVE")
      assert.isAbove(expected.length, 0)
      assertSameCustomers(ids(page.data), expected)
      assert.strictEqual(page.total, expected.length)
    }))

  it.effect("status=SUSPENDED lists only the suspended customers", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const page = yield* list("status=SUSPENDED&limit=500")
      assertSameCustomers(ids(page.data), matching(seed, (customer) => customer.status === "SUSPENDED"))
      assert.strictEqual(page.total, 3)
    }))

  it.effect("country=DE lists only the customers located in Germany", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const page = yield* list("country=DE&limit=500")
      const expected = matching(seed, (customer) => customer.location?.country === "DE")
      assert.isAbove(expected.length, 0)
      assertSameCustomers(ids(page.data), expected)
      assert.strictEqual(page.total, expected.length)
    }))

  it.effect("tag=vip lists only the customers carrying that tag", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const page = yield* list("tag=vip&limit=500")
      const expected = matching(seed, (customer) => customer.tags.includes("vip"))
      assert.isAbove(expected.length, 0)
      assertSameCustomers(ids(page.data), expected)
      assert.strictEqual(page.total, expected.length)
    }))

  it.effect("minAge and maxAge bound the age inclusively and leave out customers without an age", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const page = yield* list("minAge=30&maxAge=50&limit=500")
      const expected = matching(seed, (customer) => customer.age !== null && customer.age >= 30 && customer.age <= 50)
      assert.isTrue(live(seed).some((customer) => customer.age === 30 || customer.age === 50), "no boundary age seeded")
      assertSameCustomers(ids(page.data), expected)
      assert.strictEqual(page.total, expected.length)
    }))

  it.effect("createdBefore and createdAfter split the customers at an instant", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const before = yield* list(`createdBefore=${encodeURIComponent(seed.boundary)}&limit=500`)
      const after = yield* list(`createdAfter=${encodeURIComponent(seed.boundary)}&limit=500`)
      const liveIds = new Set(ids(live(seed)))
      const early = ids(seed.customers.slice(0, 30)).filter((id) => liveIds.has(id))
      const late = ids(seed.customers.slice(30)).filter((id) => liveIds.has(id))
      assertSameCustomers(ids(before.data), early)
      assertSameCustomers(ids(after.data), late)
    }))

  it.effect("createdAfter and createdBefore together select a window", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const from = seed.customers[10].createdAt
      const to = seed.customers[20].createdAt
      const page = yield* list(`createdAfter=${encodeURIComponent(from)}&createdBefore=${encodeURIComponent(to)}&limit=500`)
      const expected = matching(seed, (customer) => customer.createdAt >= from && customer.createdAt < to)
      assert.isAbove(expected.length, 0)
      assertSameCustomers(ids(page.data), expected)
    }))

  it.effect("q finds the names and emails with a word beginning with it, whatever its letter case", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const page = yield* list("q=BOB&limit=500")
      const expected = matching(seed, (customer) => beginsAWord(customer.name, "bob") || beginsAWord(customer.email, "bob"))
      assert.isTrue(live(seed).some((customer) => customer.name.startsWith("bob ")), "no lower-case bob seeded")
      assert.isTrue(live(seed).some((customer) => customer.name.startsWith("Bob ")), "no capitalised Bob seeded")
      assertSameCustomers(ids(page.data), expected)
      assert.strictEqual(page.total, expected.length)
    }))

  it.effect("q of several words finds the email addresses with a word beginning with each, whatever its letter case", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const page = yield* list("q=EXAMPLE.org&limit=500")
      const expected = matching(seed, (customer) => beginsAWord(customer.email, "example") && beginsAWord(customer.email, "org"))
      assert.isAbove(expected.length, 0)
      assert.isTrue(expected.every((id) => !seed.customers.find((customer) => customer.id === id)!.name.includes("xample")))
      assertSameCustomers(ids(page.data), expected)
    }))

  it.effect("filters combine: status, country and tag together", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const page = yield* list("status=ACTIVE&country=US&tag=vip&limit=500")
      const expected = matching(seed, (customer) =>
        customer.status === "ACTIVE" && customer.location?.country === "US" && customer.tags.includes("vip"))
      assert.isAbove(expected.length, 0)
      assertSameCustomers(ids(page.data), expected)
      assert.strictEqual(page.total, expected.length)
    }))

  const sorts = ["createdAt", "-createdAt", "updatedAt", "-updatedAt", "lastActivity", "-lastActivity"]

  it.effect.each(["name", "-name", "email", "-email"].map((sort) => ({ sort })))(
    "sort=$sort is refused with 400 naming query.sort: names and emails are sealed at rest, unordered",
    ({ sort }) =>
      Effect.gen(function*() {
        const problem = yield* expectProblem(yield* requestList(`sort=${sort}`), 400, "/problems/invalid-request")
        assert.deepStrictEqual(invalidPaths(problem), ["query.sort"])
      })
  )

  it.effect.each(sorts.map((sort) => ({ sort })))(
    "walking every page of sort=$sort with limit=7 returns each customer exactly once, in order",
    ({ sort }) =>
      Effect.gen(function*() {
        const seed = yield* Seeded
        const walked = yield* walk(`sort=${sort}`, 7)
        const expected = ids(live(seed))
        assert.strictEqual(walked.total, expected.length)
        assertSameCustomers(ids(walked.data), expected)
        assert.deepStrictEqual(ids(walked.data), yield* databaseOrder(expected, sort))
      })
  )

  it.effect("walking a filtered, sorted list visits only the matches and keeps the total on every page", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const walked = yield* walk("status=ACTIVE&sort=-updatedAt", 7)
      const expected = matching(seed, (customer) => customer.status === "ACTIVE")
      assert.isAbove(expected.length, 14)
      assert.strictEqual(walked.total, expected.length)
      assert.deepStrictEqual(ids(walked.data), yield* databaseOrder(expected, "-updatedAt"))
    }))

  it.effect("customers sharing one name are all listed once when pages split between them", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const walked = yield* walk("q=Sam%20Smith&sort=createdAt", 1)
      const expected = matching(seed, (customer) => customer.name === "Sam Smith")
      assert.strictEqual(expected.length, 4)
      assert.deepStrictEqual(ids(walked.data), yield* databaseOrder(expected, "createdAt"))
    }))

  it.effect("fields=id,email returns only those keys", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const page = yield* list("fields=id,email&limit=500")
      assert.strictEqual(page.data.length, live(seed).length)
      for (const view of page.data) assert.sameMembers(Object.keys(view), ["id", "email"])
      const byId = new Map(seed.customers.map((customer) => [customer.id, customer]))
      for (const view of page.data) assert.strictEqual(view.email, byId.get(view.id)!.email)
    }))

  it.effect("fields without id still returns the id", () =>
    Effect.gen(function*() {
      const page = yield* list("fields=name,status&limit=3")
      for (const view of page.data) assert.sameMembers(Object.keys(view), ["id", "name", "status"])
    }))

  it.effect("a malformed cursor is refused with 400 invalid-cursor", () =>
    Effect.gen(function*() {
      const { customers } = yield* Seeded
      const malformed = [
        "abc",
        Buffer.from("not json").toString("base64url"),
        Buffer.from(JSON.stringify(["createdAt", "2026-01-01T00:00:00.000Z"])).toString("base64url"),
        Buffer.from(JSON.stringify(["createdAt", "2026-01-01T00:00:00.000Z", "not-a-uuid"])).toString("base64url"),
        Buffer.from(JSON.stringify({ sort: "createdAt", value: "2026-01-01T00:00:00.000Z", id: customers[0].id }))
          .toString("base64url")
      ]
      for (const cursor of malformed) {
        const response = yield* requestList(`sort=createdAt&cursor=${encodeURIComponent(cursor)}`)
        yield* expectProblem(response, 400, "/problems/invalid-cursor")
      }
    }))

  it.effect("a cursor from one sort is refused under another sort with 400 invalid-cursor", () =>
    Effect.gen(function*() {
      const page = yield* list("sort=updatedAt&limit=5")
      assert.isString(page.nextCursor)
      for (const sort of ["lastActivity", "-updatedAt", "createdAt"]) {
        const response = yield* requestList(`sort=${sort}&limit=5&cursor=${encodeURIComponent(page.nextCursor!)}`)
        yield* expectProblem(response, 400, "/problems/invalid-cursor")
      }
    }))

  it.effect("a cursor whose time value is not a time is refused with 400, not a server error", () =>
    Effect.gen(function*() {
      const { customers } = yield* Seeded
      const cursor = Buffer.from(JSON.stringify(["-createdAt", "yesterday", customers[0].id])).toString("base64url")
      const response = yield* requestList(`sort=-createdAt&cursor=${cursor}`)
      yield* expectProblem(response, 400, "/problems/invalid-cursor")
    }))

  it.effect("a cursor naming an impossible date is refused with 400", () =>
    Effect.gen(function*() {
      const { customers } = yield* Seeded
      const cursor = Buffer.from(JSON.stringify(["createdAt", "2026-02-30T00:00:00.000Z", customers[0].id]))
        .toString("base64url")
      const response = yield* requestList(`sort=createdAt&cursor=${cursor}`)
      yield* expectProblem(response, 400, "/problems/invalid-cursor")
    }))

  it.effect("a forged cursor in year 0000, which PostgreSQL cannot store, is refused with 400, not a server error", () =>
    Effect.gen(function*() {
      const { customers } = yield* Seeded
      const cursor = Buffer.from(JSON.stringify(["createdAt", "0000-06-01T00:00:00.000Z", customers[0].id]))
        .toString("base64url")
      const response = yield* requestList(`sort=createdAt&cursor=${cursor}`)
      yield* expectProblem(response, 400, "/problems/invalid-cursor")
    }))

  it.effect("a date filter with a UTC offset means that instant", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const boundary = new Date(seed.boundary)
      // The same instant written two hours ahead of UTC.
      const ahead = new Date(boundary.getTime() + 2 * 3_600_000).toISOString().replace("Z", "+02:00")
      const inUtc = yield* list(`createdAfter=${encodeURIComponent(seed.boundary)}&limit=500`)
      const withOffset = yield* list(`createdAfter=${encodeURIComponent(ahead)}&limit=500`)
      assert.isAbove(inUtc.data.length, 0)
      assert.deepStrictEqual(withOffset.data.map((customer) => customer.id), inUtc.data.map((customer) => customer.id))
    }))

  it.effect("a cursor carrying a NUL character is refused with 400", () =>
    Effect.gen(function*() {
      const { customers } = yield* Seeded
      const cursor = Buffer.from(JSON.stringify(["createdAt", "a\u0000b", customers[0].id])).toString("base64url")
      const response = yield* requestList(`sort=createdAt&cursor=${cursor}`)
      yield* expectProblem(response, 400, "/problems/invalid-cursor")
    }))

  it.effect("q containing a NUL character is refused with 400, not a server error", () =>
    Effect.gen(function*() {
      const response = yield* requestList("q=ab%00cd")
      const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
      assert.deepStrictEqual(invalidPaths(problem), ["query.q"])
    }))

  const invalidQueries: ReadonlyArray<{ readonly query: string; readonly path: string }> = [
    { query: "limit=0", path: "query.limit" },
    { query: "limit=501", path: "query.limit" },
    { query: "limit=ten", path: "query.limit" },
    { query: "limit=2.5", path: "query.limit" },
    { query: "colour=blue", path: "query.colour" },
    { query: "sort=drop%20table", path: "query.sort" },
    { query: "sort=password", path: "query.sort" },
    { query: "status=GONE", path: "query.status" },
    { query: "country=XX", path: "query.country" },
    { query: "tag=VIP", path: "query.tag" },
    { query: "minAge=-1", path: "query.minAge" },
    { query: "maxAge=151", path: "query.maxAge" },
    { query: "createdAfter=yesterday", path: "query.createdAfter" },
    // Read as 2001-01-01 by a lenient date parser: silently wrong results, so refused.
    { query: "createdAfter=1", path: "query.createdAfter" },
    { query: "createdAfter=%241", path: "query.createdAfter" },
    { query: "createdBefore=%27%20OR%20%271%27%3D%271", path: "query.createdBefore" },
    { query: "updatedAfter=2026-01-31", path: "query.updatedAfter" },
    // Beyond what PostgreSQL can store (a 500 before): refused as input.
    { query: "createdAfter=-271821-04-20T00:00:00Z", path: "query.createdAfter" },
    { query: "lastActivityBefore=0000-01-01T00:00:00Z", path: "query.lastActivityBefore" },
    { query: "createdAfter=2026-02-30T00:00:00Z", path: "query.createdAfter" },
    { query: "q=a", path: "query.q" },
    { query: "fields=id,password", path: "query.fields.1" }
  ]

  it.effect.each(invalidQueries)("the query $query is refused with 400 naming $path", ({ query, path }) =>
    Effect.gen(function*() {
      const response = yield* requestList(query)
      const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
      // One value may break several rules (limit=ten is neither a number nor an integer): all name it.
      assert.deepStrictEqual([...new Set(invalidPaths(problem))], [path])
    }))

  // q matches word prefixes over sealed names and emails (src/customers/SearchTokens.ts): punctuation separates
  // words, and LIKE's wildcards mean nothing.
  it.effect("q with a % sign finds the words around it, the % matching nothing else", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const page = yield* list("q=100%25%20sure&limit=500")
      assert.deepStrictEqual(page.data.map((customer) => customer.name), ["Percent 100% Sure"])
      assert.isAbove(matching(seed, (customer) => customer.name.includes("0")).length, 1)
    }))

  it.effect("q with an underscore finds the words it joins, the _ matching no other character", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const page = yield* list("q=snake_case&limit=500")
      assert.deepStrictEqual(page.data.map((customer) => customer.name), ["snake_case Sam"])
      assert.isTrue(live(seed).some((customer) => /e.c/i.test(customer.name) && !customer.name.includes("e_c")))
    }))

  it.effect("q with a backslash finds the words it separates", () =>
    Effect.gen(function*() {
      const page = yield* list(`q=${encodeURIComponent("back\\sla")}&limit=500`)
      assert.deepStrictEqual(page.data.map((customer) => customer.name), ["Back\\slash Betty"])
    }))

  it.effect("q that begins no word finds nothing: word prefixes match, not inner substrings", () =>
    Effect.gen(function*() {
      const page = yield* list("q=ake_case&limit=500")
      assert.deepStrictEqual(page.data, [])
      assert.strictEqual(page.total, 0)
    }))

  it.effect("q containing SQL is searched for as text and leaves the table intact", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const rowsBefore = yield* countRows
      const page = yield* list(`q=${encodeURIComponent("'); DROP TABLE customers; --")}&limit=500`)
      assert.deepStrictEqual(page.data.map((customer) => customer.name), ["Robert'); DROP TABLE customers; --"])
      // Searched as the words "or", "1", "1": only names or emails with words beginning so, never every row.
      const quoted = yield* list(`q=${encodeURIComponent("' OR '1'='1")}&limit=500`)
      const beginsBoth = (text: string) => beginsAWord(text, "or") && beginsAWord(text, "1")
      assertSameCustomers(ids(quoted.data), matching(seed, (customer) => beginsBoth(customer.name) || beginsBoth(customer.email)))
      assert.isBelow(quoted.total, live(seed).length)
      assert.strictEqual(yield* countRows, rowsBefore)
      assert.strictEqual(rowsBefore, seed.customers.length)
    }))

  it.effect("total counts every match, not just the page, and is exact for a small set", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const page = yield* list("status=ACTIVE&limit=1")
      assert.strictEqual(page.data.length, 1)
      assert.strictEqual(page.total, matching(seed, (customer) => customer.status === "ACTIVE").length)
      assert.isFalse(page.totalIsEstimate)
      const none = yield* list("q=no-such-customer-anywhere")
      assert.deepStrictEqual(none, { data: [], nextCursor: null, total: 0, totalIsEstimate: false })
    }))

  it.effect("deleted customers are not listed unless status=DELETED is asked for", () =>
    Effect.gen(function*() {
      const seed = yield* Seeded
      const all = yield* list("limit=500")
      for (const id of seed.deletedIds) assert.notInclude(ids(all.data), id)
      const erased = yield* list("q=erased.invalid&limit=500")
      assert.strictEqual(erased.total, 0)
      const deleted = yield* list("status=DELETED&limit=500")
      assertSameCustomers(ids(deleted.data), seed.deletedIds)
      assert.strictEqual(deleted.total, seed.deletedIds.length)
      for (const customer of deleted.data) {
        assert.strictEqual(customer.status, "DELETED")
        assert.strictEqual(customer.name, "Deleted customer")
      }
    }))

  it.effect("a read-only caller may list customers", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      const response = yield* request(`${customersPath}?limit=1`, { role: "analyst" })
      assert.strictEqual(response.status, 200)
    }))
})
