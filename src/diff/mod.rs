//! What differs between the desired and the observed ECS state, and what to do about it.
//! Pure: no IO, no AWS calls.
//!
//! ```text
//! desired ─normalize─┐
//!                    ├─► hash / field changes ─► plan (ordered actions, each with a reason)
//! observed ─normalize┘
//! ```

pub mod changes;
pub mod hash;
pub mod normalize;
pub mod observed;
pub mod plan;
