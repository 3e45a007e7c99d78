// Amounts as the API prints them: decimal strings at the currency's full scale ("12.50", "100").
// The console never turns them into floating point to add them: sums are exact, in BigInt minor
// units, and printed back the API's way. Only a chart's geometry uses Number.

/** Minor-unit digits of the ISO 4217 currencies that do not have two. */
const SCALES = {
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0, UGX: 0,
  UYI: 0, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0,
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3, CLF: 4, UYW: 4,
};

export function currencyScale(currency) {
  return SCALES[currency] ?? 2;
}

/** The number of fraction digits an amount was printed with. */
export function scaleOf(amount) {
  const dot = amount.indexOf('.');
  return dot < 0 ? 0 : amount.length - dot - 1;
}

/** "−12.50" at scale 2 → -1250n. */
export function toMinor(amount, scale = scaleOf(amount)) {
  const negative = amount.startsWith('-');
  const digits = negative ? amount.slice(1) : amount;
  const [whole, fraction = ''] = digits.split('.');
  const minor = BigInt(whole + fraction.padEnd(scale, '0').slice(0, scale));
  return negative ? -minor : minor;
}

/** -1250n at scale 2 → "-12.50". */
export function fromMinor(minor, scale) {
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const fraction = scale > 0 ? `.${digits.slice(digits.length - scale)}` : '';
  return `${negative ? '-' : ''}${whole}${fraction}`;
}

/** Exact sums per currency. */
export class Totals {
  constructor() {
    this.byCurrency = new Map();
  }

  add(currency, amount) {
    const scale = Math.max(scaleOf(amount), this.byCurrency.get(currency)?.scale ?? 0);
    const current = this.byCurrency.get(currency);
    const before = current ? current.minor * 10n ** BigInt(scale - current.scale) : 0n;
    this.byCurrency.set(currency, { scale, minor: before + toMinor(amount, scale), count: (current?.count ?? 0) + 1 });
  }

  /** `[[currency, {amount, count}]]`, by currency code. */
  entries() {
    return [...this.byCurrency.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([currency, { scale, minor, count }]) => [currency, { amount: fromMinor(minor, scale), count }]);
  }
}

/** `amount` with its currency: "12.50 EUR". */
export function money(amount, currency) {
  return amount === null || amount === undefined ? '—' : `${amount} ${currency}`;
}

/** For drawing only. */
export function toNumber(amount) {
  return Number(amount);
}

/**
 * Why `text` is not an amount of a currency with `scale` digits, or null when it is: the rules
 * the API applies (positive, no sign or exponent, no more decimals than the currency has).
 */
export function amountProblem(text, scale, { allowZero = false } = {}) {
  if (!/^\d+(\.\d+)?$/.test(text)) return 'Write a positive amount such as 12.50, without sign or spaces.';
  if (scaleOf(text) > scale) {
    return scale === 0 ? 'This currency has no decimals.' : `At most ${scale} decimals in this currency.`;
  }
  if (!allowZero && /^[0.]+$/.test(text)) return 'The amount must be more than zero.';
  return null;
}
