//! Distance functions and operators. `<#>` is the negative inner product, so that
//! `ORDER BY emb <#> q` (ascending) ranks the largest dot product first, as in pgvector.

use crate::errors::dimension_mismatch;
use crate::types::varlena::{Element, VecArg};
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

/// Defines the four distance functions for one pair of operand types.
macro_rules! distance_functions {
    ($a:ty, $b:ty, $ip:ident, $nip:ident, $cos:ident, $l2:ident) => {
        /// Inner product a·b.
        #[pg_extern(immutable, parallel_safe, strict, name = "inner_product", requires = ["vector_types"])]
        fn $ip(a: VecArg<$a>, b: VecArg<$b>) -> f64 {
            let (x, y) = operands(&a, &b);
            distance::dot(x, y)
        }

        /// -(a·b): the `<#>` operator.
        #[pg_extern(immutable, parallel_safe, strict, name = "negative_inner_product", requires = ["vector_types"])]
        fn $nip(a: VecArg<$a>, b: VecArg<$b>) -> f64 {
            let (x, y) = operands(&a, &b);
            -distance::dot(x, y)
        }

        /// 1 - cos(a, b): the `<=>` operator.
        #[pg_extern(immutable, parallel_safe, strict, name = "cosine_distance", requires = ["vector_types"])]
        fn $cos(a: VecArg<$a>, b: VecArg<$b>) -> f64 {
            let (x, y) = operands(&a, &b);
            distance::cosine_distance(x, y)
        }

        /// Euclidean distance: the `<->` operator.
        #[pg_extern(immutable, parallel_safe, strict, name = "l2_distance", requires = ["vector_types"])]
        fn $l2(a: VecArg<$a>, b: VecArg<$b>) -> f64 {
            let (x, y) = operands(&a, &b);
            distance::l2_distance(x, y)
        }
    };
}

distance_functions!(f32, f32, ip_vec_vec, nip_vec_vec, cos_vec_vec, l2_vec_vec);
distance_functions!(
    f16,
    f16,
    ip_half_half,
    nip_half_half,
    cos_half_half,
    l2_half_half
);
distance_functions!(
    f32,
    f16,
    ip_vec_half,
    nip_vec_half,
    cos_vec_half,
    l2_vec_half
);
distance_functions!(
    f16,
    f32,
    ip_half_vec,
    nip_half_vec,
    cos_half_vec,
    l2_half_vec
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

pgrx::extension_sql!(
    r#"
DO $$
DECLARE
    pair text[];
BEGIN
    FOREACH pair SLICE 1 IN ARRAY ARRAY[
        ['tasbvec', 'tasbvec'], ['tasbhalf', 'tasbhalf'], ['tasbvec', 'tasbhalf'], ['tasbhalf', 'tasbvec']]
    LOOP
        EXECUTE format('CREATE OPERATOR <#> (LEFTARG = %s, RIGHTARG = %s, FUNCTION = negative_inner_product, COMMUTATOR = OPERATOR(<#>))', pair[1], pair[2]);
        EXECUTE format('CREATE OPERATOR <=> (LEFTARG = %s, RIGHTARG = %s, FUNCTION = cosine_distance, COMMUTATOR = OPERATOR(<=>))', pair[1], pair[2]);
        EXECUTE format('CREATE OPERATOR <-> (LEFTARG = %s, RIGHTARG = %s, FUNCTION = l2_distance, COMMUTATOR = OPERATOR(<->))', pair[1], pair[2]);
    END LOOP;
END
$$;
"#,
    name = "distance_operators",
    requires = [
        nip_vec_vec,
        cos_vec_vec,
        l2_vec_vec,
        nip_half_half,
        cos_half_half,
        l2_half_half,
        nip_vec_half,
        cos_vec_half,
        l2_vec_half,
        nip_half_vec,
        cos_half_vec,
        l2_half_vec
    ]
);
