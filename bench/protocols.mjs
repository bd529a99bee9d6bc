// Protocol benchmark: `bash bench/run.sh --protocols` (bench/run.mjs hands over to runProtocols).
//
// Makes a test CA and a server certificate with openssl, starts ONE memcached with a TLS
// listener (`-Z`) and a plain listener (`notls:`), then runs Mica (bench/mica.ts) on Deno and on
// Bun once per protocol (meta, text, binary) and transport (plain TCP, TLS): scenarios b (get at
// 64 in flight) and c (set at 64 in flight), 100-byte values. Every configuration runs
// `--rounds` times (default 3) in rotating order, so drift of the machine hits each alike; the
// report shows the median round, and each protocol's ratio to meta on the same runtime and
// transport (the target: text and binary within 15% of meta on plain TCP).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import {
  clientTable,
  fmt,
  freePort,
  runProcess,
  startMemcached,
  table,
  which,
  withPin,
  writeResults,
} from "./orchestra.mjs";

const PROTOCOLS = ["meta", "text", "binary"];
const TRANSPORTS = ["tcp", "tls"];
/** Text and binary must reach at least this share of meta's throughput (within 15%). */
const TARGET = 0.85;

const OPENSSL_CONFIG = `
[req]
distinguished_name = dn
[dn]
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign
`;

/** A CA and a server certificate for 127.0.0.1, P-256, in `dir`. */
function makeCertificates(dir) {
  const openssl = which("openssl");
  if (!openssl) throw new Error("openssl not found (apt-get install openssl)");
  const run = (args) =>
    execFileSync(openssl, args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  writeFileSync(path.join(dir, "openssl.cnf"), OPENSSL_CONFIG);
  const key = (name) =>
    run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name]);
  key("ca.key");
  run([
    "req",
    "-x509",
    "-new",
    "-key",
    "ca.key",
    "-subj",
    "/CN=mica-bench-ca",
    "-days",
    "2",
    "-config",
    "openssl.cnf",
    "-extensions",
    "ca_ext",
    "-out",
    "ca.pem",
  ]);
  key("server.key");
  run([
    "req",
    "-new",
    "-key",
    "server.key",
    "-subj",
    "/CN=localhost",
    "-config",
    "openssl.cnf",
    "-out",
    "server.csr",
  ]);
  run([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    "openssl.cnf",
    "-extensions",
    "server_ext",
    "-out",
    "server.pem",
  ]);
  return {
    ca: path.join(dir, "ca.pem"),
    cert: path.join(dir, "server.pem"),
    key: path.join(dir, "server.key"),
  };
}

/** memcached with a TLS port and a plain port; ready when the plain port answers. */
async function startServer(exe, certs, opts) {
  const tlsPort = await freePort();
  const plainPort = await freePort();
  const server = await startMemcached(exe, tlsPort, {
    threads: 2,
    memoryMb: 256,
    pinCpu: opts.pinCpu,
    extraArgs: [
      "-U",
      "0",
      "-l",
      `notls:127.0.0.1:${plainPort}`,
      "-Z",
      "-o",
      `ssl_chain_cert=${certs.cert},ssl_key=${certs.key}`,
    ],
    readyPort: plainPort,
  });
  return { ...server, tlsPort, plainPort };
}

