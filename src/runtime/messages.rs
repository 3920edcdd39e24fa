//! Every error text of the runtime, verbatim from Stackless (SPEC.md): the
//! tests compare them byte for byte.

pub const NOT_BOUND: &str = "the tasklet was not bound to a function";
pub const ALIVE: &str = "tasklet is alive";
pub const NO_THREAD: &str = "tasklet has no thread";
pub const SCHEDULED: &str = "tasklet is scheduled";
pub const C_STATE: &str = "tasklet has C state on its stack";
pub const REBIND_CURRENT: &str = "can't (re)bind the current tasklet";
pub const UNBIND_MAIN: &str = "can't unbind the main tasklet";
pub const REBIND_RUNNABLE: &str = "can't (re)bind a runnable tasklet";
pub const NOT_CALLABLE: &str = "tasklet function must be a callable or None";
pub const RUN_DEAD: &str = "You cannot run an unbound(dead) tasklet";
pub const RUN_BLOCKED: &str = "You cannot run a blocked tasklet";
pub const REMOVE_CURRENT: &str = "The current tasklet cannot be removed.";
pub const REMOVE_BLOCKED: &str = "You cannot remove a blocked tasklet.";
pub const THROW_DEAD: &str = "You cannot throw to a dead tasklet";
pub const THREAD_UNINITIALIZED: &str = "Target thread isn't initialized";
pub const THREAD_UNINITIALISED: &str = "Target thread isn't initialised";
pub const SWITCH_OTHER_THREAD: &str = "can't switch to a different thread.";
pub const SWITCH_TRAP: &str = "switch_trap";
pub const DEADLOCK: &str = "Deadlock: the last runnable tasklet cannot be blocked.";
pub const MAIN_RECEIVING: &str = "the main tasklet is receiving without a sender available.";
pub const MAIN_SENDING: &str = "the main tasklet is sending without a receiver available.";
pub const RAISE_NEEDS_CLASS: &str =
    "tasklet.raise_exception needs Exception or string subclass as first parameter";
pub const THIRD_ARG_TRACEBACK: &str = "third argument must be a traceback object";
pub const INSTANCE_WITH_VALUE: &str = "instance exception may not have a separate value";
pub const FLAGS_RANGE: &str = "flags must be in [0..255]";
pub const CALL_MAIN_NESTED: &str = "Call_Main cannot run within a main tasklet";
pub const CALL_MAIN_NOT_CALLABLE: &str = "cframe function must be a callable";
pub const SCHEDULE_CALLBACK_NOT_CALLABLE: &str = "schedule callback must be callable";
pub const CHANNEL_CALLBACK_NOT_CALLABLE: &str = "channel callback must be callable";
pub const SCHEDULE_CALLBACK_ERROR: &str = "Error in scheduling callback";
pub const CHANNEL_CALLBACK_ERROR: &str = "Error in channel callback";
pub const RECURSIVE_SCHEDULE: &str = "Recursive scheduler call due to callbacks!";
pub const THREAD_NOT_FOUND: &str = "Thread id not found";
pub const BAD_THREAD: &str = "bad thread";

/// `TypeError` text for an object that is neither an exception class nor an
/// exception instance (`%s` is the type name).
pub fn not_an_exception(type_name: &str) -> String {
    format!("exceptions must be classes, or instances, not {type_name}")
}
pub const FINALIZE_INSIDE: &str = "PyStackless_Finalize must be called outside of a main tasklet";
pub const BLOCK_TRAP: &str = "this tasklet does not like to be blocked.";
pub const CHANNEL_CLOSED: &str = "Send/receive operation on a closed channel";
pub const RECURSIVE_CHANNEL: &str = "Recursive channel call due to callbacks!";
pub const SEND_EXCEPTION_NEEDS_CLASS: &str =
    "channel.send_exception needs Exception or string subclass as first parameter";
pub const CHANNEL_NEW_TYPE: &str = "channel_new: type must be subtype of channel";
/// The end of the line that reports a stack overflow.
pub const RAISE_STACK_SIZE: &str = "raise the stack size with PyStackless_SetStackSize() or the \
STACKLESS_STACK_SIZE environment variable";
pub const ERROR_HANDLER_NOT_CALLABLE: &str = "error handler must be callable";
pub const TEMPVAL_OTHER_THREAD: &str =
    "the tempval of a tasklet scheduled on another thread is that thread's";
/// libstackless's own: `PyStackless_Tick` with a negative count.
pub const TICKS_NEGATIVE: &str = "tick count must not be negative";
/// EXTENSIONS.md §1: a negative deadline other than -1.
pub const INVALID_DEADLINE: &str = "invalid deadline";
/// EXTENSIONS.md §3: a channel operation whose deadline passed first.
pub const TIMED_OUT: &str = "timed out";
/// `PyStackless_Sleep` with a negative length (CPython's `time.sleep`).
pub const SLEEP_NEGATIVE: &str = "sleep length must be non-negative";
/// `PyStackless_WaitFd` with events that are no `PY_WAIT_*` bits.
pub const WAIT_EVENTS: &str = "events must be PY_WAIT_READ, PY_WAIT_WRITE or both";
/// No memory even for the `MemoryError` of a timed-out channel operation.
pub const NO_MEMORY_FOR_TIMEOUT: &str =
    "out of memory: a timed-out channel operation can neither fail nor succeed";
