//! The crate's tests: property tests over every method's wire types, fixed cases for each type's
//! limits, the envelope, and the README's worked examples.

mod envelope;
mod fixed;
mod methods;
mod readme;
