/**
 * Per-customer data keys (DEKs) and the master keys that wrap them (envelope encryption, AES-256-GCM from
 * node:crypto throughout).
 *
 * - A DEK is 32 random bytes made with its customer and stored wrapped under the newest master key in
 *   customer_keys.data_keys; destroying that row makes every copy of the customer's sealed values unreadable
 *   (crypto-shredding), wherever the copies are.
 * - MASTER_KEYS holds versioned master keys, newest first (`v2:<base64>,v1:<base64>`): the newest wraps, every
 *   one unwraps, so a rotation adds a version, re-wraps (`rewrapBatch`, `npm run keys:rotate`) and then drops
 *   the old one.
 * - A sealed value is bound to its customer and field (the associated data): moved to another row or another
 *   column it fails authentication, a defect (a 500, logged), never another person's data.
 * - Unwrapped DEKs are cached in memory (bounded, short TTL, evicted on destroy) so reads stay fast.
 */
import { PgClient } from "@effect/sql-pg"
import { Clock, Config, Context, Effect, Layer, Option } from "effect"
import type { Statement } from "effect/sql"
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, type KeyObject, randomBytes, randomFillSync } from "node:crypto"
import { configuredKey } from "./ConfiguredKey.ts"

const algorithm = "aes-256-gcm"
const ivBytes = 12
const tagBytes = 16
const keyBytes = 32

/** How a sealed value starts: AEAD under the customer's DEK, or (benchmark only) the JSON in the clear. */
const sealedFormat = 0x01
const plainFormat = 0x00

/** Bytes as the driver returns them (a Uint8Array) viewed as a Buffer, without a copy. */
export const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** The published development master key: a local start may use it, a production start refuses it. */
const developmentVersion = "dev"
const developmentMasterKeys = `${developmentVersion}:${Buffer.from("development-master-key-32-bytes!").toString("base64")}`

export interface MasterKey {
  readonly version: string
  readonly key: KeyObject
}

/** `v2:<base64>,v1:<base64>`: newest first, each version named once, each key exactly 32 bytes. */
export const parseMasterKeys = (text: string): ReadonlyArray<MasterKey> => {
  const keys = text.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "").map((entry) => {
    const separator = entry.indexOf(":")
    const version = entry.slice(0, separator)
    const key = Buffer.from(entry.slice(separator + 1), "base64")
    if (separator < 1 || !/^[A-Za-z0-9_-]{1,32}$/.test(version) || key.length !== keyBytes) {
      throw new Error(`MASTER_KEYS: each entry is <version>:<base64 of ${keyBytes} bytes>, newest first`)
    }
    return { version, key: createSecretKey(key) }
  })
  if (keys.length === 0) throw new Error("MASTER_KEYS: at least one key")
  if (new Set(keys.map((key) => key.version)).size !== keys.length) throw new Error("MASTER_KEYS: a version twice")
  return keys
}

/**
 * Random IVs drawn from a pool refilled by one CSPRNG call per 4,096: a call per IV cost a third of sealing an
 * event (the ingest seals one per event). Each IV is handed out once, as a copy, so no later refill can touch it.
 */
const ivPool = Buffer.alloc(ivBytes * 4096)
let ivOffset = ivPool.length
const nextIv = () => {
  if (ivOffset === ivPool.length) {
    randomFillSync(ivPool)
    ivOffset = 0
  }
  ivOffset += ivBytes
  return Buffer.from(ivPool.subarray(ivOffset - ivBytes, ivOffset))
}

// Keys are KeyObjects, imported once: a cipher made from raw key bytes imports them again each time, which cost
// about three times the AES-GCM work itself on a short value (measured: ~40 us against ~12 us per open).
const encrypt = (key: KeyObject, associated: Buffer, plaintext: Buffer) => {
  const iv = nextIv()
  const cipher = createCipheriv(algorithm, key, iv).setAAD(associated)
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return { iv, tag: cipher.getAuthTag(), body }
}

/** The plaintext, or undefined when the ciphertext, its associated data or the key do not belong together. */
const decrypt = (key: KeyObject, associated: Buffer, iv: Buffer, tag: Buffer, body: Buffer): Buffer | undefined => {
  try {
    const decipher = createDecipheriv(algorithm, key, iv).setAAD(associated).setAuthTag(tag)
    return Buffer.concat([decipher.update(body), decipher.final()])
  } catch {
    // node:crypto reports a failed authentication by throwing; the caller decides what it means.
    return undefined
  }
}

