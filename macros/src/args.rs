//! Attribute options. Each option is declared once, in [`options!`]: its
//! field, its key, its parser. The declaration generates the struct, the
//! list of keys in error messages, the dispatch from key to parser, and the
//! option-by-option merge of a method's options over its impl block's, so a
//! new option is one line and cannot be forgotten anywhere. Every unknown or
//! repeated option is reported, all at once, each spanned at its key.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::visit::Visit;
use syn::{Expr, Ident, LitBool, LitInt, LitStr, Path, Token};

/// A value together with the span of the key that set it.
#[derive(Clone)]
pub(crate) struct Set<T> {
    pub(crate) key: Span,
    /// Position of the option in the attribute (0-based).
    pub(crate) seq: usize,
    pub(crate) value: T,
}

/// Declares every option: `field: Type = "key" => parser,`. A parser takes
/// the input after the key and returns the value.
macro_rules! options {
    ($($(#[$doc:meta])* $field:ident: $ty:ty = $key:literal => $parse:expr,)*) => {
        /// Everything the attribute accepts.
        #[derive(Clone, Default)]
        pub(crate) struct Args {
            $($(#[$doc])* pub(crate) $field: Option<Set<$ty>>,)*
            /// Every parse error, reported together.
            pub(crate) errors: Vec<syn::Error>,
            /// Number of options parsed.
            parsed: usize,
        }

        /// Every option, in the order error messages list them.
        const OPTIONS: &[&str] = &[$($key),*];

        impl Args {
            /// Parses the value of option `key` into its field. `Ok(false)`
            /// when `key` is no option.
            fn parse_value(
                &mut self,
                key: &Ident,
                input: ParseStream<'_>,
                errors: &mut Vec<syn::Error>,
                seq: usize,
            ) -> syn::Result<bool> {
                match key.to_string().as_str() {
                    $($key => {
                        let parse: fn(ParseStream<'_>) -> syn::Result<$ty> = $parse;
                        let value = parse(input)?;
                        put(&mut self.$field, key, value, errors, seq);
                    })*
                    _ => return Ok(false),
                }
                Ok(true)
            }

            /// Options of a method inside an instrumented impl block: the
            /// method's own options win, option by option, over the block's.
            pub(crate) fn over(self, block: &Args) -> Args {
                let mut merged = Args {
                    $($field: self.$field.clone().or_else(|| block.$field.clone()),)*
                    errors: self.errors,
                    parsed: self.parsed,
                };
                // `skip` and `skip_all` exclude each other: a method that
                // chooses one replaces the block's choice entirely.
                if self.skip.is_some() || self.skip_all.is_some() {
                    merged.skip = self.skip;
                    merged.skip_all = self.skip_all;
                }
                merged
            }
        }
    };
}

options! {
    /// `name = "span name"` (or a constant), or the name as a positional
    /// first argument.
    name: Text = "name" => assign,
    /// `target = "target"` (or a constant).
    target: Text = "target" => assign,
    /// `level = "info"`, `3` or a path such as `Level::INFO`.
    level: Level = "level" => assign,
    /// `parent = expr`.
    parent: Expr = "parent" => assign,
    /// `follows_from = expr`.
    follows_from: Expr = "follows_from" => assign,
    /// `skip(a, b)`.
    skip: Vec<Ident> = "skip" => skip_list,
    /// `skip_all`.
    skip_all: () = "skip_all" => |_| Ok(()),
    /// `fields(..)`.
    fields: Vec<Field> = "fields" => field_list,
    /// `err`, `err(Debug)`, `err(level = ..)`.
    err: EventArgs = "err" => EventArgs::parse_opt,
    /// `ret`, `ret(Display)`, `ret(level = ..)`.
    ret: EventArgs = "ret" => EventArgs::parse_opt,
    /// `crate = path`.
    krate: Path = "crate" => assign,
    /// `max_depth = N`.
    max_depth: u32 = "max_depth" => max_depth,
    /// `on_overflow = "panic" | "error"`.
    on_overflow: Overflow = "on_overflow" => |input| {
        choice(input, &[("panic", Overflow::Panic), ("error", Overflow::Error)])
    },
    /// `recursion = "nest" | "outermost"`: whether only the outermost call counts.
    recursion_outermost: bool = "recursion" => |input| {
        choice(input, &[("nest", false), ("outermost", true)])
    },
    /// `timing = false`.
    timing: bool = "timing" => boolean,
    /// `stats = false`.
    stats: bool = "stats" => boolean,
    /// `request`: each call of the function is one request.
    request: () = "request" => |_| Ok(()),
    /// `repeats_by(a, b)`: the arguments whose equal values make a call a
    /// repeat of an earlier one in its request.
    repeats_by: Vec<Ident> = "repeats_by" => skip_list,
}

/// One of tracing's five levels, by name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum LevelName {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LevelName {
    fn parse_str(s: &str) -> Option<LevelName> {
        Some(match s.to_ascii_lowercase().as_str() {
            "trace" => LevelName::Trace,
            "debug" => LevelName::Debug,
            "info" => LevelName::Info,
            "warn" => LevelName::Warn,
            "error" => LevelName::Error,
            _ => return None,
        })
    }

    fn ident(self) -> Ident {
        let name = match self {
            LevelName::Trace => "TRACE",
            LevelName::Debug => "DEBUG",
            LevelName::Info => "INFO",
            LevelName::Warn => "WARN",
            LevelName::Error => "ERROR",
        };
        Ident::new(name, Span::call_site())
    }
}

/// A level: by name, or any path to a `tracing::Level` constant.
#[derive(Clone)]
pub(crate) enum Level {
    Named(LevelName),
    Path(Path),
}

impl Level {
    pub(crate) const INFO: Level = Level::Named(LevelName::Info);
    pub(crate) const ERROR: Level = Level::Named(LevelName::Error);

    /// The level as an expression, through the runtime's `tracing`.
    pub(crate) fn tokens(&self, private: &TokenStream) -> TokenStream {
        match self {
            Level::Named(name) => {
                let ident = name.ident();
                quote!(#private::tracing::Level::#ident)
            }
            Level::Path(path) => path.to_token_stream(),
        }
    }
}

impl Parse for Level {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        const EXPECTED: &str = "expected a level: \"trace\", \"debug\", \"info\", \"warn\", \"error\", 1..=5, or a path such as `Level::INFO`";
        let lookahead = input.lookahead1();
        if lookahead.peek(LitStr) {
            let s: LitStr = input.parse()?;
            LevelName::parse_str(&s.value())
                .map(Level::Named)
                .ok_or_else(|| syn::Error::new(s.span(), EXPECTED))
        } else if lookahead.peek(LitInt) {
            let i: LitInt = input.parse()?;
            let name = match i.base10_parse::<u8>() {
                Ok(1) => LevelName::Trace,
                Ok(2) => LevelName::Debug,
                Ok(3) => LevelName::Info,
                Ok(4) => LevelName::Warn,
                Ok(5) => LevelName::Error,
                _ => return Err(syn::Error::new(i.span(), EXPECTED)),
            };
            Ok(Level::Named(name))
        } else if lookahead.peek(Ident) || lookahead.peek(Token![::]) {
            let path: Path = input.parse()?;
            Ok(Level::Path(path))
        } else {
            Err(syn::Error::new(input.span(), EXPECTED))
        }
    }
}

/// A span name or target: a string literal, or a path to a `&str` constant.
#[derive(Clone)]
pub(crate) enum Text {
    Lit(LitStr),
    Path(Path),
}

impl Parse for Text {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(LitStr) {
            Ok(Text::Lit(input.parse()?))
        } else {
            input.parse().map(Text::Path).map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected a string literal or the path of a `&str` constant",
                )
            })
        }
    }
}

