//! Misuse checks: each finding is one error spanned at the offending tokens,
//! with a message that says what to do.

use quote::ToTokens;
use syn::ItemFn;

use crate::args::{Args, Overflow};
use crate::ast;
use crate::expand::BodyMode;

const ONE_SPAN: &str = "`#[instrument_once]` already creates the span";

/// Checks the attributes left on a function: a second `#[instrument_once]`,
/// or `#[tracing::instrument]`, in either order.
pub(crate) fn attributes(f: &ItemFn, errors: &mut Vec<syn::Error>) {
    for attr in &f.attrs {
        if ast::is_ours(attr) {
            errors.push(syn::Error::new_spanned(
                attr,
                "`#[instrument_once]` is applied twice to this function; remove one of the two attributes \
                 (a function is instrumented exactly once)",
            ));
        } else if ast::is_tracing_instrument(attr) {
            errors.push(syn::Error::new_spanned(
                attr,
                format!(
                    "`#[instrument]` together with `#[instrument_once]` would create two spans per call; \
                     remove one of the two attributes ({ONE_SPAN}, with the same options)"
                ),
            ));
        }
    }
    if let Some((span, whose)) = ast::expansion_mark(&f.block.to_token_stream()) {
        let msg = if whose == "tracing" {
            format!(
                "this function was already instrumented by `#[tracing::instrument]`, expanded above \
                 `#[instrument_once]`; remove one of the two attributes ({ONE_SPAN})"
            )
        } else {
            "this function was already instrumented by `#[instrument_once]`; remove one of the two \
             attributes (a function is instrumented exactly once)"
                .to_owned()
        };
        errors.push(syn::Error::new(span, msg));
    }
}

/// Checks the options against the function they instrument.
pub(crate) fn function(f: &ItemFn, args: &Args, errors: &mut Vec<syn::Error>) {
    if let Some(c) = &f.sig.constness {
        errors.push(syn::Error::new(
            c.span,
            "`#[instrument_once]` cannot instrument a `const fn`: spans and counters need run time; \
             remove `const` or the attribute",
        ));
    }
    if let (Some(skip), Some(all)) = (&args.skip, &args.skip_all) {
        let later = if skip.seq > all.seq {
            skip.key
        } else {
            all.key
        };
        errors.push(syn::Error::new(
            later,
            "`skip` and `skip_all` exclude each other: `skip_all` already skips every parameter; remove one",
        ));
    }
    let ret = ast::return_type(&f.sig.output);
    if let (Some(r), Some(true)) = (&args.ret, ret.map(ast::is_never)) {
        errors.push(syn::Error::new(
            r.key,
            "`ret` records the value a function returns, and this one never returns (`-> !`); \
             remove `ret`",
        ));
    }
    if let Some(err) = &args.err {
        if f.sig.asyncness.is_none() && ast::async_block_body(f).is_some() {
            // async-trait style: the output type is inside the future type.
        } else if ast::plainly_not_result(ret) {
            errors.push(syn::Error::new(
                err.key,
                "`err` records the error of a function that returns `Result`, and this one does not; \
                 remove `err`",
            ));
        }
    }
    if let Some(over) = &args.on_overflow {
        if over.value == Overflow::Error && ast::plainly_not_result(ret) {
            errors.push(syn::Error::new(
                over.key,
                "`on_overflow = \"error\"` returns `Err(DepthExceeded.into())`, but this function does \
                 not return `Result`; use `on_overflow = \"panic\"` or return `Result<_, E>` with \
                 `E: From<instrument_once::DepthExceeded>`",
            ));
        }
        if args.max_depth.is_none() {
            errors.push(syn::Error::new(
                over.key,
                "`on_overflow` has no effect without `max_depth = N`; add a limit or remove `on_overflow`",
            ));
        }
    }
    if ast::async_block_body(f).is_some() {
        if let Some(span) = ast::early_return(&f.block) {
            errors.push(syn::Error::new(
                span,
                "`#[instrument_once]` instruments the future this function's last expression \
                 builds (`Box::pin(async move { .. })`); a future returned earlier would be \
                 neither instrumented nor counted: build every returned future in that last \
                 `async` block (move the early exit inside it)",
            ));
        }
    }
    if let Some(attr) = ast::track_caller(&f.attrs) {
        let future_shape = ast::async_block_body(f).is_some();
        if f.sig.asyncness.is_none() && !future_shape && BodyMode::of(args, f) == BodyMode::Closure
        {
            let (why, fix) = if args.err.is_some() || args.ret.is_some() {
                (
                    "`err`/`ret` need the returned value, and the body can leave early \
                     (`return`, `?`, or a macro that may hide one)",
                    "remove `err`/`ret` (the body then runs inline and `#[track_caller]` works), \
                     or remove `#[track_caller]`",
                )
            } else {
                (
                    "counting this function's `Err`s needs the returned value, and the body \
                     can leave early (`return`, `?`, or a macro that may hide one)",
                    "add `stats = false` (spans only: the body then runs inline and \
                     `#[track_caller]` works), or remove `#[track_caller]`",
                )
            };
            errors.push(syn::Error::new_spanned(
                attr,
                format!(
                    "{why}, so `#[instrument_once]` runs the body in a closure, and \
                     `#[track_caller]` does not reach into closures; {fix}"
                ),
            ));
        }
    }
    stats_needed(args, errors);
}

/// Options that need stats, with `stats = false`.
fn stats_needed(args: &Args, errors: &mut Vec<syn::Error>) {
    if let (Some(stats), Some(repeats_by)) = (&args.stats, &args.repeats_by) {
        if !stats.value {
            errors.push(syn::Error::new(
                repeats_by.key,
                "`repeats_by` counts repeated calls in a request, and `stats = false` turns \
                 counting off; remove one",
            ));
        }
    }
    if let (Some(stats), Some(timing)) = (&args.stats, &args.timing) {
        if !stats.value && timing.value {
            errors.push(syn::Error::new(
                timing.key,
                "`timing = true` needs stats, and `stats = false` turns them off; remove one",
            ));
        }
    }
}

/// Checks that every `skip(name)` and `repeats_by(name)` names a parameter
/// of one of `fns`.
pub(crate) fn skips<'a>(
    args: &Args,
    fns: &(impl Iterator<Item = &'a ItemFn> + Clone),
    errors: &mut Vec<syn::Error>,
) {
    for (option, names) in [("skip", &args.skip), ("repeats_by", &args.repeats_by)] {
        let Some(names) = names else { continue };
        for name in &names.value {
            let known = fns
                .clone()
                .any(|f| ast::params(&f.sig.inputs).iter().any(|p| p.ident == *name));
            if !known {
                errors.push(syn::Error::new(
                    name.span(),
                    format!(
                        "`{option}({name})` names no parameter of this function; remove it or fix \
                         the name"
                    ),
                ));
            }
        }
    }
}
