/*
 * delay-relay: a TCP relay on loopback that delays every chunk of data by a
 * fixed time in each direction, so a database on this machine answers as if
 * it were one network hop away (issue 14). The kernel's netem is not
 * available here, and Node's timers have a resolution of one millisecond
 * (a 1 ms timer fires after 1-2 ms), so the delay is applied here with
 * absolute-deadline sleeps (clock_nanosleep, timer slack 1 us): each chunk
 * leaves at exactly its arrival time plus the delay, in order, whatever the
 * load, and the relay costs almost no CPU while it waits.
 *
 * It also reads the PostgreSQL wire protocol of the client -> server
 * direction and counts round trips: a simple Query ('Q') or an extended
 * query's Sync ('S') is one request the client waits on (node-postgres does
 * not pipeline), so "round trips per transaction" is counted between a
 * BEGIN and its COMMIT or ROLLBACK.
 *
 * Built by the bench with `cc -O2 -pthread` (bench/src/relay.ts). Usage:
 *   delay-relay <upstream-host> <upstream-port> <delay-us>
 * Prints {"msg":"relay listening","port":N} on stdout. Commands on stdin,
 * one per line: "stats" prints one JSON line of counters, "reset" zeroes
 * them. Exits when stdin closes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536
#define HIST 16

static struct sockaddr_in upstream;
static int64_t delay_ns;

/* Counters, updated with atomics by every connection's threads. */
static int64_t n_connections, n_chunks, n_bytes, n_queries, n_syncs, n_begins, n_commits,
    n_rollbacks, n_tx_round_trips, late_sum_ns, late_max_ns, n_late;
static int64_t tx_hist[HIST];

static void add(int64_t *c, int64_t v) { __atomic_fetch_add(c, v, __ATOMIC_RELAXED); }

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

struct chunk {
  struct chunk *next;
  int64_t due;
  ssize_t len; /* 0: end of stream */
  char data[];
};

/* What the client -> server parser remembers between chunks. */
struct pgparse {
  int startup;        /* still in the untyped start-up messages */
  unsigned char head[5];
  int head_have;      /* bytes of the header (type + length) read */
  int64_t body_left;  /* bytes of the current message still to skip */
  char query[8];      /* first bytes of a Query's text */
  int query_have;
  int in_tx;
  int64_t tx_rt;
};

struct pipe_ {
  int from, to;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct chunk *head, *tail;
  struct pgparse *pg; /* client -> server only */
  struct conn *conn;
};

struct conn {
  struct pipe_ up, down;
  int refs;
  pthread_mutex_t mu;
};

static void release(struct conn *c) {
  pthread_mutex_lock(&c->mu);
  int last = --c->refs == 0;
  pthread_mutex_unlock(&c->mu);
  if (!last) return;
  close(c->up.from);
  close(c->up.to);
  free(c->up.pg);
  free(c);
}

static void end_query(struct pgparse *p) {
  const char *q = p->query;
  int n = p->query_have;
  int is_begin = n >= 5 && strncasecmp(q, "BEGIN", 5) == 0;
  int is_commit = n >= 6 && strncasecmp(q, "COMMIT", 6) == 0;
  int is_rollback = n >= 8 && strncasecmp(q, "ROLLBACK", 8) == 0;
  add(&n_queries, 1);
  if (is_begin) {
    add(&n_begins, 1);
    p->in_tx = 1;
    p->tx_rt = 0;
  }
  if (p->in_tx) p->tx_rt++;
  if (p->in_tx && (is_commit || is_rollback)) {
    add(is_commit ? &n_commits : &n_rollbacks, 1);
    add(&n_tx_round_trips, p->tx_rt);
    add(&tx_hist[p->tx_rt < HIST ? p->tx_rt : HIST - 1], 1);
    p->in_tx = 0;
  }
}

