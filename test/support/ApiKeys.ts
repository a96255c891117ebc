/**
 * Credentials in tests: requests carrying only the headers given, the 401
 * and 403 refusals, and API keys issued through the API.
 */
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import type { Role } from "../../src/domain/Access.ts"
import type { IssuedApiKey } from "../../src/domain/ApiKey.ts"
import { call, expectProblem } from "./Http.ts"
import { json } from "./TestService.ts"

export type IssuedKey = typeof IssuedApiKey.Encoded

export const apiKeysPath = "/api/v1/api-keys"

/** A request carrying only the given credentials headers. */
export const callWith = (headers: Record<string, string>, method: string, path: string, body?: unknown) =>
  call(method, path, { body, auth: false, headers })

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
export const apiKey = (key: string) => ({ "x-api-key": key })

export const expectUnauthenticated = (response: Response) => expectProblem(response, 401, "/problems/unauthenticated")
export const expectForbidden = (response: Response) => expectProblem(response, 403, "/problems/forbidden")

/** Issues a key as an admin (the test token's), with any extra request fields; anything but 201 fails the test. */
export const issueKey = (role: Role, name = `${role} integration`, extra: Record<string, unknown> = {}) =>
  Effect.gen(function*() {
    const response = yield* call("POST", apiKeysPath, { body: { name, role, ...extra } })
    assert.strictEqual(response.status, 201)
    return yield* json<IssuedKey>(response)
  })
