// nfq_delay: holds every packet of a netfilter queue for a fixed time, then lets it go.
//
// deploy/testbed.sh --delay uses it where the kernel has no sch_netem (and no sch_fq, so an EDT
// tc-bpf program that sets skb->tstamp would have nothing to honour it). iptables -t raw sends a
// namespace's arriving packets to a queue (PREROUTING ... -j NFQUEUE --queue-num Q); this program
// reads each packet's id and timestamp (metadata only, never the payload) and accepts it the
// queue's delay after it arrived, in arrival order. The packets stay in the kernel meanwhile, GSO
// packets whole (NFQA_CFG_F_GSO). One delay per queue means arrival order is release order, so
// one batch verdict (every id up to N) releases everything due in a queue.
//
// Only arriving packets are held, as a wire holds them: a packet held on its way out (OUTPUT)
// would still count against its sender's socket, and TCP then holds back the next segment of
// the same message until the first leaves (measured: a 4 KiB message written in two parts took
// 0.3 ms longer over a 0.2 ms delay than written at once; delayed on arrival, 0.04 ms).
//
// The delay counts from the packet's arrival in the namespace (the kernel's receive timestamp,
// which this program turns on), not from when this program woke up to read it. What it still
// adds: the timer's lateness (SCHED_FIFO with --rt, a 1 ns timer slack and waiting the last
// --spin-us on the CPU keep it to about 10 µs on a VM), and for a packet whose delay is shorter
// than the wake-up, the wake-up. The ping between two hosts (ping -U: user to user; ping's
// default takes the kernel's receive time, before the delay) shows the whole.
//
// No library: raw netlink (NETLINK_NETFILTER, nfnetlink_queue) with the kernel's uapi headers.
//   cc -O2 -o nfq_delay nfq_delay.c
//   nfq_delay --queue Q --delay-us D [--queue Q2 --delay-us D2 ...] [--rt PRIO] [--spin-us S]
//             [--ready FILE]
// Each --delay-us is the delay of the --queue before it (up to 8 queues). --rt PRIO: SCHED_FIFO
// at PRIO; --spin-us S: wake S µs before a packet is due and wait on the CPU; --ready FILE: the
// pid goes there once every queue is bound. It ends on SIGTERM or SIGINT, releasing what it holds
// and printing per queue how many packets it held, what their delay counted from, and how late
// it released them.
#define _GNU_SOURCE  // ppoll
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RING (1u << 16)  // packets held at once per queue; the queue's kernel limit is the same
#define MAX_QUEUES 8

struct queue {
  uint16_t num;
  int64_t delay_ns;
  uint32_t *id;  // RING entries each
  int64_t *due;
  uint32_t head, tail;  // head: oldest held; tail: next free
  uint64_t packets, releases, late_sum_ns, late_max_ns;
  uint64_t from_arrival, from_sent, from_read;  // what each packet's delay was counted from
};
static struct queue queues[MAX_QUEUES];
static int nqueues;

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static int64_t clock_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
static int64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

// When the packet with kernel timestamp ts_ns (0: none) reached this namespace, on
// CLOCK_MONOTONIC; read_ns is when this program read it. The delay is counted from there, so that
// the time this program took to wake up for the packet is not added to it. A timestamp is either
// the arrival time on CLOCK_REALTIME (skb->tstamp, set on receive while any socket asks for
// timestamps: this program's does) or, for TCP from another namespace, the sender's departure
// time on CLOCK_MONOTONIC (TCP's EDT stamp, kept across namespaces until local delivery); one
// that fits neither within 20 ms before the read counts from the read.
#define PLAUSIBLE_NS 20000000
static int64_t arrival_ns(struct queue *q, int64_t ts_ns, int64_t read_ns, int64_t read_real_ns) {
  if (ts_ns > 0) {
    if (read_real_ns - ts_ns >= 0 && read_real_ns - ts_ns <= PLAUSIBLE_NS) {
      q->from_arrival++;
      return read_ns - (read_real_ns - ts_ns);
    }
    if (read_ns - ts_ns >= 0 && read_ns - ts_ns <= PLAUSIBLE_NS) {
      q->from_sent++;
      return ts_ns;
    }
  }
  q->from_read++;
  return read_ns;
}

