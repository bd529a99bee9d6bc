// memcache-client (Walmart Labs, ASCII protocol). Multi-get via get([keys]).
import { require, runPeer } from "./common.mjs";

const { MemcacheClient } = require("memcache-client");

await runPeer("memcache-client", (cfg) => {
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
