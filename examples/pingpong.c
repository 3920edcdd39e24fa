/*
 * Ping-pong: two tasklets bounce a ball over two channels, in the style of
 * the Stackless examples. Each hit prints a line; after five rounds the
 * ping player sends None, which ends the game.
 *
 * Build: cc -Iinclude examples/pingpong.c -Ltarget/release -lstackless
 */
#include <stackless.h>

#include <stdio.h>

static PyChannelObject *to_ping, *to_pong;

/* A player: receives the ball on `in`, prints, sends it back on `out`. The
 * server (ping) starts the game and ends it after `rounds`. */
static PyObject *player(PyObject *self, PyObject *args) {
    (void)self;
    const char *name = PyUnicode_AsUTF8(PyTuple_GetItem(args, 0));
    int server = PyLong_AsLong(PyTuple_GetItem(args, 1)) != 0;
    PyChannelObject *in = server ? to_ping : to_pong;
    PyChannelObject *out = server ? to_pong : to_ping;
    long rounds = 5;
    if (server) {
        PyObject *ball = PyLong_FromLong(1);
        int rc = PyChannel_Send(out, ball);
        Py_DECREF(ball);
        if (rc < 0) {
            return NULL;
        }
    }
    for (;;) {
        PyObject *ball = PyChannel_Receive(in);
        if (ball == NULL) {
            return NULL;
        }
        if (ball == Py_None) {
            Py_DECREF(ball);
            printf("%s: game over\n", name);
            Py_RETURN_NONE;
        }
        long hit = PyLong_AsLong(ball);
        Py_DECREF(ball);
        printf("%s %ld\n", name, hit);
        PyObject *next = server && hit / 2 + 1 > rounds ? (Py_INCREF(Py_None), Py_None)
                                                       : PyLong_FromLong(hit + 1);
        int rc = PyChannel_Send(out, next);
        int over = next == Py_None;
        Py_DECREF(next);
        if (rc < 0) {
            return NULL;
        }
        if (over) {
            printf("%s: game over\n", name);
            Py_RETURN_NONE;
        }
    }
}

static PyMethodDef player_def = {"player", player, METH_VARARGS, NULL};

static PyObject *game(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *func = PyCFunction_New(&player_def, NULL);
    const char *names[2] = {"pong", "ping"};
    for (int server = 0; server < 2; server++) {
        PyTaskletObject *t = PyTasklet_New(NULL, func);
        PyObject *targs = Py_BuildValue("(si)", names[server], server);
        int rc = PyTasklet_Setup(t, targs, NULL);
        Py_DECREF(targs);
        Py_DECREF(t);
        if (rc < 0) {
            Py_DECREF(func);
            return NULL;
        }
    }
    Py_DECREF(func);
    return PyStackless_RunWatchdog(0);
}

int main(void) {
    to_ping = PyChannel_New(NULL);
    to_pong = PyChannel_New(NULL);
    static PyMethodDef game_def = {"game", game, METH_VARARGS, NULL};
    PyObject *func = PyCFunction_New(&game_def, NULL);
    PyObject *result = PyStackless_Call_Main(func, NULL, NULL);
    Py_DECREF(func);
    int status = result == NULL;
    if (status) {
        PyErr_Print();
    }
    Py_XDECREF(result);
    Py_DECREF(to_ping);
    Py_DECREF(to_pong);
    PyStackless_Finalize();
    return status;
}