/* Feeds client -> server bytes through the message framing. */
static void parse(struct pgparse *p, const unsigned char *b, ssize_t n) {
  ssize_t i = 0;
  while (i < n) {
    if (p->body_left > 0) {
      if (p->head[0] == 'Q')
        while (p->query_have < 8 && i < n && p->body_left > 0) {
          p->query[p->query_have++] = (char)b[i++];
          p->body_left--;
        }
      ssize_t take = n - i < p->body_left ? n - i : (ssize_t)p->body_left;
      i += take;
      p->body_left -= take;
      if (p->body_left == 0 && p->head[0] == 'Q') end_query(p);
      continue;
    }
    int need = p->startup ? 4 : 5;
    while (p->head_have < need && i < n) p->head[p->head_have++] = b[i++];
    if (p->head_have < need) return;
    const unsigned char *l = p->startup ? p->head : p->head + 1;
    int64_t len = ((int64_t)l[0] << 24) | (l[1] << 16) | (l[2] << 8) | l[3];
    p->head_have = 0;
    p->query_have = 0;
    if (p->startup) {
      /* SSLRequest / GSSENCRequest are answered with one byte, then a real start-up follows. */
      p->body_left = len - 4;
      if (len == 8 && i + 4 <= n) {
        uint32_t code = ((uint32_t)b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3];
        if (code == 80877103 || code == 80877104) continue;
      }
      p->startup = 0;
      p->head[0] = 0;
      continue;
    }
    if (p->head[0] == 'S') {
      add(&n_syncs, 1);
      if (p->in_tx) p->tx_rt++;
    }
    p->body_left = len - 4;
    if (p->body_left == 0 && p->head[0] == 'Q') end_query(p);
  }
}

static void *reader(void *arg) {
  struct pipe_ *p = arg;
  for (;;) {
    struct chunk *c = malloc(sizeof(struct chunk) + CHUNK);
    ssize_t n = recv(p->from, c->data, CHUNK, 0);
    c->due = now_ns() + delay_ns;
    c->len = n > 0 ? n : 0;
    c->next = NULL;
    if (n > 0) {
      /* Keep only what was read: a queue of a few hundred chunks must not hold 64 KiB each. */
      if (n < CHUNK / 2) {
        struct chunk *small = realloc(c, sizeof(struct chunk) + n);
        if (small) c = small;
      }
      add(&n_chunks, 1);
      add(&n_bytes, n);
      if (p->pg) parse(p->pg, (unsigned char *)c->data, n);
    }
    pthread_mutex_lock(&p->mu);
    if (p->tail) p->tail->next = c;
    else p->head = c;
    p->tail = c;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (n <= 0) break;
  }
  release(p->conn);
  return NULL;
}

static void *writer(void *arg) {
  struct pipe_ *p = arg;
  int broken = 0;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    while (p->head == NULL) pthread_cond_wait(&p->cv, &p->mu);
    struct chunk *c = p->head;
    p->head = c->next;
    if (p->head == NULL) p->tail = NULL;
    pthread_mutex_unlock(&p->mu);
    struct timespec due = {c->due / 1000000000, c->due % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR) {
    }
    int64_t late = now_ns() - c->due;
    add(&late_sum_ns, late);
    add(&n_late, 1);
    int64_t seen = __atomic_load_n(&late_max_ns, __ATOMIC_RELAXED);
    while (late > seen &&
           !__atomic_compare_exchange_n(&late_max_ns, &seen, late, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
    }
    ssize_t len = c->len;
    for (ssize_t off = 0; !broken && off < len;) {
      ssize_t w = send(p->to, c->data + off, len - off, MSG_NOSIGNAL);
      if (w <= 0) {
        /* The peer is gone: wake every reader of the connection so it winds down. */
        broken = 1;
        shutdown(p->from, SHUT_RDWR);
        shutdown(p->to, SHUT_RDWR);
      } else off += w;
    }
    free(c);
    if (len == 0) {
      shutdown(p->to, SHUT_WR);
      break;
    }
  }
  release(p->conn);
  return NULL;
}

