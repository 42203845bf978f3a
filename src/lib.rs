//! webchat: the application (use cases, front door, wiring).
