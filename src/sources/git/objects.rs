//! The whole history, object by object.
