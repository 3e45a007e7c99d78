//! The credentials Coffre hands out and checks: password hashes and tokens.

pub mod caller;
pub mod password;
pub mod token;
