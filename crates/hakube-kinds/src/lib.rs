//! The built-in Kubernetes kinds as typed values (k8s-openapi): decoding a JSON object into its
//! typed form is how the API server checks field types and finds unknown fields, and encoding
//! it again gives the object in its canonical shape (no nulls, no unknown fields). The same
//! types give the OpenAPI schemas the server publishes.

mod kinds;
mod normalize;
pub mod quantity;
pub mod schemas;
mod unknown_fields;

pub use normalize::{KindError, Normalized, is_typed, normalize};

/// The typed kinds themselves, for code that decides over them (controllers, the scheduler, the
/// node agent): one k8s-openapi version for the whole workspace.
pub use k8s_openapi;
