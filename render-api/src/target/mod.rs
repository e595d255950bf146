//! Target expressions: the tree ([`ast`]) and its parser ([`parser`]).

pub mod ast;
pub mod parser;

pub use ast::{Call, Expr, StrLit, Template};
pub use parser::{parse_target, ParseError};
