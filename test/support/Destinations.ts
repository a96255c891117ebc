/** Calling the destination endpoints in tests: creating one through the API. */
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import type { CreatedDestination } from "../../src/domain/Destination.ts"
import { unique } from "./Customers.ts"
import { call } from "./Http.ts"
import { json } from "./TestService.ts"

export const destinationsPath = "/api/v1/destinations"

export const destinationPath = (id: string) => `${destinationsPath}/${id}`

/** Creates a destination (a fresh name, `body` on top) through the API; anything but 201 fails the test. */
export const createDestination = (body: Record<string, unknown>) =>
  Effect.gen(function*() {
    const response = yield* call("POST", destinationsPath, { body: { name: `Hook ${unique()}`, ...body } })
    const text = yield* Effect.promise(() => response.clone().text())
    assert.strictEqual(response.status, 201, text)
    const created = yield* json<CreatedDestination>(response)
    assert.strictEqual(response.headers.get("location"), destinationPath(created.id))
    return created
  })
