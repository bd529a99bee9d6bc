/*
 * Prints which server libmemcached itself picks for each key, for Mica's ring tests.
 *
 *   cc -O2 -o ring_vectors scripts/vectors/ring_vectors.c -lmemcached
 *   ./ring_vectors CONFIG HOST:PORT[:WEIGHT]... < keys > vectors.tsv
 *
 * Keys are read from standard input, one per line (UTF-8, no tab or newline in a key). Each
 * output line is `key<TAB>host:port`, after one `# ...` header line naming the configuration.
 * CONFIG is one of:
 *   consistent            MEMCACHED_BEHAVIOR_KETAMA=1 (what pylibmc's `ketama: True` sets):
 *                         unweighted consistent hashing, library default key hash
 *   consistent_md5        the same plus MEMCACHED_BEHAVIOR_HASH=MD5 (pylibmc `hash: "md5"`)
 *   ketama_prefix         MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED=1 and the namespace (prefix) "app:";
 *                         the prefix is not hashed (libmemcached's default)
 *   ketama_prefix_hashed  the same with MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY=1
 * The lookup is memcached_server_by_key(), which applies the namespace as get/set do.
 */
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s CONFIG HOST:PORT... < keys\n", argv[0]);
    return 2;
  }
  const char *config = argv[1];
  memcached_st *m = memcached_create(NULL);
  memcached_return_t rc = MEMCACHED_SUCCESS;
  if (strcmp(config, "consistent") == 0) {
    rc = memcached_behavior_set(m, MEMCACHED_BEHAVIOR_KETAMA, 1);
  } else if (strcmp(config, "consistent_md5") == 0) {
    rc = memcached_behavior_set(m, MEMCACHED_BEHAVIOR_KETAMA, 1);
    if (rc == MEMCACHED_SUCCESS) rc = memcached_behavior_set(m, MEMCACHED_BEHAVIOR_HASH, MEMCACHED_HASH_MD5);
  } else if (strcmp(config, "ketama_prefix") == 0 || strcmp(config, "ketama_prefix_hashed") == 0) {
    rc = memcached_behavior_set(m, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    if (rc == MEMCACHED_SUCCESS) rc = memcached_callback_set(m, MEMCACHED_CALLBACK_NAMESPACE, "app:");
    if (rc == MEMCACHED_SUCCESS && strcmp(config, "ketama_prefix_hashed") == 0) {
      rc = memcached_behavior_set(m, MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY, 1);
    }
  } else {
    fprintf(stderr, "unknown CONFIG %s\n", config);
    return 2;
  }
  if (rc != MEMCACHED_SUCCESS) {
    fprintf(stderr, "configuring: %s\n", memcached_strerror(m, rc));
    return 1;
  }
  printf("# %s | libmemcached %s | distribution=%s weighted=%d key_hash=%s hash_with_prefix=%d"
         " | servers(host:port:weight, insertion order)=",
         config, memcached_lib_version(),
         libmemcached_string_distribution(memcached_behavior_get_distribution(m)),
         (int) memcached_behavior_get(m, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED),
         libmemcached_string_hash(memcached_behavior_get_key_hash(m)),
         (int) memcached_behavior_get(m, MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY));
  for (int i = 2; i < argc; i++) {
    char host[256];
    unsigned port = 11211, weight = 1;
    if (sscanf(argv[i], "%255[^:]:%u:%u", host, &port, &weight) < 1) return 2;
    if (memcached_server_add_with_weight(m, host, (in_port_t) port, weight) != MEMCACHED_SUCCESS) {
      return 1;
    }
    printf("%s%s:%u:%u", i > 2 ? "," : "", host, port, weight);
  }
  printf(" | weighted after adding=%d | lookup=memcached_server_by_key | columns: key<TAB>host:port\n",
         (int) memcached_behavior_get(m, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED));
  char line[4096];
  while (fgets(line, sizeof line, stdin) != NULL) {
    size_t n = strcspn(line, "\n");
    line[n] = '\0';
    if (n == 0) continue;
    const memcached_instance_st *s = memcached_server_by_key(m, line, n, &rc);
    if (s == NULL) {
      fprintf(stderr, "server_by_key(%s): %s\n", line, memcached_strerror(m, rc));
      return 1;
    }
    printf("%s\t%s:%u\n", line, memcached_server_name(s), (unsigned) memcached_server_port(s));
  }
  memcached_free(m);
  return 0;
}
