/*
 * Another event loop drives the scheduler: here a plain poll() loop owns
 * the thread, as libuv, asio or a game engine's loop would.
 *
 * The loop watches the scheduler's poll fd (PyStackless_GetPollFd) beside
 * its own fds, sleeps until PyStackless_NextDeadline at the latest, and
 * each time it wakes calls PyStackless_RunUntil(PyStackless_Now()), which
 * runs every tasklet that is ready and returns without waiting. The poll
 * fd becomes readable when a tasklet's fd is ready, a sleeper's deadline
 * has passed, or another thread hands the thread work. The loop runs the
 * scheduler before it sleeps, never only after: tasklets that the thread
 * makes runnable itself (new ones, a channel partner) do not make the poll
 * fd readable.
 *
 * Three tasklets, three kinds of event: a ticker sleeps 30 ms three times;
 * a reader waits on a pipe that the host loop writes to after the second
 * tick; a receiver gets a message that another thread sends at 75 ms. It
 * prints:
 *
 *     host: polling the scheduler's fd
 *     ticker: tick 1
 *     ticker: tick 2
 *     reader: got "a line from the host"
 *     receiver: got "a message from another thread"
 *     ticker: tick 3
 *     host: done, no busy waiting
 *
 * Build and run: make demo
 */
#define _GNU_SOURCE
#include <stackless.h>

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MS ((int64_t)1000 * 1000)
#define TICK_MS 30
#define MESSAGE_AT_MS 75
/* At most this many wake-ups of the host loop for the six events above,
 * with room for a spurious one: a busy-waiting loop makes thousands. */
#define MAX_WAKES 12

static int pipe_fds[2];
static PyChannelObject *messages;
static int ticks, ended;

static PyObject *ticker(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (int i = 1; i <= 3; i++) {
        if (PyStackless_Sleep(TICK_MS * MS) < 0) {
            return NULL;
        }
        ticks = i;
        printf("ticker: tick %d\n", i);
    }
    ended++;
    Py_RETURN_NONE;
}

static PyObject *reader(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    if (PyStackless_WaitFd(pipe_fds[0], PY_WAIT_READ, -1) < 0) {
        return NULL;
    }
    char line[64];
    ssize_t n = read(pipe_fds[0], line, sizeof line - 1);
    line[n > 0 ? n : 0] = '\0';
    printf("reader: got \"%s\"\n", line);
    ended++;
    Py_RETURN_NONE;
}

static PyObject *receiver(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *v = PyChannel_Receive(messages);
    if (v == NULL) {
        return NULL;
    }
    printf("receiver: got \"%s\"\n", PyUnicode_AsUTF8(v));
    Py_DECREF(v);
    ended++;
    Py_RETURN_NONE;
}

/* Another thread: sends a message to the receiver at MESSAGE_AT_MS. */
static void *sender(void *start) {
    int64_t at = *(int64_t *)start + MESSAGE_AT_MS * MS;
    struct timespec ts = {(time_t)(at / 1000000000), (long)(at % 1000000000)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    PyObject *v = PyUnicode_FromString("a message from another thread");
    if (PyChannel_Send(messages, v) < 0) {
        PyErr_Print();
    }
    Py_DECREF(v);
    PyStackless_Finalize();
    return NULL;
}

static PyMethodDef defs[] = {
    {"ticker", ticker, METH_VARARGS, NULL},
    {"reader", reader, METH_VARARGS, NULL},
    {"receiver", receiver, METH_VARARGS, NULL},
};

int main(void) {
    if (pipe(pipe_fds) < 0) {
        perror("pipe");
        return 1;
    }
    messages = PyChannel_New(NULL);
    PyObject *noargs = PyTuple_New(0);
    PyTaskletObject *tasklets[3];
    for (int i = 0; i < 3; i++) {
        PyObject *f = PyCFunction_New(&defs[i], NULL);
        tasklets[i] = PyTasklet_New(NULL, f);
        PyTasklet_Setup(tasklets[i], noargs, NULL);
        Py_DECREF(f);
    }
    int64_t start = PyStackless_Now();
    pthread_t thread;
    pthread_create(&thread, NULL, sender, &start);

    printf("host: polling the scheduler's fd\n");
    struct pollfd fds[1] = {{PyStackless_GetPollFd(), POLLIN, 0}};
    int wakes = 0, wrote = 0;
    for (;;) {
        PyObject *r = PyStackless_RunUntil(PyStackless_Now());
        if (r == NULL) {
            PyErr_Print();
            break;
        }
        Py_DECREF(r);
        if (ended == 3) {
            break;
        }
        if (ticks == 2 && !wrote) {
            /* The host's own business: it writes to the reader's pipe. */
            const char *line = "a line from the host";
            wrote = write(pipe_fds[1], line, strlen(line)) > 0;
        }
        int64_t next = PyStackless_NextDeadline();
        int timeout = -1;
        if (next >= 0) {
            int64_t wait = next - PyStackless_Now();
            timeout = wait > 0 ? (int)((wait + MS - 1) / MS) : 0;
        }
        poll(fds, 1, timeout);
        wakes++;
    }
    printf("host: done, %s\n", wakes <= MAX_WAKES ? "no busy waiting" : "too many wake-ups");
    pthread_join(thread, NULL);
    for (int i = 0; i < 3; i++) {
        Py_DECREF(tasklets[i]);
    }
    Py_DECREF(noargs);
    Py_DECREF(messages);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    PyStackless_Finalize();
    return 0;
}
