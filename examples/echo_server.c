/*
 * A TCP echo server: one tasklet per connection, each written as plain
 * blocking code ("read, write back, repeat"), on one thread or several.
 *
 * A tasklet that would block on a socket calls PyStackless_WaitFd instead:
 * it sleeps until the socket is ready and the thread runs the others. A
 * tasklet accepts connections the same way, waiting on the listening
 * socket. When nothing is ready the thread sleeps in the kernel.
 *
 *     echo_server PORT [THREADS]
 *         serves 127.0.0.1:PORT (0: a free port) until SIGINT or SIGTERM,
 *         and prints "listening on 127.0.0.1:N" first. With THREADS > 1 the
 *         connections are handed, round robin, to THREADS worker threads,
 *         each running its own scheduler: the acceptor sends each new
 *         socket over a channel to a worker, which runs a tasklet for it.
 *     echo_server
 *         the demo: the server on a free port, and a client tasklet in
 *         the same thread that opens three connections, sends on each and
 *         reads the echoes back, then the server shuts down. It prints:
 *
 *     server: listening (one tasklet per connection)
 *     client: 3 connections open
 *     client: connection 1 echoed "hello from 1"
 *     client: connection 2 echoed "hello from 2"
 *     client: connection 3 echoed "hello from 3"
 *     server: stopped after 3 connections
 *
 * Shutdown is clean: the stop (a signal, read from a signalfd by a
 * tasklet, or the demo's client) calls PyStackless_ForgetFd on the
 * listening socket, which wakes the acceptor with OSError; then every
 * connection tasklet still open is killed, closes its socket and ends.
 *
 * Build and run: make demo; the load generator bench/echo measures it
 * (make bench).
 */
#define _GNU_SOURCE
#include <stackless.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_THREADS 64
#define BUFFER_SIZE 4096
#define SECOND ((int64_t)1000 * 1000 * 1000)

/* A thread that serves connections: its open connections' tasklets by
 * socket (to kill them at shutdown), and, for a worker, the channel its
 * sockets come over. */
struct server_thread {
    PyTaskletObject **by_fd;
    int fd_limit;
    PyChannelObject *sockets;
    pthread_t thread;
};

static struct server_thread threads[MAX_THREADS];
static _Thread_local struct server_thread *current_thread;
static int nthreads = 1;
static int listener = -1;
static long accepted;

/* A new tasklet of the calling thread that calls def's function with
 * (arg,), made runnable; NULL when that failed (reported). */
static PyTaskletObject *spawn(PyMethodDef *def, PyObject *arg) {
    PyObject *func = PyCFunction_New(def, NULL);
    PyTaskletObject *t = func != NULL ? PyTasklet_New(NULL, func) : NULL;
    PyObject *args = Py_BuildValue("(O)", arg);
    if (t == NULL || args == NULL || PyTasklet_Setup(t, args, NULL) < 0) {
        PyErr_Print();
        Py_CLEAR(t);
    }
    Py_XDECREF(args);
    Py_XDECREF(func);
    return t;
}

/* Writes all n bytes, waiting while the socket's buffer is full. 0, or -1
 * (the peer is gone, or the tasklet was killed: an exception is set). */
static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EAGAIN) {
            if (PyStackless_WaitFd(fd, PY_WAIT_WRITE, -1) < 0) {
                return -1;
            }
        } else {
            return -1;
        }
    }
    return 0;
}

/* connection(fd): echoes until the peer closes, or the tasklet is killed. */
static PyObject *connection(PyObject *self, PyObject *args) {
    (void)self;
    int fd = (int)PyLong_AsLong(PyTuple_GetItem(args, 0));
    char buf[BUFFER_SIZE];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            if (write_all(fd, buf, (size_t)n) < 0) {
                break;
            }
        } else if (n < 0 && errno == EAGAIN) {
            if (PyStackless_WaitFd(fd, PY_WAIT_READ, -1) < 0) {
                break;
            }
        } else {
            break;
        }
    }
    /* Killed (TaskletExit) or the peer is gone: either way, done. */
    PyErr_Clear();
    close(fd);
    Py_RETURN_NONE;
}

static PyMethodDef connection_def = {"connection", connection, METH_VARARGS, NULL};

