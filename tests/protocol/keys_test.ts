import assert from "node:assert/strict";
import { test } from "../_harness.ts";
import { latin1Text, utf8, withCode } from "../_util.ts";
import { encodeKey, keyBytes, MAX_KEY_LENGTH, toBase64 } from "../../src/protocol/mod.ts";

/** Asserts that `encodeKey()` throws a MemcachedError with code INVALID_KEY for `key`. */
function assertInvalidKey(key: string | Uint8Array, base64: boolean, why: string): void {
  assert.throws(() => encodeKey(key, base64), withCode("INVALID_KEY", why), why);
}

/** A small deterministic generator (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("MAX_KEY_LENGTH is memcached's 250-byte limit", () => {
  assert.equal(MAX_KEY_LENGTH, 250);
});

test("encodeKey() returns an ASCII string key unchanged", () => {
  for (const key of ["a", "foo", "user:42", "a/b?c=d&e#f", "~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./"]) {
    assert.equal(encodeKey(key, false), key);
  }
});

test("encodeKey() accepts string keys of 1 to 250 bytes", () => {
  assert.equal(encodeKey("k", false), "k");
  const longest = "k".repeat(250);
  assert.equal(encodeKey(longest, false), longest);
});

test("encodeKey() rejects an empty key", () => {
  assertInvalidKey("", false, "empty string");
  assertInvalidKey("", true, "empty string in base64 mode");
  assertInvalidKey(new Uint8Array(0), false, "empty bytes");
  assertInvalidKey(new Uint8Array(0), true, "empty bytes in base64 mode");
});

test("encodeKey() rejects a 251-byte key", () => {
  assertInvalidKey("k".repeat(251), false, "251 ASCII characters");
  assertInvalidKey("k".repeat(10_000), false, "10,000 ASCII characters");
});

test("encodeKey() rejects spaces and control characters in string keys", () => {
  const bad: Array<[string, string]> = [
    ["a b", "space"],
    [" ab", "leading space"],
    ["ab ", "trailing space"],
    ["a\rb", "CR"],
    ["a\nb", "LF"],
    ["a\r\nmn", "CRLF injection"],
    ["a\tb", "tab"],
    ["a\0b", "NUL"],
    ["\x01", "SOH"],
    ["a\x1fb", "unit separator"],
    ["a\x7fb", "DEL"],
    ["a\u0085b", "C1 control U+0085 (NEL)"],
    ["a\u0080b", "C1 control U+0080"],
    ["a\u009fb", "C1 control U+009F"],
    ["é\u0085", "C1 control after another non-ASCII character"],
    ["é\nb", "LF after a non-ASCII character"],
  ];
  for (const [key, why] of bad) assertInvalidKey(key, false, why);
});

test("encodeKey() accepts non-control characters just above the C1 range", () => {
  // U+00A0 encodes as C2 A0: the same lead byte as the C1 controls, but not one of them.
  assert.equal(encodeKey("a\u00a0b", false), "a\xc2\xa0b");
  assert.equal(encodeKey("\u00ff", false), "\xc3\xbf");
});

test("encodeKey() sends a non-ASCII string key as its UTF-8 bytes", () => {
  assert.equal(encodeKey("é", false), "\xc3\xa9");
  assert.equal(encodeKey("clé:😀", false), latin1Text(utf8("clé:😀")));
  assert.equal(encodeKey("日本", false), latin1Text(utf8("日本")));
});

test("encodeKey() counts a UTF-8 key's length in bytes, not characters", () => {
  const ok = "é".repeat(125); // 250 bytes
  assert.equal(encodeKey(ok, false).length, 250);
  assert.equal(encodeKey(ok, false), latin1Text(utf8(ok)));
  assertInvalidKey("é".repeat(126), false, "126 × é is 252 bytes");
  assertInvalidKey("k".repeat(249) + "é", false, "249 ASCII + é is 251 bytes");
  assert.equal(encodeKey("k".repeat(248) + "é", false).length, 250);
  assertInvalidKey("😀".repeat(63), false, "63 emoji are 252 bytes");
  assert.equal(encodeKey("😀".repeat(62) + "kk", false).length, 250);
});

test("encodeKey() accepts Uint8Array keys of bytes 0x21..0x7e", () => {
  const all = new Uint8Array(0x7e - 0x21 + 1);
  for (let i = 0; i < all.length; i++) all[i] = 0x21 + i;
  assert.equal(encodeKey(all, false), latin1Text(all));
  assert.equal(encodeKey(new Uint8Array([0x66, 0x6f, 0x6f]), false), "foo");
  const longest = new Uint8Array(250).fill(0x6b);
  assert.equal(encodeKey(longest, false), "k".repeat(250));
});

test("encodeKey() rejects Uint8Array keys with other bytes unless they are base64", () => {
  for (const byte of [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x7f, 0x80, 0x85, 0xc3, 0xff]) {
    const key = new Uint8Array([0x61, byte, 0x62]);
    assertInvalidKey(key, false, `byte 0x${byte.toString(16)}`);
    assert.equal(encodeKey(key, true), toBase64(key), `byte 0x${byte.toString(16)} in base64`);
  }
  assertInvalidKey(new Uint8Array(251).fill(0x6b), false, "251 bytes");
});

test("encodeKey() rejects keys that are neither strings nor Uint8Arrays", () => {
  for (const key of [42, null, undefined, {}, ["a"], new Uint16Array([0x61])]) {
    assertInvalidKey(key as unknown as string, false, `key ${String(key)}`);
    assertInvalidKey(key as unknown as string, true, `key ${String(key)} in base64 mode`);
  }
});

test("encodeKey() in base64 mode accepts any bytes", () => {
  assert.equal(encodeKey("a b\r\n", true), toBase64(utf8("a b\r\n")));
  assert.equal(encodeKey("a b", true), "YSBi");
  assert.equal(encodeKey("foo", true), "Zm9v");
  assert.equal(encodeKey("\0\u0085é", true), toBase64(utf8("\0\u0085é")));
  const every = new Uint8Array(186);
  for (let i = 0; i < every.length; i++) every[i] = (i * 7) & 0xff;
  assert.equal(encodeKey(every, true), toBase64(every));
  assert.equal(encodeKey(new Uint8Array([0, 13, 10, 32, 255]), true), "AA0KIP8=");
});

test("encodeKey() in base64 mode accepts 186 key bytes and rejects 187", () => {
  assert.equal(encodeKey(new Uint8Array(186).fill(0xff), true).length, 248);
  assert.equal(encodeKey("k".repeat(186), true).length, 248);
  assertInvalidKey(new Uint8Array(187).fill(0xff), true, "187 bytes");
  assertInvalidKey("k".repeat(187), true, "187 ASCII characters");
  // 93 × é is 186 UTF-8 bytes; 94 × é is 188.
  assert.equal(encodeKey("é".repeat(93), true).length, 248);
  assertInvalidKey("é".repeat(94), true, "94 × é is 188 bytes");
});

test("encodeKey() returns base64 text made only of base64 characters", () => {
  const next = random(7);
  for (let n = 1; n <= 186; n += 5) {
    const key = new Uint8Array(n);
    for (let i = 0; i < n; i++) key[i] = Math.floor(next() * 256);
    assert.match(encodeKey(key, true), /^[A-Za-z0-9+/]+={0,2}$/);
  }
});

test("toBase64() matches the RFC 4648 test vectors", () => {
  const vectors: Array<[string, string]> = [
    ["", ""],
    ["f", "Zg=="],
    ["fo", "Zm8="],
    ["foo", "Zm9v"],
    ["foob", "Zm9vYg=="],
    ["fooba", "Zm9vYmE="],
    ["foobar", "Zm9vYmFy"],
  ];
  for (const [plain, encoded] of vectors) {
    assert.equal(toBase64(utf8(plain)), encoded, JSON.stringify(plain));
  }
});

test("toBase64() agrees with btoa() on every byte value and on random arrays", () => {
  const every = new Uint8Array(256);
  for (let i = 0; i < 256; i++) every[i] = i;
  assert.equal(toBase64(every), btoa(latin1Text(every)));
  const next = random(42);
  for (let round = 0; round < 500; round++) {
    const bytes = new Uint8Array(Math.floor(next() * 70));
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(next() * 256);
    assert.equal(toBase64(bytes), btoa(latin1Text(bytes)), `round ${round}`);
  }
});

test("toBase64() reads only the view it is given", () => {
  const backing = new Uint8Array([0xff, 0x66, 0x6f, 0x6f, 0xff]);
  assert.equal(toBase64(backing.subarray(1, 4)), "Zm9v");
});

test("keyBytes() encodes strings as UTF-8 and returns bytes as they are", () => {
  assert.deepEqual(keyBytes("é"), new Uint8Array([0xc3, 0xa9]));
  assert.deepEqual(keyBytes("foo"), new Uint8Array([0x66, 0x6f, 0x6f]));
  const bytes = new Uint8Array([1, 2, 3]);
  assert.equal(keyBytes(bytes), bytes);
});

test("encodeKey() rejects a string key with a lone surrogate, which would collide with U+FFFD", () => {
  assertInvalidKey("a\uD800b", false, "lone high surrogate");
  assertInvalidKey("\uDC00", true, "lone low surrogate in base64 mode");
  assert.equal(encodeKey("\u{1F600}", false).length, 4);
});