static void die(const char *what) {
  fprintf(stderr, "nfq_delay: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int fd;
static uint32_t seq;

// Appends attribute (type, data) to the message in buf.
static void put_attr(char *buf, uint16_t type, const void *data, uint16_t len) {
  struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
  struct nlattr *attr = (struct nlattr *)(buf + NLMSG_ALIGN(nlh->nlmsg_len));
  attr->nla_type = type;
  attr->nla_len = NLA_HDRLEN + len;
  memcpy((char *)attr + NLA_HDRLEN, data, len);
  nlh->nlmsg_len = NLMSG_ALIGN(nlh->nlmsg_len) + NLA_ALIGN(attr->nla_len);
}

static void start_msg(char *buf, uint16_t type, uint16_t flags, uint16_t queue_num) {
  struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
  memset(buf, 0, NLMSG_HDRLEN + sizeof(struct nfgenmsg));
  nlh->nlmsg_len = NLMSG_HDRLEN + sizeof(struct nfgenmsg);
  nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = ++seq;
  struct nfgenmsg *g = (struct nfgenmsg *)NLMSG_DATA(nlh);
  g->nfgen_family = AF_UNSPEC;
  g->version = NFNETLINK_V0;
  g->res_id = htons(queue_num);
}

static void send_msg(char *buf) {
  struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
  struct sockaddr_nl to = {.nl_family = AF_NETLINK};
  while (sendto(fd, buf, nlh->nlmsg_len, 0, (struct sockaddr *)&to, sizeof to) < 0) {
    if (errno != EINTR) die("sendto");
  }
}

// A configuration message, acknowledged: a refusal (no NFQUEUE in the kernel, the queue taken by
// another program) ends the program with the kernel's reason. Only called before any packet can
// arrive (the iptables rules come after --ready).
static void config(char *buf) {
  send_msg(buf);
  char reply[4096];
  for (;;) {
    ssize_t n = recv(fd, reply, sizeof reply, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("recv (configuration)");
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq != seq) continue;
      int err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
      if (err == 0) return;
      errno = -err;
      die("the kernel refused the queue's configuration");
    }
  }
}

// Accepts every packet of queue q held with an id up to id.
static void release_through(const struct queue *q, uint32_t id) {
  char buf[128];
  start_msg(buf, NFQNL_MSG_VERDICT_BATCH, 0, q->num);
  struct nfqnl_msg_verdict_hdr v = {.verdict = htonl(NF_ACCEPT), .id = htonl(id)};
  put_attr(buf, NFQA_VERDICT_HDR, &v, sizeof v);
  send_msg(buf);
}

// Takes in every packet message waiting, without blocking: each packet is due its queue's delay
// from now.
static void drain(void) {
  static char msgs[1 << 16];
  for (;;) {
    ssize_t n = recv(fd, msgs, sizeof msgs, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      // ENOBUFS: messages were lost, and with them packets that stay queued until this program
      // ends; the socket buffer is large so that this does not happen.
      if (errno == ENOBUFS) {
        fprintf(stderr, "nfq_delay: netlink buffer overrun, packets lost\n");
        continue;
      }
      die("recv");
    }
    const int64_t now = now_ns(), now_real = clock_ns(CLOCK_REALTIME);
    for (struct nlmsghdr *h = (struct nlmsghdr *)msgs; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) continue;
      const struct nfgenmsg *g = (const struct nfgenmsg *)NLMSG_DATA(h);
      struct queue *q = NULL;
      for (int i = 0; i < nqueues; i++) {
        if (queues[i].num == ntohs(g->res_id)) q = &queues[i];
      }
      if (!q) continue;
      char *p = (char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct nfgenmsg));
      char *end = (char *)h + h->nlmsg_len;
      int have_id = 0;
      uint32_t id = 0;
      int64_t ts_ns = 0;
      while (p + NLA_HDRLEN <= end) {
        struct nlattr *a = (struct nlattr *)p;
        if (a->nla_len < NLA_HDRLEN || p + a->nla_len > end) break;
        const int type = a->nla_type & NLA_TYPE_MASK;
        if (type == NFQA_PACKET_HDR && a->nla_len >= NLA_HDRLEN + sizeof(struct nfqnl_msg_packet_hdr)) {
          id = ntohl(((struct nfqnl_msg_packet_hdr *)(p + NLA_HDRLEN))->packet_id);
          have_id = 1;
        } else if (type == NFQA_TIMESTAMP && a->nla_len >= NLA_HDRLEN + sizeof(struct nfqnl_msg_packet_timestamp)) {
          struct nfqnl_msg_packet_timestamp ts;
          memcpy(&ts, p + NLA_HDRLEN, sizeof ts);
          ts_ns = (int64_t)be64toh(ts.sec) * 1000000000 + (int64_t)be64toh(ts.usec) * 1000;
        }
        p += NLA_ALIGN(a->nla_len);
      }
      if (!have_id) continue;
      if (q->tail - q->head == RING) {  // cannot happen: the kernel's queue holds no more
        fprintf(stderr, "nfq_delay: more than %u packets held in queue %u\n", RING, q->num);
        exit(1);
      }
      int64_t due = arrival_ns(q, ts_ns, now, now_real) + q->delay_ns;
      // Arrival order is release order: never before the packet ahead of it.
      if (q->head != q->tail && due < q->due[(q->tail - 1) % RING]) due = q->due[(q->tail - 1) % RING];
      q->id[q->tail % RING] = id;
      q->due[q->tail % RING] = due;
      q->tail++;
      q->packets++;
    }
  }
}

