//! The `ctl` word as stored: the bits a ready, enabled call needs set are
//! kept inverted, so the hot path's check is one `test` of the loaded word
//! against a mask (all clear: go on), not a copy, a `not` and a `test`.
//!
//! Everything outside this file sees the logical word ([`Site`]'s bit
//! constants, set meaning yes); [`Ctl`] translates at each access (an
//! `xor` with a constant). The hot path does not translate: it asks
//! [`Loaded`], which answers on the stored bits. (Given the logical word,
//! the compiler kept it in a register for the index and tested a copy of
//! it, which is what this saves.)

use std::sync::atomic::{AtomicU32, Ordering};

use super::Site;

/// The bits stored inverted: those that the ready check of an enabled
/// call ([`Loaded::ready_on`]) wants all set.
const INVERTED: u32 = Site::REGISTERED | Site::ENABLED | Site::CALLED;

/// The logical bits of the ready check of a switched-off call
/// ([`Loaded::ready_off`]), and the values it wants.
const READY_OFF_MASK: u32 = Site::REGISTERED | Site::ENABLED | Site::CALLED_OFF;
const READY_OFF: u32 = Site::REGISTERED | Site::CALLED_OFF;

// The registry index starts above every flag, so it is stored as is.
const _: () = assert!(INVERTED >> Site::INDEX_SHIFT == 0);

/// A site's `ctl` word (see the [module documentation](self)).
pub(crate) struct Ctl(AtomicU32);

impl Ctl {
    /// A word with every flag clear and index 0.
    pub(crate) const fn new() -> Ctl {
        Ctl(AtomicU32::new(INVERTED))
    }

    /// The logical word.
    #[inline]
    pub(crate) fn load(&self, order: Ordering) -> u32 {
        self.0.load(order) ^ INVERTED
    }

    /// The word as stored, for the hot path's checks.
    #[inline]
    pub(crate) fn load_for_call(&self, order: Ordering) -> Loaded {
        Loaded(self.0.load(order))
    }

    /// Stores the logical word `ctl`.
    pub(crate) fn store(&self, ctl: u32, order: Ordering) {
        self.0.store(ctl ^ INVERTED, order);
    }

    /// Sets the flags `bits` (relaxed). Callers pass constants: the
    /// branches fold, and a single flag is one atomic operation (a mask
    /// mixing stored-inverted and plain flags is two).
    pub(crate) fn set(&self, bits: u32) {
        debug_assert!(bits >> Site::INDEX_SHIFT == 0, "flags only");
        if bits & INVERTED != 0 {
            self.0.fetch_and(!(bits & INVERTED), Ordering::Relaxed);
        }
        if bits & !INVERTED != 0 {
            self.0.fetch_or(bits & !INVERTED, Ordering::Relaxed);
        }
    }

    /// Clears the flags `bits` (relaxed; see [`Ctl::set`]).
    pub(crate) fn clear(&self, bits: u32) {
        debug_assert!(bits >> Site::INDEX_SHIFT == 0, "flags only");
        if bits & INVERTED != 0 {
            self.0.fetch_or(bits & INVERTED, Ordering::Relaxed);
        }
        if bits & !INVERTED != 0 {
            self.0.fetch_and(!(bits & !INVERTED), Ordering::Relaxed);
        }
    }

    /// [`AtomicU32::compare_exchange`] on logical words.
    pub(crate) fn compare_exchange(
        &self,
        current: u32,
        new: u32,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u32, u32> {
        self.0
            .compare_exchange(current ^ INVERTED, new ^ INVERTED, success, failure)
            .map(|raw| raw ^ INVERTED)
            .map_err(|raw| raw ^ INVERTED)
    }
}

/// A `ctl` word as stored, as a call loaded it: what the hot path asks of
/// it, answered on the stored bits (one `test` for [`Loaded::ready_on`]).
#[derive(Clone, Copy)]
pub(crate) struct Loaded(u32);

impl Loaded {
    /// The stored form of the logical word `ctl`.
    #[inline]
    pub(crate) fn of(ctl: u32) -> Loaded {
        Loaded(ctl ^ INVERTED)
    }

    /// Registered and enabled, and an enabled call was noted before: the
    /// call goes on, knowing the site is enabled.
    #[inline]
    pub(crate) fn ready_on(self) -> bool {
        self.0 & INVERTED == 0
    }

