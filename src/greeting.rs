//! PLACEHOLDER: greeting framing.
