//! The `#[instrument_once]` attribute. Use it through the `instrument-once`
//! crate, which re-exports it and holds the runtime it expands to; the two
//! crates are version-locked.
//!
//! Stages, one module each: `args` parses the options, `ast` reads the
//! item, `valid` checks misuse, `expand` generates code. On any error the
//! original item is emitted unchanged beside the errors, so the user sees the
//! mistake and not a cascade of secondary errors.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, ToTokens};
use syn::{ImplItem, ItemFn, ItemImpl, Type};

mod args;
mod ast;
mod expand;
mod site;
mod valid;

use args::Args;
use ast::Input;

/// Instrument a function, or every method of an impl block, exactly once.
/// See the `instrument-once` crate for the documentation.
#[proc_macro_attribute]
pub fn instrument_once(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_attribute(attr.into(), item.into()).into()
}

/// An instrumented function's site by a path the compiler checks. See the
/// `instrument-once` crate for the documentation.
#[proc_macro]
pub fn site(input: TokenStream) -> TokenStream {
    site::expand(input.into()).into()
}

/// The whole expansion, on `proc_macro2` streams (so tests can run it).
fn expand_attribute(attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let args = match syn::parse2::<Args>(attr) {
        Ok(args) => args,
        Err(e) => return with_original(&[e], &item),
    };
    match Input::parse(item.clone()) {
        Input::Fn(f) => instrument_fn(args, f, item),
        Input::Impl(i) => instrument_impl(&args, i, item),
        Input::Bodyless(f) => with_original(
            &[syn::Error::new_spanned(
                &f.sig,
                "`#[instrument_once]` needs a function body to wrap, and this trait method has none; \
                 put the attribute on the method in each `impl` instead",
            )],
            &item,
        ),
        Input::Other(span) => with_original(
            &[syn::Error::new(
                span,
                "`#[instrument_once]` goes on a function or an `impl` block",
            )],
            &item,
        ),
    }
}

fn instrument_fn(mut args: Args, f: ItemFn, original: TokenStream2) -> TokenStream2 {
    let mut errors = std::mem::take(&mut args.errors);
    valid::attributes(&f, &mut errors);
    valid::function(&f, &args, &mut errors);
    valid::skips(&args, &std::iter::once(&f), &mut errors);
    if !errors.is_empty() {
        return with_original(&errors, &strip_ours(original));
    }
    let qual = f.sig.ident.to_string();
    let plan = expand::Plan {
        args: &args,
        qual: &qual,
    };
    expand::function(&plan, f)
}

fn instrument_impl(block_args: &Args, mut item: ItemImpl, original: TokenStream2) -> TokenStream2 {
    let mut errors = block_args.errors.clone();
    let type_name = type_name(&item.self_ty);
    let mut planned: Vec<(usize, Args, ItemFn)> = Vec::new();
    for (index, impl_item) in item.items.iter().enumerate() {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let mut f = ItemFn {
            attrs: method.attrs.clone(),
            vis: method.vis.clone(),
            sig: method.sig.clone(),
            block: Box::new(method.block.clone()),
        };
        // The method's own `#[instrument_once(..)]`, if any, overrides the
        // block's options; it is consumed here, never expanded a second time.
        let own = f.attrs.iter().position(ast::is_ours);
        let method_args = match own {
            Some(pos) => {
                let attr = f.attrs.remove(pos);
                let parsed = match &attr.meta {
                    syn::Meta::Path(_) => Ok(Args::default()),
                    syn::Meta::List(list) => syn::parse2::<Args>(list.tokens.clone()),
                    syn::Meta::NameValue(nv) => Err(syn::Error::new_spanned(
                        nv,
                        "expected `#[instrument_once(..)]`",
                    )),
                };
                match parsed {
                    Ok(mut a) => {
                        errors.append(&mut a.errors);
                        a
                    }
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                }
            }
            None if f.sig.constness.is_some() => continue,
            None => Args::default(),
        };
        let mut merged = method_args.clone().over(block_args);
        // Block-level `skip` names apply to the methods that have them.
        if method_args.skip.is_none() {
            if let Some(skip) = &mut merged.skip {
                let params = ast::params(&f.sig.inputs);
                skip.value.retain(|n| params.iter().any(|p| p.ident == *n));
            }
        }
        valid::attributes(&f, &mut errors);
        valid::function(&f, &merged, &mut errors);
        if method_args.skip.is_some() || method_args.repeats_by.is_some() {
            valid::skips(&method_args, &std::iter::once(&f), &mut errors);
        }
        planned.push((index, merged, f));
    }
    let fns: Vec<&ItemFn> = planned.iter().map(|(_, _, f)| f).collect();
    valid::skips(block_args, &fns.iter().copied(), &mut errors);
    if !errors.is_empty() {
        return with_original(&errors, &strip_ours(original));
    }
    for (index, args, f) in planned {
        let qual = format!("{type_name}::{}", f.sig.ident);
        let plan = expand::Plan {
            args: &args,
            qual: &qual,
        };
        item.items[index] = ImplItem::Verbatim(expand::function(&plan, f));
    }
    item.into_token_stream()
}

/// The name methods are qualified with: the last path segment of the type,
/// without generics (`Repo` for `Repo<T>`), or the type as written.
fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(p) if p.qself.is_none() => p
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default(),
        Type::Reference(r) => type_name(&r.elem),
        Type::Paren(p) => type_name(&p.elem),
        Type::Group(g) => type_name(&g.elem),
        other => other.to_token_stream().to_string().replace(' ', ""),
    }
}