static void start_pipe(struct pipe_ *p, struct conn *c, int from, int to, int pg) {
  p->from = from;
  p->to = to;
  p->conn = c;
  p->head = p->tail = NULL;
  p->pg = pg ? calloc(1, sizeof(struct pgparse)) : NULL;
  if (p->pg) p->pg->startup = 1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&a, 256 * 1024);
  pthread_create(&t, &a, reader, p);
  pthread_create(&t, &a, writer, p);
  pthread_attr_destroy(&a);
}

static void nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void *acceptor(void *arg) {
  int lfd = *(int *)arg;
  for (;;) {
    int cfd = accept(lfd, NULL, NULL);
    if (cfd < 0) continue;
    int sfd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(sfd, (struct sockaddr *)&upstream, sizeof upstream) != 0) {
      close(cfd);
      close(sfd);
      continue;
    }
    nodelay(cfd);
    nodelay(sfd);
    add(&n_connections, 1);
    struct conn *c = calloc(1, sizeof(struct conn));
    c->refs = 4;
    pthread_mutex_init(&c->mu, NULL);
    /* The up pipe owns both fds (closed by the last thread); down shares them. */
    start_pipe(&c->up, c, cfd, sfd, 1);
    start_pipe(&c->down, c, sfd, cfd, 0);
  }
  return NULL;
}

static void stats(void) {
  int64_t nl = __atomic_load_n(&n_late, __ATOMIC_RELAXED);
  printf("{\"connections\":%ld,\"chunks\":%ld,\"bytes\":%ld,\"queries\":%ld,\"syncs\":%ld,"
         "\"begins\":%ld,\"commits\":%ld,\"rollbacks\":%ld,\"txRoundTrips\":%ld,"
         "\"lateMeanUs\":%.1f,\"lateMaxUs\":%.1f,\"txHistogram\":[",
         n_connections, n_chunks, n_bytes, n_queries, n_syncs, n_begins, n_commits, n_rollbacks,
         n_tx_round_trips, nl > 0 ? late_sum_ns / 1000.0 / nl : 0.0, late_max_ns / 1000.0);
  for (int i = 0; i < HIST; i++) printf("%s%ld", i ? "," : "", tx_hist[i]);
  printf("]}\n");
  fflush(stdout);
}

static void reset(void) {
  int64_t *all[] = {&n_chunks,    &n_bytes,          &n_queries,   &n_syncs,
                    &n_begins,    &n_commits,        &n_rollbacks, &n_tx_round_trips,
                    &late_sum_ns, &late_max_ns,      &n_late};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    __atomic_store_n(all[i], 0, __ATOMIC_RELAXED);
  for (int i = 0; i < HIST; i++) __atomic_store_n(&tx_hist[i], 0, __ATOMIC_RELAXED);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: delay-relay <upstream-host> <upstream-port> <delay-us>\n");
    return 2;
  }
  upstream.sin_family = AF_INET;
  upstream.sin_port = htons((uint16_t)atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &upstream.sin_addr) != 1) {
    fprintf(stderr, "delay-relay: upstream host '%s' is not an IPv4 address\n", argv[1]);
    return 2;
  }
  delay_ns = (int64_t)(atof(argv[3]) * 1000);
  /* Inherited by every thread created below: sleeps wake within a microsecond of their deadline. */
  prctl(PR_SET_TIMERSLACK, 1UL);
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 512) != 0 ||
      getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
    perror("delay-relay: listen");
    return 1;
  }
  printf("{\"msg\":\"relay listening\",\"port\":%d,\"delayUs\":%.1f}\n", ntohs(a.sin_port),
         delay_ns / 1000.0);
  fflush(stdout);
  pthread_t t;
  pthread_create(&t, NULL, acceptor, &lfd);
  char line[64];
  while (fgets(line, sizeof line, stdin) != NULL) {
    if (strncmp(line, "stats", 5) == 0) stats();
    else if (strncmp(line, "reset", 5) == 0) reset();
  }
  return 0;
}