impl ToTokens for Text {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Text::Lit(lit) => lit.to_tokens(tokens),
            Text::Path(path) => path.to_tokens(tokens),
        }
    }
}

/// How `err` / `ret` format the value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FormatMode {
    Default,
    Debug,
    Display,
}

/// Arguments of `err(..)` / `ret(..)`.
#[derive(Clone)]
pub(crate) struct EventArgs {
    pub(crate) mode: FormatMode,
    pub(crate) level: Option<Level>,
}

impl EventArgs {
    fn parse_opt(input: ParseStream<'_>) -> syn::Result<EventArgs> {
        let mut args = EventArgs {
            mode: FormatMode::Default,
            level: None,
        };
        if !input.peek(syn::token::Paren) {
            return Ok(args);
        }
        let content;
        syn::parenthesized!(content in input);
        let mut mode_set = false;
        while !content.is_empty() {
            let key: Ident = content.parse()?;
            match key.to_string().as_str() {
                "Debug" | "Display" if !mode_set => {
                    mode_set = true;
                    args.mode = if key == "Debug" {
                        FormatMode::Debug
                    } else {
                        FormatMode::Display
                    };
                }
                "level" if args.level.is_none() => {
                    content.parse::<Token![=]>()?;
                    args.level = Some(content.parse()?);
                }
                "Debug" | "Display" | "level" => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("`{key}` is given twice"),
                    ));
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        "expected `Debug`, `Display` or `level = ..`",
                    ))
                }
            }
            if !content.is_empty() {
                content.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// The name of a custom field: `a.b.c`, or `{expr}` (a constant, computed).
#[derive(Clone)]
pub(crate) enum FieldName {
    Dotted(Punctuated<Ident, Token![.]>),
    Braced(Expr),
}

impl FieldName {
    /// The single identifier this name is, if it is one.
    pub(crate) fn ident(&self) -> Option<&Ident> {
        match self {
            FieldName::Dotted(idents) if idents.len() == 1 => idents.first(),
            _ => None,
        }
    }
}

impl ToTokens for FieldName {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            FieldName::Dotted(idents) => idents.to_tokens(tokens),
            FieldName::Braced(expr) => tokens.extend(quote!({ #expr })),
        }
    }
}

/// Finds an `.await` that would suspend the code an expression is in, or a
/// macro call that might hide one.
struct AwaitFinder(bool);

impl<'ast> Visit<'ast> for AwaitFinder {
    fn visit_expr_await(&mut self, _: &'ast syn::ExprAwait) {
        self.0 = true;
    }

    // A macro's expansion cannot be seen: it may await (`join!`, or an
    // `.await` in `format!`'s arguments), so it counts as awaiting.
    fn visit_expr_macro(&mut self, _: &'ast syn::ExprMacro) {
        self.0 = true;
    }

    fn visit_stmt_macro(&mut self, _: &'ast syn::StmtMacro) {
        self.0 = true;
    }

    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}

    fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

/// One entry of `fields(..)`, as `tracing::span!` takes it.
#[derive(Clone)]
pub(crate) struct Field {
    pub(crate) name: FieldName,
    /// `%` or `?`, before the name or after `=` (the last one counts).
    pub(crate) sigil: Option<TokenStream>,
    pub(crate) value: Option<Expr>,
}

impl Parse for Field {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut sigil = sigil(input)?;
        let name = if input.peek(syn::token::Brace) {
            let content;
            syn::braced!(content in input);
            FieldName::Braced(content.parse()?)
        } else {
            FieldName::Dotted(Punctuated::parse_separated_nonempty_with(
                input,
                Ident::parse_any,
            )?)
        };
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            if let Some(after) = self::sigil(input)? {
                sigil = Some(after);
            }
            Some(input.parse()?)
        } else {
            None
        };
        Ok(Field { name, sigil, value })
    }
}

