//! Run-time wrap-once for function values: hooks, handlers, callbacks.
//!
//! `#[instrument_once]` covers functions known at compile time. Function
//! values that live in slots and tables at run time — a driver's
//! `register_type` hook, a middleware list, a panic hook — are wrapped at run
//! time, and that is where the incident behind this crate happened: an
//! integration re-applied its wrapper on every new connection, and its
//! "already wrapped?" check looked at the wrapper's *type*, which a library
//! upgrade changed. One more layer per connection followed, until the stack
//! ran out.
//!
//! A [`HookSlot`] answers "already wrapped?" by **key**, from its own list of
//! layers, never from the value's type:
//!
//! * [`HookSlot::wrap_once`] adds a layer only if no layer with that key is
//!   present (otherwise it returns the existing one);
//!   [`HookSlot::try_wrap`] returns [`AlreadyWrapped`] instead, naming who
//!   wrapped it, where and when.
//! * The wrapper is built from the function *beneath it*, captured when the
//!   layer is added; it is never handed the slot, so it cannot call the
//!   slot's current value (itself).
//! * [`HookSlot::unwrap`] removes one layer and rebuilds the chain from the
//!   original; [`HookSlot::original`] and [`HookSlot::is_wrapped`] answer from
//!   the list of layers.
//! * Calls read the current chain without a lock or a reference count: one
//!   atomic load and the dynamic call, and, when the slot has layers, this
//!   thread's announcement (two release stores, plain moves on x86, to a
//!   line only it writes) and
//!   a second load. A slot without layers runs its original, which lives
//!   as long as the slot and needs no announcement. A change is published
//!   whole, so a concurrent call sees the old chain or the new one, never a
//!   mix.
//! * A replaced chain is freed, and the values its layers captured dropped,
//!   once no call can still be inside it (epoch-based reclamation with an
//!   asymmetric barrier, see `reclaim.rs`): memory stays bounded however often a
//!   hook is re-wrapped.
//! * Wrapper factories run without the slot's lock: a factory may call any
//!   method of its own or another slot, and a factory that panics leaves
//!   the slot exactly as it was.
//! * Every slot is listed by [`hooks()`], with its layers, where each was
//!   added and how often each was called.
//!
//! ```
//! use std::sync::{Arc, LazyLock};
//! use instrument_once::hook::HookSlot;
//!
//! static REGISTER_TYPE: LazyLock<HookSlot<u32, u32>> =
//!     LazyLock::new(|| HookSlot::new("driver::register_type", |oid| oid + 1));
//!
//! // An integration patches the hook on every new connection.
//! fn on_connect() {
//!     REGISTER_TYPE.wrap_once("apm::psycopg", |inner| Arc::new(move |oid| inner(oid) * 10));
//! }
//!
//! for _ in 0..1000 {
//!     on_connect();
//! }
//! assert_eq!(REGISTER_TYPE.layers().len(), 1);
//! assert_eq!(REGISTER_TYPE.call(1), 20);
//! ```

mod layer;
#[cfg(all(test, loom))]
mod loom;
mod panic_hook;
mod reclaim;
mod slot;

pub use layer::{hooks, AlreadyWrapped, HookFn, HookLayer, LayerInfo, NotWrapped};
pub use panic_hook::install_panic_hook_once;
pub use slot::HookSlot;
