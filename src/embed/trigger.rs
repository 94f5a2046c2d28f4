//! `tasb_embed_trigger(source, target)`: a BEFORE INSERT OR UPDATE row trigger that writes the
//! encoding of the text column `source` into the vector column `target` before the row is stored,
//! so each row is written once. On UPDATE it encodes only when the text changed (or the vector is
//! missing). A NULL text gives a NULL vector; an encoding error fails the statement. With a third
//! argument 'async' it only clears the vector of new or changed rows for the background worker
//! (see `worker.rs`).

use super::columns::{check_dimensions, source_column, target_column, VectorKind};
use crate::encode::functions::encode_passage;
use crate::errors::raise;
use crate::types::io::checked_from_f32s;
use pgrx::prelude::*;
use pgrx::{pg_sys, PgSqlErrorCode};
use tasb_vecmath::f16;

const USAGE: &str = "CREATE TRIGGER embed BEFORE INSERT OR UPDATE OF body ON passages FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger('body', 'emb');";

fn misuse(table: &str, what: &str) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_TRIGGERED_ACTION_EXCEPTION,
        format!("tasb_embed_trigger on table \"{table}\": {what}"),
        None,
        Some(USAGE),
    )
}

/// The vector Datum for `values`, as the target column's type, checked against its dimensions.
pub fn vector_datum(kind: VectorKind, values: &[f32], typmod: i32) -> Option<pg_sys::Datum> {
    match kind {
        VectorKind::F32 => checked_from_f32s::<f32>(values, typmod).into_datum(),
        VectorKind::F16 => checked_from_f32s::<f16>(values, typmod).into_datum(),
    }
}

#[pg_trigger]
fn tasb_embed_trigger<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByRust>>, PgTriggerError> {
    let table = trigger.table_name()?;
    if !matches!(trigger.level(), PgTriggerLevel::Row)
        || !matches!(trigger.when()?, PgTriggerWhen::Before)
    {
        misuse(&table, "it must be a BEFORE ... FOR EACH ROW trigger");
    }
    let op = trigger.op()?;
    if !matches!(op, PgTriggerOperation::Insert | PgTriggerOperation::Update) {
        misuse(&table, "it runs on INSERT and UPDATE only");
    }
    let args = trigger.extra_args()?;
    let (source, target, deferred) = match args.as_slice() {
        [source, target] => (source, target, false),
        [source, target, mode] if mode == "async" => (source, target, true),
        [_, _, mode] => misuse(
            &table,
            &format!("the third argument must be 'async', not '{mode}'"),
        ),
        _ => misuse(
            &table,
            &format!(
                "it takes two arguments (text column, vector column), not {}",
                args.len()
            ),
        ),
    };
    let relation = trigger.relation()?;
    let desc = relation.tuple_desc();
    let source_attno = source_column(&desc, &table, source);
    let target_column = target_column(&desc, &table, target);
    drop(desc);

    let Some(new) = trigger.new() else {
        misuse(&table, "no new row");
    };
    let mut new = new.into_owned();
    let text: Option<String> = new
        .get_by_index(source_attno)
        .unwrap_or_else(|e| misuse(&table, &format!("cannot read column \"{source}\": {e}")));
    if matches!(op, PgTriggerOperation::Update) {
        let old_text: Option<String> = trigger
            .old()
            .and_then(|old| old.get_by_index(source_attno).ok().flatten());
        let data = trigger.trigger_data();
        // SAFETY: on UPDATE, tg_newtuple is the new row and tg_relation its open relation, both
        // valid for this call; the attribute number comes from that relation's descriptor.
        let has_vector = unsafe {
            !pg_sys::heap_attisnull(
                data.tg_newtuple,
                target_column.attno.get() as i32,
                (*data.tg_relation).rd_att,
            )
        };
        if old_text == text && (has_vector || text.is_none()) {
            return Ok(Some(new));
        }
    }
    let datum = match text {
        // Async: the worker embeds rows whose vector is NULL; clearing it here means no row
        // keeps a vector of its old text.
        _ if deferred => None,
        None => None,
        Some(text) => {
            let vector = encode_passage(&text);
            check_dimensions(&table, target, &target_column, vector.len());
            vector_datum(target_column.kind, &vector, target_column.typmod)
        }
    };
    if let Some(domain) = target_column.domain {
        // SAFETY: domain_check reads a Datum of the domain's base type (which `datum` is, or
        // NULL) and raises an ERROR if a constraint of the domain rejects it.
        unsafe {
            pg_sys::domain_check(
                datum.unwrap_or(pg_sys::Datum::from(0)),
                datum.is_none(),
                domain,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
    }
    // SAFETY: `datum` is a value of the target column's type (the extension's tasbvec or
    // tasbhalf by OID, or a domain over it whose constraints were checked), or NULL.
    unsafe { new.set_by_index_unchecked(target_column.attno, datum) };
    Ok(Some(new))
}

pgrx::extension_sql!(
    "COMMENT ON FUNCTION tasb_embed_trigger() IS 'BEFORE INSERT OR UPDATE row trigger: tasb_embed_trigger(text_column, vector_column) writes tasb_encode(text_column) into vector_column.';",
    name = "embed_trigger_comment",
    requires = [tasb_embed_trigger]
);