fn sigil(input: ParseStream<'_>) -> syn::Result<Option<TokenStream>> {
    Ok(if input.peek(Token![%]) {
        Some(input.parse::<Token![%]>()?.into_token_stream())
    } else if input.peek(Token![?]) {
        Some(input.parse::<Token![?]>()?.into_token_stream())
    } else {
        None
    })
}

impl Field {
    /// The field for `tracing::span!`: `name = value`, `%name` (the local
    /// of that name, formatted), or a declared field without a value yet
    /// (`name = Empty`), recorded later with `Span::record`.
    pub(crate) fn tokens(&self, private: &TokenStream) -> TokenStream {
        let Field { name, sigil, value } = self;
        match (value, sigil) {
            (Some(value), _) => quote!(#name = #sigil #value),
            (None, Some(sigil)) => quote!(#sigil #name),
            (None, None) => quote!(#name = #private::tracing::field::Empty),
        }
    }
}

/// What the overflow of `max_depth` does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    Panic,
    Error,
}

fn put<T>(
    slot: &mut Option<Set<T>>,
    key: &Ident,
    value: T,
    errors: &mut Vec<syn::Error>,
    seq: usize,
) {
    if slot.is_some() {
        errors.push(syn::Error::new(
            key.span(),
            format!("option `{key}` is given twice; remove one of them"),
        ));
    } else {
        *slot = Some(Set {
            key: key.span(),
            seq,
            value,
        });
    }
}

fn choice<T: Copy>(input: ParseStream<'_>, choices: &[(&str, T)]) -> syn::Result<T> {
    input.parse::<Token![=]>()?;
    let lit: LitStr = input.parse()?;
    let value = lit.value();
    choices
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<String> = choices.iter().map(|(n, _)| format!("\"{n}\"")).collect();
            syn::Error::new(lit.span(), format!("expected one of {}", names.join(", ")))
        })
}

