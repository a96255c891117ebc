/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. BENCH_PROFILE=dir
 * npm run bench): self time by package/area and the top functions.
 *
 *   node load/cpuprofile-summary.ts /tmp/prof/CPU.*.cpuprofile [--top 30]
 */
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "30" } } })
if (positionals.length === 0) {
  console.error("usage: node load/cpuprofile-summary.ts FILE.cpuprofile [--top N]")
  process.exit(2)
}

/** Where a frame's code lives: a package under node_modules, the project's src, node internals, or V8/GC. */
const areaOf = (url: string, name: string) => {
  if (url === "") return name.startsWith("(") ? name : "(native/V8)"
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?:dist\/|src\/)?(?:internal\/)?([^/]+?)(?:\.[jt]s)?$/.exec(url)
  if (pkg !== null) {
    const sub = /node_modules\/effect\/(?:dist|src)\/(.*?)(?:\.[jt]s)?$/.exec(url)
    return sub !== null ? `effect/${sub[1].split("/")[0] === "internal" ? "internal" : sub[1].split("/")[0]}` : pkg[1]
  }
  if (url.includes("/src/")) return `src/${url.split("/src/")[1].split("/")[0]}`
  if (url.startsWith("node:")) return url.split("/")[0]
  return url
}

for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = new Map<number, number>()
  let total = 0
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0
    self.set(id, (self.get(id) ?? 0) + delta)
    total += delta
  })
  const byArea = new Map<string, number>()
  const byFunction = new Map<string, number>()
  for (const [id, micros] of self) {
    const { callFrame } = byId.get(id)!
    const area = areaOf(callFrame.url, callFrame.functionName)
    byArea.set(area, (byArea.get(area) ?? 0) + micros)
    const where = callFrame.url === "" ? "" : ` ${callFrame.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/src\//, "src/")}:${callFrame.lineNumber + 1}`
    const key = `${callFrame.functionName || "(anonymous)"}${where}`
    byFunction.set(key, (byFunction.get(key) ?? 0) + micros)
  }
  const idle = byArea.get("(idle)") ?? 0
  const busy = total - idle
  const pct = (micros: number) => `${((100 * micros) / busy).toFixed(1).padStart(5)}%`
  console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (percentages of busy time)`)
  console.log("\nself time by area:")
  for (const [area, micros] of [...byArea].filter(([area]) => area !== "(idle)").sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`  ${pct(micros)}  ${area}`)
  }
  console.log(`\ntop ${values.top} functions by self time:`)
  for (const [name, micros] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
    if (name.startsWith("(idle)")) continue
    console.log(`  ${pct(micros)}  ${name}`)
  }
}
