/**
 * Reference data the customer schema validates against: ISO 3166-1 alpha-2
 * countries, IANA time zones, ISO 4217 currencies. Literal unions (not
 * predicates) so OpenAPI lists the values and arbitraries generate valid ones.
 */
import { Schema } from "effect"

const iso3166Alpha2 = (
  "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
  "CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
  "GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO " +
  "JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR " +
  "MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO " +
  "RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV " +
  "TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"
).split(" ")

export const CountryCode = Schema.Literals(iso3166Alpha2).annotate({
  identifier: "CountryCode",
  description: "ISO 3166-1 alpha-2 country code, upper case"
})

/**
 * ICU lists zones under their CLDR names, some of which IANA has since renamed
 * (Asia/Calcutta is Asia/Kolkata today): accept both, as far as this runtime
 * knows the zone.
 */
const renamedZones = [
  "Africa/Asmara",
  "America/Argentina/Buenos_Aires",
  "America/Argentina/Catamarca",
  "America/Argentina/Cordoba",
  "America/Argentina/Jujuy",
  "America/Argentina/Mendoza",
  "America/Atikokan",
  "America/Indiana/Indianapolis",
  "America/Kentucky/Louisville",
  "America/Nuuk",
  "Asia/Ho_Chi_Minh",
  "Asia/Kathmandu",
  "Asia/Kolkata",
  "Asia/Yangon",
  "Atlantic/Faroe",
  "Europe/Kyiv",
  "Pacific/Chuuk",
  "Pacific/Kanton",
  "Pacific/Pohnpei"
]

const knownToRuntime = (zone: string) => {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone })
    return true
  } catch {
    return false
  }
}

const timeZones = [...new Set(["UTC", ...Intl.supportedValuesOf("timeZone"), ...renamedZones.filter(knownToRuntime)])]

export const TimeZone = Schema.Literals(timeZones).annotate({
  identifier: "TimeZone",
  description: "IANA time zone name"
})

export const CurrencyCode = Schema.Literals(Intl.supportedValuesOf("currency")).annotate({
  identifier: "CurrencyCode",
  description: "ISO 4217 currency code"
})

export const LanguageTag = Schema.String.check(
  Schema.isPattern(/^[a-z]{2,3}(-[A-Z][a-z]{3})?(-[A-Z]{2})?$/u, {
    expected: "a BCP 47 language tag such as 'en', 'pt-BR' or 'zh-Hant-TW'"
  })
).annotate({ identifier: "LanguageTag" })
