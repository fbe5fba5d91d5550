//! Code generation. Generated code names only `#krate::__private` paths,
//! contains no `unsafe`, and prefixes its locals with `__io_`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Block, ItemFn, Type};

use crate::args::{Args, FormatMode, LevelName, Overflow};
use crate::ast::{self, RecordType};

/// Everything one function's expansion needs.
pub(crate) struct Plan<'a> {
    pub(crate) args: &'a Args,
    /// `fn` or `Type::fn`, appended to `module_path!()`.
    pub(crate) qual: &'a str,
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
    fn site(&self, p: &TokenStream, fn_name: &str) -> TokenStream {
        let args = self.args;
        let name = self.name(fn_name);
        let qual = self.qual;
        let target = self.target(p);
        let level = level_path(p, args.level());
        let max_depth = args.max_depth.as_ref().map_or(0, |m| m.value);
        let outermost = args.recursion_outermost.as_ref().is_some_and(|r| r.value);
        let stats = args.stats.as_ref().is_none_or(|s| s.value);
        let timing = stats && args.timing.as_ref().is_none_or(|t| t.value);
        quote! {
            const __IO_SITE_CONFIG: #p::Config = #p::Config {
                max_depth: #max_depth,
                outermost: #outermost,
                timing: #timing,
                stats: #stats,
            };
            static __IO_SITE: #p::Site = #p::Site::new(#p::Meta {
                name: #name,
                qualified_name: #p::concat!(#p::module_path!(), "::", #qual),
                module_path: #p::module_path!(),
                target: #target,
                file: #p::file!(),
                line: #p::line!(),
                level: #level,
                config: __IO_SITE_CONFIG,
            });
            #p::register_site!(__IO_SITE);
            #p::thread_local! {
                static __IO_LOCAL: #p::Local = const { #p::Local::new() };
            }
            struct __IoKey;
            impl #p::Key for __IoKey {
                const CONFIG: #p::Config = __IO_SITE_CONFIG;
                #[inline]
                fn site() -> &'static #p::Site {
                    &__IO_SITE
                }
                #[inline]
                fn local() -> &'static #p::LocalKey<#p::Local> {
                    &__IO_LOCAL
                }
            }
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
        let level = level_path(p, args.level());
        let parent = args.parent.as_ref().map(|x| {
            let e = &x.value;
            quote!(parent: #e,)
        });
        let custom = args
            .fields
            .as_ref()
            .map(|f| f.value.as_slice())
            .unwrap_or_default();
        let params: Vec<TokenStream> = if args.skip_all.is_some() {
            Vec::new()
        } else {
            ast::params(inputs)
                .into_iter()
                .filter(|param| {
                    let skipped = args
                        .skip
                        .as_ref()
                        .is_some_and(|s| s.value.contains(&param.ident));
                    // A custom field of the same name replaces the parameter.
                    let shadowed = custom
                        .iter()
                        .any(|f| f.name.len() == 1 && f.name[0] == param.ident);
                    !skipped && !shadowed
                })
                .map(|param| {
                    let ident = &param.ident;
                    // Spanned at the parameter, so "doesn't implement
                    // `Debug`" points at it rather than at the attribute.
                    match param.record {
                        RecordType::Value => quote!(#ident = #ident),
                        RecordType::Debug => quote_spanned! {ident.span()=>
                            #ident = #p::tracing::field::debug(&#ident)
                        },
                    }
                })
                .collect()
        };
        quote! {
            #p::tracing::span!(target: #target, #parent #level, #name, #(#params,)* #(#custom),*)
        }
    }

    fn follows_from(&self, span: &TokenStream) -> TokenStream {
        let Some(f) = &self.args.follows_from else {
            return TokenStream::new();
        };
        let e = &f.value;
        quote! {
            for __io_cause in #e {
                #span.follows_from(__io_cause);
            }
        }
    }

    /// `err` / `ret` events on `__io_ret` (a reference to the output).
    fn events(&self, p: &TokenStream) -> TokenStream {
        let args = self.args;
        let target = self.target(p);
        let err = args.err.as_ref().map(|e| {
            let level = level_path(p, e.value.level.unwrap_or(LevelName::Error));
            if e.value.mode == FormatMode::Debug {
                quote!(#p::tracing::event!(target: #target, #level, error = ?__io_e))
            } else {
                quote!(#p::tracing::event!(target: #target, #level, error = %__io_e))
            }
        });
        let ret = args.ret.as_ref().map(|r| {
            let level = level_path(p, r.value.level.unwrap_or(args.level()));
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

    /// Whether the output is an `Err`, for the stats.
    fn is_err(&self, p: &TokenStream, ret: Option<&Type>) -> TokenStream {
        let stats = self.args.stats.as_ref().is_none_or(|s| s.value);
        match ret {
            Some(ty) if stats && !ast::has_impl_trait(ty) => quote! {
                {
                    #[allow(unused_imports)]
                    use #p::{IsErrOther as _, IsErrResult as _};
                    (&__io_ret).__io_is_err()
                }
            },
            _ => quote!(false),
        }
    }

    /// `let __io_call = ..;`, returning `Err` early under `on_overflow = "error"`.
    fn enter(&self, p: &TokenStream, asyncness: bool) -> TokenStream {
        let (ty, enter, try_enter) = if asyncness {
            (quote!(AsyncCall), quote!(start), quote!(try_start))
        } else {
            (quote!(Call), quote!(enter), quote!(try_enter))
        };
        if self
            .args
            .on_overflow
            .as_ref()
            .is_some_and(|o| o.value == Overflow::Error)
        {
            quote! {
                let __io_call = match #p::#ty::<__IoKey>::#try_enter() {
                    #p::Ok(__io_call) => __io_call,
                    #p::Err(__io_e) => return #p::Err(#p::From::from(__io_e)),
                };
            }
        } else {
            quote! {
                let __io_call = #p::#ty::<__IoKey>::#enter();
            }
        }
    }
}

fn level_path(p: &TokenStream, level: LevelName) -> TokenStream {
    let ident = level.ident();
    quote!(#p::tracing::Level::#ident)
}

/// A statement that pins the block's type to the declared return type, so
/// type errors in the body point at the body, not at the attribute.
fn fake_return(p: &TokenStream, ret: Option<&Type>, fallback: Span) -> TokenStream {
    let (ty, span) = match ret {
        Some(ty) => (ast::erase_impl_trait(ty).to_token_stream(), ty.span()),
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

/// Instruments one function (free function or method).
pub(crate) fn function(plan: &Plan<'_>, f: ItemFn) -> TokenStream {
    if let Some((index, block, pinned)) = ast::async_block_body(&f) {
        let (index, block) = (index, block.clone());
        return async_trait_style(plan, f, index, &block, pinned);
    }
    let p = plan.private();
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = f;
    let (inner_attrs, outer_attrs): (Vec<_>, Vec<_>) = attrs
        .into_iter()
        .partition(|a| matches!(a.style, syn::AttrStyle::Inner(_)));
    let fn_name = sig.ident.to_string();
    let site = plan.site(&p, &fn_name);
    let span = plan.span(&p, &fn_name, &sig.inputs);
    let ret = ast::return_type(&sig.output);
    let fake = fake_return(&p, ret, sig.ident.span());
    let events = plan.events(&p);
    let is_err = plan.is_err(&p, ret);
    let level = level_path(&p, plan.args.level());
    let enter = plan.enter(&p, sig.asyncness.is_some());
    let annot = if let Some(ty) = ret {
        let ty = ast::erase_impl_trait(ty);
        quote!(: #ty)
    } else {
        quote!(: ())
    };
    // The user's statements go straight into the closure (or async block):
    // wrapping their block in another would trip `unused_braces`.
    let stmts = &block.stmts;
    let body = if sig.asyncness.is_some() {
        let follows = plan.follows_from(&quote!(__io_span));
        let inner = inner_future(&fake, &block, &annot, &events);
        let classify = match ret {
            Some(ty) if !ast::has_impl_trait(ty) => quote!(|__io_ret: &#ty| #is_err),
            None => quote!(|__io_ret: &()| #is_err),
            Some(_) => quote!(|_| false),
        };
        let drive = drive_async(&p, &level, &span, &follows, &inner, &classify);
        quote! {
            #enter
            #drive
        }
    } else {
        let follows = plan.follows_from(&quote!(__io_span));
        quote! {
            #enter
            let __io_span;
            let __io_entered;
            // A span below the level filter is not noted for `diagnose()`:
            // it compares the site's level with the filter itself.
            if __io_call.span_wanted() && #p::tracing::level_enabled!(#level) {
                // Recording `_name` parameters is intended.
                #[allow(clippy::used_underscore_binding)]
                let __io_new_span = #span;
                __io_span = __io_new_span;
                #p::observe(&__IO_SITE, !__io_span.is_disabled());
                #follows
                __io_entered = __io_span.enter();
            }
            #[allow(clippy::let_unit_value, clippy::unit_arg)]
            let __io_ret #annot = #p::call_once(move || {
                #fake
                #(#stmts)*
            });
            #events
            __io_call.finish(#is_err);
            __io_ret
        }
    };
    quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #site
            #body
        }
    }
}

/// The user's body as a future; with `err`/`ret`, the events are emitted
/// inside it, so they belong to the span.
fn inner_future(
    fake: &TokenStream,
    block: &Block,
    annot: &TokenStream,
    events: &TokenStream,
) -> TokenStream {
    let stmts = &block.stmts;
    if events.is_empty() {
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
    }
}

/// The async part after `__io_call` started: the span (only when someone
/// wants it), then the body, wrapped only when there is something to record.
fn drive_async(
    p: &TokenStream,
    level: &TokenStream,
    span: &TokenStream,
    follows: &TokenStream,
    inner: &TokenStream,
    classify: &TokenStream,
) -> TokenStream {
    quote! {
        let __io_span = if __io_call.span_wanted() && #p::tracing::level_enabled!(#level) {
            #[allow(clippy::used_underscore_binding)]
            let __io_span = #span;
            #p::observe(&__IO_SITE, !__io_span.is_disabled());
            #follows
            #p::some_span(__io_span)
        } else {
            #p::None
        };
        let __io_body = #inner;
        if __io_call.needs_run(__io_span.as_ref()) {
            __io_call.instrument(__io_span, __io_body, #classify).await
        } else {
            __io_body.await
        }
    }
}

/// `fn f(..) -> Pin<Box<dyn Future<Output = R> + ..>> { Box::pin(async move { .. }) }`:
/// the future is what runs the body, so the future is instrumented.
fn async_trait_style(
    plan: &Plan<'_>,
    mut f: ItemFn,
    index: usize,
    block: &syn::ExprAsync,
    pinned: bool,
) -> TokenStream {
    let p = plan.private();
    let fn_name = f.sig.ident.to_string();
    let site = plan.site(&p, &fn_name);
    let span = plan.span(&p, &fn_name, &f.sig.inputs);
    let output = ast::return_type(&f.sig.output).and_then(ast::future_output);
    let events = if output.is_some() {
        plan.events(&p)
    } else {
        TokenStream::new()
    };
    let is_err = plan.is_err(&p, output.as_ref());
    let level = level_path(&p, plan.args.level());
    let enter = plan.enter(&p, true);
    let follows = plan.follows_from(&quote!(__io_span));
    let (annot, classify, fake) = match &output {
        Some(ty) if !ast::has_impl_trait(ty) => (
            quote!(: #ty),
            quote!(|__io_ret: &#ty| #is_err),
            fake_return(&p, Some(ty), f.sig.ident.span()),
        ),
        _ => (TokenStream::new(), quote!(|_| false), TokenStream::new()),
    };
    let stmts = &block.block.stmts;
    let inner = if events.is_empty() {
        quote!(async move { #fake #(#stmts)* })
    } else {
        quote! {
            async move {
                let __io_ret #annot = async move { #fake #(#stmts)* }.await;
                #events
                __io_ret
            }
        }
    };
    let attrs = &block.attrs;
    let drive = drive_async(&p, &level, &span, &follows, &inner, &classify);
    let instrumented = quote! {
        #(#attrs)*
        async move {
            #site
            #enter
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
