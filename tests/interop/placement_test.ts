/**
 * Mixed fleets agree on every key's server: pylibmc and php-memcached write keys into a
 * three-server cluster, Mica reads every one of them back (each key exists on one server only,
 * so a key Mica placed differently would be a miss), and the reverse. Distributions: pylibmc's
 * `ketama: True` (Mica's `"consistent"`), with the default and the MD5 key hash;
 * php-memcached's libketama mode (Mica's `"ketama"`) and `DISTRIBUTION_CONSISTENT`; and
 * php-memcached's `OPT_PREFIX_KEY` against Mica's `prefix`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "../_harness.ts";
import { startMemcached } from "../_memcached.ts";
import { startServers } from "../_util.ts";
import { Client, type ClientOptions, connect } from "../../mod.ts";
import { type PeerRequest, peerText, runPeer } from "./_peers.ts";

const KEYS = 300;

interface Case {
  name: string;
  peer: Omit<PeerRequest, "servers" | "ops">;
  mica: ClientOptions;
}

const CASES: Case[] = [
  {
    name: "pylibmc ketama: True / consistent",
    peer: { client: "pylibmc", behaviors: { ketama: true } },
    mica: { distribution: "consistent" },
  },
  {
    name: "pylibmc ketama: True, hash: md5 / consistent, md5",
    peer: { client: "pylibmc", behaviors: { ketama: true, hash: "md5" } },
    mica: { distribution: "consistent", hash: "md5" },
  },
  {
    name: "pylibmc ketama_weighted / ketama",
    peer: { client: "pylibmc", behaviors: { ketama_weighted: true } },
    mica: { distribution: "ketama" },
  },
  {
    name: "php-memcached libketama / ketama",
    peer: { client: "php", options: { OPT_LIBKETAMA_COMPATIBLE: true } },
    mica: { distribution: "ketama" },
  },
  {
    name: "php-memcached DISTRIBUTION_CONSISTENT / consistent",
    peer: { client: "php", options: { OPT_DISTRIBUTION: "DISTRIBUTION_CONSISTENT" } },
    mica: { distribution: "consistent" },
  },
  {
    name: "php-memcached libketama with OPT_PREFIX_KEY / ketama with prefix",
    peer: { client: "php", options: { OPT_LIBKETAMA_COMPATIBLE: true, OPT_PREFIX_KEY: "app:" } },
    mica: { distribution: "ketama", prefix: "app:" },
  },
];

for (const { name, peer, mica } of CASES) {
  test(`interop placement: ${name} agree on all ${KEYS * 2} keys`, async () => {
    await using servers = await startServers(3, () => startMemcached());
    const addresses = servers.map((server) => server.address);
    await using client = await connect(addresses, { ...mica, timeout: 5_000 });

    // The peer writes, Mica reads.
    const theirs = Array.from({ length: KEYS }, (_, i) => `peer:${i}:${(i * 7919) % 1000}`);
    const wrote = await runPeer({
      ...peer,
      servers: addresses,
      ops: theirs.map((key) => ({ op: "set", key, value: `v-${key}` })),
    });
    assert.ok(wrote.every((ok) => ok === true), "the peer stored every key");
    const found = await client.getMany(theirs, { as: "string" });
    const missing = theirs.filter((key) => found.get(key) !== `v-${key}`);
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of ${KEYS} keys not found`);

    // Mica writes, the peer reads.
    const ours = Array.from({ length: KEYS }, (_, i) => `mica:${i}:${(i * 104729) % 1000}`);
    await Promise.all(ours.map((key) => client.set(key, `m-${key}`)));
    const [read] = await runPeer({
      ...peer,
      servers: addresses,
      ops: [{ op: "get_multi", keys: ours }],
    });
    const got = read as Record<string, unknown>;
    const lost = ours.filter((key) => peerText(got[key]) !== `m-${key}`);
    assert.deepEqual(lost.slice(0, 5), [], `${lost.length} of ${KEYS} keys not found by the peer`);

    // Every server holds some of the keys: the placement is spread, not all on one server.
    for (const address of addresses) {
      assert.ok(theirs.some((key) => client.serverFor(key) === address), `${address} is used`);
    }
  });
}

test("interop placement: php-memcached's getServerByKey names Mica's server for each key", async () => {
  const servers = ["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11311"];
  const keys = Array.from({ length: 500 }, (_, i) => `key:${i}`);
  for (
    const [options, mica] of [
      [{ OPT_LIBKETAMA_COMPATIBLE: true }, { distribution: "ketama" }],
      [{ OPT_DISTRIBUTION: "DISTRIBUTION_CONSISTENT" }, { distribution: "consistent" }],
      [{ OPT_LIBKETAMA_COMPATIBLE: true, OPT_PREFIX_KEY: "ns:" }, { prefix: "ns:" }],
    ] as Array<[Record<string, unknown>, ClientOptions]>
  ) {
    const chosen = await runPeer({
      client: "php",
      servers,
      options,
      ops: keys.map((key) => ({ op: "server_by_key", key })),
    });
    using client = new Client(servers, mica);
    const differ = keys.filter((key, i) => client.serverFor(key) !== chosen[i]);
    assert.deepEqual(
      differ.slice(0, 5),
      [],
      `${differ.length} of 500 differ (${JSON.stringify(options)})`,
    );
  }
});
