//! What the attribute was put on, and the facts about a function that
//! validation and expansion need.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::spanned::Spanned;
use syn::{
    Attribute, FieldPat, FnArg, Item, ItemFn, ItemImpl, Pat, PatIdent, PatType, ReturnType,
    TraitItemFn, Type, TypePath,
};

/// The annotated item.
pub(crate) enum Input {
    /// A free function or a method (with a body).
    Fn(ItemFn),
    /// An inherent or trait impl block.
    Impl(ItemImpl),
    /// A function without a body (a trait method declaration).
    Bodyless(TraitItemFn),
    /// Anything else; the span of its first token.
    Other(Span),
}

impl Input {
    pub(crate) fn parse(tokens: TokenStream) -> Input {
        match syn::parse2::<Item>(tokens.clone()) {
            Ok(Item::Fn(f)) => Input::Fn(f),
            Ok(Item::Impl(i)) => Input::Impl(i),
            Ok(other) => match syn::parse2::<TraitItemFn>(tokens) {
                Ok(f) if f.default.is_none() => Input::Bodyless(f),
                _ => Input::Other(first_token_span(&other)),
            },
            Err(_) => match syn::parse2::<TraitItemFn>(tokens.clone()) {
                Ok(f) if f.default.is_none() => Input::Bodyless(f),
                _ => Input::Other(
                    tokens
                        .into_iter()
                        .next()
                        .map_or_else(Span::call_site, |t| t.span()),
                ),
            },
        }
    }
}

/// The span of the first token after the item's attributes.
fn first_token_span(item: &Item) -> Span {
    let mut tokens = quote::ToTokens::to_token_stream(item)
        .into_iter()
        .peekable();
    while let Some(TokenTree::Punct(p)) = tokens.peek() {
        if p.as_char() != '#' {
            break;
        }
        tokens.next();
        tokens.next();
    }
    tokens.next().map_or_else(Span::call_site, |t| t.span())
}

/// How `tracing::instrument` records a parameter.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordType {
    /// As a `tracing` value (primitives).
    Value,
    /// With `tracing::field::debug`.
    Debug,
}

/// Type names recorded as values (through `tracing::Value`), exactly the
/// list `tracing::instrument` uses: every other parameter is recorded with
/// `Debug`.
const VALUE_TYPES: &[&str] = &[
    "bool",
    "str",
    "u8",
    "i8",
    "u16",
    "i16",
    "u32",
    "i32",
    "u64",
    "i64",
    "u128",
    "i128",
    "f32",
    "f64",
    "usize",
    "isize",
    "String",
    "NonZeroU8",
    "NonZeroI8",
    "NonZeroU16",
    "NonZeroI16",
    "NonZeroU32",
    "NonZeroI32",
    "NonZeroU64",
    "NonZeroI64",
    "NonZeroU128",
    "NonZeroI128",
    "NonZeroUsize",
    "NonZeroIsize",
    "Wrapping",
];

impl RecordType {
    fn of(ty: &Type) -> RecordType {
        match ty {
            Type::Path(TypePath { path, .. })
                if path
                    .segments
                    .last()
                    .is_some_and(|s| VALUE_TYPES.iter().any(|t| s.ident == t)) =>
            {
                RecordType::Value
            }
            Type::Reference(r) => RecordType::of(&r.elem),
            _ => RecordType::Debug,
        }
    }
}

/// A parameter binding the span records: its name and how.
pub(crate) struct Param {
    pub(crate) ident: syn::Ident,
    pub(crate) record: RecordType,
}

/// Every binding of the parameters, destructured patterns included.
pub(crate) fn params(inputs: &syn::punctuated::Punctuated<FnArg, syn::Token![,]>) -> Vec<Param> {
    let mut out = Vec::new();
    for arg in inputs {
        match arg {
            FnArg::Receiver(r) => out.push(Param {
                ident: syn::Ident::new("self", r.self_token.span),
                record: RecordType::Debug,
            }),
            FnArg::Typed(PatType { pat, ty, .. }) => bindings(pat, RecordType::of(ty), &mut out),
        }
    }
    out
}

fn bindings(pat: &Pat, record: RecordType, out: &mut Vec<Param>) {
    match pat {
        Pat::Ident(PatIdent { ident, .. }) => out.push(Param {
            ident: ident.clone(),
            record,
        }),
        Pat::Reference(r) => bindings(&r.pat, record, out),
        // Field types of destructured patterns are unknown here: recorded
        // with `Debug`, as `tracing::instrument` does.
        Pat::Struct(s) => {
            for FieldPat { pat, .. } in &s.fields {
                bindings(pat, RecordType::Debug, out);
            }
        }
        Pat::Tuple(t) => {
            for p in &t.elems {
                bindings(p, RecordType::Debug, out);
            }
        }
        Pat::TupleStruct(t) => {
            for p in &t.elems {
                bindings(p, RecordType::Debug, out);
            }
        }
        _ => {}
    }
}