function median(values) {
  const sorted = values.filter((v) => typeof v === "number").sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export async function runProtocols(opts, { memcachedExe, tools, versions }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "mica-protocols-"));
  const rounds = opts.rounds ?? 3;
  // Mica on each runtime, as the other orchestrators run it (`--only` / `--skip` apply).
  const runtimes = clientTable(tools, opts)
    .filter((c) => c.library === "mica" && !c.soak)
    .map((c) => [c.runtime, c.cmd]);
  const configs = [];
  for (const [runtime, cmd] of runtimes) {
    for (const transport of TRANSPORTS) {
      for (const protocol of PROTOCOLS) {
        configs.push({ runtime, cmd, transport, protocol, runs: [] });
      }
    }
  }
  let server;
  try {
    const certs = makeCertificates(dir);
    server = await startServer(memcachedExe, certs, opts);
    const timeoutS = opts.quick ? 120 : 600;
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round so no configuration always runs first or last.
      const order = configs.map((_, i) => configs[(i + round * 5) % configs.length]);
      for (const c of order) {
        const id = `mica-${c.runtime} ${c.protocol}/${c.transport} (round ${round + 1})`;
        process.stderr.write(`\n== ${id}\n`);
        const port = c.transport === "tls" ? server.tlsPort : server.plainPort;
        const args = [
          ...c.cmd,
          "--server",
          `127.0.0.1:${port}`,
          "--protocol",
          c.protocol,
          "--scenarios",
          "b,c",
          "--prefix",
          `p${round}-${c.runtime}-${c.protocol}-${c.transport}`,
          ...(c.transport === "tls" ? ["--tls-ca", certs.ca] : []),
          ...(opts.quick ? ["--quick"] : []),
        ];
        const r = await runProcess(withPin(args, opts.pinCpu), { timeoutS, label: id });
        const get = r.json?.results?.b?.opsPerSec;
        const set = r.json?.results?.c?.opsPerSec;
        c.runs.push({ get, set, error: r.error });
        if (r.error) process.stderr.write(`    ${id} FAILED: ${r.error}\n`);
      }
    }
  } finally {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  for (const c of configs) {
    c.get = median(c.runs.map((r) => r.get));
    c.set = median(c.runs.map((r) => r.set));
  }
  const find = (runtime, transport, protocol) =>
    configs.find((c) =>
      c.runtime === runtime && c.transport === transport && c.protocol === protocol
    );
  const ratioTo = (c, base, key) =>
    c[key] !== undefined && base?.[key] ? c[key] / base[key] : undefined;
  const pct = (r) => (r === undefined ? "n/a" : `${(r * 100).toFixed(0)}%`);
  const verdict = (r) => (r === undefined ? "n/a" : r >= TARGET ? "yes" : "**no**");

  const date = new Date().toISOString();
  const out = [];
  out.push(`# Mica protocol benchmark — ${date}${opts.quick ? " — QUICK MODE" : ""}`);
  out.push("");
  out.push(
    `memcached ${versions.memcached ?? "?"} (\`-t 2 -Z\`, one TLS and one plain listener) · ` +
      `deno ${versions.deno ?? "n/a"} · bun ${versions.bun ?? "n/a"} · ${versions.cpu} × ` +
      `${versions.cores} cores. Median of ${rounds} rounds in rotating order; b: get ×64 in ` +
      "flight, c: set ×64 in flight, 100-byte values, ops/s.",
  );
  out.push("");
  out.push(table(
    [
      "runtime",
      "transport",
      "protocol",
      "get ×64 ops/s",
      "vs meta",
      "set ×64 ops/s",
      "vs meta",
      "within 15%",
    ],
    configs.map((c) => {
      const meta = find(c.runtime, c.transport, "meta");
      const g = ratioTo(c, meta, "get");
      const s = ratioTo(c, meta, "set");
      return [
        c.runtime,
        c.transport,
        c.protocol,
        fmt(c.get),
        c.protocol === "meta" ? "—" : pct(g),
        fmt(c.set),
        c.protocol === "meta" ? "—" : pct(s),
        c.protocol === "meta" ? "—" : verdict(Math.min(g ?? 0, s ?? 0) || undefined),
      ];
    }),
  ));
  out.push("");
  out.push("## TLS next to plain TCP (same protocol, same runtime)");
  out.push("");
  out.push(table(
    ["runtime", "protocol", "get TLS / TCP", "set TLS / TCP"],
    configs.filter((c) => c.transport === "tls").map((c) => {
      const plain = find(c.runtime, "tcp", c.protocol);
      return [c.runtime, c.protocol, pct(ratioTo(c, plain, "get")), pct(ratioTo(c, plain, "set"))];
    }),
  ));
  const failed = configs.filter((c) => c.runs.some((r) => r.error));
  if (failed.length > 0) {
    out.push("");
    for (const c of failed) {
      out.push(
        `- ${c.runtime} ${c.protocol}/${c.transport}: ${
          c.runs.map((r) => r.error ?? "ok").join("; ")
        }`,
      );
    }
  }
  const markdown = out.join("\n") + "\n";
  console.log(markdown);
  const file = writeResults({
    name: "protocols",
    latest: "protocols-latest",
    date,
    quick: opts.quick,
    json: { date, versions, rounds, configs: configs.map(({ cmd: _cmd, ...c }) => c) },
    markdown,
  });
  process.stderr.write(`results: ${file}\n`);
  const missed = configs.some((c) => {
    if (c.protocol === "meta" || c.transport !== "tcp") return false;
    const meta = find(c.runtime, "tcp", "meta");
    return !(ratioTo(c, meta, "get") >= TARGET && ratioTo(c, meta, "set") >= TARGET);
  });
  return opts.strict && (missed || failed.length > 0) ? 1 : 0;
}
