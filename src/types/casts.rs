//! Casts: typmod coercion, tasbvec <-> tasbhalf, and numeric arrays <-> vectors.

use super::arrays::ArrayArg;
use super::io::{checked_from_f32s, checked_vector, raise_element_error};
use super::varlena::{Element, OwnedVec, VecArg};
use pgrx::prelude::*;
use tasb_vecmath::f16;

fn from_f64s<T: Element>(values: &[f64], typmod: i32) -> OwnedVec<T> {
    let converted = T::from_f64s(values).unwrap_or_else(|e| raise_element_error::<T>(&e));
    checked_vector(&converted, typmod)
}

fn widen<T: Element>(v: &VecArg<T>) -> Vec<f32> {
    v.as_slice().iter().map(|e| e.to_f32()).collect()
}

#[pg_extern(immutable, parallel_safe, strict, name = "tasbvec", requires = ["vector_types"])]
fn tasbvec_typmod_coerce(v: VecArg<f32>, typmod: i32, _explicit: bool) -> OwnedVec<f32> {
    checked_vector(v.as_slice(), typmod)
}

#[pg_extern(immutable, parallel_safe, strict, name = "tasbhalf", requires = ["vector_types"])]
fn tasbhalf_typmod_coerce(v: VecArg<f16>, typmod: i32, _explicit: bool) -> OwnedVec<f16> {
    checked_vector(v.as_slice(), typmod)
}

#[pg_extern(immutable, parallel_safe, strict, requires = ["vector_types"])]
fn tasbvec_to_tasbhalf(v: VecArg<f32>, typmod: i32, _explicit: bool) -> OwnedVec<f16> {
    checked_from_f32s(v.as_slice(), typmod)
}

#[pg_extern(immutable, parallel_safe, strict, requires = ["vector_types"])]
fn tasbhalf_to_tasbvec(v: VecArg<f16>, typmod: i32, _explicit: bool) -> OwnedVec<f32> {
    checked_from_f32s(&widen(&v), typmod)
}

#[pg_extern(immutable, parallel_safe, strict, name = "array_to_tasbvec", requires = ["vector_types"])]
fn real_array_to_tasbvec(a: ArrayArg<f32>, typmod: i32, _explicit: bool) -> OwnedVec<f32> {
    checked_from_f32s(a.as_slice(), typmod)
}

#[pg_extern(immutable, parallel_safe, strict, name = "array_to_tasbvec", requires = ["vector_types"])]
fn double_array_to_tasbvec(a: ArrayArg<f64>, typmod: i32, _explicit: bool) -> OwnedVec<f32> {
    from_f64s(a.as_slice(), typmod)
}

#[pg_extern(immutable, parallel_safe, strict, name = "array_to_tasbvec", requires = ["vector_types"])]
fn integer_array_to_tasbvec(a: ArrayArg<i32>, typmod: i32, _explicit: bool) -> OwnedVec<f32> {
    let values: Vec<f32> = a.as_slice().iter().map(|&i| i as f32).collect();
    checked_from_f32s(&values, typmod)
}

#[pg_extern(immutable, parallel_safe, strict, name = "array_to_tasbhalf", requires = ["vector_types"])]
fn real_array_to_tasbhalf(a: ArrayArg<f32>, typmod: i32, _explicit: bool) -> OwnedVec<f16> {
    checked_from_f32s(a.as_slice(), typmod)
}

#[pg_extern(immutable, parallel_safe, strict, name = "array_to_tasbhalf", requires = ["vector_types"])]
fn double_array_to_tasbhalf(a: ArrayArg<f64>, typmod: i32, _explicit: bool) -> OwnedVec<f16> {
    from_f64s(a.as_slice(), typmod)
}

#[pg_extern(immutable, parallel_safe, strict, name = "array_to_tasbhalf", requires = ["vector_types"])]
fn integer_array_to_tasbhalf(a: ArrayArg<i32>, typmod: i32, _explicit: bool) -> OwnedVec<f16> {
    let values: Vec<f32> = a.as_slice().iter().map(|&i| i as f32).collect();
    checked_from_f32s(&values, typmod)
}

#[pg_extern(immutable, parallel_safe, strict, requires = ["vector_types"])]
fn tasbvec_to_float4(v: VecArg<f32>, _typmod: i32, _explicit: bool) -> Vec<f32> {
    v.as_slice().to_vec()
}

#[pg_extern(immutable, parallel_safe, strict, requires = ["vector_types"])]
fn tasbvec_to_float8(v: VecArg<f32>, _typmod: i32, _explicit: bool) -> Vec<f64> {
    v.as_slice().iter().map(|&x| f64::from(x)).collect()
}

#[pg_extern(immutable, parallel_safe, strict, requires = ["vector_types"])]
fn tasbhalf_to_float4(v: VecArg<f16>, _typmod: i32, _explicit: bool) -> Vec<f32> {
    widen(&v)
}

#[pg_extern(immutable, parallel_safe, strict, requires = ["vector_types"])]
fn tasbhalf_to_float8(v: VecArg<f16>, _typmod: i32, _explicit: bool) -> Vec<f64> {
    v.as_slice().iter().map(|&x| x.to_f64()).collect()
}

pgrx::extension_sql!(
    r#"
CREATE CAST (tasbvec AS tasbvec) WITH FUNCTION tasbvec(tasbvec, integer, boolean) AS IMPLICIT;
CREATE CAST (tasbhalf AS tasbhalf) WITH FUNCTION tasbhalf(tasbhalf, integer, boolean) AS IMPLICIT;
CREATE CAST (tasbvec AS tasbhalf) WITH FUNCTION tasbvec_to_tasbhalf(tasbvec, integer, boolean) AS ASSIGNMENT;
CREATE CAST (tasbhalf AS tasbvec) WITH FUNCTION tasbhalf_to_tasbvec(tasbhalf, integer, boolean) AS ASSIGNMENT;
CREATE CAST (real[] AS tasbvec) WITH FUNCTION array_to_tasbvec(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS tasbvec) WITH FUNCTION array_to_tasbvec(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (integer[] AS tasbvec) WITH FUNCTION array_to_tasbvec(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (real[] AS tasbhalf) WITH FUNCTION array_to_tasbhalf(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS tasbhalf) WITH FUNCTION array_to_tasbhalf(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (integer[] AS tasbhalf) WITH FUNCTION array_to_tasbhalf(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (tasbvec AS real[]) WITH FUNCTION tasbvec_to_float4(tasbvec, integer, boolean) AS ASSIGNMENT;
CREATE CAST (tasbvec AS double precision[]) WITH FUNCTION tasbvec_to_float8(tasbvec, integer, boolean) AS ASSIGNMENT;
CREATE CAST (tasbhalf AS real[]) WITH FUNCTION tasbhalf_to_float4(tasbhalf, integer, boolean) AS ASSIGNMENT;
CREATE CAST (tasbhalf AS double precision[]) WITH FUNCTION tasbhalf_to_float8(tasbhalf, integer, boolean) AS ASSIGNMENT;
"#,
    name = "vector_casts",
    requires = [
        tasbvec_typmod_coerce,
        tasbhalf_typmod_coerce,
        tasbvec_to_tasbhalf,
        tasbhalf_to_tasbvec,
        real_array_to_tasbvec,
        double_array_to_tasbvec,
        integer_array_to_tasbvec,
        real_array_to_tasbhalf,
        double_array_to_tasbhalf,
        integer_array_to_tasbhalf,
        tasbvec_to_float4,
        tasbvec_to_float8,
        tasbhalf_to_float4,
        tasbhalf_to_float8
    ]
);