/// A name a parameter pattern binds, as the body sees it.
pub(crate) struct Binding {
    pub(crate) ident: syn::Ident,
    /// The user's `mut`, moved from the function's pattern to the body's
    /// (with its span, so `unused_mut` still points at it).
    pub(crate) mutability: Option<syn::Token![mut]>,
    /// Generated for a `_` parameter: the body cannot name it.
    pub(crate) generated: bool,
}

/// The typed parameters' bindings, in declaration order, for handing them
/// to the body's closure (whose parameters they become): the function keeps
/// its patterns (its signature is unchanged but for `mut`, which is not part
/// of it, and a `_` parameter, which gets a name so it can be handed on too).
/// Values are then dropped in the same order as without the attribute: the
/// bindings in reverse order of declaration.
///
/// Bindings named in `kept` (the `parent` and `follows_from` expressions,
/// which the span's setup may consume, as `follows_from = causes` does) stay
/// with the function as they are: the body's `move` closure captures them
/// if it uses them.
///
/// With `take_mut` false, the user's `mut` stays in the function's
/// patterns (for a body that captures the bindings rather than taking
/// them as parameters).
pub(crate) fn take_bindings(
    inputs: &mut syn::punctuated::Punctuated<FnArg, syn::Token![,]>,
    kept: &[String],
    take_mut: bool,
) -> Vec<Binding> {
    struct Collect<'a> {
        out: Vec<Binding>,
        kept: &'a [String],
        take_mut: bool,
    }
    impl syn::visit_mut::VisitMut for Collect<'_> {
        fn visit_pat_ident_mut(&mut self, p: &mut PatIdent) {
            if !self.kept.iter().any(|k| p.ident == k) {
                // `ref` bindings are references into the function's own
                // parameter: they keep their form (and are handed on as
                // references).
                let mutability = if p.by_ref.is_none() && self.take_mut {
                    p.mutability.take()
                } else {
                    None
                };
                self.out.push(Binding {
                    ident: p.ident.clone(),
                    mutability,
                    generated: false,
                });
            }
            if let Some((_, sub)) = &mut p.subpat {
                self.visit_pat_mut(sub);
            }
        }
    }
    let mut collect = Collect {
        out: Vec::new(),
        kept,
        take_mut,
    };
    for (index, arg) in inputs.iter_mut().enumerate() {
        if let FnArg::Typed(t) = arg {
            if let Pat::Wild(w) = &*t.pat {
                let ident = syn::Ident::new(&format!("__io_arg{index}"), w.underscore_token.span);
                *t.pat = Pat::Ident(PatIdent {
                    attrs: Vec::new(),
                    by_ref: None,
                    mutability: None,
                    ident: ident.clone(),
                    subpat: None,
                });
                collect.out.push(Binding {
                    ident,
                    mutability: None,
                    generated: true,
                });
            } else {
                syn::visit_mut::VisitMut::visit_pat_mut(&mut collect, &mut t.pat);
            }
        }
    }
    collect.out
}

/// Macros that never leave the function they are used in: a body using no
/// other macro, and no `return` or `?` outside closures, async blocks and
/// nested items, ends only by its value or a panic.
const STAYING_MACROS: &[&str] = &[
    "assert",
    "assert_eq",
    "assert_ne",
    "concat",
    "dbg",
    "debug",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "debug_span",
    "eprint",
    "eprintln",
    "error",
    "error_span",
    "event",
    "file",
    "format",
    "format_args",
    "info",
    "info_span",
    "line",
    "matches",
    "module_path",
    "panic",
    "print",
    "println",
    "span",
    "stringify",
    "todo",
    "trace",
    "trace_span",
    "unimplemented",
    "unreachable",
    "vec",
    "warn",
    "warn_span",
    "write",
    "writeln",
];

/// Where the body can leave the function other than by its value or a
/// panic: a `return`, a `?`, or a macro that might hide one (any macro but
/// [`STAYING_MACROS`], and those when their arguments hold a `return` or a
/// `?` that applies to a value). Closures, async blocks and nested items
/// are their own functions. `None`: the body only ends by its value.
pub(crate) fn early_exit(block: &syn::Block) -> Option<Span> {
    find_exit(block, false)
}

