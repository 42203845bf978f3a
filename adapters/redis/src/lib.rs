//! Redis adapters.
