//! The runnables ring of one thread (SPEC §3.1): an intrusive circular
//! list through links that live in the tasklets themselves, so that linking
//! and unlinking allocate nothing. The head is the current tasklet; FIFO
//! order is "append before the head".
//!
//! A `RunQueue` belongs to one thread (it is `!Sync`: its fields are
//! `Cell`s), and so do the links of its members.

use core::cell::Cell;
use core::ptr::null_mut;

/// The ring links of a node; both NULL while it is in no ring.
pub(crate) struct Links<T> {
    next: Cell<*mut T>,
    prev: Cell<*mut T>,
}

impl<T> Links<T> {
    /// Unlinked.
    pub(crate) const fn new() -> Links<T> {
        Links {
            next: Cell::new(null_mut()),
            prev: Cell::new(null_mut()),
        }
    }

    /// The following node, NULL when unlinked.
    pub(crate) fn next(&self) -> *mut T {
        self.next.get()
    }

    /// The preceding node, NULL when unlinked.
    pub(crate) fn prev(&self) -> *mut T {
        self.prev.get()
    }

    /// Whether the node is in a ring.
    pub(crate) fn is_linked(&self) -> bool {
        !self.next.get().is_null()
    }
}

/// A node of a ring.
pub(crate) trait Linked: Sized {
    /// The node's links.
    fn links(&self) -> &Links<Self>;
}

/// A ring of nodes with a head. (Its owner counts the members.)
pub(crate) struct RunQueue<T: Linked> {
    head: Cell<*mut T>,
}

/// The links of a node.
///
/// # Safety
/// `t` must point to a live node whose links belong to the calling thread.
unsafe fn links<'a, T: Linked>(t: *mut T) -> &'a Links<T> {
    // SAFETY: per the contract.
    unsafe { (*t).links() }
}

impl<T: Linked> RunQueue<T> {
    /// An empty ring.
    pub(crate) const fn new() -> RunQueue<T> {
        RunQueue {
            head: Cell::new(null_mut()),
        }
    }

    /// The head (NULL when empty).
    pub(crate) fn head(&self) -> *mut T {
        self.head.get()
    }

    /// Rotates the ring so that `t`, a member, is the head.
    pub(crate) fn set_head(&self, t: *mut T) {
        self.head.set(t);
    }

    /// Links `t` just before `at` (at the tail when `at` is the head; as the
    /// only node and head when the ring is empty).
    ///
    /// # Safety
    /// `t` must be a live, unlinked node and `at` NULL (empty ring) or a
    /// member; both owned by the calling thread.
    pub(crate) unsafe fn link_before(&self, at: *mut T, t: *mut T) {
        // SAFETY: per the contract, both nodes are live and ours.
        unsafe {
            let lt = links(t);
            debug_assert!(!lt.is_linked());
            if at.is_null() {
                debug_assert!(self.head.get().is_null());
                lt.next.set(t);
                lt.prev.set(t);
                self.head.set(t);
            } else {
                let la = links(at);
                let before = la.prev.get();
                lt.next.set(at);
                lt.prev.set(before);
                links(before).next.set(t);
                la.prev.set(t);
            }
        }
    }

    /// Appends `t` at the tail.
    ///
    /// # Safety
    /// As [`RunQueue::link_before`].
    pub(crate) unsafe fn push_back(&self, t: *mut T) {
        // SAFETY: the head is NULL or a member.
        unsafe { self.link_before(self.head.get(), t) }
    }

    /// Links `t` right after `at`, a member.
    ///
    /// # Safety
    /// As [`RunQueue::link_before`]; `at` must be a member.
    pub(crate) unsafe fn link_after(&self, at: *mut T, t: *mut T) {
        // SAFETY: `at` is a member, so its successor is one too.
        unsafe { self.link_before(links(at).next.get(), t) }
    }

    /// Unlinks `t`, a member. Removing the head makes its successor the
    /// head.
    ///
    /// # Safety
    /// `t` must be a live member of this ring.
    pub(crate) unsafe fn remove(&self, t: *mut T) {
        // SAFETY: `t` and its neighbours are live members.
        unsafe {
            let lt = links(t);
            debug_assert!(lt.is_linked());
            let (next, prev) = (lt.next.get(), lt.prev.get());
            if next == t {
                self.head.set(null_mut());
            } else {
                links(prev).next.set(next);
                links(next).prev.set(prev);
                if self.head.get() == t {
                    self.head.set(next);
                }
            }
            lt.next.set(null_mut());
            lt.prev.set(null_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Node {
        id: u32,
        links: Links<Node>,
    }

    impl Linked for Node {
        fn links(&self) -> &Links<Node> {
            &self.links
        }
    }

    fn nodes(n: u32) -> Vec<*mut Node> {
        (0..n)
            .map(|id| {
                Box::into_raw(Box::new(Node {
                    id,
                    links: Links::new(),
                }))
            })
            .collect()
    }

    fn free(nodes: Vec<*mut Node>) {
        for n in nodes {
            // SAFETY: made by Box::into_raw in `nodes`.
            drop(unsafe { Box::from_raw(n) });
        }
    }

    /// The ids from the head around the ring.
    fn order(q: &RunQueue<Node>) -> Vec<u32> {
        let mut out = Vec::new();
        let head = q.head();
        let mut t = head;
        while !t.is_null() {
            // SAFETY: members are live.
            unsafe {
                out.push((*t).id);
                t = (*t).links.next();
            }
            if t == head {
                break;
            }
        }
        out
    }

    #[test]
    fn push_back_is_fifo_and_head_is_the_first() {
        let n = nodes(3);
        let q: RunQueue<Node> = RunQueue::new();
        assert!(q.head().is_null());
        // SAFETY: fresh, unlinked nodes.
        unsafe {
            for &t in &n {
                q.push_back(t);
            }
        }
        assert_eq!(order(&q), [0, 1, 2]);
        free(n);
    }

    #[test]
    fn removing_the_head_makes_its_successor_the_head() {
        let n = nodes(3);
        let q: RunQueue<Node> = RunQueue::new();
        // SAFETY: fresh nodes, then members.
        unsafe {
            for &t in &n {
                q.push_back(t);
            }
            q.remove(n[0]);
            assert!(!(*n[0]).links.is_linked());
        }
        assert_eq!(order(&q), [1, 2]);
        // SAFETY: members.
        unsafe {
            q.remove(n[2]);
            q.remove(n[1]);
        }
        assert!(q.head().is_null());
        free(n);
    }

    #[test]
    fn link_after_and_rotation() {
        let n = nodes(4);
        let q: RunQueue<Node> = RunQueue::new();
        // SAFETY: fresh nodes, then members.
        unsafe {
            q.push_back(n[0]);
            q.push_back(n[1]);
            q.link_after(n[0], n[2]);
            assert_eq!(order(&q), [0, 2, 1]);
            q.set_head(n[1]);
            assert_eq!(order(&q), [1, 0, 2]);
            // Appending goes before the head: at the tail of the new order.
            q.push_back(n[3]);
        }
        assert_eq!(order(&q), [1, 0, 2, 3]);
        free(n);
    }
}