/// The first `return` of the function's own (outside closures, async blocks
/// and nested items).
pub(crate) fn early_return(block: &syn::Block) -> Option<Span> {
    find_exit(block, true)
}

fn find_exit(block: &syn::Block, returns_only: bool) -> Option<Span> {
    struct Find(Option<Span>, bool);
    impl<'a> syn::visit::Visit<'a> for Find {
        fn visit_expr_closure(&mut self, _: &'a syn::ExprClosure) {}
        fn visit_expr_async(&mut self, _: &'a syn::ExprAsync) {}
        fn visit_item(&mut self, _: &'a Item) {}
        fn visit_expr_return(&mut self, e: &'a syn::ExprReturn) {
            self.0.get_or_insert(e.return_token.span);
            syn::visit::visit_expr_return(self, e);
        }
        fn visit_expr_try(&mut self, e: &'a syn::ExprTry) {
            if !self.1 {
                self.0.get_or_insert(e.question_token.span);
            }
            syn::visit::visit_expr_try(self, e);
        }
        fn visit_macro(&mut self, m: &'a syn::Macro) {
            if self.1 {
                return;
            }
            let staying = m
                .path
                .segments
                .last()
                .is_some_and(|s| STAYING_MACROS.iter().any(|name| s.ident == name));
            if !staying || leaves_in_tokens(m.tokens.clone()) {
                self.0.get_or_insert(m.path.span());
            }
        }
    }
    let mut find = Find(None, returns_only);
    syn::visit::visit_block(&mut find, block);
    find.0
}

/// Whether macro arguments hold a `return`, or a `?` after a value (the
/// try operator; a `?` after `=`, `,` or at the start is a formatting sigil,
/// as in `tracing::info!(x = ?y)`).
fn leaves_in_tokens(tokens: TokenStream) -> bool {
    let mut previous: Option<TokenTree> = None;
    for tt in tokens {
        match &tt {
            TokenTree::Ident(i) if i == "return" => return true,
            TokenTree::Punct(p) if p.as_char() == '?' => {
                let sigil = match &previous {
                    None => true,
                    Some(TokenTree::Punct(q)) => matches!(q.as_char(), '=' | ','),
                    Some(_) => false,
                };
                if !sigil {
                    return true;
                }
            }
            TokenTree::Group(g) if leaves_in_tokens(g.stream()) => return true,
            _ => {}
        }
        previous = Some(tt);
    }
    false
}

/// Every identifier in `tokens` (macro arguments included).
pub(crate) fn idents_in(tokens: TokenStream, out: &mut Vec<String>) {
    for tt in tokens {
        match tt {
            TokenTree::Ident(i) => out.push(i.to_string()),
            TokenTree::Group(g) => idents_in(g.stream(), out),
            _ => {}
        }
    }
}

/// Whether the function has a `self` receiver.
pub(crate) fn has_receiver(inputs: &syn::punctuated::Punctuated<FnArg, syn::Token![,]>) -> bool {
    inputs.iter().any(|a| matches!(a, FnArg::Receiver(_)))
}

/// The `#[track_caller]` attribute, if the function has one.
pub(crate) fn track_caller(attrs: &[Attribute]) -> Option<&Attribute> {
    attrs.iter().find(|a| a.path().is_ident("track_caller"))
}

/// Whether an attribute is ours (`instrument_once` or `x::instrument_once`).
pub(crate) fn is_ours(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "instrument_once")
}

/// Whether an attribute is `tracing::instrument` (or an imported `instrument`).
pub(crate) fn is_tracing_instrument(attr: &Attribute) -> bool {
    let segments: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    match segments.as_slice() {
        [one] => one == "instrument",
        [.., krate, last] => {
            last == "instrument" && (krate == "tracing" || krate == "tracing_attributes")
        }
        [] => false,
    }
}

/// Finds, in a function body, the marks that an instrumentation attribute
/// already expanded there: `tracing::instrument`'s generated locals, or ours.
/// Returns the span of the mark and whose it is.
pub(crate) fn expansion_mark(body: &TokenStream) -> Option<(Span, &'static str)> {
    for tt in body.clone() {
        match tt {
            TokenTree::Ident(i) => {
                let s = i.to_string();
                if s.starts_with("__tracing_attr_") || s == "__tracing_instrument_future" {
                    return Some((i.span(), "tracing"));
                }
                if s == "__IO_SITE" {
                    return Some((i.span(), "ours"));
                }
            }
            TokenTree::Group(g) => {
                if let Some(found) = expansion_mark(&g.stream()) {
                    return Some(found);
                }
            }
            _ => {}
        }
    }
    None
}

/// The returned type, if the function declares one.
pub(crate) fn return_type(output: &ReturnType) -> Option<&Type> {
    match output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(ty),
    }
}

/// Whether a type is plainly not a `Result` (anything that could be a
/// `Result` or an alias of one is accepted; the compiler checks the rest).
pub(crate) fn plainly_not_result(ty: Option<&Type>) -> bool {
    const NOT_RESULT: &[&str] = &[
        "bool", "char", "str", "u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "u128",
        "i128", "usize", "isize", "f32", "f64", "String", "Vec", "Option", "Box", "HashMap",
        "BTreeMap", "HashSet", "BTreeSet", "Rc", "Arc",
    ];
    let Some(ty) = ty else { return true };
    match ty {
        Type::Paren(p) => plainly_not_result(Some(&p.elem)),
        Type::Group(g) => plainly_not_result(Some(&g.elem)),
        Type::Path(p) => {
            p.qself.is_none()
                && p.path
                    .segments
                    .last()
                    .is_some_and(|s| NOT_RESULT.iter().any(|n| s.ident == n))
        }
        Type::Tuple(_)
        | Type::Reference(_)
        | Type::Array(_)
        | Type::Slice(_)
        | Type::Ptr(_)
        | Type::Never(_)
        | Type::BareFn(_)
        | Type::TraitObject(_)
        | Type::ImplTrait(_) => true,
        _ => false,
    }
}

/// Whether a type is the never type `!`, also as a macro's `$t:ty` hands it
/// on (in an invisible group) or in parentheses.
pub(crate) fn is_never(ty: &Type) -> bool {
    match ty {
        Type::Never(_) => true,
        Type::Group(g) => is_never(&g.elem),
        Type::Paren(p) => is_never(&p.elem),
        _ => false,
    }
}

/// Whether a type mentions `impl Trait` anywhere (then it cannot be named in
/// a `let` annotation, and the outcome is not classified).
pub(crate) fn has_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'a> syn::visit::Visit<'a> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'a syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut f = Finder(false);
    syn::visit::visit_type(&mut f, ty);
    f.0
}

