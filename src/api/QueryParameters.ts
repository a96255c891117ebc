/**
 * OpenAPI describes a query parameter by its value after deserialisation: an
 * integer, a list. HttpApi documents the text on the wire (a query value is
 * always a string), so a number read from a string lost its type and range in
 * the document. This annotation documents such parameters by the schema they
 * decode to, compiled from the same schema the server decodes with.
 */
import { Schema } from "effect"
import { OpenApi } from "effect/http-api"

type JsonSchema = { readonly [key: string]: unknown }

/** Inlines `#/$defs/...` references: a parameter schema stands alone in its operation. */
const inline = (schema: unknown, definitions: Record<string, unknown>): unknown => {
  if (Array.isArray(schema)) return schema.map((item) => inline(item, definitions))
  if (typeof schema !== "object" || schema === null) return schema
  const { $ref, ...rest } = schema as Record<string, unknown>
  const target = typeof $ref === "string" && $ref.startsWith("#/$defs/")
    ? inline(definitions[decodeURIComponent($ref.slice("#/$defs/".length))], definitions) as Record<string, unknown>
    : undefined
  const own = Object.fromEntries(Object.entries(rest).map(([key, value]) => [key, inline(value, definitions)]))
  return target === undefined ? { ...own, ...($ref === undefined ? {} : { $ref }) } : { ...target, ...own }
}

/** The decoded value's JSON Schema, when it is a number or a list (a string documents itself). */
const decodedSchema = (field: Schema.Top): JsonSchema | undefined => {
  const document = Schema.toJsonSchemaDocument(Schema.toType(field))
  const schema = inline(document.schema, document.definitions) as JsonSchema
  return schema.type === "integer" || schema.type === "number" || schema.type === "array" ? schema : undefined
}

interface Parameter {
  readonly name: string
  readonly in: string
  schema: unknown
  style?: string
  explode?: boolean
}

/**
 * For an endpoint whose query is `query`: each parameter decoded to a number
 * is documented with its type and range, and each decoded to a list as one
 * comma-separated value (`style: form, explode: false`), as the server reads it.
 */
export const documentQueryParameters = (query: { readonly fields: Readonly<Record<string, Schema.Top>> }) => {
  const decoded = new Map<string, JsonSchema>()
  for (const [name, field] of Object.entries(query.fields)) {
    const schema = decodedSchema(field)
    if (schema !== undefined) decoded.set(name, schema)
  }
  return OpenApi.annotations({
    transform: (operation) => {
      for (const parameter of operation.parameters as Array<Parameter>) {
        const schema = parameter.in === "query" ? decoded.get(parameter.name) : undefined
        if (schema === undefined) continue
        parameter.schema = schema
        if (schema.type === "array") {
          parameter.style = "form"
          parameter.explode = false
        }
      }
      return operation
    }
  })
}
