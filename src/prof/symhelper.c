/*
 * symhelper — the symbolizer helper process: its loop (run by a constructor when the binary is
 * started with OD_SYMHELPER_ARG) and orderd's side (spawning, reaping, one request at a
 * time with deadlines).  See symhelper.h.
 */
#include "prof/symhelper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "prof/symdwfl.h"
#include "prof/threads.h"

#define HELPER_FD 3 /* the helper's end of the socketpair, after exec */
#define SPAWN_WAIT_MS 5000

extern char **environ;

/* --- the helper's side ----------------------------------------------------------------------- */

static int read_full(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static void put_str(od_buf_t *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > OD_SYMHELPER_STR_MAX) n = OD_SYMHELPER_STR_MAX;
    uint16_t l = (uint16_t)n;
    od_buf_append(b, &l, sizeof(l));
    if (n) od_buf_append(b, s, n);
}

static void put_sym(od_buf_t *b, const od_sym_t *s)
{
    put_str(b, s->module);
    uint64_t v = s->module_base;
    od_buf_append(b, &v, sizeof(v));
    put_str(b, s->symbol);
    v = s->symbol_addr;
    od_buf_append(b, &v, sizeof(v));
    uint8_t nf = (uint8_t)s->nframes;
    od_buf_append(b, &nf, 1);
    for (size_t i = 0; i < s->nframes; i++) {
        const od_sym_frame_t *f = &s->frames[i];
        put_str(b, f->func);
        put_str(b, f->sysname);
        put_str(b, f->file);
        int32_t l[2] = {f->line, f->start_line};
        od_buf_append(b, l, sizeof(l));
    }
}

/* Answers requests until orderd closes the socket (or sends nonsense). */
static void serve(int fd)
{
    uint64_t *words = od_malloc(OD_SYMHELPER_BATCH_MAX * sizeof(*words));
    od_buf_t reply = OD_BUF_INIT, hex = OD_BUF_INIT;
    for (;;) {
        uint32_t head[2];
        if (read_full(fd, head, sizeof(head)) != 0 || head[1] > OD_SYMHELPER_BATCH_MAX) break;
        if (read_full(fd, words, head[1] * sizeof(*words)) != 0) break;
        od_buf_reset(&reply);
        uint32_t out[2] = {head[0], 0};
        od_buf_append(&reply, out, sizeof(out));
        for (uint32_t i = 0; i < head[1]; i++) {
            if (head[0] == OD_SYMHELPER_SYM) {
                od_sym_t s;
                od_symdwfl_lookup((uintptr_t)words[i], &s);
                put_sym(&reply, &s);
            } else {
                od_buf_reset(&hex);
                od_symdwfl_build_id((uintptr_t)words[i], &hex);
                put_str(&reply, hex.base ? hex.base : "");
            }
        }
        uint32_t len = (uint32_t)(reply.len - sizeof(out));
        memcpy(reply.base + sizeof(uint32_t), &len, sizeof(len));
        if (write_full(fd, reply.base, reply.len) != 0) break;
    }
    od_buf_dispose(&reply);
    od_buf_dispose(&hex);
    free(words);
}

/* Runs before main (glibc passes the program's arguments to constructors): in a binary
 * started as the helper, serve and exit without ever running the program. */
__attribute__((constructor)) static void helper_dispatch(int argc, char **argv, char **envp)
{
    (void)envp;
    if (argc != 3 || argv == NULL || strcmp(argv[1], OD_SYMHELPER_ARG) != 0) return;
    pid_t parent = (pid_t)atoi(argv[2]);
    prctl(PR_SET_NAME, "prof-symbolize");
    if (parent <= 1 || getppid() != parent) _exit(1); /* orderd is gone already */
    od_symdwfl_open(parent);
    serve(HELPER_FD);
    _exit(0); /* no exit handlers: nothing of the program ran */
}

/* --- orderd's side: the process -------------------------------------------------------------- */

static pthread_mutex_t helper_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t helper_cond = PTHREAD_COND_INITIALIZER;
/* guarded by helper_lock: */
static int spawner_running; /* the "prof-symbolize" thread exists */
static int want_spawn;      /* a caller asks for a helper */
static unsigned spawn_gen;  /* bumped after every spawn attempt */
static pid_t helper_pid;    /* running helper (not yet reaped), 0 if none */
static int helper_fd = -1;  /* orderd's end for the helper just spawned; taken by the caller */
static char spawn_error[160];
/* owned by the (serialized) callers: */
static int conn_fd = -1;
static pid_t conn_pid;
static uint64_t backoff_until_ns;
static int timeout_ms = OD_SYMHELPER_TIMEOUT_MS;

/* The environment without gperftools' and tcmalloc's profiling variables (the helper must
 * not start a CPU profile or sample its heap into files). */