const wrapAssociated = (customerId: string, version: string) => Buffer.from(`data-key\u0000${customerId}\u0000${version}`)
const fieldAssociated = (customerId: string, field: string) => Buffer.from(`field\u0000${customerId}\u0000${field}`)

/** [version length][version][iv][tag][wrapped DEK]: self-describing, so a row names the master key to use. */
export const wrapDataKey = (master: MasterKey, customerId: string, dek: KeyObject): Buffer => {
  const { body, iv, tag } = encrypt(master.key, wrapAssociated(customerId, master.version), dek.export())
  const version = Buffer.from(master.version)
  return Buffer.concat([Buffer.of(version.length), version, iv, tag, body])
}

/** The DEK, or a reason it cannot be had (unknown master key version, or the wrap fails authentication). */
export const unwrapDataKey = (
  masters: ReadonlyArray<MasterKey>,
  customerId: string,
  stored: Uint8Array
): KeyObject | string => {
  const wrapped = asBuffer(stored)
  const versionEnd = 1 + wrapped[0]
  const version = wrapped.subarray(1, versionEnd).toString()
  const master = masters.find((candidate) => candidate.version === version)
  if (master === undefined) return `master key ${version} is not configured`
  const iv = wrapped.subarray(versionEnd, versionEnd + ivBytes)
  const tag = wrapped.subarray(versionEnd + ivBytes, versionEnd + ivBytes + tagBytes)
  const dek = decrypt(master.key, wrapAssociated(customerId, version), iv, tag, wrapped.subarray(versionEnd + ivBytes + tagBytes))
  return dek === undefined ? `the data key of customer ${customerId} failed authentication` : createSecretKey(dek)
}

/** A value sealed under a DEK, bound to its customer and field: [format][iv][tag][ciphertext of the JSON]. */
export const sealValue = (dek: KeyObject, customerId: string, field: string, value: unknown): Buffer => {
  const { body, iv, tag } = encrypt(dek, fieldAssociated(customerId, field), Buffer.from(JSON.stringify(value)))
  return Buffer.concat([Buffer.of(sealedFormat), iv, tag, body])
}

/** The value, or undefined when the ciphertext does not belong to this key, customer and field. */
export const openValue = (dek: KeyObject, customerId: string, field: string, stored: Uint8Array): unknown => {
  const sealed = asBuffer(stored)
  if (sealed[0] !== sealedFormat) return undefined
  const plaintext = decrypt(
    dek,
    fieldAssociated(customerId, field),
    sealed.subarray(1, 1 + ivBytes),
    sealed.subarray(1 + ivBytes, 1 + ivBytes + tagBytes),
    sealed.subarray(1 + ivBytes + tagBytes)
  )
  return plaintext === undefined ? undefined : JSON.parse(plaintext.toString())
}

/** A sealed value could not be opened: a defect (tampering, a moved ciphertext, a destroyed key). */
export class UnreadableSealedValue extends Error {
  readonly customerId: string
  readonly field: string
  constructor(customerId: string, field: string, reason: string) {
    super(`sealed ${field} of customer ${customerId} cannot be opened: ${reason}`)
    this.name = "UnreadableSealedValue"
    this.customerId = customerId
    this.field = field
  }
}

/** Opens one customer's sealed fields. */
export type Opener = (field: string, sealed: Uint8Array) => unknown
/** Seals one customer's fields. */
export type Sealer = (field: string, value: unknown) => Buffer

/** A new customer's key: the DEK to seal with and the wrapped form to store. */
export interface NewDataKey {
  readonly customerId: string
  readonly dek: KeyObject
  readonly masterKeyVersion: string
  readonly wrapped: Buffer
}

interface CachedKey {
  readonly dek: KeyObject
  readonly wrapped: Buffer
  readonly expiresAt: number
}

