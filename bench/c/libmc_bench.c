/*
 * libmemcached (C) reference client for the Mica benchmark.
 *
 * Runs the same scenarios as bench/harness.mjs with libmemcached's blocking API over the ASCII
 * protocol with TCP_NODELAY, and prints one JSON object on stdout.
 *
 *   a) sequential get, 1 in flight, one connection, 100-byte value (latency per op)
 *   b) get with 64 in flight: 64 threads, each with its OWN connection (memcached_clone),
 *      sharing one op counter -- libmemcached's blocking API cannot keep 64 requests
 *      outstanding on a single connection
 *   c) set with 64 in flight: same as b with memcached_set
 *   d) memcached_mget of 100 keys + memcached_fetch_result, one connection
 *   e) 256 KiB values, 8 threads with their own connection: 2,000 sets then 2,000 gets
 *   g) d against a cluster, h) b against a cluster (bench/run.sh --cluster)
 *
 * Build: gcc -O2 -o libmc_bench libmc_bench.c -lmemcached -lpthread
 * Usage: libmc_bench HOST PORT PREFIX SCENARIOS(a,b,c,d,e) QUICK(0|1)
 *        libmc_bench HOST:PORT,HOST:PORT,... 0 PREFIX SCENARIOS(g,h) QUICK(0|1)   (cluster, ketama)
 * With MICA_BENCH_SERVER_PIDS=pid[,pid...] in the environment, d and g also report the CPU time
 * those memcached processes spent on the measured loop (from /proc), as the JavaScript clients
 * do.
 */
#include <dirent.h>
#include <libmemcached/memcached.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define CONCURRENCY 64
#define LARGE_CONCURRENCY 8
#define SMALL_VALUE 100
#define LARGE_VALUE (256 * 1024)
#define MANY_KEYS 100
#define KEYSPACE 1000
#define LARGE_KEYSPACE 16
#define TIME_LIMIT_S 180.0

static const char *g_host;
static in_port_t g_port;
static const char *g_prefix;
static int g_div = 1;
static double g_deadline;
static int g_first = 1;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time (user + system) of the whole process so far, in microseconds. */
static double cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Nanoseconds on CPU of every thread of process `pid` (/proc/<pid>/task/<tid>/schedstat); -1 if
 * unreadable (a kernel without schedstat). */
static double schedstat_ns(long pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/task", pid);
  DIR *dir = opendir(path);
  if (dir == NULL) return -1;
  double ns = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char file[320];
    snprintf(file, sizeof file, "/proc/%ld/task/%s/schedstat", pid, e->d_name);
    FILE *f = fopen(file, "r");
    unsigned long long run = 0;
    int ok = f != NULL && fscanf(f, "%llu", &run) == 1;
    if (f != NULL) fclose(f);
    if (!ok) {
      closedir(dir);
      return -1;
    }
    ns += (double)run;
  }
  closedir(dir);
  return ns;
}

/* User + system clock ticks of process `pid` (fields 14 and 15 of /proc/<pid>/stat); -1 if
 * unreadable. */
static double stat_ticks(long pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* Field 2, the command name, is in parentheses and may hold spaces: count from the last ")". */
  char *q = strrchr(buf, ')');
  unsigned long long utime, stime;
  if (q == NULL || sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                          &stime) != 2) {
    return -1;
  }
  return (double)(utime + stime);
}

/* The sum of `read(pid)` over the pids listed in MICA_BENCH_SERVER_PIDS; -1 if any fails. */
static double sum_over_servers(const char *list, double (*read)(long)) {
  double sum = 0;
  for (const char *p = list; *p;) {
    char *end;
    long pid = strtol(p, &end, 10);
    if (end == p || pid <= 0) return -1;
    double v = read(pid);
    if (v < 0) return -1;
    sum += v;
    p = *end == ',' ? end + 1 : end;
  }
  return sum;
}

/*
 * CPU time the memcached processes listed in MICA_BENCH_SERVER_PIDS have used so far, every
 * thread included, in microseconds: as bench/harness.mjs reads it, from schedstat, or from the
 * clock ticks of /proc/<pid>/stat where schedstat is missing; -1 when the variable is unset or
 * nothing can be read.
 */