// The time the next held packet is due (INT64_MAX: none held).
static int64_t next_due(void) {
  int64_t next = INT64_MAX;
  for (int i = 0; i < nqueues; i++) {
    const struct queue *q = &queues[i];
    if (q->head != q->tail && q->due[q->head % RING] < next) next = q->due[q->head % RING];
  }
  return next;
}

int main(int argc, char **argv) {
  long rt = 0, spin_us = 0;
  const char *ready = NULL;
  for (int i = 1; i < argc; i++) {
    const int has_value = i + 1 < argc;
    if (has_value && !strcmp(argv[i], "--queue")) {
      if (nqueues == MAX_QUEUES) {
        fprintf(stderr, "nfq_delay: at most %d queues\n", MAX_QUEUES);
        return 2;
      }
      const long q = strtol(argv[++i], NULL, 10);
      if (q < 0 || q > 65535) {
        fprintf(stderr, "nfq_delay: --queue %ld: want 0..65535\n", q);
        return 2;
      }
      queues[nqueues].num = (uint16_t)q;
      queues[nqueues].delay_ns = -1;
      nqueues++;
    } else if (has_value && !strcmp(argv[i], "--delay-us")) {
      const long d = strtol(argv[++i], NULL, 10);
      if (nqueues == 0 || queues[nqueues - 1].delay_ns >= 0 || d < 0 || d > 10000000) {
        fprintf(stderr, "nfq_delay: each --delay-us (0..10000000) follows its --queue\n");
        return 2;
      }
      queues[nqueues - 1].delay_ns = (int64_t)d * 1000;
    } else if (has_value && !strcmp(argv[i], "--rt")) {
      rt = strtol(argv[++i], NULL, 10);
    } else if (has_value && !strcmp(argv[i], "--spin-us")) {
      spin_us = strtol(argv[++i], NULL, 10);
    } else if (has_value && !strcmp(argv[i], "--ready")) {
      ready = argv[++i];
    } else {
      fprintf(stderr,
              "usage: nfq_delay --queue Q --delay-us D [--queue Q2 --delay-us D2 ...] [--rt PRIO] [--spin-us S] "
              "[--ready FILE]\n");
      return 2;
    }
  }
  if (nqueues == 0 || rt < 0 || rt > 99 || spin_us < 0 || spin_us > 1000) {
    fprintf(stderr, "nfq_delay: want at least one --queue with its --delay-us, --rt 0..99, --spin-us 0..1000\n");
    return 2;
  }
  for (int i = 0; i < nqueues; i++) {
    if (queues[i].delay_ns < 0) {
      fprintf(stderr, "nfq_delay: --queue %u has no --delay-us\n", queues[i].num);
      return 2;
    }
    queues[i].id = calloc(RING, sizeof *queues[i].id);
    queues[i].due = calloc(RING, sizeof *queues[i].due);
    if (!queues[i].id || !queues[i].due) die("calloc");
  }
  const int64_t spin_ns = spin_us * 1000;

  // The timer as exact as the kernel makes it, and ahead of ordinary processes for the CPU.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  if (rt > 0) {
    struct sched_param sp = {.sched_priority = (int)rt};
    if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0) die("sched_setscheduler SCHED_FIFO");
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  // Any socket asking for receive timestamps makes the kernel stamp every packet it receives
  // (skb->tstamp), which the queue then reports (NFQA_TIMESTAMP): see arrival_ns.
  int stamps = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), on = 1;
  if (stamps < 0 || setsockopt(stamps, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0)
    fprintf(stderr, "nfq_delay: no receive timestamps (%s): delays count from reading the packet\n", strerror(errno));

  fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) die("socket(NETLINK_NETFILTER)");
  int rcvbuf = 16 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_nl self = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&self, sizeof self) != 0) die("bind");

  char buf[256];
  for (int i = 0; i < nqueues; i++) {
    start_msg(buf, NFQNL_MSG_CONFIG, NLM_F_ACK, queues[i].num);
    struct nfqnl_msg_config_cmd cmd = {.command = NFQNL_CFG_CMD_BIND};
    put_attr(buf, NFQA_CFG_CMD, &cmd, sizeof cmd);
    config(buf);
    start_msg(buf, NFQNL_MSG_CONFIG, NLM_F_ACK, queues[i].num);
    struct nfqnl_msg_config_params params = {.copy_range = 0, .copy_mode = NFQNL_COPY_META};
    put_attr(buf, NFQA_CFG_PARAMS, &params, sizeof params);
    uint32_t maxlen = htonl(RING);
    put_attr(buf, NFQA_CFG_QUEUE_MAXLEN, &maxlen, sizeof maxlen);
    uint32_t flags = htonl(NFQA_CFG_F_GSO), mask = htonl(NFQA_CFG_F_GSO);
    put_attr(buf, NFQA_CFG_FLAGS, &flags, sizeof flags);
    put_attr(buf, NFQA_CFG_MASK, &mask, sizeof mask);
    config(buf);
  }

  if (ready) {
    FILE *f = fopen(ready, "w");
    if (!f) die(ready);
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
  }

  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  while (!stop) {
    // Wait for a packet or for the next held one to come due (less --spin-us).
    struct timespec timeout, *tp = NULL;
    int64_t next = next_due();
    if (next != INT64_MAX) {
      int64_t left = next - spin_ns - now_ns();
      if (left < 0) left = 0;
      timeout.tv_sec = left / 1000000000;
      timeout.tv_nsec = left % 1000000000;
      tp = &timeout;
    }
    int r = ppoll(&pfd, 1, tp, NULL);
    if (r < 0 && errno != EINTR) die("ppoll");
    if (r > 0) drain();
    // Within --spin-us of the next packet's time, wait for it on the CPU (a timer wakes up tens
    // of µs late in a VM), still taking in packets meanwhile.
    int64_t now = now_ns();
    while (spin_ns > 0 && (next = next_due()) > now && next != INT64_MAX && next - now <= spin_ns) {
      drain();
      now = now_ns();
    }
    // Release everything due, with one verdict per queue for the newest of its due packets.
    for (int i = 0; i < nqueues; i++) {
      struct queue *q = &queues[i];
      if (q->head == q->tail || q->due[q->head % RING] > now) continue;
      uint32_t last = q->head;
      while (q->head != q->tail && q->due[q->head % RING] <= now) {
        const uint64_t late = (uint64_t)(now - q->due[q->head % RING]);
        q->late_sum_ns += late;
        if (late > q->late_max_ns) q->late_max_ns = late;
        last = q->head++;
      }
      release_through(q, q->id[last % RING]);
      q->releases++;
    }
  }
  // Whatever is still held goes now, undelayed, rather than being dropped with the queue.
  for (int i = 0; i < nqueues; i++) {
    const struct queue *q = &queues[i];
    if (q->head != q->tail) release_through(q, q->id[(q->tail - 1) % RING]);
    fprintf(stderr,
            "nfq_delay: queue %u, %llu packets held %lld us (counted from arrival %llu, from sending %llu, from "
            "reading %llu), %llu releases, late by %.1f us on average, %.1f us at most\n",
            q->num, (unsigned long long)q->packets, (long long)(q->delay_ns / 1000),
            (unsigned long long)q->from_arrival, (unsigned long long)q->from_sent, (unsigned long long)q->from_read,
            (unsigned long long)q->releases, q->packets ? q->late_sum_ns / 1e3 / q->packets : 0.0,
            q->late_max_ns / 1e3);
  }
  return 0;
}
