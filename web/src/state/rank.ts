/**
 * Local rank strings for optimistic moves. The server assigns the real rank; the client only needs a
 * string that sorts between two neighbours so the card lands in the right place until the event
 * arrives.
 */
const DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz";

function digit(s: string, i: number, dflt: number): number {
  if (i >= s.length) return dflt;
  const d = DIGITS.indexOf(s[i]);
  return d < 0 ? dflt : d;
}

/** A string strictly between a and b in plain string order ("" means no bound). */
export function rankBetween(a: string, b: string): string {
  let out = "";
  for (let i = 0; i < 64; i++) {
    const lo = digit(a, i, 0);
    const hi = b === "" ? DIGITS.length : digit(b, i, DIGITS.length);
    if (hi - lo > 1) return out + DIGITS[Math.floor((lo + hi) / 2)];
    out += DIGITS[lo];
    if (hi - lo === 1) {
      // Keep the prefix of a and look for room in the next position, with no upper bound.
      b = "";
    }
  }
  return out + "i";
}
