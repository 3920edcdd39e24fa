/*
 * A fixed-rate game loop: entities are tasklets that wait for frames.
 *
 * The main loop runs at 60 frames per second. Each frame it computes when
 * the frame ends and calls PyStackless_RunUntil(frame_end): every entity
 * whose time has come runs, then the thread sleeps until the frame is over.
 * An entity is written as a plain script ("walk, wait two frames, walk
 * again") instead of a state machine updated every frame: it sleeps with
 * PyStackless_SleepUntil until the frame it wants.
 *
 * Two entities talk over a channel: the door waits for the lever with
 * PyChannel_ReceiveUntil, which gives up at its deadline (TimeoutError) on
 * frame 4, then waits on without one; the lever sends it an event on
 * frame 8.
 *
 * Every entity wakes at a frame boundary and prints the frame it woke for,
 * never a time, and no two entities wake at the same boundary, so the
 * trace is the same on every run: timers fire in deadline order, also when
 * the loop runs late (unless it falls whole frames behind). It prints:
 *
 *     frame  1: player steps to x=1
 *     frame  2: enemy steps to x=1
 *     frame  3: player steps to x=2
 *     frame  4: door: nobody pulled the lever yet, waiting on
 *     frame  5: player steps to x=3
 *     frame  6: enemy steps to x=2
 *     frame  7: player steps to x=4
 *     frame  8: lever pulled
 *     frame  8: door opens (the lever was pulled)
 *     frame  9: player steps to x=5
 *     frame 10: enemy steps to x=3
 *     main: 10 frames, 0 entities still alive
 *
 * Build and run: make demo
 */
#include <stackless.h>
#include <stdint.h>
#include <stdio.h>

#define FRAMES 10
#define FRAME_NS (1000000000 / 60)
#define DOOR_PATIENCE 4 /* the door waits for the lever until frame 4 */
#define LEVER_FRAME 8

static int64_t start;                /* when frame 1 begins */
static PyChannelObject *door_events; /* lever -> door */

/* When frame `frame` (1, 2, ...) begins; frame f ends when f + 1 begins. */
static int64_t frame_start(long frame) {
    return start + (frame - 1) * (int64_t)FRAME_NS;
}

/* Sleeps until frame `frame` begins. 0, or -1 with an exception set. */
static int wait_for_frame(long frame) {
    return PyStackless_SleepUntil(frame_start(frame));
}

/* walker(name, first, every): walks one step on frames first, first +
 * every, ... up to the last frame. */
static PyObject *walker(PyObject *self, PyObject *args) {
    (void)self;
    const char *name = PyUnicode_AsUTF8(PyTuple_GetItem(args, 0));
    long first = PyLong_AsLong(PyTuple_GetItem(args, 1));
    long every = PyLong_AsLong(PyTuple_GetItem(args, 2));
    long x = 0;
    for (long frame = first; frame <= FRAMES; frame += every) {
        if (wait_for_frame(frame) < 0) {
            return NULL;
        }
        printf("frame %2ld: %s steps to x=%ld\n", frame, name, ++x);
    }
    Py_RETURN_NONE;
}

/* Waits for a lever event until frame `until` begins (-1: no deadline).
 * Returns the frame the lever was pulled on, 0 when the deadline passed
 * first, -1 on an error. */
static long wait_for_lever(long until) {
    int64_t deadline = until < 0 ? -1 : frame_start(until);
    PyObject *event = PyChannel_ReceiveUntil(door_events, deadline);
    if (event == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_TimeoutError)) {
            return -1;
        }
        PyErr_Clear();
        return 0;
    }
    long frame = PyLong_AsLong(event);
    Py_DECREF(event);
    return frame;
}

/* door(): waits for the lever until frame DOOR_PATIENCE begins, then
 * without a deadline. */
