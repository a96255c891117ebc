/**
 * Checking an answer of the service against its OpenAPI document with a
 * validator of its own (Ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses it):
 * the status is declared for the operation, and so are the media type, the
 * headers and the body's schema.
 */
import { assert } from "@effect/vitest"
import { Ajv2020 } from "ajv/dist/2020.js"
import addFormatsPlugin from "ajv-formats"
import { Effect } from "effect"
import type { OpenApi } from "effect/http-api"

type Document = OpenApi.OpenAPISpec
type JsonSchema = Record<string, unknown>

interface Operation {
  readonly operationId: string
  readonly responses: Record<string, {
    readonly content?: Record<string, { readonly schema: JsonSchema }>
    readonly headers?: Record<string, { readonly required: boolean; readonly schema: JsonSchema }>
  }>
}

/** Every operation of the document with its method and path, e.g. `customers.create`, POST, `/api/v1/customers`. */
export const operationsOf = (document: Document) =>
  Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item as Record<string, Operation>).map(([method, operation]) => ({
      id: operation.operationId,
      method: method.toUpperCase(),
      path,
      operation
    }))
  )

// ajv-formats is CommonJS: its function arrives as the default export or as the module itself.
const addFormats = ((addFormatsPlugin as unknown as { default?: unknown }).default ?? addFormatsPlugin) as (
  ajv: Ajv2020
) => Ajv2020

/** A validator that resolves the document's `#/components/...` references. */
export const makeValidator = (document: Document) => {
  const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }))
  ajv.addSchema({ $id: "openapi", components: document.components }, "openapi", undefined, false)
  const cache = new Map<string, ReturnType<Ajv2020["compile"]>>()
  return (schema: JsonSchema, value: unknown): ReadonlyArray<string> => {
    const text = JSON.stringify(schema).replaceAll("\"#/components/", "\"openapi#/components/")
    let validate = cache.get(text)
    if (validate === undefined) {
      validate = ajv.compile(JSON.parse(text))
      cache.set(text, validate)
    }
    return validate(value) ? [] : (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message}`)
  }
}

/**
 * Asserts that `response` is an answer `operation` declares: its status, its
 * media type, every required header present, each declared header and the
 * body valid against their schemas. Returns the body (undefined when empty).
 */
export const expectDocumented = (
  document: Document,
  validate: ReturnType<typeof makeValidator>,
  operationId: string,
  response: Response
) =>
  Effect.gen(function*() {
    const found = operationsOf(document).find((entry) => entry.id === operationId)
    assert.isDefined(found, `${operationId} is not in the document`)
    const declared = found!.operation.responses[String(response.status)]
    const text = yield* Effect.promise(() => response.text())
    assert.isDefined(declared, `${operationId} answered ${response.status}, which it does not declare: ${text}`)
    for (const [name, header] of Object.entries(declared.headers ?? {})) {
      const value = response.headers.get(name)
      if (value === null) {
        assert.isFalse(header.required, `${operationId} ${response.status} lacks its required header ${name}`)
        continue
      }
      assert.deepStrictEqual(validate(header.schema, value), [], `${operationId} ${response.status} header ${name}`)
    }
    if (declared.content === undefined) {
      assert.strictEqual(text, "", `${operationId} ${response.status} declares no body`)
      return undefined
    }
    const mediaType = (response.headers.get("content-type") ?? "").split(";")[0].trim()
    const media = declared.content[mediaType]
    assert.isDefined(media, `${operationId} ${response.status} answered ${mediaType}, declared: ${Object.keys(declared.content)}`)
    const body: unknown = JSON.parse(text)
    assert.deepStrictEqual(validate(media.schema, body), [], `${operationId} ${response.status} body: ${text.slice(0, 500)}`)
    return body
  })