/* Runs a connection tasklet for the socket fd on the calling thread. */
static void serve(struct server_thread *st, int fd) {
    PyObject *arg = PyLong_FromLong(fd);
    PyTaskletObject *t = spawn(&connection_def, arg);
    Py_XDECREF(arg);
    if (t == NULL) {
        close(fd);
        return;
    }
    if (fd < st->fd_limit) {
        Py_XDECREF(st->by_fd[fd]);
        st->by_fd[fd] = t;
    } else {
        Py_DECREF(t);
    }
}

/* Kills the connection tasklets of a thread that are still alive. */
static void kill_connections(struct server_thread *st) {
    for (int fd = 0; fd < st->fd_limit; fd++) {
        PyTaskletObject *t = st->by_fd[fd];
        if (t != NULL && PyTasklet_Alive(t) && PyTasklet_Kill(t) < 0) {
            PyErr_Print();
        }
        Py_XDECREF(t);
        st->by_fd[fd] = NULL;
    }
}

/* Hands the socket fd (-1: stop) to a worker thread. A send with a
 * deadline, retried: a tasklet in a timed wait keeps its thread's
 * PyStackless_RunUntil(-1) waiting for the worker (a plain channel
 * operation would not: only another thread could complete it). */
static int hand_to(struct server_thread *st, long fd) {
    PyObject *v = PyLong_FromLong(fd);
    int rc;
    do {
        PyErr_Clear();
        rc = PyChannel_SendUntil(st->sockets, v, PyStackless_Now() + SECOND);
    } while (rc < 0 && PyErr_ExceptionMatches(PyExc_TimeoutError));
    Py_XDECREF(v);
    return rc;
}

/* acceptor(): accepts until the listening socket is forgotten, then stops
 * the connections (or the workers, which stop theirs). */
static PyObject *acceptor(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            struct server_thread *st = &threads[accepted++ % nthreads];
            if (nthreads == 1) {
                serve(st, fd);
            } else if (hand_to(st, fd) < 0) {
                break;
            }
        } else if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) {
            if (PyStackless_WaitFd(listener, PY_WAIT_READ, -1) < 0) {
                break; /* forgotten: the server stops */
            }
        } else {
            perror("echo_server: accept");
            if (PyStackless_Sleep(SECOND / 100) < 0) {
                break;
            }
        }
    }
    PyErr_Clear();
    if (nthreads == 1) {
        kill_connections(&threads[0]);
    } else {
        for (int i = 0; i < nthreads; i++) {
            hand_to(&threads[i], -1);
        }
    }
    PyErr_Clear();
    Py_RETURN_NONE;
}

static PyMethodDef acceptor_def = {"acceptor", acceptor, METH_VARARGS, NULL};

/* Stops accepting: the acceptor wakes with OSError and ends. */
static void stop_accepting(void) {
    PyStackless_ForgetFd(listener);
}

/* dispatcher(): on a worker thread, runs a connection tasklet for every
 * socket that comes over the thread's channel, until -1 says stop. */
static PyObject *dispatcher(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    struct server_thread *st = current_thread;
    for (;;) {
        PyObject *v = PyChannel_ReceiveUntil(st->sockets, PyStackless_Now() + SECOND);
        if (v == NULL && PyErr_ExceptionMatches(PyExc_TimeoutError)) {
            PyErr_Clear();
            continue;
        }
        long fd = v != NULL ? PyLong_AsLong(v) : -1;
        Py_XDECREF(v);
        if (fd < 0) {
            break;
        }
        serve(st, (int)fd);
    }
    PyErr_Clear();
    kill_connections(st);
    Py_RETURN_NONE;
}

static PyMethodDef dispatcher_def = {"dispatcher", dispatcher, METH_VARARGS, NULL};

/* A worker thread: its dispatcher and connections, until they ended. */
static void *worker(void *arg) {
    current_thread = arg;
    PyTaskletObject *t = spawn(&dispatcher_def, Py_None);
    PyObject *r = PyStackless_RunUntil(-1);
    if (r == NULL) {
        PyErr_Print();
    }
    Py_XDECREF(r);
    Py_XDECREF(t);
    PyStackless_Finalize();
    return NULL;
}

