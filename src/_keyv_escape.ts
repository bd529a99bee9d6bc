/**
 * How the Keyv store (`keyv.ts`) writes any string in memcached key characters: escaped one to
 * one, or hashed when too long. Private: not exported from the package.
 *
 * @module
 */

const HEX = "0123456789ABCDEF";
const encoder = new TextEncoder();

/** Whether a UTF-16 unit stays as it is in a key: printable ASCII but `#`, `%` and `|`. */
function plain(unit: number): boolean {
  return unit > 0x20 && unit < 0x7f && unit !== 0x23 && unit !== 0x25 && unit !== 0x7c;
}

function percent(byte: number): string {
  return `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
}

/**
 * Escapes a string into memcached key characters, one to one: printable ASCII but `#`, `%` and
 * `|` stays, every other code point becomes its UTF-8 bytes as `%XX`, a lone surrogate `%uXXXX`.
 */
export function escapeKey(text: string): string {
  let i = 0;
  while (i < text.length && plain(text.charCodeAt(i))) i++;
  if (i === text.length) return text;
  let out = text.slice(0, i);
  for (; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (plain(unit)) {
      out += text[i];
      continue;
    }
    let point = unit;
    if (unit >= 0xd800 && unit <= 0xdfff) {
      const next = text.charCodeAt(i + 1);
      if (unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        point = 0x10000 + ((unit - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else {
        out += `%u${unit.toString(16).toUpperCase()}`;
        continue;
      }
    }
    if (point < 0x80) {
      out += percent(point);
    } else if (point < 0x800) {
      out += percent(0xc0 | (point >> 6)) + percent(0x80 | (point & 63));
    } else if (point < 0x10000) {
      out += percent(0xe0 | (point >> 12)) + percent(0x80 | ((point >> 6) & 63)) +
        percent(0x80 | (point & 63));
    } else {
      out += percent(0xf0 | (point >> 18)) + percent(0x80 | ((point >> 12) & 63)) +
        percent(0x80 | ((point >> 6) & 63)) + percent(0x80 | (point & 63));
    }
  }
  return out;
}

/** `#` and the base64url SHA-256 of an escaped key: 44 characters. */
export async function digest(escaped: string): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(escaped)));
  let binary = "";
  for (const byte of hash) binary += String.fromCharCode(byte);
  return "#" + btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
