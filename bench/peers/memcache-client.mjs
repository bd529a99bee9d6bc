// memcache-client (Walmart Labs, ASCII protocol). Multi-get via get([keys]).
import { require, runPeer } from "./common.mjs";

const { MemcacheClient } = require("memcache-client");

await runPeer("memcache-client", (cfg) => {
  if (cfg.servers.length > 1) {
    // Its `server.servers` list is for redundant copies: every command goes to a random live
    // server (lib/redundant-servers.js `_getNode`), so a get after a set misses ~2/3 of the time
    // with 3 servers. It has no key distribution to benchmark.
    throw new Error(
      "no key distribution: memcache-client sends each command to a random server of its list",
    );
  }
  const config = { server: `${cfg.host}:${cfg.port}`, noDelay: true, cmdTimeout: 5000 };
  const mc = new MemcacheClient({
    ...config,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  });
  const client = {
    name: "memcache-client",
    get: async (key) => (await mc.get(key))?.value,
    set: (key, value) => mc.set(key, value),
    getManyMethod: "get([100 keys]) (one multi-key `get`)",
    async getMany(keys) {
      const res = await mc.get(keys);
      return Object.keys(res ?? {}).length;
    },
    makeLargeValue: (bytes) => Buffer.from(bytes),
  };
  return { client, config, close: () => mc.shutdown() };
});
