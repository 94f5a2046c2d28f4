//! The `tasbvec` (f32) and `tasbhalf` (f16) types: one varlena layout, two element types.

pub mod arrays;
pub mod casts;
pub mod io;
pub mod oids;
pub mod typmod;
pub mod varlena;

pub use varlena::OwnedVec;

pgrx::extension_sql!(
    "CREATE TYPE tasbvec;\nCREATE TYPE tasbhalf;",
    name = "shell_types",
    bootstrap
);
