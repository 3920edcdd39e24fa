/*
 * bench/echo: a load generator for any TCP echo server, itself built on
 * libstackless (one tasklet per connection, one thread).
 *
 *     echo HOST:PORT CONNECTIONS SECONDS [SIZE [SERVER_PID]]
 *
 * Opens CONNECTIONS connections to HOST:PORT (an IPv4 address: loopback
 * only, in this project's benchmarks), waits until all are open, then on
 * each, for SECONDS: sends SIZE bytes (default 64), reads SIZE bytes back,
 * and again. One message in flight per connection. Prints one line:
 *
 *     connections N  msgs/s X  p50 Y us  p99 Z us  server B bytes/conn  idle C us/s
 *
 * with the round-trip latencies of every message. With SERVER_PID, the
 * server's memory per connection: its peak resident size (VmHWM) at the
 * end less its resident size (VmRSS) before the connections, divided by
 * CONNECTIONS ("-" without a pid), and the CPU time the server (all its
 * threads) used per second while every connection was open and idle, for
 * one second before the load, a second after the last one opened (from
 * /proc/PID/task/ * /schedstat). Exits non-zero on any failed
 * connection or short echo.
 */
#define _GNU_SOURCE
#include <stackless.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in server;
static int size = 64;
static int64_t stop_at;
static PyChannelObject *go;  /* main -> clients: start */
static long open_count, failures;
static long long messages;
static int64_t *samples; /* round trips, ns */
static size_t nsamples, capacity;

static void record(int64_t rtt) {
    if (nsamples == capacity) {
        capacity = capacity ? capacity * 2 : 1 << 20;
        samples = realloc(samples, capacity * sizeof *samples);
        if (samples == NULL) {
            perror("echo: samples");
            exit(1);
        }
    }
    samples[nsamples++] = rtt;
}

/* Waits for fd to be ready for events; 0, or -1 with an exception set. */
static int wait_for(int fd, int events) {
    return PyStackless_WaitFd(fd, events, -1) > 0 ? 0 : -1;
}

/* Moves n bytes through fd: writing (out) or reading (!out). 0 or -1. */
static int transfer(int fd, char *p, size_t n, int out) {
    while (n > 0) {
        ssize_t r = out ? write(fd, p, n) : read(fd, p, n);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
        } else if (r < 0 && errno == EAGAIN) {
            if (wait_for(fd, out ? PY_WAIT_WRITE : PY_WAIT_READ) < 0) {
                return -1;
            }
        } else {
            return -1;
        }
    }
    return 0;
}

/* client(): one connection: opens it, waits for the start, then echoes
 * until stop_at. */
static PyObject *client(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    char out[16384], in[16384];
    memset(out, 'x', (size_t)size);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int ok = fd >= 0;
    if (ok && connect(fd, (struct sockaddr *)&server, sizeof server) < 0) {
        int err = 0;
        socklen_t len = sizeof err;
        ok = errno == EINPROGRESS && wait_for(fd, PY_WAIT_WRITE) == 0 &&
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
    open_count++;
    PyObject *v = PyChannel_Receive(go);
    Py_XDECREF(v);
    while (ok && v != NULL && PyStackless_Now() < stop_at) {
        int64_t t0 = PyStackless_Now();
        if (transfer(fd, out, (size_t)size, 1) < 0 || transfer(fd, in, (size_t)size, 0) < 0) {
            ok = 0;
            break;
        }
        record(PyStackless_Now() - t0);
        messages++;
    }
    if (!ok) {
        failures++;
    }
    PyErr_Clear();
    if (fd >= 0) {
        /* Reset, not closed: no TIME_WAIT left behind on either side. */
        struct linger reset = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        close(fd);
    }
    Py_RETURN_NONE;
}

static PyMethodDef client_def = {"client", client, METH_VARARGS, NULL};

/* A field ("VmRSS:", "VmHWM:") of /proc/PID/status in bytes, or -1. */
static long long proc_kb(long pid, const char *field) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    long long kb = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, strlen(field)) == 0) {
            kb = atoll(line + strlen(field));
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kb < 0 ? -1 : kb * 1024;
}