/* stopper(signal fd): waits for SIGINT or SIGTERM, then stops the server. */
static PyObject *stopper(PyObject *self, PyObject *args) {
    (void)self;
    int sfd = (int)PyLong_AsLong(PyTuple_GetItem(args, 0));
    if (PyStackless_WaitFd(sfd, PY_WAIT_READ, -1) > 0) {
        stop_accepting();
    }
    PyErr_Clear();
    Py_RETURN_NONE;
}

static PyMethodDef stopper_def = {"stopper", stopper, METH_VARARGS, NULL};

/* A client in the demo: three connections, a message on each, the echoes
 * read back in order, then the server stops. */
static PyObject *client(PyObject *self, PyObject *args) {
    (void)self;
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    getsockname(listener, (struct sockaddr *)&addr, &len);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (connect(fds[i], (struct sockaddr *)&addr, len) < 0 && errno == EINPROGRESS) {
            PyStackless_WaitFd(fds[i], PY_WAIT_WRITE, -1);
        }
    }
    printf("client: 3 connections open\n");
    for (int i = 0; i < 3; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "hello from %d", i + 1);
        write_all(fds[i], msg, (size_t)n);
    }
    for (int i = 0; i < 3; i++) {
        char buf[32];
        ssize_t got = 0;
        while (got < 12) {
            ssize_t r = read(fds[i], buf + got, sizeof buf - 1 - (size_t)got);
            if (r > 0) {
                got += r;
            } else if (r < 0 && errno == EAGAIN && PyStackless_WaitFd(fds[i], PY_WAIT_READ, -1) > 0) {
                continue;
            } else {
                break;
            }
        }
        buf[got] = '\0';
        printf("client: connection %d echoed \"%s\"\n", i + 1, buf);
        close(fds[i]);
    }
    (void)args;
    stop_accepting();
    Py_RETURN_NONE;
}

static PyMethodDef client_def = {"client", client, METH_VARARGS, NULL};

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 4096) < 0) {
        perror("echo_server: listen");
        exit(1);
    }
    return fd;
}

int main(int argc, char **argv) {
    int demo = argc < 2;
    int port = demo ? 0 : atoi(argv[1]);
    nthreads = argc > 2 ? atoi(argv[2]) : 1;
    if (nthreads < 1 || nthreads > MAX_THREADS) {
        fprintf(stderr, "usage: echo_server [PORT [THREADS (1-%d)]]\n", MAX_THREADS);
        return 2;
    }
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    /* Blocked in every thread (inherited): read from the signalfd only. */
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    listener = listen_on(port);
    int fd_limit = (int)sysconf(_SC_OPEN_MAX);
    for (int i = 0; i < nthreads; i++) {
        threads[i].fd_limit = fd_limit;
        threads[i].by_fd = calloc((size_t)fd_limit, sizeof *threads[i].by_fd);
        if (nthreads > 1) {
            threads[i].sockets = PyChannel_New(NULL);
            pthread_create(&threads[i].thread, NULL, worker, &threads[i]);
        }
    }
    PyTaskletObject *accepting = spawn(&acceptor_def, Py_None);
    PyTaskletObject *other;
    if (demo) {
        printf("server: listening (one tasklet per connection)\n");
        other = spawn(&client_def, Py_None);
    } else {
        struct sockaddr_in addr;
        socklen_t len = sizeof addr;
        getsockname(listener, (struct sockaddr *)&addr, &len);
        printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
        fflush(stdout);
        int sfd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
        PyObject *arg = PyLong_FromLong(sfd);
        other = spawn(&stopper_def, arg);
        Py_XDECREF(arg);
    }
    /* Runs until the acceptor, the connections and the stopper ended. */
    PyObject *r = PyStackless_RunUntil(-1);
    if (r == NULL) {
        PyErr_Print();
    }
    Py_XDECREF(r);
    close(listener);
    for (int i = 0; nthreads > 1 && i < nthreads; i++) {
        pthread_join(threads[i].thread, NULL);
        Py_DECREF(threads[i].sockets);
    }
    Py_DECREF(other);
    Py_DECREF(accepting);
    for (int i = 0; i < nthreads; i++) {
        free(threads[i].by_fd);
    }
    printf("server: stopped after %ld connections\n", accepted);
    PyStackless_Finalize();
    return 0;
}
