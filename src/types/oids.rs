//! The OIDs of the extension's own types, found through the extension's schema, never by name
//! on the search path: a role that can create a type (or a domain) named `tasbvec` in a schema
//! earlier on some caller's path must not be able to make tasb write a vector into a value of its
//! type, or label an array of vectors as an array of something else.

use crate::errors::raise;
use pgrx::pg_sys;
use pgrx::PgSqlErrorCode;
use std::cell::Cell;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionTypes {
    extension: pg_sys::Oid,
    pub tasbvec: pg_sys::Oid,
    pub tasbhalf: pg_sys::Oid,
}

thread_local! {
    // Backends are single-threaded; this is touched only from the backend's main thread.
    static CACHED: Cell<Option<ExtensionTypes>> = const { Cell::new(None) };
}

/// The types of the tasb extension installed in this database. Cached per backend and checked
/// against the extension's OID on every call, so DROP and CREATE EXTENSION in the same session
/// are noticed.
pub fn extension_types() -> ExtensionTypes {
    // SAFETY: get_extension_oid looks the name up in pg_extension and, with missing_ok, returns
    // InvalidOid instead of raising when there is none.
    let extension = unsafe { pg_sys::get_extension_oid(c"tasb".as_ptr(), true) };
    if extension == pg_sys::InvalidOid {
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            "extension \"tasb\" is not installed in this database",
            None,
            Some("CREATE EXTENSION tasb;"),
        );
    }
    if let Some(cached) = CACHED.get().filter(|c| c.extension == extension) {
        return cached;
    }
    let namespace = extension_namespace(extension);
    let found = ExtensionTypes {
        extension,
        tasbvec: type_in_namespace(c"tasbvec", namespace),
        tasbhalf: type_in_namespace(c"tasbhalf", namespace),
    };
    // During CREATE EXTENSION the types may not exist yet: do not remember a half-made answer.
    if found.tasbvec != pg_sys::InvalidOid && found.tasbhalf != pg_sys::InvalidOid {
        CACHED.set(Some(found));
    }
    found
}

/// pg_extension.extnamespace of `extension` (PostgreSQL 15 does not export
/// get_extension_schema, so this is its catalog scan).
fn extension_namespace(extension: pg_sys::Oid) -> pg_sys::Oid {
    // SAFETY: the standard catalog scan by a unique index: the relation is opened and closed
    // with the same lock, the scan key compares the oid column with oideq, and the tuple's
    // struct is read only while the scan (and so its buffer pin) is open.
    unsafe {
        let relation = pg_sys::table_open(
            pg_sys::ExtensionRelationId,
            pg_sys::AccessShareLock as pg_sys::LOCKMODE,
        );
        let mut key = pg_sys::ScanKeyData::default();
        pg_sys::ScanKeyInit(
            &mut key,
            pg_sys::Anum_pg_extension_oid as pg_sys::AttrNumber,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::Oid::from(pg_sys::F_OIDEQ),
            pg_sys::Datum::from(extension),
        );
        let scan = pg_sys::systable_beginscan(
            relation,
            pg_sys::Oid::from(pg_sys::ExtensionOidIndexId),
            true,
            std::ptr::null_mut(),
            1,
            &mut key,
        );
        let tuple = pg_sys::systable_getnext(scan);
        let namespace = if tuple.is_null() {
            pg_sys::InvalidOid
        } else {
            (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_extension>(tuple)).extnamespace
        };
        pg_sys::systable_endscan(scan);
        pg_sys::table_close(relation, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        namespace
    }
}

fn type_in_namespace(name: &std::ffi::CStr, namespace: pg_sys::Oid) -> pg_sys::Oid {
    if namespace == pg_sys::InvalidOid {
        return pg_sys::InvalidOid;
    }
    // SAFETY: a syscache lookup by (typname, typnamespace); the name is a NUL-terminated string
    // that outlives the call, as TypenameGetTypid passes it.
    unsafe {
        pg_sys::GetSysCacheOid(
            pg_sys::SysCacheIdentifier::TYPENAMENSP as i32,
            pg_sys::Anum_pg_type_oid as pg_sys::AttrNumber,
            pg_sys::Datum::from(name.as_ptr()),
            pg_sys::Datum::from(namespace),
            pg_sys::Datum::from(0),
            pg_sys::Datum::from(0),
        )
    }
}

/// The type a column's values really have: domains are looked through to their base type (a
/// domain over tasbvec holds tasbvec values), with the typmod that applies.
pub fn base_type(type_oid: pg_sys::Oid, typmod: i32) -> (pg_sys::Oid, i32) {
    let mut typmod = typmod;
    // SAFETY: getBaseTypeAndTypmod follows pg_type.typbasetype for any type OID and updates the
    // typmod only when it passes through a domain.
    let base = unsafe { pg_sys::getBaseTypeAndTypmod(type_oid, &mut typmod) };
    (base, typmod)
}
