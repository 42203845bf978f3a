//! PostgreSQL repositories.