    /// Registered and switched off, and a call while off was noted before.
    /// (A word ready neither way takes the slow path.)
    #[inline]
    pub(crate) fn ready_off(self) -> bool {
        (self.0 ^ INVERTED) & READY_OFF_MASK == READY_OFF
    }

    /// The site's registry index.
    #[inline]
    pub(crate) fn index(self) -> u32 {
        self.0 >> Site::INDEX_SHIFT
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_new_word_reads_as_all_clear() {
        assert_eq!(Ctl::new().load(Ordering::Relaxed), 0);
    }

    #[test]
    fn every_flag_is_set_and_cleared_alone() {
        let flags = [
            Site::REGISTERED,
            Site::REGISTERING,
            Site::ENABLED,
            Site::CALLED,
            Site::FILTERED,
            Site::CALLED_OFF,
        ];
        for bit in flags {
            let ctl = Ctl::new();
            ctl.store(7 << Site::INDEX_SHIFT, Ordering::Relaxed);
            ctl.set(bit);
            assert_eq!(ctl.load(Ordering::Relaxed), 7 << Site::INDEX_SHIFT | bit);
            ctl.set(bit);
            assert_eq!(ctl.load(Ordering::Relaxed), 7 << Site::INDEX_SHIFT | bit);
            ctl.clear(bit);
            assert_eq!(ctl.load(Ordering::Relaxed), 7 << Site::INDEX_SHIFT);
        }
    }

    /// A mask of flags stored both ways is set and cleared whole.
    #[test]
    fn a_mask_of_mixed_flags_is_set_and_cleared() {
        let mixed = Site::ENABLED | Site::FILTERED | Site::CALLED_OFF;
        let ctl = Ctl::new();
        ctl.store(Site::REGISTERED, Ordering::Relaxed);
        ctl.set(mixed);
        assert_eq!(ctl.load(Ordering::Relaxed), Site::REGISTERED | mixed);
        ctl.clear(mixed);
        assert_eq!(ctl.load(Ordering::Relaxed), Site::REGISTERED);
    }

    #[test]
    fn compare_exchange_compares_and_answers_logical_words() {
        let ctl = Ctl::new();
        assert_eq!(
            ctl.compare_exchange(0, Site::REGISTERING, Ordering::Relaxed, Ordering::Relaxed),
            Ok(0)
        );
        let registered = Site::REGISTERED | Site::ENABLED | 3 << Site::INDEX_SHIFT;
        assert_eq!(
            ctl.compare_exchange(0, registered, Ordering::Relaxed, Ordering::Relaxed),
            Err(Site::REGISTERING)
        );
        ctl.store(registered, Ordering::Relaxed);
        assert_eq!(
            ctl.compare_exchange(0, 0, Ordering::Relaxed, Ordering::Relaxed),
            Err(registered)
        );
    }

    /// The ready checks on the stored word against their logical meaning,
    /// for every combination of the flags, at a few indices.
    #[test]
    fn the_ready_checks_mean_what_they_say_for_every_word() {
        for flags in 0..1u32 << 6 {
            for index in [0, 1, 0x12_3456, Site::INDEX_MAX] {
                let logical = flags | index << Site::INDEX_SHIFT;
                let ctl = Ctl::new();
                ctl.store(logical, Ordering::Relaxed);
                let loaded = ctl.load_for_call(Ordering::Relaxed);
                let has = |bit: u32| logical & bit != 0;
                assert_eq!(
                    loaded.ready_on(),
                    has(Site::REGISTERED) && has(Site::ENABLED) && has(Site::CALLED),
                    "{logical:#x}"
                );
                assert_eq!(
                    loaded.ready_off(),
                    has(Site::REGISTERED) && !has(Site::ENABLED) && has(Site::CALLED_OFF),
                    "{logical:#x}"
                );
                assert_eq!(loaded.index(), index);
                assert_eq!(Loaded::of(logical).0, loaded.0);
            }
        }
    }

    /// What the hot path relies on: the enabled call's check is all clear
    /// in the stored word.
    #[test]
    fn the_ready_check_is_all_clear_in_the_stored_word() {
        let ctl = Ctl::new();
        ctl.store(
            Site::REGISTERED | Site::ENABLED | Site::CALLED,
            Ordering::Relaxed,
        );
        assert_eq!(ctl.0.load(Ordering::Relaxed) & INVERTED, 0);
        ctl.clear(Site::ENABLED);
        assert_ne!(ctl.0.load(Ordering::Relaxed) & INVERTED, 0);
    }
}
