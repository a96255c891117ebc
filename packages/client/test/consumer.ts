/**
 * Another service's code, as it would be written after `npm install` of the packed client.
 * test/integration/client-package.test.ts copies it into a project outside this repository,
 * typechecks it against the package's declarations and runs it against a running service
 * (BASE_URL, TOKEN); it prints what it saw as one line of JSON.
 */
import { Effect, Layer } from "effect"
import {
  type ClientOptions,
  CustomerApiClient,
  CustomerId,
  CustomerNotFound,
  CustomerRpcClient
} from "@customer-service/client"

const setting = (name: string) => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`${name} is not set`)
  return value
}

const options: ClientOptions = { baseUrl: setting("BASE_URL"), credentials: { bearer: setting("TOKEN") } }

/** What a CustomerNotFound looks like after crossing the wire. */
const seen = (error: CustomerNotFound) =>
  Effect.succeed({ tag: error._tag, customerId: error.customerId, isTheClass: error instanceof CustomerNotFound })

/** Declarations, not `any`: a plain string is not a CustomerId. Never called. */
export const plainStringIsNotAnId = (client: CustomerRpcClient["Service"]) =>
  // @ts-expect-error the id must be made with CustomerId.make
  client.GetCustomer({ id: "0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d35" })

const program = Effect.gen(function*() {
  const rpc = yield* CustomerRpcClient
  const rest = yield* CustomerApiClient
  const created = yield* rpc.CreateCustomer({
    input: {
      email: `packed.${Date.now()}@example.com`,
      name: "Packed Client",
      consent: { marketing: false, dataProcessing: true }
    }
  })
  const fetched = yield* rest.customers.get({ params: { id: created.id } })
  const unknown = CustomerId.make(crypto.randomUUID())
  return {
    created,
    fetched: { body: fetched.body, etag: fetched.headers.etag },
    unknown,
    rpcNotFound: yield* rpc.GetCustomer({ id: unknown }).pipe(
      Effect.map(() => "found" as const),
      Effect.catchTag("CustomerNotFound", seen)
    ),
    restNotFound: yield* rest.customers.get({ params: { id: unknown } }).pipe(
      Effect.map(() => "found" as const),
      Effect.catchTag("CustomerNotFound", seen)
    )
  }
})

const result = await Effect.runPromise(program.pipe(
  Effect.provide(Layer.mergeAll(CustomerRpcClient.layer(options), CustomerApiClient.layer(options)))
))
console.log(JSON.stringify(result))