static char **helper_env(void)
{
    static const char *drop[] = {"CPUPROFILE", "HEAPPROFILE", "HEAPCHECK", "PERFTOOLS_", "TCMALLOC_"};
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **env = od_calloc(n + 1, sizeof(*env));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int keep = 1;
        for (size_t d = 0; d < OD_ARRAY_SIZE(drop); d++)
            if (strncmp(environ[i], drop[d], strlen(drop[d])) == 0) keep = 0;
        if (keep) env[k++] = environ[i];
    }
    return env;
}

/* Forks and execs the helper; called on the spawning thread with helper_lock held.
 * Returns 0 or -1 (spawn_error set). */
static int spawn(void)
{
    if (helper_fd >= 0) close(helper_fd); /* spawned for a caller that gave up waiting */
    helper_fd = -1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        snprintf(spawn_error, sizeof(spawn_error), "socketpair: %s", strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    char pidarg[24];
    snprintf(pidarg, sizeof(pidarg), "%d", (int)parent);
    char *argv[] = {(char *)"/proc/self/exe", (char *)OD_SYMHELPER_ARG, pidarg, NULL};
    char **env = helper_env();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* no handler of orderd's runs in the child */
    pid_t pid = fork();
    if (pid == 0) {
        /* only async-signal-safe calls until exec */
        syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (syscall(SYS_getppid) != parent) _exit(1);
        if (sv[1] == HELPER_FD) {
            int fl = fcntl(HELPER_FD, F_GETFD);
            fcntl(HELPER_FD, F_SETFD, fl & ~FD_CLOEXEC);
        } else if (dup2(sv[1], HELPER_FD) < 0) {
            _exit(127);
        }
        if (syscall(SYS_close_range, HELPER_FD + 1, ~0u, 0) != 0)
            for (int fd = HELPER_FD + 1; fd < 4096; fd++)
                close(fd);
        uint64_t none = 0; /* exec resets the handlers; the mask it keeps */
        syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
        execve("/proc/self/exe", argv, env);
        _exit(127);
    }
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    free(env);
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        snprintf(spawn_error, sizeof(spawn_error), "fork: %s", strerror(e));
        return -1;
    }
#ifdef PR_SET_PTRACER
    prctl(PR_SET_PTRACER, (unsigned long)pid); /* [vdso] is read from /proc/PID/mem */
#endif
    helper_pid = pid;
    helper_fd = sv[0];
    return 0;
}

/* Waits until the helper exits and reaps it.  The wait is a poll on a pidfd (or a nap when
 * there is none), not a blocking waitpid: the threads profile's signal must find this thread
 * in a call that takes signals at once, ThreadSanitizer's runtime included. */
static void reap(pid_t pid)
{
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec by definition */
    for (;;) {
        int st = 0;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) break;
        if (pfd >= 0) {
            struct pollfd p = {.fd = pfd, .events = POLLIN};
            poll(&p, 1, -1);
        } else {
            od_sleep_ns(200000000);
        }
    }
    if (pfd >= 0) close(pfd);
}

/* The spawning thread: starts a helper when asked, then waits for it to exit and reaps it.
 * It never exits, so that the helper's PR_SET_PDEATHSIG (tied to this thread) fires only
 * when orderd itself goes. */
static void *spawner_main(void *arg)
{
    (void)arg;
    od_thread_register("prof-symbolize");
    pthread_mutex_lock(&helper_lock);
    for (;;) {
        od_thread_set_state("idle");
        while (!want_spawn)
            pthread_cond_wait(&helper_cond, &helper_lock);
        want_spawn = 0;
        int rc = spawn();
        spawn_gen++;
        pthread_cond_broadcast(&helper_cond);
        if (rc != 0) continue;
        pid_t pid = helper_pid;
        pthread_mutex_unlock(&helper_lock);
        od_thread_set_state("waiting for the symbolizer");
        reap(pid);
        pthread_mutex_lock(&helper_lock);
        helper_pid = 0; /* reaped: nobody may signal that pid any more */
        pthread_cond_broadcast(&helper_cond);
    }
    return NULL;
}

/* Asks the spawning thread for a helper and takes its socket (caller serialized).
 * Returns 0 or -1 with a message in err. */
static int start_helper(od_buf_t *err)
{
    pthread_mutex_lock(&helper_lock);
    if (!spawner_running) {
        int rc = od_thread_start_detached(spawner_main, NULL);
        if (rc != 0) {
            pthread_mutex_unlock(&helper_lock);
            od_buf_printf(err, "cannot start the symbolizer thread: %s", strerror(rc));
            return -1;
        }
        spawner_running = 1;
    }
    /* a previous helper must be reaped first (it was killed: that is quick) */
    uint64_t deadline = od_now_ns() + SPAWN_WAIT_MS * 1000000ull;
    while (helper_pid != 0 && od_now_ns() < deadline) {
        pthread_mutex_unlock(&helper_lock);
        od_sleep_ns(1000000);
        pthread_mutex_lock(&helper_lock);
    }
    unsigned gen = spawn_gen;
    want_spawn = 1;
    pthread_cond_broadcast(&helper_cond);
    while (spawn_gen == gen && od_now_ns() < deadline) {
        pthread_mutex_unlock(&helper_lock);
        od_sleep_ns(1000000);
        pthread_mutex_lock(&helper_lock);
    }
    int rc = -1;
    if (spawn_gen == gen) {
        want_spawn = 0; /* nobody would take it */
        od_buf_puts(err, "the symbolizer helper did not start in time");
    } else if (helper_fd < 0)
        od_buf_printf(err, "cannot start the symbolizer helper: %s", spawn_error);
    else {
        conn_fd = helper_fd;
        conn_pid = helper_pid;
        helper_fd = -1;
        rc = 0;
    }
    pthread_mutex_unlock(&helper_lock);
    return rc;
}