/* The CPU time of process pid so far, all its threads, in ns, or -1. */
static long long cpu_ns(long pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    DIR *tasks = opendir(path);
    if (tasks == NULL) {
        return -1;
    }
    long long total = 0;
    struct dirent *e;
    while ((e = readdir(tasks)) != NULL) {
        char stat[320];
        long long ns;
        snprintf(stat, sizeof stat, "/proc/%ld/task/%s/schedstat", pid, e->d_name);
        FILE *f = e->d_name[0] != '.' ? fopen(stat, "r") : NULL;
        if (f != NULL) {
            if (fscanf(f, "%lld", &ns) == 1) {
                total += ns;
            }
            fclose(f);
        }
    }
    closedir(tasks);
    return total;
}

static int compare(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: echo HOST:PORT CONNECTIONS SECONDS [SIZE [SERVER_PID]]\n");
        return 2;
    }
    char host[64];
    snprintf(host, sizeof host, "%s", argv[1]);
    char *colon = strrchr(host, ':');
    long n = atol(argv[2]);
    double seconds = atof(argv[3]);
    size = argc > 4 ? atoi(argv[4]) : 64;
    long pid = argc > 5 ? atol(argv[5]) : 0;
    if (colon == NULL || n < 1 || seconds <= 0 || size < 1 || size > 16384) {
        fprintf(stderr, "echo: bad arguments\n");
        return 2;
    }
    *colon = '\0';
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &server.sin_addr) != 1) {
        fprintf(stderr, "echo: %s is no IPv4 address\n", host);
        return 2;
    }
    struct rlimit files;
    getrlimit(RLIMIT_NOFILE, &files);
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);

    long long rss_before = pid ? proc_kb(pid, "VmRSS:") : -1;
    go = PyChannel_New(NULL);
    PyObject *func = PyCFunction_New(&client_def, NULL);
    PyObject *noargs = PyTuple_New(0);
    for (long i = 0; i < n; i++) {
        PyTaskletObject *t = PyTasklet_New(NULL, func);
        if (t == NULL || PyTasklet_Setup(t, noargs, NULL) < 0) {
            PyErr_Print();
            return 1;
        }
        Py_DECREF(t);
    }
    /* Every client opens its connection and waits on `go`. */
    while (open_count < n) {
        PyObject *r = PyStackless_RunUntil(PyStackless_Now() + 1000 * 1000);
        Py_XDECREF(r);
    }
    /* One second with every connection open and idle, after one for the
     * server to accept the last ones (a server that hands connections
     * to threads may lag behind the kernel's accept queue). */
    if (PyStackless_Sleep(1000 * 1000 * 1000) < 0) {
        PyErr_Print();
        return 1;
    }
    long long idle_cpu = pid ? cpu_ns(pid) : -1;
    int64_t idle_from = PyStackless_Now();
    if (PyStackless_Sleep(1000 * 1000 * 1000) < 0) {
        PyErr_Print();
        return 1;
    }
    if (idle_cpu >= 0) {
        idle_cpu = (cpu_ns(pid) - idle_cpu) * 1000000000 / (PyStackless_Now() - idle_from);
    }
    int64_t start = PyStackless_Now();
    stop_at = start + (int64_t)(seconds * 1e9);
    for (long i = 0; i < n; i++) {
        PyChannel_Send(go, Py_None);
    }
    PyObject *r = PyStackless_RunUntil(-1);
    Py_XDECREF(r);
    double elapsed = (double)(PyStackless_Now() - start) / 1e9;
    long long hwm = pid ? proc_kb(pid, "VmHWM:") : -1;

    qsort(samples, nsamples, sizeof *samples, compare);
    double p50 = nsamples ? (double)samples[nsamples / 2] / 1e3 : 0;
    double p99 = nsamples ? (double)samples[nsamples * 99 / 100] / 1e3 : 0;
    printf("connections %ld  msgs/s %.0f  p50 %.1f us  p99 %.1f us  server ", n, (double)messages / elapsed,
           p50, p99);
    if (rss_before >= 0 && hwm >= 0) {
        printf("%lld bytes/conn  idle %lld us/s\n", (hwm - rss_before) / n, idle_cpu / 1000);
    } else {
        printf("- bytes/conn  idle - us/s\n");
    }
    if (failures) {
        fprintf(stderr, "echo: %ld of %ld connections failed\n", failures, n);
    }
    Py_DECREF(noargs);
    Py_DECREF(func);
    Py_DECREF(go);
    free(samples);
    PyStackless_Finalize();
    return failures ? 1 : 0;
}