export class Keyring extends Context.Service<Keyring, {
  /** Whether personal fields are sealed (off only for the benchmark's comparison; refused in production). */
  readonly encrypting: boolean
  /** A fresh DEK for a customer being created (none when encryption is off). */
  newDataKey(customerId: string): Option.Option<NewDataKey>
  /** The statement storing new customers' wrapped keys, to run with their rows. */
  insertStatement(keys: ReadonlyArray<NewDataKey>): Statement.Statement<unknown>
  /** Remembers a new customer's DEK once its row is committed. */
  remember(key: NewDataKey): Effect.Effect<void>
  /** Seals a customer's fields under their DEK (read from the keyring when not cached). */
  sealerFor(customerId: string): Effect.Effect<Sealer>
  /** The same, or none when the customer has no data key (a row from before encryption at rest). */
  keyedSealerFor(customerId: string): Effect.Effect<Option.Option<Sealer>>
  sealerOf(key: Option.Option<NewDataKey>): Sealer
  /**
   * Sealers for many customers at once (a batch of tracked events): cached keys, the others read in one query.
   * A customer without a key (bulk-loaded rows not yet given one, or unknown) gets an unsealed value, as their
   * profile is kept until the key pass; so does everyone when encryption is off.
   */
  sealersFor(customerIds: ReadonlyArray<string>): Effect.Effect<(customerId: string) => Sealer>
  /** Opens a customer's fields, given the wrapped key read with the row (null when there is none). */
  openerFor(customerId: string, wrapped: Uint8Array | null): Effect.Effect<Opener>
  /**
   * Like openerFor, but a value sealed under a key the customer no longer has (replaced by anonymisation, or
   * destroyed) opens to undefined rather than failing: what a rekey is meant to make unreadable. Unsealed values
   * open as they are.
   */
  readerFor(customerId: string, wrapped: Uint8Array | null): Effect.Effect<(field: string, sealed: Uint8Array) => unknown>
  /** Crypto-shredding: deletes the customer's key (in the caller's transaction) and forgets it here. */
  destroy(customerId: string): Effect.Effect<void>
  /**
   * Replaces the customer's key with a fresh one (in the caller's transaction): what is written next is sealed
   * under the new key, and every copy sealed under the old one becomes unreadable, as at erasure.
   */
  rekey(customerId: string): Effect.Effect<void>
  /**
   * Re-wraps up to `limit` keys not yet under the newest master key; the number re-wrapped (0: done). Each call
   * commits its batch, so an interrupted rotation resumes where it stopped; concurrent passes skip each other's rows.
   */
  rewrapBatch(limit: number): Effect.Effect<number>
  readonly newestVersion: string
  /**
   * A key for another purpose derived (HKDF-SHA256) from the newest master key, so that purpose needs no secret of
   * its own; it changes when the master key rotates. `purpose` names the use, so each gets an independent key.
   */
  derivedKey(purpose: string): Buffer
}>()("cms/privacy/Keyring") {
  static readonly layer = Layer.effect(
    Keyring,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const production = yield* Config.String("NODE_ENV").pipe(
        Config.map((env) => env === "production"),
        Config.withDefault(false)
      )
      const encrypting = yield* Config.Boolean("PII_ENCRYPTION").pipe(Config.withDefault(true))
      if (!encrypting && production) {
        return yield* Effect.die(new Error("PII_ENCRYPTION=false is for benchmarks only and refused when NODE_ENV=production"))
      }
      if (!encrypting) yield* Effect.logWarning("encryption at rest: PII_ENCRYPTION=false, personal fields stored in the clear")
      const text = yield* configuredKey({
        name: "MASTER_KEYS",
        developmentKey: developmentMasterKeys,
        minimumBytes: keyBytes,
        purpose: "encryption at rest"
      })
      const masters = yield* Effect.try({ try: () => parseMasterKeys(text), catch: (error) => error }).pipe(Effect.orDie)
      if (production && masters.some((master) => master.version === developmentVersion)) {
        return yield* Effect.die(new Error("MASTER_KEYS: the development key is refused when NODE_ENV=production"))
      }
      const newest = masters[0]
      const cacheSize = yield* Config.Int("DATA_KEY_CACHE_SIZE").pipe(Config.withDefault(10_000))
      const cacheTtlMillis = (yield* Config.Int("DATA_KEY_CACHE_TTL_SECONDS").pipe(Config.withDefault(60))) * 1000

      // Insertion order is recency order: a hit is re-inserted, the oldest entry goes first when full.
      const cache = new Map<string, CachedKey>()
      const cached = (customerId: string, now: number) => {
        const entry = cache.get(customerId)
        if (entry === undefined) return undefined
        cache.delete(customerId)
        if (entry.expiresAt <= now) return undefined
        cache.set(customerId, entry)
        return entry
      }
      const store = (customerId: string, dek: KeyObject, wrapped: Buffer, now: number) => {
        cache.delete(customerId)
        cache.set(customerId, { dek, wrapped, expiresAt: now + cacheTtlMillis })
        if (cache.size > cacheSize) cache.delete(cache.keys().next().value!)
      }

      const unwrapped = (customerId: string, wrapped: Uint8Array) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const entry = cached(customerId, now)
          // A cached key counts only for the wrapped key it came from (a rotation or a replayed create changes it).
          if (entry !== undefined && entry.wrapped.equals(wrapped)) return entry.dek
          const dek = unwrapDataKey(masters, customerId, wrapped)
          if (typeof dek === "string") return yield* Effect.die(new UnreadableSealedValue(customerId, "data key", dek))
          store(customerId, dek, Buffer.from(wrapped), now)
          return dek
        })

      const storedKey = (customerId: string) =>
        sql<{ readonly wrapped: Uint8Array }>`SELECT wrapped FROM customer_keys.data_keys
          WHERE customer_id = ${customerId}`.pipe(
          Effect.orDie,
          Effect.map((rows) => Option.fromNullishOr(rows[0]?.wrapped))
        )

      const plainSealer: Sealer = (_field, value) => Buffer.concat([Buffer.of(plainFormat), Buffer.from(JSON.stringify(value))])
      const missingKeySealer: Sealer = (field) => {
        throw new UnreadableSealedValue("(new customer)", field, "no data key to seal with")
      }
      const sealerWith = (customerId: string, dek: KeyObject): Sealer => (field, value) => sealValue(dek, customerId, field, value)

      const openerWith = (customerId: string, dek: KeyObject | undefined): Opener => (field, sealed) => {
        if (sealed[0] === plainFormat && !encrypting) return JSON.parse(asBuffer(sealed).subarray(1).toString())
        if (dek === undefined) throw new UnreadableSealedValue(customerId, field, "the customer has no data key")
        const value = openValue(dek, customerId, field, sealed)
        if (value === undefined) throw new UnreadableSealedValue(customerId, field, "authentication failed")
        return value
      }

      const keyedSealerFor = Effect.fn("Keyring.keyedSealerFor")(function*(customerId: string) {
        if (!encrypting) return Option.some(plainSealer)
        const now = yield* Clock.currentTimeMillis
        const entry = cached(customerId, now)
        if (entry !== undefined) return Option.some(sealerWith(customerId, entry.dek))
        const wrapped = yield* storedKey(customerId)
        if (Option.isNone(wrapped)) return Option.none<Sealer>()
        return Option.some(sealerWith(customerId, yield* unwrapped(customerId, wrapped.value)))
      })

      const sealerFor = (customerId: string) =>
        Effect.flatMap(keyedSealerFor(customerId), Option.match({
          onSome: Effect.succeed,
          onNone: () => Effect.die(new UnreadableSealedValue(customerId, "data key", "the customer has no data key"))
        }))

      const sealersFor = Effect.fn("Keyring.sealersFor")(function*(customerIds: ReadonlyArray<string>) {
        if (!encrypting) return () => plainSealer
        const now = yield* Clock.currentTimeMillis
        // Keyed and bound in the lower case PostgreSQL gives a uuid, whatever case a client sent.
        const sealers = new Map<string, Sealer>()
        const missing: Array<string> = []
        for (const given of customerIds) {
          const customerId = given.toLowerCase()
          if (sealers.has(customerId)) continue
          const entry = cached(customerId, now)
          if (entry === undefined) missing.push(customerId)
          else sealers.set(customerId, sealerWith(customerId, entry.dek))
        }
        if (missing.length > 0) {
          const rows = yield* sql<{ readonly customer_id: string; readonly wrapped: Uint8Array }>`SELECT customer_id,
            wrapped FROM customer_keys.data_keys WHERE customer_id = ANY(${missing}::uuid[])`.pipe(Effect.orDie)
          for (const row of rows) {
            const dek = unwrapDataKey(masters, row.customer_id, row.wrapped)
            if (typeof dek === "string") return yield* Effect.die(new UnreadableSealedValue(row.customer_id, "data key", dek))
            store(row.customer_id, dek, Buffer.from(row.wrapped), now)
            sealers.set(row.customer_id, sealerWith(row.customer_id, dek))
          }
        }
        return (customerId: string) => sealers.get(customerId.toLowerCase()) ?? plainSealer
      })

      // Only keys this process can unwrap: one under a newer master key it does not know yet is left alone.
      const older = masters.slice(1).map((master) => master.version)
      const rewrapBatch = Effect.fn("Keyring.rewrapBatch")(function*(limit: number) {
        if (older.length === 0) return 0
        return yield* sql.withTransaction(Effect.gen(function*() {
          const rows = yield* sql<{ readonly customer_id: string; readonly wrapped: Uint8Array }>`SELECT customer_id, wrapped
            FROM customer_keys.data_keys WHERE master_key_version = ANY(${older}::text[])
            ORDER BY customer_id LIMIT ${limit} FOR UPDATE SKIP LOCKED`
          if (rows.length === 0) return 0
          const rewrapped: Array<string> = []
          for (const row of rows) {
            const dek = unwrapDataKey(masters, row.customer_id, row.wrapped)
            if (typeof dek === "string") return yield* Effect.die(new UnreadableSealedValue(row.customer_id, "data key", dek))
            rewrapped.push(wrapDataKey(newest, row.customer_id, dek).toString("base64"))
          }
          yield* sql`UPDATE customer_keys.data_keys AS k SET wrapped = decode(r.wrapped, 'base64'),
              master_key_version = ${newest.version}
            FROM unnest(${rows.map((row) => row.customer_id)}::uuid[], ${rewrapped}::text[]) AS r (customer_id, wrapped)
            WHERE k.customer_id = r.customer_id`
          return rows.length
        })).pipe(Effect.orDie)
      })

      const newDataKey = (customerId: string): Option.Option<NewDataKey> => {
        if (!encrypting) return Option.none()
        const dek = createSecretKey(randomBytes(keyBytes))
        return Option.some({ customerId, dek, masterKeyVersion: newest.version, wrapped: wrapDataKey(newest, customerId, dek) })
      }

      const insertStatement = (keys: ReadonlyArray<NewDataKey>) =>
        sql`INSERT INTO customer_keys.data_keys (customer_id, master_key_version, wrapped)
          SELECT customer_id, master_key_version, decode(wrapped, 'base64')
          FROM unnest(${keys.map((key) => key.customerId)}::uuid[], ${keys.map((key) => key.masterKeyVersion)}::text[],
            ${keys.map((key) => key.wrapped.toString("base64"))}::text[]) AS k (customer_id, master_key_version, wrapped)`

      const destroy = Effect.fn("Keyring.destroy")(function*(customerId: string) {
        yield* sql`DELETE FROM customer_keys.data_keys WHERE customer_id = ${customerId}`.pipe(Effect.orDie)
        cache.delete(customerId)
      })

      return Keyring.of({
        encrypting,
        newestVersion: newest.version,
        newDataKey,
        insertStatement,
        remember: (key) => Effect.map(Clock.currentTimeMillis, (now) => store(key.customerId, key.dek, key.wrapped, now)),
        sealerFor,
        keyedSealerFor,
        sealerOf: (key) =>
          Option.match(key, {
            // No key while encrypting is a bug: refuse to write rather than write in the clear.
            onNone: () => encrypting ? missingKeySealer : plainSealer,
            onSome: (key) => sealerWith(key.customerId, key.dek)
          }),
        openerFor: (customerId, wrapped) =>
          wrapped === null ? Effect.succeed(openerWith(customerId, undefined)) : Effect.map(
            unwrapped(customerId, wrapped),
            (dek) => openerWith(customerId, dek)
          ),
        sealersFor,
        readerFor: (customerId, wrapped) =>
          Effect.map(
            wrapped === null ? Effect.succeed(undefined) : unwrapped(customerId, wrapped),
            (dek) => (field: string, sealed: Uint8Array) =>
              sealed[0] === plainFormat
                ? JSON.parse(asBuffer(sealed).subarray(1).toString())
                : dek === undefined
                ? undefined
                : openValue(dek, customerId, field, sealed)
          ),
        destroy,
        // The new key is not cached here: should the transaction roll back, the cache would hold a key the
        // table does not; the next read unwraps it from the table instead.
        rekey: Effect.fn("Keyring.rekey")(function*(customerId: string) {
          yield* destroy(customerId)
          const key = newDataKey(customerId)
          if (Option.isSome(key)) yield* insertStatement([key.value]).pipe(Effect.orDie)
        }),
        rewrapBatch,
        derivedKey: (purpose) =>
          Buffer.from(hkdfSync("sha256", newest.key, Buffer.alloc(0), `cms derived key\u0000${purpose}`, keyBytes))
      })
    })
  )
}