static double server_cpu_us(void) {
  const char *list = getenv("MICA_BENCH_SERVER_PIDS");
  if (list == NULL || *list == '\0') return -1;
  double ns = sum_over_servers(list, schedstat_ns);
  if (ns >= 0) return ns / 1000;
  double ticks = sum_over_servers(list, stat_ticks);
  return ticks < 0 ? -1 : ticks * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static void die(const char *what, memcached_st *mc, memcached_return_t rc) {
  fprintf(stderr, "libmc_bench: %s: %s\n", what, mc ? memcached_last_error_message(mc) : memcached_strerror(NULL, rc));
  printf("\n{\"client\":\"libmemcached\",\"error\":\"%s failed\"}\n", what);
  exit(1);
}

static memcached_st *new_conn(void) {
  memcached_st *mc = memcached_create(NULL);
  if (!mc) die("memcached_create", NULL, MEMCACHED_FAILURE);
  memcached_return_t rc;
  if (strchr(g_host, ',') != NULL) {
    /* A server list: libmemcached's ketama (MD5, the same ring as Mica's "ketama"). */
    memcached_server_st *list = memcached_servers_parse(g_host);
    if (!list) die("memcached_servers_parse", mc, MEMCACHED_FAILURE);
    rc = memcached_server_push(mc, list);
    memcached_server_list_free(list);
    if (rc != MEMCACHED_SUCCESS) die("memcached_server_push", mc, rc);
    rc = memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_DISTRIBUTION,
                                MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA);
    if (rc != MEMCACHED_SUCCESS) die("ketama", mc, rc);
  } else {
    rc = memcached_server_add(mc, g_host, g_port);
    if (rc != MEMCACHED_SUCCESS) die("memcached_server_add", mc, rc);
  }
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 5000);
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, 5000);
  return mc;
}

static void key_of(char *buf, size_t cap, const char *scenario, int i) {
  snprintf(buf, cap, "%s:%s:%d", g_prefix, scenario, i);
}

static char *ascii_value(size_t n) {
  char *v = malloc(n);
  const char *alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (size_t i = 0; i < n; i++) v[i] = alphabet[i % 36];
  return v;
}

static void do_set(memcached_st *mc, const char *key, const char *v, size_t n) {
  memcached_return_t rc = memcached_set(mc, key, strlen(key), v, n, 0, 0);
  if (rc != MEMCACHED_SUCCESS) die("memcached_set", mc, rc);
}

static size_t do_get(memcached_st *mc, const char *key) {
  size_t len = 0;
  uint32_t flags = 0;
  memcached_return_t rc;
  char *v = memcached_get(mc, key, strlen(key), &len, &flags, &rc);
  if (rc != MEMCACHED_SUCCESS || v == NULL) die("memcached_get", mc, rc);
  free(v);
  return len;
}

