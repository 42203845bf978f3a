//! The container deployment in docker/, checked as text (no Docker engine needed):
//! each test guards one property the compose stack or the image depends on.

mod build_inputs;
mod cluster;
mod compose;
mod dockerfile;
mod proxy;
mod support;
