//! Attribute arguments: parsing, with every unknown or repeated option
//! reported (all of them, not only the first), each spanned at its key.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitBool, LitInt, LitStr, Path, Token};

/// Every option, in the order the error message lists them.
const OPTIONS: &[&str] = &[
    "name",
    "target",
    "level",
    "parent",
    "follows_from",
    "skip",
    "skip_all",
    "fields",
    "err",
    "ret",
    "crate",
    "max_depth",
    "on_overflow",
    "recursion",
    "timing",
    "stats",
];

/// A value together with the span of the key that set it.
#[derive(Clone)]
pub(crate) struct Set<T> {
    pub(crate) key: Span,
    /// Position of the option in the attribute (0-based).
    pub(crate) seq: usize,
    pub(crate) value: T,
}

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

    pub(crate) fn ident(self) -> Ident {
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

impl Parse for LevelName {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        const EXPECTED: &str = "expected a level: \"trace\", \"debug\", \"info\", \"warn\", \"error\", 1..=5, or `Level::INFO`";
        let lookahead = input.lookahead1();
        if lookahead.peek(LitStr) {
            let s: LitStr = input.parse()?;
            LevelName::parse_str(&s.value()).ok_or_else(|| syn::Error::new(s.span(), EXPECTED))
        } else if lookahead.peek(LitInt) {
            let i: LitInt = input.parse()?;
            match i.base10_parse::<u8>() {
                Ok(1) => Ok(LevelName::Trace),
                Ok(2) => Ok(LevelName::Debug),
                Ok(3) => Ok(LevelName::Info),
                Ok(4) => Ok(LevelName::Warn),
                Ok(5) => Ok(LevelName::Error),
                _ => Err(syn::Error::new(i.span(), EXPECTED)),
            }
        } else {
            let path: Path = input
                .parse()
                .map_err(|e| syn::Error::new(e.span(), EXPECTED))?;
            let last = path.segments.last().map(|s| s.ident.to_string());
            last.as_deref()
                .filter(|s| s.chars().all(|c| c.is_ascii_uppercase()))
                .and_then(LevelName::parse_str)
                .ok_or_else(|| syn::Error::new(path.span(), EXPECTED))
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
    pub(crate) level: Option<LevelName>,
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

/// One entry of `fields(..)`, as `tracing::span!` takes it.
#[derive(Clone)]
pub(crate) struct Field {
    pub(crate) name: Punctuated<Ident, Token![.]>,
    pub(crate) sigil: Option<TokenStream>,
    pub(crate) value: Option<Expr>,
}

impl Parse for Field {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let sigil = sigil(input)?;
        let name = Punctuated::parse_separated_nonempty_with(input, Ident::parse_any)?;
        if sigil.is_some() {
            return Ok(Field {
                name,
                sigil,
                value: None,
            });
        }
        let (sigil, value) = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            (self::sigil(input)?, Some(input.parse()?))
        } else {
            (None, None)
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

impl ToTokens for Field {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let Field { name, sigil, value } = self;
        match value {
            Some(value) => tokens.extend(quote!(#name = #sigil #value)),
            None => tokens.extend(quote!(#sigil #name)),
        }
    }
}

/// What the overflow of `max_depth` does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    Panic,
    Error,
}

/// Everything the attribute accepts.
#[derive(Clone, Default)]
pub(crate) struct Args {
    pub(crate) name: Option<Set<LitStr>>,
    pub(crate) target: Option<Set<LitStr>>,
    pub(crate) level: Option<Set<LevelName>>,
    pub(crate) parent: Option<Set<Expr>>,
    pub(crate) follows_from: Option<Set<Expr>>,
    pub(crate) skip: Option<Set<Vec<Ident>>>,
    pub(crate) skip_all: Option<Set<()>>,
    pub(crate) fields: Option<Set<Vec<Field>>>,
    pub(crate) err: Option<Set<EventArgs>>,
    pub(crate) ret: Option<Set<EventArgs>>,
    pub(crate) krate: Option<Set<Path>>,
    pub(crate) max_depth: Option<Set<u32>>,
    pub(crate) on_overflow: Option<Set<Overflow>>,
    pub(crate) recursion_outermost: Option<Set<bool>>,
    pub(crate) timing: Option<Set<bool>>,
    pub(crate) stats: Option<Set<bool>>,
    /// Every parse error, reported together.
    pub(crate) errors: Vec<syn::Error>,
    /// Number of options parsed.
    parsed: usize,
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

impl Args {
    /// Parses one `key [= value | (..)]` option into `self`.
    #[allow(clippy::too_many_lines)] // one arm per option, nothing to factor out
    fn parse_option(&mut self, input: ParseStream<'_>) -> syn::Result<()> {
        let key = if input.peek(Token![crate]) {
            let k: Token![crate] = input.parse()?;
            Ident::new("crate", k.span)
        } else {
            input.call(Ident::parse_any)?
        };
        let errors = &mut std::mem::take(&mut self.errors);
        let seq = self.parsed;
        self.parsed += 1;
        let result = (|| -> syn::Result<()> {
            match key.to_string().as_str() {
                "name" => put(&mut self.name, &key, assign(input)?, errors, seq),
                "target" => put(&mut self.target, &key, assign(input)?, errors, seq),
                "level" => put(&mut self.level, &key, assign(input)?, errors, seq),
                "parent" => put(&mut self.parent, &key, assign(input)?, errors, seq),
                "follows_from" => put(&mut self.follows_from, &key, assign(input)?, errors, seq),
                "skip" => {
                    let content;
                    syn::parenthesized!(content in input);
                    let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(
                        &content,
                        Ident::parse_any,
                    )?;
                    put(
                        &mut self.skip,
                        &key,
                        names.into_iter().collect(),
                        errors,
                        seq,
                    );
                }
                "skip_all" => put(&mut self.skip_all, &key, (), errors, seq),
                "fields" => {
                    let content;
                    syn::parenthesized!(content in input);
                    let fields = Punctuated::<Field, Token![,]>::parse_terminated(&content)?;
                    put(
                        &mut self.fields,
                        &key,
                        fields.into_iter().collect(),
                        errors,
                        seq,
                    );
                }
                "err" => put(
                    &mut self.err,
                    &key,
                    EventArgs::parse_opt(input)?,
                    errors,
                    seq,
                ),
                "ret" => put(
                    &mut self.ret,
                    &key,
                    EventArgs::parse_opt(input)?,
                    errors,
                    seq,
                ),
                "crate" => put(&mut self.krate, &key, assign(input)?, errors, seq),
                "max_depth" => {
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
                    put(&mut self.max_depth, &key, n, errors, seq);
                }
                "on_overflow" => {
                    let v = choice(
                        input,
                        &[("panic", Overflow::Panic), ("error", Overflow::Error)],
                    )?;
                    put(&mut self.on_overflow, &key, v, errors, seq);
                }
                "recursion" => {
                    let v = choice(input, &[("nest", false), ("outermost", true)])?;
                    put(&mut self.recursion_outermost, &key, v, errors, seq);
                }
                "timing" => put(&mut self.timing, &key, boolean(input)?, errors, seq),
                "stats" => put(&mut self.stats, &key, boolean(input)?, errors, seq),
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown option `{key}`; expected one of: {}",
                            OPTIONS.join(", ")
                        ),
                    ))
                }
            }
            Ok(())
        })();
        self.errors.append(errors);
        result
    }

    /// Options of a method inside an instrumented impl block: the method's
    /// own options win, option by option, over the block's.
    pub(crate) fn over(mut self, block: &Args) -> Args {
        macro_rules! inherit {
            ($($field:ident),*) => {$(
                if self.$field.is_none() {
                    self.$field.clone_from(&block.$field);
                }
            )*};
        }
        inherit!(
            name,
            target,
            level,
            parent,
            follows_from,
            fields,
            err,
            ret,
            krate,
            max_depth,
            on_overflow,
            recursion_outermost,
            timing,
            stats
        );
        // `skip` and `skip_all` exclude each other: a method that chooses one
        // replaces the block's choice entirely.
        if self.skip.is_none() && self.skip_all.is_none() {
            self.skip.clone_from(&block.skip);
            self.skip_all.clone_from(&block.skip_all);
        }
        self
    }

    pub(crate) fn level(&self) -> LevelName {
        self.level.as_ref().map_or(LevelName::Info, |l| l.value)
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
