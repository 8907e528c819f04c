/*
 * hello_h2o — the bare libh2o reference server for the benchmarks: orderd's ingest is
 * compared with it, and orderload's throughput with wrk's against it; orderload's tests
 * (t/50, t/52, t/61) run against it too.  Built by the Makefile as build/hello_h2o, linked
 * with libh2o-evloop alone.
 *
 *   build/hello_h2o [-p PORT] [-t THREADS]        (defaults: 8080, 1 thread)
 *
 * Answers every request (any method, any path; a request body is read and discarded) with
 * 200 and a short body over HTTP/1.1 keep-alive.  Each thread runs its own evloop, context
 * and SO_REUSEPORT listener on 127.0.0.1; nothing is shared between threads after start-up.
 * It prints "listening on 127.0.0.1:PORT" on stdout once ready, and counts nothing: it is
 * kept as minimal as h2o allows so that it measures h2o and not itself.
 */
#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static h2o_globalconf_t config;
static unsigned short port = 8080;

typedef struct worker {
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    int fd;
} worker_t;

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    static h2o_generator_t generator = {NULL, NULL};
    static h2o_iovec_t body = {"hello\n", 6};
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = body.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain"));
    h2o_start_response(req, &generator);
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL) return;
    worker_t *w = listener->data;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock != NULL) h2o_accept(&w->accept_ctx, sock);
}

/* Returns a listening socket bound to 127.0.0.1:port with SO_REUSEPORT, or -1. */
static int listen_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, SOMAXCONN) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *run(void *arg)
{
    worker_t *w = arg;
    h2o_socket_t *listener = h2o_evloop_socket_create(w->loop, w->fd, H2O_SOCKET_FLAG_DONT_READ);
    listener->data = w;
    h2o_socket_read_start(listener, on_accept);
    for (;;)
        h2o_evloop_run(w->loop, INT32_MAX);
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hello_h2o [-p PORT] [-t THREADS]\n"
            "  a bare libh2o HTTP/1.1 server answering every request 200 \"hello\" (benchmark reference)\n");
}

int main(int argc, char **argv)
{
    int threads = 1, opt;
    while ((opt = getopt(argc, argv, "p:t:h")) != -1) {
        switch (opt) {
        case 'p':
            port = (unsigned short)atoi(optarg);
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (threads < 1 || threads > 256 || port == 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    h2o_config_init(&config);
    h2o_hostconf_t *host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = on_req;

    worker_t *workers = calloc((size_t)threads, sizeof(*workers));
    for (int i = 0; i < threads; i++) {
        worker_t *w = &workers[i];
        if ((w->fd = listen_socket()) < 0) {
            fprintf(stderr, "hello_h2o: cannot listen on 127.0.0.1:%u: %s\n", port, strerror(errno));
            return 1;
        }
        w->loop = h2o_evloop_create();
        h2o_context_init(&w->ctx, w->loop, &config);
        w->accept_ctx.ctx = &w->ctx;
        w->accept_ctx.hosts = config.hosts;
    }
    printf("listening on 127.0.0.1:%u\n", port);
    fflush(stdout);
    for (int i = 1; i < threads; i++) {
        pthread_t tid;
        pthread_create(&tid, NULL, run, &workers[i]);
    }
    run(&workers[0]);
    return 0;
}
