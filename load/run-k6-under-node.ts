/**
 * Runs a k6 script once under plain Node, without k6: `k6` and `k6/http` are
 * mapped (module.register resolve hook) to the small shims in load/k6-shim/.
 * It calls setup(), the default function `--iterations` times, each
 * scenario's `exec` function once (so every function options.scenarios names
 * is proven to exist and work), then teardown(). Exits non-zero when a check
 * fails or the script throws. A smoke test for the script, not a load test.
 *
 *   BASE_URL=http://127.0.0.1:8080 TOKEN=$(npm run -s token) node load/run-k6-under-node.ts [load/customers.js] [--iterations 2]
 */
import { register } from "node:module"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { parseArgs } from "node:util"

interface ShimState {
  readonly checks: Record<string, { passes: number; fails: number }>
  readonly passes: number
  readonly fails: number
  readonly requests: number
  readonly statuses: Record<string, number>
}

interface K6Script {
  readonly options?: { readonly scenarios?: Record<string, { readonly exec?: string }> }
  readonly setup?: () => unknown
  readonly teardown?: (data: unknown) => void
  readonly default?: (data: unknown) => void
  readonly [name: string]: unknown
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { iterations: { type: "string", default: "2" }, "skip-scenarios": { type: "boolean", default: false } }
})
const script = resolve(positionals[0] ?? new URL("./customers.js", import.meta.url).pathname)
const iterations = Number(values.iterations)

register("./k6-shim/hooks.js", import.meta.url)

// k6's globals, before the script's module body reads them.
const globals = globalThis as unknown as { __ENV: Record<string, string>; __VU: number; __ITER: number; __k6shim?: ShimState }
globals.__ENV = Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined))
globals.__VU = 1
globals.__ITER = 0

const started = performance.now()
let failure: unknown = undefined
const ran: Array<string> = []
try {
  const module = (await import(pathToFileURL(script).href)) as K6Script
  const data = module.setup?.()
  if (typeof module.default === "function") {
    for (let i = 0; i < iterations; i++) {
      globals.__ITER = i
      module.default(data)
    }
    ran.push(`default x${iterations}`)
  }
  if (!values["skip-scenarios"]) {
    for (const [name, scenario] of Object.entries(module.options?.scenarios ?? {})) {
      const exec = scenario.exec ?? "default"
      const fn = module[exec]
      if (typeof fn !== "function") throw new Error(`scenario ${name}: exec "${exec}" is not an exported function`)
      globals.__ITER = iterations
      ;(fn as (data: unknown) => void)(data)
      ran.push(`${name} (${exec})`)
    }
  }
  module.teardown?.(data)
} catch (error) {
  failure = error
}

const state = globals.__k6shim ?? { checks: {}, passes: 0, fails: 0, requests: 0, statuses: {} }
console.log(`k6 script under node: ${script}`)
console.log(`ran: ${ran.join(", ") || "nothing"}`)
console.log(`requests: ${state.requests} ${JSON.stringify(state.statuses)} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
for (const [name, { passes, fails }] of Object.entries(state.checks)) {
  console.log(`  ${fails === 0 ? "✓" : "✗"} ${name}: ${passes} passed, ${fails} failed`)
}
console.log(`checks: ${state.passes} passed, ${state.fails} failed`)
if (failure !== undefined) console.error(failure)
process.exit(failure === undefined && state.fails === 0 && state.passes > 0 ? 0 : 1)
