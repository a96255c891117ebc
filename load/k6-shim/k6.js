// A tiny stand-in for k6's `k6` module (check, sleep, group, fail), enough to
// run load/customers.js under plain Node (see load/run-k6-under-node.ts).
// Results are kept on globalThis.__k6shim for the runner to report.

const state = (globalThis.__k6shim ??= { checks: {}, passes: 0, fails: 0, requests: 0, statuses: {} })

/** Runs every named predicate against `value`; true when all hold (as in k6). */
export function check(value, sets) {
  let all = true
  for (const [name, predicate] of Object.entries(sets)) {
    let ok
    try {
      ok = typeof predicate === "function" ? Boolean(predicate(value)) : Boolean(predicate)
    } catch {
      ok = false
    }
    const entry = (state.checks[name] ??= { passes: 0, fails: 0 })
    if (ok) {
      entry.passes++
      state.passes++
    } else {
      entry.fails++
      state.fails++
      all = false
    }
  }
  return all
}

const sleeper = new Int32Array(new SharedArrayBuffer(4))

/** Blocks for `seconds`, synchronously, as k6's sleep does for its VU. */
export function sleep(seconds) {
  Atomics.wait(sleeper, 0, 0, Math.max(0, Number(seconds) * 1000))
}

export function group(_name, fn) {
  return fn()
}

export function fail(message) {
  throw new Error(message)
}

export default { check, sleep, group, fail }
