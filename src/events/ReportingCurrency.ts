/** The currency revenue is totalled in (rollups, fleet reports); other currencies are kept apart per customer. */
import { Config } from "effect"
import { CurrencyCode } from "../domain/Reference.ts"

export const reportingCurrency = Config.schema(CurrencyCode, "REPORTING_CURRENCY").pipe(Config.withDefault("USD"))
