/*
 * conn — a worker's connection slots: opening, closing, the idle list, writing a request and
 * reading its answer off the socket (see worker.h).  What an answer or a failure means for
 * the scenario is arrivals.c's business.
 */
#include "load/worker.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define READ_CHUNK 16384

/* ---- connections -------------------------------------------------------------------------- */

void od_conn_idle_push(od_scen_t *s, od_conn_t *c)
{
    if (c->in_idle) return;
    c->in_idle = 1;
    c->prev_idle = NULL;
    c->next_idle = s->idle;
    if (s->idle) s->idle->prev_idle = c;
    s->idle = c;
}

void od_conn_idle_remove(od_scen_t *s, od_conn_t *c)
{
    if (!c->in_idle) return;
    if (c->prev_idle)
        c->prev_idle->next_idle = c->next_idle;
    else
        s->idle = c->next_idle;
    if (c->next_idle) c->next_idle->prev_idle = c->prev_idle;
    c->in_idle = 0;
    c->prev_idle = c->next_idle = NULL;
}

od_conn_t *od_conn_idle_pop(od_scen_t *s)
{
    od_conn_t *c = s->idle;
    if (c) od_conn_idle_remove(s, c);
    return c;
}

static void set_events(od_conn_t *c, uint32_t ev)
{
    if (c->events == ev) return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(c->s->w->epfd, EPOLL_CTL_MOD, c->fd, &e);
    c->events = ev;
}

void od_conn_close(od_conn_t *c)
{
    if (c->fd < 0) return;
    od_scen_t *s = c->s;
    od_conn_idle_remove(s, c);
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->connected = 0;
    c->in_len = 0;
    s->nopen--;
    s->busy -= c->busy;
    c->busy = 0;
    c->q_head = 0;
}

int od_conn_dial(const od_url_t *u, int *connected)
{
    int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = connect(fd, (const struct sockaddr *)&u->addr, u->addrlen);
    if (rc != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    *connected = rc == 0;
    return fd;
}

ssize_t od_conn_read(int fd, char **in, size_t len, size_t *cap)
{
    if (*cap - len < 4096) {
        *cap = *cap ? *cap * 2 : READ_CHUNK;
        *in = od_realloc(*in, *cap);
    }
    ssize_t n;
    do
        n = read(fd, *in + len, *cap - len);
    while (n < 0 && errno == EINTR);
    return n;
}

/* Opens slot c's connection.  Returns 0 (connected or in progress) or -1 (failed now). */
int od_conn_open(od_scen_t *s, od_conn_t *c)
{
    int connected = 0;
    int fd = od_conn_dial(&s->w->run->target, &connected);
    if (fd < 0) return -1;
    c->fd = fd;
    c->connected = connected;
    c->events = EPOLLIN | EPOLLRDHUP | (connected ? 0 : EPOLLOUT);
    c->in_len = 0;
    struct epoll_event e = {.events = c->events, .data.ptr = c};
    if (epoll_ctl(s->w->epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
        close(fd);
        c->fd = -1;
        return -1;
    }
    s->nopen++;
    return 0;
}

od_conn_t *od_conn_free_slot(od_scen_t *s)
{
    if (s->nopen >= s->maxconns) return NULL;
    for (uint32_t i = 0; i < s->maxconns; i++)
        if (s->conns[i].fd < 0) return &s->conns[i];
    return NULL;
}

void od_conn_write(od_conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            set_events(c, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
            return;
        } else {
            od_scen_conn_failed(c, OD_ERR_WRITE, od_now_ns());
            return;
        }
    }
    set_events(c, EPOLLIN | EPOLLRDHUP);
}

static void on_readable(od_conn_t *c)
{
    od_scen_t *s = c->s;
    od_buf_t *body = s->w->wants_response ? &c->body : NULL;
    for (;;) {
        size_t had = c->in_len;
        ssize_t n = od_conn_read(c->fd, &c->in, c->in_len, &c->in_cap);
        if (n < 0 && errno == EAGAIN) return;
        uint64_t now = od_now_ns();
        if (n <= 0) {
            if (!c->busy) {
                od_conn_close(c); /* the server closed an idle keep-alive connection */
                od_scen_next_work(s, c, now, 1);
            } else if (n == 0 && od_resp_eof(&c->resp) == 0) {
                od_scen_complete(c, now); /* closes c: the answer had no keep-alive */
            } else {
                od_scen_conn_failed(c, OD_ERR_READ, now);
            }
            return;
        }
        if (!c->busy) { /* unasked-for bytes (e.g. a 408 before closing): drop the connection */
            od_conn_close(c);
            od_scen_next_work(s, c, now, 1);
            return;
        }
        int drained = (size_t)n < c->in_cap - had; /* the read took all there was */
        c->in_len += (size_t)n;
        /* the bytes hold the oldest request's answer, or part of it; with requests pipelined,
         * perhaps the answers after it too */
        for (;;) {
            int was_head = c->resp.state == OD_RESP_HEAD;
            ssize_t used = od_resp_feed(&c->resp, c->in, c->in_len, body);
            if (used < 0) {
                od_scen_conn_failed(c, OD_ERR_READ, now);
                return;
            }
            if (was_head && c->resp.state != OD_RESP_HEAD && body)
                od_buf_append(&c->head, c->resp.head, c->resp.head_len);
            if (was_head && c->resp.state != OD_RESP_HEAD && s->follow) od_follow_location(c);
            if ((size_t)used < c->in_len) memmove(c->in, c->in + used, c->in_len - (size_t)used);
            c->in_len -= (size_t)used;
            if (c->resp.state != OD_RESP_DONE) break; /* the rest of it is still to come */
            int more = c->busy > 1;
            if (!more) c->in_len = 0; /* nothing may follow the last answer we asked for */
            od_scen_complete(c, now);
            if (!more || c->fd < 0) return;
            if (c->in_len == 0) break;
        }
        if (drained) return;
    }
}

void od_conn_event(od_conn_t *c, uint32_t ev)
{
    if (c->fd < 0) return;
    if (!c->connected) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
            od_scen_conn_failed(c, OD_ERR_CONNECT, od_now_ns());
            return;
        }
        if (!(ev & EPOLLOUT)) return;
        c->connected = 1;
        if (c->busy)
            od_conn_write(c);
        else
            set_events(c, EPOLLIN | EPOLLRDHUP);
        return;
    }
    if ((ev & EPOLLOUT) && c->busy && c->out_off < c->out_len) {
        od_conn_write(c);
        if (c->fd < 0) return;
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(c);
}
