//! Code generation. Generated code names only `#krate::__private` paths,
//! contains no `unsafe`, and prefixes its locals with `__io_`.
//!
//! # How the body runs
//!
//! The attribute must not change what the function does. A synchronous body
//! runs in one of two ways:
//!
//! * **inline**, as written, when nothing needs its returned value: no
//!   `err`/`ret`, and either `stats = false` or a return type that plainly
//!   cannot be an `Err` (unit, numbers, `String`, `Option`, references...).
//!   Parameters, locals, `#[track_caller]` and panics behave exactly as
//!   without the attribute. The call is finished after the body's value;
//!   a `return` or `?` leaves through the call guard, which counts it as
//!   returned (or as a panic while one unwinds).
//! * **in a closure**, when the returned value must be seen (to count an
//!   `Err`, or for `err`/`ret`): every exit of the body, `return` and `?`
//!   included, then passes through the attribute. The function hands every
//!   parameter binding to the closure as its arguments, in declaration
//!   order, so parameters are dropped in the same order as without the
//!   attribute (at the end of the body, inside the span). `#[track_caller]`
//!   cannot reach into a closure: `valid` refuses that combination.
//!
//! An `async fn` runs its body in an `async move` block that takes every
//! parameter the same way, wrapped in the runtime's instrumented future.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Block, ItemFn, Type};

use crate::args::{Args, FormatMode, Level, Overflow};
use crate::ast::{self, RecordType};

/// Everything one function's expansion needs.
pub(crate) struct Plan<'a> {
    pub(crate) args: &'a Args,
    /// `fn` or `Type::fn`, appended to `module_path!()`.
    pub(crate) qual: &'a str,
}

/// How a synchronous body runs (see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyMode {
    Inline,
    Closure,
}

impl Plan<'_> {
    fn private(&self) -> TokenStream {
        if let Some(k) = &self.args.krate {
            let path = &k.value;
            quote!(#path::__private)
        } else {
            quote!(::instrument_once::__private)
        }
    }
}

impl BodyMode {
    /// How the body of `f` runs, if it is synchronous: inline unless its
    /// returned value must be seen (for `err`/`ret`, or to count `Err`s)
    /// *and* it can leave other than by its value (`return`, `?`, a macro
    /// that may hide one).
    pub(crate) fn of(args: &Args, f: &ItemFn) -> BodyMode {
        let needs_value = args.err.is_some()
            || args.ret.is_some()
            || (args.stats() && !ast::plainly_not_result(ast::return_type(&f.sig.output)));
        if needs_value && ast::early_exit(&f.block).is_some() {
            BodyMode::Closure
        } else {
            BodyMode::Inline
        }
    }
}

