/* handover — SIGUSR2 (handover.h) */
#include "handover.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/sched_idle.h"
#include "base/util.h"
#include "http/predecessor.h"
#include "http/server.h"
#include "pool/results.h"

extern char **environ;

static pid_t successor;             /* the process that took over; 0 until one did */
static char results_path[PATH_MAX]; /* where this process leaves its orders for it */

pid_t od_handover_successor(void)
{
    return successor;
}

/* The binary to start: the path /proc/self/exe names, without the " (deleted)" the kernel adds
 * once a rebuild replaced the file (exec'ing /proc/self/exe itself would start the old image
 * again; argv[0] may be relative or a name found on PATH). */
static int exe_path(char *out, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", out, size - 1);
    if (n <= 0) return -1;
    out[n] = '\0';
    size_t len = (size_t)n, dl = strlen(" (deleted)");
    if (len > dl && strcmp(out + len - dl, " (deleted)") == 0) out[len - dl] = '\0';
    return 0;
}

/* environ without the hand-over's variables, then `fds` and `ready` (the array is the
 * caller's, to free; its strings are environ's or the caller's) */
static char **child_env(char *fds, char *ready, char *results)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = od_calloc(n + 4, sizeof(*env));
    size_t k = 0, fl = strlen(OD_LISTEN_FDS_ENV), rl = strlen(OD_HANDOVER_READY_ENV),
           pl = strlen(OD_PREDECESSOR_ENV);
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], OD_LISTEN_FDS_ENV, fl) == 0 && environ[i][fl] == '=') continue;
        if (strncmp(environ[i], OD_HANDOVER_READY_ENV, rl) == 0 && environ[i][rl] == '=') continue;
        if (strncmp(environ[i], OD_PREDECESSOR_ENV, pl) == 0 && environ[i][pl] == '=') continue;
        env[k++] = environ[i];
    }
    env[k++] = fds;
    env[k++] = ready;
    env[k++] = results;
    return env;
}

/* starts the new process with the listeners and the pipe's write end inherited; -1 on error
 * (errno-style message in *why) */
static pid_t spawn(od_app_t *app, int ready_fd, int *idle, const char **why)
{
    char exe[PATH_MAX];
    if (exe_path(exe, sizeof(exe)) != 0) {
        *why = "cannot read /proc/self/exe";
        return -1;
    }
    const od_listener_fd_t *ls;
    int nls = od_server_listeners(&ls);
    od_buf_t fds = OD_BUF_INIT;
    od_buf_printf(&fds, "%s=", OD_LISTEN_FDS_ENV);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    for (int i = 0; i < nls; i++) { /* a dup2 onto itself clears FD_CLOEXEC in the child only */
        od_buf_printf(&fds, "%s%s=%d", i ? ";" : "", ls[i].name, ls[i].fd);
        posix_spawn_file_actions_adddup2(&fa, ls[i].fd, ls[i].fd);
    }
    posix_spawn_file_actions_adddup2(&fa, ready_fd, ready_fd);
    char ready[64];
    snprintf(ready, sizeof(ready), "%s=%d", OD_HANDOVER_READY_ENV, ready_fd);
    char results[PATH_MAX + 64];
    snprintf(results, sizeof(results), "%s=%s", OD_PREDECESSOR_ENV, results_path);
    char **env = child_env(fds.base, ready, results);

    /* the new process starts with no signal blocked and SIGPIPE as a fresh process has it */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &def);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    /* the child inherits this thread's policy: idle from its first instruction (sched_idle.h) */
    *idle = od_sched_idle_possible() && od_sched_idle_self(1) == 0;
    pid_t pid;
    int rc = posix_spawn(&pid, exe, &fa, &attr, app->argv, env);
    if (*idle && od_sched_idle_self(0) != 0)
        od_warn("SIGUSR2: this thread stays SCHED_IDLE: %s", strerror(errno)); /* allowed a moment ago */
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    od_buf_dispose(&fds);
    if (rc != 0) {
        *why = strerror(rc);
        return -1;
    }
    od_info("SIGUSR2: hand-over: started %s (pid %d) on the inherited sockets%s; waiting up to %d s for it "
            "to serve",
            exe, (int)pid, *idle ? ", at idle priority until it is up" : "", OD_HANDOVER_TIMEOUT_S);
    return pid;
}

/* Takes the signals that came while waiting: returns the stop signal if one came (left
 * pending again for main's loop), else 0. */
static int take_signals(const sigset_t *signals, pid_t pid)
{
    struct timespec zero = {0, 0};
    int sig;
    while ((sig = sigtimedwait(signals, NULL, &zero)) > 0) {
        if (sig == SIGUSR2)
            od_warn("SIGUSR2: refused: a hand-over is under way (to pid %d)", (int)pid);
        else if (sig == SIGHUP)
            od_warn("SIGHUP: refused: a hand-over is under way (to pid %d); send it again after", (int)pid);
        else
            return sig;
    }
    return 0;
}

/* the child, started idle, to normal priority: logged when `why` says why now (it has not
 * served after OD_HANDOVER_IDLE_MS), quietly once it serves or before it is stopped; a
 * failure is always logged */
static void raise_child(pid_t pid, const char *why)
{
    int n = od_sched_idle_raise(pid);
    if (n < 0)
        od_warn("hand-over: cannot raise pid %d from idle priority: %s", (int)pid, strerror(errno));
    else if (why != NULL)
        od_info("hand-over: pid %d %s: raised to normal priority (threads raised: %d)", (int)pid, why, n);
}

