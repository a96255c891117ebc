// Installs dependencies when node_modules is missing or older than package-lock.json,
// so `npm start` and `npm test` work on a fresh clone. Runs on any Node (the machine's 20 too).
// `--mark` (the postinstall hook) records which lock file the installed tree matches.
// `--browser` (the pretest hook) also installs Debian's Chromium, which the /docs test drives,
// when it is missing and this runs as root; otherwise it says how.
import { execSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, readFileSync, writeFileSync } from "node:fs"

const lockHash = createHash("sha256").update(readFileSync("package-lock.json")).digest("hex")
const marker = "node_modules/.installed-lock-hash"

if (process.argv.includes("--mark")) {
  writeFileSync(marker, lockHash)
} else if (!existsSync(marker) || readFileSync(marker, "utf8") !== lockHash) {
  console.error("Installing dependencies (npm ci)...")
  execSync("npm ci --no-audit --no-fund", { stdio: "inherit" })
}

const chromium = "/usr/bin/chromium"
if (process.argv.includes("--browser") && !existsSync(chromium)) {
  if (process.getuid?.() === 0) {
    console.error("Installing Chromium for the browser tests (apt-get install chromium)...")
    execSync("apt-get update && apt-get install -y chromium", {
      stdio: "inherit",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
    })
  } else {
    console.error(`The /docs browser test needs ${chromium}: install Debian's chromium package (apt-get install chromium).`)
  }
}
