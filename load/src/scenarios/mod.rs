//! One module per subcommand, plus what they share: pacing, socket sets, the REST
//! request engine and reports.

pub mod connect;
pub mod fanout;
mod fanout_report;
#[cfg(test)]
mod fanout_tests;
mod fanout_totals;
pub mod history;
mod pace;
mod rest;
mod rest_report;
pub mod send;
mod sockets;