static void begin_result(const char *name) {
  printf("%s\"%s\":{", g_first ? "" : ",", name);
  g_first = 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double pct(const double *sorted, int n, double p) {
  int rank = (int)((p * n) + 0.999999999) - 1;
  if (rank < 0) rank = 0;
  if (rank >= n) rank = n - 1;
  return sorted[rank];
}

/* ---- threaded loop shared by b, c, e -------------------------------------------------- */

typedef struct {
  const char *scenario; /* key namespace */
  int keyspace;
  int is_set;
  const char *value;
  size_t value_len;
  long total;
  long next; /* shared, atomic */
  long bad;  /* shared, atomic */
} loop_t;

typedef struct {
  loop_t *loop;
  memcached_st *mc;
} worker_t;

static void *worker_main(void *arg) {
  worker_t *w = arg;
  loop_t *l = w->loop;
  char key[256];
  for (;;) {
    long i = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
    if (i >= l->total) break;
    key_of(key, sizeof key, l->scenario, (int)(i % l->keyspace));
    if (l->is_set) {
      do_set(w->mc, key, l->value, l->value_len);
    } else if (do_get(w->mc, key) != l->value_len) {
      __atomic_fetch_add(&l->bad, 1, __ATOMIC_RELAXED);
    }
    if ((i & 1023) == 0 && now_s() > g_deadline) {
      fprintf(stderr, "libmc_bench: time limit exceeded\n");
      exit(2);
    }
  }
  return NULL;
}

/* Runs l->total ops over `threads` threads (connections in `conns`); returns seconds. */
static double run_threads(loop_t *l, memcached_st **conns, int threads) {
  pthread_t tid[CONCURRENCY];
  worker_t ws[CONCURRENCY];
  l->next = 0;
  l->bad = 0;
  double t0 = now_s();
  for (int t = 0; t < threads; t++) {
    ws[t].loop = l;
    ws[t].mc = conns[t];
    pthread_create(&tid[t], NULL, worker_main, &ws[t]);
  }
  for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
  return now_s() - t0;
}

static memcached_st **open_conns(memcached_st *base, int n) {
  memcached_st **conns = calloc((size_t)n, sizeof *conns);
  for (int t = 0; t < n; t++) conns[t] = memcached_clone(NULL, base);
  return conns;
}

static void close_conns(memcached_st **conns, int n) {
  for (int t = 0; t < n; t++) memcached_free(conns[t]);
  free(conns);
}

/* ---- scenarios ------------------------------------------------------------------------ */

/* Prints `,"<name>":<µs per op>` when both server CPU readings exist. */
static void print_server_cpu(const char *name, double server0, double server1, double ops) {
  if (server0 >= 0 && server1 >= 0) printf(",\"%s\":%.3f", name, (server1 - server0) / ops);
}

static void scenario_a(memcached_st *mc) {
  /* Same warm-up as bench/harness.mjs (sequentialWarmup). */
  int n = 20000 / g_div, warm = 20000 / g_div;
  char key[256];
  snprintf(key, sizeof key, "%s:a", g_prefix);
  char *v = ascii_value(SMALL_VALUE);
  do_set(mc, key, v, SMALL_VALUE);
  for (int i = 0; i < warm; i++) do_get(mc, key);
  double *lat = malloc(sizeof(double) * (size_t)n);
  double sum = 0;
  double server0 = server_cpu_us();
  double t0 = now_s();
  for (int i = 0; i < n; i++) {
    double s = now_s();
    if (do_get(mc, key) != SMALL_VALUE) die("a: wrong length", mc, MEMCACHED_FAILURE);
    lat[i] = now_s() - s;
    sum += lat[i];
  }
  double secs = now_s() - t0;
  double server1 = server_cpu_us();
  qsort(lat, (size_t)n, sizeof(double), cmp_double);
  begin_result("a");
  printf("\"ops\":%d,\"seconds\":%.3f,\"opsPerSec\":%.0f,\"p50Us\":%.1f,\"p99Us\":%.1f,"
         "\"p999Us\":%.1f,\"meanUs\":%.1f",
         n, secs, n / secs, pct(lat, n, 0.5) * 1e6, pct(lat, n, 0.99) * 1e6, pct(lat, n, 0.999) * 1e6,
         sum / n * 1e6);
  print_server_cpu("serverCpuUsPerOp", server0, server1, n);
  printf("}");
  free(lat);
  free(v);
}

static void scenario_bc(memcached_st *mc, int is_set, const char *name) {
  /* Same warm-up as bench/harness.mjs (pipelinedWarmup). */
  long n = (is_set ? 200000 : 200000) / g_div, warm = 60000 / g_div;
  char *v = ascii_value(SMALL_VALUE);
  char key[256];
  if (!is_set) {
    for (int i = 0; i < KEYSPACE; i++) {
      key_of(key, sizeof key, name, i);
      do_set(mc, key, v, SMALL_VALUE);
    }
  }
  memcached_st **conns = open_conns(mc, CONCURRENCY);
  loop_t l = {name, KEYSPACE, is_set, v, SMALL_VALUE, warm, 0, 0};
  run_threads(&l, conns, CONCURRENCY); /* warm-up, also connects all 64 */
  l.total = n;
  double server0 = server_cpu_us();
  double secs = run_threads(&l, conns, CONCURRENCY);
  double server1 = server_cpu_us();
  close_conns(conns, CONCURRENCY);
  if (l.bad) die("b: wrong lengths", mc, MEMCACHED_FAILURE);
  begin_result(name);
  printf("\"ops\":%ld,\"concurrency\":%d,\"connections\":%d,\"seconds\":%.3f,\"opsPerSec\":%.0f", n,
         CONCURRENCY, CONCURRENCY, secs, n / secs);
  print_server_cpu("serverCpuUsPerOp", server0, server1, (double)n);
  printf("}");
  free(v);
}

static void scenario_d(memcached_st *mc, const char *name) {
  /* Same counts as bench/harness.mjs: d 5,000 batches after 5,000 warm-up batches. */
  int n = 5000 / g_div, warm = 5000 / g_div;
  char *v = ascii_value(SMALL_VALUE);
  char *keys[MANY_KEYS];
  size_t lens[MANY_KEYS];
  for (int i = 0; i < MANY_KEYS; i++) {
    keys[i] = malloc(256);
    key_of(keys[i], 256, name, i);
    lens[i] = strlen(keys[i]);
    do_set(mc, keys[i], v, SMALL_VALUE);
  }
  memcached_result_st result;
  memcached_result_create(mc, &result);
  double t0 = 0, cpu0 = 0, server0 = -1;
  for (int b = -warm; b < n; b++) {
    if (b == 0) {
      server0 = server_cpu_us();
      t0 = now_s();
      cpu0 = cpu_us();
    }
    if ((b & 63) == 0 && now_s() > g_deadline) {
      fprintf(stderr, "libmc_bench: time limit exceeded\n");
      exit(2);
    }
    memcached_return_t rc = memcached_mget(mc, (const char *const *)keys, lens, MANY_KEYS);
    if (rc != MEMCACHED_SUCCESS) die("memcached_mget", mc, rc);
    int hits = 0;
    while (memcached_fetch_result(mc, &result, &rc) != NULL) {
      if (memcached_result_length(&result) == SMALL_VALUE) hits++;
    }
    if (hits != MANY_KEYS) die("getMany: missing keys", mc, rc);
  }
  double secs = now_s() - t0;
  double cpu = cpu_us() - cpu0;
  double server1 = server_cpu_us();
  memcached_result_free(&result);
  for (int i = 0; i < MANY_KEYS; i++) free(keys[i]);
  begin_result(name);
  printf("\"batches\":%d,\"keysPerBatch\":%d,\"method\":\"memcached_mget + memcached_fetch_result\","
         "\"seconds\":%.3f,\"batchesPerSec\":%.0f,\"keysPerSec\":%.0f,\"cpuUsPerBatch\":%.1f",
         n, MANY_KEYS, secs, n / secs, n * MANY_KEYS / secs, cpu / n);
  if (server0 >= 0 && server1 >= 0) {
    printf(",\"serverCpuUsPerBatch\":%.1f,\"serverCpuUsPerKey\":%.3f", (server1 - server0) / n,
           (server1 - server0) / ((double)n * MANY_KEYS));
  }
  printf("}");
  free(v);
}

static void scenario_e(memcached_st *mc) {
  long sets = 2000 / g_div, gets = 2000 / g_div, warm = 500 / g_div;
  if (warm < LARGE_KEYSPACE) warm = LARGE_KEYSPACE;
  char *v = malloc(LARGE_VALUE);
  for (int i = 0; i < LARGE_VALUE; i++) v[i] = (char)(97 + i % 26);
  memcached_st **conns = open_conns(mc, LARGE_CONCURRENCY);
  loop_t l = {"e", LARGE_KEYSPACE, 1, v, LARGE_VALUE, warm, 0, 0};
  run_threads(&l, conns, LARGE_CONCURRENCY);
  l.is_set = 0;
  run_threads(&l, conns, LARGE_CONCURRENCY);
  l.is_set = 1;
  l.total = sets;
  double server0 = server_cpu_us();
  double set_s = run_threads(&l, conns, LARGE_CONCURRENCY);
  double server1 = server_cpu_us();
  l.is_set = 0;
  l.total = gets;
  double get_s = run_threads(&l, conns, LARGE_CONCURRENCY);
  double server2 = server_cpu_us();
  close_conns(conns, LARGE_CONCURRENCY);
  if (l.bad) die("e: wrong lengths", mc, MEMCACHED_FAILURE);
  double mb = LARGE_VALUE / 1e6;
  begin_result("e");
  printf("\"sets\":%ld,\"gets\":%ld,\"concurrency\":%d,\"connections\":%d,\"valueBytes\":%d,"
         "\"setSeconds\":%.3f,\"getSeconds\":%.3f,\"setMBps\":%.1f,\"getMBps\":%.1f,"
         "\"setOpsPerSec\":%.0f,\"getOpsPerSec\":%.0f",
         sets, gets, LARGE_CONCURRENCY, LARGE_CONCURRENCY, LARGE_VALUE, set_s, get_s, sets * mb / set_s,
         gets * mb / get_s, sets / set_s, gets / get_s);
  print_server_cpu("serverCpuUsPerSet", server0, server1, (double)sets);
  print_server_cpu("serverCpuUsPerGet", server1, server2, (double)gets);
  printf("}");
  free(v);
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s HOST PORT PREFIX SCENARIOS QUICK\n", argv[0]);
    return 64;
  }
  g_host = argv[1];
  g_port = (in_port_t)atoi(argv[2]);
  g_prefix = argv[3];
  const char *scenarios = argv[4];
  g_div = atoi(argv[5]) ? 10 : 1;
  g_deadline = now_s() + TIME_LIMIT_S;

  memcached_st *mc = new_conn();
  printf("{\"client\":\"libmemcached\",\"library\":\"libmemcached\",\"libraryVersion\":\"%s\","
         "\"runtime\":\"c\",\"runtimeVersion\":\"gcc -O2\",\"quick\":%s,"
         "\"config\":{\"protocol\":\"ascii\",\"tcpNodelay\":true},\"results\":{",
         LIBMEMCACHED_VERSION_STRING, g_div == 10 ? "true" : "false");
  for (const char *s = scenarios; *s; s++) {
    switch (*s) {
      case 'a': scenario_a(mc); break;
      case 'b': scenario_bc(mc, 0, "b"); break;
      case 'c': scenario_bc(mc, 1, "c"); break;
      case 'd': scenario_d(mc, "d"); break;
      case 'g': scenario_d(mc, "g"); break;
      case 'h': scenario_bc(mc, 0, "h"); break;
      case 'e': scenario_e(mc); break;
      default: break;
    }
    fflush(stdout);
  }
  printf("}}\n");
  memcached_free(mc);
  return 0;
}
