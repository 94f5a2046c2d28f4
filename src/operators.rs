//! Distance functions and operators. `<#>` is the negative inner product, so that
//! `ORDER BY emb <#> q` (ascending) ranks the largest dot product first, as in pgvector.

use crate::errors::dimension_mismatch;
use crate::types::varlena::{Element, VecArg};
use pgrx::pg_sys;
use pgrx::prelude::*;
use tasb_vecmath::distance::{self, Elements};
use tasb_vecmath::f16;

#[inline]
fn operands<'a, A: Element, B: Element>(
    a: &VecArg<'a, A>,
    b: &VecArg<'a, B>,
) -> (Elements<'a>, Elements<'a>) {
    if a.dims() != b.dims() {
        dimension_mismatch(a.dims(), b.dims());
    }
    (a.elements(), b.elements())
}

/// Defines one distance function as a raw V1 C function. These run once per row in exact scans,
/// so they skip pgrx's generic argument/return plumbing (a measurable share of the per-row cost)
/// and read their two arguments directly; `#[pg_guard]` still turns panics into ERRORs.
macro_rules! distance_function {
    ($symbol:ident, $finfo:ident, $a:ty, $b:ty, $compute:expr) => {
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static pg_sys::Pg_finfo_record {
            const V1_API: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
            &V1_API
        }

        #[pg_guard]
        #[unsafe(no_mangle)]
        pub unsafe extern "C-unwind" fn $symbol(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
            // SAFETY: the SQL declaration (distance_functions below) makes this STRICT with two
            // arguments of exactly these vector types, so both Datums are non-null and well typed.
            let (a, b) = unsafe {
                (
                    VecArg::<$a>::from_datum_unchecked(pgrx::pg_getarg_datum_raw(fcinfo, 0)),
                    VecArg::<$b>::from_datum_unchecked(pgrx::pg_getarg_datum_raw(fcinfo, 1)),
                )
            };
            let (x, y) = operands(&a, &b);
            let compute: fn(Elements, Elements) -> f64 = $compute;
            // float8 is passed by value on every platform Postgres 15 supports with pgrx (64-bit).
            pg_sys::Datum::from(compute(x, y).to_bits())
        }
    };
}

fn negative_dot(a: Elements, b: Elements) -> f64 {
    -distance::dot(a, b)
}

distance_function!(tasb_ip_vv, pg_finfo_tasb_ip_vv, f32, f32, distance::dot);
distance_function!(tasb_nip_vv, pg_finfo_tasb_nip_vv, f32, f32, negative_dot);
distance_function!(
    tasb_cos_vv,
    pg_finfo_tasb_cos_vv,
    f32,
    f32,
    distance::cosine_distance
);
distance_function!(
    tasb_l2_vv,
    pg_finfo_tasb_l2_vv,
    f32,
    f32,
    distance::l2_distance
);
distance_function!(tasb_ip_hh, pg_finfo_tasb_ip_hh, f16, f16, distance::dot);
distance_function!(tasb_nip_hh, pg_finfo_tasb_nip_hh, f16, f16, negative_dot);
distance_function!(
    tasb_cos_hh,
    pg_finfo_tasb_cos_hh,
    f16,
    f16,
    distance::cosine_distance
);
distance_function!(
    tasb_l2_hh,
    pg_finfo_tasb_l2_hh,
    f16,
    f16,
    distance::l2_distance
);
distance_function!(tasb_ip_vh, pg_finfo_tasb_ip_vh, f32, f16, distance::dot);
distance_function!(tasb_nip_vh, pg_finfo_tasb_nip_vh, f32, f16, negative_dot);
distance_function!(
    tasb_cos_vh,
    pg_finfo_tasb_cos_vh,
    f32,
    f16,
    distance::cosine_distance
);
distance_function!(
    tasb_l2_vh,
    pg_finfo_tasb_l2_vh,
    f32,
    f16,
    distance::l2_distance
);
distance_function!(tasb_ip_hv, pg_finfo_tasb_ip_hv, f16, f32, distance::dot);
distance_function!(tasb_nip_hv, pg_finfo_tasb_nip_hv, f16, f32, negative_dot);
distance_function!(
    tasb_cos_hv,
    pg_finfo_tasb_cos_hv,
    f16,
    f32,
    distance::cosine_distance
);
distance_function!(
    tasb_l2_hv,
    pg_finfo_tasb_l2_hv,
    f16,
    f32,
    distance::l2_distance
);

