//! One module per subcommand.

pub(crate) mod options;
pub(crate) mod parse;
