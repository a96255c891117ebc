// Builds the installable client (packages/client): src/client and the contract it imports,
// compiled by the project's TypeScript to JS and declarations in packages/client/dist.
// `npm run build:client`; then `npm pack` in packages/client makes the tarball.
import { execFileSync } from "node:child_process"
import { rmSync } from "node:fs"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))

// Start empty, so a source file that no longer exists is not shipped from an earlier build.
rmSync(`${root}packages/client/dist`, { recursive: true, force: true })
execFileSync(`${root}node_modules/.bin/tsc`, ["-p", `${root}packages/client/tsconfig.json`], { stdio: "inherit" })
