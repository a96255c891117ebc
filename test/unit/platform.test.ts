import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { decodeCursor, encodeCursor } from "../../src/customers/Cursor.ts"
import { splitStatements } from "../../src/platform/Database.ts"
import { uuidFromParts, uuidv7 } from "../../src/platform/Ids.ts"

const id = "0196f4a4-1c2d-7a3b-8c4d-5e6f70819203"

describe("cursors", () => {
  it("decode to the position they encode, to the microsecond", () => {
    const cursor = encodeCursor("-createdAt", "2026-01-01T00:00:00.123456Z", id)
    assert.deepStrictEqual(
      decodeCursor(cursor, "-createdAt", true),
      Option.some({ value: "2026-01-01T00:00:00.123456Z", id })
    )
  })

  it("belong to one sort", () => {
    assert.isTrue(Option.isNone(decodeCursor(encodeCursor("name", "Ada", id), "-name", false)))
  })

  it("of a time sort hold a real UTC instant", () => {
    for (const value of ["yesterday", "2026-02-30T00:00:00Z", "2026-01-01T00:00:00+01:00"]) {
      assert.isTrue(Option.isNone(decodeCursor(encodeCursor("createdAt", value, id), "createdAt", true)), value)
    }
  })

  it("reject garbage", () => {
    assert.isTrue(Option.isNone(decodeCursor("not a cursor", "name", false)))
    assert.isTrue(Option.isNone(decodeCursor(Buffer.from(`["name","x","not-a-uuid"]`).toString("base64url"), "name", false)))
    assert.isTrue(Option.isNone(decodeCursor(encodeCursor("name", "a\u0000b", id), "name", false)))
  })
})

describe("migration files", () => {
  it("split into statements at line-ending semicolons, skipping comments", () => {
    const statements = splitStatements("-- a comment\nCREATE TABLE a (x int);\n\nCREATE INDEX b ON a (x);\n")
    assert.deepStrictEqual(statements, ["CREATE TABLE a (x int);", "CREATE INDEX b ON a (x);"])
  })

  it("keep dollar-quoted bodies whole", () => {
    const body = "CREATE FUNCTION f() RETURNS int AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$ LANGUAGE plpgsql;"
    assert.deepStrictEqual(splitStatements(`${body}\nSELECT 1;`), [body, "SELECT 1;"])
  })
})

describe("identifiers", () => {
  it("uuidv7 is a version-7 UUID ordered by time", () => {
    const earlier = uuidv7(1_700_000_000_000)
    const later = uuidv7(1_700_000_000_001)
    assert.match(earlier, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    assert.isTrue(earlier < later)
  })

  it("uuidv7 ids made in the same millisecond, across many refills of the entropy pool, are all distinct", () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7(1_700_000_000_000))
    assert.strictEqual(new Set(ids).size, ids.length)
    for (const made of ids) assert.match(made, /^018bcfe5-6800-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })

  it("ids from parts are deterministic and distinct per input", () => {
    assert.strictEqual(uuidFromParts("a", "b"), uuidFromParts("a", "b"))
    assert.notStrictEqual(uuidFromParts("a", "b"), uuidFromParts("ab", ""))
    assert.match(uuidFromParts("x"), /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })
})