/// Replaces `impl Trait` with `_`, so the type can annotate a `let`.
pub(crate) fn erase_impl_trait(ty: &Type) -> Type {
    struct Eraser;
    impl syn::visit_mut::VisitMut for Eraser {
        fn visit_type_mut(&mut self, t: &mut Type) {
            if let Type::ImplTrait(i) = t {
                *t = Type::Infer(syn::TypeInfer {
                    underscore_token: syn::Token![_](i.span()),
                });
            } else {
                syn::visit_mut::visit_type_mut(self, t);
            }
        }
    }
    let mut ty = ty.clone();
    syn::visit_mut::VisitMut::visit_type_mut(&mut Eraser, &mut ty);
    ty
}

/// The `async move { .. }` block of an `async-trait`-style function: the
/// body's last expression is `Box::pin(async move { .. })` or
/// `async move { .. }`. Returns the statement's index and the block.
pub(crate) fn async_block_body(f: &ItemFn) -> Option<(usize, &syn::ExprAsync, bool)> {
    if f.sig.asyncness.is_some() {
        return None;
    }
    let (index, expr) = f
        .block
        .stmts
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, s)| match s {
            syn::Stmt::Expr(e, None) => Some((i, e)),
            _ => None,
        })?;
    match expr {
        syn::Expr::Async(a) => Some((index, a, false)),
        syn::Expr::Call(call) => {
            let syn::Expr::Path(p) = call.func.as_ref() else {
                return None;
            };
            let segs: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            if !segs.ends_with(&["Box".to_owned(), "pin".to_owned()]) || call.args.len() != 1 {
                return None;
            }
            match &call.args[0] {
                syn::Expr::Async(a) => Some((index, a, true)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `R` in a return type like `Pin<Box<dyn Future<Output = R> + Send>>`.
pub(crate) fn future_output(ty: &Type) -> Option<Type> {
    struct Finder(Option<Type>);
    impl<'a> syn::visit::Visit<'a> for Finder {
        fn visit_assoc_type(&mut self, a: &'a syn::AssocType) {
            if a.ident == "Output" && self.0.is_none() {
                self.0 = Some(a.ty.clone());
            }
        }
    }
    let mut f = Finder(None);
    syn::visit::visit_type(&mut f, ty);
    f.0
}
