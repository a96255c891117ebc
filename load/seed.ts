/**
 * Seeds the customers table with COPY: realistic variety (statuses, ~30
 * countries, ages, genders, tags, preferences, timestamps spread over two
 * years), unique names and emails, ids that are UUIDv7 of their creation time
 * (as the service makes them). Deterministic for a given count and seed.
 *
 * Secondary indexes are dropped before the COPY and rebuilt after it (the
 * usual bulk-load recipe, much faster than maintaining two trigram GIN
 * indexes row by row); the definitions come from pg_indexes, so they are
 * exactly the migration's.
 */
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import type postgres from "postgres"

/** A small, fast, seedable PRNG (mulberry32). */
export const prng = (seed: number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Country weights (percent of customers). NL is the list scenario's filter: 1.2% of rows, ~80% of them ACTIVE. */
export const countries: ReadonlyArray<readonly [code: string, weight: number, cities: ReadonlyArray<string>]> = [
  ["US", 18, ["New York", "Chicago", "Austin", "Seattle", "Denver"]],
  ["GB", 8, ["London", "Manchester", "Leeds", "Bristol"]],
  ["DE", 8, ["Berlin", "Munich", "Hamburg", "Cologne"]],
  ["FR", 6, ["Paris", "Lyon", "Marseille", "Lille"]],
  ["IN", 6, ["Mumbai", "Delhi", "Bengaluru", "Pune"]],
  ["BR", 5, ["São Paulo", "Rio de Janeiro", "Curitiba"]],
  ["CA", 4, ["Toronto", "Vancouver", "Montreal"]],
  ["ES", 4, ["Madrid", "Barcelona", "Valencia"]],
  ["IT", 4, ["Rome", "Milan", "Turin", "Naples"]],
  ["JP", 4, ["Tokyo", "Osaka", "Nagoya"]],
  ["MX", 3, ["Mexico City", "Guadalajara", "Monterrey"]],
  ["AU", 3, ["Sydney", "Melbourne", "Brisbane"]],
  ["PL", 2.5, ["Warsaw", "Kraków", "Gdańsk"]],
  ["SE", 2, ["Stockholm", "Gothenburg", "Malmö"]],
  ["CH", 1.5, ["Zurich", "Geneva", "Basel"]],
  ["NL", 1.2, ["Amsterdam", "Rotterdam", "Utrecht", "Eindhoven"]],
  ["BE", 1.5, ["Brussels", "Antwerp", "Ghent"]],
  ["AT", 1.3, ["Vienna", "Graz", "Linz"]],
  ["PT", 1.3, ["Lisbon", "Porto", "Braga"]],
  ["IE", 1.2, ["Dublin", "Cork", "Galway"]],
  ["DK", 1.2, ["Copenhagen", "Aarhus", "Odense"]],
  ["NO", 1.1, ["Oslo", "Bergen", "Trondheim"]],
  ["FI", 1.1, ["Helsinki", "Espoo", "Tampere"]],
  ["KR", 2, ["Seoul", "Busan", "Incheon"]],
  ["SG", 1.2, ["Singapore"]],
  ["ZA", 1.5, ["Johannesburg", "Cape Town", "Durban"]],
  ["AR", 1.5, ["Buenos Aires", "Córdoba", "Rosario"]],
  ["NZ", 1, ["Auckland", "Wellington", "Christchurch"]],
  ["TR", 2, ["Istanbul", "Ankara", "Izmir"]],
  ["AE", 1.4, ["Dubai", "Abu Dhabi"]]
]

const timezones: Record<string, string> = {
  US: "America/New_York", GB: "Europe/London", DE: "Europe/Berlin", FR: "Europe/Paris", IN: "Asia/Kolkata",
  BR: "America/Sao_Paulo", CA: "America/Toronto", ES: "Europe/Madrid", IT: "Europe/Rome", JP: "Asia/Tokyo",
  MX: "America/Mexico_City", AU: "Australia/Sydney", PL: "Europe/Warsaw", SE: "Europe/Stockholm", CH: "Europe/Zurich",
  NL: "Europe/Amsterdam", BE: "Europe/Brussels", AT: "Europe/Vienna", PT: "Europe/Lisbon", IE: "Europe/Dublin",
  DK: "Europe/Copenhagen", NO: "Europe/Oslo", FI: "Europe/Helsinki", KR: "Asia/Seoul", SG: "Asia/Singapore",
  ZA: "Africa/Johannesburg", AR: "America/Argentina/Buenos_Aires", NZ: "Pacific/Auckland", TR: "Europe/Istanbul",
  AE: "Asia/Dubai"
}

/** ICU (and so the service's TimeZone schema) knows some zones only by their older names: leave those out. */
const supportedZones = new Set(Intl.supportedValuesOf("timeZone"))
const zoneOf = (country: string) => {
  const zone = timezones[country]
  return zone !== undefined && supportedZones.has(zone) ? { timezone: zone } : {}
}

const currencies: Record<string, string> = {
  US: "USD", GB: "GBP", IN: "INR", BR: "BRL", CA: "CAD", JP: "JPY", MX: "MXN", AU: "AUD", PL: "PLN", SE: "SEK",
  CH: "CHF", DK: "DKK", NO: "NOK", KR: "KRW", SG: "SGD", ZA: "ZAR", AR: "ARS", NZ: "NZD", TR: "TRY", AE: "AED"
}

const languages: Record<string, string> = {
  US: "en", GB: "en", DE: "de", FR: "fr", IN: "hi", BR: "pt-BR", CA: "en", ES: "es", IT: "it", JP: "ja", MX: "es",
  AU: "en", PL: "pl", SE: "sv", CH: "de", NL: "nl", BE: "nl", AT: "de", PT: "pt", IE: "en", DK: "da", NO: "nb",
  FI: "fi", KR: "ko", SG: "en", ZA: "en", AR: "es", NZ: "en", TR: "tr", AE: "ar"
}

const firstNames = (
  "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph " +
  "Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Sandra Mark Margaret " +
  "Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa " +
  "George Deborah Timothy Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey Cynthia Ryan Amy Jacob Kathleen " +
  "Gary Angela Nicholas Shirley Eric Brenda Jonathan Emma Stephen Anna Larry Pamela Justin Nicole Scott Samantha " +
  "Brandon Katherine Benjamin Christine Samuel Helen Gregory Debra Alexander Rachel Patrick Carolyn Frank Janet " +
  "Raymond Maria Jack Olivia Dennis Heather Jerry Diane Tyler Julie Aaron Joyce Jose Victoria Adam Ruth Nathan " +
  "Virginia Henry Lauren Zachary Kelly Douglas Christina Peter Joan Kyle Evelyn Noah Judith Ethan Andrea Jeremy " +
  "Hannah Walter Megan Christian Cheryl Keith Jacqueline Roger Martha Terry Madison Austin Teresa Sean Gloria Gerald " +
  "Sara Carl Janice Harold Ann Dylan Kathryn Arthur Abigail Lawrence Sophia Jordan Frances Jesse Jean Bryan Alice " +
  "Billy Judy Bruce Isabella Gabriel Julia Joe Grace Logan Amber Alan Denise Juan Danielle Albert Marilyn Willie " +
  "Beverly Elijah Charlotte Wayne Natalie Randy Theresa Vincent Diana Mason Brittany Roy Doris Ralph Kayla Bobby " +
  "Alexis Russell Lori Bradley Marie Philip Ada Eugene Alan Sven Ingrid Hiro Yuki Priya Arjun Lucia Mateo Chloe Lars"
).split(" ").filter((name, i, all) => all.indexOf(name) === i)

const lastNames = (
  "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson " +
  "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson " +
  "Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell " +
  "Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales " +
  "Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson " +
  "Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long " +
  "Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher " +
  "Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes " +
  "Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez " +
  "McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson " +
  "Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson " +
  "Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver " +
  "Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart Bradley " +
  "Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado Berry Perkins " +
  "Hoffmann Jensen Larsen Novak Kowalski Rossi Bianchi Dubois Lefevre Tanaka Suzuki Sato Yamamoto Kumar Singh Sharma"
).split(" ").filter((name, i, all) => all.indexOf(name) === i)

const initials = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
const domains = ["example.com", "mail.example.net", "inbox.example.org", "corp.example.com", "example.co.uk"]
const tagPool = [
  "vip", "newsletter", "beta-tester", "churn-risk", "wholesale", "b2b", "mobile-app", "referral", "loyalty:gold",
  "loyalty:silver", "loyalty:bronze", "early-adopter", "support:priority", "promo_2025", "student", "partner",
  "enterprise", "smb", "returning", "high-ltv"
]
const sources = ["web", "ios", "android", "store", "partner-api", "import"]
const genders = ["MALE", "FEMALE", "OTHER", "UNKNOWN"]

/** Cumulative distribution of country weights. */
const countryCdf = (() => {
  const total = countries.reduce((sum, [, weight]) => sum + weight, 0)
  let acc = 0
  return countries.map(([code, weight, cities]) => {
    acc += weight / total
    return { code, cities, upTo: acc }
  })
})()

/** Share of customers in `code`: the list scenario uses it to report how many rows its filter should match. */
export const countryShare = (code: string) => {
  const total = countries.reduce((sum, [, weight]) => sum + weight, 0)
  return (countries.find(([c]) => c === code)?.[1] ?? 0) / total
}

export const statusShares = { ACTIVE: 0.8, INACTIVE: 0.12, SUSPENDED: 0.05, DELETED: 0.03 } as const

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0")

/** UUIDv7: 48-bit millisecond time, version 7, variant 10, the rest from the PRNG. */
const uuidv7 = (ms: number, random: () => number) => {
  const t = hex(ms, 12)
  const r1 = hex(Math.floor(random() * 0x1000), 3)
  const r2 = hex(0x8000 | Math.floor(random() * 0x4000), 4)
  const r3 = hex(Math.floor(random() * 0x1000000), 6) + hex(Math.floor(random() * 0x1000000), 6)
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${r1}-${r2}-${r3}`
}

/** Text-format COPY escaping for a field value. */
const esc = (text: string) => /[\\\t\n\r]/.test(text) ? text.replace(/[\\\t\n\r]/g, (c) =>
  c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r") : text

export const copyColumns = [
  "id", "email", "email_verified", "pending_email", "name", "age", "gender", "location", "preferences", "segments",
  "tags", "metadata", "consent", "status", "created_at", "updated_at", "last_activity", "deleted_at", "version"
] as const

const twoYears = 2 * 365 * 24 * 3_600_000
/** A name for every i below this bound is distinct: first x initial x last. */
export const maxUniqueNames = firstNames.length * initials.length * lastNames.length

/**
 * One COPY text line per customer, in creation order (so the UUIDv7 primary
 * key is appended at the right edge, as in production).
 */
export function* customerLines(count: number, now = Date.now(), seed = 42): Generator<string> {
  const random = prng(seed)
  const start = now - twoYears
  const step = twoYears / count
  // A multiplicative permutation of [0, maxUniqueNames) gives distinct, well-mixed name combinations.
  const stride = 1_000_003
  for (let i = 0; i < count; i++) {
    const createdMs = Math.floor(start + i * step + random() * step)
    const id = uuidv7(createdMs, random)
    const mix = (i * stride) % maxUniqueNames
    const first = firstNames[mix % firstNames.length]
    const initial = initials[Math.floor(mix / firstNames.length) % initials.length]
    const last = lastNames[Math.floor(mix / (firstNames.length * initials.length)) % lastNames.length]
    const u = random()
    let country = countryCdf[countryCdf.length - 1]
    for (const entry of countryCdf) {
      if (u < entry.upTo) {
        country = entry
        break
      }
    }
    const s = random()
    const status = s < statusShares.ACTIVE
      ? "ACTIVE"
      : s < statusShares.ACTIVE + statusShares.INACTIVE
      ? "INACTIVE"
      : s < 1 - statusShares.DELETED
      ? "SUSPENDED"
      : "DELETED"
    const updatedMs = createdMs + Math.floor(random() * (now - createdMs))
    const lastActivityMs = updatedMs + Math.floor(random() * (now - updatedMs))
    const version = 1 + Math.floor(random() * random() * 12)
    const created = new Date(createdMs).toISOString()
    const updated = new Date(updatedMs).toISOString()
    const lastActivity = new Date(lastActivityMs).toISOString()
    const marketing = random() < 0.45
    const consent = `{"marketing": ${marketing}, "dataProcessing": true}`
    if (status === "DELETED") {
      // An erased profile, as the service leaves it: nothing that identifies the person.
      yield `${id}\tdeleted-${id}@erased.invalid\tf\t\\N\tDeleted customer\t\\N\t\\N\t\\N\t{}\t[]\t{}\t{}\t${consent}\tDELETED\t${created}\t${updated}\t${lastActivity}\t${updated}\t${version + 1}\n`
      continue
    }
    const email = `${first.toLowerCase()}.${initial.toLowerCase()}.${last.toLowerCase()}.${i.toString(36)}@${
      domains[i % domains.length]
    }`
    const age = random() < 0.06 ? "\\N" : String(18 + Math.floor(random() * random() * 70 + random() * 10))
    const gender = random() < 0.08 ? "\\N" : genders[Math.floor(random() * (random() < 0.9 ? 2 : 4))]
    const city = country.cities[Math.floor(random() * country.cities.length)]
    const location = JSON.stringify({
      country: country.code,
      city,
      ...zoneOf(country.code),
      ...(random() < 0.6 ? { postalCode: String(10000 + Math.floor(random() * 89999)) } : {})
    })
    const preferences = JSON.stringify({
      language: languages[country.code] ?? "en",
      currency: currencies[country.code] ?? "EUR",
      notifications: { email: random() < 0.7, sms: random() < 0.2, push: random() < 0.5 },
      ...(random() < 0.3
        ? { privacy: { profileVisible: random() < 0.5, shareDataWithPartners: false, personalisedRecommendations: true } }
        : {})
    })
    const tagCount = Math.floor(random() * random() * 5)
    const tags = new Set<string>()
    for (let t = 0; t < tagCount; t++) tags.add(tagPool[Math.floor(random() * random() * tagPool.length)])
    const metadata = JSON.stringify({
      source: sources[Math.floor(random() * sources.length)],
      orders: Math.floor(random() * random() * 60),
      lifetimeValue: Math.round(random() * random() * 500_000) / 100
    })
    const segments = tags.has("vip") ? `["vip"]` : "[]"
    yield `${id}\t${esc(email)}\t${random() < 0.7 ? "t" : "f"}\t\\N\t${esc(`${first} ${initial}. ${last}`)}\t${age}\t${gender}\t${
      esc(location)
    }\t${esc(preferences)}\t${segments}\t{${[...tags].join(",")}}\t${esc(metadata)}\t${consent}\t${status}\t${created}\t${updated}\t${lastActivity}\t\\N\t${version}\n`
  }
}

/** Batches lines into ~64 KiB chunks for the COPY stream. */
const chunks = function*(lines: Iterable<string>): Generator<string> {
  let buffer = ""
  for (const line of lines) {
    buffer += line
    if (buffer.length >= 65_536) {
      yield buffer
      buffer = ""
    }
  }
  if (buffer.length > 0) yield buffer
}

export interface SeedResult {
  readonly rows: number
  readonly copySeconds: number
  readonly indexSeconds: number
  readonly analyzeSeconds: number
  readonly totalSeconds: number
}

export const seedCustomers = async (
  sql: postgres.Sql,
  count: number,
  log: (line: string) => void = console.log
): Promise<SeedResult> => {
  const started = performance.now()
  const indexes = await sql<Array<{ indexname: string; indexdef: string }>>`
    SELECT indexname, indexdef FROM pg_indexes
    WHERE schemaname = 'public' AND tablename = 'customers' AND indexname <> 'customers_pkey'`
  for (const { indexname } of indexes) await sql.unsafe(`DROP INDEX ${indexname}`)
  log(`  dropped ${indexes.length} secondary indexes for the load`)

  const copyStarted = performance.now()
  const writable = await sql`COPY customers (${sql(copyColumns as unknown as Array<string>)}) FROM STDIN`.writable()
  let last = copyStarted
  let done = 0
  const progress = function*(lines: Iterable<string>) {
    for (const line of lines) {
      done++
      if ((done & 0x3fff) === 0 && performance.now() - last > 5_000) {
        last = performance.now()
        log(`  ${done.toLocaleString("en")} rows (${Math.round(done / ((last - copyStarted) / 1000)).toLocaleString("en")} rows/s)`)
      }
      yield line
    }
  }
  await pipeline(Readable.from(chunks(progress(customerLines(count)))), writable)
  const copySeconds = (performance.now() - copyStarted) / 1000
  log(`  COPY: ${count.toLocaleString("en")} rows in ${copySeconds.toFixed(1)} s = ${
    Math.round(count / copySeconds).toLocaleString("en")
  } rows/s`)

  const indexStarted = performance.now()
  await sql.begin(async (tx) => {
    await tx`SET LOCAL maintenance_work_mem = '512MB'`
    for (const { indexname, indexdef } of indexes) {
      const one = performance.now()
      await tx.unsafe(indexdef)
      log(`  index ${indexname}: ${((performance.now() - one) / 1000).toFixed(1)} s`)
    }
  })
  const indexSeconds = (performance.now() - indexStarted) / 1000

  const analyzeStarted = performance.now()
  await sql`VACUUM (ANALYZE) customers`
  const analyzeSeconds = (performance.now() - analyzeStarted) / 1000
  const totalSeconds = (performance.now() - started) / 1000
  log(`  indexes rebuilt in ${indexSeconds.toFixed(1)} s, VACUUM ANALYZE ${analyzeSeconds.toFixed(1)} s; seed total ${
    totalSeconds.toFixed(1)
  } s = ${Math.round(count / totalSeconds).toLocaleString("en")} rows/s end to end`)
  return { rows: count, copySeconds, indexSeconds, analyzeSeconds, totalSeconds }
}