fn boolean(input: ParseStream<'_>) -> syn::Result<bool> {
    input.parse::<Token![=]>()?;
    Ok(input.parse::<LitBool>()?.value)
}

fn assign<T: Parse>(input: ParseStream<'_>) -> syn::Result<T> {
    input.parse::<Token![=]>()?;
    input.parse()
}

fn skip_list(input: ParseStream<'_>) -> syn::Result<Vec<Ident>> {
    let content;
    syn::parenthesized!(content in input);
    let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(&content, Ident::parse_any)?;
    Ok(names.into_iter().collect())
}

fn field_list(input: ParseStream<'_>) -> syn::Result<Vec<Field>> {
    let content;
    syn::parenthesized!(content in input);
    let fields = Punctuated::<Field, Token![,]>::parse_terminated(&content)?;
    Ok(fields.into_iter().collect())
}

fn max_depth(input: ParseStream<'_>) -> syn::Result<u32> {
    input.parse::<Token![=]>()?;
    let lit: LitInt = input.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            "`max_depth` takes a whole number >= 1, e.g. `max_depth = 64`",
        )
    })?;
    let n: u32 = lit.base10_parse()?;
    if n == 0 {
        return Err(syn::Error::new(
            lit.span(),
            "`max_depth = 0` would refuse every call; use a limit >= 1, or remove `max_depth`",
        ));
    }
    Ok(n)
}

impl Args {
    /// Parses one option into `self`: `key [= value | (..)]`, or the span
    /// name as a string literal.
    fn parse_option(&mut self, input: ParseStream<'_>) -> syn::Result<()> {
        let errors = &mut std::mem::take(&mut self.errors);
        let seq = self.parsed;
        self.parsed += 1;
        let result = if input.peek(LitStr) {
            // `#[instrument_once("name")]`: the span name, positional.
            let lit: LitStr = input.parse()?;
            let key = Ident::new("name", lit.span());
            put(&mut self.name, &key, Text::Lit(lit), errors, seq);
            Ok(())
        } else {
            let key = if input.peek(Token![crate]) {
                let k: Token![crate] = input.parse()?;
                Ident::new("crate", k.span)
            } else {
                input.call(Ident::parse_any)?
            };
            match self.parse_value(&key, input, errors, seq) {
                Ok(true) => Ok(()),
                Ok(false) => Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown option `{key}`; expected one of: {}",
                        OPTIONS.join(", ")
                    ),
                )),
                Err(e) => Err(e),
            }
        };
        self.errors.append(errors);
        result
    }

    /// The span's level (INFO unless given).
    pub(crate) fn level(&self) -> Level {
        self.level.as_ref().map_or(Level::INFO, |l| l.value.clone())
    }

    /// Whether counters are kept (`stats = false` turns them off).
    pub(crate) fn stats(&self) -> bool {
        self.stats.as_ref().is_none_or(|s| s.value)
    }

    /// Whether an expression the span is built from (a field's name or
    /// value, `parent`, `follows_from`) awaits: then an async function's
    /// preamble can be suspended, and dropped there, before its body runs.
    /// Awaits inside closures and `async` blocks do not count (they do not
    /// suspend the preamble); a macro call counts, since its expansion
    /// cannot be seen.
    pub(crate) fn preamble_awaits(&self) -> bool {
        let fields = self
            .fields
            .as_ref()
            .map(|f| f.value.as_slice())
            .unwrap_or_default();
        let mut finder = AwaitFinder(false);
        for field in fields {
            if let FieldName::Braced(name) = &field.name {
                finder.visit_expr(name);
            }
            if let Some(value) = &field.value {
                finder.visit_expr(value);
            }
        }
        for expr in [&self.parent, &self.follows_from].into_iter().flatten() {
            finder.visit_expr(&expr.value);
        }
        finder.0
    }

    /// Whether calls are timed.
    pub(crate) fn timing(&self) -> bool {
        self.stats() && self.timing.as_ref().is_none_or(|t| t.value)
    }
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            if let Err(e) = args.parse_option(input) {
                args.errors.push(e);
                // Skip what is left of the bad option, then keep going, so
                // every mistake in the attribute is reported at once.
                while !input.is_empty() && !input.peek(Token![,]) {
                    input.parse::<proc_macro2::TokenTree>()?;
                }
            }
            if input.is_empty() {
                break;
            }
            if let Err(e) = input.parse::<Token![,]>() {
                args.errors.push(e);
                input.parse::<TokenStream>()?;
            }
        }
        Ok(args)
    }
}