/* Waits for "ready" on fd; returns 0 once it came, else -1 with the reason in why (a buffer
 * of whysz bytes) and the stop signal, if one abandoned the wait, in *stop.  A child started
 * idle (*idle) is raised after OD_HANDOVER_IDLE_MS if it has not said it serves by then, and
 * *idle cleared. */
static int wait_ready(int fd, pid_t pid, int *idle, const sigset_t *signals, int *stop, char *why,
                      size_t whysz)
{
    uint64_t start = od_now_ns();
    uint64_t deadline = start + (uint64_t)OD_HANDOVER_TIMEOUT_S * 1000000000u;
    char buf[16];
    size_t got = 0;
    for (;;) {
        if ((*stop = take_signals(signals, pid)) != 0) {
            snprintf(why, whysz, "%s came first", strsignal(*stop));
            return -1;
        }
        if (od_now_ns() > deadline) {
            snprintf(why, whysz, "it did not serve within %d s", OD_HANDOVER_TIMEOUT_S);
            return -1;
        }
        if (*idle && od_now_ns() - start > (uint64_t)OD_HANDOVER_IDLE_MS * 1000000u) {
            char late[96];
            snprintf(late, sizeof(late), "not serving after %d ms at idle priority (a busy machine)",
                     OD_HANDOVER_IDLE_MS);
            raise_child(pid, late);
            *idle = 0;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, *idle ? 20 : 100) <= 0) continue;
        ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int st = 0;
            if (waitpid(pid, &st, 0) != pid)
                snprintf(why, whysz, "it closed the ready pipe without serving");
            else if (WIFEXITED(st))
                snprintf(why, whysz, "it exited with status %d before serving (its log says why)",
                         WEXITSTATUS(st));
            else if (WIFSIGNALED(st))
                snprintf(why, whysz, "it was killed by %s before serving", strsignal(WTERMSIG(st)));
            else
                snprintf(why, whysz, "it closed the ready pipe without serving");
            return -2; /* reaped */
        }
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "ready\n")) return 0;
        if (got == sizeof(buf) - 1) {
            snprintf(why, whysz, "it wrote something else than \"ready\" on the ready pipe");
            return -1;
        }
    }
}

/* A new process that did not say it serves may be accepting already: SIGTERM drains it as
 * any orderd; one that does not exit within 10 s is killed. */
static void stop_child(pid_t pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) return;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int od_handover_begin(od_app_t *app, const sigset_t *signals)
{
    if (successor) { /* main stops taking SIGUSR2 after a hand-over; this is a guard */
        od_warn("SIGUSR2: refused: this process already handed over to pid %d", (int)successor);
        return -1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(results_path, sizeof(results_path), "%s/orderd-handover-%d.orders", tmp && *tmp ? tmp : "/tmp",
             (int)getpid());
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        od_error("SIGUSR2: hand-over not started: pipe: %s; this process keeps serving", strerror(errno));
        return -1;
    }
    const char *why_spawn = "";
    int idle = 0;
    pid_t pid = spawn(app, pipefd[1], &idle, &why_spawn);
    close(pipefd[1]); /* the child's copy is the only writer: its exit is our EOF */
    if (pid < 0) {
        close(pipefd[0]);
        od_error("SIGUSR2: hand-over not started: %s; this process keeps serving", why_spawn);
        return -1;
    }
    int stop = 0;
    char why[160];
    int rc = wait_ready(pipefd[0], pid, &idle, signals, &stop, why, sizeof(why));
    close(pipefd[0]);
    if (rc == 0 && idle) raise_child(pid, NULL);
    if (rc == 0) {
        successor = pid;
        od_info("SIGUSR2: hand-over: pid %d serves; this process (pid %d) stops accepting, finishes its "
                "connections and its queue, and exits",
                (int)pid, (int)getpid());
        return 0;
    }
    if (rc == -1 && idle) raise_child(pid, NULL); /* it drains at normal priority */
    if (rc == -1) stop_child(pid);
    od_error("SIGUSR2: hand-over to pid %d failed: %s; this process keeps serving", (int)pid, why);
    if (stop) kill(getpid(), stop); /* blocked: pending again for main's loop */
    return -1;
}

void od_handover_ready(void)
{
    const char *s = getenv(OD_HANDOVER_READY_ENV);
    if (s == NULL) return;
    int fd = atoi(s);
    unsetenv(OD_HANDOVER_READY_ENV);
    if (fd <= 2) return;
    if (write(fd, "ready\n", 6) != 6)
        od_warn("hand-over: cannot tell the old process this one serves: %s", strerror(errno));
    close(fd);
}

void od_handover_export(od_app_t *app)
{
    if (!successor) return;
    od_buf_t out = OD_BUF_INIT;
    size_t n = od_results_export(app->results, &out);
    od_buf_t err = OD_BUF_INIT;
    if (od_write_file_atomic(results_path, out.base ? out.base : "", out.len, 0600, &err) == 0)
        od_info("hand-over: %zu orders passed to pid %d for their lookups (%s)", n, (int)successor,
                results_path);
    else
        od_error("hand-over: cannot pass the orders to pid %d (%s): their lookups answer 404 there",
                 (int)successor, err.base);
    od_buf_dispose(&err);
    od_buf_dispose(&out);
}
