/**
 * Prints a JWT the locally started service accepts: `npm run token -- --role admin [--subject alice] [--ttl 3600]`.
 * It signs with JWT_SECRET (or the development secret the service also falls back to).
 */
import { parseArgs } from "node:util"
import * as Jose from "jose"
import { Role } from "../src/domain/Access.ts"
import { developmentSecret } from "../src/platform/Authenticator.ts"

const { values } = parseArgs({
  options: {
    role: { type: "string", default: "admin" },
    subject: { type: "string", default: "local-developer" },
    ttl: { type: "string", default: "3600" }
  }
})

if (!Role.literals.includes(values.role as Role)) {
  console.error(`--role must be one of: ${Role.literals.join(", ")}`)
  process.exit(2)
}

const token = await new Jose.SignJWT({ role: values.role })
  .setProtectedHeader({ alg: "HS256" })
  .setSubject(values.subject)
  .setIssuer(process.env.JWT_ISSUER ?? "customer-service")
  .setAudience(process.env.JWT_AUDIENCE ?? "customer-service-api")
  .setIssuedAt()
  .setExpirationTime(`${Number(values.ttl)}s`)
  .sign(new TextEncoder().encode(process.env.JWT_SECRET ?? developmentSecret))

console.log(token)