impl Plan<'_> {
    fn target(&self, p: &TokenStream) -> TokenStream {
        if let Some(t) = &self.args.target {
            t.value.to_token_stream()
        } else {
            quote!(#p::module_path!())
        }
    }

    fn name(&self, fn_name: &str) -> TokenStream {
        if let Some(n) = &self.args.name {
            n.value.to_token_stream()
        } else {
            fn_name.to_token_stream()
        }
    }

    /// The `static __IO_SITE` and its registration.
    fn site(&self, p: &TokenStream, sig: &syn::Signature, asyncness: bool) -> TokenStream {
        let fn_name = &sig.ident.to_string();
        // A sync function names its callee, key and thread-local only in an
        // optimised build (see `Plan::entered`): in a build with debug
        // assertions its guard finds its state in the thread's table.
        let key_cfg = if asyncness {
            TokenStream::new()
        } else {
            quote!(#[cfg(not(debug_assertions))])
        };
        let method = ast::has_receiver(&sig.inputs);
        let args = self.args;
        let name = self.name(fn_name);
        let qual = self.qual;
        let target = self.target(p);
        let level = args.level().tokens(p);
        let max_depth = args.max_depth.as_ref().map_or(0, |m| m.value);
        let outermost = args.recursion_outermost.as_ref().is_some_and(|r| r.value);
        let stats = args.stats();
        let timing = args.timing();
        let repeats = args.repeats_by.is_some();
        // Written out where it is used, not as a `const` item: an item is
        // one more body for the compiler to check in every function.
        let config = quote! {
            #p::Config {
                max_depth: #max_depth,
                outermost: #outermost,
                timing: #timing,
                stats: #stats,
                repeats: #repeats,
            }
        };
        quote! {
            static __IO_SITE: #p::Site = #p::Site::new(#p::Meta {
                name: #name,
                qualified_name: #p::concat!(#p::module_path!(), "::", #qual),
                module_path: #p::module_path!(),
                target: #target,
                file: #p::file!(),
                line: #p::line!(),
                level: #level,
                method: #method,
                config: #config,
            });
            #p::register_site!(__IO_SITE);
            #key_cfg
            #p::declare_key!(__IO_SITE, #config);
        }
    }

    /// `tracing::span!(..)` with exactly the fields `tracing::instrument`
    /// records.
    fn span(
        &self,
        p: &TokenStream,
        fn_name: &str,
        inputs: &syn::punctuated::Punctuated<syn::FnArg, syn::Token![,]>,
    ) -> TokenStream {
        let args = self.args;
        let name = self.name(fn_name);
        let target = self.target(p);
        let level = args.level().tokens(p);
        let parent = args.parent.as_ref().map(|x| {
            let e = &x.value;
            quote!(parent: #e,)
        });
        let custom = args
            .fields
            .as_ref()
            .map(|f| f.value.as_slice())
            .unwrap_or_default();
        let params: Vec<TokenStream> = self
            .recorded(inputs)
            .into_iter()
            .map(|param| {
                let ident = &param.ident;
                // `self` is named by a string: an `async-trait` expanded
                // after this attribute renames the `self` token, not the
                // field.
                let name = if ident == "self" {
                    quote!({ "self" })
                } else {
                    quote!(#ident)
                };
                // Spanned at the parameter, so "doesn't implement `Debug`"
                // points at it rather than at the attribute.
                match param.record {
                    RecordType::Value => quote!(#name = #ident),
                    RecordType::Debug => quote_spanned! {ident.span()=>
                        #name = #p::tracing::field::debug(&#ident)
                    },
                }
            })
            .collect();
        let custom = custom.iter().map(|f| f.tokens(p));
        quote! {
            #p::tracing::span!(target: #target, #parent #level, #name, #(#params,)* #(#custom),*)
        }
    }

    /// Identifiers the `parent` and `follows_from` expressions name: the
    /// span's setup may consume those parameters, which then stay with the
    /// function (see [`ast::take_bindings`]).
    fn named_in_options(&self) -> Vec<String> {
        let args = self.args;
        let mut names = Vec::new();
        for expr in [&args.parent, &args.follows_from].into_iter().flatten() {
            ast::idents_in(expr.value.to_token_stream(), &mut names);
        }
        names
    }

    /// The parameters the span records (each with how).
    fn recorded(
        &self,
        inputs: &syn::punctuated::Punctuated<syn::FnArg, syn::Token![,]>,
    ) -> Vec<ast::Param> {
        let args = self.args;
        if args.skip_all.is_some() {
            return Vec::new();
        }
        let custom = args
            .fields
            .as_ref()
            .map(|f| f.value.as_slice())
            .unwrap_or_default();
        ast::params(inputs)
            .into_iter()
            .filter(|param| {
                let skipped = args
                    .skip
                    .as_ref()
                    .is_some_and(|s| s.value.contains(&param.ident));
                // A custom field of the same name replaces the parameter
                // (a braced, computed name never does).
                let shadowed = custom
                    .iter()
                    .any(|f| f.name.ident().is_some_and(|i| *i == param.ident));
                !skipped && !shadowed
            })
            .collect()
    }

    fn follows_from(&self) -> TokenStream {
        let Some(f) = &self.args.follows_from else {
            return TokenStream::new();
        };
        let e = &f.value;
        quote! {
            for __io_cause in #e {
                __io_span.follows_from(__io_cause);
            }
        }
    }

    /// `err` / `ret` events on `__io_ret` (the output).
    fn events(&self, p: &TokenStream) -> TokenStream {
        let args = self.args;
        let target = self.target(p);
        let err = args.err.as_ref().map(|e| {
            let level = e.value.level.as_ref().unwrap_or(&Level::ERROR).tokens(p);
            if e.value.mode == FormatMode::Debug {
                quote!(#p::tracing::event!(target: #target, #level, error = ?__io_e))
            } else {
                quote!(#p::tracing::event!(target: #target, #level, error = %__io_e))
            }
        });
        let ret = args.ret.as_ref().map(|r| {
            let level = r
                .value
                .level
                .clone()
                .unwrap_or_else(|| args.level())
                .tokens(p);
            if r.value.mode == FormatMode::Display {
                quote!(#p::tracing::event!(target: #target, #level, return = %__io_x))
            } else {
                quote!(#p::tracing::event!(target: #target, #level, return = ?__io_x))
            }
        });
        match (err, ret) {
            (None, None) => TokenStream::new(),
            (None, Some(ret)) => quote! {
                {
                    let __io_x = &__io_ret;
                    #ret;
                }
            },
            (err, ret) => {
                let ret = ret.map(|r| quote!(#r;));
                let err = err.map(|e| quote!(#e;));
                quote! {
                    match &__io_ret {
                        #p::Ok(__io_x) => {
                            let _ = __io_x;
                            #ret
                        }
                        #p::Err(__io_e) => {
                            let _ = __io_e;
                            #err
                        }
                    }
                }
            }
        }
    }

    /// Whether `__io_ref`, a reference to the output, is an `Err` (autoref
    /// specialisation: any `Result` type or alias resolves to the first
    /// trait, anything else, an opaque `impl Trait` included, to the
    /// fallback).
    fn is_err(&self, p: &TokenStream) -> TokenStream {
        if self.args.stats() {
            quote! {
                {
                    #[allow(unused_imports)]
                    use #p::{IsErrOther as _, IsErrResult as _};
                    __io_ref.__io_is_err()
                }
            }
        } else {
            quote!(false)
        }
    }

    /// `let __io_call = ..;`, returning `Err` early under
    /// `on_overflow = "error"`, then the call's `repeats_by` key. Spanned at
    /// the function's name, so an overflow panic is located at the
    /// function.
    fn enter(
        &self,
        p: &TokenStream,
        asyncness: bool,
        at: Span,
        inputs: &syn::punctuated::Punctuated<syn::FnArg, syn::Token![,]>,
    ) -> TokenStream {
        let Some(repeats_by) = &self.args.repeats_by else {
            return self.entered(p, asyncness, at, &TokenStream::new());
        };
        let entered = self.entered(p, asyncness, at, &quote!(mut));
        // The key: the named parameters this function has, by reference.
        let params = ast::params(inputs);
        let keys: Vec<&syn::Ident> = repeats_by
            .value
            .iter()
            .filter(|name| params.iter().any(|p| p.ident == **name))
            .collect();
        // A method of an impl block without the named parameters has no
        // key: its calls are never repeats (an empty key would make each
        // one after the first a repeat).
        if keys.is_empty() {
            return self.entered(p, asyncness, at, &TokenStream::new());
        }
        quote! {
            #entered
            __io_call.repeats_by(&(#(&#keys,)*));
        }
    }

    /// `let __io_call = ..;` (see [`Plan::enter`]).
    fn entered(
        &self,
        p: &TokenStream,
        asyncness: bool,
        at: Span,
        mutability: &TokenStream,
    ) -> TokenStream {
        // An async call whose span's expressions may await can be dropped
        // at that await, before its body is wrapped, and can move to
        // another thread there: it starts off the depth chain, and such a
        // drop counts a cancellation. Otherwise the call enters the chain
        // at its start, and a drop before its body is wrapped that is not
        // a panic is an early return (`?` in a field): a return.
        let (ty, enter, try_enter) = if asyncness && self.args.preamble_awaits() {
            ("AsyncCall", "start_awaiting", "try_start_awaiting")
        } else if asyncness {
            ("AsyncCall", "start", "try_start")
        } else {
            ("Call", "enter", "try_enter")
        };
        let ty = syn::Ident::new(ty, Span::call_site());
        // The called function's name and parentheses carry the function's
        // span: that is the location `#[track_caller]` reports. (The
        // bindings keep the macro's own hygiene.)
        let call = |ty: &TokenStream, name: &str, args: TokenStream| {
            let name = syn::Ident::new(name, at);
            let args = quote_spanned!(at=> (#args));
            quote!(#p::#ty::#name #args)
        };
        let error = self
            .args
            .on_overflow
            .as_ref()
            .is_some_and(|o| o.value == Overflow::Error);
        let let_call = |ty: &TokenStream, args: TokenStream| {
            if error {
                let try_enter = call(ty, try_enter, args);
                quote! {
                    let #mutability __io_call = match #try_enter {
                        #p::Ok(__io_call) => __io_call,
                        #p::Err(__io_e) => return #p::Err(#p::From::from(__io_e)),
                    };
                }
            } else {
                let enter = call(ty, enter, args);
                quote! {
                    let #mutability __io_call = #enter;
                }
            }
        };
        let generic = let_call(&quote!(#ty::<__IoKey>), TokenStream::new());
        if asyncness {
            return generic;
        }
        // A sync call's guard: generic over the key in an optimised build
        // (the options fold into constants), shared by every function in a
        // build with debug assertions (compiled once: see `SharedCall`).
        let shared = let_call(&quote!(SharedCall), quote!(&__IO_SITE));
        quote! {
            #[cfg(not(debug_assertions))]
            #generic
            #[cfg(debug_assertions)]
            #shared
        }
    }

    /// For `request`: `let __io_request = ..;` before the call is entered
    /// (a sync function's request ends when it is dropped, after the
    /// call's end).
    fn request_guard(&self, p: &TokenStream) -> TokenStream {
        if self.args.request.is_some() {
            // Hygienic: the body cannot name (and so move or forget) it.
            let guard = proc_macro2::Ident::new("__io_request", proc_macro2::Span::mixed_site());
            quote! {
                let #guard = #p::request_guard(__IO_SITE.qualified_name());
            }
        } else {
            TokenStream::new()
        }
    }

    /// For `request` on an async function: its instrumented body as one
    /// request, following the future.
    fn request_future(&self, p: &TokenStream, body: TokenStream) -> TokenStream {
        if self.args.request.is_some() {
            quote! {
                #p::request_scope_async(__IO_SITE.qualified_name(), async move { #body }).await
            }
        } else {
            body
        }
    }
}

/// The return type as the generated code writes it in a `let`: `impl Trait`
/// erased to `_`, and `!` (which stable Rust accepts only as a return type)
/// as the runtime's alias of it.
fn written_type(p: &TokenStream, ty: &Type) -> TokenStream {
    if ast::is_never(ty) {
        quote_spanned!(ty.span()=> #p::Never)
    } else {
        ast::erase_impl_trait(ty).to_token_stream()
    }
}

/// A statement that pins the block's type to the declared return type, so
/// type errors in the body point at the body, not at the attribute.
fn fake_return(p: &TokenStream, ret: Option<&Type>, fallback: Span) -> TokenStream {
    let (ty, span) = match ret {
        Some(ty) => (written_type(p, ty), ty.span()),
        None => (quote!(()), fallback),
    };
    quote_spanned! {span=>
        #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::let_unit_value, clippy::unreachable)]
        if false {
            let __io_fake_return: #ty = #p::unreachable!();
            return __io_fake_return;
        }
    }
}

/// How the function hands its parameters to a body that runs in a closure
/// or an async block (see [`ast::take_bindings`]).
struct Handoff {
    /// `(a, b, c)`: the bindings, as a tuple (a 1-tuple keeps its comma).
    values: TokenStream,
    /// `(a, mut b, c)`: the same, as the body's pattern, with the user's
    /// `mut` tokens (so `unused_mut` still points at them).
    pattern: TokenStream,
    /// What the body does first: take `self` whole, and use the bindings
    /// the function used (the span recorded them, or they were `_`), so
    /// `unused_variables` reports only what it would report without the
    /// attribute.
    prelude: TokenStream,
}

impl Handoff {
    fn new(plan: &Plan<'_>, sig: &mut syn::Signature) -> Handoff {
        let recorded: Vec<syn::Ident> = plan
            .recorded(&sig.inputs)
            .into_iter()
            .map(|p| p.ident)
            .collect();
        let receiver = ast::has_receiver(&sig.inputs);
        let bindings = ast::take_bindings(&mut sig.inputs, &plan.named_in_options(), true);
        let idents = bindings.iter().map(|b| &b.ident);
        let values = quote!((#(#idents,)*));
        let pats = bindings.iter().map(|b| {
            let (mutability, ident) = (&b.mutability, &b.ident);
            quote!(#mutability #ident)
        });
        let pattern = quote!((#(#pats,)*));
        let used: Vec<&syn::Ident> = bindings
            .iter()
            .filter(|b| b.generated || recorded.contains(&b.ident))
            .map(|b| &b.ident)
            .collect();
        // Makes a `move` closure or async block take `self` whole, so a
        // by-value receiver is dropped where it would be without the
        // attribute (last, after the other parameters) even when the body
        // does not use it.
        let take_self = receiver.then(|| quote!(&self,));
        let prelude = if used.is_empty() && !receiver {
            TokenStream::new()
        } else {
            quote! {
                #[allow(clippy::used_underscore_binding, clippy::let_underscore_untyped)]
                let _ = (#take_self #(&#used,)*);
            }
        };
        Handoff {
            values,
            pattern,
            prelude,
        }
    }
}

/// How an async function's body, an `async move` block, takes the
/// parameters when it can capture them: by naming every binding once, in
/// reverse order of declaration, before anything else. An `async move`
/// block takes what it names, in the order it first names it, and drops
/// it in that order when it completes: so the parameters are dropped as
/// without the attribute (in reverse order, a by-value `self` last), and
/// each is stored once in the future (a tuple handed on and unpacked in
/// the block would be stored twice).
///
/// Naming a binding uses it, which would silence `unused_variables` for a
/// parameter the body does not use: so this is only for functions whose
/// every binding the span records (a use without the attribute too) or
/// the compiler never reports (`_`-prefixed, or generated for `_`);
/// others take the [`Handoff`] (`None` here).
fn capture_all(plan: &Plan<'_>, sig: &mut syn::Signature) -> Option<TokenStream> {
    let recorded: Vec<syn::Ident> = plan
        .recorded(&sig.inputs)
        .into_iter()
        .map(|p| p.ident)
        .collect();
    let kept = plan.named_in_options();
    let mut probe = sig.inputs.clone();
    let silent = ast::take_bindings(&mut probe, &kept, false)
        .iter()
        .all(|b| {
            b.generated || recorded.contains(&b.ident) || b.ident.to_string().starts_with('_')
        });
    if !silent {
        return None;
    }
    let bindings = ast::take_bindings(&mut sig.inputs, &kept, false);
    let receiver = ast::has_receiver(&sig.inputs).then(|| quote!(&self));
    let named = bindings
        .iter()
        .rev()
        .map(|b| {
            let ident = &b.ident;
            quote!(&#ident)
        })
        .chain(receiver);
    Some(quote! {
        #[allow(clippy::used_underscore_binding, clippy::let_underscore_untyped)]
        let _ = (#(#named,)*);
    })
}

/// The span guard: the span is built only when someone wants it.
fn sync_span(
    p: &TokenStream,
    level: &TokenStream,
    span: &TokenStream,
    follows: &TokenStream,
) -> TokenStream {
    quote! {
        let __io_span;
        let __io_entered;
        // A span below the level filter is not noted for `diagnose()`:
        // it compares the site's level with the filter itself. (With
        // tracing's `log` feature, spans also go to `log`, as tracing's
        // attribute makes them.)
        if __io_call.span_wanted() && (#p::tracing::level_enabled!(#level) || #p::tracing::if_log_enabled!(#level, { true } else { false })) {
            // Recording `_name` parameters is intended.
            #[allow(clippy::used_underscore_binding)]
            let __io_new_span = #span;
            __io_span = __io_new_span;
            #p::observe(&__IO_SITE, &__io_span);
            #follows
            __io_entered = __io_span.enter();
        }
    }
}

/// Instruments one function (free function or method).
pub(crate) fn function(plan: &Plan<'_>, f: ItemFn) -> TokenStream {
    if let Some((index, block, pinned)) = ast::async_block_body(&f) {
        let (index, block) = (index, block.clone());
        return async_trait_style(plan, f, index, &block, pinned);
    }
    let p = plan.private();
    let mode = BodyMode::of(plan.args, &f);
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = f;
    let (inner_attrs, outer_attrs): (Vec<_>, Vec<_>) = attrs
        .into_iter()
        .partition(|a| matches!(a.style, syn::AttrStyle::Inner(_)));
    let fn_name = sig.ident.to_string();
    let site = plan.site(&p, &sig, sig.asyncness.is_some());
    let span = plan.span(&p, &fn_name, &sig.inputs);
    let ret = ast::return_type(&sig.output).cloned();
    let ret = ret.as_ref();
    let fake = fake_return(&p, ret, sig.ident.span());
    let events = plan.events(&p);
    let is_err = plan.is_err(&p);
    let level = plan.args.level().tokens(&p);
    let enter = plan.enter(&p, sig.asyncness.is_some(), sig.ident.span(), &sig.inputs);
    let request_guard = plan.request_guard(&p);
    let follows = plan.follows_from();
    let annot = if let Some(ty) = ret {
        let ty = written_type(&p, ty);
        quote!(: #ty)
    } else {
        quote!(: ())
    };
    // After the body's value: the events, and the call's outcome.
    let finish = quote! {
        #events
        let __io_ref = &__io_ret;
        __io_call.finish(#is_err);
    };
    let stmts = &block.stmts;
    let body = if sig.asyncness.is_some() {
        let inner = async_inner(plan, &mut sig, &block, &fake, &annot, &events);
        let inner = typed_output(&p, ret, inner);
        let classify = quote!(|__io_ref| #is_err);
        let drive = drive_async(&p, &enter, &level, &span, &follows, &inner, &classify);
        plan.request_future(&p, drive)
    } else {
        let span = sync_span(&p, &level, &span, &follows);
        let needs_value =
            !events.is_empty() || (plan.args.stats() && !ast::plainly_not_result(ret));
        let run = match mode {
            // `-> !`: the body is the function's tail; it never returns, so
            // there is nothing to finish (a panic is recorded by the guard's
            // drop), and `!` cannot be written as a `let`'s type.
            _ if ret.is_some_and(ast::is_never) => quote! {
                {
                    #(#stmts)*
                }
            },
            BodyMode::Inline => inline_body(&fake, stmts, ret, needs_value.then_some(&finish)),
            BodyMode::Closure => {
                let Handoff {
                    values,
                    pattern,
                    prelude,
                } = Handoff::new(plan, &mut sig);
                quote! {
                    // Handing on `_name` parameters is not using them.
                    #[allow(clippy::used_underscore_binding, clippy::let_unit_value)]
                    let __io_args = #values;
                    #[allow(clippy::let_unit_value, clippy::unit_arg)]
                    let __io_ret #annot = #p::call_with(__io_args, move |#pattern| {
                        #prelude
                        #fake
                        #(#stmts)*
                    });
                    #finish
                    __io_ret
                }
            }
        };
        quote! {
            #request_guard
            #enter
            #span
            #run
        }
    };
    // The function keeps its braces, and with them the user's span: lints
    // such as `dead_code` are reported (and `#[expect]`ed) as without the
    // attribute.
    let mut out = quote!(#(#outer_attrs)* #vis #sig);
    block.brace_token.surround(&mut out, |tokens| {
        tokens.extend(quote! {
            #(#inner_attrs)*
            #site
            #body
        });
    });
    out
}

/// The body of an inline call: the user's statements in a block of their
/// own, then the call is finished (with `finish`, which classifies the
/// value and emits the events, when given). The block's braces are
/// generated (the statements keep their spans), so `unused_braces` does not
/// apply to them; a body that diverges makes what follows unreachable,
/// which is allowed on the generated statements only.
fn inline_body(
    fake: &TokenStream,
    stmts: &[syn::Stmt],
    ret: Option<&Type>,
    finish: Option<&TokenStream>,
) -> TokenStream {
    let returns_unit = match ret {
        None => true,
        Some(Type::Tuple(t)) => t.elems.is_empty(),
        Some(_) => false,
    };
    match finish {
        None if returns_unit => quote! {
            {
                #fake
                #(#stmts)*
            }
            #[allow(unreachable_code)]
            __io_call.finish(false);
        },
        finish => {
            let finish = finish
                .cloned()
                .unwrap_or_else(|| quote!(__io_call.finish(false);));
            let annot = ret.map(|ty| {
                let ty = ast::erase_impl_trait(ty);
                quote!(: #ty)
            });
            quote! {
                #[allow(clippy::let_unit_value)]
                let __io_ret #annot = {
                    #fake
                    #(#stmts)*
                };
                #[allow(unreachable_code, clippy::needless_return)]
                return {
                    #finish
                    __io_ret
                };
            }
        }
    }
}

/// The user's body as a future taking every parameter (see the module
/// documentation); with `err`/`ret`, the events are emitted inside it, so
/// they belong to the span.
fn inner_future(
    fake: &TokenStream,
    block: &Block,
    annot: &TokenStream,
    events: &TokenStream,
    handoff: &Handoff,
) -> TokenStream {
    let stmts = &block.stmts;
    let Handoff {
        pattern, prelude, ..
    } = handoff;
    let body = quote! {
        #[allow(clippy::let_unit_value)]
        let #pattern = __io_args;
        #prelude
        #fake
        #(#stmts)*
    };
    async_body(&body, annot, events)
}

/// The future `inner` of an `async fn` declared `-> !`, with its output
/// type stated (nothing in a body that never returns says it); any other
/// as it is.
fn typed_output(p: &TokenStream, ret: Option<&Type>, inner: TokenStream) -> TokenStream {
    if ret.is_some_and(ast::is_never) {
        quote!(#p::never_output(#inner))
    } else {
        inner
    }
}

/// An async function's body as the future the call wraps: capturing the
/// parameters when it can ([`capture_all`]), else taking them as a tuple
/// ([`Handoff`]).
fn async_inner(
    plan: &Plan<'_>,
    sig: &mut syn::Signature,
    block: &Block,
    fake: &TokenStream,
    annot: &TokenStream,
    events: &TokenStream,
) -> TokenStream {
    if let Some(named) = capture_all(plan, sig) {
        let stmts = &block.stmts;
        let body = quote! {
            #named
            #fake
            #(#stmts)*
        };
        return async_body(&body, annot, events);
    }
    let handoff = Handoff::new(plan, sig);
    let inner = inner_future(fake, block, annot, events, &handoff);
    let values = &handoff.values;
    quote! {
        {
            // Handing on `_name` parameters is not using them.
            #[allow(clippy::used_underscore_binding)]
            let __io_args = #values;
            #inner
        }
    }
}

/// `body` as an `async move` block; with `err`/`ret`, the events are
/// emitted inside it, after its value, so they belong to the span.
fn async_body(body: &TokenStream, annot: &TokenStream, events: &TokenStream) -> TokenStream {
    if events.is_empty() {
        quote!(async move { #body })
    } else {
        quote! {
            async move {
                #[allow(clippy::let_unit_value)]
                let __io_ret #annot = async move { #body }.await;
                #events
                __io_ret
            }
        }
    }
}

/// The async part of a call: `enter` starts the call (`__io_call`), then
/// the span (only when someone wants it), then the body, wrapped, and
/// awaited.
///
/// In an optimised build a call with a span and one without await futures
/// of two types (`Instrumented<.., Spanned>`, `Instrumented<.., Unspanned>`):
/// the function's future tells them apart by its state, so the common call,
/// without a span, stores, tests and drops no span (`benches/icount.sh`).
/// In a build with debug assertions one type holds an optional span, where
/// speed matters less: two types there measured 43% more code per function
/// (and in release, 24% to 47% more: `benches/BENCHMARKS.md`).
///
/// The function's future must hold the wrapped body and nothing beside it
/// (`tests/future_size.rs`). A binding that is borrowed before an await is
/// kept across it, so the call, whose methods borrow it, is started in an
/// inner block that hands it on by value; what is left of the span after
/// the `match` has no drop glue (`Option<Spanned>`), so nothing of it is
/// kept either.
fn drive_async(
    p: &TokenStream,
    enter: &TokenStream,
    level: &TokenStream,
    span: &TokenStream,
    follows: &TokenStream,
    inner: &TokenStream,
    classify: &TokenStream,
) -> TokenStream {
    quote! {
        {
            let (__io_call, __io_span) = {
                #enter
                let __io_span = if __io_call.span_wanted() && (#p::tracing::level_enabled!(#level) || #p::tracing::if_log_enabled!(#level, { true } else { false })) {
                    #[allow(clippy::used_underscore_binding)]
                    let __io_span = #span;
                    #p::observe(&__IO_SITE, &__io_span);
                    #follows
                    #p::some_span(__io_span)
                } else {
                    #p::None
                };
                (__io_call, __io_span)
            };
            let __io_body = #inner;
            #[cfg(not(debug_assertions))]
            {
                match __io_span {
                    #p::Some(__io_span) => __io_call.instrument(__io_span, __io_body, #classify).await,
                    #p::None => __io_call.instrument_unspanned(__io_body, #classify).await,
                }
            }
            #[cfg(debug_assertions)]
            {
                __io_call.instrument(#p::Spanned::or_empty(__io_span), __io_body, #classify).await
            }
        }
    }
}

/// `fn f(..) -> Pin<Box<dyn Future<Output = R> + ..>> { Box::pin(async move { .. }) }`
/// (what `async-trait` generates, or a `BoxFuture`): the future is what runs
/// the body, so the future is instrumented. Its output is classified and
/// given to `err`/`ret` whatever its type is called: the closure and the
/// events infer it.
fn async_trait_style(
    plan: &Plan<'_>,
    mut f: ItemFn,
    index: usize,
    block: &syn::ExprAsync,
    pinned: bool,
) -> TokenStream {
    let p = plan.private();
    let fn_name = f.sig.ident.to_string();
    let site = plan.site(&p, &f.sig, true);
    let span = plan.span(&p, &fn_name, &f.sig.inputs);
    let output = ast::return_type(&f.sig.output).and_then(ast::future_output);
    let events = plan.events(&p);
    let is_err = plan.is_err(&p);
    let level = plan.args.level().tokens(&p);
    let enter = plan.enter(&p, true, f.sig.ident.span(), &f.sig.inputs);
    let follows = plan.follows_from();
    let (annot, fake) = match &output {
        Some(ty) if !ast::has_impl_trait(ty) => {
            (quote!(: #ty), fake_return(&p, Some(ty), f.sig.ident.span()))
        }
        _ => (TokenStream::new(), TokenStream::new()),
    };
    let stmts = &block.block.stmts;
    let inner = if events.is_empty() {
        quote!(async move { #fake #(#stmts)* })
    } else {
        quote! {
            async move {
                #[allow(clippy::let_unit_value)]
                let __io_ret #annot = async move { #fake #(#stmts)* }.await;
                #events
                __io_ret
            }
        }
    };
    let attrs = &block.attrs;
    let classify = quote!(|__io_ref| #is_err);
    let drive = drive_async(&p, &enter, &level, &span, &follows, &inner, &classify);
    let drive = plan.request_future(&p, drive);
    let instrumented = quote! {
        #(#attrs)*
        async move {
            #site
            #drive
        }
    };
    let instrumented: syn::Expr = syn::parse_quote!(#instrumented);
    match &mut f.block.stmts[index] {
        syn::Stmt::Expr(syn::Expr::Call(call), None) if pinned => call.args[0] = instrumented,
        stmt => *stmt = syn::Stmt::Expr(instrumented, None),
    }
    f.into_token_stream()
}
