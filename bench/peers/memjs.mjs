// memjs 1.3.x (binary protocol). It has no multi-get, so getMany is Promise.all of 100 gets
// (all pipelined on its single connection).
import { require, runPeer } from "./common.mjs";

const memjs = require("memjs");

await runPeer("memjs", (cfg) => {
  const config = { retries: 0, timeout: 5, logger: { log() {} } };
  // Cluster mode: memjs takes a comma-separated list and hashes keys over it.
  const mc = memjs.Client.create(cfg.servers.join(","), config);
  const get = async (key) => (await mc.get(key)).value;
  const client = {
    name: "memjs",
    get,
    set: (key, value) => mc.set(key, value, {}),
    getManyMethod: "Promise.all of 100 get() (memjs 1.3 has no multi-get)",
    async getMany(keys) {
      const values = await Promise.all(keys.map(get));
      let hits = 0;
      for (const v of values) if (v !== null && v !== undefined) hits++;
      return hits;
    },
    makeLargeValue: (bytes) => Buffer.from(bytes),
  };
  return {
    client,
    config: { retries: 0, timeout: "5 s", servers: cfg.servers.length },
    close: () => mc.close(),
  };
});