/* Kills the helper we talk to (if not reaped yet) and forgets its socket. */
static void drop_helper(void)
{
    pthread_mutex_lock(&helper_lock);
    if (conn_pid != 0 && helper_pid == conn_pid) kill(conn_pid, SIGKILL);
    pthread_mutex_unlock(&helper_lock);
    if (conn_fd >= 0) close(conn_fd);
    conn_fd = -1;
    conn_pid = 0;
}

/* --- orderd's side: one exchange ------------------------------------------------------------- */

/* Waits until fd is ready for `events` or the deadline passes.  Returns 0 or -1. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = od_now_ns();
        if (now >= deadline) return -1;
        struct pollfd p = {.fd = fd, .events = events};
        int ms = (int)((deadline - now + 999999) / 1000000);
        int r = poll(&p, 1, ms);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        return (p.revents & events) ? 0 : -1;
    }
}

static int send_by(int fd, const void *p, size_t n, uint64_t deadline)
{
    const char *c = p;
    while (n > 0) {
        if (wait_fd(fd, POLLOUT, deadline) != 0) return -1;
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Returns 0, -1 when the deadline passed, -2 when the helper is gone (EOF, error). */
static int recv_by(int fd, void *p, size_t n, uint64_t deadline)
{
    char *c = p;
    while (n > 0) {
        if (wait_fd(fd, POLLIN, deadline) != 0) return od_now_ns() >= deadline ? -1 : -2;
        ssize_t r = recv(fd, c, n, MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) return -2;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* One request and its reply on conn_fd.  Returns 0 or -1 with a message in err. */
static int exchange(uint32_t op, const uint64_t *in, size_t n, od_buf_t *reply, od_buf_t *err)
{
    uint64_t deadline = od_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    uint32_t head[2] = {op, (uint32_t)n};
    if (send_by(conn_fd, head, sizeof(head), deadline) != 0 ||
        send_by(conn_fd, in, n * sizeof(*in), deadline) != 0) {
        od_buf_puts(err, "the symbolizer helper does not take requests");
        return -1;
    }
    int rc = recv_by(conn_fd, head, sizeof(head), deadline);
    if (rc == -1) {
        od_buf_printf(err, "no answer from the symbolizer helper within %d ms", timeout_ms);
        return -1;
    }
    if (rc != 0) {
        od_buf_puts(err, "the symbolizer helper exited");
        return -1;
    }
    if (head[0] != op || head[1] > OD_SYMHELPER_REPLY_MAX) {
        od_buf_puts(err, "the symbolizer helper answered nonsense");
        return -1;
    }
    od_buf_reset(reply);
    od_buf_reserve(reply, head[1]);
    if (recv_by(conn_fd, reply->base, head[1], deadline) != 0) {
        od_buf_puts(err, "the symbolizer helper's answer was cut short");
        return -1;
    }
    reply->len = head[1];
    reply->base[reply->len] = '\0';
    return 0;
}

int od_symhelper_call(uint32_t op, const uint64_t *in, size_t n, od_buf_t *reply, od_buf_t *err)
{
    if (n > OD_SYMHELPER_BATCH_MAX) {
        od_buf_printf(err, "symbolizer batch of %zu words (at most %d)", n, OD_SYMHELPER_BATCH_MAX);
        return -1;
    }
    if (conn_fd < 0 && od_now_ns() < backoff_until_ns) {
        od_buf_puts(err, "the symbolizer helper failed recently");
        return -1;
    }
    for (int attempt = 0; attempt < 2; attempt++) { /* a dead helper is restarted once */
        if (conn_fd < 0 && start_helper(err) != 0) break;
        pid_t was = conn_pid;
        if (exchange(op, in, n, reply, err) == 0) return 0;
        drop_helper();
        if (attempt == 0) {
            od_warn("symbolize: helper %d: %s; starting a new one", (int)was, err->base);
            od_buf_reset(err);
        }
    }
    drop_helper();
    backoff_until_ns = od_now_ns() + OD_SYMHELPER_BACKOFF_MS * 1000000ull;
    return -1;
}

void od_symhelper_stop(void)
{
    drop_helper();
    backoff_until_ns = 0;
}

void od_symhelper_set_timeout(int ms)
{
    timeout_ms = ms > 0 ? ms : OD_SYMHELPER_TIMEOUT_MS;
}
