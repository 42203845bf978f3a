//! Use-case tests: memory adapters for behaviour, mockall mocks where a failure must
//! be injected.
