// What the campaign monitor and the wallboard's campaign tiles share: number formats and how an abandon
// rate compares with the rule set's limit.
//
// An abandon rate is coloured by its share of the limit: amber ("warn") from 80 % of the limit, red
// ("alert") from the limit itself (a measured rate may only be at or under it). The wallboard lets a
// supervisor move both levels; these are the defaults.
export const ABANDON_SHARE_DEFAULTS = { warn: 80, alert: 100 };

export function shareOfLimit(ratePercent, limitPercent) {
  if (ratePercent === null || ratePercent === undefined || !limitPercent) return null;
  return (100 * ratePercent) / limitPercent;
}

export function shareLevel(share, th = ABANDON_SHARE_DEFAULTS) {
  if (share === null || !Number.isFinite(share)) return null;
  return share >= th.alert ? "alert" : share >= th.warn ? "warn" : null;
}

const locale = (lang) => (lang === "en" ? "en-GB" : "fr-FR");

// A rate given in percent (3.2 → "3,2 %").
export function percent(value, lang, digits = 1) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return new Intl.NumberFormat(locale(lang), { style: "percent", maximumFractionDigits: digits }).format(value / 100);
}

export function number(value, lang, digits = 2) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return new Intl.NumberFormat(locale(lang), { maximumFractionDigits: digits }).format(value);
}
