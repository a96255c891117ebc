/**
 * The installable client as another service gets it: `npm run build:client`,
 * `npm pack`, the tarball installed into a project outside this repository,
 * and a script there (packages/client/test/consumer.ts) typechecked against
 * the package's declarations and run against this service through both the
 * RPC and the REST client.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import * as sourceClient from "../../src/client/index.ts"
import { testService, TestService } from "../support/TestService.ts"

const root = fileURLToPath(new URL("../..", import.meta.url))
const packageDir = join(root, "packages/client")
const bin = (name: string) => join(root, "node_modules/.bin", name)

// Without the npm_* variables of an enclosing `npm test`, so npm in the temporary project
// configures itself from that project alone.
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("npm_")))

/** Runs a command to completion; its stdout, or a failure quoting its stderr. */
const run = (file: string, args: ReadonlyArray<string>, cwd: string, env: Record<string, string | undefined> = cleanEnv) =>
  Effect.tryPromise(() => promisify(execFile)(file, [...args], { cwd, env, maxBuffer: 16 * 1024 * 1024 })).pipe(
    Effect.map(({ stdout }) => stdout)
  )

const readJson = (path: string) =>
  Effect.promise(async () => JSON.parse(await readFile(path, "utf8")) as Record<string, Record<string, string>>)

/** A project outside this repository, removed afterwards. */
const temporaryProject = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "customer-client-consumer-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

/** The consumer's tsconfig: strict, as a careful service would be, and checking the package's declarations too. */
const consumerTsconfig = {
  compilerOptions: {
    target: "ES2024",
    lib: ["ES2024", "DOM"],
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    exactOptionalPropertyTypes: true,
    noEmit: true,
    skipLibCheck: false,
    types: ["node"],
    typeRoots: [join(root, "node_modules/@types")]
  },
  files: ["consumer.ts"]
}

interface ConsumerResult {
  readonly created: { readonly id: string; readonly name: string; readonly version: number }
  readonly fetched: { readonly body: { readonly id: string; readonly name: string }; readonly etag: string }
  readonly unknown: string
  readonly rpcNotFound: { readonly tag: string; readonly customerId: string; readonly isTheClass: boolean }
  readonly restNotFound: { readonly tag: string; readonly customerId: string; readonly isTheClass: boolean }
}

layer(testService(), { excludeTestServices: true })("the packed client", (it) => {
  it.effect("declares effect as a peer dependency with the service's own range", () =>
    Effect.gen(function*() {
      const service = yield* readJson(join(root, "package.json"))
      const client = yield* readJson(join(packageDir, "package.json"))
      assert.strictEqual(client.peerDependencies.effect, service.dependencies.effect)
      assert.isUndefined(client.dependencies?.effect)
    }))

  it.effect("installed from its tarball outside the repository, calls the service through RPC and REST, typed errors included", () =>
    Effect.gen(function*() {
      const { baseUrl, token } = yield* TestService
      yield* run("npm", ["run", "--silent", "build:client"], root, process.env)
      const project = yield* temporaryProject
      const [packed] = JSON.parse(
        yield* run("npm", ["pack", "--json", "--pack-destination", project], packageDir)
      ) as ReadonlyArray<{ readonly filename: string }>
      yield* Effect.promise(() =>
        writeFile(
          join(project, "package.json"),
          JSON.stringify({
            name: "consumer",
            private: true,
            type: "module",
            dependencies: {
              "@customer-service/client": `file:${join(project, packed!.filename)}`,
              // The peer, linked from this repository: no download, the same effect the service runs.
              effect: `file:${join(root, "node_modules/effect")}`
            }
          })
        )
      )
      yield* run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts"], project)
      yield* Effect.promise(() => copyFile(join(packageDir, "test/consumer.ts"), join(project, "consumer.ts")))
      yield* Effect.promise(() => writeFile(join(project, "tsconfig.json"), JSON.stringify(consumerTsconfig)))

      // Whatever src/client/index.ts exports (schemas, errors, events), the package exports.
      const exported = yield* run(bin("node"), [
        "--input-type=module",
        "--eval",
        "console.log(JSON.stringify(Object.keys(await import('@customer-service/client'))))"
      ], project)
      assert.deepStrictEqual(JSON.parse(exported), Object.keys(sourceClient).sort())

      yield* run(bin("tsc"), ["-p", project], project)
      const output = yield* run(bin("node"), ["consumer.ts"], project, {
        ...cleanEnv,
        BASE_URL: baseUrl,
        TOKEN: yield* token("admin")
      })
      const result = JSON.parse(output) as ConsumerResult

      assert.strictEqual(result.created.name, "Packed Client")
      assert.strictEqual(result.created.version, 1)
      assert.deepStrictEqual(result.fetched.body, result.created)
      assert.strictEqual(result.fetched.etag, "\"v1\"")
      const notFound = { tag: "CustomerNotFound", customerId: result.unknown, isTheClass: true }
      assert.deepStrictEqual(result.rpcNotFound, notFound)
      assert.deepStrictEqual(result.restNotFound, notFound)
    }))
})
