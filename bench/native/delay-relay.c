/*
 * delay-relay: a TCP relay on loopback that delays every chunk of data by a
 * fixed time in each direction, so a database on this machine answers as if
 * it were one network hop away (issue 14). The kernel's netem is not
 * available here, and Node's timers have a resolution of one millisecond
 * (a 1 ms timer fires after 1-2 ms), so the delay is applied here with a
 * timerfd (nanosecond deadlines, timer slack 1 us): each chunk leaves at its
 * arrival time plus the delay, in order, whatever the load.
 *
 * One thread, one epoll loop: the delay is the same for every chunk, so
 * deadlines come in arrival order and one FIFO of every connection's chunks
 * is a timing wheel with a single slot; the timerfd is armed for its head.
 * Under load one wake-up reads many sockets and sends every chunk that is
 * due, so the relay's CPU per chunk falls as the load grows (a thread per
 * direction cost three context switches per chunk, and as much CPU as the
 * service it carried on this 2-core machine).
 *
 * It also reads the PostgreSQL wire protocol of the client -> server
 * direction and counts round trips: a simple Query ('Q') or an extended
 * query's Sync ('S') is one request the client waits on (node-postgres does
 * not pipeline), so "round trips per transaction" is counted between a
 * BEGIN and its COMMIT or ROLLBACK.
 *
 * Built by the bench with `cc -O2` (bench/src/relay.ts). Usage:
 *   delay-relay <upstream-host> <upstream-port> <delay-us>
 * Prints {"msg":"relay listening","port":N} on stdout. Commands on stdin,
 * one per line: "stats" prints one JSON line of counters, "reset" zeroes
 * them. Exits when stdin closes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536
#define HIST 16

static struct sockaddr_in upstream;
static int64_t delay_ns;

static int64_t n_connections, n_chunks, n_bytes, n_queries, n_syncs, n_begins, n_commits,
    n_rollbacks, n_tx_round_trips, late_sum_ns, late_max_ns, n_late;
static int64_t tx_hist[HIST];

static void add(int64_t *c, int64_t v) { *c += v; }

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* What the client -> server parser remembers between chunks. */
struct pgparse {
  int startup; /* still in the untyped start-up messages */
  unsigned char head[5];
  int head_have;     /* bytes of the header (type + length) read */
  int64_t body_left; /* bytes of the current message still to skip */
  char query[8];     /* first bytes of a Query's text */
  int query_have;
  int in_tx;
  int64_t tx_rt;
};

/* One side of a connection: its socket, and whether its reading ended. */
struct side {
  int fd;
  int read_done;  /* EOF or error read: nothing more will be queued from it */
  int write_done; /* the EOF from the other side was delivered: shut for writing */
};

struct conn {
  struct side client, server;
  struct pgparse pg;
  int broken;
};

struct chunk {
  struct chunk *next;
  int64_t due;
  struct conn *conn;
  int to_server;
  ssize_t len; /* 0: end of stream */
  char data[];
};

/* Every queued chunk of every connection, in arrival order = deadline order. */
static struct chunk *q_head, *q_tail;
static int epfd, tfd;

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


static void enqueue(struct conn *c, int to_server, const char *data, ssize_t len) {
  struct chunk *k = malloc(sizeof(struct chunk) + (len > 0 ? len : 0));
  k->next = NULL;
  k->due = now_ns() + delay_ns;
  k->conn = c;
  k->to_server = to_server;
  k->len = len;
  if (len > 0) memcpy(k->data, data, len);
  int was_empty = q_head == NULL;
  if (q_tail) q_tail->next = k;
  else q_head = k;
  q_tail = k;
  if (was_empty) {
    struct itimerspec t = {{0, 0}, {k->due / 1000000000, k->due % 1000000000}};
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &t, NULL);
  }
}

static void close_if_done(struct conn *c) {
  if (!(c->client.write_done && c->server.write_done)) return;
  close(c->client.fd);
  close(c->server.fd);
  free(c);
}

/* Blocking send of all of it: database traffic is small, and every receiver here reads. */
static int send_all(int fd, const char *p, ssize_t len) {
  while (len > 0) {
    ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    len -= w;
  }
  return 0;
}

static void deliver_due(void) {
  int64_t now = now_ns();
  while (q_head && q_head->due <= now) {
    struct chunk *k = q_head;
    q_head = k->next;
    if (!q_head) q_tail = NULL;
    struct conn *c = k->conn;
    struct side *to = k->to_server ? &c->server : &c->client;
    int64_t late = now - k->due;
    add(&late_sum_ns, late);
    add(&n_late, 1);
    if (late > late_max_ns) late_max_ns = late;
    if (k->len > 0 && !c->broken && send_all(to->fd, k->data, k->len) != 0) {
      /* The peer is gone: both ends read EOF next, and wind down. */
      c->broken = 1;
      shutdown(c->client.fd, SHUT_RDWR);
      shutdown(c->server.fd, SHUT_RDWR);
    }
    if (k->len == 0) {
      shutdown(to->fd, SHUT_WR);
      to->write_done = 1;
      free(k);
      close_if_done(c);
      continue;
    }
    free(k);
    now = now_ns();
  }
  if (q_head) {
    struct itimerspec t = {{0, 0}, {q_head->due / 1000000000, q_head->due % 1000000000}};
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &t, NULL);
  }
}

