//! `site!(crate::path::to::function)`: a function's `Site`, by a path the
//! compiler checks.
//!
//! The path must start at `crate`, `self` or `super`, so that the
//! function's qualified name (its module path and name, what the registry
//! keys sites by) can be read from it and the caller's `module_path!()`.
//! The expansion names the path in a `use` (a function) or a `let` (a
//! method, `Type::method`), so a misspelt path is a compile error; then it
//! looks the qualified name up.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Path, PathArguments};

/// Expands `site!(path)` (see the module documentation).
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    match expand_path(input) {
        Ok(tokens) => tokens,
        Err(e) => e.to_compile_error(),
    }
}

fn expand_path(input: TokenStream) -> syn::Result<TokenStream> {
    let path: Path = syn::parse2(input)?;
    if path.leading_colon.is_some() {
        return Err(syn::Error::new(
            path.span(),
            "site!: give the function's path inside this crate, from `crate::`, `self::` or \
             `super::` (a path from another crate cannot name its site here)",
        ));
    }
    let segments: Vec<_> = path.segments.iter().collect();
    if let Some(generic) = segments
        .iter()
        .find(|s| !matches!(s.arguments, PathArguments::None))
    {
        return Err(syn::Error::new(
            generic.arguments.span(),
            "site!: leave out generic arguments: a function has one site whatever its type \
             parameters",
        ));
    }
    let anchor = segments[0].ident.to_string();
    let supers = segments.iter().take_while(|s| s.ident == "super").count();
    let rest_from = match anchor.as_str() {
        "crate" | "self" => 1,
        "super" => supers,
        _ => {
            let written = segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect::<Vec<_>>()
                .join("::");
            return Err(syn::Error::new(
                path.span(),
                format!(
                    "site!: write the path where the function is defined, from `crate::`, as \
                     in `site!(crate::path::to::{written})` (or from `self::`/`super::` when \
                     it is defined there): the function's qualified name is read from the \
                     path, and a name brought in by `use` belongs to another module"
                ),
            ));
        }
    };
    if segments.len() <= rest_from {
        return Err(syn::Error::new(
            path.span(),
            "site!: name a function after the module, e.g. `site!(crate::db::load)`",
        ));
    }
    let rest: Vec<String> = segments[rest_from..]
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    let rest = rest.join("::");
    let ups = u32::try_from(if anchor == "super" { supers } else { 0 }).unwrap_or(u32::MAX);
    let from_root = anchor == "crate";
    // A method is named through its type (`Type::method`). `use` cannot
    // name an associated function, and a `let` of it needs the type's
    // generic arguments inferred: the type's path is checked, the method's
    // name is looked up at run time (an `Err` naming the closest names).
    let method = segments.len() >= rest_from + 2
        && segments[segments.len() - 2]
            .ident
            .to_string()
            .starts_with(|c: char| c.is_ascii_uppercase());
    let checked = if method {
        let mut ty = path.clone();
        ty.segments.pop();
        let ty_segments: syn::punctuated::Punctuated<_, syn::Token![::]> = ty
            .segments
            .into_pairs()
            .map(syn::punctuated::Pair::into_value)
            .collect();
        ty.segments = ty_segments;
        ty
    } else {
        path.clone()
    };
    let check = quote_spanned!(path.span()=> #[allow(unused_imports)] use #checked as _;);
    Ok(quote! {
        {
            #check
            ::instrument_once::__private::site_by_path(
                ::instrument_once::__private::module_path!(),
                #from_root,
                #ups,
                #rest,
            )
        }
    })
}
