//! One module per subcommand.

pub(crate) mod agent;
pub(crate) mod call;
pub(crate) mod options;
pub(crate) mod parse;
pub(crate) mod presence;
pub(crate) mod register;