static PyObject *door(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    long pulled = wait_for_lever(DOOR_PATIENCE);
    if (pulled == 0) {
        printf("frame %2d: door: nobody pulled the lever yet, waiting on\n", DOOR_PATIENCE);
        pulled = wait_for_lever(-1);
    }
    if (pulled < 0) {
        return NULL;
    }
    printf("frame %2ld: door opens (the lever was pulled)\n", pulled);
    Py_RETURN_NONE;
}

/* lever(): pulled on frame LEVER_FRAME; sends the frame number to the
 * door, which runs at once (the channel's preference is the receiver). */
static PyObject *lever(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    if (wait_for_frame(LEVER_FRAME) < 0) {
        return NULL;
    }
    printf("frame %2d: lever pulled\n", LEVER_FRAME);
    PyObject *event = PyLong_FromLong(LEVER_FRAME);
    if (event == NULL) {
        return NULL;
    }
    int rc = PyChannel_Send(door_events, event);
    Py_DECREF(event);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef walker_def = {"walker", walker, METH_VARARGS, NULL};
static PyMethodDef door_def = {"door", door, METH_VARARGS, NULL};
static PyMethodDef lever_def = {"lever", lever, METH_VARARGS, NULL};

/* The entities, kept to check at the end that each has finished. */
enum { ENTITIES = 4 };
static PyTaskletObject *entities[ENTITIES];

/* Starts entity `i`, a tasklet running def's function with `args` (a new
 * reference, stolen; NULL when building it failed). */
static int spawn(int i, PyMethodDef *def, PyObject *args) {
    PyObject *func = args == NULL ? NULL : PyCFunction_New(def, NULL);
    entities[i] = func == NULL ? NULL : PyTasklet_New(NULL, func);
    int rc = entities[i] == NULL ? -1 : PyTasklet_Setup(entities[i], args, NULL);
    Py_XDECREF(func);
    Py_XDECREF(args);
    return rc;
}

/* The main tasklet: the frame loop. */
static PyObject *game(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    start = PyStackless_Now();
    if (spawn(0, &walker_def, Py_BuildValue("(sll)", "player", 1L, 2L)) < 0 ||
        spawn(1, &walker_def, Py_BuildValue("(sll)", "enemy", 2L, 4L)) < 0 ||
        spawn(2, &door_def, Py_BuildValue("()")) < 0 || spawn(3, &lever_def, Py_BuildValue("()")) < 0) {
        return NULL;
    }
    for (long frame = 1; frame <= FRAMES; frame++) {
        int64_t frame_end = start + frame * (int64_t)FRAME_NS;
        /* Update: runs every entity due in this frame and sleeps until
         * frame_end. It returns early once no entity is left to wait for;
         * the loop keeps its rate anyway (main may sleep too). */
        PyObject *r = PyStackless_RunUntil(frame_end);
        if (r == NULL) {
            return NULL;
        }
        Py_DECREF(r);
        if (PyStackless_Now() < frame_end && PyStackless_SleepUntil(frame_end) < 0) {
            return NULL;
        }
        /* Render would go here. */
    }
    int alive = 0;
    for (int i = 0; i < ENTITIES; i++) {
        alive += PyTasklet_Alive(entities[i]);
    }
    printf("main: %d frames, %d entities still alive\n", FRAMES, alive);
    Py_RETURN_NONE;
}

static PyMethodDef game_def = {"game", game, METH_VARARGS, NULL};

int main(void) {
    door_events = PyChannel_New(NULL);
    PyObject *func = PyCFunction_New(&game_def, NULL);
    PyObject *result = PyStackless_Call_Main(func, NULL, NULL);
    Py_DECREF(func);
    int status = 0;
    if (result == NULL) {
        PyErr_Print();
        status = 1;
    } else {
        Py_DECREF(result);
    }
    for (int i = 0; i < ENTITIES; i++) {
        Py_XDECREF(entities[i]);
    }
    Py_DECREF(door_events);
    /* Kills whatever is left and releases the scheduler of this thread. */
    PyStackless_Finalize();
    return status;
}