static char buf[CHUNK];

static void on_readable(struct conn *c, int from_client) {
  struct side *from = from_client ? &c->client : &c->server;
  if (from->read_done) return;
  ssize_t n = recv(from->fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n > 0) {
    add(&n_chunks, 1);
    add(&n_bytes, n);
    if (from_client) parse(&c->pg, (unsigned char *)buf, n);
    enqueue(c, from_client, buf, n);
    return;
  }
  from->read_done = 1;
  epoll_ctl(epfd, EPOLL_CTL_DEL, from->fd, NULL);
  enqueue(c, from_client, NULL, 0);
}

static void nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* epoll data: the conn pointer with its low bit telling the side (1 = client). */
static void watch(int fd, struct conn *c, int client) {
  struct epoll_event e = {.events = EPOLLIN, .data.u64 = (uint64_t)(uintptr_t)c | (uint64_t)client};
  epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
}

static void on_accept(int lfd) {
  int cfd = accept(lfd, NULL, NULL);
  if (cfd < 0) return;
  int sfd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(sfd, (struct sockaddr *)&upstream, sizeof upstream) != 0) {
    close(cfd);
    close(sfd);
    return;
  }
  nodelay(cfd);
  nodelay(sfd);
  add(&n_connections, 1);
  struct conn *c = calloc(1, sizeof(struct conn));
  c->client.fd = cfd;
  c->server.fd = sfd;
  c->pg.startup = 1;
  watch(cfd, c, 1);
  watch(sfd, c, 0);
}

static void stats(void) {
  printf("{\"connections\":%ld,\"chunks\":%ld,\"bytes\":%ld,\"queries\":%ld,\"syncs\":%ld,"
         "\"begins\":%ld,\"commits\":%ld,\"rollbacks\":%ld,\"txRoundTrips\":%ld,"
         "\"lateMeanUs\":%.1f,\"lateMaxUs\":%.1f,\"txHistogram\":[",
         n_connections, n_chunks, n_bytes, n_queries, n_syncs, n_begins, n_commits, n_rollbacks,
         n_tx_round_trips, n_late > 0 ? late_sum_ns / 1000.0 / n_late : 0.0,
         late_max_ns / 1000.0);
  for (int i = 0; i < HIST; i++) printf("%s%ld", i ? "," : "", tx_hist[i]);
  printf("]}\n");
  fflush(stdout);
}

static void reset(void) {
  n_chunks = n_bytes = n_queries = n_syncs = n_begins = n_commits = n_rollbacks = 0;
  n_tx_round_trips = late_sum_ns = late_max_ns = n_late = 0;
  memset(tx_hist, 0, sizeof tx_hist);
}

/* Commands on stdin, one per line; returns 0 when stdin closed. */
static int on_stdin(void) {
  static char line[256];
  static size_t have;
  ssize_t n = read(0, line + have, sizeof line - 1 - have);
  if (n <= 0) return 0;
  have += n;
  char *nl;
  while ((nl = memchr(line, '\n', have)) != NULL) {
    *nl = 0;
    if (strncmp(line, "stats", 5) == 0) stats();
    else if (strncmp(line, "reset", 5) == 0) reset();
    size_t used = nl + 1 - line;
    memmove(line, nl + 1, have - used);
    have -= used;
  }
  if (have == sizeof line - 1) have = 0;
  return 1;
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
  /* Wake within a microsecond of a deadline, not the default 50 us slack. */
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
  epfd = epoll_create1(0);
  tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  /* Tags of the non-connection fds: conn pointers are aligned, so small odd/even values are free. */
  struct epoll_event e = {.events = EPOLLIN, .data.u64 = 2};
  epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &e);
  e.data.u64 = 4;
  epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &e);
  e.data.u64 = 6;
  epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &e);
  printf("{\"msg\":\"relay listening\",\"port\":%d,\"delayUs\":%.1f}\n", ntohs(a.sin_port),
         delay_ns / 1000.0);
  fflush(stdout);
  struct epoll_event ev[256];
  for (;;) {
    int n = epoll_wait(epfd, ev, 256, -1);
    for (int i = 0; i < n; i++) {
      uint64_t tag = ev[i].data.u64;
      if (tag == 2) on_accept(lfd);
      else if (tag == 4) {
        uint64_t expirations;
        if (read(tfd, &expirations, sizeof expirations) < 0) { /* spurious: deliver anyway */ }
      } else if (tag == 6) {
        if (!on_stdin()) return 0;
      } else on_readable((struct conn *)(uintptr_t)(tag & ~1ULL), (int)(tag & 1));
    }
    deliver_due();
  }
}