/// The errors, then the item unchanged (less any `#[instrument_once]`
/// attributes inside it, which would only repeat the errors).
fn with_original(errors: &[syn::Error], original: &TokenStream2) -> TokenStream2 {
    let errors = errors.iter().map(syn::Error::to_compile_error);
    quote!(#(#errors)* #original)
}

fn strip_ours(original: TokenStream2) -> TokenStream2 {
    struct Strip;
    impl syn::visit_mut::VisitMut for Strip {
        fn visit_attributes_mut(&mut self, attrs: &mut Vec<syn::Attribute>) {
            attrs.retain(|a| !ast::is_ours(a));
        }
    }
    match syn::parse2::<syn::Item>(original.clone()) {
        Ok(mut item) => {
            syn::visit_mut::VisitMut::visit_item_mut(&mut Strip, &mut item);
            item.into_token_stream()
        }
        Err(_) => original,
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::{Spacing, TokenStream, TokenTree};
    use quote::quote;

    /// The first two segments of every absolute path (`::a::b..`) in
    /// `tokens`: a `::` that does not follow an identifier or `>`.
    fn absolute_roots(tokens: TokenStream, out: &mut Vec<String>) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let is_path_sep = |i: usize| {
            matches!(tokens.get(i), Some(TokenTree::Punct(p)) if p.as_char() == ':' && p.spacing() == Spacing::Joint)
                && matches!(tokens.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == ':')
        };
        for (i, tt) in tokens.iter().enumerate() {
            if let TokenTree::Group(g) = tt {
                absolute_roots(g.stream(), out);
            }
            let after_segment = i > 0
                && match &tokens[i - 1] {
                    TokenTree::Ident(_) => true,
                    TokenTree::Punct(p) => p.as_char() == '>',
                    _ => false,
                };
            if is_path_sep(i) && !after_segment {
                let seg = |k: usize| match tokens.get(k) {
                    Some(TokenTree::Ident(id)) => id.to_string(),
                    _ => String::new(),
                };
                out.push(format!("{}::{}", seg(i + 2), seg(i + 5)));
            }
        }
    }

    #[test]
    fn the_path_scanner_finds_absolute_paths_only() {
        let mut roots = Vec::new();
        absolute_roots(
            quote!(let x: ::core::mem::X = a::b(::std::f(), Vec::<u8>::new());),
            &mut roots,
        );
        assert_eq!(roots, ["core::mem", "std::f"]);
    }

    fn idents(tokens: TokenStream, out: &mut Vec<String>) {
        for tt in tokens {
            match tt {
                TokenTree::Ident(i) => out.push(i.to_string()),
                TokenTree::Group(g) => idents(g.stream(), out),
                _ => {}
            }
        }
    }

    fn check(attr: TokenStream, item: TokenStream) {
        let out = super::expand_attribute(attr, item);
        let text = out.to_string();
        assert!(!text.contains("compile_error"), "{text}");
        let mut roots = Vec::new();
        absolute_roots(out.clone(), &mut roots);
        assert!(!roots.is_empty());
        for root in &roots {
            assert_eq!(
                root, "instrument_once::__private",
                "generated code names `::{root}`: {text}"
            );
        }
        let mut names = Vec::new();
        idents(out, &mut names);
        assert!(
            !names.iter().any(|i| i == "unsafe"),
            "generated code contains `unsafe`: {text}"
        );
    }

    #[test]
    fn generated_code_names_only_the_private_module_and_has_no_unsafe() {
        check(
            quote!(),
            quote!(
                fn f(a: u32, b: &str) -> u32 {
                    a
                }
            ),
        );
        check(
            quote!(
                err,
                ret,
                level = "debug",
                max_depth = 3,
                on_overflow = "error"
            ),
            quote!(
                fn f(a: u32) -> Result<u32, E> {
                    Ok(a)
                }
            ),
        );
        check(
            quote!(err, ret, skip(b), fields(x = 1)),
            quote!(
                async fn f(a: u32, b: u8) -> Result<u32, E> {
                    Ok(a)
                }
            ),
        );
        check(
            quote!(parent = None, follows_from = c, recursion = "outermost"),
            quote!(
                fn f(c: Vec<u8>) {}
            ),
        );
        check(
            quote!(),
            quote!(
                fn f(&self) -> Pin<Box<dyn Future<Output = Result<u8, E>> + Send>> {
                    Box::pin(async move { Ok(1) })
                }
            ),
        );
        check(
            quote!(level = "trace"),
            quote!(impl S { fn a(&self) {} #[instrument_once(skip_all)] async fn b(&mut self, x: u8) {} }),
        );
    }

    #[test]
    fn a_misuse_gives_errors_and_the_item_unchanged() {
        let out = super::expand_attribute(
            quote!(bogus),
            quote!(
                fn keep_me() {}
            ),
        )
        .to_string();
        assert!(
            out.contains("compile_error") && out.contains("fn keep_me"),
            "{out}"
        );
        let out = super::expand_attribute(
            quote!(),
            quote!(
                #[instrument_once]
                fn twice() {}
            ),
        )
        .to_string();
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
        assert!(
            !out.contains("instrument_once ]"),
            "our own attributes are stripped from the original: {out}"
        );
    }
}
