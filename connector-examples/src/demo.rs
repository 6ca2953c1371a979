//! The month-end story the `period_close` example tells.