#[pg_extern(immutable, parallel_safe, strict, name = "vector_dims", requires = ["vector_types"])]
fn tasbvec_dims(v: VecArg<f32>) -> i32 {
    v.dims() as i32
}

#[pg_extern(immutable, parallel_safe, strict, name = "vector_dims", requires = ["vector_types"])]
fn tasbhalf_dims(v: VecArg<f16>) -> i32 {
    v.dims() as i32
}

#[pg_extern(immutable, parallel_safe, strict, name = "vector_norm", requires = ["vector_types"])]
fn tasbvec_norm(v: VecArg<f32>) -> f64 {
    distance::norm(v.elements())
}

#[pg_extern(immutable, parallel_safe, strict, name = "vector_norm", requires = ["vector_types"])]
fn tasbhalf_norm(v: VecArg<f16>) -> f64 {
    distance::norm(v.elements())
}

/// The SIMD instruction set this server uses for distances (diagnostics).
#[pg_extern(parallel_safe)]
fn tasb_simd_kernel() -> &'static str {
    tasb_vecmath::active_kernel_name()
}

// The distance functions and their operators, for every operand pair: (suffix, left, right).
pgrx::extension_sql!(
    r#"
DO $do$
DECLARE
    pair text[];
BEGIN
    FOREACH pair SLICE 1 IN ARRAY ARRAY[
        ['vv', 'tasbvec', 'tasbvec'], ['hh', 'tasbhalf', 'tasbhalf'],
        ['vh', 'tasbvec', 'tasbhalf'], ['hv', 'tasbhalf', 'tasbvec']]
    LOOP
        EXECUTE format($f$
            CREATE FUNCTION inner_product(%2$s, %3$s) RETURNS float8
                AS 'MODULE_PATHNAME', 'tasb_ip_%1$s' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
            CREATE FUNCTION negative_inner_product(%2$s, %3$s) RETURNS float8
                AS 'MODULE_PATHNAME', 'tasb_nip_%1$s' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
            CREATE FUNCTION cosine_distance(%2$s, %3$s) RETURNS float8
                AS 'MODULE_PATHNAME', 'tasb_cos_%1$s' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
            CREATE FUNCTION l2_distance(%2$s, %3$s) RETURNS float8
                AS 'MODULE_PATHNAME', 'tasb_l2_%1$s' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
            COMMENT ON FUNCTION inner_product(%2$s, %3$s) IS 'dot product';
            COMMENT ON FUNCTION negative_inner_product(%2$s, %3$s) IS 'minus the dot product: the <#> operator';
            COMMENT ON FUNCTION cosine_distance(%2$s, %3$s) IS '1 - cosine similarity: the <=> operator';
            COMMENT ON FUNCTION l2_distance(%2$s, %3$s) IS 'Euclidean distance: the <-> operator';
            CREATE OPERATOR <#> (LEFTARG = %2$s, RIGHTARG = %3$s, FUNCTION = negative_inner_product, COMMUTATOR = OPERATOR(<#>));
            CREATE OPERATOR <=> (LEFTARG = %2$s, RIGHTARG = %3$s, FUNCTION = cosine_distance, COMMUTATOR = OPERATOR(<=>));
            CREATE OPERATOR <-> (LEFTARG = %2$s, RIGHTARG = %3$s, FUNCTION = l2_distance, COMMUTATOR = OPERATOR(<->));
        $f$, pair[1], pair[2], pair[3]);
    END LOOP;
END
$do$;
"#,
    name = "distance_operators",
    requires = ["vector_types"]
);
